#!/usr/bin/env bash
# Benchmarks of ipcbox against the kernel, one run, printed as ratios.
# Not part of the test command: timings depend on the machine.
#   scripts/bench.sh            all benchmarks
# Sections: the cost of the shim for programs that do not use SysV IPC;
# semaphore operations and message queues (kernel in a fresh unshare --ipc
# namespace vs a box).
# Environment: RUNS, LOOP (shim cost), SEM_ITERATIONS (tool_bench_sem),
# MSG_ITERATIONS (tool_bench_msg).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --release --quiet --workspace
ipcbox=$root/target/release/ipcbox
true_bin=$(type -P true)
runs=${RUNS:-300}
loop=${LOOP:-1000}

now_ns() { date +%s%N; }

# Median of several timings of a command, in microseconds per repetition.
time_us() { # reps command...
  local reps=$1; shift
  local samples=()
  for _ in 1 2 3 4 5; do
    local t0 t1
    t0=$(now_ns)
    for ((i = 0; i < reps; i++)); do "$@" >/dev/null; done
    t1=$(now_ns)
    samples+=($(( (t1 - t0) / reps / 1000 )))
  done
  printf '%s\n' "${samples[@]}" | sort -n | sed -n 3p
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }

echo "shim cost ($(nproc) cores, $(uname -r), median of 5)"
plain=$(time_us "$runs" "$true_bin")
boxed=$(time_us "$runs" "$ipcbox" run -- "$true_bin")
printf '  %-44s %8s us\n' "$true_bin" "$plain"
printf '  %-44s %8s us   %s\n' "ipcbox run -- $true_bin" "$boxed" "$(ratio "$boxed" "$plain")"

spawn_loop="i=0; while [ \$i -lt $loop ]; do $true_bin; i=\$((i+1)); done"
plain=$(time_us 1 sh -c "$spawn_loop")
boxed=$(time_us 1 "$ipcbox" run -- sh -c "$spawn_loop")
printf '  %-44s %8s us\n' "sh loop spawning $loop processes" "$plain"
printf '  %-44s %8s us   %s\n' "the same loop inside a box" "$boxed" "$(ratio "$boxed" "$plain")"

# ---------------------------------------------------------------- semaphores
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/bench_sem" "$root/ctests/tool_bench_sem.c"
iterations=${SEM_ITERATIONS:-1000000}
unshare --ipc "$work/bench_sem" "$iterations" >"$work/kernel"
"$ipcbox" run -- "$work/bench_sem" "$iterations" >"$work/box"
echo
echo "semaphores, ns per operation (kernel in a fresh IPC namespace vs a box)"
printf '  %-34s %10s %10s %10s\n' "" kernel ipcbox speedup
join "$work/kernel" "$work/box" | while read -r name kernel boxed; do
  case $name in
    pv) label="uncontended P+V, per semop" ;;
    pv_undo) label="the same with SEM_UNDO" ;;
    four_ops) label="one semop of 4 operations" ;;
    ping_pong) label="two-process ping-pong, per hand-off" ;;
    mutex4) label="4 processes, 1 mutex, per P+V pair" ;;
    mutex8) label="8 processes, 1 mutex, per P+V pair" ;;
    *) label=$name ;;
  esac
  printf '  %-34s %10s %10s %9sx\n' "$label" "$kernel" "$boxed" "$(awk -v k="$kernel" -v b="$boxed" 'BEGIN { printf "%.1f", k / b }')"
done

# ------------------------------------------------------------ message queues
# A failing box run (message queues not boxed yet, a hang) does not stop the
# script: the table then shows the kernel figures alone, and a line says so.
cc -O2 -o "$work/bench_msg" "$root/ctests/tool_bench_msg.c"
iterations=${MSG_ITERATIONS:-200000}
unshare --ipc "$work/bench_msg" "$iterations" >"$work/msg_kernel"
msg_status=0
timeout 300 "$ipcbox" run -- "$work/bench_msg" "$iterations" >"$work/msg_box" 2>"$work/msg_box_err" || msg_status=$?
echo
echo "message queues, median of 5 batches (kernel in a fresh IPC namespace vs a box)"
printf '  %-44s %10s %10s %10s\n' "" kernel ipcbox speedup
awk 'FILENAME == ARGV[1] { box[$1] = $2; next } { print $1, $2, ($1 in box) ? box[$1] : "-" }' \
  "$work/msg_box" "$work/msg_kernel" | while read -r name kernel boxed; do
  # speedup > 1 means the box is faster: kernel/box for times, box/kernel for rates
  case $name in
    ping_pong) label="two-process ping-pong, ns per round trip"; rate=0 ;;
    stream_64) label="stream of 64-byte messages, msgs/s"; rate=1 ;;
    stream_4k) label="stream of 4096-byte messages, msgs/s"; rate=1 ;;
    recv_by_type) label="receive by type of 64 + send, ns per pair"; rate=0 ;;
    *) label=$name; rate=0 ;;
  esac
  speedup=$(awk -v k="$kernel" -v b="$boxed" -v rate="$rate" 'BEGIN {
    if (b == "-" || k + 0 <= 0 || b + 0 <= 0) print "-"
    else printf "%.1fx", rate ? b / k : k / b }')
  printf '  %-44s %10s %10s %10s\n' "$label" "$kernel" "$boxed" "$speedup"
done
if [ "$msg_status" -ne 0 ]; then
  why="exit status $msg_status"
  [ "$msg_status" -eq 124 ] && why="timed out after 300 s"
  err=$(head -n 1 "$work/msg_box_err")
  echo "  the box run failed ($why)${err:+: $err}"
fi
