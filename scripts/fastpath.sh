#!/usr/bin/env bash
# Proves the box's fast paths make no system call: runs ctests/tool_fastpath
# under strace inside a box and fails if any system call lies between its
# begin and end markers.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ipcbox=${IPCBOX:-$root/target/release/ipcbox}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O1 -Wall -Werror -o "$work/fastpath" "$root/ctests/tool_fastpath.c"
"$ipcbox" run -- strace -o "$work/trace" "$work/fastpath" >/dev/null
between=$(sed -n '/fastpath-begin/,/fastpath-end/p' "$work/trace" | grep -v 'fastpath-' || true)
if [ -z "$(sed -n '/fastpath-begin/p' "$work/trace")" ]; then
  echo "fastpath: markers not found in the trace"; echo "0 passed, 1 failed"; exit 1
fi
if [ -n "$between" ]; then
  echo "fastpath: system calls on the fast path (IPC_STAT, attached memory, semop, msgsnd/msgrcv, semctl):"
  echo "$between" | head -20
  echo "0 passed, 1 failed"
  exit 1
fi
echo "fastpath: 300 shm IPC_STAT (stack, static, heap buffers), 600 uncontended semop, 400 msgsnd/msgrcv with no one waiting, 100 queue IPC_STAT and 900 semctl calls (300 SETVAL, 200 GETVAL, 100 each of GETPID, IPC_STAT, GETALL, SETALL) in a box made no system call"
echo "1 passed, 0 failed"
