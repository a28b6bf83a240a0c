#!/usr/bin/env bash
# End-to-end checks of the ipcbox command and of how the shim refuses a bad
# region: exit statuses, help, errors of one line, LD_PRELOAD handling.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ipcbox=${IPCBOX:-$root/target/release/ipcbox}
lib=$root/target/release/libipcbox.so
pass=0 fail=0
check() { # name expected actual
  if [ "$2" == "$3" ]; then pass=$((pass + 1)); echo "PASS $1"
  else fail=$((fail + 1)); echo "FAIL $1: expected [$2], got [$3]"; fi
}
status() { "$@" >/dev/null 2>&1; echo $?; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

check "exit status passes through" 7 "$(status "$ipcbox" run -- sh -c 'exit 7')"
check "death by signal N gives 128+N" 137 "$(status "$ipcbox" run -- sh -c 'kill -KILL $$')"
check "command not found gives 127" 127 "$(status "$ipcbox" run -- /nonexistent/cmd)"
touch "$work/noexec"
check "command not executable gives 126" 126 "$(status "$ipcbox" run -- "$work/noexec")"
check "missing library gives 125" 125 "$(IPCBOX_LIB=$work/missing.so status "$ipcbox" run -- true)"
check "missing library: one line" 1 "$(IPCBOX_LIB=$work/missing.so "$ipcbox" run -- true 2>&1 | wc -l)"
# Where the library is looked up: ../lib/ipcbox/ from the executable's real
# path (installed), beside it (target/release), or IPCBOX_LIB, made absolute.
mkdir -p "$work/prefix/bin" "$work/prefix/lib/ipcbox" "$work/alone" "$work/a b"
cp "$ipcbox" "$work/prefix/bin/"; cp "$lib" "$work/prefix/lib/ipcbox/"; ln -s "$work/prefix/bin/ipcbox" "$work/link"
check "installed layout: the library in ../lib/ipcbox/, through a symbolic link too" \
  "$work/prefix/lib/ipcbox/libipcbox.so" "$("$work/link" run -- sh -c 'echo "$LD_PRELOAD"')"
check "a relative IPCBOX_LIB is made absolute" "$lib" \
  "$(cd "$(dirname "$lib")" && IPCBOX_LIB=libipcbox.so "$ipcbox" run -- sh -c 'echo "$LD_PRELOAD"')"
cp "$ipcbox" "$work/alone/"
check "no library: 125, one line naming where it looked and IPCBOX_LIB" "125|1|1" \
  "$(status "$work/alone/ipcbox" run -- true)|$("$work/alone/ipcbox" run -- true 2>&1 | wc -l)|$("$work/alone/ipcbox" run -- true 2>&1 | grep -c "looked in $work/lib/ipcbox/ and $work/alone/.*IPCBOX_LIB")"
cp "$lib" "$work/a b/"
check "a library path LD_PRELOAD cannot carry (a space) is refused: 125, one line" "125 1" \
  "$(IPCBOX_LIB="$work/a b/libipcbox.so" status "$ipcbox" run -- true) $(IPCBOX_LIB="$work/a b/libipcbox.so" "$ipcbox" run -- true 2>&1 | wc -l)"
# A file size limit (ulimit -f) applies to the region's memfd, a file, as it
# does not to the kernel's segments: a soft limit is raised for the
# region's own growth only (the program still sees its own), and a hard one
# below what the region needs is refused in one line, never with a death by
# SIGXFSZ.
check "hard file size limit below the region: 125, one line naming ulimit -f" "125|1|1" \
  "$(bash -c "ulimit -f 100000; $(printf %q "$ipcbox") run -- true" >/dev/null 2>&1; echo $?)|$(bash -c "ulimit -f 100000; $(printf %q "$ipcbox") run -- true" 2>&1 | wc -l)|$(bash -c "ulimit -f 100000; $(printf %q "$ipcbox") run -- true" 2>&1 | grep -c 'ulimit -f')"
check "soft file size limit: segments made past it, the program's own limit unchanged" "2|100000" \
  "$(bash -c "ulimit -S -f 100000; $(printf %q "$ipcbox") run -- bash -c 'ipcmk -M 209715200 >/dev/null && ipcmk -M 4096 >/dev/null && ipcs -m | grep -c ^0x; ulimit -S -f'" 2>&1 | paste -sd'|')"
# A descriptor limit (ulimit -n) at or below the number the box's
# descriptor is placed from (100): it goes to the highest number allowed,
# and moves down when the program takes that number (bash's exec 19<).
check "descriptor limit of 20: the box starts, and its descriptor moves when the program takes its number" "fd=19|2|1" \
  "$(bash -c "ulimit -n 20; $(printf %q "$ipcbox") run -- bash -c 'echo fd=\$IPCBOX_FD; exec 19</dev/null; ipcmk -M 4096 >/dev/null && ipcmk -Q >/dev/null && ipcs -m -q | grep -c ^0x; ls -l /proc/\$\$/fd | grep -c memfd'" 2>&1 | paste -sd'|')"
check "unknown option is refused" 2 "$(status "$ipcbox" run --bogus -- true)"
check "unknown option: one line" 1 "$("$ipcbox" run --bogus -- true 2>&1 | wc -l)"
check "unknown subcommand: 2, one line" "2 1" "$(status "$ipcbox" frobnicate) $("$ipcbox" frobnicate 2>&1 | wc -l)"
for sub in ls ipcs rm; do
  check "$sub --help succeeds" 0 "$(status "$ipcbox" $sub --help)"
done
check "--help succeeds" 0 "$(status "$ipcbox" --help)"
check "run --help succeeds" 0 "$(status "$ipcbox" run --help)"
check "works from another directory" 0 "$(cd / && status "$ipcbox" run -- true)"
check "--limit sets a limit the box enforces" "1 ENOSPC" \
  "$("$ipcbox" run --limit msgmni=1 -- sh -c 'cat /proc/sys/kernel/msgmni; ipcmk -Q >/dev/null; ipcmk -Q 2>&1 | grep -q "No space left" && echo ENOSPC' | xargs)"
check "--limit sem takes four values, semopm one" "1 2 3 4 / 32000 1024000000 7 32000" \
  "$("$ipcbox" run --limit sem=1,2,3,4 -- cat /proc/sys/kernel/sem | xargs) / $("$ipcbox" run --limit semopm=7 -- cat /proc/sys/kernel/sem | xargs)"
check "the defaults are Linux's" "$(unshare --ipc cat /proc/sys/kernel/{shmmax,shmall,shmmni,sem,msgmax,msgmnb,msgmni} | xargs)" \
  "$("$ipcbox" run -- cat /proc/sys/kernel/{shmmax,shmall,shmmni,sem,msgmax,msgmnb,msgmni} | xargs)"
# --strict: a raw SysV system call fails with ENOSYS (it reaches the kernel
# without it: shown in a fresh namespace), while libc's calls and syscall()
# are answered by the box.
cc -O1 -Wall -Werror -o "$work/rawsys" "$root/ctests/tool_rawsys.c"
check "a raw msgget reaches the kernel (fresh namespace)" created "$(unshare --ipc "$work/rawsys")"
check "--strict: a raw msgget is answered by the box" created "$("$ipcbox" run --strict -- "$work/rawsys")"
cc -O1 -Wall -Werror -static -o "$work/rawsys_static" "$root/ctests/tool_rawsys.c"
check "--strict: a raw msgget of a static binary fails with ENOSYS" ENOSYS "$("$ipcbox" run --strict -- "$work/rawsys_static")"
check "--strict: one started by a boxed process dies by SIGSYS (README, Known deviations)" 159 \
  "$("$ipcbox" run --strict -- sh -c '"$0"; echo $?' "$work/rawsys_static" 2>/dev/null)"
# A setuid-root program run by an unprivileged user under --strict: no
# privilege (no_new_privs), so the loader honours LD_PRELOAD and the
# program is boxed. Copies in a directory that user can reach.
suid_dir=$(mktemp -d)
chmod 755 "$suid_dir"
cp "$ipcbox" "$lib" "$suid_dir/"
cc -O1 -Wall -Werror -o "$suid_dir/suid" "$root/ctests/tool_suid.c"
chmod 4755 "$suid_dir/suid"
check "--strict: a setuid program run by another user has no privilege and is boxed" \
  "euid 65534 secure 0 shim 1 msgget 0" \
  "$(cd / && setpriv --reuid=nobody --regid=nogroup --clear-groups "$suid_dir/ipcbox" run --strict -- "$suid_dir/suid" 2>&1)"
rm -rf "$suid_dir"
# Raw SysV system calls of every kind, blocking, interrupted, timed out,
# beside a SIGSYS handler of the program's own: the box answers each as
# the kernel does.
cc -O1 -Wall -Werror -o "$work/rawipc" "$root/ctests/tool_rawipc.c"
check "--strict: raw system calls answered by the box, as the kernel answers them" \
  "$(unshare --ipc "$work/rawipc")" "$(timeout -k 5 60 "$ipcbox" run --strict -- "$work/rawipc")"
check "--strict: one trap filter per box lineage, however deep the execs" "2 2" \
  "$("$ipcbox" run --strict -- sh -c 'grep Seccomp_filters /proc/self/status; sh -c "sh -c \"grep Seccomp_filters /proc/self/status\""' | awk '{ print $2 }' | xargs)"
# A process that saw another end (any of libc's wait calls, or the end of
# a pipe the other held after its exit, _exit or _Exit) finds its SEM_UNDO
# applied and its attachment dropped, as on Linux, even with the supervisor
# stopped: the wait wrappers and the exiting process tell the box.
cc -O1 -Wall -Werror -o "$work/ended" "$root/ctests/tool_ended.c"
check "after a wait call or a normal exit seen through a pipe: undo applied, attachment dropped (supervisor stopped)" \
  "$(unshare --ipc "$work/ended")" "$(timeout -k 5 60 "$ipcbox" run -- "$work/ended" --stop-supervisor)"
msgget_nr=$(printf '#include <sys/syscall.h>\nSYS_msgget\n' | cc -E -P - | tail -n 1)
check "--strict: the box still answers libc and syscall() (ids 0 and 1)" "1 1" \
  "$(NR=$msgget_nr "$ipcbox" run --strict -- sh -c 'ipcmk -Q >/dev/null; ipcs -q | grep -c 0x
    python3 -c "import ctypes, os; print(ctypes.CDLL(None).syscall(int(os.environ[\"NR\"]), 0, 0o1600))"' | xargs)"
# libc's own SysV functions lead into the box however they are reached: a
# handle on libc.so.6 (Python's ctypes), and (ctests/deepbind.c) libraries
# loaded with RTLD_DEEPBIND. A library in a new link map (dlmopen) is said
# once on stderr not to be boxed.
check "--strict: msgget through a handle on libc.so.6 is answered by the box" 0 \
  "$("$ipcbox" run --strict -- python3 -c "import ctypes; print(ctypes.CDLL('libc.so.6').msgget(0, 0o1600))")"
cc -O1 -Wall -Werror -o "$work/dlmopen" "$root/ctests/tool_dlmopen.c"
check "dlmopen into a new link map: loads, and one line on stderr says it is not boxed" \
  "dlmopen-loaded dlmopen-loaded dlopen-loaded|1|1" \
  "$("$ipcbox" run -- "$work/dlmopen" libm.so.6 2>"$work/dlmopen.err")|$(wc -l <"$work/dlmopen.err")|$(grep -c "^ipcbox: dlmopen loads libm.so.6 into a new link map" "$work/dlmopen.err")"
check "--strict: calls of a libc in a new link map are answered by the box, with that libc's errno, and no notice" \
  "msgget 0|msgctl of a bad id -1 errno 22|msgctl IPC_RMID 0|0" \
  "$("$ipcbox" run --strict -- "$work/dlmopen" --call 2>"$work/dlmopen.err" | paste -sd'|')|$(wc -l <"$work/dlmopen.err")"
check "dlmopen outside a box: no word from ipcbox" "0" "$(LD_PRELOAD=$lib "$work/dlmopen" libm.so.6 2>&1 >/dev/null | wc -l)"
# --trace: one line per call answered by the box, from every process.
"$ipcbox" run --trace "$work/trace" -- sh -c 'ipcmk -Q >/dev/null; ipcrm -q 0; ipcrm -q 12345 2>/dev/null
  python3 -c "import ctypes; b = ctypes.create_string_buffer(b\"\\x05\" + bytes(7) + b\"hi\"); l = ctypes.CDLL(None); q = l.msgget(0, 0o1600); l.msgsnd(q, b, 2, 0); l.msgrcv(q, b, 64, 0, 0o4000)"' >/dev/null 2>&1
trace_has() { grep -cE "^[0-9]+ $1\$" "$work/trace"; }
check "--trace: msgget with its flags" 1 "$(trace_has 'msgget\(0x[0-9a-f]+, IPC_CREAT\|0644\) = 0')"
check "--trace: msgctl by command name" 1 "$(trace_has 'msgctl\(0, IPC_RMID, NULL\) = 0')"
check "--trace: an error by name and description" 1 "$(trace_has 'msgctl\(12345, IPC_RMID, NULL\) = -1 EINVAL \(Invalid argument\)')"
check "--trace: messages decoded" "1 1" \
  "$(trace_has 'msgsnd\([0-9]+, \{mtype=5, mtext="hi"\}, 2, 0\) = 0') $(trace_has 'msgrcv\([0-9]+, \{mtype=5, mtext="hi"\}, 64, 0, IPC_NOWAIT\) = 2')"
check "--trace: lines from each process of the box" 4 "$(cut -d' ' -f1 "$work/trace" | sort -u | wc -l)"
# The trace file is written through a descriptor the box inherits: a
# process that drops root (setpriv, os.setuid), one whose environment is
# scrubbed (env -i) and one that closes every descriptor still trace.
"$ipcbox" run --trace "$work/trace_users" -- sh -c 'ipcmk -Q >/dev/null
  setpriv --reuid=nobody --regid=nogroup --clear-groups sh -c "ipcmk -Q >/dev/null; env -i $(command -v ipcmk) -S 1 >/dev/null"
  python3 -c "
import ctypes, os
os.closerange(3, 4096)
libc = ctypes.CDLL(None)
os.setgid(65534); os.setuid(65534)
libc.msgget(0, 0o1600)"' >/dev/null 2>&1
check "--trace: a line from each process, also after a change of user, a scrubbed environment, closed descriptors" \
  "msgget msgget semget msgget|4 processes" \
  "$(awk '{ sub(/\(.*/, "", $2); print $2 }' "$work/trace_users" | paste -sd' ')|$(cut -d' ' -f1 "$work/trace_users" | sort -u | wc -l) processes"
check "--trace to a file that cannot be made: 125, one line" "125 1" \
  "$(status "$ipcbox" run --trace /nonexistent/dir/x -- true) $("$ipcbox" run --trace /nonexistent/dir/x -- true 2>&1 | wc -l)"
for bad in bogus=1 msgmni=99999 semmni=40000 msgmax=-1 shmmax=lots msgmni; do
  check "--limit $bad is refused (125, one line)" "125 1" \
    "$(status "$ipcbox" run --limit "$bad" -- true) $("$ipcbox" run --limit "$bad" -- true 2>&1 | wc -l)"
done
check "LD_PRELOAD: ours first, existing kept" "$lib:/x/other.so" \
  "$(LD_PRELOAD=/x/other.so "$ipcbox" run -- sh -c 'echo "$LD_PRELOAD"' 2>/dev/null)"
check "the command's signal mask is the caller's" "$(grep SigBlk /proc/self/status)" \
  "$("$ipcbox" run -- grep SigBlk /proc/self/status)"
# The signal often arrives before the supervisor knows the child's pid: run
# it 20 times at once so that a lost signal is caught, not just possible.
# The command's sleep is what the forwarded signal must end (status 143);
# if the signal is lost it ends by itself after 5 s (status 0): the bound.
forwarded() {
  local i
  for i in $(seq 20); do status "$ipcbox" run -- sh -c 'kill -TERM $PPID; sleep 5' & done | sort | uniq -c | xargs
}
check "signals to the supervisor reach the command" "20 143" "$(forwarded)"

# The examples of the README build and run in a box, two boxes at once as the
# README shows (isolation itself is proved by scripts/isolation.sh).
for example in "$root"/examples/*.c; do
  name=$(basename "$example" .c)
  if ! cc -O1 -Wall -Werror -o "$work/$name" "$example" 2>"$work/$name.err"; then
    check "example $name builds" "" "$(cat "$work/$name.err")"
    continue
  fi
  "$ipcbox" run -- "$work/$name" >"$work/$name.1" 2>&1 & first=$!
  "$ipcbox" run -- "$work/$name" >"$work/$name.2" 2>&1; second=$?
  wait $first; first=$?
  check "example $name runs in a box (two at once)" "0 0" "$first $second"
  check "example $name says hello" "2" "$(cat "$work/$name.1" "$work/$name.2" | grep -c 'hello')"
done

# The shim refuses what is not a region of its own layout, in one line, exit 127.
refusal() { # name fd-setup-python expected-substring
  local out code
  out=$(python3 - "$lib" "$2" <<'PY' 2>&1
import os, sys, subprocess
lib, setup = sys.argv[1], sys.argv[2]
fd = os.memfd_create("probe", 0)
if setup == "version":
    os.write(fd, b"IPCBOX\0R" + (999).to_bytes(4, "little") + bytes(4096))
elif setup == "magic":
    os.write(fd, b"NOTABOX!" + bytes(4096))
elif setup == "truncated":
    os.write(fd, b"IPCBOX\0R")
elif setup == "closed":
    os.close(fd); fd = 1000
env = dict(os.environ, LD_PRELOAD=lib, IPCBOX_FD=str(fd), IPCBOX_ID="1")
r = subprocess.run(["true"], env=env, pass_fds=() if setup == "closed" else (fd,), stderr=subprocess.PIPE, text=True)
sys.stdout.write(f"{r.returncode}|{r.stderr.count(chr(10))}|{r.stderr.strip()}")
PY
)
  check "refuses $1: exit 127, one line" "127|1" "$(echo "$out" | cut -d'|' -f1,2)"
  case "$out" in *"$3"*) pass=$((pass + 1)); echo "PASS refuses $1: says '$3'";;
    *) fail=$((fail + 1)); echo "FAIL refuses $1: message was: $out";; esac
}
refusal "another layout version" version "layout version 999"
refusal "a foreign file" magic "not an ipcbox region"
refusal "a truncated region" truncated "truncated"
refusal "a closed descriptor" closed "not usable"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
