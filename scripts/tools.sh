#!/usr/bin/env bash
# tools.sh - util-linux's ipcmk, ipcs and ipcrm inside a box see the box:
# one scenario (make a queue, a segment and a set; list them every way
# ipcs can; change a limit through /proc/sys/kernel; remove everything)
# runs against the kernel in a fresh `unshare --ipc` namespace and inside a
# box, and the two transcripts must match once the random keys ipcmk picks
# are masked. Also checks that the host's IPC limits were not changed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ipcbox=${IPCBOX:-$root/target/release/ipcbox}
scenario='
ipcmk -Q -p 0640 >/dev/null
ipcmk -M 8192 -p 0600 >/dev/null
ipcmk -S 4 >/dev/null
ipcs
ipcs -l
ipcs -u
ipcs -c
ipcs -p -m
echo 7 > /proc/sys/kernel/msgmni
echo "250 32000 32 128" > /proc/sys/kernel/sem
ipcs -l
ipcmk -Q >/dev/null; ipcmk -Q >/dev/null
ipcs -q | grep -c 0x
ipcrm -a
ipcs
'
# Keys ipcmk draws at random; the pid columns of `ipcs -p` (shmid owner cpid lpid).
mask() { sed -E 's/0x[0-9a-f]{8}/KEY/g; s/^([0-9]+ +[^ ]+ +)[0-9]+ +[0-9]+ *$/\1PID PID/'; }
limits() { cat /proc/sys/kernel/{shmmax,shmall,shmmni,sem,msgmax,msgmnb,msgmni}; }
before=$(limits)
names=(shmmax shmall shmmni sem msgmax msgmnb msgmni)
saved=()
for name in "${names[@]}"; do saved+=("$(cat /proc/sys/kernel/$name)"); done
# Should the box ever let a write through to the host, put the limits back.
restore() {
  for i in "${!names[@]}"; do
    [ "$(cat /proc/sys/kernel/${names[$i]})" = "${saved[$i]}" ] || echo "${saved[$i]}" >/proc/sys/kernel/${names[$i]} || true
  done
}
trap restore EXIT
kernel=$(unshare --ipc sh -c "$scenario" 2>&1 | mask)
box=$("$ipcbox" run -- sh -c "$scenario" 2>&1 | mask)
status=0
if [ "$kernel" = "$box" ]; then
  echo "PASS ipcmk, ipcs and ipcrm in a box show what they show in a fresh namespace"
else
  echo "FAIL ipcmk, ipcs and ipcrm: the box differs from a fresh namespace"
  diff <(echo "$kernel") <(echo "$box") || true
  status=1
fi
if [ "$(limits)" = "$before" ]; then
  echo "PASS the host's IPC limits are unchanged"
else
  echo "FAIL the host's IPC limits changed"
  status=1
fi
# The scenario must have run: ipcs listed the three objects.
if ! grep -q "Semaphore Arrays" <<<"$box" || [ "$(grep -c KEY <<<"$box")" -lt 3 ]; then
  echo "FAIL the scenario did not list the objects it made"
  status=1
fi
exit $status
