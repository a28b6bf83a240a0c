//! Many processes at once on all three facilities, some killed mid-run:
//! afterwards the box holds what it held before they started (no heap
//! block, process record or attachment left behind; see the README's known
//! deviations for the one block a kill at the wrong moment may leave).

mod common;

use common::*;
use shared_state::abi::IPC_NOWAIT;
use shared_state::sem::{SemOp, SEM_UNDO};
use shared_state::Namespace;

const PROCS: usize = 64;
const ROUNDS: u32 = 200;

fn op(num: u16, op: i16, flags: i16) -> SemOp {
    SemOp { num, op, flags }
}

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
    many_processes(false);
}

#[test]
fn many_processes_some_killed_leave_all_but_stray_blocks() {
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
    let left_behind = ns.region().heap_in_use() - baseline;
    if kill {
        // A process killed between allocating a waiter, undo record or
        // message block and linking it (or unlinking and freeing it) loses
        // that block (README: known deviations): at most one per kill.
        assert!(left_behind <= (PROCS as u64 / 4) * 128, "{left_behind} bytes left behind by {} kills", PROCS / 4);
    } else {
        assert_eq!(left_behind, 0, "no undo record, waiter, message or block left behind");
        assert_eq!(ns.region().heap_account().unwrap().lost(), 0, "every heap block reached by something");
    }
    assert_eq!(ns.semctl(semid, 0, shared_state::abi::IPC_RMID, 0), Ok(0));
}
