# test_user.sh - sourced by the test scripts: the unprivileged user that
# tests which need no root run as.
#
# ensure_test_user: sets TEST_USER, TEST_UID and TEST_GID, and AS_USER, the
# command prefix that runs a command as that user. Run as root: the user
# named by $IPCBOX_TEST_USER (default ipcbox-test), created with useradd
# --system if missing, and AS_USER is setpriv to it, without supplementary
# groups. Run by another user: that user, and AS_USER is empty. Returns 1,
# after saying why, if there is no such user.
ensure_test_user() {
  AS_USER=()
  if [ "$(id -u)" != 0 ]; then
    TEST_USER=$(id -un 2>/dev/null || id -u)
    TEST_UID=$(id -u)
    TEST_GID=$(id -g)
    return 0
  fi
  TEST_USER=${IPCBOX_TEST_USER:-ipcbox-test}
  if ! id -u "$TEST_USER" >/dev/null 2>&1; then
    echo "== creating the test user $TEST_USER (useradd --system)"
    if ! useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin "$TEST_USER"; then
      echo "useradd $TEST_USER failed"
      return 1
    fi
  fi
  TEST_UID=$(id -u "$TEST_USER")
  TEST_GID=$(id -g "$TEST_USER")
  if [ "$TEST_UID" = 0 ] || [ "$TEST_GID" = 0 ]; then
    echo "the test user $TEST_USER has uid $TEST_UID and gid $TEST_GID: it must be unprivileged"
    return 1
  fi
  AS_USER=(setpriv --reuid="$TEST_UID" --regid="$TEST_GID" --clear-groups)
}

# user_dir: makes a directory (mode 0755, in $TMPDIR or /tmp) for copies of
# what the test user must read and run, whatever the repository's mode (it
# may be under /root); prints its path. Fill it, then call user_dir_ready.
user_dir() {
  local dir
  dir=$(mktemp -d "${TMPDIR:-/tmp}/ipcbox-user.XXXXXX") || return 1
  chmod 755 "$dir"
  echo "$dir"
}

# user_dir_ready DIR: makes DIR's contents readable by all, and checks that
# the test user can run a program from it (returns 1, saying so, if not:
# a directory on the way it cannot search, a noexec mount).
user_dir_ready() {
  chmod -R a+rX "$1"
  cp /bin/true "$1/.can-run"
  if ! "${AS_USER[@]}" "$1/.can-run"; then
    echo "$TEST_USER cannot run programs from $1 (a directory on the way it cannot search? a noexec mount? set TMPDIR)"
    return 1
  fi
  rm -f "$1/.can-run"
}
