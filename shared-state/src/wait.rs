//! Sleeping until another process acts, and waking the sleeper: the protocol
//! shared by blocked semop, msgsnd and msgrcv.
//!
//! Owns: the life of a waiter's `status` word (a futex in the region).
//!
//! Protocol: the waiting thread sets `status` to WAITING and queues its
//! waiter under the object's lock. Whoever completes it later (under the same
//! lock) stores the outcome, then swaps `status` to DONE and makes a futex
//! wake only if the waiter had gone to sleep (ASLEEP). A waiter that may be
//! answered soon (`wait_done`'s `spin`) first spins for at most `SPIN_NS` (a
//! partner on another core usually answers within that, and the hand-off
//! then costs no system call; short enough that a blocked process looks
//! asleep almost at once), then moves WAITING to ASLEEP and sleeps on the
//! futex; any other waiter sleeps at once. Past its first `YIELD_AFTER_NS`,
//! the spin also yields the core at each look: with more runnable processes
//! than cores, the process that will answer may be waiting for this very
//! core, and a plain spin would keep it off.
//!
//! Waking ahead: whoever can tell that a sleeper is next in line (semop: the
//! first waiter for the semaphore a queued waiter has just been given) may
//! wake it early with `wake_ahead`, after letting go of the lock. The
//! sleeper, finding itself woken but not DONE, moves ASLEEP back to WAITING
//! and spins as above, so that when its turn comes it is on a core already
//! and no wake-up (and, often, no interrupt to another core) is needed then.
//! A wake-ahead is only a hint: a waker that dies before making it loses
//! nothing (the sleeper is still ASLEEP, and its completer wakes it), and one
//! that reaches a block freed and reused meanwhile makes a spurious wake-up,
//! which every futex sleeper in the region takes in its stride.
//!
//! Why: with more processes than cores sharing one semaphore as a mutex
//! (`ctests/tool_bench_sem.c`, mutexN), the semaphore passes in FIFO order,
//! so each pair of P and V hands it to a process that has slept for a whole
//! round. On the 2-core virtual machine of the figures below, a futex
//! hand-off between two pinned processes costs 2.5 µs when both share a
//! core and 12 µs (other core busy) to 21 µs (other core idle) across cores:
//! an interrupt between virtual CPUs, and a halted one's exit. The kernel's
//! semop pays such a wake-up on every pair. Before this change every blocked waiter spun for 20 µs,
//! yielding, so with 8 or more processes the spinners took the cores the
//! waker and the woken needed, and every hand-off still found its waiter
//! asleep. Now only a waiter that queues first for its semaphore spins, the
//! next in line is woken a hand-off ahead, and a completion finds it
//! spinning or at least runnable (with, in `sem`, a queue that passes over
//! waiters still blocked instead of retrying each). Measured with `tool_bench_sem mutex`
//! (ns per P+V pair, median and range of 5 runs alternating the kernel in a
//! fresh IPC namespace, the build before and this one, idle machine):
//!
//! ```text
//!            kernel                 before                 now
//! mutex4     14442 (11976..14780)    3895 (3448..4432)       583 (506..628)
//! mutex8     15142 (13414..17288)   20426 (18097..21624)    9321 (8411..15290)
//! mutex16    14155 (13956..15010)   18073 (16317..21028)   11986 (11091..16152)
//! mutex64    15059 (14475..15906)   24613 (22604..29353)    6478 (5999..10201)
//! ping_pong  23390 (17128..26757)     408 (258..1294)        270 (98..472)
//! ```
//!
//! Sixteen processes stay short of 1.5 times the kernel's throughput: in
//! traces, the next in line has mostly not reached a core yet when its turn
//! comes, and the wake-ahead itself costs its waker an interrupt to the
//! other core about half the time. Four processes rarely
//! queue at all: a P that finds the semaphore taken tries once more before
//! queueing, and by then its partner on the other core has given it back.
//!
//! Waking at the unlock: a semop that completes a sleeping waiter leaves
//! its wake-up to the unlock of the set's lock, made in one FUTEX_WAKE_OP
//! call with it (`finish_late`, `Guard::unlock_waking`). Woken under the
//! lock, a waiter placed on the waker's CPU ran at once, found the lock
//! still held by the thread it had displaced and spun for it, in vain.
//! A death before that unlock leaves the lock owner-died: the set's repair
//! wakes the waiter named in its journal's `waking`. A message queue,
//! completed under two locks, wakes at once (woken at the first unlock, a
//! receiver met the second still held: ping-pong 0.7 -> 50 µs).
//!
//! One CPU (`spinning_pays`): a process that can run on only one CPU as
//! it joins the box neither spins nor wakes ahead, and its region locks do
//! not spin: whoever it would wait for needs that very CPU. Measured with
//! `taskset -c 0` (ns per P+V pair, mutexN, 2026-12-05, by hand):
//!
//! ```text
//!            kernel    build before     now
//! mutex4      2175       7849..8395       258..288
//! mutex8      4327       6840..6977      4769..5391
//! mutex16     4291       6906..7195      4088..5237
//! mutex64     4474       4441..10678     5081..5306
//! ```
//!
//! The futex wait always has a timeout: the kernel silently restarts an
//! untimed futex wait after a signal handler installed with SA_RESTART, but
//! System V waits must fail with EINTR whenever a handler runs, as Linux's do.
//!
//! A sleeper may wait for a process that died (a SEM_UNDO unit never given
//! back until its state is repaired). A supervisor repairs at once; where
//! none runs, the sleeper wakes every `UNSUPERVISED_SLICE_NS` to repair
//! after the dead itself (the `watch` callback of `wait_done`).

use crate::{interrupt, sys};
use core::cell::Cell;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};

/// Queued, and spinning for a short while before sleeping.
pub(crate) const WAITING: u32 = 1;
/// Completed: the outcome is stored.
pub(crate) const DONE: u32 = 2;
/// Queued and asleep on the futex: whoever completes it must wake it.
pub(crate) const ASLEEP: u32 = 3;
const SPIN_NS: i128 = 20_000;
/// After this much of the spin, each look also yields the core: with more
/// runnable processes than cores, the partner that will answer may be
/// waiting for this very core (on an idle machine the yield returns at once).
const YIELD_AFTER_NS: i128 = 2_000;
/// Longest single futex sleep of an untimed wait.
const SLEEP_SLICE_NS: u64 = 3_600_000_000_000;
/// Longest single futex sleep where no supervisor watches the box.
const UNSUPERVISED_SLICE_NS: u64 = 100_000_000;

/// How a wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Woken {
    Done,
    /// A signal handler ran (EINTR).
    Interrupted,
    /// The deadline passed.
    TimedOut,
}

/// Marks a waiter done, after its outcome was stored, and wakes it if it sleeps.
pub(crate) fn finish(status: &AtomicU32) {
    if status.swap(DONE, Release) == ASLEEP {
        sys::futex_wake(status, 1);
    }
}

/// `finish`, for a caller that makes the wake-up itself as it lets go of
/// the object's lock (`Guard::unlock_waking`), if `late` is free (0): a
/// waiter that sleeps is then named in `late` and in `waking` (for the
/// repair after a death before the unlock). With `late` taken, wakes now.
pub(crate) fn finish_late(status: &AtomicU32, late: &Cell<u64>, waking: &AtomicU64, at: u64) {
    if status.swap(DONE, Release) == ASLEEP {
        if late.get() == 0 {
            waking.store(at, Relaxed);
            late.set(at);
        } else {
            sys::futex_wake(status, 1);
        }
    }
}

/// Marks a waiter done and wakes it, asleep or not: the repair after a
/// completer that died, perhaps between the two.
pub(crate) fn finish_for_the_dead(status: &AtomicU32) {
    status.store(DONE, Release);
    sys::futex_wake(status, 1);
}

pub(crate) fn monotonic_ns() -> i128 {
    let now = sys::clock_now(libc::CLOCK_MONOTONIC);
    now.tv_sec as i128 * 1_000_000_000 + now.tv_nsec as i128
}

/// Wakes a sleeping waiter that is not yet DONE, so that it spins while its
/// turn comes (see the module notes). Call it with no lock held: the wake-up
/// costs the caller several microseconds when the sleeper's core is another.
pub(crate) fn wake_ahead(status: &AtomicU32) {
    if spinning_pays() && status.load(Relaxed) == ASLEEP {
        sys::futex_wake(status, 1);
    }
}

/// Waits until `status` is DONE, a signal handler runs, or the monotonic
/// `deadline` (ns) passes. The waiter was queued with WAITING; it spins
/// first only if `spin`. `handlers_seen` is this thread's count of signal
/// handlers (`interrupt::runs`) from the start of the call: once it moves,
/// spinning or about to sleep, the wait ends (Interrupted), as the kernel
/// ends it when a handler runs during the sleep. `watch` is called before
/// each sleep: it says whether a supervisor watches the box, and if none
/// does, repairs after dead processes first (which may complete this waiter).
pub(crate) fn wait_done(
    status: &AtomicU32,
    deadline: Option<i128>,
    spin: bool,
    handlers_seen: u64,
    watch: &dyn Fn() -> bool,
) -> Woken {
    let spun = if spin && spinning_pays() {
        spin_then_sleep(status, handlers_seen)
    } else {
        fall_asleep(status, handlers_seen)
    };
    if let Some(woken) = spun.ended() {
        return woken;
    }
    loop {
        let longest = if watch() { SLEEP_SLICE_NS } else { UNSUPERVISED_SLICE_NS };
        if status.load(Acquire) == DONE {
            return Woken::Done;
        }
        let slice = match deadline {
            Some(deadline) => {
                let left = deadline - monotonic_ns();
                if left <= 0 {
                    return Woken::TimedOut;
                }
                (left as u64).min(longest)
            }
            None => longest,
        };
        match interrupt::futex_wait_unless(status, ASLEEP, slice, handlers_seen) {
            Err(libc::EINTR) => {
                return if status.load(Acquire) == DONE { Woken::Done } else { Woken::Interrupted };
            }
            // Woken and not done: woken ahead (or spuriously). Spin while
            // the turn comes, on the core this wake-up has just paid for.
            Ok(()) if status.compare_exchange(ASLEEP, WAITING, Acquire, Acquire).is_ok() => {
                if let Some(woken) = spin_then_sleep(status, handlers_seen).ended() {
                    return woken;
                }
            }
            _ => {}
        }
    }
}

/// Whether a waiter may gain by spinning: only if the process could run on
/// more than one CPU when it joined the box. On one, whoever will answer
/// needs the very CPU a spinner holds, and a thread woken ahead would only
/// take it from the holder (one CPU, sixteen processes on one semaphore:
/// 8.6 µs per P+V pair with spinning, about 5 without; the kernel's 4.3).
/// The affinity mask is read as the process image joins (`taskset`, a
/// container's cpuset) and inherited across fork: a program that pins each
/// of its processes to a CPU of its own afterwards still has partners on
/// the others, which a spin waits for.
pub(crate) fn spinning_pays() -> bool {
    static MANY_CPUS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *MANY_CPUS.get_or_init(|| sys::cpus_allowed() > 1)
}

/// Watches shared memory for at most SPIN_NS, until `changed` says so: a
/// caller that would otherwise queue itself to sleep first gives a partner
/// on another core the time to act (a stream then costs no queueing).
pub(crate) fn poll(changed: impl Fn() -> bool) -> bool {
    if !spinning_pays() {
        return changed();
    }
    let until = monotonic_ns() + SPIN_NS;
    // The words watched share a cache line with the partner's lock: each
    // look takes the line from the partner's core, so look less often as
    // the wait goes on.
    let mut pause = 4;
    loop {
        for _ in 0..16 {
            if changed() {
                return true;
            }
            for _ in 0..pause {
                core::hint::spin_loop();
            }
            pause = (pause * 2).min(POLL_MAX_PAUSE);
        }
        if monotonic_ns() > until {
            return false;
        }
    }
}

/// Longest pause between two looks of `poll`: 32 pauses, about half a
/// microsecond here, which a hand-off may wait on top of its own cost.
const POLL_MAX_PAUSE: u32 = 32;

/// How a spin ended.
enum Spun {
    Done,
    /// Marked ASLEEP: the caller sleeps on the futex.
    Asleep,
    /// A signal handler ran; still WAITING (the caller leaves the queue).
    Interrupted,
}

impl Spun {
    /// How the wait ended, unless it goes on to sleep.
    fn ended(self) -> Option<Woken> {
        match self {
            Spun::Done => Some(Woken::Done),
            Spun::Interrupted => Some(Woken::Interrupted),
            Spun::Asleep => None,
        }
    }
}

/// Spins until done, a handler runs, or SPIN_NS passed; then marks the
/// waiter asleep.
fn spin_then_sleep(status: &AtomicU32, handlers_seen: u64) -> Spun {
    let start = monotonic_ns();
    let until = start + SPIN_NS;
    loop {
        for _ in 0..64 {
            if status.load(Acquire) == DONE {
                return Spun::Done;
            }
            core::hint::spin_loop();
        }
        if interrupt::runs() != handlers_seen {
            return Spun::Interrupted;
        }
        let now = monotonic_ns();
        if now > until {
            break;
        }
        if now > start + YIELD_AFTER_NS {
            sys::sched_yield();
        }
    }
    fall_asleep(status, handlers_seen)
}

/// Marks a WAITING waiter asleep, unless a handler ran or it is done.
fn fall_asleep(status: &AtomicU32, handlers_seen: u64) -> Spun {
    if interrupt::runs() != handlers_seen {
        return Spun::Interrupted;
    }
    match status.compare_exchange(WAITING, ASLEEP, Acquire, Acquire) {
        Ok(_) => Spun::Asleep,
        Err(_) => Spun::Done,
    }
}
