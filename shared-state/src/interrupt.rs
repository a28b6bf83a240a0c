//! Knowing that a signal handler of the program ran on this thread, so that
//! a blocked semop, msgsnd or msgrcv fails with EINTR whenever one runs
//! while it waits, as Linux's do, including in the microseconds a waiter
//! spins before it sleeps (see `wait`), where the kernel never sees it.
//!
//! Owns: the per-thread count of handlers that returned (`runs`), the
//! restorer that counts them, and the futex wait that will not start once
//! one has run (`futex_wait_unless`).
//!
//! How: a handler returns through its action's `sa_restorer`, the code
//! that makes the rt_sigreturn call (glibc's `__restore_rt`). The shim's
//! `sigaction` and `signal` wrappers re-install each handler the program
//! installs with our restorer instead (`adopt`): it adds one to this
//! thread's count, then returns as glibc's does. A waiter reads the count
//! before it queues and looks again while it spins and before it sleeps.
//! The gap between that last look and the futex system call is closed in
//! the restorer, which has the interrupted registers: a thread interrupted
//! there resumes at the stub's EINTR exit instead (as the kernel's own
//! restart logic moves a thread interrupted in a system call). A handler
//! that does not return (siglongjmp) leaves the call, as on Linux.
//!
//! Limits: handlers installed with a raw rt_sigaction system call (some
//! language runtimes) return through their own restorer and are not
//! counted: a signal that reaches a waiter while it spins is then seen
//! only by the sleep that follows. Only x86_64 has the restorer; elsewhere
//! the count stays 0 and waits behave as before.

use core::cell::Cell;

thread_local! {
    /// Handlers that returned on this thread (through our restorer). A
    /// const initialiser and no destructor: read and written from signal
    /// handlers without lazy initialisation.
    static RUNS: Cell<u64> = const { Cell::new(0) };
}

/// How many program signal handlers have returned on this thread.
#[inline]
pub fn runs() -> u64 {
    RUNS.with(Cell::get)
}

#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".pushsection .text.ipcbox_interrupt,\"ax\",@progbits",
    ".p2align 4",
    // The restorer: at entry the stack pointer is at the signal frame's
    // ucontext (the handler's `ret` popped the return address).
    ".globl ipcbox_restore_counted",
    ".hidden ipcbox_restore_counted",
    "ipcbox_restore_counted:",
    "    mov rdi, rsp",
    "    mov rbx, rsp", // every register comes back from the frame anyway
    "    and rsp, -16",
    "    call {returned}",
    "    mov rsp, rbx",
    "    mov eax, 15", // rt_sigreturn
    "    syscall",
    // long ipcbox_futex_wait_unless(word, expected, timeout, runs, seen)
    // (rdi, esi, rdx, rcx, r8): FUTEX_WAIT unless *runs != seen.
    ".p2align 4",
    ".globl ipcbox_futex_wait_unless",
    ".hidden ipcbox_futex_wait_unless",
    "ipcbox_futex_wait_unless:",
    "    mov r10, rdx",
    "    mov edx, esi",
    "    xor esi, esi", // FUTEX_WAIT: shared, across processes
    ".globl ipcbox_futex_wait_check",
    ".hidden ipcbox_futex_wait_check",
    "ipcbox_futex_wait_check:",
    "    cmp [rcx], r8",
    "    jne ipcbox_futex_wait_eintr",
    "    mov eax, 202", // futex
    ".globl ipcbox_futex_wait_syscall",
    ".hidden ipcbox_futex_wait_syscall",
    "ipcbox_futex_wait_syscall:",
    "    syscall",
    "    ret",
    ".globl ipcbox_futex_wait_eintr",
    ".hidden ipcbox_futex_wait_eintr",
    "ipcbox_futex_wait_eintr:",
    "    mov rax, -4",
    "    ret",
    ".popsection",
    returned = sym handler_returned,
);

#[cfg(target_arch = "x86_64")]
extern "C" {
    static ipcbox_restore_counted: u8;
    static ipcbox_futex_wait_check: u8;
    static ipcbox_futex_wait_syscall: u8;
    static ipcbox_futex_wait_eintr: u8;
    fn ipcbox_futex_wait_unless(word: *const u32, expected: u32, timeout: usize, runs: *const u64, seen: u64) -> isize;
}

/// Called by the restorer with the interrupted thread's context.
#[cfg(target_arch = "x86_64")]
extern "C" fn handler_returned(context: *mut libc::ucontext_t) {
    RUNS.with(|runs| runs.set(runs.get() + 1));
    // SAFETY: the kernel's signal frame, this thread's, ours to change
    // before rt_sigreturn reads it back.
    let rip = unsafe { &mut (*context).uc_mcontext.gregs[libc::REG_RIP as usize] };
    let (check, syscall) =
        (core::ptr::addr_of!(ipcbox_futex_wait_check) as i64, core::ptr::addr_of!(ipcbox_futex_wait_syscall) as i64);
    // Between the look at the count and the system call, or at the system
    // call itself (not yet made, or to be restarted): leave with EINTR.
    if (check..=syscall).contains(rip) {
        *rip = core::ptr::addr_of!(ipcbox_futex_wait_eintr) as i64;
    }
}

/// FUTEX_WAIT on `word` while it holds `expected`, for at most
/// `timeout_ns`, unless a handler has run on this thread since the count
/// was `seen` (then, or if one runs before the sleep begins, EINTR).
pub fn futex_wait_unless(
    word: &core::sync::atomic::AtomicU32,
    expected: u32,
    timeout_ns: u64,
    seen: u64,
) -> crate::sys::SysResult<()> {
    #[cfg(target_arch = "x86_64")]
    {
        let ts = libc::timespec {
            tv_sec: (timeout_ns / 1_000_000_000) as i64,
            tv_nsec: (timeout_ns % 1_000_000_000) as i64,
        };
        let runs = RUNS.with(|runs| runs.as_ptr() as *const u64);
        // SAFETY: word is a live atomic, ts and runs are valid for the call.
        let rc = unsafe {
            ipcbox_futex_wait_unless(word.as_ptr(), expected, &ts as *const libc::timespec as usize, runs, seen)
        };
        if rc < 0 {
            return Err(-rc as i32);
        }
        Ok(())
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = seen;
        crate::sys::futex_wait(word, expected, Some(timeout_ns))
    }
}

/// Makes the handler now installed for `sig`, if it is a function, return
/// through our restorer (see the module notes). The shim calls it after
/// each change of a disposition through libc.
pub fn adopt(sig: i32) {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::sys::{rt_sigaction, KernelSigaction};
        const SA_RESTORER: u64 = 0x0400_0000;
        let mut now = KernelSigaction { handler: libc::SIG_DFL, flags: 0, restorer: 0, mask: 0 };
        if !rt_sigaction(sig, None, Some(&mut now)) || now.handler == libc::SIG_DFL || now.handler == libc::SIG_IGN {
            return;
        }
        let ours = core::ptr::addr_of!(ipcbox_restore_counted) as usize;
        if now.restorer == ours {
            return;
        }
        let adopted = KernelSigaction { flags: now.flags | SA_RESTORER, restorer: ours, ..now };
        rt_sigaction(sig, Some(&adopted), None);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = sig;
}
