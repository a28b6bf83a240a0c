//! Deaths inside critical sections, at chosen instructions: a child arms a
//! crash point (`shared_state::faults`) and dies by SIGKILL there, in the
//! middle of a call, holding the locks that call holds. The survivors must
//! then see what Linux guarantees: a semop, SETALL or exit's undo applied
//! whole or not at all, every sleeper woken that was owed a wake-up, a
//! removal finished, and a region whose invariants hold.
//!
//! No supervisor runs here: repairs happen when the next caller takes the
//! lock, or when a sleeper's watch finds the dead process (every 100 ms).
//! Run with `cargo test -p shared-state --features fault-injection`.

mod common;
use common::{allocated, eventually, fork_child, nattch, new_box, op, values, wait_status};

use shared_state::abi::*;
use shared_state::faults;
use shared_state::sem::*;
use shared_state::Namespace;
use std::time::{Duration, Instant};

fn set_all(ns: &Namespace, id: i32, values: &[u16]) {
    assert_eq!(ns.semctl(id, 0, SETALL, values.as_ptr() as usize), Ok(0));
}

/// Runs `call` in a child that dies at the `nth` pass of `point`; fails if
/// the child got through the call alive.
fn dies_at(ns: &Namespace, point: &'static str, nth: u32, call: impl FnOnce()) {
    let pid = fork_child(ns, || {
        faults::arm(point, nth);
        call();
        99
    });
    let status = wait_status(pid);
    assert!(
        libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL,
        "the child never reached {point} (status {status:#x})"
    );
}

/// The exit code of child `pid`, which must end within 10 s (a hang fails).
fn exit_code_within(pid: i32, what: &str) -> i32 {
    let start = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: status is writable.
        let done = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if done == pid {
            assert!(libc::WIFEXITED(status), "{what}: died (status {status:#x})");
            return libc::WEXITSTATUS(status);
        }
        if start.elapsed() > Duration::from_secs(10) {
            // SAFETY: killing our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("{what}: still blocked after 10 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Forks a child that dies with the test's thread: a failing test must not
/// leave a sleeper behind to hold the test's output open.
fn fork_sleeper(ns: &Namespace, child: impl FnOnce() -> i32) -> i32 {
    fork_child(ns, || {
        // SAFETY: plain system call.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        child()
    })
}

/// A child blocked in semop `ops` on `id`: exits 0 once done, else the errno.
fn sem_sleeper(ns: &Namespace, id: i32, ops: Vec<SemOp>) -> i32 {
    fork_sleeper(ns, || match ns.semop(id, &ops, None) {
        Ok(_) => 0,
        Err(e) => e,
    })
}

/// The invariants hold and no heap block is lost: whatever a process that
/// died held in hand was collected when its death was repaired (by the
/// next call that checks for the dead; not every call does).
fn consistent(ns: &Namespace) {
    ns.repair_dead();
    ns.region().check_invariants().unwrap();
    let lost = ns.region().heap_account().unwrap().lost();
    assert_eq!(lost, 0, "heap bytes reached by nothing");
}

fn ncnt(ns: &Namespace, id: i32, num: i32) -> i32 {
    ns.semctl(id, num, GETNCNT, 0).unwrap()
}

#[test]
fn a_semop_cut_short_changes_nothing() {
    for flags in [0, SEM_UNDO] {
        let ns = new_box();
        let id = ns.semget(IPC_PRIVATE, 3, 0o600).unwrap();
        set_all(&ns, id, &[5, 5, 5]);
        // Dies with two of three decrements made.
        dies_at(&ns, "sem.try_ops.after_op", 2, || {
            let _ = ns.semop(id, &[op(0, -1, flags), op(1, -1, flags), op(2, -1, flags)], None);
        });
        assert_eq!(values(&ns, id, 3), [5, 5, 5], "flags {flags:#x}: all or nothing");
        assert_eq!(ns.semop(id, &[op(0, -5, 0), op(1, -5, 0), op(2, -5, 0)], None), Ok(0));
        consistent(&ns);
    }
}

#[test]
fn a_waker_that_dies_after_committing_still_wakes_the_sleeper() {
    for point in ["sem.complete.committed", "sem.complete.woken", "sem.complete.done"] {
        let ns = new_box();
        let id = ns.semget(IPC_PRIVATE, 1, 0o600).unwrap();
        let sleeper = sem_sleeper(&ns, id, vec![op(0, -1, 0)]);
        eventually("the sleeper to queue", || ncnt(&ns, id, 0) == 1);
        // Past its spin, asleep on the futex: the waker's wake is then
        // left for the unlock (see `wait::finish`), which it never makes.
        std::thread::sleep(std::time::Duration::from_millis(50));
        dies_at(&ns, point, 1, || {
            let _ = ns.semop(id, &[op(0, 1, 0)], None);
        });
        assert_eq!(exit_code_within(sleeper, point), 0, "{point}: the sleeper's semop succeeded");
        assert_eq!(values(&ns, id, 1), [0], "{point}: one unit given and taken");
        assert_eq!(ncnt(&ns, id, 0), 0);
        consistent(&ns);
    }
}

#[test]
fn a_waker_that_dies_halfway_through_a_sleepers_operation_leaves_it_to_the_repair() {
    let ns = new_box();
    let id = ns.semget(IPC_PRIVATE, 2, 0o600).unwrap();
    let sleeper = sem_sleeper(&ns, id, vec![op(0, -1, 0), op(1, 1, 0)]);
    eventually("the sleeper to queue", || ncnt(&ns, id, 0) == 1);
    // The waker's own +2 passes the point once; it dies after the first of
    // the sleeper's two operations, made on the sleeper's behalf.
    dies_at(&ns, "sem.try_ops.after_op", 2, || {
        let _ = ns.semop(id, &[op(0, 2, 0)], None);
    });
    assert_eq!(exit_code_within(sleeper, "sleeper"), 0);
    assert_eq!(values(&ns, id, 2), [1, 1], "the waker's +2 once, the sleeper's operations once");
    consistent(&ns);
}

#[test]
fn a_reaper_that_dies_midway_leaves_the_undo_to_be_applied_once() {
    for point in ["sem.apply_undos.after_sem", "sem.apply_undos.applied", "sem.apply_undos.unlinked"] {
        let ns = new_box();
        let id = ns.semget(IPC_PRIVATE, 2, 0o600).unwrap();
        set_all(&ns, id, &[5, 5]);
        let holder = fork_child(&ns, || ns.semop(id, &[op(0, 1, SEM_UNDO), op(1, 1, SEM_UNDO)], None).map_or(1, |_| 0));
        assert_eq!(wait_status(holder), 0);
        // The next call reaps the holder; its caller dies in the middle.
        dies_at(&ns, point, 1, || {
            let _ = ns.semctl(id, 0, GETVAL, 0);
        });
        assert_eq!(values(&ns, id, 2), [5, 5], "{point}: the exit's undo applied once");
        // Past "unlinked", the reaper held the undo record alone, until
        // the collection that followed the repair after it.
        consistent(&ns);
    }
}

#[test]
fn a_setall_cut_short_changes_nothing() {
    let ns = new_box();
    let id = ns.semget(IPC_PRIVATE, 3, 0o600).unwrap();
    set_all(&ns, id, &[1, 2, 3]);
    assert_eq!(ns.semop(id, &[op(1, -1, SEM_UNDO)], None), Ok(0));
    dies_at(&ns, "sem.setall.after_sem", 2, || set_all(&ns, id, &[7, 7, 7]));
    assert_eq!(values(&ns, id, 3), [1, 1, 3]);
    // This process's adjustment survived: its exit would give the unit back.
    assert_eq!(ns.semop(id, &[op(1, 1, SEM_UNDO)], None), Ok(0));
    consistent(&ns);
}

#[test]
fn a_removal_cut_short_is_finished() {
    for point in ["sem.destroy.woke_one", "sem.complete.committed", "table.release.before_done"] {
        let ns = new_box();
        let key = 0x5eed;
        let id = ns.semget(key, 1, IPC_CREAT | 0o600).unwrap();
        let sleepers: Vec<i32> = (0..2).map(|_| sem_sleeper(&ns, id, vec![op(0, -1, 0)])).collect();
        eventually("both sleepers to queue", || ncnt(&ns, id, 0) == 2);
        dies_at(&ns, point, 1, || {
            let _ = ns.semctl(id, 0, IPC_RMID, 0);
        });
        for pid in sleepers {
            assert_eq!(exit_code_within(pid, point), libc::EIDRM, "{point}: a sleeper of a removed set");
        }
        assert_eq!(ns.semctl(id, 0, GETVAL, 0), Err(libc::EINVAL), "{point}: the set is gone");
        let again = ns.semget(key, 1, IPC_CREAT | IPC_EXCL | 0o600).expect("the key is free again");
        assert_ne!(again, id, "{point}: a new id");
        consistent(&ns);
    }
}

/// A child blocked in msgrcv of type `mtype` on `qid`: exits 0 if it got
/// a message of `want` bytes, else the errno (or 200 for a wrong size).
fn msg_receiver(ns: &Namespace, qid: i32, mtype: i64, want: usize) -> i32 {
    fork_sleeper(ns, || {
        let mut buf = [0u8; 8 + 256];
        match ns.msgrcv(qid, buf.as_mut_ptr() as usize, 256, mtype, 0) {
            Ok(n) if n as usize == want && buf[8..8 + want].iter().all(|&b| b == 0xab) => 0,
            Ok(_) => 200,
            Err(e) => e,
        }
    })
}

fn send(ns: &Namespace, qid: i32, mtype: i64, size: usize) -> Result<i32, i32> {
    let mut buf = vec![0xabu8; 8 + size];
    buf[..8].copy_from_slice(&mtype.to_ne_bytes());
    ns.msgsnd(qid, buf.as_ptr() as usize, size, 0)
}

/// Gives receivers just forked the time to queue (nothing reports a
/// sleeping receiver; if one were late, the sender would not reach the
/// crash point and `dies_at` would fail, not pass).
fn let_receivers_queue() {
    std::thread::sleep(Duration::from_millis(100));
}

#[test]
fn a_sender_that_dies_handing_off_a_message_still_delivers_it() {
    for point in ["msg.complete.committed", "msg.complete.woken"] {
        let ns = new_box();
        let qid = ns.msgget(IPC_PRIVATE, 0o600).unwrap();
        let receiver = msg_receiver(&ns, qid, 0, 100);
        let_receivers_queue();
        dies_at(&ns, point, 1, || {
            let _ = send(&ns, qid, 1, 100);
        });
        assert_eq!(exit_code_within(receiver, point), 0, "{point}: the receiver got the message");
        let mut buf = [0u8; 8 + 256];
        assert_eq!(ns.msgrcv(qid, buf.as_mut_ptr() as usize, 256, 0, IPC_NOWAIT), Err(libc::ENOMSG));
        consistent(&ns);
    }
}

#[test]
fn a_queue_removal_cut_short_is_finished() {
    for point in ["msg.complete.woken", "msg.destroy.unlinked_message", "table.release.before_done"] {
        let ns = new_box();
        let key = 0x5eee;
        let qid = ns.msgget(key, IPC_CREAT | 0o600).unwrap();
        assert_eq!(send(&ns, qid, 1, 10), Ok(0));
        let receivers: Vec<i32> = (0..2).map(|_| msg_receiver(&ns, qid, 5, 10)).collect();
        let_receivers_queue();
        dies_at(&ns, point, 1, || {
            let _ = ns.msgctl(qid, IPC_RMID, 0);
        });
        for pid in receivers {
            assert_eq!(exit_code_within(pid, point), libc::EIDRM, "{point}: a receiver of a removed queue");
        }
        assert_eq!(send(&ns, qid, 1, 10), Err(libc::EINVAL), "{point}: the queue is gone");
        ns.msgget(key, IPC_CREAT | IPC_EXCL | 0o600).expect("the key is free again");
        // Past "unlinked_message", the remover held the dummy alone, until
        // the collection that followed the repair after it.
        consistent(&ns);
    }
}

/// With a supervisor watching (as under `ipcbox run`), a sleeper sleeps
/// without waking to check; the waker's death must reach the supervisor,
/// which repairs at once what it abandoned.
#[test]
fn with_a_supervisor_a_waker_that_dies_after_committing_still_wakes_the_sleeper() {
    let ns = std::sync::Arc::new(new_box());
    ns.watch_deaths().unwrap();
    let id = ns.semget(IPC_PRIVATE, 1, 0o600).unwrap();
    let qid = ns.msgget(IPC_PRIVATE, 0o600).unwrap();
    // Each point: the sleeper, asleep on its futex, is woken by the repair
    // (at "done", the waker left the wake for its unlock, never made).
    for point in ["sem.complete.committed", "sem.complete.woken", "sem.complete.done"] {
        let sleeper = sem_sleeper(&ns, id, vec![op(0, -1, 0)]);
        eventually("the sleeper to queue", || ncnt(&ns, id, 0) == 1);
        std::thread::sleep(Duration::from_millis(50));
        dies_at(&ns, point, 1, || {
            let _ = ns.semop(id, &[op(0, 1, 0)], None);
        });
        let start = Instant::now();
        assert_eq!(exit_code_within(sleeper, point), 0);
        assert!(start.elapsed() < Duration::from_secs(1), "{point}: woken promptly, not by a timer");
    }
    for point in ["msg.complete.committed", "msg.complete.woken"] {
        let receiver = msg_receiver(&ns, qid, 0, 100);
        let_receivers_queue();
        dies_at(&ns, point, 1, || {
            let _ = send(&ns, qid, 1, 100);
        });
        let start = Instant::now();
        assert_eq!(exit_code_within(receiver, point), 0);
        assert!(start.elapsed() < Duration::from_secs(1), "{point}: woken promptly, not by a timer");
    }
    consistent(&ns);
}

#[test]
fn an_attach_or_detach_cut_short_leaves_nattch_right() {
    for point in ["shm.at.entry_pushed", "shm.dt.entry_removed"] {
        let ns = new_box();
        let shmid = ns.shmget(IPC_PRIVATE, 4096, 0o600).unwrap();
        let mine = ns.shmat(shmid, 0, 0).unwrap();
        dies_at(&ns, point, 1, || {
            if let Ok(addr) = ns.shmat(shmid, 0, 0) {
                let _ = ns.shmdt(addr);
            }
        });
        assert_eq!(nattch(&ns, shmid), Ok(1), "{point}: only this process's attachment");
        // Removed while attached, the segment goes with the last detach.
        assert_eq!(ns.shmctl(shmid, IPC_RMID, 0), Ok(0));
        assert_eq!(ns.shmdt(mine), Ok(()));
        assert_eq!(nattch(&ns, shmid), Err(libc::EINVAL), "{point}: destroyed at the last detach");
        consistent(&ns);
    }
}

#[test]
fn a_segment_removal_cut_short_is_finished() {
    let ns = new_box();
    let key = 0x5eef;
    let shmid = ns.shmget(key, 8192, IPC_CREAT | 0o600).unwrap();
    dies_at(&ns, "shm.destroy.begun", 1, || {
        let _ = ns.shmctl(shmid, IPC_RMID, 0);
    });
    assert_eq!(nattch(&ns, shmid), Err(libc::EINVAL), "the segment is gone");
    let again = ns.shmget(key, 8192, IPC_CREAT | IPC_EXCL | 0o600).expect("the key is free again");
    assert_ne!(again, shmid);
    consistent(&ns);
}

#[test]
fn a_creation_cut_short_before_it_is_counted_is_counted() {
    let ns = new_box();
    dies_at(&ns, "table.publish.before_count", 1, || {
        let _ = ns.semget(0x600d, 2, IPC_CREAT | 0o600);
    });
    let id = ns.semget(0x600d, 2, 0).expect("the set was made");
    assert_eq!(ns.semop(id, &[op(1, 1, 0)], None), Ok(0));
    dies_at(&ns, "table.publish.before_count", 1, || {
        let _ = ns.msgget(0x600d, IPC_CREAT | 0o600);
    });
    let qid = ns.msgget(0x600d, 0).expect("the queue was made");
    assert_eq!(send(&ns, qid, 1, 10), Ok(0));
    // check_invariants compares each facility's count with its live slots.
    consistent(&ns);
}

fn receive(ns: &Namespace, qid: i32, mtype: i64) -> Result<isize, i32> {
    let mut buf = [0u8; 8 + 256];
    ns.msgrcv(qid, buf.as_mut_ptr() as usize, 256, mtype, IPC_NOWAIT)
}

/// A process killed with a heap block in hand (allocated and not yet
/// linked, unlinked and not yet freed, a batch between a magazine and the
/// heap) loses it only until its death is repaired: the next call reaps
/// it and then collects what no one reaches.
#[test]
fn blocks_a_process_killed_mid_call_held_in_hand_are_collected() {
    let points = [
        "msg.snd.allocated",
        "msg.rcv.old_dummy",
        "msg.rcv.taken",
        "sem.undo.allocated",
        "sem.journal.allocated",
        "magazine.batch_taken",
        "magazine.batch_handing",
    ];
    for point in points {
        let ns = new_box();
        let qid = ns.msgget(IPC_PRIVATE, 0o600).unwrap();
        let id = ns.semget(IPC_PRIVATE, 2, 0o600).unwrap();
        match point {
            "msg.rcv.old_dummy" => assert_eq!(send(&ns, qid, 1, 100), Ok(0)),
            "msg.rcv.taken" => {
                assert_eq!(send(&ns, qid, 1, 100), Ok(0));
                assert_eq!(send(&ns, qid, 2, 100), Ok(0));
            }
            // A batch on the heap's stack: the parent's magazine hands on
            // the 15 message blocks it frees (the queue's first dummy is
            // too small to be cached).
            "magazine.batch_taken" => {
                (0..16).for_each(|_| assert_eq!(send(&ns, qid, 1, 100), Ok(0)));
                (0..16).for_each(|_| assert_eq!(receive(&ns, qid, 0), Ok(100)));
            }
            "magazine.batch_handing" => (0..16).for_each(|_| assert_eq!(send(&ns, qid, 1, 100), Ok(0))),
            _ => {}
        }
        dies_at(&ns, point, 1, || match point {
            "msg.snd.allocated" | "magazine.batch_taken" => {
                let _ = send(&ns, qid, 1, 100);
            }
            "msg.rcv.old_dummy" => {
                let _ = receive(&ns, qid, 0);
            }
            "msg.rcv.taken" => {
                let _ = receive(&ns, qid, 2);
            }
            "magazine.batch_handing" => (0..16).for_each(|_| {
                let _ = receive(&ns, qid, 0);
            }),
            "sem.undo.allocated" => {
                let _ = ns.semop(id, &[op(0, 1, SEM_UNDO)], None);
            }
            _ => {
                let _ = ns.semop(id, &[op(0, 1, 0), op(1, 1, 0)], None);
            }
        });
        let lost = ns.region().heap_account().unwrap().lost();
        assert!(lost > 0, "{point}: the child died with nothing in hand");
        // The next call reaps the child, then collects.
        assert_eq!(ns.semctl(id, 0, GETVAL, 0), Ok(0), "{point}: the semop never happened");
        consistent(&ns);
        assert_eq!(ns.collect_lost(), Some(0), "{point}: nothing left to collect");
    }
}

/// A process killed while it maps more of the region (at each growth the
/// first calls of a process that has just joined make, under whatever lock
/// each is made) or just after it mapped a new piece of the heap, before
/// raising the bump over it, leaves the box usable and consistent: a
/// growth changes nothing in the region.
#[test]
fn a_death_while_the_region_grows_leaves_the_box_usable() {
    for point in ["region.grown", "heap.bump.mapped"] {
        let ns = new_box();
        let id = ns.semget(IPC_PRIVATE, 2, 0o600).unwrap();
        let qid = ns.msgget(IPC_PRIVATE, 0o600).unwrap();
        let shm = ns.shmget(IPC_PRIVATE, 4096, 0o600).unwrap();
        let mut deaths = 0;
        for nth in 1.. {
            let pid = fork_child(&ns, || {
                // As after an exec: nothing of the tables or the heap mapped.
                let fresh = Namespace::attach(ns.fd()).unwrap();
                faults::arm(point, nth);
                fresh.semop(id, &[op(0, 1, SEM_UNDO)], None).unwrap();
                assert_eq!(send(&fresh, qid, 1, 100), Ok(0));
                assert_eq!(send(&fresh, qid, 1, 5000), Ok(0));
                fresh.shmat(shm, 0, 0).unwrap();
                fresh.semget(IPC_PRIVATE, 1, 0o600).unwrap();
                fresh.msgget(IPC_PRIVATE, 0o600).unwrap();
                0
            });
            let status = wait_status(pid);
            if libc::WIFEXITED(status) {
                assert_eq!(libc::WEXITSTATUS(status), 0, "{point}: the calls failed");
                break;
            }
            assert!(libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL);
            deaths += 1;
            // The box works on: the dead child's undo applied, its
            // attachment gone, its messages there to take.
            consistent(&ns);
            assert_eq!(ns.semctl(id, 0, GETVAL, 0), Ok(0), "{point} #{nth}");
            assert_eq!(nattch(&ns, shm), Ok(0), "{point} #{nth}");
            let mut buf = vec![0u8; 8 + 8192];
            let mut take = || ns.msgrcv(qid, buf.as_mut_ptr() as usize, 8192, 0, IPC_NOWAIT);
            while take().is_ok() {}
            assert_eq!(send(&ns, qid, 1, 5000), Ok(0));
            assert_eq!(take(), Ok(5000));
        }
        let least = if point == "region.grown" { 5 } else { 1 };
        assert!(deaths >= least, "{point}: the calls grew the region only {deaths} times");
        consistent(&ns);
    }
}

/// With a supervisor watching, what a killed process held in hand is
/// collected without any other call into the box.
#[test]
fn with_a_supervisor_blocks_held_in_hand_are_collected_at_once() {
    let ns = std::sync::Arc::new(new_box());
    ns.watch_deaths().unwrap();
    let qid = ns.msgget(IPC_PRIVATE, 0o600).unwrap();
    dies_at(&ns, "msg.snd.allocated", 1, || {
        let _ = send(&ns, qid, 1, 100);
    });
    eventually("the supervisor to collect", || ns.region().heap_account().unwrap().lost() == 0);
    assert!(ns.region().live_records().iter().all(|&(_, pid, _)| pid == std::process::id() as i32));
    consistent(&ns);
}

/// A collection needs an instant when no thread is inside a call that
/// moves heap blocks: while a process is stopped inside msgsnd, what a
/// killed one held stays unreachable, however often the survivors call;
/// once it goes on, their later calls (no supervisor runs) collect it.
#[test]
fn without_a_supervisor_a_busy_box_collects_once_quiet() {
    let ns = new_box();
    let qid = ns.msgget(IPC_PRIVATE, 0o600).unwrap();
    let id = ns.semget(IPC_PRIVATE, 1, 0o600).unwrap();
    let stopped = fork_sleeper(&ns, || {
        faults::arm_stop("msg.snd.allocated", 1);
        send(&ns, qid, 1, 100).map_or(1, |_| 0)
    });
    let mut status = 0;
    // SAFETY: status is writable; waiting for our own child to stop.
    assert_eq!(unsafe { libc::waitpid(stopped, &mut status, libc::WUNTRACED) }, stopped);
    assert!(libc::WIFSTOPPED(status), "the sender stopped inside msgsnd");
    dies_at(&ns, "msg.snd.allocated", 1, || {
        let _ = send(&ns, qid, 1, 100);
    });
    for _ in 0..1000 {
        assert_eq!(ns.semctl(id, 0, GETVAL, 0), Ok(0));
    }
    let lost = || ns.region().heap_account().unwrap().lost();
    assert!(lost() > 0, "collected while a process was inside a call");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(stopped, libc::SIGCONT) };
    assert_eq!(exit_code_within(stopped, "the stopped sender"), 0);
    let mut calls = 0;
    while lost() != 0 {
        assert_eq!(ns.semctl(id, 0, GETVAL, 0), Ok(0));
        calls += 1;
        assert!(calls < 100_000, "never collected");
    }
    assert_eq!(receive(&ns, qid, 0), Ok(100), "the stopped sender's message");
    consistent(&ns);
}

/// A table's top given back (`SlotTable::trim_free_top`) or made again
/// (`alloc_index`) by a process that dies midway: the box goes on making
/// queues, with ids none of the earlier ones had, an id of a removed
/// queue fails, the live queue below is untouched, and the next trim gives
/// the memory back.
#[test]
fn a_death_while_a_table_gives_its_top_back_leaves_it_usable() {
    use shared_state::region::{HEAP_OFFSET, MSG_SLOTS_OFFSET};
    let msg_table = |ns: &Namespace| allocated(ns, MSG_SLOTS_OFFSET, HEAP_OFFSET);
    for point in ["table.trim.lowered", "table.trim.marked", "table.alloc.before_initialised"] {
        let ns = new_box();
        let kept = ns.msgget(0x7e1, IPC_CREAT | 0o600).unwrap();
        assert_eq!(send(&ns, kept, 1, 10), Ok(0));
        let before = msg_table(&ns);
        let mut seen = std::collections::HashSet::new();
        let mut make = |ns: &Namespace, count: usize| -> Vec<i32> {
            let ids: Vec<i32> = (0..count).map(|_| ns.msgget(IPC_PRIVATE, 0o600).unwrap()).collect();
            for &id in &ids {
                assert!(seen.insert(id), "{point}: id {id:#x} handed out twice");
                assert_eq!(send(ns, id, 1, 10), Ok(0), "{point}");
            }
            ids
        };
        let queues = make(&ns, 2000);
        let (last, rest) = queues.split_last().unwrap();
        rest.iter().for_each(|&id| assert_eq!(ns.msgctl(id, IPC_RMID, 0), Ok(0)));
        if point == "table.alloc.before_initialised" {
            assert_eq!(ns.msgctl(*last, IPC_RMID, 0), Ok(0));
            // The first creations take free slots below the table's top.
            dies_at(&ns, point, 1, || {
                for _ in 0..1000 {
                    let _ = ns.msgget(IPC_PRIVATE, 0o600);
                }
            });
        } else {
            dies_at(&ns, point, 1, || {
                let _ = ns.msgctl(*last, IPC_RMID, 0);
            });
        }
        let mut ds = [0u8; 120];
        assert_eq!(ns.msgctl(*last, IPC_STAT, ds.as_mut_ptr() as usize), Err(libc::EINVAL), "{point}");
        consistent(&ns);
        let again = make(&ns, 2000);
        for &id in queues.iter().step_by(101) {
            assert_eq!(send(&ns, id, 1, 10), Err(libc::EINVAL), "{point}: a removed queue");
        }
        assert_eq!(ns.msgget(0x7e1, 0), Ok(kept), "{point}");
        assert_eq!(receive(&ns, kept, 1), Ok(10), "{point}");
        consistent(&ns);
        again.iter().for_each(|&id| assert_eq!(ns.msgctl(id, IPC_RMID, 0), Ok(0)));
        // The box's own dead were repaired: nothing but the kept queue's
        // slot (and what a trim leaves) stays in memory.
        assert!(msg_table(&ns) <= before + (64 << 10) + 4096, "{point}: msg table {} after", msg_table(&ns));
        consistent(&ns);
    }
}

/// A collector that dies as it gives the heap's top back (the gap's pages
/// punched, the bump not yet lowered) leaves the gap to the next
/// collection: nothing is lost, the memory still goes back, and blocks
/// cut from the heap afterwards work.
#[test]
fn a_collector_killed_giving_the_heaps_top_back_leaves_it_to_the_next() {
    use shared_state::region::{HEAP_OFFSET, HEAP_SIZE};
    let heap = |ns: &Namespace| allocated(ns, HEAP_OFFSET, HEAP_OFFSET + HEAP_SIZE as usize);
    let ns = new_box();
    let kept = ns.msgget(0x7e2, IPC_CREAT | 0o600).unwrap();
    assert_eq!(send(&ns, kept, 1, 10), Ok(0));
    let before = heap(&ns);
    let queues: Vec<i32> = (0..2000).map(|_| ns.msgget(IPC_PRIVATE, 0o600).unwrap()).collect();
    queues.iter().for_each(|&id| assert_eq!(send(&ns, id, 1, 1000), Ok(0)));
    let (last, rest) = queues.split_last().unwrap();
    rest.iter().for_each(|&id| assert_eq!(ns.msgctl(id, IPC_RMID, 0), Ok(0)));
    dies_at(&ns, "collect.top_punched", 1, || {
        let _ = ns.msgctl(*last, IPC_RMID, 0);
    });
    consistent(&ns);
    assert!(heap(&ns) <= before + (64 << 10), "heap {} after, {before} before", heap(&ns));
    let again: Vec<i32> = (0..100).map(|_| ns.msgget(IPC_PRIVATE, 0o600).unwrap()).collect();
    for &id in &again {
        assert_eq!(send(&ns, id, 3, 200), Ok(0));
        assert_eq!(receive(&ns, id, 3), Ok(200));
    }
    assert_eq!(receive(&ns, kept, 1), Ok(10));
    consistent(&ns);
}
