//! Fault injection: named points inside critical sections where a test can
//! make the calling process die by SIGKILL, to prove that what it leaves
//! half done is repaired.
//!
//! Owns: `crash_point`, `arm` and `arm_stop` (which stops the process
//! there instead, to hold it inside a call). Without the `fault-injection` feature
//! (every build but the tests') `crash_point` compiles to nothing.
//!
//! A test forks a child, arms a point in it (`arm(name, nth)`: die the
//! `nth` time the point is passed, counting from 1) and calls into the box;
//! the child dies there, inside the call, as if killed at that instruction.
//! The test then checks what the survivors see.

#[cfg(feature = "fault-injection")]
mod imp {
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    use std::sync::Mutex;

    /// Armed points: (name, passes left before it fires, signal). A fork
    /// child inherits them, so one arming can reach both sides of a fork.
    static ARMED: AtomicBool = AtomicBool::new(false);
    static POINTS: Mutex<Vec<(&'static str, u32, i32)>> = Mutex::new(Vec::new());

    /// Makes the process die at the `nth` pass of point `name`.
    pub fn arm(name: &'static str, nth: u32) {
        arm_with(name, nth, libc::SIGKILL);
    }

    /// Makes the process stop (SIGSTOP) at the `nth` pass of point `name`,
    /// inside the call, until it is continued.
    pub fn arm_stop(name: &'static str, nth: u32) {
        arm_with(name, nth, libc::SIGSTOP);
    }

    fn arm_with(name: &'static str, nth: u32, signal: i32) {
        let mut points = POINTS.lock().unwrap_or_else(|p| p.into_inner());
        points.retain(|&(point, _, _)| point != name);
        points.push((name, nth.max(1), signal));
        ARMED.store(true, Relaxed);
    }

    #[inline(never)]
    pub fn crash_point(name: &'static str) {
        if !ARMED.load(Relaxed) {
            return;
        }
        // try_lock: a point may be passed while the test's thread arms.
        let Ok(mut points) = POINTS.try_lock() else { return };
        let Some(point) = points.iter_mut().find(|(point, _, _)| *point == name) else { return };
        point.1 -= 1;
        if point.1 != 0 {
            return;
        }
        let signal = point.2;
        drop(points);
        // SAFETY: plain system call.
        unsafe { libc::kill(libc::getpid(), signal) };
        if signal == libc::SIGKILL {
            loop {
                std::hint::spin_loop();
            }
        }
    }
}

#[cfg(feature = "fault-injection")]
pub use imp::{arm, arm_stop, crash_point};

/// Without the feature: nothing.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn crash_point(_name: &'static str) {}
