//! System V semaphores: semget, semop/semtimedop, semctl with Linux's semantics.
//!
//! Owns: the semaphore slot table (`SemSlot`), each set's semaphore array
//! (`Sem`: its slot's own in the heap's array zone for a set of up to
//! ZONE_SEMS, a heap block for a larger one, see `zone_array`), the queue of waiting operations (`Waiter`, in the
//! heap, one per blocked thread), and SEM_UNDO records (`Undo`, in the heap,
//! one per process and set).
//!
//! Operations (after Linux ipc/sem.c): a semop applies all its operations or
//! none; one that cannot proceed either fails (IPC_NOWAIT: EAGAIN) or queues
//! a `Waiter` (owned by its process's list, linked by the queue) at the
//! tail of its set's FIFO and sleeps on the waiter's
//! `status` futex. Whoever changes values afterwards (semop, SETVAL, SETALL,
//! a dead process's undo) retries the queued operations in order *on the
//! waiters' behalf* under the set lock, completes those that can proceed, and
//! wakes them: a waiter is served before any later caller can take what it
//! waits for, so none starves while others keep passing. Removal wakes every
//! waiter with EIDRM.
//!
//! SEM_UNDO: each process keeps one `Undo` per set it adjusted with
//! SEM_UNDO, linked from its process record (touched only by that process
//! while it lives, and by its reaper after) and from the set (under the set
//! lock, for SETVAL/SETALL, which clear adjustments). A dead process's undo
//! records are applied by whoever reaps it, clamped to [0, SEMVMX] as Linux
//! does; they survive exec (the new image adopts them) and are not inherited
//! by fork.
//!
//! Death under the set lock: every change a lock holder makes to values and
//! adjustments is logged in the set's `Journal` and committed by one store,
//! so the next holder of the lock, finding it owner-died, takes back what
//! was not committed and finishes what was (`repair_set`): a semop, SETVAL,
//! SETALL or exit's undo happens whole or not at all, and a waiter whose
//! operation was done on its behalf is woken. A removal is finished (see
//! `table`). A process gets a record before it changes a set on a slow
//! path, so that its death makes the supervisor (or a sleeper's watch)
//! repair at once what it abandoned (`Region::repair_abandoned_locks`).
//!
//! Corruption (see the region's notes): a lookup checks the set's own
//! fields (`check_set`: its array, journal and queue in the heap) and
//! fails with EINVAL if one cannot be right. Within a set, a queue link
//! outside the heap ends the queue there (`queue_next`); a waiter whose
//! operations do not fit its block, that names no process record, or
//! whose undo record is not of its set's size, leaves the queue as a dead
//! one does; an undo list link outside the heap ends the list, and an undo
//! record whose size is not its set's is neither applied nor freed. A
//! process's own undo list that names no set, or leaves the heap, fails
//! its semop with EINVAL.
//!
//! Locking: the facility lock serialises create, remove, key lookup and the
//! SEMMNS count. The slot lock (the set lock) guards the array, the queue,
//! the set's undo list and each undo's adjustments, with one exception: a
//! semop of one operation without SEM_UNDO that can complete at once may
//! change a semaphore's value with a compare-and-swap and no lock, while
//! the set has lock-free semops on and the semaphore is not HELD by a
//! locked path or a waiter (the protocol is described at `Sem`). Order:
//! facility lock, slot lock; under the facility lock a set's
//! lock is never waited for (see `table`), and no set lock is held while
//! the caller's memory is read or written beyond the operations of a
//! semop (IPC_STAT, GETALL and SETALL copy outside it). Uncontended semop
//! makes no system call, nor does semctl's GETVAL, GETPID, GETALL,
//! SETVAL, SETALL or IPC_STAT while no one waits on the set
//! (`scripts/fastpath.sh`).

use crate::abi::*;
use crate::collect::Hold;
use crate::cred::Cred;
use crate::heap::{block_fits, checked_block, heap_link, is_block, MAX_BLOCK};
use crate::lock::Guard;
use crate::ns::Namespace;
use crate::procs::{Liveness, RecordRef};
use crate::region::{
    corrupt, store_if_changed_i32, store_if_changed_i64, store_if_changed_u32, Area, Region, HEAP_SIZE, HEAP_START,
    IPCMNI, MAX_PROCS, PAGE_SIZE, ZONE_SEMS,
};
use crate::sys::{self, SysResult};
use crate::table::{make_id, split_id, FacilityHeader, Locking, SlotHeader, SlotTable, SLOT_LIVE};
use crate::wait::{self, Woken, DONE, WAITING};
use core::cell::Cell;
use core::sync::atomic::{AtomicI32, AtomicI64, AtomicU32, AtomicU64, Ordering::*};

pub const SEMVMX: i32 = 32767;
/// Largest adjustment an undo record may hold (Linux's SEMAEM).
pub const SEMAEM: i32 = SEMVMX;
pub const SEM_UNDO: i16 = 0x1000;
const NOWAIT: i16 = IPC_NOWAIT as i16;

#[repr(C)]
pub struct SemFacility {
    pub ids: FacilityHeader,
    /// Semaphores in all sets (Linux's used_sems). Facility lock.
    pub total_sems: AtomicU64,
    /// First `Retired` record (heap offset), 0 for none. Facility lock.
    pub retired: AtomicU64,
}

/// An array a slot left behind when it grew: never freed, as a lock-free
/// semop may still be about to touch it (see `Sem`), but named here so
/// that the heap's accounting reaches it and nothing reuses its memory.
#[repr(C)]
pub struct Retired {
    pub next: AtomicU64,
    pub array: AtomicU64,
    pub size: AtomicU64,
}

impl SemFacility {
    /// # Safety
    /// Only while creating the region.
    pub(crate) unsafe fn init(&self) {
        crate::region::init_facility(&self.ids);
        self.ids.last_idx.store(-1, Relaxed);
    }
}

#[repr(C)]
pub struct SemSlot {
    pub head: SlotHeader,
    /// Semaphores in the set. Immutable while live.
    pub nsems: AtomicU32,
    /// Heap offset of the `Sem` array: the slot's zone array or a heap
    /// block (see `zone_array`). Immutable while live; kept by the slot
    /// when the set is removed (see `Sem`).
    pub sems: AtomicU64,
    /// Semaphores the slot's array has room for. Facility lock and slot lock.
    pub capacity: AtomicU32,
    /// Whether lock-free semops are on for this set (see `Sem`). Slot lock
    /// to change; read without it.
    pub lock_free: AtomicU32,
    /// Calls in a row that argue for the other mode (see `Sem`). Slot lock.
    pub streak: AtomicU32,
    /// Last change by semctl. Slot lock.
    pub ctime: AtomicI64,
    /// First and last queued `Waiter` (heap offsets, 0 for none). Slot lock.
    pub queue_head: AtomicU64,
    pub queue_tail: AtomicU64,
    /// First `Undo` of the set, over all processes. Slot lock.
    pub undos: AtomicU64,
    /// The set lock holder's log of changes not yet committed. Slot lock.
    pub journal: Journal,
}

/// What the holder of a set lock changed and has not yet committed, so that
/// if it dies the next holder can take the changes back (Linux's semop is
/// all or nothing, and SETALL and an exit's undo are too) or finish what
/// was committed (`Region::repair_set`).
///
/// Each change to a semaphore's value or to an undo adjustment is logged
/// (the old value) before it is made. A change is committed by one store:
/// `len` back to 0 for the caller's own semop or semctl, `completing` for a
/// waiter's operation done on its behalf, the undo's `applied` flag for a
/// dead process's adjustments. All fields: slot lock.
#[repr(C)]
pub struct Journal {
    /// Entries logged since the last commit.
    pub len: AtomicU32,
    /// Entries the log block has room for.
    pub capacity: AtomicU32,
    /// Heap offset of the log block (`JournalEntry`s), 0 before first use.
    pub entries: AtomicU64,
    /// A waiter whose outcome is stored and committed, not yet woken: a
    /// repair unlinks and wakes it. The waiter itself takes the set lock
    /// before freeing its block while it is named here.
    pub completing: AtomicU64,
    /// An undo record being applied: its `applied` flag commits the log.
    pub applying: AtomicU64,
    /// A completed waiter to be woken as the set lock is let go (see
    /// `wait::finish_late`): a repair wakes it. Left behind afterwards, so it
    /// may name a block since freed: waking that is a spurious wake-up.
    pub waking: AtomicU64,
}

/// One logged change: the old value of semaphore `target` (`kind`
/// VALUE_ENTRY), or of the adjustment at heap offset `target` (ADJ_ENTRY).
#[repr(C)]
struct JournalEntry {
    target: AtomicU64,
    old: AtomicI32,
    kind: AtomicU32,
}

impl Journal {
    /// Logs a change as entry `len` (the journal's length, read by the
    /// caller, who found the entry at its place in the block): the entry is
    /// whole before the length covers it. Slot lock held.
    fn append(&self, len: u32, entry: &JournalEntry, kind: u32, target: u64, old: i32) {
        entry.target.store(target, Relaxed);
        entry.old.store(old, Relaxed);
        entry.kind.store(kind, Relaxed);
        self.len.store(len + 1, Release);
    }
}

const VALUE_ENTRY: u32 = 0;
const ADJ_ENTRY: u32 = 1;
const ENTRY_SIZE: u64 = core::mem::size_of::<JournalEntry>() as u64;

/// One semaphore.
///
/// `word` holds the value (low 16 bits), the HELD bit, and a tag (the top 15
/// bits, from the set's sequence number). A semop of one operation without
/// SEM_UNDO changes the value with one compare-and-swap and no lock, if
/// HELD is clear and the tag is its set's. Everything else takes the set
/// lock and first sets HELD on each semaphore it reads or writes, so that
/// no lock-free semop changes them meanwhile; when done it clears HELD
/// again, except on the semaphores a queued waiter names (a lock-free V
/// there would not serve the waiter). A stale HELD bit only sends semops to
/// the locked path, which clears it.
///
/// Holding costs an atomic instruction per semaphore, which operations on
/// several semaphores or with SEM_UNDO pay on every call. So lock-free
/// semops are a mode of the set: while off, every word stays HELD and the
/// locked paths hold nothing; a set turns it on after `MODE_STREAK` calls
/// in a row that could have been lock-free reached the lock, and off after
/// as many in a row that could not. New sets start with it off.
///
/// A lock-free semop may still be about to swap a word when its set is
/// removed, so arrays are never given back to the heap: the slot keeps its
/// array for its next set (whose tag differs), and a removed set's words
/// stay HELD. A zone array is the slot's for good (`zone_array`); its
/// memory goes back to the system with the slot's when the table gives
/// its top back, and a stale semop's exchange then meets a zeroed word.
#[repr(C)]
pub struct Sem {
    pub word: AtomicU32,
    /// Process of the last operation (Linux's sempid).
    pub pid: AtomicI32,
    /// Time of the last semop that named this semaphore first.
    pub otime: AtomicI64,
}

const VALUE_MASK: u32 = 0xffff;
const MODE_STREAK: u32 = 16;
const HELD: u32 = 1 << 16;
const TAG_SHIFT: u32 = 17;

fn tag_of(seq: u32) -> u32 {
    (seq & (u32::MAX >> TAG_SHIFT)) << TAG_SHIFT
}

/// Heap offset of slot `index`'s array in the semaphore array zone, room
/// for ZONE_SEMS semaphores: a set that small uses it, so that its array
/// lies at a place of its slot's alone, which the slot's next sets reuse
/// (their tags differ, see `Sem`) and which goes back to the system with
/// the slot when the table gives its top back (`SemTable::give_back_beyond`).
/// Larger sets take their arrays from the heap, and their slots keep them.
pub(crate) fn zone_array(index: u32) -> u64 {
    PAGE_SIZE + (index % IPCMNI) as u64 * ZONE_ARRAY_BYTES
}

/// Bytes of a zone array.
const ZONE_ARRAY_BYTES: u64 = ZONE_SEMS as u64 * core::mem::size_of::<Sem>() as u64;

/// Whether a slot's array (`SemSlot::sems`) lies in the zone, not in a
/// heap block.
fn in_zone(sems: u64) -> bool {
    (PAGE_SIZE..HEAP_START).contains(&sems)
}

impl Sem {
    pub fn value(&self) -> i32 {
        (self.word.load(Acquire) & VALUE_MASK) as i32
    }

    /// Keeps lock-free semops off this semaphore. Set lock held.
    fn hold(&self) {
        if self.word.load(Relaxed) & HELD == 0 {
            self.word.fetch_or(HELD, AcqRel);
        }
    }

    /// Lets lock-free semops at it again. Set lock held; while HELD no one
    /// else writes the word, so a plain store will do.
    fn unhold(&self) {
        let word = self.word.load(Relaxed);
        if word & HELD != 0 {
            self.word.store(word & !HELD, Release);
        }
    }

    /// Stores a value, while held. Set lock held.
    fn set_value(&self, value: i32) {
        debug_assert!(self.word.load(Relaxed) & HELD != 0);
        let word = self.word.load(Relaxed);
        self.word.store((word & !VALUE_MASK) | value as u32, Release);
    }
}

/// A blocked semop. Written by its thread before it is queued; afterwards
/// `next`, `blocking` and the outcome change under the set lock only. The
/// block belongs to its process's `sem_waiters` list from allocation to
/// free; a queue only links it, and drops it from the queue (not the heap)
/// when its process dies.
#[repr(C)]
pub struct Waiter {
    /// WAITING or ASLEEP (see `wait`) until the operation is done or
    /// refused, then DONE; the futex the waiting thread sleeps on, and the
    /// word a wake-ahead wakes it by, without the set lock.
    pub status: AtomicU32,
    /// Outcome once DONE: 0 or an errno.
    pub result: AtomicI32,
    pub next: AtomicU64,
    /// The waiting process's record, to skip and drop waiters that died.
    pub record: AtomicU32,
    pub record_generation: AtomicU32,
    pub pid: AtomicI32,
    pub nsops: AtomicU32,
    /// Index of the operation that blocked last (for GETNCNT/GETZCNT).
    pub blocking: AtomicU32,
    /// Heap offset of the process's `Undo` for this set, 0 without SEM_UNDO.
    pub undo: AtomicU64,
    /// Heap size of this block, to free it.
    pub size: AtomicU64,
    /// Next waiter of the same process (see `ProcRecord::sem_waiters`).
    pub next_in_process: AtomicU64,
    /// The set: slot and sequence.
    pub slot: AtomicU32,
    pub seq: AtomicU32,
    // Followed by `nsops` packed operations (AtomicU64 each).
}

/// Adjustments of one process on one set. `adj` follows the header.
#[repr(C)]
pub struct Undo {
    /// Next undo of the same process. Written by that process (or its reaper).
    pub next_in_process: AtomicU64,
    /// Next undo of the same set. Slot lock.
    pub next_in_set: AtomicU64,
    /// The set: slot and sequence (stale once the set is gone). Immutable.
    pub slot: AtomicU32,
    pub seq: AtomicU32,
    pub nsems: AtomicU32,
    /// Set once a dead process's reaper has applied the adjustments (the
    /// commit of its journal entries). Slot lock.
    pub applied: AtomicU32,
    // Followed by `nsems` AtomicI32 adjustments. Slot lock.
}

/// One `struct sembuf`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SemOp {
    pub num: u16,
    pub op: i16,
    pub flags: i16,
}

impl SemOp {
    fn pack(self) -> u64 {
        self.num as u64 | (self.op as u16 as u64) << 16 | (self.flags as u16 as u64) << 32
    }
    fn unpack(v: u64) -> SemOp {
        SemOp { num: v as u16, op: (v >> 16) as u16 as i16, flags: (v >> 32) as u16 as i16 }
    }
    /// Parses the caller's `struct sembuf` array (6 bytes each) into `ops`.
    pub fn parse_into(bytes: &[u8], ops: &mut [SemOp]) {
        for (op, c) in ops.iter_mut().zip(bytes.chunks_exact(6)) {
            *op = SemOp {
                num: u16::from_ne_bytes([c[0], c[1]]),
                op: i16::from_ne_bytes([c[2], c[3]]),
                flags: i16::from_ne_bytes([c[4], c[5]]),
            };
        }
    }
}

/// Why an attempt did not complete.
enum Attempt {
    Blocked(usize),
    Failed(i32),
}

/// The semaphore slot table, as a `SlotTable`.
pub(crate) struct SemTable<'a>(pub &'a Region);

impl SlotTable for SemTable<'_> {
    fn note_repair(&self) {
        self.0.note_repair();
    }

    fn facility(&self) -> &FacilityHeader {
        &self.0.header().sem.ids
    }
    fn slot_header(&self, index: u32) -> &SlotHeader {
        &self.0.set(index).head
    }
    fn map_slots_through(&self, index: u32) -> SysResult<()> {
        self.0.map_area(Area::SemSlots, (index as usize + 1) * core::mem::size_of::<SemSlot>())
    }
    fn check_slot(&self, index: u32) -> SysResult<()> {
        self.0.check_set(self.0.set(index))
    }
    fn table_memory(&self) -> Option<crate::table::TableMemory> {
        self.0.slot_table_memory::<SemSlot>(crate::region::SEM_SLOTS_OFFSET)
    }
    /// A slot with an array from the heap (a set of more than ZONE_SEMS)
    /// or a journal block (left by a removal a repair finished) keeps them
    /// for its next set: the heap's accounting reaches them through the
    /// slot, so the slot stays below the table's top.
    fn keeps_memory(&self, index: u32) -> bool {
        let slot = self.0.set(index);
        (slot.capacity.load(Relaxed) != 0 && !in_zone(slot.sems.load(Relaxed)))
            || slot.journal.entries.load(Relaxed) != 0
    }
    /// The zone arrays of the slots given back (see `zone_array`): no
    /// lookup reaches them but a stale lock-free semop, whose exchange
    /// fails on a zeroed word unless it expected one (a tag and a value of
    /// 0), and then writes a free slot's array, which the slot's next set
    /// writes whole before use.
    fn give_back_beyond(&self, memory: &crate::table::TableMemory, first: u32, end: u32) {
        let page = PAGE_SIZE;
        let heap = crate::region::HEAP_OFFSET as u64;
        let from = (heap + zone_array(first)).next_multiple_of(page);
        let to = (heap + zone_array(end - 1) + ZONE_ARRAY_BYTES).next_multiple_of(page);
        if to > from {
            let _ = sys::punch_hole(memory.fd, from, to - from);
        }
    }
    fn repair_slot(&self, index: u32) {
        self.0.repair_set(index);
    }
    fn recount_totals(&self) {
        let total: u64 = (0..self.initialised())
            .map(|index| self.0.set(index))
            .filter(|slot| slot.head.is_live())
            .map(|slot| slot.nsems.load(Relaxed) as u64)
            .sum();
        self.0.header().sem.total_sems.store(total, Relaxed);
    }
}

/// Bytes of a waiter block for `nsops` operations.
fn waiter_size(nsops: u32) -> u64 {
    core::mem::size_of::<Waiter>() as u64 + nsops as u64 * 8
}

impl Region {
    /// Slot `index` (taken modulo IPCMNI: see `Region::table_entry`).
    fn set(&self, index: u32) -> &SemSlot {
        // SAFETY: the semaphore slot table, of IPCMNI slots.
        unsafe { self.table_entry(Area::SemSlots, IPCMNI, index) }
    }

    /// Whether the live set's own fields that every operation uses can be
    /// right (see the module notes): its semaphores, its log and the
    /// queue's first waiter in the heap, on 16-byte boundaries, the log
    /// within its block, and no more semaphores or log entries than a heap
    /// block could hold (so that what is sized by them stays small).
    /// Err(EINVAL) if not. Slot lock held. (The queue's tail is checked
    /// where a waiter queues, the undo list link by link, a completion or
    /// an undo applied by the repair, the array's room where a set reuses
    /// it.)
    ///
    /// Every semop that takes the lock pays for this: so one branch, each
    /// rule a term that is 0 when it holds (HEAP_SIZE is 2^32; a heap block
    /// holds at most 2^20 of either, and a count of 2^21 or more has a bit
    /// at 21 or above).
    #[inline(always)]
    fn check_set(&self, slot: &SemSlot) -> SysResult<()> {
        const ELEMENT: u64 = 16;
        const _: () = assert!(HEAP_SIZE == 1 << 32 && MAX_BLOCK / ELEMENT < 1 << 21);
        const _: () = assert!(core::mem::size_of::<Sem>() as u64 == ELEMENT && ENTRY_SIZE == ELEMENT);
        let journal = &slot.journal;
        let (sems, nsems) = (slot.sems.load(Relaxed), slot.nsems.load(Relaxed) as u64);
        let (entries, len, room) =
            (journal.entries.load(Relaxed), journal.len.load(Relaxed), journal.capacity.load(Relaxed) as u64);
        let bad = ((sems | entries | slot.queue_head.load(Relaxed)) & !(HEAP_SIZE - 16))
            | ((nsems | room) >> 21)
            | (sems.wrapping_add(nsems * ELEMENT) > HEAP_SIZE) as u64
            | (entries.wrapping_add(room * ELEMENT) > HEAP_SIZE) as u64
            | (len as u64 > room) as u64;
        if bad == 0 {
            Ok(())
        } else {
            Err(corrupt("a semaphore set's array, journal or queue outside the heap"))
        }
    }

    /// Semaphore `num` of the live set in `slot`. Slot lock held.
    fn sem(&self, slot: &SemSlot, num: u32) -> &Sem {
        let offset = slot.sems.load(Relaxed).wrapping_add(num as u64 * core::mem::size_of::<Sem>() as u64);
        // SAFETY: the array holds nsems `Sem`s and lives as long as the slot.
        unsafe { self.heap_ref(offset) }
    }

    /// Holds semaphores `nums` (see `Sem`). Slot lock held.
    fn hold_sems(&self, slot: &SemSlot, nums: impl IntoIterator<Item = u32>) {
        nums.into_iter().for_each(|num| self.sem(slot, num).hold());
    }

    /// Lets lock-free semops at semaphores `nums` again, except those a
    /// queued waiter names, if the set has them on. Slot lock held.
    fn release_sems(&self, slot: &SemSlot, nums: impl IntoIterator<Item = u32>) {
        if slot.lock_free.load(Relaxed) == 0 {
            return;
        }
        for num in nums {
            if !self.queue_names(slot, num) {
                self.sem(slot, num).unhold();
            }
        }
    }

    /// Counts a semop that took the set lock towards switching lock-free
    /// semops on (one that could have been lock-free) or off. Slot lock held.
    fn vote_mode(&self, slot: &SemSlot, could_be_lock_free: bool) {
        let on = slot.lock_free.load(Relaxed) != 0;
        if on == could_be_lock_free {
            store_if_changed_u32(&slot.streak, 0);
            return;
        }
        let streak = slot.streak.load(Relaxed).wrapping_add(1);
        if streak < MODE_STREAK {
            slot.streak.store(streak, Relaxed);
            return;
        }
        slot.streak.store(0, Relaxed);
        let nsems = slot.nsems.load(Relaxed);
        if on {
            slot.lock_free.store(0, Relaxed);
            self.hold_sems(slot, 0..nsems);
        } else {
            slot.lock_free.store(1, Relaxed);
            self.release_sems(slot, 0..nsems);
        }
    }

    /// Whether a queued waiter has an operation on semaphore `num`. Slot lock held.
    fn queue_names(&self, slot: &SemSlot, num: u32) -> bool {
        let mut at = slot.queue_head.load(Relaxed);
        while at != 0 {
            if let Some(nsops) = self.waiter_nsops(at) {
                if (0..nsops).any(|i| self.waiter_op(at, i).num as u32 == num) {
                    return true;
                }
            }
            at = self.queue_next(slot, at);
        }
        false
    }

    /// The semaphores of a queued waiter's operations (none if its fields
    /// cannot be right).
    fn waiter_nums(&self, at: u64) -> Vec<u32> {
        let nsops = self.waiter_nsops(at).unwrap_or(0);
        (0..nsops).map(|i| self.waiter_op(at, i).num as u32).collect()
    }

    fn waiter(&self, offset: u64) -> &Waiter {
        // SAFETY: offsets in a queue name live waiter blocks.
        unsafe { self.heap_ref(offset) }
    }

    fn waiter_op(&self, offset: u64, i: u32) -> SemOp {
        let at = offset.wrapping_add(waiter_size(i));
        // SAFETY: the block holds nsops packed operations after its header.
        SemOp::unpack(unsafe { self.heap_ref::<AtomicU64>(at) }.load(Relaxed))
    }

    /// The waiter after `at` in `slot`'s queue. A link outside the heap
    /// ends the queue at `at`: what it named is out of reach. Slot lock held.
    fn queue_next(&self, slot: &SemSlot, at: u64) -> u64 {
        let waiter = self.waiter(at);
        if let Some(next) = heap_link(waiter.next.load(Relaxed)) {
            return next;
        }
        corrupt("a semaphore queue's link outside the heap");
        waiter.next.store(0, Relaxed);
        slot.queue_tail.store(at, Relaxed);
        0
    }

    /// The number of operations of queued waiter `at`, if its block holds
    /// them, the one it blocked on is one of them and it names a process
    /// record; None (said on stderr) for a waiter whose fields cannot be
    /// right, which leaves the queue as a dead one does. Slot lock held.
    fn waiter_nsops(&self, at: u64) -> Option<u32> {
        let waiter = self.waiter(at);
        let nsops = waiter.nsops.load(Relaxed);
        let whole = nsops != 0
            && waiter.size.load(Relaxed) == waiter_size(nsops)
            && waiter_size(nsops) <= MAX_BLOCK
            && block_fits(at, waiter_size(nsops))
            && waiter.blocking.load(Relaxed) < nsops
            && waiter.record.load(Relaxed) < MAX_PROCS;
        if !whole {
            corrupt("a semaphore waiter's operations or record");
        }
        whole.then_some(nsops)
    }

    fn undo(&self, offset: u64) -> &Undo {
        // SAFETY: offsets in undo lists name live undo blocks.
        unsafe { self.heap_ref(offset) }
    }

    fn undo_adj(&self, offset: u64, num: u32) -> &AtomicI32 {
        // SAFETY: the block holds nsems adjustments after its header.
        unsafe { self.heap_ref(undo_adj_offset(offset, num)) }
    }

    /// Whether undo record `at` (read from the region) has the size of the
    /// set in `slot`, as every record of a live set has, and lies in the heap.
    fn undo_fits(&self, slot: &SemSlot, at: u64) -> bool {
        let nsems = slot.nsems.load(Relaxed);
        block_fits(at, undo_size(nsems)) && self.undo(at).nsems.load(Relaxed) == nsems
    }

    /// Applies `ops` to the set all or nothing (Linux's perform_atomic_semop).
    /// Slot lock held; holds the semaphores named (the caller releases them).
    /// The changes are logged in the set's journal; the caller commits them
    /// (a refusal has taken them back already). `undo`, if not 0, is an undo
    /// record its finder checked has the set's size (`undo_fits`).
    fn try_ops(&self, slot: &SemSlot, ops: &[SemOp], undo: u64, pid: i32) -> Result<(), Attempt> {
        if self.journal_reserve(slot, ops.len() * 2).is_err() {
            return Err(Attempt::Failed(libc::ENOMEM));
        }
        // The array, the journal and the undo record once, rather than a
        // check of each place in them: every operation is on them.
        let nsems = (slot.nsems.load(Relaxed) as usize).max(1);
        let journal = &slot.journal;
        let capacity = journal.capacity.load(Relaxed) as usize;
        let spans = self.heap_span(slot.sems.load(Relaxed), nsems * core::mem::size_of::<Sem>()).and_then(|sems| {
            let entries = self.heap_span(journal.entries.load(Relaxed), capacity * ENTRY_SIZE as usize)?;
            let undo_adjs = match undo {
                0 => 0,
                _ => self.heap_span(undo, undo_size(nsems as u32) as usize)? + core::mem::size_of::<Undo>(),
            };
            Ok((sems, entries, undo_adjs))
        });
        let (sems, entries, undo_adjs) = match spans {
            Ok(spans) => spans,
            Err(e) => return Err(Attempt::Failed(e)),
        };
        // A number past the set (read from a corrupt region) stays in it.
        let clamp = |num: u16| (num as usize).min(nsems - 1);
        let sem = |num: u16| -> &Sem {
            // SAFETY: the array holds nsems `Sem`s, mapped here (heap_span),
            // and lives as long as the slot.
            unsafe { &*((sems + clamp(num) * core::mem::size_of::<Sem>()) as *const Sem) }
        };
        let adj = |num: u16| -> &AtomicI32 {
            // SAFETY: the undo record holds nsems adjustments after its
            // header, mapped here (heap_span); it is the caller's, linked to
            // this set, and only this lock's holder frees it.
            unsafe { &*((undo_adjs + clamp(num) * 4) as *const AtomicI32) }
        };
        // As `log_change`, into the journal's block mapped above.
        let log = |kind: u32, target: u64, old: i32| {
            let len = journal.len.load(Relaxed);
            if len as usize >= capacity {
                return;
            }
            // SAFETY: the block holds `capacity` entries, mapped here.
            let entry = unsafe { &*((entries + len as usize * ENTRY_SIZE as usize) as *const JournalEntry) };
            journal.append(len, entry, kind, target, old);
        };
        ops.iter().for_each(|op| sem(op.num).hold());
        let outcome = (|| {
            for (i, op) in ops.iter().enumerate() {
                let sem = sem(op.num);
                let value = sem.value();
                let result = value + op.op as i32;
                if (op.op == 0 && value != 0) || result < 0 {
                    return Err(if op.flags & NOWAIT != 0 {
                        Attempt::Failed(libc::EAGAIN)
                    } else {
                        Attempt::Blocked(i)
                    });
                }
                if result > SEMVMX {
                    return Err(Attempt::Failed(libc::ERANGE));
                }
                if op.flags & SEM_UNDO != 0 {
                    let adj = adj(op.num);
                    let old = adj.load(Relaxed);
                    let new = old.saturating_sub(op.op as i32);
                    if !(-SEMAEM - 1..=SEMAEM).contains(&new) {
                        return Err(Attempt::Failed(libc::ERANGE));
                    }
                    log(ADJ_ENTRY, undo_adj_offset(undo, clamp(op.num) as u32), old);
                    adj.store(new, Relaxed);
                }
                log(VALUE_ENTRY, clamp(op.num) as u64, value);
                sem.set_value(result);
                crate::faults::crash_point("sem.try_ops.after_op");
            }
            Ok(())
        })();
        match outcome {
            Ok(()) => {
                for op in ops {
                    store_if_changed_i32(&sem(op.num).pid, pid);
                }
                Ok(())
            }
            Err(why) => {
                self.journal_rollback(slot);
                Err(why)
            }
        }
    }

    /// Makes room in the set's journal for `more` entries. Slot lock held.
    #[inline(always)]
    fn journal_reserve(&self, slot: &SemSlot, more: usize) -> SysResult<()> {
        let journal = &slot.journal;
        if journal.len.load(Relaxed) as u64 + more as u64 <= journal.capacity.load(Relaxed) as u64 {
            return Ok(());
        }
        self.journal_grow(slot, more)
    }

    #[cold]
    fn journal_grow(&self, slot: &SemSlot, more: usize) -> SysResult<()> {
        let journal = &slot.journal;
        let len = journal.len.load(Relaxed) as u64;
        let capacity = journal.capacity.load(Relaxed) as u64;
        let old = journal.entries.load(Relaxed);
        if len > capacity || (old != 0 && !block_fits(old, capacity * ENTRY_SIZE)) {
            return Err(corrupt("a semaphore set's journal outside its block"));
        }
        let needed = len + more as u64;
        let new_capacity = needed.next_power_of_two().max(16);
        // Uninitialised: entries are written before `len` covers them (and
        // zeroing a large log would widen the window in which a death loses it).
        let at = self.heap_alloc_uninit(new_capacity.checked_mul(ENTRY_SIZE).ok_or(libc::ENOMEM)?)?;
        crate::faults::crash_point("sem.journal.allocated");
        if len > 0 {
            let bytes = (len * ENTRY_SIZE) as usize;
            let spans = self.heap_span(old, bytes).and_then(|from| Ok((from, self.heap_span(at, bytes)?)));
            let (from, to) = match spans {
                Ok(spans) => spans,
                Err(e) => {
                    self.heap_free(at, new_capacity * ENTRY_SIZE);
                    return Err(e);
                }
            };
            // SAFETY: both blocks hold at least `len` entries; the new one is ours alone.
            unsafe { core::ptr::copy_nonoverlapping(from as *const u8, to as *mut u8, bytes) };
        }
        // A holder that dies between these stores leaves a log that is
        // still right: the new block, with the old, smaller room.
        journal.entries.store(at, Relaxed);
        journal.capacity.store(new_capacity as u32, Relaxed);
        if old != 0 {
            self.heap_free(old, capacity * ENTRY_SIZE);
        }
        Ok(())
    }

    fn journal_entry(&self, slot: &SemSlot, i: u32) -> &JournalEntry {
        debug_assert!(i < slot.journal.capacity.load(Relaxed));
        let at = slot.journal.entries.load(Relaxed).wrapping_add(i as u64 * ENTRY_SIZE);
        // SAFETY: the log block holds `capacity` entries.
        unsafe { self.heap_ref(at) }
    }

    /// Logs a change about to be made. Unlogged if the journal has no room
    /// (`journal_reserve` failed: the heap is exhausted). Slot lock held.
    fn log_change(&self, slot: &SemSlot, kind: u32, target: u64, old: i32) {
        let journal = &slot.journal;
        let len = journal.len.load(Relaxed);
        if len >= journal.capacity.load(Relaxed) {
            return;
        }
        journal.append(len, self.journal_entry(slot, len), kind, target, old);
    }

    /// Sets semaphore `num` (held) to `value`, logged. Slot lock held.
    fn set_value_logged(&self, slot: &SemSlot, num: u32, value: i32) {
        let sem = self.sem(slot, num);
        self.log_change(slot, VALUE_ENTRY, num as u64, sem.value());
        sem.set_value(value);
    }

    /// Sets an adjustment of undo record `undo`, logged. Slot lock held.
    fn set_adj_logged(&self, slot: &SemSlot, undo: u64, num: u32, value: i32) {
        let adj = self.undo_adj(undo, num);
        self.log_change(slot, ADJ_ENTRY, undo_adj_offset(undo, num), adj.load(Relaxed));
        adj.store(value, Relaxed);
    }

    /// Commits the journal's changes: the caller's own operation is done.
    fn journal_commit(&self, slot: &SemSlot) {
        slot.journal.len.store(0, Relaxed);
    }

    /// Takes back every change logged since the last commit. Slot lock
    /// held. A log that cannot be right (longer than its block, naming a
    /// semaphore past the set) is taken back as far as it can be.
    fn journal_rollback(&self, slot: &SemSlot) {
        let journal = &slot.journal;
        let (len, capacity) = (journal.len.load(Relaxed), journal.capacity.load(Relaxed));
        if len > capacity || (len != 0 && !block_fits(journal.entries.load(Relaxed), capacity as u64 * ENTRY_SIZE)) {
            corrupt("a semaphore set's journal outside its block");
            journal.len.store(0, Relaxed);
            return;
        }
        let nsems = slot.nsems.load(Relaxed) as u64;
        for i in (0..len).rev() {
            let entry = self.journal_entry(slot, i);
            let (target, old) = (entry.target.load(Relaxed), entry.old.load(Relaxed));
            if entry.kind.load(Relaxed) == VALUE_ENTRY {
                if target >= nsems {
                    corrupt("a semaphore set's journal naming no semaphore");
                    continue;
                }
                let sem = self.sem(slot, target as u32);
                sem.hold();
                sem.set_value(old);
            } else {
                // SAFETY: the entry names an adjustment of an undo record
                // linked to this set, which only this lock's holder frees.
                unsafe { self.heap_ref::<AtomicI32>(target) }.store(old, Relaxed);
            }
        }
        slot.journal.len.store(0, Relaxed);
    }

    /// Stores a queued waiter's outcome, commits the journal with it,
    /// unlinks the waiter (whose predecessor is `prev`) and wakes it. Once
    /// `completing` names it, a repair finishes the job if this thread dies
    /// (and the waiter, woken, does not free its block while it is named).
    /// Slot lock held. With `late`, its holder may be left the wake-up, to
    /// make as it lets go of the lock (see `wait::finish_late`).
    fn complete_waiter(&self, slot: &SemSlot, prev: u64, at: u64, result: i32, late: Option<&Cell<u64>>) {
        let waiter = self.waiter(at);
        waiter.result.store(result, Relaxed);
        slot.journal.completing.store(at, Relaxed);
        slot.journal.len.store(0, Relaxed);
        crate::faults::crash_point("sem.complete.committed");
        self.unlink_waiter(slot, prev, at);
        match late {
            Some(late) => wait::finish_late(&waiter.status, late, &slot.journal.waking, at),
            None => wait::finish(&waiter.status),
        }
        crate::faults::crash_point("sem.complete.woken");
        slot.journal.completing.store(0, Relaxed);
        // Woken or not yet (at the unlock): `waking` then names it.
        crate::faults::crash_point("sem.complete.done");
    }

    /// Repairs set `index` after a thread died holding its lock: finishes
    /// a committed completion or takes back uncommitted changes, mends the
    /// queue's tail, finishes waking the waiters of a set being removed,
    /// and serves the queue (values may allow waiters to proceed now).
    /// Slot lock held.
    fn repair_set(&self, index: u32) {
        let slot = self.set(index);
        let journal = &slot.journal;
        let waking = journal.waking.swap(0, Relaxed);
        if is_block(waking) {
            sys::futex_wake(&self.waiter(waking).status, 1);
        }
        let completing = journal.completing.load(Relaxed);
        if completing != 0 {
            journal.len.store(0, Relaxed);
            if is_block(completing) {
                self.unlink_if_queued(slot, completing);
                wait::finish_for_the_dead(&self.waiter(completing).status);
            } else {
                corrupt("a semaphore set's completion outside the heap");
            }
            journal.completing.store(0, Relaxed);
        } else {
            let applying = journal.applying.load(Relaxed);
            if is_block(applying) && self.undo(applying).applied.load(Relaxed) != 0 {
                journal.len.store(0, Relaxed);
            } else {
                self.journal_rollback(slot);
            }
        }
        journal.applying.store(0, Relaxed);
        // A waiter may have been linked or unlinked with the tail not yet moved.
        let last = self.list_blocks(slot.queue_head.load(Relaxed), |at| self.waiter(at).next.load(Relaxed)).last();
        slot.queue_tail.store(last.unwrap_or(0), Relaxed);
        if slot.head.removing.load(Relaxed) != 0 {
            self.wake_removed(slot);
        } else if slot.head.is_live() {
            let nsems = slot.nsems.load(Relaxed);
            self.hold_sems(slot, 0..nsems);
            self.serve_queue(slot, None);
            self.release_sems(slot, 0..nsems);
        }
    }

    /// Unlinks waiter `target` if it is queued; whether it was. Slot lock held.
    fn unlink_if_queued(&self, slot: &SemSlot, target: u64) -> bool {
        let (mut prev, mut at) = (0, slot.queue_head.load(Relaxed));
        while at != 0 {
            if at == target {
                self.unlink_waiter(slot, prev, at);
                return true;
            }
            prev = at;
            at = self.queue_next(slot, at);
        }
        false
    }

    /// Unlinks and frees the semop waiters a dead process left (queued or
    /// not). Each stays on the dead process's list until it is out of its
    /// queue, so a reaper that dies midway leaves the rest to the next. A
    /// link outside the heap ends the list: what it named is lost. With
    /// `how` UnlessStopped, a waiter whose set's lock a stopped process
    /// holds stays too, for a later reap; whether none did.
    pub(crate) fn drop_sem_waiters(&self, rec: RecordRef, how: Locking) -> bool {
        let mut link = &self.record(rec.index).sem_waiters;
        let mut complete = true;
        loop {
            let at = link.load(Relaxed);
            if at == 0 {
                break;
            }
            if !is_block(at) {
                corrupt("a process's semaphore waiters outside the heap");
                link.store(0, Relaxed);
                break;
            }
            let waiter = self.waiter(at);
            let (index, seq) = (waiter.slot.load(Relaxed), waiter.seq.load(Relaxed));
            // Taking the lock also repairs after a completer that died
            // naming this waiter.
            match SemTable(self).lock_live_with(index, Some(seq), how) {
                Ok(Some((_, _guard))) => {
                    let slot = self.set(index);
                    if self.unlink_if_queued(slot, at) {
                        self.release_sems(slot, self.waiter_nums(at));
                    }
                }
                Ok(None) => {
                    complete = false;
                    link = &waiter.next_in_process;
                    continue;
                }
                Err(_) => {}
            }
            link.store(waiter.next_in_process.load(Relaxed), Relaxed);
            self.heap_free(at, waiter.size.load(Relaxed));
        }
        complete
    }

    /// Completes every queued waiter with EIDRM, one at a time, so that a
    /// removal cut short can be finished. Slot lock held.
    fn wake_removed(&self, slot: &SemSlot) {
        self.hold_sems(slot, 0..slot.nsems.load(Relaxed));
        loop {
            let at = slot.queue_head.load(Relaxed);
            if at == 0 {
                break;
            }
            self.complete_waiter(slot, 0, at, libc::EIDRM, None);
            crate::faults::crash_point("sem.destroy.woke_one");
        }
    }

    /// Lets go of a set's lock, making the wake-up its holder was left
    /// (`late`: see `complete_waiter`), if any, in the same system call.
    #[inline(always)]
    fn unlock_late(&self, guard: Guard<'_>, late: &Cell<u64>) {
        match late.get() {
            0 => drop(guard),
            at => guard.unlock_waking(&self.waiter(at).status),
        }
    }

    /// Retries queued operations in order after values changed, completing
    /// and waking those that can proceed (Linux's update_queue). Waiters of
    /// dead processes are dropped. Returns the waiter to wake ahead (see
    /// `wait`), if any: the new first waiter when it waits to decrement the
    /// semaphore a completed single decrement has just taken (the next in
    /// line for a mutex). Slot lock held.
    fn serve_queue(&self, slot: &SemSlot, late: Option<&Cell<u64>>) -> Option<u64> {
        // Semaphores of the waiters that leave the queue: released at the end.
        let mut left = Vec::new();
        // The semaphore the last completed single decrement took.
        let mut taken = None;
        'rescan: loop {
            let mut prev = 0u64;
            let mut at = slot.queue_head.load(Relaxed);
            // Whether every waiter this pass has left queued is a single
            // decrement: values that only went down cannot unblock those.
            let mut passed_decrements = true;
            while at != 0 {
                let waiter = self.waiter(at);
                let next = self.queue_next(slot, at);
                let rec = RecordRef {
                    index: waiter.record.load(Relaxed),
                    generation: waiter.record_generation.load(Relaxed),
                };
                let nsops = self.waiter_nsops(at);
                let Some(nsops) =
                    nsops.filter(|_| self.record_current(rec) && self.liveness(rec.index) != Liveness::Dead)
                else {
                    // Its process's reaper frees the block (if it can be
                    // right: see `waiter_nsops`).
                    left.extend(self.waiter_nums(at));
                    self.unlink_waiter(slot, prev, at);
                    at = next;
                    continue;
                };
                if nsops == 1 && self.still_blocked(slot, self.waiter_op(at, 0)) {
                    // What try_ops would find, without its cost (the queue
                    // of a semaphore shared by N processes is N - 1 long).
                    passed_decrements &= self.waiter_op(at, 0).op < 0;
                    prev = at;
                    at = next;
                    continue;
                }
                // Tried now, with its undo record, which must be the set's
                // (see `try_ops`): one that is not leaves as a dead one does.
                let undo = waiter.undo.load(Relaxed);
                if undo != 0 && !self.undo_fits(slot, undo) {
                    corrupt("an undo record of another size than its set");
                    left.extend(self.waiter_nums(at));
                    self.unlink_waiter(slot, prev, at);
                    at = next;
                    continue;
                }
                let ops: Vec<SemOp> = (0..nsops).map(|i| self.waiter_op(at, i)).collect();
                let alter = ops.iter().any(|op| op.op != 0);
                let one_decrement = matches!(ops[..], [op] if op.op < 0);
                match self.try_ops(slot, &ops, undo, waiter.pid.load(Relaxed)) {
                    Err(Attempt::Blocked(i)) => {
                        waiter.blocking.store(i as u32, Relaxed);
                        passed_decrements &= one_decrement;
                        prev = at;
                        at = next;
                    }
                    outcome => {
                        let result = match outcome {
                            Ok(()) => {
                                self.set_otime(slot, &ops);
                                0
                            }
                            Err(Attempt::Failed(e)) => e,
                            Err(Attempt::Blocked(_)) => unreachable!(),
                        };
                        left.extend(nums(&ops));
                        self.complete_waiter(slot, prev, at, result, late);
                        if result == 0 && one_decrement {
                            taken = Some(ops[0].num);
                        }
                        // Values changed: earlier waiters may proceed now,
                        // unless the change was one decrement and each of
                        // them waits to decrement (as Linux's check_restart).
                        if alter && result == 0 && !(one_decrement && passed_decrements) {
                            continue 'rescan;
                        }
                        at = next;
                    }
                }
            }
            break;
        }
        self.release_sems(slot, left);
        let head = slot.queue_head.load(Relaxed);
        let next_in_line = taken.is_some() && head != 0 && self.waiter_nsops(head).is_some() && {
            let op = self.waiter_op(head, self.waiter(head).blocking.load(Relaxed));
            op.op < 0 && Some(op.num) == taken
        };
        next_in_line.then_some(head)
    }

    /// Whether a queued waiter's single operation still cannot proceed:
    /// exactly when `try_ops` would find it blocked (it blocks before any
    /// range check, and a queued operation never has IPC_NOWAIT), with room
    /// in the journal so that try_ops could not have failed for want of it.
    /// Its semaphore stays held, as a queued waiter's does. Slot lock held.
    fn still_blocked(&self, slot: &SemSlot, op: SemOp) -> bool {
        let journal = &slot.journal;
        if journal.len.load(Relaxed).saturating_add(2) > journal.capacity.load(Relaxed) {
            return false;
        }
        let sem = self.sem(slot, op.num as u32);
        let value = sem.value();
        let blocked = if op.op == 0 { value != 0 } else { value + (op.op as i32) < 0 };
        if blocked {
            sem.hold();
        }
        blocked
    }

    /// Wakes queued waiter `at` ahead of its turn (see `wait`). Called with
    /// no lock held, so the block may have been completed and freed since:
    /// heap memory is never unmapped, and a stray wake-up is harmless.
    fn wake_ahead(&self, at: u64) {
        wait::wake_ahead(&self.waiter(at).status);
    }

    fn unlink_waiter(&self, slot: &SemSlot, prev: u64, at: u64) {
        let next = self.queue_next(slot, at);
        if prev == 0 {
            slot.queue_head.store(next, Relaxed);
        } else {
            self.waiter(prev).next.store(next, Relaxed);
        }
        if slot.queue_tail.load(Relaxed) == at {
            slot.queue_tail.store(prev, Relaxed);
        }
    }

    #[inline(always)]
    fn set_otime(&self, slot: &SemSlot, ops: &[SemOp]) {
        let first = ops.first().map_or(0, |op| op.num as u32);
        store_if_changed_i64(&self.sem(slot, first).otime, sys::realtime_seconds());
    }

    /// Waiters blocked on semaphore `num` for a decrease (or, with `zero`, for zero).
    fn count_waiting(&self, slot: &SemSlot, num: u32, zero: bool) -> i32 {
        let mut count = 0;
        let mut at = slot.queue_head.load(Relaxed);
        while at != 0 {
            let waiter = self.waiter(at);
            if self.waiter_nsops(at).is_some() && self.liveness(waiter.record.load(Relaxed)) != Liveness::Dead {
                let op = self.waiter_op(at, waiter.blocking.load(Relaxed));
                if op.num as u32 == num && if zero { op.op == 0 } else { op.op < 0 } {
                    count += 1;
                }
            }
            at = self.queue_next(slot, at);
        }
        count
    }

    /// Removes a set: waiters get EIDRM; its semaphores stay held, and the
    /// slot keeps the array (see `Sem`) but gives its journal's block back,
    /// so that a free slot holds no heap block but a large set's array
    /// (see `SemTable::keeps_memory`). Each step can be taken again by a
    /// repair if the remover dies (a repair leaves the journal's block to
    /// the slot's next set). Facility and slot lock held, inside a hold.
    fn destroy_set(&self, index: u32) {
        let table = SemTable(self);
        table.begin_removal(index);
        let slot = self.set(index);
        self.wake_removed(slot);
        // Recounted by the facility's repair if the remover dies from here on.
        self.header().sem.total_sems.fetch_sub(slot.nsems.load(Relaxed) as u64, Relaxed);
        let journal = &slot.journal;
        let (entries, room) = (journal.entries.load(Relaxed), journal.capacity.load(Relaxed) as u64 * ENTRY_SIZE);
        if entries != 0 && journal.len.load(Relaxed) == 0 {
            // Unnamed first: a death between leaves the block lost, for
            // the collector (this is inside a hold), never named twice.
            journal.entries.store(0, Relaxed);
            journal.capacity.store(0, Relaxed);
            if block_fits(entries, room) {
                self.heap_free(entries, room);
            }
        }
        table.release(index);
    }

    /// Applies and frees a dead process's undo records (Linux's exit_sem).
    /// A reaper that dies midway leaves the rest to the next: each record
    /// stays on the dead process's list until it is applied (which its
    /// `applied` flag commits) and unlinked from its set. A link outside
    /// the heap ends the list (what it named is lost); a record whose size
    /// is not its set's is neither applied nor freed. With `how`
    /// UnlessStopped, a record whose set's lock a stopped process holds
    /// stays too, for a later reap; whether none did.
    pub(crate) fn apply_undos(&self, rec: RecordRef, pid: i32, how: Locking) -> bool {
        let table = SemTable(self);
        let mut link = &self.record(rec.index).sem_undos;
        let mut complete = true;
        loop {
            let at = link.load(Relaxed);
            if at == 0 {
                break;
            }
            if !is_block(at) {
                corrupt("a process's undo records outside the heap");
                link.store(0, Relaxed);
                break;
            }
            let undo = self.undo(at);
            let next = undo.next_in_process.load(Relaxed);
            let (index, seq, nsems) = (undo.slot.load(Relaxed), undo.seq.load(Relaxed), undo.nsems.load(Relaxed));
            let mut whole = block_fits(at, undo_size(nsems));
            let locked = match table.lock_live_with(index, Some(seq), how) {
                Ok(Some(locked)) => Some(locked),
                Ok(None) => {
                    complete = false;
                    link = &undo.next_in_process;
                    continue;
                }
                Err(_) => None,
            };
            if let Some((_, _guard)) = locked {
                let slot = self.set(index);
                whole = self.undo_fits(slot, at);
                if !whole {
                    corrupt("an undo record of another size than its set");
                }
                let nums = if whole { nsems } else { 0 };
                let adjusted: Vec<u32> = (0..nums).filter(|&num| self.undo_adj(at, num).load(Relaxed) != 0).collect();
                self.hold_sems(slot, adjusted.iter().copied());
                if whole && undo.applied.load(Relaxed) == 0 {
                    // Without room to log (the heap is exhausted), applied unlogged.
                    let _ = self.journal_reserve(slot, adjusted.len());
                    slot.journal.applying.store(at, Relaxed);
                    for &num in &adjusted {
                        let adj = self.undo_adj(at, num).load(Relaxed);
                        let value = self.sem(slot, num).value().saturating_add(adj).clamp(0, SEMVMX);
                        self.set_value_logged(slot, num, value);
                        self.sem(slot, num).pid.store(pid, Relaxed);
                        crate::faults::crash_point("sem.apply_undos.after_sem");
                    }
                    undo.applied.store(1, Relaxed);
                    slot.journal.len.store(0, Relaxed);
                    slot.journal.applying.store(0, Relaxed);
                }
                crate::faults::crash_point("sem.apply_undos.applied");
                self.unlink_undo_from_set(slot, at);
                // Linux marks the set operated on by every exit that held an
                // undo record for it, whatever the adjustments were.
                self.set_otime(slot, &[]);
                self.serve_queue(slot, None);
                self.release_sems(slot, adjusted);
            }
            link.store(next, Relaxed);
            crate::faults::crash_point("sem.apply_undos.unlinked");
            if whole {
                self.heap_free(at, undo_size(nsems));
            }
        }
        complete
    }

    fn unlink_undo_from_set(&self, slot: &SemSlot, target: u64) {
        self.unlink_block(&slot.undos, target, |at| &self.undo(at).next_in_set);
    }

    /// Adjustments of semaphore `num` (all with None), over every
    /// process, that are not 0: what `clear_adjustments` will log.
    fn count_adjustments(&self, slot: &SemSlot, num: Option<u32>) -> usize {
        let nums = num.map_or(0..slot.nsems.load(Relaxed), |n| n..n + 1);
        self.set_undos(slot).map(|at| nums.clone().filter(|&n| self.undo_adj(at, n).load(Relaxed) != 0).count()).sum()
    }

    /// Clears every process's adjustment of semaphore `num` (all with
    /// None), logged. Slot lock held.
    fn clear_adjustments(&self, slot: &SemSlot, num: Option<u32>) {
        let nums = num.map_or(0..slot.nsems.load(Relaxed), |n| n..n + 1);
        for at in self.set_undos(slot) {
            for n in nums.clone() {
                if self.undo_adj(at, n).load(Relaxed) != 0 {
                    self.set_adj_logged(slot, at, n, 0);
                }
            }
        }
    }

    /// The undo records on the list of the set in `slot` that have its
    /// size (see `undo_fits`: others are passed over). A link outside the
    /// heap ends the list there: what it named is out of reach. Slot lock held.
    fn set_undos<'a>(&'a self, slot: &'a SemSlot) -> impl Iterator<Item = u64> + 'a {
        let mut link = &slot.undos;
        core::iter::from_fn(move || loop {
            let at = link.load(Relaxed);
            if at == 0 {
                return None;
            }
            if !is_block(at) {
                corrupt("a semaphore set's undo list outside the heap");
                link.store(0, Relaxed);
                return None;
            }
            link = &self.undo(at).next_in_set;
            if self.undo_fits(slot, at) {
                return Some(at);
            }
            corrupt("an undo record of another size than its set");
        })
    }
}

/// Reads the caller's `struct sembuf` array at `addr` into `ops`, one
/// guarded register read each: a copy through memory by `rep movsb` would
/// stall the loads that parse it (its stores cannot be forwarded). None if
/// the fault guard is not available here; Some(Err(EFAULT)) if part of the
/// array is unreadable.
fn read_sembufs(addr: usize, ops: &mut [SemOp]) -> Option<SysResult<()>> {
    // In 8-byte words where the last one's bytes past the array lie in the
    // same page (so reading them cannot fault where the array would not):
    // four operations are three reads rather than four.
    let len = ops.len() * 6;
    if ops.len() > 1 && addr % 4096 + len.next_multiple_of(8) <= 4096 {
        let mut bytes = [0u8; 8 * 6];
        for (i, word) in bytes[..len.next_multiple_of(8)].chunks_exact_mut(8).enumerate() {
            let Some(value) = crate::usercopy::read_word(addr + i * 8)? else {
                return Some(Err(libc::EFAULT));
            };
            word.copy_from_slice(&value.to_le_bytes());
        }
        SemOp::parse_into(&bytes[..len], ops);
        return Some(Ok(()));
    }
    for (i, op) in ops.iter_mut().enumerate() {
        let Some((head, flags)) = crate::usercopy::read_sembuf(addr.wrapping_add(i * 6))? else {
            return Some(Err(libc::EFAULT));
        };
        *op = SemOp { num: head as u16, op: (head >> 16) as u16 as i16, flags: flags as i16 };
    }
    Some(Ok(()))
}

/// The checks Linux makes after copying the operations in.
fn check_semop_args(id: i32, timeout: Option<libc::timespec>) -> SysResult<()> {
    if id < 0 || timeout.is_some_and(|ts| ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec)) {
        return Err(libc::EINVAL);
    }
    Ok(())
}

/// The semaphores `ops` name.
fn nums(ops: &[SemOp]) -> impl Iterator<Item = u32> + '_ {
    ops.iter().map(|op| op.num as u32)
}

/// A semop waiter block of this thread, on its process's list while it
/// lives. Its set and size are kept here too: the block's own copies are
/// in the region, which another process may have overwritten.
struct OwnSemWaiter<'a> {
    ns: &'a Namespace,
    at: u64,
    size: u64,
    index: u32,
    rec: RecordRef,
}

impl Drop for OwnSemWaiter<'_> {
    fn drop(&mut self) {
        let region = &self.ns.region;
        let index = self.index;
        if region.set(index).journal.completing.load(Relaxed) == self.at {
            // Its completer has not let go yet, or died before it could: the
            // lock waits for the one or repairs after the other.
            drop(SemTable(region).lock_slot(index));
        }
        {
            let _local = self.ns.local();
            if region.record_current(self.rec) {
                let list = &region.record(self.rec.index).sem_waiters;
                region.unlink_block(list, self.at, |at| &region.waiter(at).next_in_process);
            }
        }
        region.heap_free(self.at, self.size);
    }
}

fn undo_adj_offset(undo: u64, num: u32) -> u64 {
    undo.wrapping_add(core::mem::size_of::<Undo>() as u64 + num as u64 * 4)
}

fn undo_size(nsems: u32) -> u64 {
    core::mem::size_of::<Undo>() as u64 + nsems as u64 * 4
}

/// `struct semid_ds` as the kernel lays out `semid64_ds` on this target.
#[cfg(target_arch = "x86_64")]
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct SemidDs {
    pub perm: IpcPerm,
    pub otime: i64,
    pub unused1: u64,
    pub ctime: i64,
    pub unused2: u64,
    pub nsems: u64,
    pub unused3: u64,
    pub unused4: u64,
}

#[cfg(target_arch = "aarch64")]
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct SemidDs {
    pub perm: IpcPerm,
    pub otime: i64,
    pub ctime: i64,
    pub nsems: u64,
    pub unused3: u64,
    pub unused4: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct SemInfo {
    pub semmap: i32,
    pub semmni: i32,
    pub semmns: i32,
    pub semmnu: i32,
    pub semmsl: i32,
    pub semopm: i32,
    pub semume: i32,
    pub semusz: i32,
    pub semvmx: i32,
    pub semaem: i32,
}

pub const GETPID: i32 = 11;
pub const GETVAL: i32 = 12;
pub const GETALL: i32 = 13;
pub const GETNCNT: i32 = 14;
pub const GETZCNT: i32 = 15;
pub const SETVAL: i32 = 16;
pub const SETALL: i32 = 17;
pub const SEM_STAT: i32 = 18;
pub const SEM_INFO: i32 = 19;
pub const SEM_STAT_ANY: i32 = 20;

/// Sets of up to this many semaphores have GETALL and SETALL's values on
/// the stack (Linux's SEMMSL_FAST): no heap allocation in the usual case.
const SEMMSL_FAST: usize = 256;

/// `len` bytes of `short` if they fit, else of `long`, grown to `len`.
fn scratch<'a>(short: &'a mut [u8], long: &'a mut Vec<u8>, len: usize) -> &'a mut [u8] {
    if len <= short.len() {
        &mut short[..len]
    } else {
        long.resize(len, 0);
        long
    }
}

/// Whether `semctl(…, cmd, …)` reads its fourth argument (glibc's rule; any
/// other command is EINVAL before the kernel is asked).
pub fn semctl_takes_arg(cmd: i32) -> Option<bool> {
    match cmd {
        SETVAL | GETALL | SETALL | IPC_STAT | IPC_SET | SEM_STAT | SEM_STAT_ANY | IPC_INFO | SEM_INFO => Some(true),
        IPC_RMID | GETNCNT | GETPID | GETVAL | GETZCNT => Some(false),
        _ => None,
    }
}

impl Namespace {
    fn sems(&self) -> SemTable<'_> {
        SemTable(&self.region)
    }

    /// semget(2).
    pub fn semget(&self, key: i32, nsems: i32, flags: i32) -> SysResult<i32> {
        let region = &self.region;
        let limits = region.limits();
        if nsems < 0 || nsems as u64 > limits.semmsl.load(Relaxed) {
            return Err(libc::EINVAL);
        }
        self.reap_dead();
        let _hold = self.hold();
        let cred = Cred::current();
        let table = self.sems();
        let (_fac, found) =
            if key != IPC_PRIVATE { table.lock_facility_and_key(key)? } else { (table.lock_facility()?, None) };
        if let Some((index, _guard)) = found {
            if flags & IPC_CREAT != 0 && flags & IPC_EXCL != 0 {
                return Err(libc::EEXIST);
            }
            let slot = region.set(index);
            if nsems as u32 > slot.nsems.load(Relaxed) {
                return Err(libc::EINVAL);
            }
            if !cred.may_access(&slot.head.perm(), flags) {
                return Err(libc::EACCES);
            }
            return Ok(make_id(index, slot.head.seq.load(Relaxed)));
        }
        if key != IPC_PRIVATE && flags & IPC_CREAT == 0 {
            return Err(libc::ENOENT);
        }
        if nsems == 0 {
            return Err(libc::EINVAL);
        }
        let sem_facility = &region.header().sem;
        let total = sem_facility.total_sems.load(Relaxed);
        if total + nsems as u64 > limits.semmns.load(Relaxed) {
            return Err(libc::ENOSPC);
        }
        let index = table.alloc_index(limits.semmni.load(Relaxed))?;
        let slot = region.set(index);
        let _guard = table.lock_slot(index)?;
        let capacity = slot.capacity.load(Relaxed);
        let sems = slot.sems.load(Relaxed);
        let array_fits = if in_zone(sems) {
            sems == zone_array(index) && capacity == ZONE_SEMS
        } else {
            block_fits(sems, capacity as u64 * core::mem::size_of::<Sem>() as u64)
        };
        if capacity != 0 && !array_fits {
            return Err(corrupt("a semaphore slot's array outside the heap"));
        }
        if capacity == 0 && nsems as u32 <= ZONE_SEMS {
            slot.sems.store(zone_array(index), Relaxed);
            slot.capacity.store(ZONE_SEMS, Relaxed);
        } else if capacity < nsems as u32 {
            // A smaller array of an earlier set stays as it is, its words
            // held (see `Sem`); doubling sizes bound what a slot keeps.
            let capacity = (nsems as u32).next_power_of_two();
            // A zone array stays the slot's: no record names it.
            let old =
                if in_zone(sems) { 0 } else { slot.capacity.load(Relaxed) as u64 * core::mem::size_of::<Sem>() as u64 };
            let retired_size = core::mem::size_of::<Retired>() as u64;
            let retired = if old != 0 { region.heap_alloc(retired_size)? } else { 0 };
            let sems = match region.heap_alloc(capacity as u64 * core::mem::size_of::<Sem>() as u64) {
                Ok(sems) => sems,
                Err(e) => {
                    if retired != 0 {
                        region.heap_free(retired, retired_size);
                    }
                    return Err(e);
                }
            };
            if retired != 0 {
                // SAFETY: a block just allocated for a `Retired`.
                let record = unsafe { region.heap_ref::<Retired>(retired) };
                record.array.store(slot.sems.load(Relaxed), Relaxed);
                record.size.store(old, Relaxed);
                record.next.store(sem_facility.retired.load(Relaxed), Relaxed);
                sem_facility.retired.store(retired, Relaxed);
            }
            slot.sems.store(sems, Relaxed);
            slot.capacity.store(capacity, Relaxed);
        }
        sem_facility.total_sems.fetch_add(nsems as u64, Relaxed);
        slot.nsems.store(nsems as u32, Relaxed);
        slot.lock_free.store(0, Relaxed);
        slot.streak.store(0, Relaxed);
        let tag = tag_of(slot.head.seq.load(Relaxed));
        for num in 0..nsems as u32 {
            let sem = region.sem(slot, num);
            sem.pid.store(0, Relaxed);
            sem.otime.store(0, Relaxed);
            sem.word.store(tag | HELD, Release);
        }
        slot.ctime.store(sys::realtime_seconds(), Relaxed);
        slot.queue_head.store(0, Relaxed);
        slot.queue_tail.store(0, Relaxed);
        slot.undos.store(0, Relaxed);
        Ok(table.publish(index, key, cred.euid, cred.egid, flags as u32 & MODE_PERMISSION_BITS))
    }

    /// semtimedop(2) (semop(2) with no timeout). `ops_addr` and `timeout_addr`
    /// are the caller's pointers (EFAULT is checked here).
    #[inline(always)]
    pub fn semtimedop(&self, id: i32, ops_addr: usize, nsops: usize, timeout_addr: usize) -> SysResult<i32> {
        if nsops as u32 == 1 && timeout_addr == 0 {
            if let Some(done) = self.semop_one_lock_free(id, ops_addr) {
                return done;
            }
        }
        self.semtimedop_locked(id, ops_addr, nsops, timeout_addr)
    }

    /// semtimedop past the lock-free path.
    #[inline(never)]
    fn semtimedop_locked(&self, id: i32, ops_addr: usize, nsops: usize, timeout_addr: usize) -> SysResult<i32> {
        // Checks in the order Linux makes them (6.x): the timeout is copied
        // first, nsops is an unsigned int.
        let timeout = if timeout_addr != 0 {
            let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            sys::copy_from_user(as_bytes_mut(&mut ts), timeout_addr)?;
            Some(ts)
        } else {
            None
        };
        let nsops = nsops as u32 as usize;
        if nsops as u64 > self.region.limits().semopm.load(Relaxed) {
            return Err(libc::E2BIG);
        }
        if nsops < 1 {
            return Err(libc::EINVAL);
        }
        // Short operation lists (the usual case) stay on the stack, read
        // straight into registers where the fault guard allows.
        const SHORT: usize = 8;
        let empty = SemOp { num: 0, op: 0, flags: 0 };
        let mut short_ops = [empty; SHORT];
        if nsops <= SHORT {
            if let Some(read) = read_sembufs(ops_addr, &mut short_ops[..nsops]) {
                read?;
                check_semop_args(id, timeout)?;
                return self.semop(id, &short_ops[..nsops], timeout);
            }
        }
        let (mut short_raw, mut long_raw) = ([0u8; SHORT * 6], Vec::new());
        let raw = scratch(&mut short_raw, &mut long_raw, nsops * 6);
        sys::copy_from_user(raw, ops_addr)?;
        check_semop_args(id, timeout)?;
        let mut long_ops = Vec::new();
        let ops: &mut [SemOp] = if nsops <= SHORT {
            &mut short_ops[..nsops]
        } else {
            long_ops.resize(nsops, empty);
            &mut long_ops
        };
        SemOp::parse_into(raw, ops);
        self.semop(id, ops, timeout)
    }

    /// A semop of one operation without SEM_UNDO that completes at once: one
    /// compare-and-swap on the semaphore, no lock (see `Sem`). `ops_addr`
    /// is the caller's `struct sembuf`. None sends the call to the locked
    /// path, which also gives every error: the semaphore is held, the
    /// operation would block or fail, `id` is not a live set the caller may
    /// use, or the sembuf cannot be read here.
    ///
    /// Every load here is one the kernel's semop makes too; the order puts
    /// the ones that rule out the most first.
    #[inline(always)]
    fn semop_one_lock_free(&self, id: i32, ops_addr: usize) -> Option<SysResult<i32>> {
        self.lock_free_op(id, || {
            let (head, flags) = crate::usercopy::read_sembuf(ops_addr)??;
            Some(SemOp { num: head as u16, op: (head >> 16) as u16 as i16, flags: flags as i16 })
        })
    }

    /// As `semop_one_lock_free`, for the operation `read_op` gives (None to
    /// take the locked path). It is read once the set is known to be in
    /// lock-free mode, so that a set in locked mode costs no extra read.
    #[inline(always)]
    fn lock_free_op(&self, id: i32, read_op: impl FnOnce() -> Option<SemOp>) -> Option<SysResult<i32>> {
        let region = &self.region;
        let (index, seq) = split_id(id);
        if id < 0 || index >= self.sems().initialised() {
            return None;
        }
        let slot = region.set(index);
        if slot.lock_free.load(Relaxed) == 0 || region.limits().semopm.load(Relaxed) == 0 {
            return None;
        }
        let op = read_op()?;
        if op.flags & SEM_UNDO != 0 {
            return None;
        }
        self.reap_dead();
        if slot.head.state.load(Acquire) != SLOT_LIVE || slot.head.seq.load(Acquire) != seq {
            return None;
        }
        if op.num as u32 >= slot.nsems.load(Relaxed) {
            return None;
        }
        let alter = op.op != 0;
        if !slot.head.may_access(Cred::current(), if alter { 0o222 } else { 0o444 }) {
            return None;
        }
        let sem = region.sem(slot, op.num as u32);
        let tag = tag_of(seq);
        let mut word = sem.word.load(Acquire);
        loop {
            // Held, or the array now serves another set of the slot.
            if word & !VALUE_MASK != tag {
                return None;
            }
            let value = (word & VALUE_MASK) as i32;
            let result = value + op.op as i32;
            if (op.op == 0 && value != 0) || !(0..=SEMVMX).contains(&result) {
                return None;
            }
            if !alter {
                break;
            }
            match sem.word.compare_exchange_weak(word, tag | result as u32, AcqRel, Acquire) {
                Ok(_) => break,
                Err(now) => word = now,
            }
        }
        store_if_changed_i32(&sem.pid, self.pid());
        store_if_changed_i64(&sem.otime, sys::realtime_seconds());
        Some(Ok(0))
    }

    /// semop on parsed operations.
    pub fn semop(&self, id: i32, ops: &[SemOp], timeout: Option<libc::timespec>) -> SysResult<i32> {
        if ops.is_empty() || id < 0 {
            return Err(libc::EINVAL);
        }
        if ops.len() as u64 > self.region.limits().semopm.load(Relaxed) {
            return Err(libc::E2BIG);
        }
        if let [op] = ops {
            if let Some(done) = self.lock_free_op(id, || Some(*op)) {
                return done;
            }
        }
        self.reap_dead();
        let undos = ops.iter().any(|op| op.flags & SEM_UNDO != 0);
        let cred = Cred::current();
        // Most semops move no heap block and so take no hold (see
        // `collect`): all but those that make their undo record, grow the
        // set's journal or wait. A caller that may complete other threads'
        // waits has a record before it locks, so that its death under the
        // lock is seen (see `procs`).
        let known_undo = if undos { self.hinted_undo(id) } else { Some(0) };
        if let Some(undo) = known_undo.filter(|_| self.magazine_record().is_some()) {
            if let Some(done) = self.semop_locked(id, ops, undo, cred, timeout, None)? {
                return Ok(done);
            }
        }
        let hold = self.hold();
        let undo = if undos { self.own_undo(id)? } else { 0 };
        Ok(self.semop_locked(id, ops, undo, cred, timeout, Some(&hold))?.expect("a semop with a hold completes"))
    }

    /// One try of `ops` under the set lock, with `undo` (the caller's undo
    /// record for the set, or 0). With a hold it completes, waiting if it
    /// must; without one (None) it gives up (Ok(None)) where it would move
    /// a heap block: to grow the journal or to wait.
    fn semop_locked(
        &self,
        id: i32,
        ops: &[SemOp],
        undo: u64,
        cred: &Cred,
        timeout: Option<libc::timespec>,
        hold: Option<&Hold<'_>>,
    ) -> SysResult<Option<i32>> {
        let region = &self.region;
        let alter = ops.iter().any(|op| op.op != 0);
        let max = ops.iter().map(|op| op.num as u32).max().unwrap_or(0);
        let table = self.sems();
        let (index, guard) = table.lock_id(id)?;
        let slot = region.set(index);
        if max >= slot.nsems.load(Relaxed) {
            return Err(libc::EFBIG);
        }
        if !slot.head.may_access(cred, if alter { 0o222 } else { 0o444 }) {
            return Err(libc::EACCES);
        }
        // The journal never shrinks, and every queued waiter found room in
        // it for its own operations: with room for ours, neither try_ops
        // here nor serve_queue's allocates.
        let journal = &slot.journal;
        if hold.is_none()
            && journal.len.load(Relaxed) as usize + ops.len() * 2 > journal.capacity.load(Relaxed) as usize
        {
            return Ok(None);
        }
        let pid = self.pid();
        region.vote_mode(slot, ops.len() == 1 && undo == 0);
        let outcome = region.try_ops(slot, ops, undo, pid);
        let (mut ahead, late) = (None, Cell::new(0));
        if outcome.is_ok() {
            region.journal_commit(slot);
            self.region.set_otime(slot, ops);
            // An empty queue has no one to serve (the common case).
            if alter && slot.queue_head.load(Relaxed) != 0 {
                ahead = region.serve_queue(slot, Some(&late));
            }
        }
        region.release_sems(slot, nums(ops));
        match outcome {
            Ok(()) => {
                region.unlock_late(guard, &late);
                if let Some(at) = ahead {
                    region.wake_ahead(at);
                }
                Ok(Some(0))
            }
            Err(Attempt::Failed(e)) => Err(e),
            Err(Attempt::Blocked(_)) => {
                drop(guard);
                match hold {
                    Some(hold) => self.wait_for(hold, id, index, ops, undo, pid, timeout).map(Some),
                    None => Ok(None),
                }
            }
        }
    }

    /// Queues `ops` on set `index` and sleeps until they are done, refused,
    /// interrupted by a signal handler (EINTR) or timed out (EAGAIN).
    #[allow(clippy::too_many_arguments)]
    fn wait_for(
        &self,
        hold: &Hold<'_>,
        id: i32,
        index: u32,
        ops: &[SemOp],
        undo: u64,
        pid: i32,
        timeout: Option<libc::timespec>,
    ) -> SysResult<i32> {
        let region = &self.region;
        // Before the waiter queues: a handler that runs from then on ends
        // the wait with EINTR (see `wait::wait_done`).
        let handlers_seen = crate::interrupt::runs();
        let size = waiter_size(ops.len() as u32);
        let own = self.own_sem_waiter(size, index, split_id(id).1)?;
        let at = own.at;
        let waiter = region.waiter(at);
        waiter.pid.store(pid, Relaxed);
        waiter.nsops.store(ops.len() as u32, Relaxed);
        waiter.undo.store(undo, Relaxed);
        for (i, op) in ops.iter().enumerate() {
            let cell = at + core::mem::size_of::<Waiter>() as u64 + i as u64 * 8;
            // SAFETY: the block holds ops.len() packed operations after its header.
            unsafe { region.heap_ref::<AtomicU64>(cell) }.store(op.pack(), Relaxed);
        }
        let spin;
        {
            // Values may have changed since the first try: try again, then queue.
            let table = self.sems();
            let (_, guard) = table.lock_id(id).map_err(|e| if e == libc::EINVAL { libc::EIDRM } else { e })?;
            let slot = region.set(index);
            // Queued, the waiter keeps its semaphores held (see `Sem`).
            let blocking = match region.try_ops(slot, ops, undo, pid) {
                Err(Attempt::Blocked(i)) => i,
                outcome => {
                    let (mut ahead, late) = (None, Cell::new(0));
                    if outcome.is_ok() {
                        region.journal_commit(slot);
                        region.set_otime(slot, ops);
                        if ops.iter().any(|op| op.op != 0) {
                            ahead = region.serve_queue(slot, Some(&late));
                        }
                    }
                    region.release_sems(slot, nums(ops));
                    region.unlock_late(guard, &late);
                    if let Some(at) = ahead {
                        region.wake_ahead(at);
                    }
                    return match outcome {
                        Ok(()) => Ok(0),
                        Err(Attempt::Failed(e)) => Err(e),
                        Err(Attempt::Blocked(_)) => unreachable!(),
                    };
                }
            };
            waiter.blocking.store(blocking as u32, Relaxed);
            let tail = slot.queue_tail.load(Relaxed);
            if tail != 0 && !is_block(tail) {
                // Nothing is changed yet: try_ops took its changes back.
                region.release_sems(slot, nums(ops));
                return Err(corrupt("a semaphore queue's end outside the heap"));
            }
            // Spin only as the first in line for the semaphore: one queued
            // behind another waiter for it has at least a whole hand-off to
            // wait, and spinning would take a core from the processes that
            // hand over (it is woken ahead when its turn nears). The last
            // waiter stands for all ahead: for a mutex, all wait alike.
            spin = tail == 0
                || region.waiter_nsops(tail).is_none()
                || region.waiter_op(tail, region.waiter(tail).blocking.load(Relaxed)).num != ops[blocking].num;
            if tail == 0 {
                slot.queue_head.store(at, Relaxed);
            } else {
                region.waiter(tail).next.store(at, Relaxed);
            }
            slot.queue_tail.store(at, Relaxed);
        }
        let deadline = timeout.map(|t| wait::monotonic_ns() + t.tv_sec as i128 * 1_000_000_000 + t.tv_nsec as i128);
        let woken = hold.released(|| {
            wait::wait_done(&waiter.status, deadline, spin, handlers_seen, &|| self.supervised_or_repair())
        });
        let interrupted = match woken {
            Woken::Done => None,
            Woken::Interrupted => Some(libc::EINTR),
            Woken::TimedOut => Some(libc::EAGAIN),
        };
        if let Some(errno) = interrupted {
            // Leave the queue, unless the operation was done meanwhile.
            let table = self.sems();
            let locked = table.lock_live(index, None);
            if waiter.status.load(Acquire) != DONE {
                if let Ok((_, _guard)) = &locked {
                    let slot = region.set(index);
                    if region.unlink_if_queued(slot, at) {
                        region.release_sems(slot, nums(ops));
                    }
                }
                return Err(errno);
            }
        }
        match waiter.result.load(Relaxed) {
            0 => Ok(0),
            e => Err(e),
        }
    }

    /// A waiter block of `size` bytes for this thread on set `index`, on
    /// this process's list until it is dropped.
    fn own_sem_waiter(&self, size: u64, index: u32, seq: u32) -> SysResult<OwnSemWaiter<'_>> {
        let region = &self.region;
        let mut local = self.local();
        let rec = self.own_record(&mut local)?;
        let at = region.heap_alloc(size)?;
        let waiter = region.waiter(at);
        waiter.status.store(WAITING, Relaxed);
        waiter.record.store(rec.index, Relaxed);
        waiter.record_generation.store(rec.generation, Relaxed);
        waiter.size.store(size, Relaxed);
        waiter.slot.store(index, Relaxed);
        waiter.seq.store(seq, Relaxed);
        let record = region.record(rec.index);
        waiter.next_in_process.store(record.sem_waiters.load(Relaxed), Relaxed);
        record.sem_waiters.store(at, Relaxed);
        Ok(OwnSemWaiter { ns: self, at, size, index, rec })
    }

    /// This process's undo record for set `id`, made on first use.
    fn own_undo(&self, id: i32) -> SysResult<u64> {
        if let Some(at) = self.hinted_undo(id) {
            return Ok(at);
        }
        let at = self.own_undo_slow(id)?;
        if at >> 32 == 0 {
            self.undo_hint.store(((id as u64) << 32) | at, Relaxed);
        }
        Ok(at)
    }

    /// This process's undo record for set `id` if it is the one the last
    /// call used, found without a lock and without moving a heap block.
    #[inline]
    fn hinted_undo(&self, id: i32) -> Option<u64> {
        let region = &self.region;
        let (index, seq) = split_id(id);
        // The record of the last call, if it still serves that set: only
        // this process frees its undo records, and only those of sets that
        // are gone, so one whose set is live with its seq is still ours (a
        // set removed after this check fails the caller's lock_id).
        let hint = self.undo_hint.load(Relaxed);
        if hint != 0 && (hint >> 32) as i32 == id && index < IPCMNI {
            let at = hint & 0xffff_ffff;
            let undo = region.undo(at);
            let slot = region.set(index);
            if undo.slot.load(Relaxed) == index
                && undo.seq.load(Relaxed) == seq
                && slot.head.is_live()
                && slot.head.seq.load(Relaxed) == seq
            {
                return Some(at);
            }
        }
        None
    }

    #[inline(never)]
    fn own_undo_slow(&self, id: i32) -> SysResult<u64> {
        let region = &self.region;
        let (index, seq) = split_id(id);
        let mut local = self.local();
        let rec = self.own_record(&mut local)?;
        let record = region.record(rec.index);
        // Walk this process's undo records, dropping those of removed sets.
        let mut link = &record.sem_undos;
        loop {
            let at = link.load(Relaxed);
            if at == 0 {
                break;
            }
            let at = checked_block(at, undo_size(0), "a process's undo records outside the heap")?;
            let undo = region.undo(at);
            let (u_index, u_seq) = (undo.slot.load(Relaxed), undo.seq.load(Relaxed));
            if u_index >= self.sems().initialised() {
                return Err(corrupt("an undo record naming no semaphore set"));
            }
            let slot = region.set(u_index);
            if u_index == index && u_seq == seq && slot.head.is_live() && slot.head.seq.load(Relaxed) == seq {
                // Found: its adjustments are the set's (see `try_ops`).
                if !region.undo_fits(slot, at) {
                    return Err(corrupt("an undo record of another size than its set"));
                }
                return Ok(at);
            }
            if !(slot.head.is_live() && slot.head.seq.load(Relaxed) == u_seq) {
                link.store(undo.next_in_process.load(Relaxed), Relaxed);
                region.heap_free(at, undo_size(undo.nsems.load(Relaxed)));
                continue;
            }
            link = &undo.next_in_process;
        }
        let table = self.sems();
        let (index, _guard) = table.lock_id(id)?;
        let slot = region.set(index);
        let nsems = slot.nsems.load(Relaxed);
        let at = region.heap_alloc(undo_size(nsems))?;
        crate::faults::crash_point("sem.undo.allocated");
        let undo = region.undo(at);
        undo.slot.store(index, Relaxed);
        undo.seq.store(seq, Relaxed);
        undo.nsems.store(nsems, Relaxed);
        // On the process's list first: a record on it alone is freed by the
        // reaper if the process dies before the next two stores.
        undo.next_in_process.store(record.sem_undos.load(Relaxed), Relaxed);
        record.sem_undos.store(at, Relaxed);
        undo.next_in_set.store(slot.undos.load(Relaxed), Relaxed);
        slot.undos.store(at, Relaxed);
        Ok(at)
    }

    /// semctl(2). `arg` is the fourth argument as passed (a value or a pointer).
    pub fn semctl(&self, id: i32, num: i32, cmd: i32, arg: usize) -> SysResult<i32> {
        let Some(_) = semctl_takes_arg(cmd) else { return Err(libc::EINVAL) };
        if id < 0 {
            return Err(libc::EINVAL);
        }
        self.reap_dead();
        // Only these may move heap blocks (journals, arrays, undo records).
        let _hold = matches!(cmd, SETVAL | SETALL | IPC_RMID | IPC_SET).then(|| {
            self.ensure_record();
            self.hold()
        });
        let cred = Cred::current();
        let region = &self.region;
        let table = self.sems();
        match cmd {
            IPC_INFO | SEM_INFO => {
                let limits = region.limits();
                let (in_use, total, max_index) = {
                    let _fac = table.lock_facility()?;
                    (
                        table.facility().in_use.load(Relaxed),
                        region.header().sem.total_sems.load(Relaxed),
                        table.max_live_index(),
                    )
                };
                let semmns_default = 32000 * 32000;
                let info = SemInfo {
                    semmap: semmns_default,
                    semmni: limits.semmni.load(Relaxed) as i32,
                    semmns: limits.semmns.load(Relaxed) as i32,
                    semmnu: semmns_default,
                    semmsl: limits.semmsl.load(Relaxed) as i32,
                    semopm: limits.semopm.load(Relaxed) as i32,
                    semume: 500,
                    semusz: if cmd == SEM_INFO { in_use as i32 } else { 20 },
                    semvmx: SEMVMX,
                    semaem: if cmd == SEM_INFO { total as i32 } else { SEMAEM },
                };
                sys::copy_to_user(arg, as_bytes(&info))?;
                Ok(max_index.max(0))
            }
            IPC_STAT | SEM_STAT | SEM_STAT_ANY => {
                let (index, ds) = {
                    let (index, _guard) =
                        if cmd == IPC_STAT { table.lock_id(id)? } else { table.lock_live(split_id(id).0, None)? };
                    let slot = region.set(index);
                    let perm = slot.head.perm();
                    if cmd != SEM_STAT_ANY && !cred.may_access(&perm, 0o444) {
                        return Err(libc::EACCES);
                    }
                    let nsems = slot.nsems.load(Relaxed);
                    let otime = (0..nsems).map(|n| region.sem(slot, n).otime.load(Relaxed)).max().unwrap_or(0);
                    let ctime = slot.ctime.load(Relaxed);
                    (index, SemidDs { perm, otime, ctime, nsems: nsems as u64, ..Default::default() })
                };
                // Out of the lock, as Linux copies: the caller's memory may
                // take its time (a fault served by userfaultfd, say).
                sys::copy_to_user(arg, as_bytes(&ds))?;
                Ok(if cmd == IPC_STAT { 0 } else { make_id(index, ds.perm.seq as u32) })
            }
            GETALL | SETALL => {
                let (index, guard) = table.lock_id(id)?;
                let slot = region.set(index);
                if !cred.may_access(&slot.head.perm(), if cmd == SETALL { 0o222 } else { 0o444 }) {
                    return Err(libc::EACCES);
                }
                let nsems = slot.nsems.load(Relaxed);
                // The values as the caller's array of unsigned shorts.
                let (mut short, mut long) = ([0u8; SEMMSL_FAST * 2], Vec::new());
                let raw = scratch(&mut short, &mut long, nsems as usize * 2);
                let value_at = |raw: &[u8], n: usize| u16::from_ne_bytes([raw[2 * n], raw[2 * n + 1]]);
                if cmd == GETALL {
                    // Held, so that the values read are one state of the set.
                    region.hold_sems(slot, 0..nsems);
                    for (n, cell) in raw.chunks_exact_mut(2).enumerate() {
                        cell.copy_from_slice(&(region.sem(slot, n as u32).value() as u16).to_ne_bytes());
                    }
                    region.release_sems(slot, 0..nsems);
                    drop(guard);
                    sys::copy_to_user(arg, raw)?;
                    return Ok(0);
                }
                drop(guard);
                sys::copy_from_user(raw, arg)?;
                if (0..nsems as usize).any(|n| value_at(raw, n) as i32 > SEMVMX) {
                    return Err(libc::ERANGE);
                }
                let (index, _guard) = table.lock_id(id).map_err(|_| libc::EIDRM)?;
                let slot = region.set(index);
                // The cached pid: Linux's sempid without a getpid system call.
                let pid = self.pid();
                let adjusted = region.count_adjustments(slot, None);
                region.journal_reserve(slot, nsems as usize + adjusted)?;
                region.hold_sems(slot, 0..nsems);
                for n in 0..nsems {
                    region.set_value_logged(slot, n, value_at(raw, n as usize) as i32);
                    region.sem(slot, n).pid.store(pid, Relaxed);
                    crate::faults::crash_point("sem.setall.after_sem");
                }
                // Counted under this lock: with none counted, a second walk
                // of the undo list would find nothing to clear.
                if adjusted != 0 {
                    region.clear_adjustments(slot, None);
                }
                region.journal_commit(slot);
                slot.ctime.store(sys::realtime_seconds(), Relaxed);
                region.serve_queue(slot, None);
                region.release_sems(slot, 0..nsems);
                Ok(0)
            }
            GETVAL | GETPID | GETNCNT | GETZCNT | SETVAL => {
                if cmd == SETVAL && !(0..=SEMVMX).contains(&(arg as i32)) {
                    return Err(libc::ERANGE);
                }
                let (index, _guard) = table.lock_id(id)?;
                let slot = region.set(index);
                // Linux checks the number first for SETVAL, permission first otherwise.
                let in_range = num >= 0 && (num as u32) < slot.nsems.load(Relaxed);
                if cmd == SETVAL && !in_range {
                    return Err(libc::EINVAL);
                }
                if !cred.may_access(&slot.head.perm(), if cmd == SETVAL { 0o222 } else { 0o444 }) {
                    return Err(libc::EACCES);
                }
                if !in_range {
                    return Err(libc::EINVAL);
                }
                let sem = region.sem(slot, num as u32);
                Ok(match cmd {
                    GETVAL => sem.value(),
                    GETPID => sem.pid.load(Relaxed),
                    GETNCNT => region.count_waiting(slot, num as u32, false),
                    GETZCNT => region.count_waiting(slot, num as u32, true),
                    _ => {
                        let adjusted = region.count_adjustments(slot, Some(num as u32));
                        region.journal_reserve(slot, 1 + adjusted)?;
                        // Counted under this lock: with none counted, a second
                        // walk of the undo list would find nothing to clear.
                        if adjusted != 0 {
                            region.clear_adjustments(slot, Some(num as u32));
                        }
                        sem.hold();
                        region.set_value_logged(slot, num as u32, arg as i32);
                        region.journal_commit(slot);
                        // The cached pid: a getpid system call here cost more
                        // than the rest of the call.
                        sem.pid.store(self.pid(), Relaxed);
                        slot.ctime.store(sys::realtime_seconds(), Relaxed);
                        region.serve_queue(slot, None);
                        region.release_sems(slot, [num as u32]);
                        0
                    }
                })
            }
            IPC_SET | IPC_RMID => {
                let mut new = SemidDs::default();
                if cmd == IPC_SET {
                    sys::copy_from_user(as_bytes_mut(&mut new), arg)?;
                }
                let (_fac, index, _guard) = table.lock_facility_and_id(id)?;
                let slot = region.set(index);
                if !cred.may_control(&slot.head.perm()) {
                    return Err(libc::EPERM);
                }
                if cmd == IPC_RMID {
                    region.destroy_set(index);
                    drop(_guard);
                    if table.trim_free_top() {
                        region.give_heap_back(|| drop((_fac, _hold)));
                    }
                    return Ok(0);
                } else {
                    slot.head.set_perm(&new.perm)?;
                    slot.ctime.store(sys::realtime_seconds(), Relaxed);
                }
                Ok(0)
            }
            _ => Err(libc::EINVAL),
        }
    }
}

impl Region {
    /// Adds every block the semaphore facility reaches to `map`: arrays,
    /// journals, queued waiters, undo records (on their sets' lists and on
    /// their processes').
    pub(crate) fn sem_blocks(&self, map: &mut crate::check::BlockMap, how: Locking) -> Result<(), String> {
        let busy = || "semaphores: a lock is held".to_string();
        let table = SemTable(self);
        let lock_error = |_| "semaphores: a lock glibc refuses".to_string();
        let _fac = table.lock_facility_with(how).map_err(lock_error)?.ok_or_else(busy)?;
        // SAFETY: the list names `Retired` blocks.
        let retired = |at: u64| unsafe { self.heap_ref::<Retired>(at) };
        for at in self.list_blocks(self.header().sem.retired.load(Relaxed), |at| retired(at).next.load(Relaxed)) {
            map.add(at, core::mem::size_of::<Retired>() as u64, "a retired array's record", false)?;
            map.add(retired(at).array.load(Relaxed), retired(at).size.load(Relaxed), "a retired array", false)?;
        }
        let waiter_size = |at: u64| self.waiter(at).size.load(Relaxed);
        let undo_bytes = |at: u64| undo_size(self.undo(at).nsems.load(Relaxed));
        for index in 0..table.initialised() {
            let slot = self.set(index);
            let _guard = table.lock_slot_with(index, how).map_err(lock_error)?.ok_or_else(busy)?;
            let capacity = slot.capacity.load(Relaxed) as u64;
            if capacity != 0 && !in_zone(slot.sems.load(Relaxed)) {
                map.add(
                    slot.sems.load(Relaxed),
                    capacity * core::mem::size_of::<Sem>() as u64,
                    "a set's array",
                    false,
                )?;
            }
            let journal = slot.journal.entries.load(Relaxed);
            if journal != 0 {
                map.add(journal, slot.journal.capacity.load(Relaxed) as u64 * ENTRY_SIZE, "a set's journal", false)?;
            }
            if !slot.head.is_live() {
                continue;
            }
            for at in self.list_blocks(slot.queue_head.load(Relaxed), |at| self.waiter(at).next.load(Relaxed)) {
                map.add(at, waiter_size(at), "a semop waiter", true)?;
            }
            for at in self.list_blocks(slot.undos.load(Relaxed), |at| self.undo(at).next_in_set.load(Relaxed)) {
                map.add(at, undo_bytes(at), "an undo record", true)?;
            }
        }
        for index in self.records_in_use() {
            let record = self.record(index);
            let undos = record.sem_undos.load(Relaxed);
            for at in self.list_blocks(undos, |at| self.undo(at).next_in_process.load(Relaxed)) {
                map.add(at, undo_bytes(at), "an undo record", true)?;
            }
            let waiters = record.sem_waiters.load(Relaxed);
            for at in self.list_blocks(waiters, |at| self.waiter(at).next_in_process.load(Relaxed)) {
                map.add(at, waiter_size(at), "a semop waiter", true)?;
            }
        }
        Ok(())
    }

    /// The semaphore part of `check_invariants`: each live set's words carry
    /// its tag, values stay within SEMVMX, a set out of lock-free mode holds
    /// every word, and its queue and undo list are finite and name it.
    pub(crate) fn check_sems(&self) -> Result<(), String> {
        let table = SemTable(self);
        let lock_error = |_| "semaphores: a lock glibc refuses".to_string();
        let _fac = table.lock_facility().map_err(lock_error)?;
        let (mut live, mut sems) = (0, 0u64);
        for index in 0..table.initialised() {
            let slot = self.set(index);
            let _guard = table.lock_slot(index).map_err(lock_error)?;
            if !slot.head.is_live() {
                continue;
            }
            live += 1;
            let (seq, nsems) = (slot.head.seq.load(Relaxed), slot.nsems.load(Relaxed));
            sems += nsems as u64;
            if nsems == 0 || nsems > slot.capacity.load(Relaxed) {
                return Err(format!("set {index}: {nsems} semaphores in room for {}", slot.capacity.load(Relaxed)));
            }
            let journal = &slot.journal;
            if journal.len.load(Relaxed) != 0
                || journal.completing.load(Relaxed) != 0
                || journal.applying.load(Relaxed) != 0
                || slot.head.removing.load(Relaxed) != 0
            {
                return Err(format!("set {index}: a change left uncommitted or a removal unfinished"));
            }
            let lock_free = slot.lock_free.load(Relaxed) != 0;
            for num in 0..nsems {
                let word = self.sem(slot, num).word.load(Acquire);
                if word & !(VALUE_MASK | HELD) != tag_of(seq) {
                    return Err(format!("set {index} semaphore {num}: word {word:#x} lacks the set's tag"));
                }
                if (word & VALUE_MASK) as i32 > SEMVMX {
                    return Err(format!("set {index} semaphore {num}: value {} above SEMVMX", word & VALUE_MASK));
                }
                if !lock_free && word & HELD == 0 {
                    return Err(format!("set {index} semaphore {num}: not held while the set takes its lock"));
                }
            }
            let mut at = slot.queue_head.load(Relaxed);
            for steps in 0.. {
                if at == 0 {
                    break;
                }
                if steps > 1 << 20 || self.waiter(at).nsops.load(Relaxed) == 0 {
                    return Err(format!("set {index}: queue loops or holds an empty waiter"));
                }
                at = self.waiter(at).next.load(Relaxed);
            }
            let mut at = slot.undos.load(Relaxed);
            for steps in 0.. {
                if at == 0 {
                    break;
                }
                let undo = self.undo(at);
                if steps > 1 << 20 || undo.slot.load(Relaxed) != index || undo.seq.load(Relaxed) != seq {
                    return Err(format!("set {index}: undo list loops or names another set"));
                }
                at = undo.next_in_set.load(Relaxed);
            }
        }
        let in_use = table.facility().in_use.load(Relaxed);
        if in_use != live {
            return Err(format!("semaphore sets: {in_use} counted in use, {live} live"));
        }
        let total = self.header().sem.total_sems.load(Relaxed);
        if total != sems {
            return Err(format!("semaphores: {total} counted, {sems} in live sets"));
        }
        Ok(())
    }
}
