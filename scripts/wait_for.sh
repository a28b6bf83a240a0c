# wait_for.sh - sourced by the test scripts: wait for a condition, bounded.
#
# wait_for SECONDS CMD...: runs CMD every 10 ms until it succeeds; if it
# has not after SECONDS (a whole number), says on stderr what it waited for
# and returns 1. Scripts wait with it for a file, a process state or a
# listing rather than sleeping for a guessed time.
wait_for() {
  local limit=$1
  shift
  local now=${EPOCHREALTIME/[.,]/}
  local end=$((now + limit * 1000000))
  until "$@"; do
    now=${EPOCHREALTIME/[.,]/}
    if [ "$now" -ge "$end" ]; then
      echo "wait_for: timed out after ${limit}s waiting for: $*" >&2
      return 1
    fi
    sleep 0.01
  done
}

# gone PID...: none of these processes is alive (gone, or a zombie).
gone() {
  local pid state
  for pid in "$@"; do
    state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)
    [ -z "$state" ] || [ "$state" = Z ] || [ "$state" = X ] || return 1
  done
}

# release FIFO: one line to whoever reads FIFO (a holder waiting to go);
# bounded, in case the reader is gone.
release() {
  timeout 10 sh -c 'echo go >"$0"' "$1"
}
