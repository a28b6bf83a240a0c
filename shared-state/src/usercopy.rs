//! Copies to and from the caller's memory without a system call, with EFAULT
//! (never a crash) when the caller's pointer is bad.
//!
//! Owns: the copy routine (`ipcbox_user_copy`, a few instructions of
//! assembly), the SIGSEGV/SIGBUS handler that turns a fault inside that
//! routine into a short copy, and this process's state of that handler.
//!
//! Design (the kernel's exception tables, in user space): the routine's
//! faulting instructions are known addresses. The handler resumes a fault at
//! one of them at a fixup that returns the number of bytes not copied. Any
//! other fault is the program's own: the handler puts the default
//! disposition back and returns, so the faulting instruction runs again and
//! the program dies exactly as it would have without ipcbox (a SIGSEGV sent
//! by kill is sent again).
//!
//! The handler is installed lazily, at the first copy that needs it, and
//! only over the default disposition (an atomic swap with rt_sigaction: a
//! handler of the program's is put back and never displaced). Once the
//! program installs a SIGSEGV/SIGBUS handler of its own, or blocks either
//! signal (a blocked fault signal kills instead of reaching a handler), the
//! shim tells this module (`give_up`) and copies go through
//! process_vm_readv/writev, which the kernel checks, for the rest of the
//! process's life.
//!
//! State: `GUARD` is per process; fork inherits it together with the
//! dispositions, exec resets both.

use core::sync::atomic::{AtomicU8, Ordering::*};

const UNKNOWN: u8 = 0;
const INSTALLING: u8 = 1;
const READY: u8 = 2;
const UNAVAILABLE: u8 = 3;

static GUARD: AtomicU8 = AtomicU8::new(UNKNOWN);

const SIGNALS: [i32; 2] = [libc::SIGSEGV, libc::SIGBUS];

#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".pushsection .text.ipcbox_user_copy,\"ax\",@progbits",
    ".p2align 4",
    ".globl ipcbox_user_copy",
    ".hidden ipcbox_user_copy",
    ".type ipcbox_user_copy,@function",
    "ipcbox_user_copy:",
    "    mov rcx, rdx",
    ".globl ipcbox_user_copy_load",
    ".hidden ipcbox_user_copy_load",
    ".globl ipcbox_user_copy_store",
    ".hidden ipcbox_user_copy_store",
    "ipcbox_user_copy_load:",
    "ipcbox_user_copy_store:",
    "    rep movsb",
    "    xor eax, eax",
    "    ret",
    ".globl ipcbox_user_copy_fixup",
    ".hidden ipcbox_user_copy_fixup",
    "ipcbox_user_copy_fixup:",
    // rep movsb stops at the faulting byte with rcx bytes left.
    "    mov rax, rcx",
    "    ret",
    ".size ipcbox_user_copy, . - ipcbox_user_copy",
    // Small reads straight into a register: no bytes go through memory, so
    // no store has to be forwarded to a load (a rep movsb store cannot be).
    ".globl ipcbox_user_read32",
    ".hidden ipcbox_user_read32",
    ".globl ipcbox_user_read32_site",
    ".hidden ipcbox_user_read32_site",
    "ipcbox_user_read32:",
    "    xor edx, edx",
    "ipcbox_user_read32_site:",
    "    mov eax, dword ptr [rdi]",
    "    ret",
    ".globl ipcbox_user_read16",
    ".hidden ipcbox_user_read16",
    ".globl ipcbox_user_read16_site",
    ".hidden ipcbox_user_read16_site",
    "ipcbox_user_read16:",
    "    xor edx, edx",
    "ipcbox_user_read16_site:",
    "    movzx eax, word ptr [rdi]",
    "    ret",
    ".globl ipcbox_user_read64",
    ".hidden ipcbox_user_read64",
    ".globl ipcbox_user_read64_site",
    ".hidden ipcbox_user_read64_site",
    "ipcbox_user_read64:",
    "    xor edx, edx",
    "ipcbox_user_read64_site:",
    "    mov rax, qword ptr [rdi]",
    "    ret",
    ".globl ipcbox_user_read_fixup",
    ".hidden ipcbox_user_read_fixup",
    "ipcbox_user_read_fixup:",
    "    xor eax, eax",
    "    mov edx, 1",
    "    ret",
    ".globl ipcbox_restore_rt",
    ".hidden ipcbox_restore_rt",
    "ipcbox_restore_rt:",
    "    mov eax, 15", // rt_sigreturn
    "    syscall",
    ".popsection",
);

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    ".pushsection .text.ipcbox_user_copy,\"ax\",@progbits",
    ".p2align 4",
    ".globl ipcbox_user_copy",
    ".hidden ipcbox_user_copy",
    ".type ipcbox_user_copy,@function",
    "ipcbox_user_copy:",
    "    cbz x2, 2f",
    ".globl ipcbox_user_copy_load",
    ".hidden ipcbox_user_copy_load",
    "ipcbox_user_copy_load:",
    "    ldrb w3, [x1], #1",
    ".globl ipcbox_user_copy_store",
    ".hidden ipcbox_user_copy_store",
    "ipcbox_user_copy_store:",
    "    strb w3, [x0], #1",
    "    subs x2, x2, #1",
    "    b.ne ipcbox_user_copy_load",
    "2:  mov x0, #0",
    "    ret",
    ".globl ipcbox_user_copy_fixup",
    ".hidden ipcbox_user_copy_fixup",
    "ipcbox_user_copy_fixup:",
    // The faulting byte was not copied; x2 counts it and those after it.
    "    mov x0, x2",
    "    ret",
    ".size ipcbox_user_copy, . - ipcbox_user_copy",
    ".globl ipcbox_user_read32",
    ".hidden ipcbox_user_read32",
    ".globl ipcbox_user_read32_site",
    ".hidden ipcbox_user_read32_site",
    "ipcbox_user_read32:",
    "    mov x1, #0",
    "ipcbox_user_read32_site:",
    "    ldr w0, [x0]",
    "    ret",
    ".globl ipcbox_user_read16",
    ".hidden ipcbox_user_read16",
    ".globl ipcbox_user_read16_site",
    ".hidden ipcbox_user_read16_site",
    "ipcbox_user_read16:",
    "    mov x1, #0",
    "ipcbox_user_read16_site:",
    "    ldrh w0, [x0]",
    "    ret",
    ".globl ipcbox_user_read64",
    ".hidden ipcbox_user_read64",
    ".globl ipcbox_user_read64_site",
    ".hidden ipcbox_user_read64_site",
    "ipcbox_user_read64:",
    "    mov x1, #0",
    "ipcbox_user_read64_site:",
    "    ldr x0, [x0]",
    "    ret",
    ".globl ipcbox_user_read_fixup",
    ".hidden ipcbox_user_read_fixup",
    "ipcbox_user_read_fixup:",
    "    mov x0, #0",
    "    mov x1, #1",
    "    ret",
    ".popsection",
);

/// What a small guarded read returns (in two registers).
#[repr(C)]
struct Read {
    value: u64,
    faulted: u64,
}

extern "C" {
    /// Copies `len` bytes; returns how many were left when a fault stopped it.
    fn ipcbox_user_copy(dst: *mut u8, src: *const u8, len: usize) -> usize;
    static ipcbox_user_copy_load: u8;
    static ipcbox_user_copy_store: u8;
    static ipcbox_user_copy_fixup: u8;
    fn ipcbox_user_read32(src: *const u8) -> Read;
    fn ipcbox_user_read16(src: *const u8) -> Read;
    fn ipcbox_user_read64(src: *const u8) -> Read;
    static ipcbox_user_read32_site: u8;
    static ipcbox_user_read16_site: u8;
    static ipcbox_user_read64_site: u8;
    static ipcbox_user_read_fixup: u8;
}

use crate::sys::{rt_sigaction, KernelSigaction};

fn default_action() -> KernelSigaction {
    KernelSigaction { handler: libc::SIG_DFL, flags: 0, restorer: 0, mask: 0 }
}

fn our_action() -> KernelSigaction {
    crate::sys::handler_action(on_fault as *const () as usize, libc::SA_ONSTACK as u64)
}

/// Whether a disposition read back from the kernel is this module's handler
/// (the shim then reports the default the program had instead).
pub fn is_our_handler(handler: usize) -> bool {
    handler == on_fault as *const () as usize
}

/// From now on, copies go through the kernel: the program handles or blocks
/// SIGSEGV/SIGBUS itself. Our handler, if installed, stays until the
/// program's replaces it, and still only catches faults in the copy routine.
pub fn give_up() {
    GUARD.store(UNAVAILABLE, Relaxed);
}

/// Whether fault-guarded copies can be used, installing the handler on first use.
#[inline(always)]
fn ready() -> bool {
    match GUARD.load(Acquire) {
        READY => true,
        UNKNOWN => install(),
        _ => false,
    }
}

#[cold]
fn install() -> bool {
    if GUARD.compare_exchange(UNKNOWN, INSTALLING, Acquire, Relaxed).is_err() {
        return false;
    }
    let ours = our_action();
    let mut installed = 0;
    for sig in SIGNALS {
        let mut previous = default_action();
        if !rt_sigaction(sig, Some(&ours), Some(&mut previous)) {
            break;
        }
        if previous.handler != libc::SIG_DFL && !is_our_handler(previous.handler) {
            // The program's own handler: give it back, untouched.
            rt_sigaction(sig, Some(&previous), None);
            break;
        }
        installed += 1;
    }
    if installed == SIGNALS.len() {
        // A give_up() that came meanwhile wins.
        return GUARD.compare_exchange(INSTALLING, READY, Release, Relaxed).is_ok();
    }
    for &sig in &SIGNALS[..installed] {
        rt_sigaction(sig, Some(&default_action()), None);
    }
    GUARD.store(UNAVAILABLE, Relaxed);
    false
}

extern "C" fn on_fault(sig: i32, info: *mut libc::siginfo_t, context: *mut core::ffi::c_void) {
    // SAFETY: the kernel passes a valid siginfo and ucontext to an SA_SIGINFO handler.
    let (code, context) = unsafe { ((*info).si_code, &mut *(context as *mut libc::ucontext_t)) };
    let (load, store, fixup) = {
        (
            core::ptr::addr_of!(ipcbox_user_copy_load) as usize,
            core::ptr::addr_of!(ipcbox_user_copy_store) as usize,
            core::ptr::addr_of!(ipcbox_user_copy_fixup) as usize,
        )
    };
    let pc = program_counter(context);
    // A positive si_code is a fault raised by the CPU, not a signal sent.
    if code > 0 && (pc == load || pc == store) {
        set_program_counter(context, fixup);
        return;
    }
    let reads = [
        core::ptr::addr_of!(ipcbox_user_read32_site) as usize,
        core::ptr::addr_of!(ipcbox_user_read16_site) as usize,
        core::ptr::addr_of!(ipcbox_user_read64_site) as usize,
    ];
    if code > 0 && reads.contains(&pc) {
        set_program_counter(context, core::ptr::addr_of!(ipcbox_user_read_fixup) as usize);
        return;
    }
    // The program's own fault or signal: as if we had never been here.
    rt_sigaction(sig, Some(&default_action()), None);
    GUARD.store(UNAVAILABLE, Relaxed);
    if code <= 0 {
        // Sent by kill or tgkill: send it again; it arrives, with the default
        // action, once this handler returns and unblocks it.
        let (pid, tid) = (crate::sys::getpid(), crate::sys::gettid());
        // SAFETY: tgkill takes plain integers.
        unsafe { crate::sys::syscall6(libc::SYS_tgkill, [pid as usize, tid as usize, sig as usize, 0, 0, 0]) };
    }
}

#[cfg(target_arch = "x86_64")]
fn program_counter(context: &libc::ucontext_t) -> usize {
    context.uc_mcontext.gregs[libc::REG_RIP as usize] as usize
}
#[cfg(target_arch = "x86_64")]
fn set_program_counter(context: &mut libc::ucontext_t, pc: usize) {
    context.uc_mcontext.gregs[libc::REG_RIP as usize] = pc as i64;
}
#[cfg(target_arch = "aarch64")]
fn program_counter(context: &libc::ucontext_t) -> usize {
    context.uc_mcontext.pc as usize
}
#[cfg(target_arch = "aarch64")]
fn set_program_counter(context: &mut libc::ucontext_t, pc: usize) {
    context.uc_mcontext.pc = pc as u64;
}

/// Reads the 6-byte `struct sembuf` at the caller's `addr` into a register
/// pair, as (first four bytes, last two). None if the guard is not available
/// here; Some(None) if `addr` is not readable.
#[inline(always)]
pub fn read_sembuf(addr: usize) -> Option<Option<(u32, u16)>> {
    if !ready() {
        return None;
    }
    // One 8-byte read where the two bytes past the sembuf lie in the same
    // page (so reading them cannot fault where the sembuf would not).
    if addr % 4096 <= 4096 - 8 {
        // SAFETY: a fault ends the read at the fixup, which reports it.
        let whole = unsafe { ipcbox_user_read64(addr as *const u8) };
        let value = u64::from_le(whole.value);
        return Some((whole.faulted == 0).then_some((value as u32, (value >> 32) as u16)));
    }
    // SAFETY: as above.
    let (head, tail) = unsafe { (ipcbox_user_read32(addr as *const u8), ipcbox_user_read16((addr + 4) as *const u8)) };
    Some((head.faulted == 0 && tail.faulted == 0).then_some((head.value as u32, tail.value as u16)))
}

/// Reads the 8 bytes at the caller's `addr`, which must not cross a page
/// the caller's data does not reach. None if the guard is not available
/// here; Some(None) if `addr` is not readable.
#[inline(always)]
pub fn read_word(addr: usize) -> Option<Option<u64>> {
    if !ready() {
        return None;
    }
    // SAFETY: a fault ends the read at the fixup, which reports it.
    let whole = unsafe { ipcbox_user_read64(addr as *const u8) };
    Some((whole.faulted == 0).then_some(u64::from_le(whole.value)))
}

/// Copies `len` bytes from `from` to `to`, one of which the caller supplied.
/// Returns None if the guard is not available here (the caller then asks the
/// kernel), else whether every byte was copied.
pub(crate) fn guarded_copy(to: usize, from: usize, len: usize) -> Option<bool> {
    if !ready() {
        return None;
    }
    // SAFETY: a fault on either side ends the copy at the fixup instead of
    // killing the process; our own side is a buffer of `len` bytes.
    Some(unsafe { ipcbox_user_copy(to as *mut u8, from as *const u8, len) } == 0)
}
