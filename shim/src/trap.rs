//! `ipcbox run --strict`: System V system calls that bypass libc (a system
//! call instruction of the program's own, a language runtime's raw calls)
//! answered by the box in every process that has the shim.
//!
//! Owns: this process's SIGSYS handler, the shim's seccomp filter (see
//! `shared_state::seccomp`), and the program's view of its own SIGSYS
//! disposition.
//!
//! At load, in a box run with --strict (IPCBOX_STRICT=1, which the exec
//! wrappers keep), the shim installs its SIGSYS handler, then adds its
//! filter, which makes the native SysV system calls trap, unless the
//! process already has it (a forked child inherits it, and so does an
//! image executed by a process that had it: a probe call tells). The
//! handler reads the system call's number from the signal's information
//! and its six arguments from the registers of the interrupted context,
//! answers it through the dispatch every call takes
//! (`shared_state::dispatch`, traced alike), puts the result (or -errno)
//! in the return register and returns: the program goes on after its system
//! call instruction as if the kernel had answered. A call that blocks, blocks in the handler, which
//! runs with SA_NODEFER and no signal blocked, so that a signal handler of
//! the program interrupts it with EINTR as it would the libc path, and a
//! raw SysV call inside that handler traps again.
//!
//! The dispatch is a function of the number and six words; a supervisor
//! answering seccomp user notifications could call it too, given a way to
//! reach the caller's memory (shmat, which maps memory in the caller,
//! would stay the caller's to do).
//!
//! The program's SIGSYS: `sigaction` and `signal` on SIGSYS are recorded
//! here and reported back as the program set them, while the kernel keeps
//! ours; a SIGSYS that is not one of our traps (kill, a filter of the
//! program's own) goes to the program's handler, or ends the process as
//! the default action would. SIGSYS is also kept out of the masks the
//! program sets through libc: a trap while it is blocked would make the
//! kernel reset the disposition to the default and end the process.
//!
//! Limits: a static binary executed by a process of the box inherits the
//! trap filter without having the shim, so its SysV system calls end it by
//! SIGSYS instead of failing with ENOSYS (seccomp filters cannot be
//! removed, and cannot tell which image runs); one started directly by
//! `ipcbox run --strict` has only the launcher's filter, and gets ENOSYS.
//! Only x86_64 is trapped; elsewhere raw calls fail with ENOSYS as before.

#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

use shared_state::seccomp;
use shared_state::sys::{self, KernelSigaction};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::Mutex;

/// si_code of a SIGSYS raised by seccomp.
const SYS_SECCOMP: i32 = 1;
/// A probe that only our handler answers with PROBE_ANSWER: msgctl with an
/// id and command no program uses and a pointer no program passes.
const PROBE_ID: usize = 0x7b0c_1b0c;
const PROBE_CMD: usize = 0x1b0c;
const PROBE_BUF: usize = 0x1b0c_1b0c_1b0c_0000;
const PROBE_ANSWER: isize = 0x1b0c;

/// Whether this process answers trapped calls (its handler is installed).
static ARMED: AtomicBool = AtomicBool::new(false);
/// Whether the box runs with --strict (IPCBOX_STRICT=1 at load).
static STRICT: AtomicBool = AtomicBool::new(false);

/// Whether the box runs with --strict: the exec wrappers hand it on.
pub(crate) fn strict() -> bool {
    STRICT.load(Relaxed)
}

/// The SIGSYS disposition the program set, as (handler, flags, mask),
/// behind a sequence count that is odd while a writer changes it: the
/// handler reads it without a lock. Writers hold `PROGRAM_WRITER`.
static PROGRAM_SEQ: AtomicU64 = AtomicU64::new(0);
static PROGRAM_HANDLER: AtomicUsize = AtomicUsize::new(libc::SIG_DFL);
static PROGRAM_FLAGS: AtomicU64 = AtomicU64::new(0);
static PROGRAM_MASK: AtomicU64 = AtomicU64::new(0);
static PROGRAM_WRITER: Mutex<()> = Mutex::new(());

/// The program's SIGSYS action.
#[derive(Clone, Copy)]
pub(crate) struct ProgramAction {
    pub handler: usize,
    pub flags: u64,
    pub mask: u64,
}

fn program_action() -> ProgramAction {
    loop {
        let before = PROGRAM_SEQ.load(Acquire);
        let action = ProgramAction {
            handler: PROGRAM_HANDLER.load(Relaxed),
            flags: PROGRAM_FLAGS.load(Relaxed),
            mask: PROGRAM_MASK.load(Relaxed),
        };
        if before.is_multiple_of(2) && PROGRAM_SEQ.load(Acquire) == before {
            return action;
        }
        core::hint::spin_loop();
    }
}

/// Stores the program's action. The caller holds `PROGRAM_WRITER`.
fn write_program_action(_writer: &std::sync::MutexGuard<'_, ()>, action: ProgramAction) {
    PROGRAM_SEQ.fetch_add(1, AcqRel);
    PROGRAM_HANDLER.store(action.handler, Relaxed);
    PROGRAM_FLAGS.store(action.flags, Relaxed);
    PROGRAM_MASK.store(action.mask, Relaxed);
    PROGRAM_SEQ.fetch_add(1, Release);
}

fn lock_writer() -> std::sync::MutexGuard<'static, ()> {
    PROGRAM_WRITER.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether SIGSYS is the shim's here (its disposition then virtual).
pub(crate) fn armed() -> bool {
    ARMED.load(Relaxed)
}

/// Swaps the program's SIGSYS action for `new` (if any); the previous one.
pub(crate) fn swap_program_action(new: Option<ProgramAction>) -> ProgramAction {
    let writer = lock_writer();
    let old = program_action();
    if let Some(new) = new {
        write_program_action(&writer, new);
    }
    old
}

/// Arms this process at load, in a box run with --strict (see the module
/// notes).
pub(crate) fn arm_at_load() {
    STRICT.store(true, Relaxed);
    #[cfg(target_arch = "x86_64")]
    arm();
}

#[cfg(target_arch = "x86_64")]
fn arm() {
    let ours = sys::handler_action(on_sigsys as *const () as usize, (libc::SA_NODEFER | libc::SA_ONSTACK) as u64);
    let mut previous = KernelSigaction { handler: libc::SIG_DFL, flags: 0, restorer: 0, mask: 0 };
    if !sys::rt_sigaction(libc::SIGSYS, Some(&ours), Some(&mut previous)) {
        return;
    }
    // An ignored SIGSYS survives exec: the program's view keeps it.
    write_program_action(
        &lock_writer(),
        ProgramAction { handler: previous.handler, flags: previous.flags, mask: previous.mask },
    );
    ARMED.store(true, Release);
    // SAFETY: msgctl with an invalid id: the kernel (were it reached) refuses it.
    let probe = unsafe { sys::syscall6(libc::SYS_msgctl, [PROBE_ID, PROBE_CMD, PROBE_BUF, 0, 0, 0]) };
    if probe == PROBE_ANSWER {
        return;
    }
    if let Err(e) = seccomp::install(&seccomp::trap_filter()) {
        let line = format!(
            "ipcbox: --strict: cannot trap System V system calls made past libc ({}): they fail with ENOSYS\n",
            std::io::Error::from_raw_os_error(e)
        );
        // SAFETY: writing our own buffer to stderr.
        unsafe { sys::syscall6(libc::SYS_write, [2, line.as_ptr() as usize, line.len(), 0, 0, 0]) };
    }
}

/// The system call number and the sender's identification of a SIGSYS:
/// `struct siginfo`'s SIGSYS fields (si_errno at 4, si_code at 8, si_syscall
/// at 24), read by offset as the libc crate does not name them.
///
/// # Safety
/// `info` is the siginfo the kernel passed to an SA_SIGINFO handler.
unsafe fn sigsys_fields(info: *const libc::siginfo_t) -> (i32, i32, i32) {
    let base = info as *const u8;
    // SAFETY: the fields lie within the 128-byte siginfo (caller's contract).
    unsafe {
        (
            core::ptr::read_unaligned(base.add(4) as *const i32),
            core::ptr::read_unaligned(base.add(8) as *const i32),
            core::ptr::read_unaligned(base.add(24) as *const i32),
        )
    }
}

#[cfg(target_arch = "x86_64")]
extern "C" fn on_sigsys(sig: i32, info: *mut libc::siginfo_t, context: *mut core::ffi::c_void) {
    // SAFETY: the kernel passes a valid siginfo and ucontext to an SA_SIGINFO handler.
    let (data, code, number) = unsafe { sigsys_fields(info) };
    if code != SYS_SECCOMP || data != seccomp::TRAP_DATA as i32 {
        return chain(sig, info, context);
    }
    // SAFETY: as above; the context is this thread's, ours to change.
    let registers = unsafe { &mut (*(context as *mut libc::ucontext_t)).uc_mcontext.gregs };
    let word = |r: i32| registers[r as usize] as usize;
    let args = [
        word(libc::REG_RDI),
        word(libc::REG_RSI),
        word(libc::REG_RDX),
        word(libc::REG_R10),
        word(libc::REG_R8),
        word(libc::REG_R9),
    ];
    let result = if number as libc::c_long == libc::SYS_msgctl && args[..3] == [PROBE_ID, PROBE_CMD, PROBE_BUF] {
        PROBE_ANSWER
    } else {
        answer(number as libc::c_long, args)
    };
    registers[libc::REG_RAX as usize] = result as i64;
}

/// The result a system call would return: the value, or -errno (the
/// dispatch leaves errno alone).
fn answer(number: libc::c_long, args: [usize; 6]) -> isize {
    match crate::namespace().and_then(|ns| shared_state::dispatch::call(ns, number, args)) {
        Some(Ok(value)) => value as isize,
        Some(Err(e)) => -(e as isize),
        None => -(libc::ENOSYS as isize),
    }
}

/// A SIGSYS that is not our trap: the program's handler, or its default.
fn chain(sig: i32, info: *mut libc::siginfo_t, context: *mut core::ffi::c_void) {
    let action = program_action();
    // SAFETY: info is the kernel's (see on_sigsys).
    let (_, code, _) = unsafe { sigsys_fields(info) };
    match action.handler {
        libc::SIG_IGN if code != SYS_SECCOMP => {}
        libc::SIG_DFL | libc::SIG_IGN => {
            // What the kernel does: the default action, which ends the process.
            let default = KernelSigaction { handler: libc::SIG_DFL, flags: 0, restorer: 0, mask: 0 };
            sys::rt_sigaction(libc::SIGSYS, Some(&default), None);
            // SAFETY: signalling this very thread.
            unsafe {
                sys::syscall6(libc::SYS_tgkill, [sys::getpid() as usize, sys::gettid() as usize, sig as usize, 0, 0, 0])
            };
        }
        handler => {
            if action.flags & libc::SA_RESETHAND as u64 != 0 {
                // In a signal handler: never wait for the lock, which the
                // interrupted thread may hold (a sigaction in progress wins).
                if let Ok(writer) = PROGRAM_WRITER.try_lock() {
                    write_program_action(&writer, ProgramAction { handler: libc::SIG_DFL, flags: 0, mask: 0 });
                }
            }
            let mut previous = 0u64;
            // SAFETY: 8-byte masks, ours.
            unsafe {
                sys::syscall6(
                    libc::SYS_rt_sigprocmask,
                    [
                        libc::SIG_BLOCK as usize,
                        &action.mask as *const u64 as usize,
                        &mut previous as *mut u64 as usize,
                        8,
                        0,
                        0,
                    ],
                )
            };
            if action.flags & libc::SA_SIGINFO as u64 != 0 {
                // SAFETY: the program installed this SA_SIGINFO handler.
                let f: extern "C" fn(i32, *mut libc::siginfo_t, *mut core::ffi::c_void) =
                    unsafe { core::mem::transmute(handler) };
                f(sig, info, context);
            } else {
                // SAFETY: the program installed this plain handler.
                let f: extern "C" fn(i32) = unsafe { core::mem::transmute(handler) };
                f(sig);
            }
            // SAFETY: restoring our own saved mask.
            unsafe {
                sys::syscall6(
                    libc::SYS_rt_sigprocmask,
                    [libc::SIG_SETMASK as usize, &previous as *const u64 as usize, 0, 8, 0, 0],
                )
            };
        }
    }
}
