#!/usr/bin/env bash
# soak.sh - the fault-injection and load tests, longer than CI runs them.
# Not part of the test command. Runs, inside a box, for about MINUTES
# minutes (default 10): ctests/chaos_kill with CHAOS_MS=60000 (a minute of
# random kills per run) alternating with ctests/load_many, and fails on the
# first check that prints "no" or a run that does not end cleanly.
#   scripts/soak.sh [MINUTES]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
minutes=${1:-10}
cargo build --release --quiet --workspace
ipcbox=$root/target/release/ipcbox
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for test in chaos_kill load_many; do
  cc -O1 -Wall -Werror -pthread -o "$work/$test" "ctests/$test.c"
done
end=$(($(date +%s) + minutes * 60))
runs=0
while [ "$(date +%s)" -lt "$end" ]; do
  for test in chaos_kill load_many; do
    if ! CHAOS_MS=60000 timeout 600 "$ipcbox" run -- "$work/$test" >"$work/out" 2>&1 ||
      grep -qE ': no$|FATAL|worker failed' "$work/out"; then
      echo "soak: $test failed after $runs clean runs:"
      sed 's/^/   | /' "$work/out"
      exit 1
    fi
    runs=$((runs + 1))
  done
done
echo "soak: $runs clean runs of chaos_kill and load_many in $minutes minutes"
