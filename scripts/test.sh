#!/usr/bin/env bash
# Runs every test of ipcbox: installs what it needs, builds, runs the Rust
# tests, the C conformance suite (kernel vs box), and the isolation checks,
# and proves the host's System V IPC namespace was not touched.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

need=()
command -v cc >/dev/null || need+=(gcc libc6-dev)
command -v unshare >/dev/null || need+=(util-linux)
command -v ipcs >/dev/null || need+=(util-linux)
command -v timeout >/dev/null || need+=(coreutils)
# install_test.sh: man pages rendered, completions loaded, the .deb's dependencies
command -v man >/dev/null || need+=(man-db)
command -v groff >/dev/null || need+=(groff-base)
command -v zsh >/dev/null || need+=(zsh)
command -v fish >/dev/null || need+=(fish)
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
command -v strace >/dev/null || need+=(strace)
command -v python3 >/dev/null || need+=(python3)
command -v stress-ng >/dev/null || need+=(stress-ng)
command -v php >/dev/null || need+=(php-cli)
# Python packages go into a virtual environment (scripts/clients.sh): venv
# and ensurepip are Debian's python3-venv.
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
command -v setpriv >/dev/null || need+=(util-linux)
command -v useradd >/dev/null || need+=(passwd)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq "${need[@]}" >/dev/null; fi
fi

# The host's IPC objects and IPC sysctls (with their names): a box must
# change none of them.
host_ipc() {
  cat /proc/sysvipc/shm /proc/sysvipc/sem /proc/sysvipc/msg 2>/dev/null || true
  for f in shmmax shmall shmmni shm_rmid_forced msgmax msgmnb msgmni auto_msgmni sem \
    shm_next_id sem_next_id msg_next_id; do
    echo "$f $(cat /proc/sys/kernel/$f 2>/dev/null)"
  done
}
host_ipc_before=$(host_ipc)

echo "== cargo build --release"
cargo build --release --workspace
echo "== cargo test"
cargo test --release --workspace
echo "== cargo test: deaths at chosen points inside critical sections"
cargo test --release -p shared-state --features fault-injection --test crash --test crash_procs
echo "== cargo test: a process stopped at each of those points holds up no call on other objects"
cargo test --release -p shared-state --features fault-injection --test stopped
echo "== C conformance suite: kernel vs ipcbox, as root and as an unprivileged user"
bash scripts/ctest.sh
echo "== C tests of all three facilities under an address-space limit of 256 MiB (ulimit -v 262144)"
CTEST_AS_LIMIT=262144 bash scripts/ctest.sh sem_op sem_undo sem_wait msg_snd msg_rcv msg_wait shm_at shm_dt shm_nattch proc_sysvipc
echo "== C tests of waits and hand-offs on one CPU (taskset -c 0: no spinning, wakes at the unlock)"
CTEST_CPUS=0 bash scripts/ctest.sh sem_order sem_race sem_stress sem_wait sem_eintr_spin msg_wait msg_stress
echo "== isolation"
bash scripts/isolation.sh
echo "== fast paths make no system call"
bash scripts/fastpath.sh
echo "== memory follows use: 10,000 of each object made and removed give the region back"
bash scripts/memory.sh
echo "== the ipcbox command, and refusal of bad regions"
bash scripts/cli.sh
echo "== install, man page, completions, .deb"
bash scripts/install_test.sh
echo "== util-linux ipcmk, ipcs and ipcrm in a box"
bash scripts/tools.sh
echo "== named boxes"
bash scripts/named.sh
echo "== as an unprivileged user"
bash scripts/unprivileged.sh
echo "== real clients: stress-ng, Python's sysv_ipc test suite, PHP"
bash scripts/clients.sh

host_ipc_after=$(host_ipc)
if [ "$host_ipc_before" != "$host_ipc_after" ]; then
  echo "FAIL: the host's IPC objects or IPC sysctls changed during the test run"
  diff <(echo "$host_ipc_before") <(echo "$host_ipc_after") || true
  exit 1
fi
echo "host IPC objects (/proc/sysvipc) and IPC sysctls unchanged by the test run"
echo "all tests passed"
