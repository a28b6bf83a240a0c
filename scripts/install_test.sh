#!/usr/bin/env bash
# Installs ipcbox as a user would (scripts/install.sh into a temporary
# PREFIX, and with DESTDIR), checks every installed file, runs the
# installed ipcbox as root and as nobody from /, renders the man pages,
# loads the completions in bash, zsh and fish, uninstalls and checks that
# nothing is left; then builds the Debian package (cargo deb, installed
# first if missing), checks its contents and runs a box from it, extracted
# into a temporary root (nothing is installed on the system).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pass=0 fail=0 skip=0
check() { # name expected actual
  if [ "$2" == "$3" ]; then pass=$((pass + 1)); echo "PASS $1"
  else fail=$((fail + 1)); echo "FAIL $1: expected [$2], got [$3]"; fi
}
skip() { skip=$((skip + 1)); echo "SKIP $1"; }
status() { "$@" >/dev/null 2>&1; echo $?; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# nobody must reach the installations under it (mktemp -d makes it 0700).
chmod 755 "$work"
install_sh=$root/scripts/install.sh
as_nobody() { (cd / && setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"); }
host_msg() { cat /proc/sysvipc/msg; }

# The files an installation under PREFIX has, one per line, sorted: a page
# for ipcbox and for each subcommand that `ipcbox --help` lists (below).
expected_files() { # prefix
  {
    echo "$1/bin/ipcbox 755"
    echo "$1/lib/ipcbox/libipcbox.so 644"
    echo "$1/lib/ipcbox/install-manifest 644"
    echo "$1/share/man/man1/ipcbox.1 644"
    for sub in $subcommands; do echo "$1/share/man/man1/ipcbox-$sub.1 644"; done
    echo "$1/share/bash-completion/completions/ipcbox 644"
    echo "$1/share/zsh/site-functions/_ipcbox 644"
    echo "$1/share/fish/vendor_completions.d/ipcbox.fish 644"
  } | sort
}
files_under() { # dir: every file and link under it, with its mode
  find "$1" ! -type d -printf '%p %m\n' | sort
}
# A box run by the installed ipcbox: its own queue in its ipcs, the host's untouched.
boxed_queue() { # ipcbox [runner...]: prints "queues-in-box host-unchanged"
  local ipcbox=$1 before out; shift
  before=$(host_msg)
  out=$("$@" "$ipcbox" run -- sh -c 'ipcmk -Q >/dev/null && ipcs -q' 2>&1)
  echo "$(echo "$out" | grep -c '^0x') $([ "$before" == "$(host_msg)" ] && echo host-unchanged || echo HOST-CHANGED)"
}

echo "-- scripts/install.sh PREFIX"
prefix=$work/prefix
check "install.sh PREFIX succeeds" 0 "$(status "$install_sh" "$prefix")"
subcommands=$("$prefix/bin/ipcbox" --help 2>/dev/null | sed -n '/^Commands:/,/^$/{s/^  \([a-z][a-z-]*\) .*/\1/p}' | grep -vx help)
check "ipcbox --help lists subcommands" "ipcs ls rm run" "$(echo $subcommands | tr ' ' '\n' | sort | xargs)"
check "every file installed, with its mode, and nothing else" "$(expected_files "$prefix")" "$(files_under "$prefix")"
check "the manifest lists every installed file" \
  "$(expected_files "$prefix" | grep -v install-manifest | cut -d' ' -f1)" \
  "$(sed -n 's/^file //p' "$prefix/lib/ipcbox/install-manifest" | sort)"
target=$(cd "$root" && cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release
check "the installed ipcbox and library are the ones built" "same same" \
  "$(cmp -s "$target/ipcbox" "$prefix/bin/ipcbox" && echo same) $(cmp -s "$target/libipcbox.so" "$prefix/lib/ipcbox/libipcbox.so" && echo same)"
check "installed ipcbox preloads the installed library" "$prefix/lib/ipcbox/libipcbox.so" \
  "$("$prefix/bin/ipcbox" run -- sh -c 'echo "$LD_PRELOAD"')"
check "installed ipcbox boxes ipcmk -Q; ipcs -q (root)" "1 host-unchanged" "$(boxed_queue "$prefix/bin/ipcbox")"
check "installed ipcbox boxes ipcmk -Q; ipcs -q (nobody, from /)" "1 host-unchanged" "$(boxed_queue "$prefix/bin/ipcbox" as_nobody)"
check "the queue is nobody's" nobody \
  "$(as_nobody "$prefix/bin/ipcbox" run -- sh -c 'ipcmk -Q >/dev/null && ipcs -q' | awk '/^0x/ { print $3 }')"
mkdir "$work/links" && chmod 755 "$work/links" && ln -s "$prefix/bin/ipcbox" "$work/links/ipcbox"
check "through a symbolic link elsewhere (nobody, from /)" "1 host-unchanged" "$(boxed_queue "$work/links/ipcbox" as_nobody)"
check "the README's example hello_shm in a box (nobody, from /)" 0 \
  "$(cc -O1 -o "$work/hello_shm" "$root/examples/hello_shm.c" && status as_nobody "$prefix/bin/ipcbox" run -- "$work/hello_shm")"

echo "-- man pages"
man1=$prefix/share/man/man1
for page in "$man1"/*.1; do
  name=$(basename "$page" .1)
  check "$name.1: .TH header" "$name 1" "$(awk '$1 == ".TH" { print $2, $3; exit }' "$page")"
  check "$name.1: groff renders it without a warning" "" "$(groff -man -ww -z -Tascii "$page" 2>&1)"
done
render() { MANWIDTH=100 man -E ascii -l "$1" 2>&1; }
for sub in $subcommands; do
  check "ipcbox.1 names subcommand $sub" 1 "$(render "$man1/ipcbox.1" | grep -c "^ *ipcbox-$sub(1)")"
  missing=$(for opt in $("$prefix/bin/ipcbox" "$sub" --help | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
    render "$man1/ipcbox-$sub.1" | grep -q -- "$opt" || echo "$opt"; done | xargs)
  check "ipcbox-$sub.1 describes every option of 'ipcbox $sub --help'" "" "$missing"
done
check "ipcbox.1: sections EXAMPLES, ENVIRONMENT (IPCBOX_LIB) and VERSION, of ipcbox --version" "EXAMPLES ENVIRONMENT VERSION|1|yes" \
  "$(render "$man1/ipcbox.1" | grep -E '^(EXAMPLES|ENVIRONMENT|VERSION)$' | xargs)|$(render "$man1/ipcbox.1" | grep -c '^ *IPCBOX_LIB ')|$(
    render "$man1/ipcbox.1" | grep -qF "$("$prefix/bin/ipcbox" --version | cut -d' ' -f2)" && echo yes)"
check "man finds the pages under PREFIX/share/man" "$man1/ipcbox-run.1" "$(man -M "$prefix/share/man" -w ipcbox-run 2>&1)"

echo "-- completions"
bash_completion=$prefix/share/bash-completion/completions/ipcbox
check "bash: the completion loads" "complete -o bashdefault -o default -o nosort -F _ipcbox ipcbox" \
  "$(bash -c 'source "$1" && complete -p ipcbox' - "$bash_completion" 2>&1)"
check "bash: 'ipcbox <TAB>' offers every subcommand" "$(echo $subcommands help | tr ' ' '\n' | sort | xargs)" \
  "$(bash -c 'source "$1"; COMP_WORDS=(ipcbox ""); COMP_CWORD=1; _ipcbox ipcbox "" ipcbox; printf "%s\n" "${COMPREPLY[@]}"' - "$bash_completion" | grep -v '^-' | sort | xargs)"
check "bash: 'ipcbox run --st<TAB>' gives --strict" "--strict" \
  "$(bash -c 'source "$1"; COMP_WORDS=(ipcbox run --st); COMP_CWORD=2; _ipcbox ipcbox --st run; echo "${COMPREPLY[*]}"' - "$bash_completion")"
if command -v zsh >/dev/null; then
  zsh_dir=$prefix/share/zsh/site-functions
  check "zsh: the completion parses" 0 "$(status zsh -n "$zsh_dir/_ipcbox")"
  check "zsh: compinit takes it from PREFIX/share/zsh/site-functions for ipcbox, and it loads" "_ipcbox|loaded" \
    "$(HOME=$work zsh -fc 'fpath=("$1" $fpath); autoload -Uz compinit; compinit -u -d "$HOME/.zcompdump"
      print -rn -- "$_comps[ipcbox]|"; autoload +X _ipcbox && print -r loaded' - "$zsh_dir" 2>&1)"
else
  skip "zsh: not installed (scripts/test.sh installs it)"
fi
if command -v fish >/dev/null; then
  fish_complete() { PATH=$prefix/bin:$PATH fish --no-config -c 'set -p fish_complete_path $argv[1]; complete -C $argv[2]' \
    "$prefix/share/fish/vendor_completions.d" "$1" 2>&1; }
  check "fish: 'ipcbox <TAB>' offers every subcommand, from PREFIX/share/fish/vendor_completions.d" \
    "$(echo $subcommands help | tr ' ' '\n' | sort | xargs)" "$(fish_complete 'ipcbox ' | cut -f1 | sort | xargs)"
  check "fish: 'ipcbox run --st<TAB>' gives --strict" "--strict" "$(fish_complete 'ipcbox run --st' | cut -f1)"
else
  skip "fish: not installed (scripts/test.sh installs it)"
fi

echo "-- install again, and uninstall"
manifest=$prefix/lib/ipcbox/install-manifest
cp "$manifest" "$work/manifest.first"
echo "file $prefix/share/man/man1/ipcbox-gone.1" >>"$manifest"
touch "$man1/ipcbox-gone.1"
check "install.sh --no-build PREFIX again succeeds" 0 "$(status "$install_sh" --no-build "$prefix")"
check "installing again: same manifest, a file of the earlier installation no longer installed is removed" \
  "same gone" "$(cmp -s "$manifest" "$work/manifest.first" && echo same) $([ -e "$man1/ipcbox-gone.1" ] || echo gone)"
check "installing again: same files" "$(expected_files "$prefix")" "$(files_under "$prefix")"
check "install.sh --uninstall PREFIX succeeds" 0 "$(status "$install_sh" --uninstall "$prefix")"
check "uninstall: PREFIX, which the installation made, is gone" "gone" "$([ -e "$prefix" ] || echo gone)"
check "uninstall again: exit 1, one line" "1 1" \
  "$(status "$install_sh" --uninstall "$prefix") $("$install_sh" --uninstall "$prefix" 2>&1 | wc -l)"
# Into a PREFIX that exists and holds files of others: those stay, and so
# do the directories that held them before.
shared=$work/shared
mkdir -p "$shared/share/man/man1" "$shared/bin"
touch "$shared/share/man/man1/other.1" "$shared/bin/other"
before=$(cd "$shared" && find . | sort)
check "install.sh --no-build into a PREFIX that holds other files" 0 "$(status "$install_sh" --no-build "$shared")"
check "... uninstall removes exactly what it installed and the directories it made" "$before" \
  "$("$install_sh" --uninstall "$shared" >/dev/null 2>&1; cd "$shared" && find . | sort)"
check "a manifest entry outside PREFIX is refused, and nothing is removed" "1 kept" \
  "$("$install_sh" --no-build "$shared" >/dev/null 2>&1; echo "file $shared/../outside" >>"$shared/lib/ipcbox/install-manifest"
    touch "$work/outside"; status "$install_sh" --uninstall "$shared") $([ -e "$work/outside" ] && [ -e "$shared/bin/ipcbox" ] && echo kept)"
check "install.sh --help: exit 0, names --uninstall" "0 yes" \
  "$(status "$install_sh" --help) $("$install_sh" --help | grep -q -- '--uninstall' && echo yes)"
check "install.sh with an unknown option: exit 1, one line" "1 1" \
  "$(status "$install_sh" --bogus) $("$install_sh" --bogus 2>&1 | wc -l)"
check "a relative PREFIX is refused: exit 1, one line" "1 1" \
  "$(status "$install_sh" --no-build relative/prefix) $("$install_sh" --no-build relative/prefix 2>&1 | wc -l)"
check "a PREFIX with a space is refused (LD_PRELOAD): exit 1, one line" "1 1" \
  "$(status "$install_sh" --no-build "$work/a b") $("$install_sh" --no-build "$work/a b" 2>&1 | wc -l)"

echo "-- DESTDIR"
stage=$work/stage
# What an installation under the real /usr/local would be: absent, or as it was.
system_local() { expected_files /usr/local | cut -d' ' -f1 | xargs ls -la --time-style=full-iso -d 2>&1; }
system_before=$(system_local)
check "DESTDIR=STAGE install.sh --no-build /usr/local succeeds" 0 \
  "$(DESTDIR=$stage status "$install_sh" --no-build /usr/local)"
check "DESTDIR: every file under STAGE/usr/local, nothing else" "$(expected_files "$stage/usr/local")" "$(files_under "$stage")"
check "DESTDIR: the manifest names the final paths" "$(expected_files /usr/local | grep -v install-manifest | cut -d' ' -f1)" \
  "$(sed -n 's/^file //p' "$stage/usr/local/lib/ipcbox/install-manifest" | sort)"
check "DESTDIR: the staged ipcbox boxes (nobody, from /)" "1 host-unchanged" "$(boxed_queue "$stage/usr/local/bin/ipcbox" as_nobody)"
check "DESTDIR: nothing installed outside it (/usr/local/bin/ipcbox and the rest absent, or as they were)" "$system_before" "$(system_local)"
check "DESTDIR=STAGE install.sh --uninstall /usr/local empties STAGE" "0|" \
  "$(DESTDIR=$stage status "$install_sh" --uninstall /usr/local)|$(find "$stage" -mindepth 1)"

echo "-- Debian package (cargo deb)"
if ! command -v cargo-deb >/dev/null; then
  echo "installing cargo-deb (cargo install cargo-deb --locked)"
  cargo install -q cargo-deb --locked || { fail=$((fail + 1)); echo "FAIL cargo-deb could not be installed"; }
fi
debs=$work/debs
mkdir -p "$debs"
if command -v cargo-deb >/dev/null &&
  "$install_sh" --build-only >"$work/deb.log" 2>&1 && (cd "$root" && cargo deb -p ipcbox-cli --no-build --output "$debs") >>"$work/deb.log" 2>&1; then
  pass=$((pass + 1)); echo "PASS scripts/install.sh --build-only && cargo deb -p ipcbox-cli --no-build"
  deb=$(ls "$debs"/ipcbox_*.deb)
  expected_deb=$({
    echo "./usr/bin/ipcbox 755"
    echo "./usr/lib/ipcbox/libipcbox.so 644"
    echo "./usr/share/man/man1/ipcbox.1.gz 644"
    for sub in $subcommands; do echo "./usr/share/man/man1/ipcbox-$sub.1.gz 644"; done
    echo "./usr/share/bash-completion/completions/ipcbox 644"
    echo "./usr/share/zsh/vendor-completions/_ipcbox 644"
    echo "./usr/share/fish/vendor_completions.d/ipcbox.fish 644"
    echo "./usr/share/doc/ipcbox/README.md 644"
    echo "./usr/share/doc/ipcbox/copyright 644"
  } | sort)
  mode_of() { case "$1" in -rwxr-xr-x) echo 755 ;; -rw-r--r--) echo 644 ;; *) echo "$1" ;; esac; }
  check "the .deb holds exactly these files (dpkg-deb --contents)" "$expected_deb" \
    "$(dpkg-deb --contents "$deb" | awk '$1 !~ /^d/ { print $6, $1 }' | while read -r path mode; do echo "$path $(mode_of "$mode")"; done | sort)"
  check "the .deb: package ipcbox, depends on libc6" "ipcbox|libc6" \
    "$(dpkg-deb -f "$deb" Package)|$(dpkg-deb -f "$deb" Depends | grep -o '^libc6')"
  debroot=$work/debroot
  dpkg-deb -x "$deb" "$debroot" && chmod 755 "$debroot"
  check "the extracted package's ipcbox preloads its /usr/lib/ipcbox library" "$debroot/usr/lib/ipcbox/libipcbox.so" \
    "$("$debroot/usr/bin/ipcbox" run -- sh -c 'echo "$LD_PRELOAD"')"
  check "the extracted package's ipcbox boxes ipcmk -Q; ipcs -q (root)" "1 host-unchanged" "$(boxed_queue "$debroot/usr/bin/ipcbox")"
  check "the extracted package's ipcbox boxes ipcmk -Q; ipcs -q (nobody, from /)" "1 host-unchanged" \
    "$(boxed_queue "$debroot/usr/bin/ipcbox" as_nobody)"
  check "the package's man page renders" 1 "$(render "$debroot/usr/share/man/man1/ipcbox.1.gz" | grep -c '^ *ipcbox-run(1)')"
  check "the package's bash completion loads" 0 \
    "$(bash -c 'source "$1" && complete -p ipcbox' - "$debroot/usr/share/bash-completion/completions/ipcbox" >/dev/null 2>&1; echo $?)"
  # Installed for real with dpkg, then removed, where that changes nothing
  # of the machine's own (as root, with no ipcbox package installed).
  if [ "$(id -u)" != 0 ]; then
    skip "dpkg -i of the package (needs root)"
  elif dpkg -s ipcbox >/dev/null 2>&1; then
    skip "dpkg -i of the package (an ipcbox package is installed on this machine already)"
  elif dpkg -i "$deb" >"$work/dpkg.log" 2>&1; then
    check "dpkg -i: /usr/bin/ipcbox boxes ipcmk -Q; ipcs -q (nobody, from /)" "1 host-unchanged" \
      "$(boxed_queue /usr/bin/ipcbox as_nobody)"
    dpkg -r ipcbox >>"$work/dpkg.log" 2>&1
    check "dpkg -r ipcbox leaves none of the package's files" "" \
      "$(dpkg-deb --contents "$deb" | awk '$1 !~ /^d/ { print substr($6, 2) }' | while read -r f; do [ -e "$f" ] && echo "$f"; done)"
  else
    fail=$((fail + 1)); echo "FAIL dpkg -i of the package:"; tail -n 20 "$work/dpkg.log"
  fi
else
  fail=$((fail + 1)); echo "FAIL building the .deb:"; tail -n 20 "$work/deb.log"
fi

echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
