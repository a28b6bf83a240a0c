#!/usr/bin/env bash
# Installs ipcbox, or removes an installation of it.
#
#   scripts/install.sh [PREFIX]              build (release), then install under PREFIX
#   scripts/install.sh --build-only          build, and generate the man pages and
#                                            completions into target/release/share
#   scripts/install.sh --no-build [PREFIX]   install what --build-only made (for
#                                            `sudo`, where cargo may not be found)
#   scripts/install.sh --uninstall [PREFIX]  remove what the installation put there
#
# PREFIX defaults to /usr/local; DESTDIR, if set, is put before every path
# (a staging root, as make's DESTDIR). Installed, with modes 755 and 644:
#
#   PREFIX/bin/ipcbox
#   PREFIX/lib/ipcbox/libipcbox.so       where ipcbox looks first: ../lib/ipcbox/ from
#                                        its real path (IPCBOX_LIB overrides)
#   PREFIX/lib/ipcbox/install-manifest   what --uninstall removes
#   PREFIX/share/man/man1/ipcbox.1, ipcbox-SUBCOMMAND.1
#   PREFIX/share/bash-completion/completions/ipcbox
#   PREFIX/share/zsh/site-functions/_ipcbox
#   PREFIX/share/fish/vendor_completions.d/ipcbox.fish
#
# The manifest lists those files and the directories the installation made;
# --uninstall removes the files it lists, then those directories if empty,
# and nothing else. Installing again replaces the files, removes those of
# the previous installation that are no longer installed, and keeps
# account of the directories the first one made.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "install.sh: $*" >&2; exit 1; }

mode=install
case "${1:-}" in
  --build-only | --no-build | --uninstall) mode=${1#--}; shift ;;
  -h | --help) sed -n '2,/^set -euo/{/^set -euo/d; s/^# \{0,1\}//; p}' "$0"; exit 0 ;;
  -*) die "unknown option $1 (see scripts/install.sh --help)" ;;
esac
[ $# -le 1 ] || die "too many arguments: $* (see scripts/install.sh --help)"
[ "$mode" != build-only ] || [ $# -eq 0 ] || die "--build-only takes no PREFIX"
prefix=${1:-/usr/local}
prefix=${prefix%/}
case "$prefix" in /*) ;; *) die "PREFIX must be an absolute path, not '$prefix'" ;; esac
# ipcbox hands the library over in LD_PRELOAD, which splits at spaces and colons.
case "$prefix" in *[\ :]*) die "PREFIX '$prefix' has a space or a colon, which LD_PRELOAD cannot carry: choose another" ;; esac
destdir=${DESTDIR:-}
destdir=${destdir%/}
dest=$destdir$prefix
manifest_rel=lib/ipcbox/install-manifest
manifest=$dest/$manifest_rel

target=$(cd "$root" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p') || true
target=${target:-$root/target}/release
share=$target/share

build() {
  command -v cargo >/dev/null ||
    die "cargo not found: build as the user who has it (scripts/install.sh --build-only), then install with --no-build"
  (cd "$root" && cargo build --release -p ipcbox-cli -p ipcbox-shim) || die "the build failed (cargo's messages above)"
  rm -rf "$share"
  # The pages' date is the last commit's, so that a rebuild makes the same files.
  local epoch=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || true)}
  (cd "$root" && SOURCE_DATE_EPOCH=$epoch cargo run -q --release -p ipcbox-cli --example share -- "$share") ||
    die "generating the man pages and completions failed (cargo's messages above)"
  # The Debian package's pages are compressed, as Debian's policy asks (cargo
  # deb compresses only pages it did not find under target/release).
  gzip -9 -n -k -- "$share"/man/man1/*.1 || die "cannot compress the man pages in $share/man/man1"
}

# Installed path (relative to PREFIX), source, mode: one line each.
files() {
  echo "bin/ipcbox $target/ipcbox 755"
  echo "lib/ipcbox/libipcbox.so $target/libipcbox.so 644"
  local page
  for page in "$share"/man/man1/*.1; do echo "share/man/man1/${page##*/} $page 644"; done
  echo "share/bash-completion/completions/ipcbox $share/bash-completion/completions/ipcbox 644"
  echo "share/zsh/site-functions/_ipcbox $share/zsh/site-functions/_ipcbox 644"
  echo "share/fish/vendor_completions.d/ipcbox.fish $share/fish/vendor_completions.d/ipcbox.fish 644"
}

# The manifest's entries of one kind ("file" or "dir"), checked: files under
# PREFIX, directories PREFIX, under it or above it, never with a '..'.
manifest_entries() {
  [ -f "$manifest" ] || return 0
  local kind path
  while read -r kind path; do
    case "$kind" in '#'* | '') continue ;; esac
    [ "$kind" = "$1" ] || continue
    case "/$path/" in */../* | */./*) die "$manifest: refusing the entry '$path'" ;; esac
    case "$kind:$path" in
      file:"$prefix"/?*) ;;
      dir:"$prefix" | dir:"$prefix"/?*) ;;
      dir:/*) case "$prefix/" in "$path"/*) ;; *) die "$manifest: refusing the entry '$path'" ;; esac ;;
      *) die "$manifest: refusing the entry '$path'" ;;
    esac
    echo "$path"
  done <"$manifest"
}

uninstall() {
  [ -f "$manifest" ] || die "no installation of ipcbox under $dest: $manifest not found (install.sh --uninstall takes the PREFIX, and DESTDIR, it was installed with)"
  local path dirs
  # Check every entry before removing anything.
  manifest_entries file >/dev/null
  dirs=$(manifest_entries dir)
  while read -r path; do
    rm -f -- "$destdir$path"
  done < <(manifest_entries file)
  rm -f -- "$manifest"
  # Deepest first; a directory that holds anything else stays.
  while read -r path; do
    [ -n "$path" ] && rmdir -- "$destdir$path" 2>/dev/null || true
  done < <(echo "$dirs" | sort -r)
  echo "removed ipcbox from $dest"
}

install_files() {
  local f
  for f in "$target/ipcbox" "$target/libipcbox.so" "$share/man/man1/ipcbox.1" \
    "$share/bash-completion/completions/ipcbox"; do
    [ -f "$f" ] || die "$f not found: build first (scripts/install.sh --build-only, or without --no-build)"
  done
  local old_files old_dirs new_dirs=() path src mode dir d
  old_files=$(manifest_entries file)
  old_dirs=$(manifest_entries dir)
  # The directories to make, each with those above it that are missing
  # (PREFIX's own included), recorded in the order they are made.
  make_dir() {
    local missing=() d=$1
    while [ ! -d "$destdir$d" ]; do
      missing=("$d" "${missing[@]}")
      d=${d%/*}
      [ -n "$d" ] || break
    done
    for d in "${missing[@]}"; do
      mkdir -m 755 -- "$destdir$d" || die "cannot make $destdir$d"
      new_dirs+=("$d")
    done
  }
  local installed=()
  local -A is_installed=()
  [ -z "$destdir" ] || mkdir -p -- "$destdir" || die "cannot make DESTDIR $destdir"
  while read -r path src mode; do
    dir=$prefix/${path%/*}
    make_dir "$dir"
    install -m "$mode" -- "$src" "$dest/$path" || die "cannot install $dest/$path"
    installed+=("$prefix/$path")
    is_installed[$prefix/$path]=1
  done < <(files)
  # Files of an earlier installation that this one no longer has.
  while read -r path; do
    [ -z "$path" ] || [ -n "${is_installed[$path]:-}" ] || rm -f -- "$destdir$path"
  done <<<"$old_files"
  {
    echo "# Installed by ipcbox's scripts/install.sh; 'scripts/install.sh --uninstall $prefix' removes"
    echo "# each file below, then each directory below if it is empty."
    for path in "${installed[@]}"; do echo "file $path"; done
    { [ -z "$old_dirs" ] || echo "$old_dirs"; for d in "${new_dirs[@]}"; do echo "$d"; done; } |
      awk 'NF && !seen[$0]++ { print "dir " $0 }'
  } >"$manifest.new"
  chmod 644 "$manifest.new"
  mv -f -- "$manifest.new" "$manifest"
  echo "installed ipcbox under $dest:"
  printf '  %s\n' "${installed[@]}" | sed "s|^  |  $destdir|"
  echo "(scripts/install.sh --uninstall $prefix removes them)"
}

case "$mode" in
  build-only) build; echo "built $target/ipcbox, $target/libipcbox.so and $share" ;;
  install) build; install_files ;;
  no-build) install_files ;;
  uninstall) uninstall ;;
esac
