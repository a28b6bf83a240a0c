//! The seccomp filters of `ipcbox run --strict`.
//!
//! Owns: the filter programs and their installation (raw system calls, so
//! that the shim may install one without calling libc).
//!
//! Two filters, one per layer:
//! - The launcher's, installed in the command's process between fork and
//!   exec and inherited by every process of the box: a SysV system call
//!   fails with ENOSYS, and so does every system call of another ABI (x32,
//!   i386 on x86_64, arm32 on aarch64), so that the compat entry points
//!   (the `ipc(2)` multiplexer among them) cannot be reached.
//! - The shim's, added at load by each process image that has the shim
//!   (see the shim's `trap`): a SysV system call of the native ABI raises
//!   SIGSYS (SECCOMP_RET_TRAP, with `TRAP_DATA` in si_errno), which the
//!   shim answers on the box. When several filters apply, the kernel takes
//!   the most severe action, and TRAP outranks ERRNO, so in such a process
//!   the call is answered; in a process without the shim (a static binary
//!   started by ipcbox) it still fails with ENOSYS.
//!
//! Setting a filter requires no_new_privs, which the launcher sets (setuid
//! programs then run without their privileges) and every descendant keeps.

/// The SysV IPC system calls of the native ABI.
pub const SYSV_NUMBERS: [libc::c_long; 12] = [
    libc::SYS_shmget,
    libc::SYS_shmat,
    libc::SYS_shmdt,
    libc::SYS_shmctl,
    libc::SYS_semget,
    libc::SYS_semop,
    libc::SYS_semtimedop,
    libc::SYS_semctl,
    libc::SYS_msgget,
    libc::SYS_msgsnd,
    libc::SYS_msgrcv,
    libc::SYS_msgctl,
];

/// si_errno of a SIGSYS raised by the shim's filter: tells its traps from
/// those of a filter of the program's own.
pub const TRAP_DATA: u32 = 0x1b0c;

#[repr(C)]
pub struct SockFilter {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const SockFilter,
}

const BPF_LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const BPF_JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const BPF_JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const BPF_RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
/// Offsets in `struct seccomp_data`.
const NR_OFFSET: u32 = 0;
const ARCH_OFFSET: u32 = 4;
#[cfg(target_arch = "x86_64")]
const NATIVE_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const NATIVE_ARCH: u32 = 0xC000_00B7;
/// x32 system calls are the x86_64 numbers with this bit.
#[cfg(target_arch = "x86_64")]
const X32_BIT: u32 = 0x4000_0000;

fn statement(code: u16, k: u32) -> SockFilter {
    SockFilter { code, jt: 0, jf: 0, k }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> SockFilter {
    SockFilter { code, jt, jf, k }
}

/// A filter that returns `sysv` for the SysV calls of the native ABI and
/// `foreign` for every call of another ABI; everything else is allowed.
fn sysv_filter(sysv: u32, foreign: u32) -> Vec<SockFilter> {
    let mut program = vec![
        statement(BPF_LD_W_ABS, ARCH_OFFSET),
        jump(BPF_JEQ_K, NATIVE_ARCH, 1, 0),
        statement(BPF_RET_K, foreign),
        statement(BPF_LD_W_ABS, NR_OFFSET),
    ];
    #[cfg(target_arch = "x86_64")]
    program.extend([jump(BPF_JGE_K, X32_BIT, 0, 1), statement(BPF_RET_K, foreign)]);
    for number in SYSV_NUMBERS {
        program.extend([jump(BPF_JEQ_K, number as u32, 0, 1), statement(BPF_RET_K, sysv)]);
    }
    program.push(statement(BPF_RET_K, libc::SECCOMP_RET_ALLOW));
    program
}

/// The launcher's filter (built before fork: installing it must not allocate).
pub fn launcher_filter() -> Vec<SockFilter> {
    let enosys = libc::SECCOMP_RET_ERRNO | (libc::ENOSYS as u32 & libc::SECCOMP_RET_DATA);
    sysv_filter(enosys, enosys)
}

/// The shim's filter: SysV calls of the native ABI trap; the launcher's
/// filter answers the rest.
pub fn trap_filter() -> Vec<SockFilter> {
    sysv_filter(libc::SECCOMP_RET_TRAP | TRAP_DATA, libc::SECCOMP_RET_ALLOW)
}

/// Installs `filter` in the calling thread (and so in what it forks and
/// executes), setting no_new_privs first. System calls only: safe between
/// fork and exec.
pub fn install(filter: &[SockFilter]) -> Result<(), i32> {
    let program = SockFprog { len: filter.len() as u16, filter: filter.as_ptr() };
    // SAFETY: prctl with integer arguments, then seccomp with a pointer to a
    // filter program that outlives the call.
    unsafe {
        crate::sys::check(crate::sys::syscall6(libc::SYS_prctl, [libc::PR_SET_NO_NEW_PRIVS as usize, 1, 0, 0, 0, 0]))?;
        crate::sys::check(crate::sys::syscall6(
            libc::SYS_seccomp,
            [libc::SECCOMP_SET_MODE_FILTER as usize, 0, &program as *const SockFprog as usize, 0, 0, 0],
        ))?;
    }
    Ok(())
}
