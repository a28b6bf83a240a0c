//! Many processes at once on all three facilities, some killed mid-run,
//! while collections of lost blocks run beside them: afterwards the box
//! holds what it held before they started (no heap block, process record or
//! attachment left behind).

mod common;

use common::*;
use shared_state::abi::IPC_NOWAIT;
use shared_state::sem::SEM_UNDO;
use shared_state::Namespace;

const PROCS: usize = 64;
const ROUNDS: u32 = 200;

/// One worker's rounds: a SEM_UNDO mutex around an attach and a detach,
/// then a message sent and one received. Returns 0, or the round + 1 that
/// failed.
fn rounds(ns: &Namespace, semid: i32, shmid: i32, qid: i32, me: usize) -> i32 {
    let mut buf = [0u8; 8 + 64];
    for round in 0..ROUNDS {
        if ns.semop(semid, &[op(0, -1, SEM_UNDO)], None).is_err() {
            return round as i32 + 1;
        }
        let Ok(addr) = ns.shmat(shmid, 0, 0) else { return round as i32 + 1 };
        // SAFETY: the segment is 4096 bytes, mapped at `addr`.
        unsafe { *(addr as *mut u64) += 1 };
        if ns.shmdt(addr).is_err() || ns.semop(semid, &[op(0, 1, SEM_UNDO)], None).is_err() {
            return round as i32 + 1;
        }
        buf[..8].copy_from_slice(&(1 + (me % 8) as i64).to_ne_bytes());
        if ns.msgsnd(qid, buf.as_ptr() as usize, 64, 0).is_err()
            || ns.msgrcv(qid, buf.as_mut_ptr() as usize, 64, 0, 0) != Ok(64)
        {
            return round as i32 + 1;
        }
    }
    0
}

#[test]
fn many_processes_leave_nothing_behind() {
    let _serial = common::serial();
    many_processes(false);
}

#[test]
fn many_processes_some_killed_leave_nothing_behind() {
    let _serial = common::serial();
    many_processes(true);
}

fn many_processes(kill: bool) {
    let ns = new_box();
    let semid = ns.semget(0, 1, 0o600).unwrap();
    assert_eq!(ns.semctl(semid, 0, shared_state::sem::SETVAL, 1), Ok(0));
    // The set's array, which stays with it.
    let baseline = ns.region().heap_in_use();
    let shmid = ns.shmget(0, 4096, 0o600).unwrap();
    let qid = ns.msgget(0, 0o600).unwrap();

    let pids: Vec<i32> = (0..PROCS).map(|me| fork_child(&ns, || rounds(&ns, semid, shmid, qid, me))).collect();
    let ((), collections) = collecting_meanwhile(&ns, || {
        // Kill every fourth worker somewhere in its run.
        std::thread::sleep(std::time::Duration::from_millis(20));
        for &pid in pids.iter().step_by(4).filter(|_| kill) {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        for (me, &pid) in pids.iter().enumerate() {
            let status = wait_status(pid);
            if me % 4 != 0 || !kill {
                assert_eq!(status, 0, "worker {me} failed (exit status {status:#x})");
            }
        }
    });
    eprintln!("collections during the run: {collections}");
    // Take what the killed workers left queued, then let any call repair
    // after the dead.
    let mut buf = [0u8; 8 + 64];
    while ns.msgrcv(qid, buf.as_mut_ptr() as usize, 64, 0, IPC_NOWAIT).is_ok() {}
    assert_eq!(ns.semctl(semid, 0, shared_state::sem::GETVAL, 0), Ok(1), "mutex free: every SEM_UNDO applied");
    let me = std::process::id() as i32;
    let records = ns.region().live_records();
    assert!(records.iter().all(|&(_, pid, _)| pid == me), "every worker's process record freed: {records:?}");
    ns.region().check_invariants().unwrap();
    let addr = ns.shmat(shmid, 0, 0).unwrap();
    // SAFETY: as above.
    let count = unsafe { *(addr as *const u64) };
    assert!(count >= (PROCS - PROCS / 4) as u64 * ROUNDS as u64, "every surviving worker's increments: {count}");
    ns.shmdt(addr).unwrap();
    assert_eq!(ns.shmctl(shmid, shared_state::abi::IPC_RMID, 0), Ok(0));
    assert_eq!(ns.msgctl(qid, shared_state::abi::IPC_RMID, 0), Ok(0));
    // What killed workers held in hand was collected once their deaths
    // were repaired.
    assert_eq!(ns.region().heap_account().unwrap().lost(), 0, "every heap block reached by something");
    assert_eq!(ns.region().heap_in_use(), baseline, "no undo record, waiter, message or block left behind");
    assert_eq!(ns.semctl(semid, 0, shared_state::abi::IPC_RMID, 0), Ok(0));
}

/// A thread asleep in semop or msgsnd holds blocks (its waiter, the message
/// it waits to send): they stay reachable while it sleeps, so the heap's
/// accounting loses nothing, and its reaper frees them when it is killed.
#[test]
fn sleepers_blocks_are_reached_and_freed_when_they_are_killed() {
    let _serial = common::serial();
    let ns = new_box();
    let semid = ns.semget(0, 1, 0o600).unwrap();
    let qid = ns.msgget(0, 0o600).unwrap();
    let mut ds = [0u64; 16];
    ns.msgctl(qid, shared_state::abi::IPC_STAT, ds.as_mut_ptr() as usize).unwrap();
    let mut buf = [0u8; 8 + 1024];
    buf[..8].copy_from_slice(&1i64.to_ne_bytes());
    // Fill the queue to its 16384 bytes, so that the next send sleeps.
    for _ in 0..16 {
        assert_eq!(ns.msgsnd(qid, buf.as_ptr() as usize, 1024, 0), Ok(0));
    }
    // A first semop gives the set its journal, which stays with it.
    assert_eq!(ns.semop(semid, &[op(0, 0, IPC_NOWAIT as i16)], None), Ok(0));
    let baseline = ns.region().heap_in_use();
    // Each dies with the test's thread, should the test fail first.
    let die_with_parent = || {
        // SAFETY: plain system call.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    };
    let sem_sleeper = fork_child(&ns, || {
        die_with_parent();
        ns.semop(semid, &[op(0, -1, 0)], None).map_or(1, |_| 0)
    });
    let msg_sleeper = fork_child(&ns, || {
        die_with_parent();
        ns.msgsnd(qid, buf.as_ptr() as usize, 1024, 0).map_or(1, |_| 0)
    });
    let start = std::time::Instant::now();
    while ns.semctl(semid, 0, shared_state::sem::GETNCNT, 0) != Ok(1) {
        assert!(start.elapsed().as_secs() < 10, "the semop sleeper never queued");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // Nothing reports a sleeping sender: give it time to queue.
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(ns.region().heap_in_use() > baseline, "the sleepers hold blocks");
    assert_eq!(ns.region().heap_account().unwrap().lost(), 0, "every block a sleeper holds is reached");
    for pid in [sem_sleeper, msg_sleeper] {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        wait_status(pid);
    }
    // The next call reaps them.
    assert_eq!(ns.semctl(semid, 0, shared_state::sem::GETNCNT, 0), Ok(0));
    ns.region().check_invariants().unwrap();
    assert_eq!(ns.region().heap_account().unwrap().lost(), 0);
    assert_eq!(ns.region().heap_in_use(), baseline, "the reaper freed the waiters and the waiting message");
}

/// A box of 4096 processes at once, under a supervisor as in `ipcbox run`:
/// each holds a SEM_UNDO adjustment, an attachment (every eighth also
/// forks a child that inherits it and exits) and a queued message; then
/// all exit together. Every count is exact while they live, every undo
/// is applied once they are gone, and the region holds nothing of them
/// (no record, no attachment, no lost heap block).
#[test]
fn four_thousand_processes_at_once_leave_nothing_behind() {
    let _serial = common::serial();
    const MANY: usize = 4096;
    let ns = std::sync::Arc::new(new_box());
    ns.watch_deaths().unwrap();
    let semid = ns.semget(0, 1, 0o600).unwrap();
    let shmid = ns.shmget(0, 4096, 0o600).unwrap();
    let qid = ns.msgget(0, 0o600).unwrap();
    let mut ds = [0u64; 16];
    ns.msgctl(qid, shared_state::abi::IPC_STAT, ds.as_mut_ptr() as usize).unwrap();
    // msg_qbytes, after msg_perm (48 bytes) and stime, rtime, ctime,
    // cbytes, qnum.
    ds[11] = 2 * MANY as u64;
    ns.msgctl(qid, shared_state::abi::IPC_SET, ds.as_ptr() as usize).unwrap();
    let (ready_r, ready_w) = pipe();
    let (release_r, release_w) = pipe();
    let pids: Vec<i32> = (0..MANY)
        .map(|me| {
            fork_child(&ns, || {
                // SAFETY: closing this child's copies of the other ends.
                unsafe { (libc::close(ready_r), libc::close(release_w)) };
                let mut buf = [b'x'; 9];
                buf[..8].copy_from_slice(&1i64.to_ne_bytes());
                let worked = ns.semop(semid, &[op(0, 1, SEM_UNDO)], None).is_ok()
                    && ns.shmat(shmid, 0, 0).is_ok()
                    && ns.msgsnd(qid, buf.as_ptr() as usize, 1, 0).is_ok()
                    && (me % 8 != 0 || {
                        let done = wait_status(fork_child(&ns, || 0)) == 0;
                        // As the shim's wait wrappers do: the parent saw its
                        // child end, so every call from now on counts it gone.
                        ns.note_child_ended();
                        done
                    });
                // SAFETY: one byte from a live buffer; then wait for EOF.
                unsafe {
                    libc::write(ready_w, [worked as u8].as_ptr() as *const libc::c_void, 1);
                    while libc::read(release_r, buf.as_mut_ptr() as *mut libc::c_void, 1) > 0 {}
                }
                0
            })
        })
        .collect();
    // SAFETY: closing the parent's copies.
    unsafe { (libc::close(ready_w), libc::close(release_r)) };
    let mut worked = 0;
    for _ in 0..MANY {
        let mut byte = 0u8;
        // SAFETY: one byte into a live buffer.
        assert_eq!(unsafe { libc::read(ready_r, &mut byte as *mut u8 as *mut libc::c_void, 1) }, 1);
        worked += byte as usize;
    }
    assert_eq!(worked, MANY, "every process's calls worked");
    assert_eq!(ns.semctl(semid, 0, shared_state::sem::GETVAL, 0), Ok(MANY as i32));
    ns.shmctl(shmid, shared_state::abi::IPC_STAT, ds.as_mut_ptr() as usize).unwrap();
    assert_eq!(ds[11], MANY as u64, "nattch with all alive");
    let mut buf = [0u8; 9];
    let received = (0..).take_while(|_| ns.msgrcv(qid, buf.as_mut_ptr() as usize, 1, 0, IPC_NOWAIT) == Ok(1)).count();
    assert_eq!(received, MANY);
    // SAFETY: closing the release pipe lets every child go.
    unsafe { libc::close(release_w) };
    for pid in pids {
        assert_eq!(wait_status(pid), 0);
    }
    let me = std::process::id() as i32;
    eventually("every undo applied", || ns.semctl(semid, 0, shared_state::sem::GETVAL, 0) == Ok(0));
    ns.shmctl(shmid, shared_state::abi::IPC_STAT, ds.as_mut_ptr() as usize).unwrap();
    assert_eq!(ds[11], 0, "nattch after all exited");
    eventually("every record freed", || ns.region().live_records().iter().all(|&(_, pid, _)| pid == me));
    ns.region().check_invariants().unwrap();
    ns.region().request_collection();
    eventually("a collection", || ns.collect_lost().is_some());
    assert_eq!(ns.region().heap_account().unwrap().lost(), 0);
}

/// Two supervisors watch one box (a named box joined from two places):
/// when the one that holds the watch ends, the other takes it over, so the
/// box stays watched, and a death after that is repaired by it alone.
#[test]
fn a_second_supervisor_takes_over_when_the_first_ends() {
    let _serial = common::serial();
    let ns = std::sync::Arc::new(new_box());
    let semid = ns.semget(0, 1, 0o600).unwrap();
    let (hold_r, hold_w) = pipe();
    let first = fork_child(&ns, || {
        let ns = std::sync::Arc::new(Namespace::attach(ns.fd()).unwrap());
        ns.watch_deaths().unwrap();
        let mut byte = 0u8;
        // SAFETY: waits on a pipe until the test ends it.
        unsafe { libc::read(hold_r, &mut byte as *mut u8 as *mut libc::c_void, 1) };
        0
    });
    let supervisor = &ns.region().procs().watch.supervisor;
    eventually("the first supervisor to watch", || supervisor.is_held());
    ns.watch_deaths().unwrap();
    assert!(supervisor.held_by(first), "the first keeps the watch while it runs");
    // SAFETY: ending the first supervisor.
    unsafe { libc::kill(first, libc::SIGKILL) };
    wait_status(first);
    eventually("the second supervisor to take over", || supervisor.is_held());
    let worker = fork_child(&ns, || {
        ns.semop(semid, &[op(0, 1, SEM_UNDO)], None).unwrap();
        // SAFETY: plain system call: dies with its adjustment.
        unsafe { libc::raise(libc::SIGKILL) };
        0
    });
    wait_status(worker);
    // The test's own record (its supervisor threads reap) is the one left.
    let undone = || ns.region().procs().live.load(std::sync::atomic::Ordering::Relaxed) == 1;
    eventually("the supervisor to reap the worker", undone);
    assert_eq!(ns.semctl(semid, 0, shared_state::sem::GETVAL, 0), Ok(0));
    // SAFETY: closing our end of the pipe.
    unsafe { (libc::close(hold_r), libc::close(hold_w)) };
}
