#!/usr/bin/env bash
# named.sh - named boxes: `ipcbox run --name` creates or joins, `ipcbox ls`,
# `ipcbox ipcs NAME [--json]`, `ipcbox rm NAME`, --keep, and a box that
# disappears with its last process. Runs in a directory of its own
# (IPCBOX_DIR), so the user's boxes are not touched. Processes that hold a
# box wait on a fifo until the checks are done (release), and the script
# waits for them with a bound (wait_for), never for a guessed time.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ipcbox=${IPCBOX:-$root/target/release/ipcbox}
. "$root/scripts/wait_for.sh"
pass=0 fail=0
check() { # name expected actual
  if [ "$2" == "$3" ]; then pass=$((pass + 1)); echo "PASS $1"
  else fail=$((fail + 1)); echo "FAIL $1: expected [$2], got [$3]"; fi
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export IPCBOX_DIR=$work/boxes
boxes() { "$ipcbox" ls | awk 'NR > 1 { print $1, $2, $3, $4, $5 }' | xargs; }

# A server in one process tree, a client in another, one box. The server
# makes its queue, says so (a file), and stays until released.
mkfifo "$work/srv.go"
"$ipcbox" run --name srv -- timeout 60 sh -c 'ipcmk -Q -p 0600 >/dev/null; : >"$1"; read go <"$0"' \
  "$work/srv.go" "$work/srv.ready" &
server=$!
wait_for 10 test -e "$work/srv.ready"
check "a second tree joins the box by name" 1 "$("$ipcbox" run --name srv -- ipcs -q | grep -c 0x)"
check "an unnamed box does not see it" 0 "$("$ipcbox" run -- ipcs -q | grep -c 0x)"
check "ls: the box, active, with its queue" "srv active 0 0 1" "$(boxes)"
check "ipcs NAME: a table from outside" 1 "$("$ipcbox" ipcs srv | grep -cE '^0x[0-9a-f]{8} +0 +[^ ]+ +600 ')"
check "ipcs NAME --json" "msg 600" \
  "$("$ipcbox" ipcs srv --json | python3 -c 'import json, sys; d = json.load(sys.stdin); print(*[o["facility"] + " " + o["perms"] for o in d["objects"]])')"
release "$work/srv.go"
wait $server
check "the box disappears with its last process" "" "$(boxes)"
check "ipcs of a box that is gone: 1, one line" "1 1" \
  "$("$ipcbox" ipcs srv >/dev/null 2>&1; echo $?) $("$ipcbox" ipcs srv 2>&1 | wc -l)"

# Joiners at once, while a holder keeps the box.
mkfifo "$work/race.go"
"$ipcbox" run --name race -- timeout 60 sh -c ': >"$1"; read go <"$0"' "$work/race.go" "$work/race.ready" &
holder=$!
wait_for 10 test -e "$work/race.ready"
joiners=()
for _ in 1 2 3 4 5 6 7 8; do
  "$ipcbox" run --name race -- ipcmk -Q >/dev/null &
  joiners+=($!)
done
wait "${joiners[@]}"
check "eight joiners at once: one box, eight queues" 8 \
  "$("$ipcbox" ipcs race --json | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["objects"]))')"
release "$work/race.go"
wait $holder

# --keep, then rm.
"$ipcbox" run --name kept --keep -- ipcmk -S 3 >/dev/null
check "--keep: the box stays, idle" "kept kept 0 1 0" "$(boxes)"
check "--keep: a later run finds its set" 1 "$("$ipcbox" run --name kept -- ipcs -s | grep -c 0x)"
check "rm NAME" 0 "$("$ipcbox" rm kept; echo $?)"
check "rm: the box is gone" "" "$(boxes)"
check "rm of a box that is gone: 1, one line" "1 1" \
  "$("$ipcbox" rm kept >/dev/null 2>&1; echo $?) $("$ipcbox" rm kept 2>&1 | wc -l)"

# A daemon that outlives its supervisor keeps the box; once it is gone, ls
# finds the box abandoned and removes it. The daemon (timeout, and the sh
# under it) writes its pids and waits to be released.
mkfifo "$work/daemon.go"
"$ipcbox" run --name daemon -- sh -c 'ipcmk -Q >/dev/null
  (exec timeout 60 sh -c "echo \$\$ \$PPID >\"\$0.tmp\"; mv \"\$0.tmp\" \"\$0\"; read go <\"\$1\"" "$0" "$1") >/dev/null 2>&1 &' \
  "$work/daemon.pids" "$work/daemon.go"
check "a daemon keeps the box after its supervisor" "daemon active 0 0 1" "$(boxes)"
wait_for 10 test -s "$work/daemon.pids"
release "$work/daemon.go"
# shellcheck disable=SC2046 # two pids
wait_for 10 gone $(cat "$work/daemon.pids")
check "once the daemon is gone, the box is too" "" "$(boxes)"

check "a bad name: 125, one line" "125 1" \
  "$("$ipcbox" run --name ../x -- true >/dev/null 2>&1; echo $?) $("$ipcbox" run --name ../x -- true 2>&1 | wc -l)"
check "--keep needs --name" 2 "$("$ipcbox" run --keep -- true >/dev/null 2>&1; echo $?)"
check "nothing left in the directory" "" "$(ls -A "$IPCBOX_DIR")"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
