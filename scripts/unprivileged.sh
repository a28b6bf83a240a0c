#!/usr/bin/env bash
# unprivileged.sh - test scripts that need no root, run by an unprivileged
# user: named.sh (boxes created by name, joined, listed, kept, removed).
# Run as root, they run as the test user (scripts/test_user.sh: ipcbox-test,
# created if missing) from copies of ipcbox, libipcbox.so and the scripts
# in a directory that user can read, whatever the repository's mode; run by
# another user, as that user. (The C suite's unprivileged half is
# scripts/ctest.sh's user half.)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ipcbox=${IPCBOX:-$root/target/release/ipcbox}
lib=${IPCBOX_LIB:-$(dirname "$ipcbox")/libipcbox.so}
. "$root/scripts/test_user.sh"
ensure_test_user
dir=$(user_dir)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/scripts" "$dir/target/release"
cp "$ipcbox" "$lib" "$dir/target/release/"
cp "$root/scripts/named.sh" "$root/scripts/wait_for.sh" "$dir/scripts/"
user_dir_ready "$dir"
echo "== named boxes as $TEST_USER (uid $TEST_UID)"
cd "$dir"
"${AS_USER[@]}" env -u IPCBOX -u IPCBOX_LIB -u IPCBOX_DIR HOME="$dir" bash "$dir/scripts/named.sh"
