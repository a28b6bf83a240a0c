//! Fault injection: named points inside critical sections where a test can
//! make the calling process die by SIGKILL, to prove that what it leaves
//! half done is repaired.
//!
//! Owns: `crash_point` and `arm`. Without the `fault-injection` feature
//! (every build but the tests') `crash_point` compiles to nothing.
//!
//! A test forks a child, arms a point in it (`arm(name, nth)`: die the
//! `nth` time the point is passed, counting from 1) and calls into the box;
//! the child dies there, inside the call, as if killed at that instruction.
//! The test then checks what the survivors see.

#[cfg(feature = "fault-injection")]
mod imp {
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
    use std::sync::Mutex;

    static ARMED: AtomicBool = AtomicBool::new(false);
    static POINT: Mutex<&'static str> = Mutex::new("");
    static COUNTDOWN: AtomicU32 = AtomicU32::new(0);

    /// Makes the process die at the `nth` pass of point `name`.
    pub fn arm(name: &'static str, nth: u32) {
        *POINT.lock().unwrap_or_else(|p| p.into_inner()) = name;
        COUNTDOWN.store(nth.max(1), Relaxed);
        ARMED.store(true, Relaxed);
    }

    #[inline(never)]
    pub fn crash_point(name: &'static str) {
        if !ARMED.load(Relaxed) {
            return;
        }
        // try_lock: a point may be passed while the test's thread arms.
        let Ok(point) = POINT.try_lock() else { return };
        if *point == name && COUNTDOWN.fetch_sub(1, Relaxed) == 1 {
            // SAFETY: plain system calls; the process ends here.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
            loop {
                std::hint::spin_loop();
            }
        }
    }
}

#[cfg(feature = "fault-injection")]
pub use imp::{arm, crash_point};

/// Without the feature: nothing.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn crash_point(_name: &'static str) {}
