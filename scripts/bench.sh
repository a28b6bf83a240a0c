#!/usr/bin/env bash
# Benchmarks of ipcbox against the kernel, one run, printed as ratios.
# Not part of the test command: timings depend on the machine.
#   scripts/bench.sh            all benchmarks
# Sections: the cost of the shim for programs that do not use SysV IPC;
# semaphore operations, message queues, the cost of calls with idle
# processes in the box, shared memory (the segment lifecycle, stress-ng's
# shm-sysv) and memory (address space, resident size, the region before and
# after a churn of objects) (kernel in a fresh unshare --ipc namespace vs a
# box).
# Environment: RUNS, LOOP (shim cost), SEM_ITERATIONS (tool_bench_sem),
# MSG_ITERATIONS (tool_bench_msg), IDLE_ITERATIONS (tool_bench_idle),
# SHM_ITERATIONS (tool_bench_shm), STRESS_SECONDS (per stress-ng run),
# CHURN_COUNT (tool_bench_memory), JOIN_IDLE (tool_bench_join).
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

# A program that loads many libraries with RTLD_DEEPBIND, each of which
# makes a SysV call: the box's cost of reaching such libraries (libc's SysV
# functions diverted at each process start, see shim/src/divert.rs) against
# the same program on the kernel.
libs=${DLOPEN_LIBS:-100}
mkdir -p "$work/libs"
printf '#include <sys/sem.h>\nint use_ipc(void) { int id = semget(IPC_PRIVATE, 1, 0600); return id < 0 || semctl(id, 0, IPC_RMID) < 0; }\n' >"$work/libs/use_ipc.c"
for ((i = 0; i < libs; i++)); do cc -O2 -shared -fPIC -o "$work/libs/lib$i.so" "$work/libs/use_ipc.c"; done
cc -O2 -o "$work/bench_dlopen" "$root/ctests/tool_bench_dlopen.c"
plain=$(time_us 20 unshare --ipc "$work/bench_dlopen" "$work/libs" "$libs")
boxed=$(time_us 20 "$ipcbox" run -- "$work/bench_dlopen" "$work/libs" "$libs")
printf '  %-44s %8s us\n' "$libs libraries loaded with RTLD_DEEPBIND" "$plain"
printf '  %-44s %8s us   %s\n' "the same in a box" "$boxed" "$(ratio "$boxed" "$plain")"
# A process's start while N others hold box state: joining the box must
# not cost more in a box of thousands (it finds its own earlier image's
# record, if any, by pid, without reading every record).
cc -O2 -o "$work/bench_join" "$root/ctests/tool_bench_join.c"
for n in 0 ${JOIN_IDLE:-4096}; do
  plain=$(unshare --ipc "$work/bench_join" "$n" 60 | awk '{ print $3 }')
  boxed=$("$ipcbox" run -- "$work/bench_join" "$n" 60 | awk '{ print $3 }')
  printf '  %-44s %8s us\n' "spawn of true, $n idle processes" "$plain"
  printf '  %-44s %8s us   %s\n' "the same in a box" "$boxed" "$(ratio "$boxed" "$plain")"
done
cc -O2 -o "$work/bench_sem" "$root/ctests/tool_bench_sem.c"
iterations=${SEM_ITERATIONS:-1000000}
unshare --ipc "$work/bench_sem" "$iterations" >"$work/kernel"
"$ipcbox" run -- "$work/bench_sem" "$iterations" >"$work/box"
# The mutex lines again with every process on one CPU (taskset -c 0, as in
# a container given one CPU): no waiter can spin for a holder there.
taskset -c 0 unshare --ipc "$work/bench_sem" mutex 8 16 64 | sed 's/^mutex/cpu1_mutex/' >>"$work/kernel"
taskset -c 0 "$ipcbox" run -- "$work/bench_sem" mutex 8 16 64 | sed 's/^mutex/cpu1_mutex/' >>"$work/box"
echo
echo "semaphores, ns per operation (kernel in a fresh IPC namespace vs a box)"
printf '  %-36s %10s %10s %10s\n' "" kernel ipcbox speedup
join "$work/kernel" "$work/box" | while read -r name kernel boxed; do
  case $name in
    pv) label="uncontended P+V, per semop" ;;
    pv_undo) label="the same with SEM_UNDO" ;;
    four_ops) label="one semop of 4 operations" ;;
    ping_pong) label="two-process ping-pong, per hand-off" ;;
    mutex4) label="4 processes, 1 mutex, per P+V pair" ;;
    mutex8) label="8 processes, 1 mutex, per P+V pair" ;;
    mutex16) label="16 processes, 1 mutex, per P+V pair" ;;
    mutex64) label="64 processes, 1 mutex, per P+V pair" ;;
    cpu1_mutex*) label="${name#cpu1_mutex} processes, 1 mutex, one CPU" ;;
    *) label=$name ;;
  esac
  printf '  %-36s %10s %10s %9sx\n' "$label" "$kernel" "$boxed" "$(awk -v k="$kernel" -v b="$boxed" 'BEGIN { printf "%.1f", k / b }')"
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

# --------------------------------------------------- idle processes in the box
# N idle processes (0, 64, 256, 1024), each holding a SEM_UNDO entry on the
# semaphore set and an attachment of the segment, must not slow the calls of
# another process: the last column is each box figure over the box figure of
# the same operation with no idle process (target: 1.25x at most at N=1024).
# SETVAL clears the adjustment of every undo structure of the set, in the
# kernel as in a box, and each idle process holds one on that very set: its
# figures grow with N on both sides, and it is left out of the target. A
# failing box run is handled as for message queues.
cc -O2 -o "$work/bench_idle" "$root/ctests/tool_bench_idle.c"
iterations=${IDLE_ITERATIONS:-100000}
unshare --ipc "$work/bench_idle" "$iterations" >"$work/idle_kernel"
idle_status=0
timeout 300 "$ipcbox" run -- "$work/bench_idle" "$iterations" >"$work/idle_box" 2>"$work/idle_box_err" || idle_status=$?
echo
echo "idle processes in the box, ns per call with N idle processes, median of 5 batches"
printf '  %-36s %5s %10s %10s %10s %10s\n' "" N kernel ipcbox speedup "box/N=0"
# Lines "op N kernel box box_at_N=0", grouped by operation, N in run order.
awk 'FILENAME == ARGV[1] { box[$1] = $2; next }
  match($1, /_idle[0-9]+$/) {
    op = substr($1, 1, RSTART - 1); n = substr($1, RSTART + 5)
    if (!(op in seen)) { seen[op] = 1; ops[++nops] = op }
    if (!(n in nseen)) { nseen[n] = 1; ns[++nns] = n }
    kernel[op, n] = $2
  }
  END {
    for (i = 1; i <= nops; i++)
      for (j = 1; j <= nns; j++) {
        op = ops[i]; n = ns[j]; name = op "_idle" n; base = op "_idle0"
        if ((op, n) in kernel)
          print op, n, kernel[op, n], (name in box) ? box[name] : "-", (base in box) ? box[base] : "-"
      }
  }' "$work/idle_box" "$work/idle_kernel" >"$work/idle_table"
over=()
max_n=$(awk '{ if ($2 + 0 > m) m = $2 + 0 } END { print m + 0 }' "$work/idle_table")
previous=
while read -r op n kernel boxed base; do
  case $op in
    pv) label="uncontended P+V, per semop" ;;
    pv_undo) label="the same with SEM_UNDO" ;;
    stat) label="shmctl(IPC_STAT), per call" ;;
    msg) label="msgsnd+msgrcv of 64 bytes, per pair" ;;
    setval) label="semctl(SETVAL), N undos to clear" ;;
    *) label=$op ;;
  esac
  [ "$op" = "$previous" ] && label=""
  previous=$op
  speedup=$(awk -v k="$kernel" -v b="$boxed" 'BEGIN {
    if (b == "-" || k + 0 <= 0 || b + 0 <= 0) print "-"; else printf "%.1fx", k / b }')
  growth=$(awk -v b="$boxed" -v z="$base" 'BEGIN {
    if (b == "-" || z == "-" || z + 0 <= 0) print "-"; else printf "%.2fx", b / z }')
  printf '  %-36s %5s %10s %10s %10s %10s\n' "$label" "$n" "$kernel" "$boxed" "$speedup" "$growth"
  if [ "$n" = "$max_n" ] && [ "$n" != 0 ] && [ "$growth" != "-" ] && [ "$op" != setval ] &&
    awk -v g="${growth%x}" 'BEGIN { exit !(g > 1.25) }'; then
    over+=("$op $growth")
  fi
done <"$work/idle_table"
if [ "$idle_status" -ne 0 ]; then
  why="exit status $idle_status"
  [ "$idle_status" -eq 124 ] && why="timed out after 300 s"
  err=$(head -n 1 "$work/idle_box_err")
  echo "  the box run failed ($why)${err:+: $err}"
elif [ ${#over[@]} -gt 0 ]; then
  list=$(printf '%s, ' "${over[@]}")
  echo "  over 1.25x its N=0 figure in the box at N=$max_n (SETVAL aside): ${list%, }"
else
  echo "  every operation but SETVAL (whose work grows with N in the kernel too) within 1.25x of its N=0 figure in the box at N=$max_n"
fi

# ------------------------------------------------------------ shared memory
# The segment lifecycle (sysvbench's line: create, attach, touch every page,
# detach, remove), its parts, and reading /proc/sysvipc/shm; then
# stress-ng's shm-sysv stressor (bogo operations per second, median of 3
# runs of 5 s), kernel and box alternating.
cc -O2 -o "$work/bench_shm" "$root/ctests/tool_bench_shm.c"
iterations=${SHM_ITERATIONS:-20000}
unshare --ipc "$work/bench_shm" "$iterations" >"$work/shm_kernel"
"$ipcbox" run -- "$work/bench_shm" "$iterations" >"$work/shm_box"
echo
echo "shared memory, ns per operation, median of 5 batches (kernel in a fresh IPC namespace vs a box)"
printf '  %-44s %10s %10s %10s\n' "" kernel ipcbox speedup
join "$work/shm_kernel" "$work/shm_box" | while read -r name kernel boxed; do
  case $name in
    lifecycle) label="create, attach, touch 16 pages, detach, remove" ;;
    create_rm) label="shmget + IPC_RMID of 64 KiB" ;;
    attach_dt) label="shmat + shmdt" ;;
    stat) label="shmctl(IPC_STAT)" ;;
    proc_text) label="read /proc/sysvipc/shm (10 segments)" ;;
    *) label=$name ;;
  esac
  printf '  %-44s %10s %10s %9sx\n' "$label" "$kernel" "$boxed" "$(awk -v k="$kernel" -v b="$boxed" 'BEGIN { printf "%.2f", k / b }')"
done
stress_rate() { # prefix...
  "$@" stress-ng --shm-sysv 1 --timeout "${STRESS_SECONDS:-5}"s --metrics-brief 2>&1 |
    awk '$4 == "shm-sysv" && $5 ~ /^[0-9]+$/ { print $9 }'
}
if command -v stress-ng >/dev/null; then
  kernel_rates=() box_rates=()
  for _ in 1 2 3; do
    kernel_rates+=("$(stress_rate unshare --ipc)")
    box_rates+=("$(stress_rate "$ipcbox" run --)")
  done
  median() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
  kernel=$(median "${kernel_rates[@]}") boxed=$(median "${box_rates[@]}")
  printf '  %-44s %10s %10s %9sx\n' "stress-ng shm-sysv, bogo ops/s" "$kernel" "$boxed" "$(awk -v k="$kernel" -v b="$boxed" 'BEGIN { printf "%.2f", b / k }')"
fi

# ------------------------------------------------------------------- memory
# What a process holds after one SysV call (address space and resident
# size; the box region's allocated memory), and the same after 10,000
# segments, queues with a message each and semaphore sets were made and
# removed (peak: while they existed). KiB.
cc -O2 -o "$work/bench_memory" "$root/ctests/tool_bench_memory.c"
count=${CHURN_COUNT:-10000}
unshare --ipc "$work/bench_memory" "$count" >"$work/mem_kernel"
"$ipcbox" run -- "$work/bench_memory" "$count" >"$work/mem_box"
echo
echo "memory, KiB (a process in a fresh IPC namespace vs a boxed one; the region is the box's memfd)"
printf '  %-44s %12s %12s\n' "" kernel ipcbox
join "$work/mem_kernel" "$work/mem_box" | while read -r name kernel boxed; do
  case $name in
    idle_vmsize_kib) label="address space after one call" ;;
    idle_vmrss_kib) label="resident size after one call" ;;
    idle_region_kib) label="region after one call" ;;
    peak_region_kib) label="region with $count of each object" ;;
    churn_vmsize_kib) label="address space after the churn" ;;
    churn_vmrss_kib) label="resident size after the churn" ;;
    churn_region_kib) label="region after the churn" ;;
    *) label=$name ;;
  esac
  printf '  %-44s %12s %12s\n' "$label" "$kernel" "$boxed"
done
