#!/usr/bin/env bash
# ctest.sh - differential C conformance tests: kernel vs ipcbox.
#
# Builds every ctests/*.c into ctests/build/ (nokernel.c is the seccomp
# wrapper, tool_*.c are helpers for other scripts, lib*.c are preload
# libraries built as ctests/build/lib*.so for tests that need them: all
# are built but not run as tests). Each test program X runs in a box,
#   ipcbox run -- ctests/build/nokernel ctests/build/X
# and its transcript (stdout and exit status) must be the kernel's:
#   - the live kernel's, `unshare --ipc ctests/build/X`, where unshare is
#     allowed; the committed transcript must then still be what the live
#     kernel prints, else the test fails (re-record it, see --record);
#   - where unshare is refused, the committed one, ctests/expected/HALF/X.out
#     and X.rc, if it was recorded with this machine's facts (below).
# A test that can be compared with neither fails (skipped with --allow-skip).
#
# Each test runs in two halves:
#   root  as root (only when this script runs as root);
#   user  as an unprivileged user: the caller, or, when this script runs as
#         root, the test user ($IPCBOX_TEST_USER, default ipcbox-test,
#         created with useradd if missing). Kernel: unshare --ipc, then
#         setpriv to the user; box: ipcbox run as that user, from a copy of
#         the binaries and the library in a temporary directory the user can
#         read (the repository may be in one it cannot). The user's uid and
#         gid are printed as UID and GID. Tests that need root by design
#         (ctests/needs-root, with the reason) have no user half; run by
#         another user than root they fail (skipped with --allow-skip).
# A test named in ctests/known-deviations differs from the kernel by a
# deviation the README documents: it must still run to its end in the box,
# is reported KNOWN, and fails if it matches the kernel (the list is stale).
#
# Machine facts: the second header line of a committed transcript,
# "# facts: ...", names what it depends on besides the kernel: architecture
# and page size for all, the huge page pools for shm_hugetlb,
# vm.mmap_min_addr for shm_at_zero, overcommit for shm_limits (facts()
# below). A transcript whose facts are not this machine's is not used (with
# a live kernel the box is compared with that alone, said in a note).
#
# Usage: scripts/ctest.sh [--record | --kernel-only] [--allow-skip] [--half root|user] [TEST...]
#   --record       as root, with unshare: run each test twice on the kernel
#                  in each half and, if the two transcripts are the same,
#                  write them to ctests/expected/ (then commit them); with
#                  no TEST, transcripts of tests that are gone are removed
#   --kernel-only  no box: run each test twice on the live kernel and
#                  compare (checks that the transcripts are deterministic),
#                  and with the committed transcript
#   --allow-skip   a test that cannot be compared is counted as skipped
#                  instead of failed (also IPCBOX_ALLOW_SKIP=1)
#   --half H       run only the root or only the user half
#   TEST...        run only these tests (names like shm_get)
# Environment:
#   IPCBOX   path of the ipcbox binary (default: target/release/ipcbox in
#            the repository; libipcbox.so is taken from beside it, or
#            IPCBOX_LIB)
#   IPCBOX_TEST_USER  the unprivileged user when run as root (ipcbox-test)
#   CC       C compiler (default: cc)
#   CTEST_TIMEOUT  seconds per program run (default: 60)
#   CTEST_AS_LIMIT  an address-space limit in KiB (ulimit -v) for every
#            program run, kernel and box alike (default: none)
#   CTEST_CPUS  run every program pinned to these CPUs (taskset -c), kernel
#            and box alike (default: not pinned)
#
# Prints a PASS, FAIL, KNOWN or SKIP line per test and half ("[user]" marks
# the user half), then the counts, and last "N passed, M failed" (with
# ", K skipped" if any were); exits 1 if any test failed.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC="$ROOT/ctests"
EXP="$SRC/expected"
B="$SRC/build"
R="$B/results"
IPCBOX=${IPCBOX:-$ROOT/target/release/ipcbox}
IPCBOX_LIB_PATH=${IPCBOX_LIB:-$(dirname "$IPCBOX")/libipcbox.so}
. "$ROOT/scripts/test_user.sh"
CC=${CC:-cc}
TMO=${CTEST_TIMEOUT:-60}
CFLAGS=(-O1 -Wall -Werror)

mode=box
allow_skip=${IPCBOX_ALLOW_SKIP:-0}
[ "$allow_skip" = 1 ] || allow_skip=0
want_half=
only=()
while [ $# -gt 0 ]; do
	case "$1" in
	--kernel-only) mode=kernel ;;
	--record) mode=record ;;
	--allow-skip) allow_skip=1 ;;
	--half)
		want_half=${2:-}
		shift
		;;
	--half=*) want_half=${1#--half=} ;;
	-h | --help)
		awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
		exit 0
		;;
	-*)
		echo "ctest.sh: unknown option $1 (see --help)" >&2
		exit 2
		;;
	*) only+=("${1%.c}") ;;
	esac
	shift
done
case "$want_half" in
"" | root | user) ;;
*)
	echo "ctest.sh: --half takes root or user" >&2
	exit 2
	;;
esac

passed=0
failed=0
skipped=0
known=0
failures=()
skips=()
live_refs=0
committed_refs=0
not_checked=()
root_only=()

pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); failures+=("$1"); echo "FAIL $1${2:+: $2}"; }
skip() { skipped=$((skipped + 1)); skips+=("$1"); echo "SKIP $1${2:+: $2}"; }
known_deviation() { known=$((known + 1)); echo "KNOWN $1${2:+: $2}"; }
# A test that cannot be compared: a failure, or with --allow-skip a skip.
cannot() {
	if [ "$allow_skip" = 1 ]; then
		skip "$1" "$2"
	else
		fail "$1" "$2 (--allow-skip to count it as skipped)"
	fi
}

summary() {
	echo
	[ ${#failures[@]} -eq 0 ] || echo "failed: ${failures[*]}"
	[ ${#skips[@]} -eq 0 ] || echo "skipped: ${skips[*]}"
	if [ "$mode" = box ]; then
		echo "known deviations (KNOWN: README, Known deviations): $known"
		echo "compared with the live kernel: $live_refs, with committed kernel transcripts only: $committed_refs"
		if [ ${#not_checked[@]} -gt 0 ]; then
			echo "committed transcripts not checked (recorded with other machine facts): ${#not_checked[@]}: ${not_checked[*]}"
		fi
	fi
	if [ ${#root_only[@]} -gt 0 ]; then
		echo "need root, no user half (ctests/needs-root): ${#root_only[@]}: ${root_only[*]}"
	fi
	if [ "$skipped" -gt 0 ]; then
		echo "$passed passed, $failed failed, $skipped skipped"
	else
		echo "$passed passed, $failed failed"
	fi
	[ "$failed" -eq 0 ]
	exit $?
}

# ---------------------------------------------------------------- build
mkdir -p "$B" "$R"
tests=()
for src in "$SRC"/*.c; do
	[ -e "$src" ] || continue
	name=$(basename "$src" .c)
	case "$name" in
	lib*) # a preload library used by some test: build/NAME.so
		out=("-shared" "-fPIC" -o "$B/$name.so") ;;
	*) out=(-o "$B/$name") ;;
	esac
	if ! "$CC" "${CFLAGS[@]}" "${out[@]}" "$src" -pthread 2>"$R/$name.build.err"; then
		cat "$R/$name.build.err"
		fail "build:$name" "compilation failed"
		continue
	fi
	case "$name" in
	nokernel | tool_* | lib*) continue ;;
	esac
	if [ ${#only[@]} -gt 0 ]; then
		keep=0
		for o in "${only[@]}"; do [ "$o" = "$name" ] && keep=1; done
		[ $keep -eq 1 ] || continue
	fi
	tests+=("$name")
done
if [ ! -x "$B/nokernel" ]; then
	echo "nokernel wrapper did not build"
	summary
fi
if [ ${#only[@]} -gt 0 ] && [ ${#tests[@]} -ne ${#only[@]} ]; then
	echo "warning: some requested tests do not exist (have: ${tests[*]:-none})"
fi

# ---------------------------------------------------------------- where we are
am_root=0
[ "$(id -u)" = 0 ] && am_root=1
can_unshare=0
if unshare --ipc true 2>/dev/null; then
	can_unshare=1
else
	echo "note: 'unshare --ipc' is not permitted here: boxes are compared with the committed kernel transcripts (ctests/expected)"
fi
if [ "$mode" = record ] && { [ $am_root = 0 ] || [ $can_unshare = 0 ]; }; then
	echo "ctest.sh --record: needs root and 'unshare --ipc' (the kernel transcripts are recorded as root and as the test user)" >&2
	exit 2
fi
if [ "$mode" = box ] && [ ! -x "$IPCBOX" ]; then
	echo "error: ipcbox binary not found or not executable: $IPCBOX"
	echo "       (build it with 'cargo build --release', set IPCBOX=..., or use --kernel-only)"
	fail "ipcbox" "no ipcbox binary"
	summary
fi
halves=()
if [ $am_root = 1 ]; then
	[ "$want_half" = user ] || halves+=(root)
	[ "$want_half" = root ] || halves+=(user)
else
	if [ "$want_half" = root ]; then
		echo "ctest.sh: --half root needs root" >&2
		exit 2
	fi
	halves=(user)
fi

# The facts of this machine a test's kernel transcript depends on, besides
# the kernel itself (one line, "name=value" words).
facts() {
	local f
	f="arch=$(uname -m) page=$(getconf PAGESIZE)"
	case "$1" in
	shm_hugetlb) # the default huge page size, the state of its pool and of
		# the 2 MiB one (absent, empty, or room for a page: free minus
		# reserved plus overcommit minus surplus), who may use them
		local size pool n state
		size=$(awk '/^Hugepagesize:/ { print $2 "kB" }' /proc/meminfo)
		f+=" Hugepagesize=${size:-none}"
		for pool in $(printf '%s\n' "$size" 2048kB | sort -u); do
			n=/sys/kernel/mm/hugepages/hugepages-$pool
			state=absent
			if [ -d "$n" ]; then
				state=empty
				[ $(($(cat "$n/free_hugepages") - $(cat "$n/resv_hugepages") + $(cat "$n/nr_overcommit_hugepages") -
					$(cat "$n/surplus_hugepages"))) -gt 0 ] && state=room
			fi
			f+=" pool-$pool=$state"
		done
		f+=" hugetlb_shm_group=$(cat /proc/sys/vm/hugetlb_shm_group 2>/dev/null)"
		;;
	shm_at_zero) # whether address 0 may be mapped without CAP_SYS_RAWIO
		local min
		min=$(cat /proc/sys/vm/mmap_min_addr 2>/dev/null)
		f+=" mmap_min_addr>0=$([ "${min:-0}" -gt 0 ] && echo yes || echo no)"
		;;
	shm_limits) # whether a 1 TiB segment passes the overcommit check
		local kib
		kib=$(awk '/^(MemTotal|SwapTotal):/ { s += $2 } END { print s }' /proc/meminfo)
		f+=" overcommit_memory=$(cat /proc/sys/vm/overcommit_memory 2>/dev/null)"
		f+=" ram+swap<1TiB=$([ "$kib" -lt $((1 << 30)) ] && echo yes || echo no)"
		;;
	esac
	echo "$f"
}

listed() { # FILE TEST: the rest of TEST's line in FILE (empty if not listed)
	awk -v t="$2" '$1 == t { $1 = ""; sub(/^ /, ""); print }' "$1" 2>/dev/null
}

# ---------------------------------------------------------------- the halves
# setup_half HALF: sets DIR (the directory the programs run from and in),
# KPRE and BPRE (what runs a program on the kernel and in a box), and UID_
# and GID_ (what the user half prints as UID and GID). Returns 1 (after
# saying why) if the half cannot run here.
UD=
cleanup() { [ -z "$UD" ] || rm -rf "$UD"; }
trap cleanup EXIT
setup_half() {
	DIR=$B
	KPRE=(unshare --ipc)
	BPRE=("$IPCBOX" run --)
	UID_=
	GID_=
	[ "$1" = user ] || return 0
	ensure_test_user || return 1
	UID_=$TEST_UID
	GID_=$TEST_GID
	[ $am_root = 1 ] || return 0
	UD=$(user_dir) || return 1
	find "$B" -maxdepth 1 -type f -exec cp {} "$UD/" \;
	if [ "$mode" = box ]; then
		cp "$IPCBOX" "$UD/ipcbox" && cp "$IPCBOX_LIB_PATH" "$UD/libipcbox.so" || return 1
	fi
	user_dir_ready "$UD" || return 1
	DIR=$UD
	KPRE=(unshare --ipc "${AS_USER[@]}")
	BPRE=(env -u IPCBOX_LIB "${AS_USER[@]}" "$UD/ipcbox" run --)
	return 0
}

# run HALF OUTBASE CMD... : in DIR; stdout -> OUTBASE.out, stderr ->
# OUTBASE.err, exit status -> OUTBASE.rc; in the user half the user's uid
# and gid print as UID and GID.
run() {
	local half=$1 out=$2
	shift 2
	local pin=()
	[ -n "${CTEST_CPUS:-}" ] && pin=(taskset -c "$CTEST_CPUS")
	(cd "$DIR" && ulimit -v "${CTEST_AS_LIMIT:-unlimited}" && timeout -k 5 "$TMO" "${pin[@]}" "$@" </dev/null >"$out.out" 2>"$out.err")
	local rc=$?
	echo "$rc" >"$out.rc"
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		echo "   (timed out after ${TMO}s: $*)" >>"$out.err"
	fi
	if [ "$half" = user ]; then
		sed -E -i "s/\b(c?uid)=$UID_\b/\1=UID/g; s/\b(c?gid)=$GID_\b/\1=GID/g" "$out.out"
	fi
	return 0
}

same() { cmp -s "$1.out" "$2.out" && [ "$(cat "$1.rc")" = "$(cat "$2.rc")" ]; }
timed_out() { [ "$(cat "$1.rc")" = 124 ] || [ "$(cat "$1.rc")" = 137 ]; }

# show_diff NAME A B LABEL_A LABEL_B: what differs, briefly
show_diff() {
	local name=$1 a=$2 b=$3 la=$4 lb=$5
	[ "$(cat "$a.rc")" = "$(cat "$b.rc")" ] || echo "   exit status: $la $(cat "$a.rc"), $lb $(cat "$b.rc")"
	if ! cmp -s "$a.out" "$b.out"; then
		diff -u --label "$name ($la)" --label "$name ($lb)" "$a.out" "$b.out" | head -n 80
		local n
		n=$(diff -u "$a.out" "$b.out" | wc -l)
		[ "$n" -gt 80 ] && echo "   ... ($n diff lines, full outputs in $R)"
	fi
	if [ -s "$b.err" ]; then
		echo "   --- stderr ($lb, first 20 lines):"
		head -n 20 "$b.err" | sed 's/^/   | /'
	fi
}

# compare NAME A B LABEL_A LABEL_B
compare() {
	local name=$1 a=$2 b=$3 la=$4 lb=$5
	if same "$a" "$b"; then
		pass "$name"
		return 0
	fi
	local why=""
	cmp -s "$a.out" "$b.out" || why="stdout differs"
	[ "$(cat "$a.rc")" = "$(cat "$b.rc")" ] || why="${why:+$why, }exit status $la=$(cat "$a.rc") $lb=$(cat "$b.rc")"
	fail "$name" "$why"
	show_diff "$name" "$a" "$b" "$la" "$lb"
	return 1
}

# committed HALF TEST OUTBASE: the committed transcript, without its header,
# as OUTBASE.out and .rc; returns 1 if there is none, 2 if it was recorded
# with other facts than this machine's (then CFACTS holds them).
committed() {
	local e="$EXP/$1/$2"
	CFACTS=
	[ -f "$e.out" ] && [ -f "$e.rc" ] || return 1
	CFACTS=$(sed -n '2s/^# facts: //p' "$e.out")
	tail -n +3 "$e.out" >"$3.out"
	cp "$e.rc" "$3.rc"
	: >"$3.err"
	[ "$CFACTS" = "$(facts "$2")" ] || return 2
	return 0
}

# record HALF TEST KERNEL: write the transcript KERNEL.out/.rc as committed
record() {
	local e="$EXP/$1/$2" who="root"
	[ "$1" = user ] && who="an unprivileged user (uid and gid printed as UID and GID)"
	mkdir -p "$EXP/$1"
	{
		echo "# kernel transcript of ctests/$2.c as $who: scripts/ctest.sh --record"
		echo "# facts: $(facts "$2")"
		cat "$3.out"
	} >"$e.out"
	cp "$3.rc" "$e.rc"
}

rerecord() { echo "re-record it if the kernel is right (scripts/ctest.sh --record $1, as root; commit ctests/expected)"; }

# one HALF TEST: run TEST's HALF (box mode)
one() {
	local half=$1 t=$2 name=$2
	[ "$half" = user ] && name="$t [user]"
	local k="$R/$t.$half.kernel" x="$R/$t.$half.box" c="$R/$t.$half.committed"
	local ref label
	run "$half" "$x" "${BPRE[@]}" "$DIR/nokernel" "$DIR/$t"
	committed "$half" "$t" "$c"
	local have=$?
	if [ $can_unshare = 1 ]; then
		run "$half" "$k" "${KPRE[@]}" "$DIR/$t"
		ref=$k label=kernel
		live_refs=$((live_refs + 1))
		case $have in
		0)
			if ! same "$c" "$k"; then
				fail "$name" "the live kernel's transcript differs from ctests/expected/$half/$t.out (the box $(same "$k" "$x" && echo "matches the live kernel" || echo "matches neither")): $(rerecord "$t")"
				show_diff "$name" "$c" "$k" committed kernel
				return
			fi
			;;
		1)
			fail "$name" "no committed kernel transcript ctests/expected/$half/$t.out (the box $(same "$k" "$x" && echo "matches the live kernel" || echo "differs from the live kernel")): record it (scripts/ctest.sh --record $t, as root; commit ctests/expected)"
			return
			;;
		2)
			echo "note: $name: ctests/expected/$half/$t.out was recorded with [$CFACTS], this machine has [$(facts "$t")]: compared with the live kernel only"
			not_checked+=("$name")
			;;
		esac
	else
		case $have in
		0)
			ref=$c label="kernel (committed)"
			committed_refs=$((committed_refs + 1))
			;;
		1)
			cannot "$name" "no live kernel (unshare refused) and no committed transcript ctests/expected/$half/$t.out"
			return
			;;
		2)
			cannot "$name" "no live kernel (unshare refused), and ctests/expected/$half/$t.out was recorded with [$CFACTS], this machine has [$(facts "$t")]"
			return
			;;
		esac
	fi
	if grep -q '^FATAL' "$ref.out"; then
		fail "$name" "the test itself failed on the kernel (FATAL): if it needs root, list it in ctests/needs-root"
		head -n 20 "$ref.out" "$ref.err" | sed 's/^/   | /'
		return
	fi
	local deviation
	deviation=$(listed "$SRC/known-deviations" "$t")
	if [ -n "$deviation" ]; then
		# A known deviation (listed in the README): it must still run to the
		# end in the box, and it fails the suite if it starts to match, so
		# the list never hides a fixed difference.
		if same "$ref" "$x"; then
			fail "$name" "matches the kernel now: remove it from ctests/known-deviations (and the README)"
		elif timed_out "$x"; then
			fail "$name" "known deviation, but the box run timed out"
		else
			known_deviation "$name" "$deviation"
		fi
		return
	fi
	compare "$name" "$ref" "$x" "$label" ipcbox
}

# twice HALF TEST: run TEST's HALF twice on the kernel (--kernel-only, --record)
twice() {
	local half=$1 t=$2 name=$2
	[ "$half" = user ] && name="$t [user]"
	local k="$R/$t.$half.kernel" k2="$R/$t.$half.kernel2" c="$R/$t.$half.committed"
	if [ $can_unshare = 0 ]; then
		cannot "$name" "unshare not allowed: no kernel to run"
		return
	fi
	run "$half" "$k" "${KPRE[@]}" "$DIR/$t"
	run "$half" "$k2" "${KPRE[@]}" "$DIR/$t"
	if ! same "$k" "$k2"; then
		fail "$name" "two kernel runs differ: the transcript is not deterministic"
		show_diff "$name" "$k" "$k2" kernel kernel-again
		return
	fi
	if timed_out "$k"; then
		fail "$name" "timed out on the kernel"
		return
	fi
	if grep -q '^FATAL' "$k.out"; then
		fail "$name" "the test itself failed on the kernel (FATAL): if it needs root, list it in ctests/needs-root"
		head -n 20 "$k.out" "$k.err" | sed 's/^/   | /'
		return
	fi
	if [ "$mode" = record ]; then
		record "$half" "$t" "$k"
		recorded+=("$half/$t")
		pass "$name"
		return
	fi
	committed "$half" "$t" "$c"
	case $? in
	0)
		if ! same "$c" "$k"; then
			fail "$name" "the live kernel's transcript differs from ctests/expected/$half/$t.out: $(rerecord "$t")"
			show_diff "$name" "$c" "$k" committed kernel
			return
		fi
		;;
	1)
		fail "$name" "no committed kernel transcript (ctests/expected/$half/$t.out): record it (scripts/ctest.sh --record $t)"
		return
		;;
	2) echo "note: $name: ctests/expected/$half/$t.out was recorded with [$CFACTS], this machine has [$(facts "$t")]: not checked" ;;
	esac
	pass "$name"
}

# ---------------------------------------------------------------- tests
start=$(date +%s)
recorded=()
for half in "${halves[@]}"; do
	if ! setup_half "$half"; then
		cannot "$half-half" "the $half half cannot run here"
		continue
	fi
	if [ "$half" = user ]; then
		echo "== user half: $TEST_USER, uid $UID_, gid $GID_, printed as UID and GID"
	else
		echo "== root half"
	fi
	for t in "${tests[@]}"; do
		if [ "$half" = user ]; then
			why=$(listed "$SRC/needs-root" "$t")
			if [ -n "$why" ]; then
				if [ $am_root = 1 ]; then
					root_only+=("$t")
				else
					cannot "$t" "needs root ($why; ctests/needs-root)"
				fi
				continue
			fi
		fi
		if [ "$mode" = box ]; then
			one "$half" "$t"
		else
			twice "$half" "$t"
		fi
	done
done

# ---------------------------------------------------------------- record
# A full recording removes the transcripts of tests that are gone, and of
# halves a test no longer has (it was put in ctests/needs-root).
if [ "$mode" = record ] && [ ${#only[@]} -eq 0 ] && [ -z "$want_half" ]; then
	for e in "$EXP"/root/*.out "$EXP"/user/*.out; do
		[ -e "$e" ] || continue
		h=$(basename "$(dirname "$e")")/$(basename "$e" .out)
		if [[ " ${recorded[*]} " != *" $h "* ]] && [ "$failed" -eq 0 ]; then
			echo "removing ctests/expected/$h.out and .rc: no such test or half"
			rm -f "$e" "${e%.out}.rc"
		fi
	done
fi
if [ "$mode" = record ] && [ ${#recorded[@]} -gt 0 ]; then
	echo "recorded on $(uname -srm)" >"$EXP/KERNEL"
	echo "recorded ${#recorded[@]} transcripts in ctests/expected ($(uname -srm)): review and commit them"
fi

# ---------------------------------------------------------------- sanity
# The seccomp wrapper must really cut the kernel off: without a box, a
# shm test under nokernel must not reproduce the kernel transcript.
sanity_test=shm_get
if [ "$mode" = box ] && [ -x "$B/$sanity_test" ] &&
	{ [ ${#only[@]} -eq 0 ] || [[ " ${tests[*]} " == *" $sanity_test "* ]]; }; then
	if [ $can_unshare -eq 1 ]; then
		s="$R/sanity.nokernel"
		DIR=$B
		run root "$R/sanity.kernel" unshare --ipc "$B/$sanity_test"
		run root "$s" unshare --ipc "$B/nokernel" "$B/$sanity_test"
		if ! grep -q 'shmget(' "$R/sanity.kernel.out"; then
			fail "sanity:nokernel" "kernel transcript of $sanity_test looks wrong"
		elif same "$R/sanity.kernel" "$s"; then
			fail "sanity:nokernel" "$sanity_test under nokernel matched the kernel: the seccomp filter is not working"
		elif ! grep -q 'ENOSYS' "$s.out"; then
			fail "sanity:nokernel" "$sanity_test under nokernel did not see ENOSYS"
		else
			pass "sanity:nokernel"
		fi
	else
		cannot "sanity:nokernel" "unshare not allowed: the seccomp wrapper cannot be tried without a box"
	fi
fi

echo "time: $(($(date +%s) - start))s"
summary
