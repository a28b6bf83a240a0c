//! A corrupt region never aborts its process: each case makes objects,
//! overwrites one field of the region with a value out of its range (an
//! index past its table, a heap offset past the heap, a list link, a count,
//! a lock word) and checks that the calls that meet it fail with EINVAL (or
//! EIDRM) or succeed, but never panic or fault. Each case runs in a forked
//! child with a box of its own, so that a crash is seen as the child's
//! death rather than the harness's. Before the region's values were checked,
//! every case here panicked (an assert! on an index, an index past an array,
//! a lock's return code), faulted (an offset past the mapping or the file)
//! or aborted (an allocation sized by a count).

mod common;

use common::{fork_child, new_box, op, wait_status};
use shared_state::abi::*;
use shared_state::msg::{Message, MsgSlot, MsgWaiter, MSG_NOERROR};
use shared_state::procs::{ProcRecord, PROC_FORKING};
use shared_state::region::{
    ATTACH_OFFSET, HEAP_OFFSET, IPCMNI, MAX_PROCS, PROCS_OFFSET, SEM_SLOTS_OFFSET, SHM_SLOTS_OFFSET,
};
use shared_state::sem::{SemSlot, Undo, Waiter, GETNCNT, GETVAL, SEM_INFO, SEM_UNDO};
use shared_state::shm::{AttachEntry, ShmSlot};
use shared_state::Namespace;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};
use std::time::{Duration, Instant};

/// A heap offset past the heap (4 GiB) and past the region's mapping.
const FAR: u64 = 1 << 40;
/// A slot, entry or record index past every table.
const HUGE_INDEX: u32 = 0xffff_fff0;

/// Runs `case` in a forked child and checks that it returned: no panic, no
/// fault, no hang.
fn survives(case: impl FnOnce()) {
    // SAFETY: the child runs `case` and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(case)) {
            Ok(()) => 0,
            Err(_) => 101,
        };
        // SAFETY: leaving the child without the harness's destructors.
        unsafe { libc::_exit(code) };
    }
    let start = Instant::now();
    let mut status = 0;
    // SAFETY: status is writable.
    while unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == 0 {
        if start.elapsed() > Duration::from_secs(30) {
            // SAFETY: our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            wait_status(pid);
            panic!("the child hung");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let how = if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("exit status {}", libc::WEXITSTATUS(status))
    };
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "the child did not survive: {how}");
}

/// A `T` at byte `offset` of the region's metadata.
fn at<T>(ns: &Namespace, offset: usize) -> &T {
    let address = ns.region().metadata_for_tests(offset, size_of::<T>());
    // SAFETY: the tests name fields of the region's tables and heap, which
    // stay mapped while `ns` lives; every field is an atomic.
    unsafe { &*(address as *const T) }
}

fn heap<T>(ns: &Namespace, offset: u64) -> &T {
    at(ns, HEAP_OFFSET + offset as usize)
}

fn shm_slot(ns: &Namespace, id: i32) -> &ShmSlot {
    at(ns, SHM_SLOTS_OFFSET + (id as u32 % IPCMNI) as usize * size_of::<ShmSlot>())
}

fn sem_slot(ns: &Namespace, id: i32) -> &SemSlot {
    at(ns, SEM_SLOTS_OFFSET + (id as u32 % IPCMNI) as usize * size_of::<SemSlot>())
}

fn record(ns: &Namespace, index: u32) -> &ProcRecord {
    at(ns, PROCS_OFFSET + index as usize * size_of::<ProcRecord>())
}

fn attach_entry(ns: &Namespace, index: u32) -> &AttachEntry {
    at(ns, ATTACH_OFFSET + index as usize * size_of::<AttachEntry>())
}

fn own_record(ns: &Namespace) -> u32 {
    ns.local().record.expect("a record").index
}

/// Makes a robust mutex one glibc refuses: a lock word naming no thread
/// and a kind no mutex has, so that the inline take fails and glibc's
/// answers EINVAL.
fn garble_lock<T>(lock: &T) {
    let words = lock as *const T as *const AtomicU32;
    // SAFETY: a pthread_mutex_t is 40 bytes on x86_64: the lock word first,
    // the kind at byte 16.
    unsafe {
        (*words).store(0x1234, Relaxed);
        (*words.add(4)).store(127, Relaxed);
    }
}

fn shmat_new(ns: &Namespace) -> (i32, usize) {
    let id = ns.shmget(IPC_PRIVATE, 4096, 0o600).unwrap();
    let addr = ns.shmat(id, 0, 0).unwrap();
    (id, addr)
}

fn shm_stat(ns: &Namespace, id: i32) -> Result<ShmidDs, i32> {
    let mut ds = ShmidDs::default();
    ns.shmctl(id, IPC_STAT, &mut ds as *mut ShmidDs as usize).map(|_| ds)
}

fn one_of<T: std::fmt::Debug>(got: Result<T, i32>, allowed: &[i32]) {
    if let Err(e) = got {
        assert!(allowed.contains(&e), "errno {e}, not one of {allowed:?}");
    }
}

#[repr(C)]
struct MsgBuf {
    mtype: i64,
    text: [u8; 64],
}

fn send(ns: &Namespace, id: i32, len: usize) -> Result<i32, i32> {
    let buf = MsgBuf { mtype: 1, text: [7; 64] };
    ns.msgsnd(id, &buf as *const MsgBuf as usize, len, IPC_NOWAIT)
}

fn receive(ns: &Namespace, id: i32, flags: i32) -> Result<isize, i32> {
    let mut buf = MsgBuf { mtype: 0, text: [0; 64] };
    ns.msgrcv(id, &mut buf as *mut MsgBuf as usize, 64, 0, flags)
}

fn queue(ns: &Namespace, id: i32) -> &MsgSlot {
    ns.region().queue_of(id)
}

/// Waits until `cond` holds (10 s at most).
fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

// Shared memory.

#[test]
fn attachment_entry_naming_no_slot_at_exit() {
    survives(|| {
        let ns = new_box();
        let (id, _) = shmat_new(&ns);
        let entry = record(&ns, own_record(&ns)).shm_attachments.load(Relaxed) - 1;
        attach_entry(&ns, entry).slot.store(HUGE_INDEX, Relaxed);
        ns.leave_at_exit();
        one_of(shm_stat(&ns, id), &[libc::EINVAL]);
    });
}

#[test]
fn attachment_entry_naming_no_slot_when_reaped() {
    survives(|| {
        let ns = new_box();
        let id = ns.shmget(IPC_PRIVATE, 4096, 0o600).unwrap();
        let child = fork_child(&ns, || {
            ns.shmat(id, 0, 0).unwrap();
            0
        });
        assert_eq!(wait_status(child), 0);
        let dead = (0..MAX_PROCS).find(|&i| record(&ns, i).pid.load(Relaxed) == child).expect("its record");
        let entry = record(&ns, dead).shm_attachments.load(Relaxed) - 1;
        attach_entry(&ns, entry).slot.store(HUGE_INDEX, Relaxed);
        // The reaper of the dead child meets the entry.
        one_of(shm_stat(&ns, id), &[]);
    });
}

#[test]
fn attachment_list_link_past_the_table() {
    survives(|| {
        let ns = new_box();
        let (id, addr) = shmat_new(&ns);
        record(&ns, own_record(&ns)).shm_attachments.store(0x8000_0000, Relaxed);
        one_of(ns.shmdt(addr), &[libc::EINVAL]);
        one_of(shm_stat(&ns, id), &[libc::EINVAL]);
    });
}

#[test]
fn attachment_free_list_past_the_table() {
    survives(|| {
        let ns = new_box();
        let (id, addr) = shmat_new(&ns);
        ns.shmdt(addr).unwrap();
        ns.region().header().shm.attach_free.store(u32::MAX, Relaxed);
        assert_eq!(ns.shmat(id, 0, 0), Err(libc::EINVAL));
    });
}

#[test]
fn shm_table_said_longer_than_it_is() {
    survives(|| {
        let ns = new_box();
        shmat_new(&ns);
        ns.region().header().shm.ids.initialised.store(u32::MAX, Relaxed);
        let mut info = ShmInfo::default();
        one_of(ns.shmctl(0, SHM_INFO, &mut info as *mut ShmInfo as usize), &[]);
        let mut info = ShmInfo64::default();
        one_of(ns.shmctl(0, IPC_INFO, &mut info as *mut ShmInfo64 as usize), &[]);
    });
}

#[test]
fn key_chain_past_the_table() {
    survives(|| {
        let ns = new_box();
        ns.shmget(0x1234, 4096, IPC_CREAT | 0o600).unwrap();
        for bucket in &ns.region().header().shm.ids.key_buckets {
            bucket.store(u32::MAX, Relaxed);
        }
        assert_eq!(ns.shmget(0x1234, 4096, 0o600), Err(libc::EINVAL));
        assert_eq!(ns.shmget(0x1235, 4096, IPC_CREAT | 0o600), Err(libc::EINVAL));
    });
}

#[test]
fn segment_data_past_the_file() {
    survives(|| {
        let ns = new_box();
        let (id, _) = shmat_new(&ns);
        shm_slot(&ns, id).offset.store(1 << 50, Relaxed);
        // Mapped, it would fault in the program at its first touch.
        match ns.shmat(id, 0, 0) {
            // SAFETY: a mapping of the segment, 4096 bytes.
            Ok(addr) => unsafe { *(addr as *mut u8) = 1 },
            Err(e) => assert_eq!(e, libc::EINVAL),
        }
        assert_eq!(ns.shmctl(id, IPC_RMID, 0), Ok(0));
    });
}

#[test]
fn garbage_in_the_shm_facility_lock() {
    survives(|| {
        let ns = new_box();
        let (id, _) = shmat_new(&ns);
        garble_lock(&ns.region().header().shm.ids.lock);
        assert_eq!(ns.shmget(IPC_PRIVATE, 4096, 0o600), Err(libc::EINVAL));
        assert_eq!(ns.shmctl(id, IPC_RMID, 0), Err(libc::EINVAL));
    });
}

#[test]
fn garbage_in_a_segment_lock() {
    survives(|| {
        let ns = new_box();
        let (id, _) = shmat_new(&ns);
        garble_lock(&shm_slot(&ns, id).head.lock);
        assert_eq!(shm_stat(&ns, id).map(drop), Err(libc::EINVAL));
        assert_eq!(ns.shmat(id, 0, 0), Err(libc::EINVAL));
    });
}

// The process table.

#[test]
fn record_free_list_past_the_table() {
    survives(|| {
        let ns = new_box();
        let id = ns.shmget(IPC_PRIVATE, 4096, 0o600).unwrap();
        ns.region().procs().free_head.store(u32::MAX, Relaxed);
        assert_eq!(ns.shmat(id, 0, 0), Err(libc::EINVAL));
    });
}

#[test]
fn record_table_said_longer_than_it_is() {
    survives(|| {
        let ns = new_box();
        shmat_new(&ns);
        ns.region().procs().high_water.store(u32::MAX, Relaxed);
        one_of(ns.semget(IPC_PRIVATE, 1, 0o600), &[]);
    });
}

#[test]
fn forking_record_whose_parent_is_past_the_table() {
    survives(|| {
        let ns = new_box();
        shmat_new(&ns);
        let procs = ns.region().procs();
        let index = procs.high_water.load(Relaxed);
        let forking = record(&ns, index);
        forking.parent.store(HUGE_INDEX as u64 + 1, Relaxed);
        forking.state.store(PROC_FORKING, Relaxed);
        procs.high_water.store(index + 1, Relaxed);
        procs.live.fetch_add(1, Relaxed);
        // The next call reaps the record, whose process is nobody's.
        one_of(ns.semget(IPC_PRIVATE, 1, 0o600), &[]);
        assert_eq!(forking.state.load(Relaxed), 0, "reaped");
    });
}

#[test]
fn garbage_in_the_record_table_lock() {
    survives(|| {
        let ns = new_box();
        let id = ns.shmget(IPC_PRIVATE, 4096, 0o600).unwrap();
        garble_lock(&ns.region().procs().lock);
        assert_eq!(ns.shmat(id, 0, 0), Err(libc::EINVAL));
    });
}

// Semaphores.

/// The calling process's first undo record.
fn first_undo(ns: &Namespace) -> &Undo {
    heap(ns, record(ns, own_record(ns)).sem_undos.load(Relaxed))
}

#[test]
fn undo_record_naming_no_slot() {
    survives(|| {
        let ns = new_box();
        let (a, b) = (ns.semget(IPC_PRIVATE, 1, 0o600).unwrap(), ns.semget(IPC_PRIVATE, 1, 0o600).unwrap());
        ns.semop(a, &[op(0, 1, SEM_UNDO)], None).unwrap();
        first_undo(&ns).slot.store(HUGE_INDEX, Relaxed);
        assert_eq!(ns.semop(b, &[op(0, 1, SEM_UNDO)], None), Err(libc::EINVAL));
    });
}

#[test]
fn undo_record_link_past_the_heap() {
    survives(|| {
        let ns = new_box();
        let (a, b) = (ns.semget(IPC_PRIVATE, 1, 0o600).unwrap(), ns.semget(IPC_PRIVATE, 1, 0o600).unwrap());
        ns.semop(a, &[op(0, 1, SEM_UNDO)], None).unwrap();
        first_undo(&ns).next_in_process.store(FAR, Relaxed);
        assert_eq!(ns.semop(b, &[op(0, 1, SEM_UNDO)], None), Err(libc::EINVAL));
    });
}

#[test]
fn undo_record_link_past_the_heap_at_exit() {
    survives(|| {
        let ns = new_box();
        let id = ns.semget(IPC_PRIVATE, 1, 0o600).unwrap();
        ns.semop(id, &[op(0, 1, SEM_UNDO)], None).unwrap();
        first_undo(&ns).next_in_process.store(FAR, Relaxed);
        ns.leave_at_exit();
        assert_eq!(ns.semctl(id, 0, GETVAL, 0), Ok(0), "the good record was applied");
    });
}

#[test]
fn set_array_past_the_heap() {
    survives(|| {
        let ns = new_box();
        let id = ns.semget(IPC_PRIVATE, 2, 0o600).unwrap();
        sem_slot(&ns, id).sems.store(FAR, Relaxed);
        assert_eq!(ns.semctl(id, 0, GETVAL, 0), Err(libc::EINVAL));
        assert_eq!(ns.semop(id, &[op(1, 1, 0)], None), Err(libc::EINVAL));
    });
}

#[test]
fn set_queue_past_the_heap() {
    survives(|| {
        let ns = new_box();
        let id = ns.semget(IPC_PRIVATE, 1, 0o600).unwrap();
        sem_slot(&ns, id).queue_head.store(FAR, Relaxed);
        sem_slot(&ns, id).queue_tail.store(FAR, Relaxed);
        assert_eq!(ns.semop(id, &[op(0, 1, 0)], None), Err(libc::EINVAL));
        assert_eq!(ns.semctl(id, 0, GETNCNT, 0), Err(libc::EINVAL));
    });
}

#[test]
fn set_journal_past_the_heap() {
    survives(|| {
        let ns = new_box();
        let id = ns.semget(IPC_PRIVATE, 1, 0o600).unwrap();
        ns.semop(id, &[op(0, 1, 0)], None).unwrap();
        let journal = &sem_slot(&ns, id).journal;
        journal.entries.store(FAR, Relaxed);
        journal.capacity.store(64, Relaxed);
        assert_eq!(ns.semop(id, &[op(0, 1, 0)], None), Err(libc::EINVAL));
    });
}

#[test]
fn garbage_in_a_set_lock() {
    survives(|| {
        let ns = new_box();
        let id = ns.semget(IPC_PRIVATE, 1, 0o600).unwrap();
        garble_lock(&sem_slot(&ns, id).head.lock);
        let mut ds = [0u8; 128];
        assert_eq!(ns.semctl(id, 0, IPC_STAT, ds.as_mut_ptr() as usize), Err(libc::EINVAL));
        assert_eq!(ns.semop(id, &[op(0, 1, 0)], None), Err(libc::EINVAL));
    });
}

#[test]
fn set_table_said_longer_than_it_is() {
    survives(|| {
        let ns = new_box();
        ns.semget(IPC_PRIVATE, 1, 0o600).unwrap();
        ns.region().header().sem.ids.initialised.store(u32::MAX, Relaxed);
        let mut info = [0u8; 64];
        one_of(ns.semctl(0, 0, SEM_INFO, info.as_mut_ptr() as usize), &[]);
    });
}

/// Runs `then` while a thread of this process sleeps in a semop (P on
/// semaphore 0 of a set of two) for at most a second, with its queued
/// waiter.
fn with_sem_waiter(then: impl FnOnce(&Namespace, i32, &Waiter)) {
    let ns = new_box();
    let id = ns.semget(IPC_PRIVATE, 2, 0o600).unwrap();
    std::thread::scope(|scope| {
        let sleeper = scope.spawn(|| ns.semop(id, &[op(0, -1, 0)], Some(libc::timespec { tv_sec: 1, tv_nsec: 0 })));
        until("the waiter to queue", || ns.semctl(id, 0, GETNCNT, 0) == Ok(1));
        then(&ns, id, heap(&ns, sem_slot(&ns, id).queue_head.load(Relaxed)));
        one_of(sleeper.join().unwrap(), &[libc::EAGAIN, libc::EINVAL, libc::EIDRM]);
    });
}

#[test]
fn waiter_naming_no_record() {
    survives(|| {
        with_sem_waiter(|ns, id, waiter| {
            waiter.record.store(HUGE_INDEX, Relaxed);
            // Its process is nobody: dropped from the queue, not served.
            assert_eq!(ns.semop(id, &[op(0, 1, 0)], None), Ok(0));
            assert_eq!(ns.semctl(id, 0, GETVAL, 0), Ok(1));
        });
    });
}

#[test]
fn waiter_blocked_on_no_operation() {
    survives(|| {
        with_sem_waiter(|ns, id, waiter| {
            waiter.blocking.store(HUGE_INDEX, Relaxed);
            one_of(ns.semctl(id, 0, GETNCNT, 0), &[libc::EINVAL]);
            one_of(ns.semop(id, &[op(1, 1, 0)], None), &[libc::EINVAL]);
        });
    });
}

#[test]
fn waiter_with_more_operations_than_its_block() {
    survives(|| {
        with_sem_waiter(|ns, id, waiter| {
            waiter.nsops.store(HUGE_INDEX, Relaxed);
            one_of(ns.semop(id, &[op(1, 1, 0)], None), &[libc::EINVAL]);
            one_of(ns.semop(id, &[op(0, 1, 0)], None), &[libc::EINVAL]);
        });
    });
}

// Message queues.

#[test]
fn message_link_past_the_heap() {
    survives(|| {
        let ns = new_box();
        let id = ns.msgget(IPC_PRIVATE, 0o600).unwrap();
        send(&ns, id, 8).unwrap();
        let dummy: &Message = heap(&ns, queue(&ns, id).messages_head().load(Relaxed));
        dummy.next.store(FAR, Relaxed);
        assert_eq!(receive(&ns, id, IPC_NOWAIT), Err(libc::EINVAL));
        assert_eq!(receive(&ns, id, IPC_NOWAIT | MSG_NOERROR), Err(libc::EINVAL));
    });
}

#[test]
fn message_list_end_past_the_heap() {
    survives(|| {
        let ns = new_box();
        let id = ns.msgget(IPC_PRIVATE, 0o600).unwrap();
        queue(&ns, id).send.messages_tail.store(FAR, Relaxed);
        assert_eq!(send(&ns, id, 8), Err(libc::EINVAL));
    });
}

#[test]
fn receivers_past_the_heap() {
    survives(|| {
        let ns = new_box();
        let id = ns.msgget(IPC_PRIVATE, 0o600).unwrap();
        queue(&ns, id).receivers_head.store(FAR, Relaxed);
        queue(&ns, id).receivers_tail.store(FAR, Relaxed);
        assert_eq!(send(&ns, id, 8), Err(libc::EINVAL));
    });
}

#[test]
fn garbage_in_a_send_lock() {
    survives(|| {
        let ns = new_box();
        let id = ns.msgget(IPC_PRIVATE, 0o600).unwrap();
        garble_lock(&queue(&ns, id).send.lock);
        assert_eq!(send(&ns, id, 8), Err(libc::EINVAL));
        assert_eq!(receive(&ns, id, IPC_NOWAIT), Err(libc::EINVAL));
    });
}

#[test]
fn sleeping_receiver_naming_no_record() {
    survives(|| {
        let ns = new_box();
        let id = ns.msgget(IPC_PRIVATE, 0o600).unwrap();
        std::thread::scope(|scope| {
            let sleeper = scope.spawn(|| receive(&ns, id, 0));
            until("the receiver to sleep", || queue(&ns, id).receivers_head.load(Relaxed) != 0);
            let waiter: &MsgWaiter = heap(&ns, queue(&ns, id).receivers_head.load(Relaxed));
            waiter.record.store(HUGE_INDEX, Relaxed);
            // Its process is nobody: the message is queued, not handed to it.
            assert_eq!(send(&ns, id, 8), Ok(0));
            assert_eq!(ns.msgctl(id, IPC_RMID, 0), Ok(0));
            one_of(sleeper.join().unwrap(), &[libc::EIDRM]);
        });
    });
}

#[test]
fn magazine_said_fuller_than_it_is() {
    survives(|| {
        let ns = new_box();
        let id = ns.msgget(IPC_PRIVATE, 0o600).unwrap();
        send(&ns, id, 32).unwrap();
        receive(&ns, id, IPC_NOWAIT).unwrap();
        let magazine = &record(&ns, own_record(&ns)).magazine as *const _ as *const AtomicU32;
        // SAFETY: a Magazine is repr(C): busy, loaded_class, loaded_count, ...
        // A message of 32 bytes and its header take a block of 64 (class 2).
        unsafe {
            (*magazine.add(1)).store(3, Relaxed);
            (*magazine.add(2)).store(100, Relaxed);
        }
        assert_eq!(send(&ns, id, 32), Ok(0));
        assert_eq!(receive(&ns, id, IPC_NOWAIT), Ok(32));
    });
}

// The heap and its collector.

#[test]
fn free_list_past_the_heap() {
    survives(|| {
        let ns = new_box();
        // The head of the free list of 256-byte blocks (an array of nine
        // semaphores: more than a slot's own array in the zone holds): its
        // offset / 16 in the low half.
        let head = &ns.region().header().heap.free[4] as *const _ as *const AtomicU64;
        // SAFETY: a FreeHead is one AtomicU64.
        unsafe { (*head).store(u32::MAX as u64, Relaxed) };
        assert_eq!(ns.semget(IPC_PRIVATE, 9, 0o600), Err(libc::EINVAL));
    });
}

#[test]
fn collector_meets_a_list_past_the_heap() {
    survives(|| {
        let ns = new_box();
        let id = ns.msgget(IPC_PRIVATE, 0o600).unwrap();
        ns.region().header().sem.retired.store(FAR, Relaxed);
        ns.region().request_collection();
        // The collection is tried at the next call that takes a hold.
        assert_eq!(send(&ns, id, 8), Ok(0));
        assert_eq!(ns.collect_lost(), None, "a region it cannot account is left alone");
    });
}
