//! Sleeping until another process acts, and waking the sleeper: the protocol
//! shared by blocked semop, msgsnd and msgrcv.
//!
//! Owns: the life of a waiter's `status` word (a futex in the region).
//!
//! Protocol: the waiting thread sets `status` to WAITING and queues its
//! waiter under the object's lock. Whoever completes it later (under the same
//! lock) stores the outcome, then swaps `status` to DONE and makes a futex
//! wake only if the waiter had gone to sleep (ASLEEP). The waiter first spins
//! for at most `SPIN_NS` (a partner on another core usually answers within
//! that, and the hand-off then costs no system call; short enough that a
//! blocked process looks asleep almost at once), then moves WAITING to ASLEEP
//! and sleeps on the futex. Past its first `YIELD_AFTER_NS`, the spin also
//! yields the core at each look: with more runnable processes than cores,
//! the process that will answer may be waiting for this very core, and a
//! plain spin would keep it off (four processes sharing a mutex semaphore
//! on two cores: 6 times the throughput, README: Benchmarks).
//!
//! The futex wait always has a timeout: the kernel silently restarts an
//! untimed futex wait after a signal handler installed with SA_RESTART, but
//! System V waits must fail with EINTR whenever a handler runs, as Linux's do.
//!
//! A sleeper may wait for a process that died (a SEM_UNDO unit never given
//! back until its state is repaired). A supervisor repairs at once; where
//! none runs, the sleeper wakes every `UNSUPERVISED_SLICE_NS` to repair
//! after the dead itself (the `watch` callback of `wait_done`).

use crate::sys;
use core::sync::atomic::{AtomicU32, Ordering::*};

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

pub(crate) fn monotonic_ns() -> i128 {
    let now = sys::clock_now(libc::CLOCK_MONOTONIC);
    now.tv_sec as i128 * 1_000_000_000 + now.tv_nsec as i128
}

/// Waits until `status` is DONE, a signal handler runs, or the monotonic
/// `deadline` (ns) passes. The waiter was queued with WAITING. `watch` is
/// called before each sleep: it says whether a supervisor watches the box,
/// and if none does, repairs after dead processes first (which may complete
/// this waiter).
pub(crate) fn wait_done(status: &AtomicU32, deadline: Option<i128>, watch: &dyn Fn() -> bool) -> Woken {
    if !spin_then_sleep(status) {
        return Woken::Done;
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
        if sys::futex_wait(status, ASLEEP, Some(slice)) == Err(libc::EINTR) {
            return if status.load(Acquire) == DONE { Woken::Done } else { Woken::Interrupted };
        }
    }
}

/// Watches shared memory for at most SPIN_NS, until `changed` says so: a
/// caller that would otherwise queue itself to sleep first gives a partner
/// on another core the time to act (a stream then costs no queueing).
pub(crate) fn poll(changed: impl Fn() -> bool) -> bool {
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

/// Spins until done or SPIN_NS passed; then marks the waiter asleep.
/// Returns false if it was done meanwhile.
fn spin_then_sleep(status: &AtomicU32) -> bool {
    let start = monotonic_ns();
    let until = start + SPIN_NS;
    loop {
        for _ in 0..64 {
            if status.load(Acquire) == DONE {
                return false;
            }
            core::hint::spin_loop();
        }
        let now = monotonic_ns();
        if now > until {
            break;
        }
        if now > start + YIELD_AFTER_NS {
            sys::sched_yield();
        }
    }
    status.compare_exchange(WAITING, ASLEEP, Acquire, Acquire).is_ok()
}
