//! `ipcbox run --strict`: a seccomp filter under which no System V IPC
//! system call reaches the kernel.
//!
//! Owns: the filter and its installation in the command's process (between
//! fork and exec, inherited by every descendant, never removable). Without
//! it, a program that bypasses libc (a raw system call instruction, a static
//! binary, a setuid program, which ignores LD_PRELOAD) reaches the host's
//! namespace; with it, such a call fails with ENOSYS, while the box (which
//! makes no SysV system call) answers every call that goes through libc.
//!
//! The filter lets the native ABI through but for the SysV numbers; a
//! system call of another ABI (x32, i386 on x86_64, arm32 on aarch64) fails
//! with ENOSYS whatever it is, so the compat entry points (the `ipc(2)`
//! multiplexer among them) cannot be reached: programs of another ABI do
//! not run under --strict. Setting the filter requires no_new_privs, so
//! setuid programs run without their privileges.

#[repr(C)]
pub struct SockFilter {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

#[repr(C)]
pub struct SockFprog {
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

const BLOCKED: [libc::c_long; 12] = [
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

fn statement(code: u16, k: u32) -> SockFilter {
    SockFilter { code, jt: 0, jf: 0, k }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> SockFilter {
    SockFilter { code, jt, jf, k }
}

/// The filter's instructions (built before fork: installing it must not
/// allocate).
pub fn filter() -> Vec<SockFilter> {
    let deny = || statement(BPF_RET_K, libc::SECCOMP_RET_ERRNO | (libc::ENOSYS as u32 & libc::SECCOMP_RET_DATA));
    let mut program = vec![
        statement(BPF_LD_W_ABS, ARCH_OFFSET),
        jump(BPF_JEQ_K, NATIVE_ARCH, 1, 0),
        deny(),
        statement(BPF_LD_W_ABS, NR_OFFSET),
    ];
    #[cfg(target_arch = "x86_64")]
    program.extend([jump(BPF_JGE_K, X32_BIT, 0, 1), deny()]);
    for number in BLOCKED {
        program.extend([jump(BPF_JEQ_K, number as u32, 0, 1), deny()]);
    }
    program.push(statement(BPF_RET_K, libc::SECCOMP_RET_ALLOW));
    program
}

/// Installs `filter` in the calling process. Between fork and exec: system
/// calls only.
pub fn install(filter: &[SockFilter]) -> std::io::Result<()> {
    let program = SockFprog { len: filter.len() as u16, filter: filter.as_ptr() };
    // SAFETY: prctl with integer arguments, then with a pointer to a filter
    // program that outlives the call.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            || libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &program as *const SockFprog) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
