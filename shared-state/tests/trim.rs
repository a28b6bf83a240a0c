//! Slot tables give their free top back (`SlotTable::trim_free_top`): the
//! memory of slots above the highest live object returns to the system
//! once the objects are removed, lookups of ids of the slots given back
//! fail with EINVAL (as of any removed object), and a slot made again
//! hands out ids its earlier lives never had. Stale lookups (ids of
//! removed objects) race the trims from other threads and processes.

mod common;
use common::{allocated, fork_child, new_box, serial, wait_status};

use shared_state::abi::*;
use shared_state::region::{
    HEAP_OFFSET, HEAP_SIZE, HEAP_START, MSG_SLOTS_OFFSET, PAGE_SIZE, PROCS_OFFSET, SEM_SLOTS_OFFSET, SHM_SLOTS_OFFSET,
};
use shared_state::sem::{SemOp, GETVAL};
use shared_state::Namespace;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most bytes of a table left in memory once its objects are gone: twice
/// the least a trim gives back (`TRIM_MIN_BYTES`), and a page.
const KEPT: usize = (64 << 10) + 4096;

fn shm_table(ns: &Namespace) -> usize {
    allocated(ns, SHM_SLOTS_OFFSET, PROCS_OFFSET)
}

fn msg_table(ns: &Namespace) -> usize {
    allocated(ns, MSG_SLOTS_OFFSET, HEAP_OFFSET)
}

fn sem_table(ns: &Namespace) -> usize {
    allocated(ns, SEM_SLOTS_OFFSET, MSG_SLOTS_OFFSET)
}

/// The semaphore array zone (see `sem::zone_array`).
fn sem_zone(ns: &Namespace) -> usize {
    allocated(ns, HEAP_OFFSET + PAGE_SIZE as usize, HEAP_OFFSET + HEAP_START as usize)
}

fn up(num: u16) -> [SemOp; 1] {
    [SemOp { num, op: 1, flags: 0 }]
}

fn down(num: u16) -> [SemOp; 1] {
    [SemOp { num, op: -1, flags: 0 }]
}

/// Makes `count` sets of `nsems` semaphores, turns lock-free semops on in
/// each (a streak of single operations), and returns their ids.
fn lock_free_sets(ns: &Namespace, count: usize, nsems: i32) -> Vec<i32> {
    let sets: Vec<i32> = (0..count).map(|_| ns.semget(IPC_PRIVATE, nsems, 0o600).unwrap()).collect();
    for &id in &sets {
        for _ in 0..20 {
            assert_eq!(ns.semop(id, &up(0), None), Ok(0));
            assert_eq!(ns.semop(id, &down(0), None), Ok(0));
        }
    }
    sets
}

fn heap(ns: &Namespace) -> usize {
    allocated(ns, HEAP_OFFSET, HEAP_OFFSET + HEAP_SIZE as usize)
}

fn stat_msg(ns: &Namespace, id: i32) -> Result<i32, i32> {
    let mut ds = [0u8; 120];
    ns.msgctl(id, IPC_STAT, ds.as_mut_ptr() as usize)
}

fn stat_shm(ns: &Namespace, id: i32) -> Result<i32, i32> {
    let mut ds = [0u8; 112];
    ns.shmctl(id, IPC_STAT, ds.as_mut_ptr() as usize)
}

fn send(ns: &Namespace, id: i32) -> Result<i32, i32> {
    let msg = [1u64, 0];
    ns.msgsnd(id, msg.as_ptr() as usize, 8, IPC_NOWAIT)
}

/// Makes `count` queues and segments, then removes them all, in the order
/// given; returns their ids.
fn churn(ns: &Namespace, count: usize, reverse: bool) -> (Vec<i32>, Vec<i32>) {
    let queues: Vec<i32> = (0..count).map(|_| ns.msgget(IPC_PRIVATE, 0o600).unwrap()).collect();
    let segments: Vec<i32> = (0..count).map(|_| ns.shmget(IPC_PRIVATE, 4096, 0o600).unwrap()).collect();
    for &id in &queues {
        assert_eq!(send(ns, id), Ok(0));
    }
    let order: Vec<usize> = if reverse { (0..count).rev().collect() } else { (0..count).collect() };
    for &i in &order {
        assert_eq!(ns.msgctl(queues[i], IPC_RMID, 0), Ok(0));
        assert_eq!(ns.shmctl(segments[i], IPC_RMID, 0), Ok(0));
    }
    (queues, segments)
}

#[test]
fn removed_objects_give_their_table_memory_back() {
    let _serial = serial();
    let ns = new_box();
    let keep_queue = ns.msgget(0x7ab1e, IPC_CREAT | 0o600).unwrap();
    let keep_segment = ns.shmget(0x7ab1e, 4096, IPC_CREAT | 0o600).unwrap();
    let (shm_before, msg_before) = (shm_table(&ns), msg_table(&ns));
    let mut seen = HashSet::new();
    for round in 0..3 {
        let (queues, segments) = churn(&ns, 3000, round == 1);
        assert!(queues.iter().all(|&id| seen.insert(('q', id))), "round {round}: a queue id handed out twice");
        assert!(segments.iter().all(|&id| seen.insert(('s', id))), "round {round}: a segment id handed out twice");
        // A table smaller than twice the least a trim gives back is kept.
        assert!(shm_table(&ns) <= shm_before + KEPT, "round {round}: shm table {} after", shm_table(&ns));
        assert!(msg_table(&ns) <= msg_before + KEPT, "round {round}: msg table {} after", msg_table(&ns));
        for (&queue, &segment) in queues.iter().zip(&segments).step_by(97) {
            assert_eq!(stat_msg(&ns, queue), Err(libc::EINVAL));
            assert_eq!(send(&ns, queue), Err(libc::EINVAL));
            assert_eq!(stat_shm(&ns, segment), Err(libc::EINVAL));
            assert_eq!(ns.shmat(segment, 0, 0), Err(libc::EINVAL));
        }
        assert_eq!(stat_msg(&ns, keep_queue), Ok(0), "round {round}: a live queue below the trim");
        assert_eq!(stat_shm(&ns, keep_segment), Ok(0), "round {round}: a live segment below the trim");
        ns.region().check_invariants().unwrap();
    }
    // The keys index still works across slots made again.
    assert_eq!(ns.msgget(0x7ab1e, 0), Ok(keep_queue));
    assert_eq!(ns.shmget(0x7ab1e, 0, 0), Ok(keep_segment));
}

#[test]
fn a_live_object_above_the_free_slots_keeps_the_table() {
    let _serial = serial();
    let ns = new_box();
    let queues: Vec<i32> = (0..2000).map(|_| ns.msgget(IPC_PRIVATE, 0o600).unwrap()).collect();
    let full = msg_table(&ns);
    for &id in &queues[..1999] {
        assert_eq!(ns.msgctl(id, IPC_RMID, 0), Ok(0));
    }
    assert_eq!(msg_table(&ns), full, "slots below a live one are given back");
    assert_eq!(send(&ns, queues[1999]), Ok(0));
    assert_eq!(ns.msgctl(queues[1999], IPC_RMID, 0), Ok(0));
    assert!(msg_table(&ns) < full / 8, "the top given back once the last object went ({} of {full})", msg_table(&ns));
    ns.region().check_invariants().unwrap();
}

/// Runs `look` (which works until told to stop, and returns the rounds it
/// made) in three threads, given offsets 0 to 2, and in a forked process,
/// given 3, while `churn(cycle)` runs over and over for `seconds` (and at
/// least `cycles` times); every looker must end well, after a round.
fn race_lookers<L>(ns: &Arc<Namespace>, seconds: u64, cycles: usize, look: L, mut churn: impl FnMut(usize))
where
    L: Fn(&Namespace, &AtomicBool, usize) -> u64 + Clone + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let child = {
        let (ns, look) = (ns.clone(), look.clone());
        fork_child(&ns.clone(), move || {
            // SAFETY: plain system call.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
            let deadline = Instant::now() + Duration::from_secs(seconds + 1);
            let stop = AtomicBool::new(false);
            std::thread::scope(|scope| {
                scope.spawn(|| {
                    while Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    stop.store(true, Relaxed);
                });
                i32::from(look(&ns, &stop, 3) == 0)
            })
        })
    };
    let threads: Vec<_> = (0..3)
        .map(|offset| {
            let (ns, stop, look) = (ns.clone(), stop.clone(), look.clone());
            std::thread::spawn(move || look(&ns, &stop, offset))
        })
        .collect();
    let start = Instant::now();
    let mut cycle = 0;
    while start.elapsed() < Duration::from_secs(seconds) || cycle < cycles {
        churn(cycle);
        cycle += 1;
    }
    stop.store(true, Relaxed);
    for thread in threads {
        assert!(thread.join().expect("a looking thread failed") > 0);
    }
    let status = wait_status(child);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "the looking process: status {status:#x}");
}

/// Threads and a forked process look up removed ids (IPC_STAT, msgsnd,
/// shmat) and live ones without pause while the main thread makes and
/// removes thousands of objects, so that trims mark, punch and remake the
/// slots under their lookups: a removed id always fails with EINVAL, a
/// live one always works, and nothing crashes or hangs.
#[test]
fn stale_lookups_race_trims() {
    let _serial = serial();
    let ns = Arc::new(new_box());
    let live_queue = ns.msgget(IPC_PRIVATE, 0o600).unwrap();
    let live_segment = ns.shmget(IPC_PRIVATE, 4096, 0o600).unwrap();
    let (old_queues, old_segments) = churn(&ns, 2000, false);
    let look = move |ns: &Namespace, stop: &AtomicBool, offset: usize| -> u64 {
        let mut rounds = 0;
        while !stop.load(Relaxed) {
            for i in (offset..old_queues.len()).step_by(7) {
                assert_eq!(stat_msg(ns, old_queues[i]), Err(libc::EINVAL), "a removed queue");
                assert_eq!(send(ns, old_queues[i]), Err(libc::EINVAL), "a removed queue");
                assert_eq!(stat_shm(ns, old_segments[i]), Err(libc::EINVAL), "a removed segment");
            }
            assert_eq!(stat_msg(ns, live_queue), Ok(0), "the live queue");
            assert_eq!(stat_shm(ns, live_segment), Ok(0), "the live segment");
            rounds += 1;
        }
        rounds
    };
    race_lookers(&ns, 3, 4, look, |cycle| {
        churn(&ns, 1500, cycle % 2 == 1);
    });
    // Pages that stale lookups faulted in again, or whose locks they held
    // at a trim, go back with the next trim.
    churn(&ns, 1500, false);
    assert!(msg_table(&ns) <= KEPT, "msg table {} after", msg_table(&ns));
    assert!(shm_table(&ns) <= KEPT, "shm table {} after", shm_table(&ns));
    ns.region().check_invariants().unwrap();
}

/// When a table gives its top back, the free heap blocks go back too (the
/// messages and queues of the objects removed): dropped from the free
/// lists and freed whole by a collection, the bump lowered over the top.
/// Blocks the process's magazine keeps stay, as do live queues' messages.
#[test]
fn the_heap_gives_back_what_removed_queues_held() {
    let _serial = serial();
    let ns = new_box();
    let keep = ns.msgget(0x7ab1e, IPC_CREAT | 0o600).unwrap();
    assert_eq!(send(&ns, keep), Ok(0));
    let before = heap(&ns);
    for round in 0..3 {
        let queues: Vec<i32> = (0..3000).map(|_| ns.msgget(IPC_PRIVATE, 0o600).unwrap()).collect();
        for (i, &id) in queues.iter().enumerate() {
            // Messages of several sizes: blocks of several classes.
            let body = [7u8; 8 + 4000];
            let size = [8, 100, 1000, 4000][i % 4];
            assert_eq!(ns.msgsnd(id, body.as_ptr() as usize, size, IPC_NOWAIT), Ok(0));
        }
        let full = heap(&ns);
        queues.iter().for_each(|&id| assert_eq!(ns.msgctl(id, IPC_RMID, 0), Ok(0)));
        let after = heap(&ns);
        eprintln!("round {round}: heap {before} before, {full} full, {after} after");
        assert!(after <= before + (128 << 10), "round {round}: heap {after} after, {before} before, {full} full");
        assert_eq!(ns.region().heap_account().unwrap().lost(), 0, "round {round}");
        ns.region().check_invariants().unwrap();
    }
    let mut buf = [0u8; 8 + 64];
    assert_eq!(ns.msgrcv(keep, buf.as_mut_ptr() as usize, 64, 0, IPC_NOWAIT), Ok(8), "the live queue's message");
}

/// The semaphore table gives its top back with the slots' own arrays in
/// the zone; a set larger than a zone array keeps its slot (and the slots
/// below it) in the table. Ids stay unique across slots made again.
#[test]
fn removed_sets_give_their_table_and_arrays_back() {
    let _serial = serial();
    let ns = new_box();
    let keep = ns.semget(0x5e7, 2, IPC_CREAT | 0o600).unwrap();
    assert_eq!(ns.semop(keep, &up(1), None), Ok(0));
    let (table_before, zone_before, heap_before) = (sem_table(&ns), sem_zone(&ns), heap(&ns));
    let mut seen = HashSet::new();
    for round in 0..3 {
        let sets = lock_free_sets(&ns, 2000, 1 + round * 3);
        assert!(sets.iter().all(|&id| seen.insert(id)), "round {round}: an id handed out twice");
        sets.iter().for_each(|&id| assert_eq!(ns.semctl(id, 0, IPC_RMID, 0), Ok(0)));
        assert!(sem_table(&ns) <= table_before + KEPT, "round {round}: sem table {}", sem_table(&ns));
        assert!(sem_zone(&ns) <= zone_before + 4096, "round {round}: zone {}", sem_zone(&ns));
        assert!(heap(&ns) <= heap_before + KEPT, "round {round}: heap {}", heap(&ns));
        for &id in sets.iter().step_by(97) {
            assert_eq!(ns.semop(id, &up(0), None), Err(libc::EINVAL), "round {round}: a removed set");
            assert_eq!(ns.semctl(id, 0, GETVAL, 0), Err(libc::EINVAL), "round {round}: a removed set");
        }
        assert_eq!(ns.semctl(keep, 1, GETVAL, 0), Ok(1), "round {round}: the live set");
        ns.region().check_invariants().unwrap();
        assert_eq!(ns.region().heap_account().unwrap().lost(), 0);
    }
    // A large set at the top keeps the table below it.
    let sets = lock_free_sets(&ns, 2000, 1);
    let large = ns.semget(IPC_PRIVATE, 64, 0o600).unwrap();
    sets.iter().for_each(|&id| assert_eq!(ns.semctl(id, 0, IPC_RMID, 0), Ok(0)));
    assert_eq!(ns.semctl(large, 0, IPC_RMID, 0), Ok(0));
    assert!(sem_table(&ns) > table_before + KEPT, "a slot keeping a heap array was given back");
    ns.region().check_invariants().unwrap();
    assert_eq!(ns.region().heap_account().unwrap().lost(), 0);
}

/// Lock-free semops on removed sets race the trims that give their slots
/// and zone arrays back (threads and a forked process), while others work
/// a live lock-free set: a removed set fails with EINVAL, the live set's
/// counts come out exact, and the region stays consistent.
#[test]
fn stale_lock_free_semops_race_trims() {
    let _serial = serial();
    let ns = Arc::new(new_box());
    let live = lock_free_sets(&ns, 1, 4)[0];
    let old = lock_free_sets(&ns, 2000, 2);
    old.iter().for_each(|&id| assert_eq!(ns.semctl(id, 0, IPC_RMID, 0), Ok(0)));
    let look = move |ns: &Namespace, stop: &AtomicBool, offset: usize| -> u64 {
        let mut rounds = 0;
        while !stop.load(Relaxed) {
            for i in (offset..old.len()).step_by(5) {
                assert_eq!(ns.semop(old[i], &up(1), None), Err(libc::EINVAL), "a removed set");
            }
            assert_eq!(ns.semop(live, &up(offset as u16 % 4), None), Ok(0));
            assert_eq!(ns.semop(live, &down(offset as u16 % 4), None), Ok(0));
            rounds += 1;
        }
        rounds
    };
    race_lookers(&ns, 2, 3, look, |cycle| {
        let sets = lock_free_sets(&ns, 1500, 1 + cycle as i32 % 8);
        sets.iter().for_each(|&id| assert_eq!(ns.semctl(id, 0, IPC_RMID, 0), Ok(0)));
    });
    for num in 0..4 {
        assert_eq!(ns.semctl(live, num, GETVAL, 0), Ok(0), "semaphore {num} of the live set");
    }
    let sets = lock_free_sets(&ns, 1500, 1);
    sets.iter().for_each(|&id| assert_eq!(ns.semctl(id, 0, IPC_RMID, 0), Ok(0)));
    assert!(sem_table(&ns) <= KEPT + 4096, "sem table {} after", sem_table(&ns));
    ns.region().check_invariants().unwrap();
    assert_eq!(ns.region().heap_account().unwrap().lost(), 0);
}
