#!/usr/bin/env bash
# isolation.sh - two boxes are isolated from each other and from the host.
#
# Runs in the HOST IPC namespace (the point is that the host stays
# untouched):
#   1. snapshot /proc/sysvipc/shm
#   2. start two boxes at the same time; in each, ctests/build/tool_isolation
#      (under the nokernel seccomp wrapper) creates key 0x1234 with
#      IPC_CREAT|IPC_EXCL, writes its own marker, waits for the other box
#      (rendezvous files in a mktemp dir), then checks that it still reads
#      its own marker
#   3. the same with sixteen boxes at once, each also creating a semaphore
#      set and a message queue with key 0x1234
#   4. compare /proc/sysvipc/shm with the snapshot: must be identical, and
#      no host segment with key 0x1234 may have appeared
# Controls (need `unshare --ipc`: otherwise they fail, or are counted as
# skipped with IPCBOX_ALLOW_SKIP=1): the same tool pair in
# two separate kernel IPC namespaces passes, and in ONE shared kernel
# namespace the second instance is refused (so the tool detects sharing).
#
# Environment: IPCBOX (default target/release/ipcbox), CC (default cc),
# IPCBOX_ALLOW_SKIP.
# Prints "N passed, M failed[, K skipped]"; exits 1 if anything failed.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC="$ROOT/ctests"
B="$SRC/build"
IPCBOX=${IPCBOX:-$ROOT/target/release/ipcbox}
CC=${CC:-cc}
TOOL="$B/tool_isolation"

passed=0
failed=0
skipped=0
pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1${2:+: $2}"; }
# A check that cannot run here fails, unless skipping is allowed.
skip() {
	if [ "${IPCBOX_ALLOW_SKIP:-0}" = 1 ]; then
		skipped=$((skipped + 1))
		echo "SKIP $1${2:+: $2}"
	else
		fail "$1" "${2:+$2 }(IPCBOX_ALLOW_SKIP=1 to count it as skipped)"
	fi
}
summary() {
	echo
	if [ "$skipped" -gt 0 ]; then
		echo "$passed passed, $failed failed, $skipped skipped"
	else
		echo "$passed passed, $failed failed"
	fi
	[ "$failed" -eq 0 ]
	exit $?
}

mkdir -p "$B"
for n in tool_isolation nokernel; do
	if ! "$CC" -O1 -Wall -Werror -o "$B/$n" "$SRC/$n.c"; then
		fail "build:$n"
		summary
	fi
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ipcbox-isolation.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# key 0x1234 as printed (decimal) in the first column of /proc/sysvipc/shm
has_key_1234() { awk 'NR > 1 && $1 == 4660 { f = 1 } END { exit !f }' "$1"; }

# pair DIR CMD_A... :: CMD_B... : run A and B concurrently
# (output in DIR/A.out, DIR/B.out, exit codes in DIR/A.rc, DIR/B.rc)
pair() {
	local dir=$1
	shift
	local a=() b=()
	while [ $# -gt 0 ] && [ "$1" != "::" ]; do a+=("$1"); shift; done
	shift
	b=("$@")
	mkdir -p "$dir"
	(timeout -k 5 60 "${a[@]}" "$dir" A B >"$dir/A.out" 2>"$dir/A.err" </dev/null; echo $? >"$dir/A.rc") &
	local pa=$!
	(timeout -k 5 60 "${b[@]}" "$dir" B A >"$dir/B.out" 2>"$dir/B.err" </dev/null; echo $? >"$dir/B.rc") &
	local pb=$!
	wait $pa $pb
}

# check_side LABEL DIR SIDE
check_side() {
	local label=$1 dir=$2 s=$3
	local rc
	rc=$(cat "$dir/$s.rc" 2>/dev/null || echo "?")
	if [ "$rc" = 0 ] && grep -qx "$s: OK" "$dir/$s.out" &&
		grep -q "^$s: rendezvous with" "$dir/$s.out"; then
		pass "$label: box $s created key 0x1234 with IPC_EXCL and kept its own marker"
	else
		fail "$label: box $s" "exit status $rc"
		sed 's/^/   | /' "$dir/$s.out" "$dir/$s.err"
	fi
}

# ------------------------------------------------------------ the boxes
before="$WORK/shm.before"
after="$WORK/shm.after"
cat /proc/sysvipc/shm >"$before"

if [ ! -x "$IPCBOX" ]; then
	fail "two concurrent boxes" "ipcbox binary not found: $IPCBOX"
else
	d="$WORK/boxes"
	pair "$d" "$IPCBOX" run -- "$B/nokernel" "$TOOL" :: "$IPCBOX" run -- "$B/nokernel" "$TOOL"
	check_side "two concurrent boxes" "$d" A
	check_side "two concurrent boxes" "$d" B
fi

# Sixteen boxes at once, each with its own objects under the same key.
if [ -x "$IPCBOX" ]; then
	d="$WORK/sixteen"
	mkdir -p "$d"
	names=$(seq -s, -f 'box%02g' 1 16)
	for i in $(seq -f '%02g' 1 16); do
		others=$(echo "$names" | tr , '\n' | grep -vx "box$i" | paste -sd,)
		(timeout -k 5 90 "$IPCBOX" run -- "$B/nokernel" "$TOOL" "$d" "box$i" "$others" \
			>"$d/box$i.out" 2>"$d/box$i.err" </dev/null; echo $? >"$d/box$i.rc") &
	done
	wait
	ok=0
	for i in $(seq -f '%02g' 1 16); do
		if [ "$(cat "$d/box$i.rc")" = 0 ] && grep -qx "box$i: OK" "$d/box$i.out"; then
			ok=$((ok + 1))
		else
			sed 's/^/   | /' "$d/box$i.out" "$d/box$i.err"
		fi
	done
	if [ "$ok" = 16 ]; then
		pass "sixteen concurrent boxes each created shm, sem and msg key 0x1234 with IPC_EXCL and kept their own"
	else
		fail "sixteen concurrent boxes" "$ok of 16 passed"
	fi
fi

cat /proc/sysvipc/shm >"$after"
if cmp -s "$before" "$after"; then
	pass "host /proc/sysvipc/shm unchanged"
else
	fail "host /proc/sysvipc/shm unchanged" "it changed:"
	diff -u --label before --label after "$before" "$after" | sed 's/^/   | /'
fi
if has_key_1234 "$after" && ! has_key_1234 "$before"; then
	fail "no host segment with key 0x1234" "one appeared"
else
	pass "no host segment with key 0x1234"
fi

# ------------------------------------------------- the region through /proc
# A boxed program must not reach the box's region file (every object of the
# box) through /proc: map_files of an attachment (the segment's own file on
# Linux) and the library's descriptor are refused, said once on stderr.
if "$CC" -O1 -Wall -Werror -o "$B/tool_region_reach" "$SRC/tool_region_reach.c"; then
	out=$("$IPCBOX" run -- "$B/tool_region_reach" 2>"$WORK/reach.err")
	refusals=$(grep -c '^ipcbox: refused to open /proc/self/map_files/' "$WORK/reach.err")
	if [ "$(grep -c ': EACCES$' <<<"$out")" -ge 3 ] && ! grep -q 'opened' <<<"$out" &&
		! grep -qx 'memfds: 0' <<<"$out" && [ "$refusals" = 1 ] && [ "$(wc -l <"$WORK/reach.err")" = 1 ]; then
		pass "a boxed program cannot open the region through /proc/self/map_files or /proc/self/fd (EACCES, one line on stderr)"
	else
		fail "the region through /proc" "the tool printed:"
		sed 's/^/   | /' <<<"$out" "$WORK/reach.err"
	fi
	if unshare --ipc true 2>/dev/null; then
		out=$(unshare --ipc "$B/tool_region_reach" 2>&1)
		if grep -qx 'open map_files: opened, segment data: yes' <<<"$out"; then
			pass "control: on the kernel, map_files of an attachment opens the segment"
		else
			fail "control: map_files on the kernel" "the tool printed:"
			sed 's/^/   | /' <<<"$out"
		fi
	else
		skip "control: map_files on the kernel" "unshare not allowed"
	fi
else
	fail "build tool_region_reach"
fi

# ------------------------------------------------------------ controls
if unshare --ipc true 2>/dev/null; then
	d="$WORK/kernel-separate"
	pair "$d" unshare --ipc "$TOOL" :: unshare --ipc "$TOOL"
	if [ "$(cat "$d/A.rc")" = 0 ] && [ "$(cat "$d/B.rc")" = 0 ]; then
		pass "control: two separate kernel IPC namespaces pass"
	else
		fail "control: two separate kernel IPC namespaces pass"
		sed 's/^/   | /' "$d"/*.out "$d"/*.err
	fi
	d="$WORK/kernel-shared"
	mkdir -p "$d"
	timeout -k 5 90 unshare --ipc bash -c '
		"$1" "$2" A B >"$2/A.out" 2>&1 & a=$!
		"$1" "$2" B A >"$2/B.out" 2>&1 & b=$!
		wait $a; echo $? >"$2/A.rc"; wait $b; echo $? >"$2/B.rc"' _ "$TOOL" "$d"
	if [ "$(cat "$d/A.rc" 2>/dev/null)" != 0 ] || [ "$(cat "$d/B.rc" 2>/dev/null)" != 0 ]; then
		pass "control: sharing one namespace is detected"
	else
		fail "control: sharing one namespace is detected" "both instances passed"
		sed 's/^/   | /' "$d"/*.out
	fi
else
	skip "control: separate kernel namespaces" "unshare not allowed"
	skip "control: shared namespace detected" "unshare not allowed"
fi

summary
