#!/usr/bin/env bash
# Proves the box's memory follows use, as a user runs it: an idle box holds
# little of its region, and after 10,000 segments, 10,000 queues holding a
# message and 10,000 semaphore sets were made and removed
# (ctests/tool_bench_memory), the region's allocated memory and the
# process's resident size are back within 1 MiB of where they started.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ipcbox=${IPCBOX:-$root/target/release/ipcbox}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O2 -Wall -Werror -o "$work/bench_memory" "$root/ctests/tool_bench_memory.c"
"$ipcbox" run -- "$work/bench_memory" 10000 >"$work/out"
value() { awk -v name="$1" '$1 == name { print $2 }' "$work/out"; }
failed=0
check() {
  if [ "$2" -gt "$3" ]; then
    echo "memory: $1: $2 KiB, more than $3 KiB"
    failed=$((failed + 1))
  fi
}
check "region of an idle box" "$(value idle_region_kib)" 1024
check "region after the churn" "$(value churn_region_kib)" $(($(value idle_region_kib) + 1024))
check "resident size after the churn" "$(value churn_vmrss_kib)" $(($(value idle_vmrss_kib) + 1024))
if [ "$(value peak_region_kib)" -lt 10000 ]; then
  echo "memory: the churn never held its objects (region at its peak: $(value peak_region_kib) KiB)"
  failed=$((failed + 1))
fi
if [ "$failed" -ne 0 ]; then
  cat "$work/out"
  echo "0 passed, $failed failed"
  exit 1
fi
echo "memory: region $(value idle_region_kib) KiB idle, $(value peak_region_kib) KiB with 10,000 of each object, $(value churn_region_kib) KiB after they were removed; resident $(value idle_vmrss_kib) -> $(value churn_vmrss_kib) KiB"
echo "1 passed, 0 failed"
