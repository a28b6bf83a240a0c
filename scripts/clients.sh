#!/usr/bin/env bash
# clients.sh - real clients of System V IPC, unchanged, in a box:
#   - stress-ng's SysV stressors (--shm-sysv, --sem-sysv, --msg) with
#     --verify, under `ipcbox run --strict` (so nothing of theirs can reach
#     the kernel's namespace unseen): a successful run, no failure;
#   - the Python sysv_ipc package's own test suite, on the kernel in a fresh
#     `unshare --ipc` namespace and under `ipcbox run --strict`: both pass,
#     with the same counts;
#   - PHP's sysvsem, sysvshm and sysvmsg extensions (loaded by PHP with
#     RTLD_DEEPBIND), scripts/php_sysv.php: two PHP processes, on the kernel
#     and in a box (plain and --strict), the same transcript.
# Installs what is missing: stress-ng and php-cli (apt, by scripts/test.sh),
# sysv_ipc from PyPI into a virtual environment of its own (target/test-venv,
# or $IPCBOX_TEST_VENV; made with python3 -m venv, as Debian's python
# refuses packages installed beside its own), and the sysv_ipc source
# release, whose tests are not in its wheel.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ipcbox=${IPCBOX:-$root/target/release/ipcbox}
sysv_ipc_version=1.2.0
venv=${IPCBOX_TEST_VENV:-$root/target/test-venv}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0

out=$(timeout 120 "$ipcbox" run --strict -- stress-ng --shm-sysv 2 --sem-sysv 2 --msg 2 --verify -t 5s 2>&1) || {
  echo "FAIL stress-ng exited with status $?"
  status=1
}
if grep -q "successful run completed" <<<"$out" && ! grep -qiE "fail|error" <<<"$out"; then
  echo "PASS stress-ng --shm-sysv --sem-sysv --msg --verify in a box"
else
  echo "FAIL stress-ng in a box:"
  sed 's/^/   | /' <<<"$out"
  status=1
fi

python=$venv/bin/python
if ! "$python" -c "import sysv_ipc; assert sysv_ipc.VERSION == '$sysv_ipc_version'" 2>/dev/null; then
  echo "== sysv_ipc $sysv_ipc_version into the virtual environment $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$python" -m pip install -q --disable-pip-version-check --prefer-binary "sysv_ipc==$sysv_ipc_version"
fi
"$python" -m pip download -q --disable-pip-version-check --no-binary :all: --no-deps \
  "sysv_ipc==$sysv_ipc_version" -d "$work"
tar xzf "$work/sysv_ipc-$sysv_ipc_version.tar.gz" -C "$work"
cd "$work/sysv_ipc-$sysv_ipc_version"
summary() { grep -E '^(Ran [0-9]+ tests|OK|FAILED)' | sed -E 's/ in [0-9.]+s//' | xargs; }
kernel=$(timeout 300 unshare --ipc "$python" -m unittest discover -s tests -t . 2>&1 | summary)
box=$(timeout 300 "$ipcbox" run --strict -- "$python" -m unittest discover -s tests -t . 2>&1 | summary)
if [ "$kernel" = "$box" ] && [[ "$box" == *OK* ]]; then
  echo "PASS sysv_ipc $sysv_ipc_version's test suite in a box as on the kernel ($box)"
else
  echo "FAIL sysv_ipc's test suite: kernel [$kernel], box [$box]"
  status=1
fi

php_script=$root/scripts/php_sysv.php
kernel=$(timeout 120 unshare --ipc php "$php_script" 2>&1) || true
for mode in plain --strict; do
  flags=()
  [ "$mode" = plain ] || flags=("$mode")
  box=$(timeout 120 "$ipcbox" run "${flags[@]}" -- php "$php_script" 2>&1) || true
  if [ "$kernel" = "$box" ] && grep -q "msg_queue_exists after = false" <<<"$box"; then
    echo "PASS PHP's sysvsem, sysvshm and sysvmsg in a box ($mode) as on the kernel"
  else
    echo "FAIL PHP's sysvsem, sysvshm and sysvmsg in a box ($mode):"
    diff <(echo "$kernel") <(echo "$box") | head -40 | sed 's/^/   | /'
    status=1
  fi
done
exit $status
