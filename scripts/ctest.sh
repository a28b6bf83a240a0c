#!/usr/bin/env bash
# ctest.sh - differential C conformance tests: kernel vs ipcbox.
#
# Builds every ctests/*.c into ctests/build/ (nokernel.c is the seccomp
# wrapper, tool_*.c are helpers for other scripts, lib*.c are preload
# libraries built as ctests/build/lib*.so for tests that need them: all
# are built but not run as tests), then for each test program X:
#   kernel run:  unshare --ipc ctests/build/X
#   box run:     $IPCBOX run -- ctests/build/nokernel ctests/build/X
# and compares stdout and exit status (unified diff on mismatch).
# A sanity check proves the seccomp wrapper works: shm_get under
# `unshare --ipc nokernel` (no box) must not reproduce the kernel
# transcript.
#
# Usage: scripts/ctest.sh [--kernel-only] [TEST...]
#   --kernel-only   no box: run each test twice on the kernel and compare
#                   (checks that the transcripts are deterministic)
#   TEST...         run only these tests (names like shm_get)
# Environment:
#   IPCBOX   path of the ipcbox binary (default: target/release/ipcbox in
#            the repository)
#   CC       C compiler (default: cc)
#   CTEST_TIMEOUT  seconds per program run (default: 60)
#
# Prints "N passed, M failed[, K skipped]" at the end; exits 1 if any
# test failed.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC="$ROOT/ctests"
B="$SRC/build"
R="$B/results"
IPCBOX=${IPCBOX:-$ROOT/target/release/ipcbox}
CC=${CC:-cc}
TMO=${CTEST_TIMEOUT:-60}
CFLAGS=(-O1 -Wall -Werror)

kernel_only=0
only=()
for a in "$@"; do
	case "$a" in
	--kernel-only) kernel_only=1 ;;
	-h | --help)
		awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
		exit 0
		;;
	*) only+=("${a%.c}") ;;
	esac
done

passed=0
failed=0
skipped=0
failures=()

pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); failures+=("$1"); echo "FAIL $1${2:+: $2}"; }
skip() { skipped=$((skipped + 1)); echo "SKIP $1${2:+: $2}"; }

summary() {
	echo
	if [ ${#failures[@]} -gt 0 ]; then
		echo "failed: ${failures[*]}"
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
build_failed=0
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
		build_failed=1
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

# ---------------------------------------------------------------- helpers
can_unshare=0
if unshare --ipc true 2>/dev/null; then
	can_unshare=1
else
	echo "note: 'unshare --ipc' is not permitted here: kernel runs are skipped"
fi

have_box=1
if [ $kernel_only -eq 0 ] && [ ! -x "$IPCBOX" ]; then
	have_box=0
	echo "error: ipcbox binary not found or not executable: $IPCBOX"
	echo "       (build it with 'cargo build --release', set IPCBOX=..., or use --kernel-only)"
fi

# run OUTBASE CMD... : stdout -> OUTBASE.out, stderr -> OUTBASE.err, rc -> OUTBASE.rc
run() {
	local out=$1
	shift
	(cd "$B" && timeout -k 5 "$TMO" "$@" </dev/null >"$out.out" 2>"$out.err")
	local rc=$?
	echo "$rc" >"$out.rc"
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		echo "   (timed out after ${TMO}s: $*)" >>"$out.err"
	fi
	return 0
}

# compare NAME A B LABEL_A LABEL_B
compare() {
	local name=$1 a=$2 b=$3 la=$4 lb=$5
	local rca rcb
	rca=$(cat "$a.rc")
	rcb=$(cat "$b.rc")
	if cmp -s "$a.out" "$b.out" && [ "$rca" = "$rcb" ]; then
		pass "$name"
		return 0
	fi
	local why=""
	cmp -s "$a.out" "$b.out" || why="stdout differs"
	[ "$rca" = "$rcb" ] || why="${why:+$why, }exit status $la=$rca $lb=$rcb"
	fail "$name" "$why"
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
	return 1
}

# ---------------------------------------------------------------- tests
start=$(date +%s)
for t in "${tests[@]}"; do
	k="$R/$t.kernel"
	x="$R/$t.box"
	if [ $kernel_only -eq 1 ]; then
		if [ $can_unshare -eq 0 ]; then
			skip "$t" "unshare not allowed"
			continue
		fi
		run "$k" unshare --ipc "$B/$t"
		run "$R/$t.kernel2" unshare --ipc "$B/$t"
		compare "$t" "$k" "$R/$t.kernel2" kernel kernel-again
		continue
	fi
	if [ $have_box -eq 0 ]; then
		fail "$t" "no ipcbox binary"
		continue
	fi
	run "$x" "$IPCBOX" run -- "$B/nokernel" "$B/$t"
	if [ $can_unshare -eq 0 ]; then
		echo "SKIP kernel run for $t: unshare not allowed"
		skip "$t" "cannot compare without the kernel transcript (box exit status $(cat "$x.rc"))"
		continue
	fi
	run "$k" unshare --ipc "$B/$t"
	deviation=$(awk -v t="$t" '$1 == t { $1 = ""; sub(/^ /, ""); print }' "$SRC/known-deviations" 2>/dev/null)
	if [ -n "$deviation" ]; then
		# A known deviation (listed in the README): it must still run to the
		# end in the box, and it fails the suite if it starts to match, so
		# the list never hides a fixed difference.
		if cmp -s "$k.out" "$x.out" && [ "$(cat "$k.rc")" = "$(cat "$x.rc")" ]; then
			fail "$t" "matches the kernel now: remove it from ctests/known-deviations"
		elif [ "$(cat "$x.rc")" = 124 ] || [ "$(cat "$x.rc")" = 137 ]; then
			fail "$t" "known deviation, but the box run timed out"
		else
			skip "$t" "known deviation: $deviation"
		fi
		continue
	fi
	compare "$t" "$k" "$x" kernel ipcbox
done

# ---------------------------------------------------------------- sanity
# The seccomp wrapper must really cut the kernel off: without a box, a
# shm test under nokernel must not reproduce the kernel transcript.
sanity_test=shm_get
if [ -x "$B/$sanity_test" ] && { [ ${#only[@]} -eq 0 ] || [[ " ${tests[*]} " == *" $sanity_test "* ]]; }; then
	if [ $can_unshare -eq 1 ]; then
		s="$R/sanity.nokernel"
		[ -e "$R/$sanity_test.kernel.out" ] || run "$R/$sanity_test.kernel" unshare --ipc "$B/$sanity_test"
		run "$s" unshare --ipc "$B/nokernel" "$B/$sanity_test"
		if ! grep -q 'shmget(' "$R/$sanity_test.kernel.out"; then
			fail "sanity:nokernel" "kernel transcript of $sanity_test looks wrong"
		elif cmp -s "$R/$sanity_test.kernel.out" "$s.out" &&
			[ "$(cat "$R/$sanity_test.kernel.rc")" = "$(cat "$s.rc")" ]; then
			fail "sanity:nokernel" "$sanity_test under nokernel matched the kernel: the seccomp filter is not working"
		elif ! grep -q 'ENOSYS' "$s.out"; then
			fail "sanity:nokernel" "$sanity_test under nokernel did not see ENOSYS"
		else
			pass "sanity:nokernel"
		fi
	else
		skip "sanity:nokernel" "unshare not allowed"
	fi
fi

echo "time: $(($(date +%s) - start))s"
summary
