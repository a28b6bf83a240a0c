//! Semaphore semantics of shared-state, in-process: threads, fork, signals, kill.

mod common;
use common::{eventually, fork_child, new_box, op, pipe, values, wait_status};

use shared_state::abi::*;
use shared_state::region::LimitValues;
use shared_state::sem::*;
use shared_state::Namespace;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn semget_follows_linux() {
    let ns = new_box();
    assert_eq!(ns.semget(0x10, 1, 0o600).unwrap_err(), libc::ENOENT);
    assert_eq!(ns.semget(0x10, 0, IPC_CREAT | 0o600).unwrap_err(), libc::EINVAL);
    assert_eq!(ns.semget(0x10, -1, IPC_CREAT | 0o600).unwrap_err(), libc::EINVAL);
    assert_eq!(ns.semget(0x10, 32001, IPC_CREAT | 0o600).unwrap_err(), libc::EINVAL);
    let id = ns.semget(0x10, 3, IPC_CREAT | 0o640).unwrap();
    assert_eq!(ns.semget(0x10, 3, IPC_CREAT | IPC_EXCL).unwrap_err(), libc::EEXIST);
    assert_eq!(ns.semget(0x10, 0, 0).unwrap(), id);
    assert_eq!(ns.semget(0x10, 4, 0).unwrap_err(), libc::EINVAL);
    let mut ds = SemidDs::default();
    ns.semctl(id, 0, IPC_STAT, &mut ds as *mut SemidDs as usize).unwrap();
    assert_eq!((ds.nsems, ds.perm.mode, ds.perm.key, ds.otime), (3, 0o640, 0x10, 0));
    assert!(ds.ctime > 0);
    assert_eq!(values(&ns, id, 3), [0, 0, 0]);
    ns.semctl(id, 0, IPC_RMID, 0).unwrap();
    assert_eq!(ns.semget(0x10, 0, 0).unwrap_err(), libc::ENOENT);
    // A set of up to ZONE_SEMS semaphores uses its slot's own array in the
    // zone, no heap block; a removed one keeps no journal block either.
    assert_eq!(ns.region().heap_in_use(), 0, "a removed small set keeps no heap block");
    // A larger set's array comes from the heap and stays with its slot (a
    // lock-free semop may still be about to touch it): 9 semaphores take
    // an array of 16, 16 bytes each.
    let id = ns.semget(IPC_PRIVATE, 9, 0o600).unwrap();
    assert_eq!(ns.semop(id, &[op(8, 1, 0)], None), Ok(0));
    ns.semctl(id, 0, IPC_RMID, 0).unwrap();
    assert_eq!(ns.region().heap_in_use(), 16 * 16, "a removed large set keeps only its array");
    // Sets made and removed over and over reuse the arrays of the slots they
    // land in: memory stays bounded by the slots used.
    for _ in 0..500 {
        let id = ns.semget(IPC_PRIVATE, 12, 0o600).unwrap();
        ns.semctl(id, 0, IPC_RMID, 0).unwrap();
    }
    assert!(ns.region().heap_in_use() <= 65 * 16 * 16, "arrays reused: {} bytes", ns.region().heap_in_use());
    let limits = LimitValues { semmns: 5, semmni: 2, ..LimitValues::default() };
    let small = Namespace::create(&limits).unwrap();
    small.semget(IPC_PRIVATE, 4, 0o600).unwrap();
    assert_eq!(small.semget(IPC_PRIVATE, 2, 0o600).unwrap_err(), libc::ENOSPC, "SEMMNS");
    small.semget(IPC_PRIVATE, 1, 0o600).unwrap();
    assert_eq!(small.semget(IPC_PRIVATE, 0, 0o600).unwrap_err(), libc::EINVAL);
}

#[test]
fn semop_is_all_or_nothing() {
    let ns = new_box();
    let id = ns.semget(IPC_PRIVATE, 3, 0o600).unwrap();
    ns.semop(id, &[op(0, 2, 0), op(1, 1, 0)], None).unwrap();
    assert_eq!(values(&ns, id, 3), [2, 1, 0]);
    // The last operation would block: nothing is applied.
    assert_eq!(
        ns.semop(id, &[op(0, -1, 0), op(1, 5, 0), op(2, -1, IPC_NOWAIT as i16)], None).unwrap_err(),
        libc::EAGAIN
    );
    assert_eq!(values(&ns, id, 3), [2, 1, 0]);
    assert_eq!(ns.semop(id, &[op(0, 1, 0), op(1, 32767, 0)], None).unwrap_err(), libc::ERANGE);
    assert_eq!(values(&ns, id, 3), [2, 1, 0]);
    assert_eq!(ns.semop(id, &[op(3, 1, 0)], None).unwrap_err(), libc::EFBIG);
    assert_eq!(ns.semop(id, &[op(2, 0, 0)], None), Ok(0), "wait-for-zero on zero proceeds");
    assert_eq!(ns.semop(id, &[op(0, 0, IPC_NOWAIT as i16)], None).unwrap_err(), libc::EAGAIN);
    let too_many = vec![op(0, 0, 0); 501];
    assert_eq!(ns.semop(id, &too_many, None).unwrap_err(), libc::E2BIG);
    assert_eq!(ns.semtimedop(id, 0, 0, 0).unwrap_err(), libc::EINVAL);
    assert_eq!(ns.semtimedop(id, 8, 1, 0).unwrap_err(), libc::EFAULT);
    assert_eq!(ns.semop(-1, &[op(0, 1, 0)], None).unwrap_err(), libc::EINVAL);
    let mut ds = SemidDs::default();
    ns.semctl(id, 0, IPC_STAT, &mut ds as *mut SemidDs as usize).unwrap();
    assert!(ds.otime > 0, "semop sets sem_otime");
    assert_eq!(ns.semctl(id, 0, GETPID, 0).unwrap(), std::process::id() as i32);
}

#[test]
fn semctl_values_and_errors() {
    let ns = new_box();
    let id = ns.semget(IPC_PRIVATE, 2, 0o600).unwrap();
    ns.semctl(id, 1, SETVAL, 7).unwrap();
    assert_eq!(ns.semctl(id, 1, GETVAL, 0).unwrap(), 7);
    assert_eq!(ns.semctl(id, 1, SETVAL, 32768).unwrap_err(), libc::ERANGE);
    assert_eq!(ns.semctl(id, 1, SETVAL, (-1i32) as u32 as usize).unwrap_err(), libc::ERANGE);
    assert_eq!(ns.semctl(id, 2, SETVAL, 1).unwrap_err(), libc::EINVAL);
    assert_eq!(ns.semctl(id, 2, GETVAL, 0).unwrap_err(), libc::EINVAL);
    let set = [3u16, 32768];
    assert_eq!(ns.semctl(id, 0, SETALL, set.as_ptr() as usize).unwrap_err(), libc::ERANGE);
    let set = [3u16, 4];
    ns.semctl(id, 0, SETALL, set.as_ptr() as usize).unwrap();
    assert_eq!(values(&ns, id, 2), [3, 4]);
    assert_eq!(ns.semctl(id, 0, 99, 0).unwrap_err(), libc::EINVAL);
    assert_eq!(ns.semctl(id, 0, GETALL, 0).unwrap_err(), libc::EFAULT);
    let mut info = SemInfo::default();
    let top = ns.semctl(0, 0, SEM_INFO, &mut info as *mut SemInfo as usize).unwrap();
    assert_eq!(top, id & 0x7fff);
    assert_eq!((info.semusz, info.semaem, info.semvmx, info.semmsl), (1, 2, 32767, 32000));
    let mut ds = SemidDs::default();
    assert_eq!(ns.semctl(id & 0x7fff, 0, SEM_STAT, &mut ds as *mut SemidDs as usize).unwrap(), id);
}

#[test]
fn getall_setall_on_either_side_of_the_stack_buffer() {
    // Up to 256 semaphores the values stay on the stack, beyond they go
    // through the heap: both move exactly nsems values.
    let ns = new_box();
    for nsems in [1u16, 255, 256, 257, 1000] {
        let id = ns.semget(IPC_PRIVATE, nsems as i32, 0o600).unwrap();
        let n = nsems as usize;
        let mut set: Vec<u16> = (0..nsems).map(|i| i * 31 % 32768).collect();
        set.push(0xbeef);
        ns.semctl(id, 0, SETALL, set.as_ptr() as usize).unwrap();
        let mut got = vec![0xdeadu16; n + 1];
        ns.semctl(id, 0, GETALL, got.as_mut_ptr() as usize).unwrap();
        assert_eq!(got[..n], set[..n], "{nsems} semaphores");
        assert_eq!(got[n], 0xdead, "GETALL wrote past {nsems} values");
        let mut bad = vec![1u16; n];
        bad[n - 1] = 32768;
        assert_eq!(ns.semctl(id, 0, SETALL, bad.as_ptr() as usize).unwrap_err(), libc::ERANGE);
        ns.semctl(id, 0, GETALL, got.as_mut_ptr() as usize).unwrap();
        assert_eq!(got[..n], set[..n], "a refused SETALL of {nsems} changed nothing");
        ns.semctl(id, 0, IPC_RMID, 0).unwrap();
    }
}

#[test]
fn a_blocked_waiter_is_served_and_counted() {
    let ns = new_box();
    let id = ns.semget(IPC_PRIVATE, 2, 0o600).unwrap();
    let child = fork_child(&ns, || match ns.semop(id, &[op(0, -2, 0)], None) {
        Ok(_) => 0,
        Err(e) => e,
    });
    eventually("the child to wait", || ns.semctl(id, 0, GETNCNT, 0) == Ok(1));
    assert_eq!(ns.semctl(id, 0, GETZCNT, 0), Ok(0));
    ns.semop(id, &[op(0, 1, 0)], None).unwrap();
    assert_eq!(ns.semctl(id, 0, GETNCNT, 0), Ok(1), "one unit is not enough");
    ns.semop(id, &[op(0, 1, 0)], None).unwrap();
    assert_eq!(wait_status(child), 0);
    assert_eq!(values(&ns, id, 2), [0, 0]);
    assert_eq!(ns.semctl(id, 0, GETPID, 0).unwrap(), child, "the waiter's pid, as Linux");
}

#[test]
fn lock_free_semops_never_skip_a_waiter() {
    let ns = new_box();
    let id = ns.semget(IPC_PRIVATE, 2, 0o600).unwrap();
    // Single operations without SEM_UNDO turn lock-free semops on for the set.
    for _ in 0..40 {
        ns.semop(id, &[op(0, 1, 0)], None).unwrap();
        ns.semop(id, &[op(0, -1, 0)], None).unwrap();
    }
    let timeout = libc::timespec { tv_sec: 5, tv_nsec: 0 };
    let child = fork_child(&ns, || match ns.semop(id, &[op(0, -2, 0)], Some(timeout)) {
        Ok(_) => 0,
        Err(e) => e,
    });
    eventually("the child to wait", || ns.semctl(id, 0, GETNCNT, 0) == Ok(1));
    // The first V goes through the set lock and cannot serve the waiter; the
    // second must still find the semaphore held for the waiter and serve it.
    ns.semop(id, &[op(0, 1, 0)], None).unwrap();
    ns.semop(id, &[op(0, 1, 0)], None).unwrap();
    assert_eq!(wait_status(child), 0, "the waiter was served (not EAGAIN after 5 s)");
    assert_eq!(values(&ns, id, 2), [0, 0]);
    // Many operations on several semaphores turn them off again; values stay exact.
    for _ in 0..40 {
        ns.semop(id, &[op(0, 1, 0), op(1, 1, 0)], None).unwrap();
        ns.semop(id, &[op(0, -1, 0), op(1, -1, 0)], None).unwrap();
    }
    ns.semop(id, &[op(1, 3, 0)], None).unwrap();
    assert_eq!(values(&ns, id, 2), [0, 3]);
}

#[test]
fn removal_wakes_waiters_with_eidrm() {
    let ns = new_box();
    let id = ns.semget(IPC_PRIVATE, 1, 0o600).unwrap();
    let child = fork_child(&ns, || match ns.semop(id, &[op(0, -1, 0)], None) {
        Err(libc::EIDRM) => 0,
        other => 10 + other.map_or_else(|e| e, |_| 0),
    });
    eventually("the child to wait", || ns.semctl(id, 0, GETNCNT, 0) == Ok(1));
    ns.semctl(id, 0, IPC_RMID, 0).unwrap();
    assert_eq!(wait_status(child), 0);
}

extern "C" fn on_signal(_: libc::c_int) {}

#[test]
fn a_handled_signal_gives_eintr_even_with_sa_restart() {
    let ns = new_box();
    let id = ns.semget(IPC_PRIVATE, 1, 0o600).unwrap();
    let child = fork_child(&ns, || {
        // SAFETY: installing a plain handler with SA_RESTART in the child.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut());
        }
        match ns.semop(id, &[op(0, -1, 0)], None) {
            Err(libc::EINTR) => 0,
            other => 10 + other.map_or_else(|e| e, |_| 0),
        }
    });
    eventually("the child to wait", || ns.semctl(id, 0, GETNCNT, 0) == Ok(1));
    // A handler that runs while the waiter still spins, before it sleeps,
    // does not interrupt it (README: Known deviations): signal until one
    // finds it asleep.
    let mut status = 0;
    for _ in 0..500 {
        // SAFETY: signalling our own child; status is writable.
        let done = unsafe {
            libc::kill(child, libc::SIGUSR1);
            libc::waitpid(child, &mut status, libc::WNOHANG)
        };
        if done == child {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "status {status:#x}");
    assert_eq!(ns.semctl(id, 0, GETNCNT, 0), Ok(0), "the interrupted waiter left the queue");
}

#[test]
fn semtimedop_times_out_with_eagain() {
    let ns = new_box();
    let id = ns.semget(IPC_PRIVATE, 1, 0o600).unwrap();
    let timeout = libc::timespec { tv_sec: 0, tv_nsec: 30_000_000 };
    let start = std::time::Instant::now();
    assert_eq!(ns.semop(id, &[op(0, -1, 0)], Some(timeout)).unwrap_err(), libc::EAGAIN);
    assert!(start.elapsed() >= Duration::from_millis(30));
    assert_eq!(ns.semctl(id, 0, GETNCNT, 0), Ok(0));
}

#[test]
fn undo_is_applied_at_death_and_cleared_by_setval() {
    let ns = new_box();
    let id = ns.semget(IPC_PRIVATE, 2, 0o600).unwrap();
    ns.semctl(id, 0, SETVAL, 5).unwrap();
    // exit: undo of -2 on sem 0 and +3 on sem 1 gives back 2 and takes 3 (clamped at 0).
    let child = fork_child(&ns, || {
        ns.semop(id, &[op(0, -2, SEM_UNDO), op(1, 3, SEM_UNDO)], None).unwrap();
        0
    });
    assert_eq!(wait_status(child), 0);
    assert_eq!(values(&ns, id, 2), [5, 0]);
    // SIGKILL while holding: the unit comes back.
    let (r, w) = pipe();
    let child = fork_child(&ns, || {
        ns.semop(id, &[op(0, -5, SEM_UNDO)], None).unwrap();
        // SAFETY: tell the parent, then wait to be killed.
        unsafe {
            libc::write(w, b"x".as_ptr() as *const _, 1);
            loop {
                libc::pause();
            }
        }
    });
    let mut byte = [0u8];
    // SAFETY: blocking read of our pipe.
    unsafe { libc::read(r, byte.as_mut_ptr() as *mut _, 1) };
    assert_eq!(values(&ns, id, 2), [0, 0]);
    // SAFETY: killing our own child.
    unsafe { libc::kill(child, libc::SIGKILL) };
    wait_status(child);
    assert_eq!(values(&ns, id, 2), [5, 0], "undo applied after SIGKILL");
    assert_eq!(ns.semctl(id, 0, GETPID, 0).unwrap(), child);
    // SETVAL clears adjustments: the child's exit then changes nothing.
    let (release_r, release_w) = pipe();
    let child = fork_child(&ns, || {
        ns.semop(id, &[op(0, -1, SEM_UNDO)], None).unwrap();
        // SAFETY: tell the parent, then wait for it (on the other pipe).
        unsafe {
            libc::write(w, b"x".as_ptr() as *const _, 1);
            libc::read(release_r, [0u8; 1].as_mut_ptr() as *mut _, 1);
        }
        0
    });
    // SAFETY: blocking read of our pipe.
    unsafe { libc::read(r, byte.as_mut_ptr() as *mut _, 1) };
    ns.semctl(id, 0, SETVAL, 9).unwrap();
    // SAFETY: release the child.
    unsafe { libc::write(release_w, b"x".as_ptr() as *const _, 1) };
    assert_eq!(wait_status(child), 0);
    assert_eq!(values(&ns, id, 2), [9, 0]);
    // The adjustment range is SEMAEM.
    ns.semctl(id, 1, SETVAL, 32767).unwrap();
    ns.semop(id, &[op(1, -32767, SEM_UNDO)], None).unwrap();
    ns.semop(id, &[op(1, 32767, 0)], None).unwrap();
    assert_eq!(ns.semop(id, &[op(1, -1, SEM_UNDO)], None).unwrap_err(), libc::ERANGE);
}

#[test]
fn no_waiter_starves_while_others_keep_passing() {
    let ns = Arc::new(new_box());
    let id = ns.semget(IPC_PRIVATE, 1, 0o600).unwrap();
    ns.semctl(id, 0, SETVAL, 1).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let passers: Vec<_> = (0..3)
        .map(|_| {
            let (ns, stop) = (ns.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    ns.semop(id, &[op(0, -1, 0)], None).unwrap();
                    ns.semop(id, &[op(0, 1, 0)], None).unwrap();
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(20));
    // Wants both units at once while three threads keep taking one.
    let child = fork_child(&ns, || {
        ns.semop(id, &[op(0, -2, 0)], None).unwrap();
        ns.semop(id, &[op(0, 2, 0)], None).unwrap();
        0
    });
    std::thread::sleep(Duration::from_millis(50));
    ns.semop(id, &[op(0, 1, 0)], None).unwrap();
    assert_eq!(wait_status(child), 0, "the big waiter got through");
    stop.store(true, Ordering::Relaxed);
    passers.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(ns.semctl(id, 0, GETVAL, 0), Ok(2));
}

#[test]
fn random_operations_sum_exactly() {
    let ns = Arc::new(new_box());
    let nsems = 2;
    let id = ns.semget(IPC_PRIVATE, nsems, 0o600).unwrap();
    let start = [1000u16; 2];
    ns.semctl(id, 0, SETALL, start.as_ptr() as usize).unwrap();
    let go = Arc::new(std::sync::Barrier::new(4));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let (ns, go) = (ns.clone(), go.clone());
            std::thread::spawn(move || {
                let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ t;
                let mut net = [0i64; 2];
                go.wait();
                for _ in 0..200_000 {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let num = (seed % 2) as u16;
                    let amount = 1 + (seed >> 8) as i16 % 3;
                    let (first, second) = if seed & 1 == 0 { (-amount, amount) } else { (amount, -amount) };
                    // Odd threads use two-semaphore operations, which take
                    // the set lock, against the even threads' lock-free
                    // single operations on the same semaphores.
                    for delta in [first, second] {
                        let ops = [op(num, delta, IPC_NOWAIT as i16), op(1 - num, -delta, IPC_NOWAIT as i16)];
                        let ops = if t % 2 == 1 { &ops[..] } else { &ops[..1] };
                        if ns.semop(id, ops, None).is_ok() {
                            for o in ops {
                                net[o.num as usize] += o.op as i64;
                            }
                        }
                    }
                }
                net
            })
        })
        .collect();
    let mut expected = [1000i64; 2];
    for t in threads {
        for (e, n) in expected.iter_mut().zip(t.join().unwrap()) {
            *e += n;
        }
    }
    let got: Vec<i64> = values(&ns, id, 2).into_iter().map(i64::from).collect();
    assert_eq!(got, expected);
}

/// A slot whose next set is larger gets a new array and keeps the old one
/// (a lock-free semop may still touch it): the old one stays reachable, so
/// the heap's accounting loses nothing.
#[test]
fn arrays_left_behind_by_growing_slots_stay_reachable() {
    let ns = new_box();
    // Indices cycle through at least 64 slots before one is reused.
    // (Sets of up to ZONE_SEMS use their slot's zone array: the rounds start past it.)
    for round in 0..3 {
        for _ in 0..64 {
            let id = ns.semget(IPC_PRIVATE, 16 << (round * 3), 0o600).unwrap();
            assert_eq!(ns.semctl(id, 0, IPC_RMID, 0), Ok(0));
        }
    }
    assert_ne!(ns.region().header().sem.retired.load(Ordering::Relaxed), 0, "slots grew");
    ns.region().check_invariants().unwrap();
    assert_eq!(ns.region().heap_account().unwrap().lost(), 0);
}
