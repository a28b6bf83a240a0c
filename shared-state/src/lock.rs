//! Locks that live in the shared region.
//!
//! Owns: `RobustMutex`, the only lock type stored in shared memory, and
//! `LivenessLock`, a robust mutex a process holds for its whole life so that
//! others can tell, without a system call, that it has died or exec'd.
//!
//! Both wrap glibc's process-shared robust mutex. The kernel walks each
//! thread's robust list when the thread dies (any way, SIGKILL included) or
//! execs, and marks every mutex it held as owner-died, so a lock never stays
//! held by a dead process. Uncontended lock and unlock are a compare-and-swap
//! in user space; a contended waiter spins briefly (no plain spin lock: it
//! only retries the robust mutex), then sleeps on the futex in the region.
//!
//! Invariants: a `RobustMutex` is initialised once, by whoever first makes its
//! memory live (under the lock that guards that allocation), and never
//! destroyed; zeroed memory is not a valid robust mutex, so callers check the
//! owning structure's `initialised` flag before locking.
//! When `lock` finds the previous owner died, it marks the mutex consistent
//! and reports it through `Guard::owner_died`, so the caller may repair what
//! that owner left half-done. Any other refusal by glibc (a lock word or a
//! kind no mutex has: the region is corrupt) is an error the caller's call
//! returns (EINVAL, see `region::corrupt`), never a crash of the process.
//!
//! Besides `lock`, which waits as long as it takes, a thread that can give
//! up what it wants a lock for takes it another way, so that a holder
//! stopped inside its call (SIGSTOP, a debugger) does not hold it up:
//! `lock_briefly` spins and never sleeps (a collector's walk, a facility
//! lock's holder that must not wait for a slot lock), and
//! `lock_unless_stopped` waits unless the holder is stopped (reapers,
//! whose work waits for a later call). A holder is stopped when its
//! /proc stat says T or t; it is looked at only once the spin is over.
//!
//! On x86_64 the uncontended take and release are made here, inline, on
//! glibc's own representation (`fast`): the compare-and-swap, the thread's
//! robust list and `list_op_pending` exactly as glibc's
//! `pthread_mutex_trylock` and `__pthread_mutex_unlock_full` keep them, so
//! the kernel's walk at death and glibc's slow paths (sleeping, owner-died)
//! see one consistent list whichever side took or released a lock (what
//! is left out of glibc's bookkeeping, and why, is said on `fast`). The
//! layout is checked once per process against the running glibc; where a
//! check fails, every lock goes through glibc.

use crate::sys::SysResult;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, Ordering};

/// Pause instructions (about 15 ns each here) a contended lock spends
/// retrying before it sleeps in the kernel: about 20 µs, the same bound as
/// the spin of a blocked semop.
const LOCK_SPIN_PAUSES: u32 = 1400;
/// Longest pause between two tries.
const LOCK_MAX_PAUSE: u32 = 256;

/// How long a waiter that gives up for a stopped holder sleeps between two
/// looks at the holder (`RobustMutex::lock_unless_stopped`).
const STOP_LOOK_NS: u64 = 10_000_000;

/// Whether thread `tid` is stopped: state T (a stop signal) or t (a
/// debugger's stop) in its /proc stat. A thread that cannot be looked up
/// (gone, or of another pid namespace) is not.
pub(crate) fn thread_stopped(tid: i32) -> bool {
    let path = std::ffi::CString::new(format!("/proc/{tid}/stat")).expect("no NUL in a number");
    let mut buf = [0u8; 512];
    let Ok(n) = crate::sys::read_file(&path, &mut buf) else { return false };
    // The state follows the command name, which may hold ") ".
    let text = &buf[..n];
    let Some(close) = text.iter().rposition(|&b| b == b')') else { return false };
    matches!(text.get(close + 2), Some(b'T' | b't'))
}

/// A process-shared robust mutex placed in the region.
#[repr(C)]
pub struct RobustMutex {
    raw: UnsafeCell<libc::pthread_mutex_t>,
}

// SAFETY: the mutex is designed for concurrent use from many threads and processes.
unsafe impl Sync for RobustMutex {}

pub struct Guard<'a> {
    mutex: &'a RobustMutex,
    /// The previous holder died while holding the lock.
    pub owner_died: bool,
}

impl RobustMutex {
    /// Initialises the mutex in place.
    ///
    /// # Safety
    /// No other thread or process may use this mutex concurrently (its owner
    /// is not yet published).
    pub unsafe fn init(&self) {
        // SAFETY: attr is initialised by pthread_mutexattr_init before use and
        // destroyed after; the mutex memory is ours to initialise (see above).
        unsafe {
            let mut attr: libc::pthread_mutexattr_t = core::mem::zeroed();
            libc::pthread_mutexattr_init(&mut attr);
            libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED);
            libc::pthread_mutexattr_setrobust(&mut attr, libc::PTHREAD_MUTEX_ROBUST);
            libc::pthread_mutex_init(self.raw.get(), &attr);
            libc::pthread_mutexattr_destroy(&mut attr);
        }
    }

    /// Takes the lock, waiting for it; Err(EINVAL) if glibc refuses it.
    /// The first try is made inline, and the guard built there: a Result
    /// of a guard that a call returns goes through memory.
    #[inline(always)]
    pub fn lock(&self) -> SysResult<Guard<'_>> {
        let rc = match self.try_lock_raw() {
            libc::EBUSY => self.lock_contended(),
            rc => rc,
        };
        self.taken(rc)
    }

    /// `lock` after a first try found the lock held: 0 or EOWNERDEAD once
    /// this thread holds it, TRIMMED_RC for a lock given back (see
    /// `TRIMMED`), or glibc's refusal.
    #[inline(never)]
    fn lock_contended(&self) -> i32 {
        let mut rc = self.spin_for_lock(libc::EBUSY);
        while rc == libc::EBUSY {
            rc = self.sleep_for_lock(None);
        }
        rc
    }

    /// Sleeps until the lock can be taken, and takes it: the answer as
    /// `lock_contended`'s, or EBUSY once `timeout_ns` has passed. Inline,
    /// as glibc's robust lock does it (the waiters bit, then FUTEX_WAIT on
    /// the word), with one difference: a word marked `TRIMMED` is never
    /// slept on, since no one will let go of it. Where the inline path is
    /// off, glibc sleeps (and the box gives no table memory back, see
    /// `Header::glibc_locks`).
    #[cold]
    fn sleep_for_lock(&self, timeout_ns: Option<u64>) -> i32 {
        if !fast::active() {
            return self.sleep_in_glibc(timeout_ns);
        }
        let rc = self.sleep_inline(timeout_ns);
        if rc != 0 {
            fast::clear_pending();
        }
        rc
    }

    /// `sleep_for_lock` inline. The lock is this thread's pending one
    /// (`fast::mark_pending`) from before each sleep until it is taken
    /// (`fast::try_lock_from` ends that) or the caller gives up (and ends
    /// it): glibc's order, which the kernel relies on at a death.
    #[inline(always)]
    fn sleep_inline(&self, timeout_ns: Option<u64>) -> i32 {
        let word = self.futex_word();
        loop {
            fast::mark_pending(self.raw.get());
            let seen = word.load(Ordering::Relaxed);
            let holder = seen & FUTEX_TID_MASK;
            if holder == TRIMMED {
                return TRIMMED_RC;
            }
            if seen & FUTEX_OWNER_DIED != 0 && holder == 0 {
                // glibc takes it over (EOWNERDEAD); EBUSY if another thread
                // did first, or if its memory is no robust mutex any more
                // (a slot given back and reached by a stale lookup: the
                // word stays so until the slot is made again).
                if fast::zeroed_kind(self.raw.get()) {
                    return TRIMMED_RC;
                }
                // SAFETY: the mutex was initialised (module invariant).
                let rc = unsafe { libc::pthread_mutex_trylock(self.raw.get()) };
                if rc != libc::EBUSY {
                    return rc;
                }
                continue;
            }
            if holder == 0 {
                // Taken with the waiters bit, as glibc does after a sleep:
                // others may sleep on the word, and the unlock must wake one.
                if fast::try_lock_from(self.raw.get(), seen, FUTEX_WAITERS) {
                    return 0;
                }
                continue;
            }
            let asleep = seen | FUTEX_WAITERS;
            if seen & FUTEX_WAITERS == 0
                && word.compare_exchange(seen, asleep, Ordering::Relaxed, Ordering::Relaxed).is_err()
            {
                continue;
            }
            if crate::sys::futex_wait(word, asleep, timeout_ns) == Err(libc::ETIMEDOUT) {
                return libc::EBUSY;
            }
        }
    }

    /// `sleep_for_lock` through glibc.
    #[cold]
    fn sleep_in_glibc(&self, timeout_ns: Option<u64>) -> i32 {
        let Some(timeout_ns) = timeout_ns else {
            // SAFETY: the mutex was initialised (module invariant).
            return unsafe { libc::pthread_mutex_lock(self.raw.get()) };
        };
        let now = crate::sys::clock_now(libc::CLOCK_REALTIME);
        let nanos = now.tv_nsec + timeout_ns as i64;
        let deadline = libc::timespec { tv_sec: now.tv_sec + nanos / 1_000_000_000, tv_nsec: nanos % 1_000_000_000 };
        // SAFETY: the mutex was initialised (module invariant); the
        // deadline is a valid absolute time.
        match unsafe { libc::pthread_mutex_timedlock(self.raw.get(), &deadline) } {
            libc::ETIMEDOUT => libc::EBUSY,
            rc => rc,
        }
    }

    /// Retries to take the lock for a while, after a try that returned
    /// `rc`: EBUSY if it is still held at the end, else what the taking
    /// returned (0, EOWNERDEAD, or glibc's refusal).
    #[inline(always)]
    fn spin_for_lock(&self, mut rc: i32) -> i32 {
        // Critical sections here last well under a microsecond, and a holder
        // on another core is usually about to let go: retry for a while
        // before glibc's lock, which sleeps in the kernel at once on
        // contention (and then makes the unlocker wake it with another
        // system call). The pauses between tries double, as in Ethernet's
        // backoff: a waiter that keeps touching the lock's cache line slows
        // the holder, and one that stays away a little lets the holder do
        // several operations in a row, which is what carries a stream.
        // On one CPU the holder cannot let go while we spin.
        let (mut pause, mut paused) = (1, if crate::wait::spinning_pays() { 0 } else { LOCK_SPIN_PAUSES });
        while rc == libc::EBUSY && paused < LOCK_SPIN_PAUSES {
            for _ in 0..pause {
                core::hint::spin_loop();
            }
            paused += pause;
            pause = (pause * 2).min(LOCK_MAX_PAUSE);
            // Reading shares the cache line; only a free lock is worth taking it for.
            match self.futex_word().load(Ordering::Relaxed) & FUTEX_TID_MASK {
                0 => rc = self.try_lock_raw(),
                TRIMMED => return TRIMMED_RC,
                _ => {}
            }
        }
        rc
    }

    /// Takes the lock if it is free (or its holder died), without waiting;
    /// None if it is held, or if glibc refuses it (see `lock`).
    pub fn try_lock(&self) -> Option<Guard<'_>> {
        let rc = self.try_lock_raw();
        if rc == libc::EBUSY {
            return None;
        }
        self.taken(rc).ok()
    }

    /// Takes the lock as `lock` does, but only within its spin (about
    /// 20 µs), never sleeping: Ok(None) if the lock is still held then,
    /// Err(EINVAL) if glibc refuses it (see `lock`). For a thread that can
    /// give up what it wanted the lock for (a collection's walk, a facility
    /// lock's holder that must not wait for a slot's).
    pub fn lock_briefly(&self) -> SysResult<Option<Guard<'_>>> {
        match self.spin_for_lock(self.try_lock_raw()) {
            libc::EBUSY => Ok(None),
            rc => self.taken(rc).map(Some),
        }
    }

    /// Waits for the lock as `lock` does, unless the thread that holds it is
    /// stopped (SIGSTOP or another stop signal, a debugger's stop): Ok(None)
    /// then, at once or as soon as the holder stops, since a stopped holder
    /// lets go only once something continues it; Err(EINVAL) if glibc
    /// refuses the lock (see `lock`). For a thread that can leave what it
    /// wanted the lock for to a later call (reaping the dead on their
    /// behalf), so that a stopped process holds up only the calls that
    /// need its own object.
    pub fn lock_unless_stopped(&self) -> SysResult<Option<Guard<'_>>> {
        let mut rc = self.spin_for_lock(self.try_lock_raw());
        while rc == libc::EBUSY {
            if self.holder_stopped() {
                return Ok(None);
            }
            rc = self.sleep_for_lock(Some(STOP_LOOK_NS));
        }
        self.taken(rc).map(Some)
    }

    /// Whether a thread holds the lock now (for tests and inspection: the
    /// answer may be stale by the time it is read).
    pub fn is_locked(&self) -> bool {
        self.futex_word().load(Ordering::Acquire) & FUTEX_TID_MASK != 0
    }

    /// Whether glibc refuses the lock (see `lock`: its memory was
    /// overwritten), for a thread that waits on something its holder does
    /// rather than on the lock itself. Tries it: taken (it was free, or its
    /// holder died), it is let go at once.
    pub fn refused(&self) -> bool {
        match self.try_lock_raw() {
            libc::EBUSY => false,
            rc => self.taken(rc).is_err(),
        }
    }

    /// Whether a thread holds the lock and is stopped (see
    /// `lock_unless_stopped`). Reads the holder's /proc stat.
    pub fn holder_stopped(&self) -> bool {
        let tid = self.futex_word().load(Ordering::Acquire) & FUTEX_TID_MASK;
        tid != 0 && thread_stopped(tid as i32)
    }

    /// The guard for glibc's answer `rc` to a lock or trylock that did not
    /// find the lock busy.
    #[inline(always)]
    fn taken(&self, rc: i32) -> SysResult<Guard<'_>> {
        match rc {
            0 => Ok(Guard { mutex: self, owner_died: false }),
            TRIMMED_RC => Err(libc::EINVAL),
            libc::EOWNERDEAD => {
                // SAFETY: we hold the lock; marking it consistent keeps it usable.
                unsafe { libc::pthread_mutex_consistent(self.raw.get()) };
                Ok(Guard { mutex: self, owner_died: true })
            }
            // Nothing here ever leaves a lock not recoverable or of another
            // kind (every EOWNERDEAD is made consistent at once): its memory
            // was overwritten.
            _ => Err(crate::region::corrupt("a lock that glibc refuses")),
        }
    }

    /// Marks a free lock TRIMMED: false if a thread holds it, waits for
    /// it, or died with it (its repair is owed).
    pub(crate) fn mark_trimmed(&self) -> bool {
        self.futex_word().compare_exchange(0, TRIMMED, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    /// Whether the lock is marked TRIMMED: no thread holds it or can.
    pub(crate) fn is_trimmed(&self) -> bool {
        self.futex_word().load(Ordering::Acquire) == TRIMMED
    }

    /// Makes a lock again whose memory was given back (zeroes now), or
    /// that was marked TRIMMED: the fields glibc's initialisation writes,
    /// without ever storing over a lock word that a thread may hold. A
    /// stale lookup (one that read the table's extent before the trim) may
    /// take the zeroed word meanwhile, inline, as its robust list says;
    /// such a holder keeps its word and its links, and lets go as usual.
    ///
    /// # Safety
    /// The lock's slot is free and lies above the table's initialised
    /// part (no lookup but a stale one reaches it), under the lock that
    /// guards the table's growth; every process of the box takes locks
    /// inline (`Header::glibc_locks` is 0), so none relies on a field
    /// but the word and the links while it holds the lock.
    pub(crate) unsafe fn remake(&self) {
        let word = self.futex_word();
        let seen = word.load(Ordering::Relaxed);
        let unheld = seen == 0 || seen == TRIMMED || seen & (FUTEX_OWNER_DIED | FUTEX_TID_MASK) == FUTEX_OWNER_DIED;
        let claimed = unheld && word.compare_exchange(seen, TRIMMED, Ordering::Acquire, Ordering::Relaxed).is_ok();
        let template = RobustMutex { raw: UnsafeCell::new(unsafe { core::mem::zeroed() }) };
        // SAFETY: a mutex of our own, on the stack.
        unsafe { template.init() };
        const WORD: usize = 4;
        const LINKS: usize = 24;
        // SAFETY: both are glibc mutexes; between the word (first 4 bytes)
        // and the robust links (from byte 24, see `fast::GlibcMutex`) lie
        // the fields only glibc's own paths read, which no holder uses
        // here (see above). The links and the word are written only once
        // the word is claimed: no thread holds the lock.
        unsafe {
            let from = template.raw.get() as *const u8;
            let to = self.raw.get() as *mut u8;
            core::ptr::copy_nonoverlapping(from.add(WORD), to.add(WORD), LINKS - WORD);
            if claimed {
                let size = core::mem::size_of::<libc::pthread_mutex_t>();
                core::ptr::copy_nonoverlapping(from.add(LINKS), to.add(LINKS), size - LINKS);
            }
        }
        if claimed {
            word.store(0, Ordering::Release);
        }
    }

    /// Whether the last holder died with the lock and no one has taken it
    /// since (the kernel leaves the word marked owner-died, with no owner).
    pub fn is_abandoned(&self) -> bool {
        let word = self.futex_word().load(Ordering::Acquire);
        word & FUTEX_OWNER_DIED != 0 && word & FUTEX_TID_MASK == 0
    }

    #[inline(always)]
    fn try_lock_raw(&self) -> i32 {
        if fast::try_lock(self.raw.get()) {
            return 0;
        }
        self.try_lock_in_glibc()
    }

    /// glibc's trylock, where the inline one did not take the lock (it
    /// decides: busy, its owner died, or its memory is no mutex).
    #[inline(never)]
    fn try_lock_in_glibc(&self) -> i32 {
        if fast::active() && fast::zeroed_kind(self.raw.get()) {
            // A lock given back (see `TRIMMED`) that a stale lookup
            // reached: glibc would take the zeroes for a plain mutex, off
            // the robust list. Only the inline path takes it.
            return libc::EBUSY;
        }
        // SAFETY: the mutex was initialised (module invariant).
        unsafe { libc::pthread_mutex_trylock(self.raw.get()) }
    }

    /// The futex word: the owner's thread id plus the kernel's flag bits.
    /// glibc keeps it as the first field of `pthread_mutex_t` on every Linux ABI.
    fn futex_word(&self) -> &AtomicU32 {
        // SAFETY: the first 4 bytes of a glibc pthread_mutex_t are the futex word
        // `__data.__lock`, always accessed atomically by glibc and the kernel.
        unsafe { &*(self.raw.get() as *const AtomicU32) }
    }
}

/// The calling thread's robust list head and its length as registered with
/// the kernel (get_robust_list), if it has one.
fn registered_robust_list() -> Option<(usize, usize)> {
    let (mut head, mut len) = (0usize, 0usize);
    // SAFETY: get_robust_list writes a pointer and a length into ours.
    let rc = unsafe {
        crate::sys::syscall6(
            libc::SYS_get_robust_list,
            [0, &mut head as *mut usize as usize, &mut len as *mut usize as usize, 0, 0, 0],
        )
    };
    (rc == 0 && head != 0).then_some((head, len))
}

/// Whether the calling thread holds any robust lock (or is taking or
/// letting go of one), as its robust list says: a thread interrupted in the
/// middle of a call must not take region locks again.
pub fn thread_holds_robust_locks() -> bool {
    let Some((head, _)) = registered_robust_list() else { return true };
    // SAFETY: the kernel returned this thread's registered head (list,
    // futex_offset, list_op_pending), which glibc keeps for the thread's life.
    let (list, pending) = unsafe { (*(head as *const usize), *((head + 16) as *const usize)) };
    list != head || pending != 0
}

/// Whether this process takes and releases region locks inline rather than
/// through glibc (see the module notes): diagnostics and tests.
pub fn inline_path() -> bool {
    fast::active()
}

impl Drop for Guard<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        if fast::unlock(self.mutex.raw.get()) {
            return;
        }
        // SAFETY: this guard holds the lock.
        unsafe { libc::pthread_mutex_unlock(self.mutex.raw.get()) };
    }
}

impl Guard<'_> {
    /// Lets go of the lock and wakes a sleeper on `word` in the same system
    /// call (where the inline path is off: wakes, then lets go). Woken
    /// under the lock, a sleeper on this CPU would run at once and find the
    /// lock still held by the thread it displaced (figures in `wait`'s
    /// notes). A death before the unlock leaves the lock
    /// owner-died, and its repair must wake the sleeper (the caller records
    /// it for that: see `wait::finish_late`).
    #[cold]
    #[inline(never)]
    pub(crate) fn unlock_waking(self, word: &AtomicU32) {
        let guard = core::mem::ManuallyDrop::new(self);
        if !fast::unlock_waking(guard.mutex.raw.get(), word) {
            crate::sys::futex_wake(word, 1);
            // SAFETY: this guard holds the lock.
            unsafe { libc::pthread_mutex_unlock(guard.mutex.raw.get()) };
        }
    }
}

/// glibc's robust-mutex fast paths, inline (see the module notes).
///
/// They keep what the kernel reads (the lock word, the thread's robust list
/// and `list_op_pending`) exactly as glibc does, in glibc's order, and leave
/// out what only glibc's bookkeeping reads: `__owner`, which glibc tests only
/// for its "inconsistent" and "not recoverable" marks (set between an
/// EOWNERDEAD and the `pthread_mutex_consistent` every caller here makes at
/// once), and `__nusers`, read only by `pthread_mutex_destroy`, which no
/// region lock ever sees. Those two stores cost about 2.5 ns per semop here.
#[cfg(target_arch = "x86_64")]
mod fast {
    use core::sync::atomic::{compiler_fence, AtomicU32, AtomicUsize, Ordering::*};

    /// glibc's `struct __pthread_mutex_s` on x86_64.
    #[repr(C)]
    struct GlibcMutex {
        lock: AtomicU32,
        count: u32,
        owner: i32,
        nusers: u32,
        kind: i32,
        spins: i16,
        elision: i16,
        /// `__list`: the robust list links, each the address of a
        /// neighbour's `next` (the list head's `next` is the head itself).
        prev: usize,
        next: usize,
    }

    pub(super) const FUTEX_WAITERS: u32 = 0x8000_0000;
    /// `futex_offset` of glibc's robust list head: the lock word's distance
    /// from a list entry (the `next` field).
    const FUTEX_OFFSET: isize = -32;
    /// Where glibc keeps a list node's `prev`, from the address of its `next`.
    const PREV_FROM_NEXT: usize = 8;

    /// Offset of the thread's `robust_head` in glibc's thread descriptor
    /// (which %fs points at); 0 before the check, UNUSABLE if it failed.
    static ROBUST_HEAD: AtomicUsize = AtomicUsize::new(0);
    const UNUSABLE: usize = 1;

    pub(super) fn active() -> bool {
        robust_head().is_some()
    }

    /// The calling thread's robust list head, or None where the inline path is off.
    #[inline(always)]
    fn robust_head() -> Option<usize> {
        let offset = match ROBUST_HEAD.load(Relaxed) {
            0 => check_layout(),
            offset => offset,
        };
        (offset != UNUSABLE).then(|| thread_self() + offset)
    }

    /// glibc's descriptor of the calling thread (`header.self`).
    #[inline(always)]
    fn thread_self() -> usize {
        let this: usize;
        // SAFETY: on x86_64 glibc keeps the descriptor's own address at
        // %fs:0x10 (`tcbhead_t.self`); the load has no other effect.
        unsafe { core::arch::asm!("mov {}, fs:[0x10]", out(reg) this, options(nostack, readonly, preserves_flags)) };
        this
    }

    /// Finds where glibc keeps the robust head and the thread id, checked
    /// against what the kernel and the system say for this thread. Once per
    /// process (the offsets are glibc's, the same for every thread).
    #[cold]
    fn check_layout() -> usize {
        let (head, len) = super::registered_robust_list().unwrap_or((0, 0));
        let this = thread_self();
        let offset = head.wrapping_sub(this);
        let usable = head != 0
            && len == 24
            && this != 0
            && (64..4096).contains(&offset)
            // SAFETY: both lie inside the calling thread's descriptor, which
            // glibc keeps for the thread's life: the robust head the kernel
            // has, and the thread id 16 bytes before it (`tid`, then `robust_prev`).
            && unsafe { *((head + 8) as *const isize) } == FUTEX_OFFSET
            && unsafe { *((head - 16) as *const i32) } == crate::sys::gettid();
        let offset = if usable { offset } else { UNUSABLE };
        ROBUST_HEAD.store(offset, Relaxed);
        offset
    }

    /// Takes `mutex` if it is free, as glibc's trylock does; false if it is
    /// not (glibc then decides: busy, or its owner died) or the inline path
    /// is off.
    #[inline(always)]
    pub(super) fn try_lock(mutex: *mut libc::pthread_mutex_t) -> bool {
        try_lock_from(mutex, 0, 0)
    }

    /// Whether `mutex`'s kind reads 0: its memory was given back and reads
    /// as zeroes (see `TRIMMED`).
    pub(super) fn zeroed_kind(mutex: *mut libc::pthread_mutex_t) -> bool {
        // SAFETY: `kind` lies inside the mutex, in the region; a plain read
        // of a word glibc writes only at initialisation.
        unsafe { core::ptr::addr_of!((*(mutex as *const GlibcMutex)).kind).read_volatile() == 0 }
    }

    /// As `try_lock`, from lock word `expected` (free: no holder) to this
    /// thread's id plus `bits` (FUTEX_WAITERS after a sleep).
    #[inline(always)]
    pub(super) fn try_lock_from(mutex: *mut libc::pthread_mutex_t, expected: u32, bits: u32) -> bool {
        let Some(head) = robust_head() else { return false };
        let m = mutex as *mut GlibcMutex;
        // SAFETY: `mutex` is an initialised robust glibc mutex in the region;
        // its links are written only by the thread that holds it. `head` is
        // this thread's robust list head (checked layout), written only by
        // this thread and read by the kernel once the thread is dead: the
        // compiler fences keep the stores in the order glibc makes them.
        unsafe {
            let entry = core::ptr::addr_of_mut!((*m).next);
            let pending = (head + 16) as *mut usize;
            pending.write_volatile(entry as usize);
            compiler_fence(SeqCst);
            let tid = *((head - 16) as *const i32) as u32;
            if (*m).lock.compare_exchange(expected, tid | bits, Acquire, Relaxed).is_err() {
                pending.write_volatile(0);
                return false;
            }
            compiler_fence(SeqCst);
            let list = head as *mut usize;
            let first = list.read_volatile();
            (((first & !1) - PREV_FROM_NEXT) as *mut usize).write_volatile(entry as usize);
            entry.write_volatile(first);
            core::ptr::addr_of_mut!((*m).prev).write_volatile(head);
            compiler_fence(SeqCst);
            list.write_volatile(entry as usize);
            compiler_fence(SeqCst);
            pending.write_volatile(0);
        }
        true
    }

    /// Releases `mutex`, which this thread holds, as glibc's unlock does;
    /// false (nothing done) if the inline path is off.
    #[inline(always)]
    pub(super) fn unlock(mutex: *mut libc::pthread_mutex_t) -> bool {
        release(mutex, store_zero_and_wake)
    }

    /// Names `mutex` as this thread's `list_op_pending`, as glibc does
    /// while it sleeps for a robust lock: a thread killed after a wake-up
    /// meant for it, before it took the lock (its word still 0), then has
    /// the kernel pass the wake-up on to another sleeper
    /// (`handle_futex_death`), rather than leave that one asleep on a
    /// free lock.
    #[inline(always)]
    pub(super) fn mark_pending(mutex: *mut libc::pthread_mutex_t) {
        let Some(head) = robust_head() else { return };
        let m = mutex as *mut GlibcMutex;
        // SAFETY: `list_op_pending` lies in this thread's robust head
        // (checked at `check_layout`); the entry lies in the mutex.
        unsafe {
            ((head + 16) as *mut usize).write_volatile(core::ptr::addr_of_mut!((*m).next) as usize);
        }
        compiler_fence(SeqCst);
    }

    /// Ends `mark_pending` (a sleeper that leaves without the lock).
    #[inline(always)]
    pub(super) fn clear_pending() {
        let Some(head) = robust_head() else { return };
        compiler_fence(SeqCst);
        // SAFETY: as in `mark_pending`.
        unsafe { ((head + 16) as *mut usize).write_volatile(0) };
    }

    /// Frees the lock word, waking one sleeper if it had FUTEX_WAITERS.
    #[inline(always)]
    fn store_zero_and_wake(lock: &AtomicU32) {
        if lock.swap(0, Release) & FUTEX_WAITERS != 0 {
            crate::sys::futex_wake(lock, 1);
        }
    }

    /// `unlock`, waking a sleeper on `word` in the same system call.
    pub(super) fn unlock_waking(mutex: *mut libc::pthread_mutex_t, word: &AtomicU32) -> bool {
        release(mutex, |lock| {
            if crate::sys::futex_unlock_and_wake(lock, word).is_err() {
                store_zero_and_wake(lock);
                crate::sys::futex_wake(word, 1);
            }
        })
    }

    /// Takes `mutex` off this thread's robust list and lets `let_go` store
    /// 0 in its lock word (and wake a sleeper), as glibc's unlock does.
    #[inline(always)]
    fn release(mutex: *mut libc::pthread_mutex_t, let_go: impl FnOnce(&AtomicU32)) -> bool {
        let Some(head) = robust_head() else { return false };
        let m = mutex as *mut GlibcMutex;
        // SAFETY: as in try_lock; the caller holds `mutex`, so it is on this
        // thread's robust list with valid links.
        unsafe {
            let entry = core::ptr::addr_of_mut!((*m).next);
            let pending = (head + 16) as *mut usize;
            pending.write_volatile(entry as usize);
            compiler_fence(SeqCst);
            let next = entry.read_volatile();
            let prev = core::ptr::addr_of!((*m).prev).read_volatile();
            (((next & !1) - PREV_FROM_NEXT) as *mut usize).write_volatile(prev);
            ((prev & !1) as *mut usize).write_volatile(next);
            compiler_fence(SeqCst);
            core::ptr::addr_of_mut!((*m).prev).write_volatile(0);
            entry.write_volatile(0);
            let_go(&(*m).lock);
            compiler_fence(SeqCst);
            pending.write_volatile(0);
        }
        true
    }
}

/// Elsewhere every lock goes through glibc.
#[cfg(not(target_arch = "x86_64"))]
mod fast {
    pub(super) fn active() -> bool {
        false
    }
    #[inline(always)]
    pub(super) fn try_lock(_: *mut libc::pthread_mutex_t) -> bool {
        false
    }
    #[inline(always)]
    pub(super) fn unlock(_: *mut libc::pthread_mutex_t) -> bool {
        false
    }
    pub(super) fn unlock_waking(_: *mut libc::pthread_mutex_t, _: &core::sync::atomic::AtomicU32) -> bool {
        false
    }
    pub(super) fn try_lock_from(_: *mut libc::pthread_mutex_t, _: u32, _: u32) -> bool {
        false
    }
    pub(super) fn zeroed_kind(_: *mut libc::pthread_mutex_t) -> bool {
        false
    }
    pub(super) fn mark_pending(_: *mut libc::pthread_mutex_t) {}
    pub(super) fn clear_pending() {}
    pub(super) const FUTEX_WAITERS: u32 = 0x8000_0000;
}
use fast::FUTEX_WAITERS;

const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
const FUTEX_TID_MASK: u32 = 0x3fff_ffff;

/// The lock word of a lock whose memory is being given back to the system
/// (a slot table's top, see `table::SlotTable::trim_free_top`): a holder
/// id no thread has (thread ids stay below 2^22), with neither the
/// owner-died nor the waiters bit. glibc cannot take it, only sleep on it,
/// and `lock` never sleeps on it: it fails with EINVAL (the slot holds no
/// object), as every way of taking a lock here does, and `try_lock` finds
/// it busy. Set only on a free word, by compare-and-swap, so no thread
/// holds a lock so marked, and none can take it until its slot is made
/// again (`RobustMutex::remake`).
pub(crate) const TRIMMED: u32 = FUTEX_TID_MASK;
/// `taken`'s code for a lock marked TRIMMED.
const TRIMMED_RC: i32 = -1;

/// A robust mutex held by one thread of a process for as long as that process
/// keeps its state here. Others read its futex word: if it no longer names the
/// holder's thread id, the holder died or exec'd.
#[repr(C)]
pub struct LivenessLock {
    mutex: RobustMutex,
}

impl LivenessLock {
    /// Initialises and takes the lock for the calling thread, for good: the
    /// guard is forgotten, and only the kernel releases it (at death or exec).
    ///
    /// # Safety
    /// As `RobustMutex::init`: the lock is not yet published.
    pub unsafe fn init_and_hold(&self) {
        // SAFETY: forwarded to the caller's contract.
        unsafe { self.mutex.init() };
        // Just initialised and unpublished: glibc takes it.
        if let Ok(guard) = self.mutex.lock() {
            core::mem::forget(guard);
        }
    }

    /// Initialises the lock, free.
    ///
    /// # Safety
    /// As `RobustMutex::init`: the lock is not yet published.
    pub unsafe fn init(&self) {
        // SAFETY: forwarded to the caller's contract.
        unsafe { self.mutex.init() };
    }

    /// Whether a living thread holds the lock (a dead holder's lock reads
    /// owner-died until someone takes it over).
    pub fn is_held(&self) -> bool {
        let word = self.mutex.futex_word().load(Ordering::Acquire);
        word & FUTEX_OWNER_DIED == 0 && word & FUTEX_TID_MASK != 0
    }

    /// Takes the lock for good if its holder is gone. Returns the thread id
    /// the lock word now names as holder: the caller's own (as glibc knows
    /// it) or, if a living thread still holds it, that thread's.
    pub fn take_over(&self) -> i32 {
        // SAFETY: the mutex was initialised by init_and_hold.
        let rc = unsafe { libc::pthread_mutex_trylock(self.mutex.raw.get()) };
        if rc == libc::EOWNERDEAD {
            // SAFETY: we hold the lock now.
            unsafe { libc::pthread_mutex_consistent(self.mutex.raw.get()) };
        }
        self.holder()
    }

    /// Whether the calling thread holds a robust lock other than this one
    /// (or is in the middle of taking or letting go of one): it is then
    /// inside a call, interrupted by a signal handler, and must not take
    /// region locks again. Reads the thread's robust list, which glibc keeps
    /// and the kernel walks at death.
    pub fn thread_holds_others(&self) -> bool {
        #[repr(C)]
        struct RobustListHead {
            list: usize,
            futex_offset: isize,
            list_op_pending: usize,
        }
        let Some((head, _)) = registered_robust_list() else { return true };
        // SAFETY: the kernel returned this thread's registered head, which
        // glibc keeps in the thread's control block for the thread's life.
        let head = unsafe { &*(head as *const RobustListHead) };
        if head.list_op_pending != 0 {
            return true;
        }
        let own = self.mutex.raw.get() as usize;
        let mut entry = head.list;
        for _ in 0..64 {
            if entry == head as *const RobustListHead as usize {
                return false;
            }
            if entry.wrapping_add_signed(head.futex_offset) != own {
                return true;
            }
            // SAFETY: a robust list entry starts with its next pointer; the
            // list is this thread's, changed only by this thread.
            entry = unsafe { *(entry as *const usize) };
        }
        true
    }

    /// Waits until the lock is free or its holder dies, then holds it
    /// for good (like `init_and_hold`, on a lock already initialised).
    /// Whether it does: not if glibc refuses the lock (see `RobustMutex::lock`).
    pub fn wait_and_hold(&self) -> bool {
        self.mutex.lock().map(core::mem::forget).is_ok()
    }

    /// The thread id in the lock word. glibc writes the id from its thread
    /// block, which a raw clone(CLONE_VM) child shares with its parent, so
    /// this, not gettid(), is whose death the kernel will report.
    pub fn holder(&self) -> i32 {
        (self.mutex.futex_word().load(Ordering::Acquire) & FUTEX_TID_MASK) as i32
    }

    /// Lets go of the lock. Only its holder thread may call this.
    pub fn release(&self) {
        drop(Guard { mutex: &self.mutex, owner_died: false });
    }

    /// Whether `holder_tid` still holds the lock.
    pub fn held_by(&self, holder_tid: i32) -> bool {
        let word = self.mutex.futex_word().load(Ordering::Acquire);
        word & FUTEX_OWNER_DIED == 0 && word & FUTEX_TID_MASK == holder_tid as u32
    }
}
