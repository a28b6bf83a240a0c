//! System V message queues: msgget, msgsnd, msgrcv, msgctl with Linux's
//! semantics (after Linux ipc/msg.c).
//!
//! Owns: the queue slot table (`MsgSlot`), messages (`Message`, in the heap:
//! a header and the body), and blocked senders and receivers (`MsgWaiter`,
//! in the heap, one per blocked thread).
//!
//! Operations: msgsnd copies the body from the caller into a heap block
//! (from its process's magazine, see `magazine`) before it looks the queue
//! up (as Linux's load_msg), then hands the message straight to the first
//! sleeping receiver that wants it (Linux's pipelined_send: such a message
//! never counts in msg_qnum) or appends it. A queue is full when the bytes
//! or the number of messages would pass msg_qbytes; a sender then sleeps
//! (or gets EAGAIN). msgrcv unlinks the message it finds; a receiver that
//! finds none sleeps until a sender hands it one. Whoever frees room wakes
//! the sleeping senders whose message now fits; they try again. IPC_SET
//! wakes every sleeper to check again (permissions or room may have
//! changed); IPC_RMID wakes them with EIDRM.
//!
//! Fast paths: each queue has two locks (see `MsgSlot`), so that in a
//! stream the sender and the receiver do not wait for each other. A msgsnd
//! that finds no sleeping receiver and room (by the send side's own view of
//! the counters) appends under the send lock alone; a msgrcv that wants the
//! first message and finds no sleeping sender takes it under the receive lock
//! alone. Everything else takes both locks and is exact, as with one lock.
//!
//! A completed waiter is unlinked from its queue by whoever completes it, so
//! afterwards only its own thread touches it. Each waiter is also on its
//! process's list (`ProcRecord::msg_waiters`), so that when the process dies
//! its reaper unlinks and frees what it left: a waiter still queued, or a
//! message handed to it that it never copied out (consumed, as on Linux
//! when the receiver dies after the hand-off). Senders and receivers skip
//! waiters of dead processes until then, so nothing is handed to the dead.
//!
//! Death under a queue lock: the next holder of both locks repairs the
//! queue (`repair_queue`): the list's end and counters, a completion that
//! was committed (`completing`: the waiter is woken), a removal cut short.
//!
//! Corruption (see the region's notes): a lookup that takes both locks
//! checks the queue's own fields (`check_queue`: the ends of its message
//! and sleeper lists in the heap) and fails with EINVAL if one cannot be
//! right; the fast paths leave such a queue to it. A message link outside
//! the heap, or a message said larger than the heap holds, fails the call
//! that meets it with EINVAL; a sleeper list link outside the heap ends
//! the list there; a sleeper naming no process record counts as dead.
//!
//! Locking: the facility lock serialises create, remove and key lookup.
//! Each queue has a receive lock (the slot lock) and a send lock; which of
//! them guards each field is written at `MsgSlot` (the message list's
//! links: `next` of the last message under the send lock, the dummy under
//! the receive lock, the rest under both). Both guard the waiter lists and
//! every field of a queued waiter. A process's waiter list is changed by
//! its own threads under the process-private `local` lock, and by its
//! reaper after its death. Order: facility lock, receive lock, send lock;
//! under the facility lock a queue's locks are never waited for
//! (see `table`: IPC_SET and IPC_RMID let the facility lock go while a
//! queue's lock stays held). A receiver copies the body out under the
//! receive lock on the fast path: a receiver stopped there, or held up by
//! its own memory, holds up that queue alone. No system call is made
//! unless a sleeper must be woken or the caller must sleep.

use crate::abi::*;
use crate::collect::Hold;
use crate::cred::Cred;
use crate::heap::{block_fits, checked_block, heap_link, is_block, HeapView};
use crate::lock::{Guard, RobustMutex};
use crate::ns::Namespace;
use crate::procs::{Liveness, RecordRef};
use crate::region::{corrupt, store_if_changed_i32, store_if_changed_i64, Area, Region, HEAP_SIZE, IPCMNI};
use crate::sys::{self, SysResult};
use crate::table::{make_id, split_id, FacilityHeader, Locking, SlotHeader, SlotTable};
use crate::wait::{self, Woken, WAITING};
use core::sync::atomic::{AtomicI32, AtomicI64, AtomicU32, AtomicU64, Ordering::*};

pub const MSG_NOERROR: i32 = 0o10000;
pub const MSG_EXCEPT: i32 = 0o20000;
pub const MSG_COPY: i32 = 0o40000;
pub const MSG_STAT: i32 = 11;
pub const MSG_INFO: i32 = 12;
pub const MSG_STAT_ANY: i32 = 13;

/// Linux's compile-time values reported by IPC_INFO (include/uapi/linux/msg.h).
const MSGPOOL: i32 = 32000 * 16384 / 1024;
const MSGMAP: i32 = 16384;
const MSGTQL: i32 = 16384;
const MSGSSZ: i32 = 16;
const MSGSEG: u16 = 0xffff;

/// Outcome of a receiver woken to look again (IPC_SET), as Linux's -EAGAIN.
const RETRY: i32 = -1;

#[repr(C)]
pub struct MsgFacility {
    pub ids: FacilityHeader,
}

impl MsgFacility {
    /// # Safety
    /// Only while creating the region.
    pub(crate) unsafe fn init(&self) {
        crate::region::init_facility(&self.ids);
        self.ids.last_idx.store(-1, Relaxed);
    }
}

/// One queue, with two locks (after Michael and Scott's two-lock queue):
/// the slot lock (`head.lock`, the receive lock) and the send lock
/// (`send.lock`), each on its own cache line with the words its side
/// writes. Lock order: receive lock, then send lock.
///
/// The message list starts with a dummy `Message` (its body, if any, is
/// dead), so that it is never empty: senders link after the last message
/// and receivers take the one after the dummy, and the two never write the
/// same word. A receiver holding only the receive lock takes the first
/// message by making it the dummy (copying its body out before letting go
/// of the lock, as the next receiver frees the old dummy); the slow paths,
/// with both locks, unlink messages from anywhere.
///
/// Guards: a field marked "receive lock" or "send lock" is written only
/// under that lock; "both" means written only with both held, so either
/// lock is enough to read it. Exact values of the counters (`cbytes`,
/// `qnum`) need both.
///
/// Aligned so that two queues never share a cache line: senders and
/// receivers of one queue should not slow those of another.
#[repr(C, align(64))]
pub struct MsgSlot {
    /// The receive lock and its side's `hot` words: bytes and messages ever
    /// received, and the dummy `Message` (heap offset); see the
    /// accessors below. 32 bits suffice, as the heap is 4 GiB (counts wrap;
    /// only differences are used). Permission fields and `state`/`seq`:
    /// both.
    pub head: SlotHeader,
    /// Most bytes, and most messages, the queue holds. Both.
    pub qbytes: AtomicU64,
    /// Sleeping receivers and senders, in arrival order (`MsgWaiter`
    /// offsets). Both.
    pub receivers_head: AtomicU64,
    pub receivers_tail: AtomicU64,
    pub senders_head: AtomicU64,
    pub senders_tail: AtomicU64,
    /// Last receiver and time of the last receive (written only when they
    /// change, which keeps their line shared). Receive lock.
    pub lrpid: AtomicI32,
    pub rtime: AtomicI64,
    /// Last change by msgctl. Both.
    pub ctime: AtomicI64,
    /// 1 once a thread died holding either lock: the message list's end and
    /// the counters may be torn, and the next holder of both locks repairs
    /// them (`repair_list`) before anything else. Set under either lock,
    /// cleared under both; the fast paths leave a torn queue alone.
    pub torn: AtomicU32,
    /// A waiter whose outcome is stored, being unlinked and woken: if its
    /// completer dies, the repair finishes the job; the waiter, woken, does
    /// not reuse or free its block while it is named here. Both.
    pub completing: AtomicU64,
    pub send: SendSide,
}

/// The sending side of a queue, on its own cache lines: a sender that need
/// not look at the receiving side (the queue is not empty, no receiver
/// sleeps, the message fits) holds only `lock`, so a stream's sender and
/// receiver do not wait for each other.
#[repr(C, align(64))]
pub struct SendSide {
    /// The send lock.
    pub lock: RobustMutex,
    /// The last `Message` (heap offset), the dummy when none is queued.
    /// Send lock.
    pub messages_tail: AtomicU64,
    /// Bytes and messages ever sent (wrapping, as the receive side's). Send lock.
    pub bytes: AtomicU32,
    pub count: AtomicU32,
    /// The queue's sequence number plus one while it is live, else 0: what
    /// a sender checks instead of `state` and `seq`, which lie on the
    /// receive lock's line. Both.
    pub live_seq: AtomicU32,
    /// The receive side's counters as a sender last read them: they only
    /// grow, so room computed from them is never more than there is, and a
    /// sender reads the receive side's line only when this view says full.
    /// Send lock.
    pub seen_received_bytes: AtomicU32,
    pub seen_received_count: AtomicU32,
    /// Last sender and time of the last send (written only when they
    /// change). Send lock.
    pub lspid: AtomicI32,
    pub stime: AtomicI64,
}

/// A quantity below 4 GiB kept in one of the slot's 32-bit `hot` words.
#[repr(transparent)]
pub struct Word32(AtomicU32);

impl Word32 {
    pub fn load(&self, order: core::sync::atomic::Ordering) -> u64 {
        self.0.load(order) as u64
    }
    pub fn store(&self, value: u64, order: core::sync::atomic::Ordering) {
        debug_assert!(value <= u32::MAX as u64);
        self.0.store(value as u32, order)
    }
    pub fn fetch_add(&self, value: u64, order: core::sync::atomic::Ordering) -> u64 {
        self.0.fetch_add(value as u32, order) as u64
    }
    pub fn fetch_sub(&self, value: u64, order: core::sync::atomic::Ordering) -> u64 {
        self.0.fetch_sub(value as u32, order) as u64
    }
    pub fn swap(&self, value: u64, order: core::sync::atomic::Ordering) -> u64 {
        self.0.swap(value as u32, order) as u64
    }
}

impl MsgSlot {
    fn word(&self, i: usize) -> &Word32 {
        // SAFETY: Word32 is a transparent wrapper of AtomicU32.
        unsafe { &*(&self.head.hot[i] as *const AtomicU32 as *const Word32) }
    }
    /// Bytes ever received (wrapping). Receive lock.
    pub fn received_bytes(&self) -> &AtomicU32 {
        &self.head.hot[0]
    }
    /// Messages ever received (wrapping). Receive lock.
    pub fn received_count(&self) -> &AtomicU32 {
        &self.head.hot[1]
    }
    /// The dummy `Message`, before the first one queued. Receive lock.
    pub fn messages_head(&self) -> &Word32 {
        self.word(2)
    }
    /// Bytes queued: exact with both locks held, else a recent value.
    pub fn cbytes(&self) -> u64 {
        self.send.bytes.load(Relaxed).wrapping_sub(self.received_bytes().load(Relaxed)) as u64
    }
    /// Messages queued: exact with both locks held, else a recent value.
    pub fn qnum(&self) -> u64 {
        self.send.count.load(Relaxed).wrapping_sub(self.received_count().load(Relaxed)) as u64
    }
    /// Starts an empty list with `dummy`, and zeroes the counters. Both locks held.
    fn reset_messages(&self, dummy: u64) {
        self.messages_head().store(dummy, Relaxed);
        self.send.messages_tail.store(dummy, Relaxed);
        let send = &self.send;
        for cell in [self.received_bytes(), self.received_count(), &send.bytes, &send.count] {
            cell.store(0, Relaxed);
        }
        for cell in [&send.seen_received_bytes, &send.seen_received_count] {
            cell.store(0, Relaxed);
        }
    }

    /// Whether a message of `size` bytes fits by the send side's own view
    /// (see `seen_received_bytes`); a "no" is checked against the receive
    /// side's counters before it is believed. Send lock held.
    fn fits_for_sender(&self, size: u64) -> bool {
        let send = &self.send;
        let fits_seen = || {
            let bytes = send.bytes.load(Relaxed).wrapping_sub(send.seen_received_bytes.load(Relaxed)) as u64;
            let count = send.count.load(Relaxed).wrapping_sub(send.seen_received_count.load(Relaxed)) as u64;
            let qbytes = self.qbytes.load(Relaxed);
            size.saturating_add(bytes) <= qbytes && count < qbytes
        };
        if fits_seen() {
            return true;
        }
        send.seen_received_bytes.store(self.received_bytes().load(Relaxed), Relaxed);
        send.seen_received_count.store(self.received_count().load(Relaxed), Relaxed);
        fits_seen()
    }
}

/// Adds to a wrapping counter that only the lock holder writes.
fn bump(counter: &AtomicU32, by: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(by as u32), Relaxed);
}

/// Where a queue's message list ends, and what it holds.
struct ListWalk {
    last: u64,
    count: u64,
    bytes: u64,
}

/// The two guards of a queue held for a slow path (see `MsgSlot`).
struct BothLocks<'a> {
    _receive: crate::lock::Guard<'a>,
    _send: crate::lock::Guard<'a>,
}

/// A message: this header, then `size` bytes of body. Written by its sender
/// before it is published; immutable afterwards; `next` under the queue lock.
#[repr(C)]
pub struct Message {
    pub next: AtomicU64,
    pub mtype: AtomicI64,
    pub size: AtomicU64,
    _pad: u64,
}

const MESSAGE_HEADER: u64 = core::mem::size_of::<Message>() as u64;

const SENDER: u32 = 1;
const RECEIVER: u32 = 2;

/// A thread sleeping in msgsnd or msgrcv. Written by its thread before it
/// is queued; afterwards changed under the queue lock until completed.
#[repr(C)]
pub struct MsgWaiter {
    /// The futex of `wait`: WAITING, ASLEEP (back to WAITING if woken
    /// before DONE), then DONE.
    pub status: AtomicU32,
    /// Outcome once DONE: 0 (a receiver: `message` is its own; a sender:
    /// look again), RETRY (a receiver: look again), or an errno.
    pub result: AtomicI32,
    /// Next waiter in the queue's list.
    pub next: AtomicU64,
    /// Next waiter of the same process. See the module notes.
    pub next_in_process: AtomicU64,
    /// The waiting process's record, to skip and reap waiters that died.
    pub record: AtomicU32,
    pub record_generation: AtomicU32,
    /// The queue: slot and sequence.
    pub slot: AtomicU32,
    pub seq: AtomicU32,
    /// SENDER or RECEIVER.
    pub kind: AtomicU32,
    /// The receiving thread (Linux reports it as msg_lrpid of a hand-off).
    pub tid: AtomicI32,
    /// A receiver's request: type, search mode, largest body it takes.
    pub msgtyp: AtomicI64,
    pub mode: AtomicU32,
    _pad: u32,
    pub max_size: AtomicU64,
    /// A sender's body size.
    pub size: AtomicU64,
    /// The message handed to a receiver (heap offset), once DONE with 0;
    /// a sleeping sender's message while it waits for room, so that the
    /// block is reachable (and freed by the reaper if the sender dies).
    pub message: AtomicU64,
}

/// How msgrcv chooses a message (Linux's SEARCH_*).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Search {
    Any = 1,
    Equal = 2,
    NotEqual = 3,
    LessEqual = 4,
    Number = 5,
}

impl Search {
    fn from_u32(v: u32) -> Search {
        match v {
            2 => Search::Equal,
            3 => Search::NotEqual,
            4 => Search::LessEqual,
            5 => Search::Number,
            _ => Search::Any,
        }
    }

    /// Linux's convert_mode: the mode and the type it compares with.
    fn of(msgtyp: i64, flags: i32) -> (Search, i64) {
        if flags & MSG_COPY != 0 {
            (Search::Number, msgtyp)
        } else if msgtyp == 0 {
            (Search::Any, 0)
        } else if msgtyp < 0 {
            (Search::LessEqual, msgtyp.checked_neg().unwrap_or(i64::MAX))
        } else if flags & MSG_EXCEPT != 0 {
            (Search::NotEqual, msgtyp)
        } else {
            (Search::Equal, msgtyp)
        }
    }

    /// Linux's testmsg.
    fn accepts(self, mtype: i64, msgtyp: i64) -> bool {
        match self {
            Search::Any | Search::Number => true,
            Search::LessEqual => mtype <= msgtyp,
            Search::Equal => mtype == msgtyp,
            Search::NotEqual => mtype != msgtyp,
        }
    }
}

/// `struct msqid_ds` (the kernel's msqid64_ds; the same on x86_64 and aarch64).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct MsqidDs {
    pub perm: IpcPerm,
    pub stime: i64,
    pub rtime: i64,
    pub ctime: i64,
    pub cbytes: u64,
    pub qnum: u64,
    pub qbytes: u64,
    pub lspid: i32,
    pub lrpid: i32,
    pub unused4: u64,
    pub unused5: u64,
}

/// `struct msginfo`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct MsgInfo {
    pub msgpool: i32,
    pub msgmap: i32,
    pub msgmax: i32,
    pub msgmnb: i32,
    pub msgmni: i32,
    pub msgssz: i32,
    pub msgtql: i32,
    pub msgseg: u16,
    pub pad: u16,
}

/// The queue slot table, as a `SlotTable`.
pub(crate) struct MsgTable<'a>(pub &'a Region);

impl SlotTable for MsgTable<'_> {
    fn note_repair(&self) {
        self.0.note_repair();
    }

    fn facility(&self) -> &FacilityHeader {
        &self.0.header().msg.ids
    }
    fn slot_header(&self, index: u32) -> &SlotHeader {
        &self.0.queue(index).head
    }
    fn map_slots_through(&self, index: u32) -> SysResult<()> {
        self.0.map_area(Area::MsgSlots, (index as usize + 1) * core::mem::size_of::<MsgSlot>())
    }
    fn table_memory(&self) -> Option<crate::table::TableMemory> {
        self.0.slot_table_memory::<MsgSlot>(crate::region::MSG_SLOTS_OFFSET)
    }
    fn slot_locks(&self, index: u32) -> [Option<&crate::lock::RobustMutex>; 2] {
        let slot = self.0.queue(index);
        [Some(&slot.head.lock), Some(&slot.send.lock)]
    }
    unsafe fn init_slot(&self, index: u32) {
        // SAFETY: forwarded: an unpublished slot below IPCMNI.
        unsafe { self.0.queue(index).send.lock.init() }
    }
    fn check_slot(&self, index: u32) -> SysResult<()> {
        self.0.check_queue(self.0.queue(index))
    }
    /// The receive lock was found owner-died: repair with both.
    fn repair_slot(&self, index: u32) {
        let slot = self.0.queue(index);
        if let Ok(_send) = slot.send.lock.lock() {
            self.0.repair_queue(slot);
        }
    }
    fn finish_removal(&self, index: u32) {
        if let Ok(_locks) = self.lock_both_any(index) {
            self.release(index);
        }
    }
    fn repair_slot_if_abandoned(&self, index: u32) {
        let slot = self.0.queue(index);
        if slot.head.lock.is_abandoned() || slot.send.lock.is_abandoned() {
            drop(self.lock_both_any(index));
        }
    }
}

impl MsgTable<'_> {
    /// Both locks of the live queue in slot `index` (with sequence `seq`),
    /// receive lock first.
    fn lock_both(&self, index: u32, seq: Option<u32>) -> SysResult<(u32, BothLocks<'_>)> {
        let (index, receive) = self.lock_live(index, seq)?;
        let slot = self.0.queue(index);
        let send = slot.send.lock.lock()?;
        if send.owner_died || slot.torn.load(Relaxed) != 0 {
            self.0.repair_queue(slot);
        }
        Ok((index, BothLocks { _receive: receive, _send: send }))
    }

    /// Both locks of slot `index` (below `initialised`), live or not,
    /// repaired, taken as `how` says (Ok(None): one was not had;
    /// Err(EINVAL): glibc refuses one, see `lock`).
    fn lock_both_with(&self, index: u32, how: Locking) -> SysResult<Option<BothLocks<'_>>> {
        let slot = self.0.queue(index);
        let (receive, send) = match how {
            Locking::Wait => return self.lock_both_any(index).map(Some),
            Locking::Briefly if slot.head.lock.is_abandoned() || slot.send.lock.is_abandoned() => return Ok(None),
            Locking::Briefly => {
                let Some(receive) = self.lock_slot_with(index, how)? else { return Ok(None) };
                (receive, slot.send.lock.lock_briefly()?)
            }
            Locking::UnlessStopped => {
                let Some(receive) = self.lock_slot_with(index, how)? else { return Ok(None) };
                (receive, slot.send.lock.lock_unless_stopped()?)
            }
        };
        let Some(send) = send else { return Ok(None) };
        if send.owner_died || slot.torn.load(Relaxed) != 0 {
            self.0.repair_queue(slot);
        }
        Ok(Some(BothLocks { _receive: receive, _send: send }))
    }

    /// As `lock_both` (the queue's fields checked too) with the locks
    /// taken as `how` says: Ok(None) if one was not had.
    #[allow(clippy::type_complexity)]
    fn lock_both_live_with(
        &self,
        index: u32,
        seq: Option<u32>,
        how: Locking,
    ) -> SysResult<Option<(u32, BothLocks<'_>)>> {
        if index >= self.initialised() {
            return Err(libc::EINVAL);
        }
        let Some(locks) = self.lock_both_with(index, how)? else { return Ok(None) };
        let slot = &self.0.queue(index).head;
        if !slot.is_live() || slot.removing.load(Relaxed) != 0 || seq.is_some_and(|s| s != slot.seq.load(Relaxed)) {
            return Err(libc::EINVAL);
        }
        self.check_slot(index)?;
        Ok(Some((index, locks)))
    }

    /// The facility lock and both locks of the live queue `id` names,
    /// never waiting for a queue's lock while holding the facility's (see
    /// `SlotTable::lock_facility_and_slot`).
    fn lock_facility_and_both(&self, id: i32) -> SysResult<(Guard<'_>, u32, BothLocks<'_>)> {
        if id < 0 {
            return Err(libc::EINVAL);
        }
        let (index, seq) = split_id(id);
        loop {
            let facility = self.lock_facility()?;
            match self.lock_both_live_with(index, Some(seq), Locking::Briefly)? {
                Some((index, locks)) => return Ok((facility, index, locks)),
                None => {
                    drop(facility);
                    drop(self.lock_both_any(index)?);
                }
            }
        }
    }

    /// Both locks of slot `index` (below `initialised`), live or not, repaired.
    fn lock_both_any(&self, index: u32) -> SysResult<BothLocks<'_>> {
        let receive = self.lock_slot(index)?;
        let slot = self.0.queue(index);
        let send = slot.send.lock.lock()?;
        if send.owner_died || slot.torn.load(Relaxed) != 0 {
            self.0.repair_queue(slot);
        }
        Ok(BothLocks { _receive: receive, _send: send })
    }
}

impl Region {
    /// Slot `index` (taken modulo IPCMNI: see `Region::table_entry`).
    fn queue(&self, index: u32) -> &MsgSlot {
        // SAFETY: the message queue slot table, of IPCMNI slots.
        unsafe { self.table_entry(Area::MsgSlots, IPCMNI, index) }
    }

    /// Whether the live queue's own fields can be right (see the module
    /// notes): its dummy and last message, the ends of its sleeper lists
    /// and a completion in the heap, on 16-byte boundaries. Err(EINVAL) if
    /// not. Receive lock held.
    ///
    /// Every slow path pays for this: so one branch, and one test of all
    /// the offsets at once (HEAP_SIZE is 2^32).
    #[inline(always)]
    fn check_queue(&self, slot: &MsgSlot) -> SysResult<()> {
        let (dummy, last) = (slot.messages_head().load(Relaxed), slot.send.messages_tail.load(Relaxed));
        let offsets = dummy
            | last
            | slot.receivers_head.load(Relaxed)
            | slot.receivers_tail.load(Relaxed)
            | slot.senders_head.load(Relaxed)
            | slot.senders_tail.load(Relaxed)
            | slot.completing.load(Relaxed);
        let whole = (offsets & !(HEAP_SIZE - 16) == 0) & (dummy != 0) & (last != 0);
        if whole {
            Ok(())
        } else {
            Err(corrupt("a message queue's lists outside the heap"))
        }
    }

    /// The queue of `id`'s slot, for tests that tear one on purpose.
    #[doc(hidden)]
    pub fn queue_of(&self, id: i32) -> &MsgSlot {
        self.queue(split_id(id).0)
    }

    /// What a sender that dies between linking its message and moving the
    /// list's end leaves behind (the send lock still held, to be found
    /// owner-died): for tests of `repair_list`.
    #[doc(hidden)]
    pub fn link_and_abandon_send_lock(&self, id: i32, mtype: i64, body: &[u8]) {
        let slot = self.queue_of(id);
        core::mem::forget(slot.send.lock.lock().expect("the send lock"));
        let at = self.heap_alloc(MESSAGE_HEADER + body.len() as u64).expect("heap");
        let message = self.message(at);
        message.mtype.store(mtype, Relaxed);
        message.size.store(body.len() as u64, Relaxed);
        let to = self.heap_span(at + MESSAGE_HEADER, body.len()).expect("mapped by the allocation");
        // SAFETY: the block was just allocated with room for the body.
        unsafe { core::ptr::copy_nonoverlapping(body.as_ptr(), to as *mut u8, body.len()) };
        self.message(slot.send.messages_tail.load(Relaxed)).next.store(at, Release);
    }

    /// Makes the message list's end and the send counters agree with the
    /// list itself, after a thread died holding a lock (see `torn`): a
    /// sender may have linked a message and died before moving the end or
    /// counting it, a receiver may have taken one and died before counting
    /// it. Every link in the list names a live message, so the walk is
    /// safe; a message linked by a dying sender stays queued (its msgsnd
    /// counts as done). Both locks held.
    fn repair_list(&self, slot: &MsgSlot) {
        // A list that loops is beyond repair: left as it is, for
        // `check_invariants` to report.
        let Some(ListWalk { last, count, bytes }) = self.walk_list(slot) else { return };
        let send = &slot.send;
        send.messages_tail.store(last, Relaxed);
        let (received_count, received_bytes) =
            (slot.received_count().load(Relaxed), slot.received_bytes().load(Relaxed));
        send.count.store(received_count.wrapping_add(count as u32), Relaxed);
        send.bytes.store(received_bytes.wrapping_add(bytes as u32), Relaxed);
        send.seen_received_count.store(received_count, Relaxed);
        send.seen_received_bytes.store(received_bytes, Relaxed);
        slot.torn.store(0, Relaxed);
    }

    /// Repairs a queue after a thread died holding either of its locks:
    /// the message list and counters (`repair_list`), a waiter whose
    /// completion was committed (`completing`), the waiter lists' tails,
    /// and a removal cut short (its sleepers woken, its messages freed).
    /// Both locks held.
    fn repair_queue(&self, slot: &MsgSlot) {
        self.note_repair();
        let completing = slot.completing.load(Relaxed);
        if is_block(completing) {
            self.remove_msg_waiter(slot, completing);
            wait::finish_for_the_dead(&self.msg_waiter(completing).status);
        } else if completing != 0 {
            corrupt("a message queue's completion outside the heap");
        }
        slot.completing.store(0, Relaxed);
        for (head, tail) in [(&slot.receivers_head, &slot.receivers_tail), (&slot.senders_head, &slot.senders_tail)] {
            let last = self.list_blocks(head.load(Relaxed), |at| self.msg_waiter(at).next.load(Relaxed)).last();
            tail.store(last.unwrap_or(0), Relaxed);
        }
        if slot.head.removing.load(Relaxed) != 0 {
            self.empty_removed_queue(slot);
        } else if slot.messages_head().load(Relaxed) != 0 {
            self.repair_list(slot);
        }
        slot.torn.store(0, Relaxed);
    }

    /// Follows the message list from the dummy to its end; None if it runs
    /// longer than the heap could hold, or out of it. Both locks held.
    fn walk_list(&self, slot: &MsgSlot) -> Option<ListWalk> {
        let mut walk = ListWalk { last: slot.messages_head().load(Relaxed), count: 0, bytes: 0 };
        if !is_block(walk.last) {
            return None;
        }
        loop {
            let next = self.message(walk.last).next.load(Acquire);
            if next == 0 {
                return Some(walk);
            }
            walk.count += 1;
            if walk.count > HEAP_SIZE / MESSAGE_HEADER || !is_block(next) {
                return None;
            }
            walk.bytes = walk.bytes.saturating_add(self.message(next).size.load(Relaxed));
            walk.last = next;
        }
    }

    fn message(&self, offset: u64) -> &Message {
        message_in(self.heap_view(), offset)
    }

    /// The message after `at` in a queue (0 for none); Err(EINVAL) if the
    /// link leaves the heap. Queue lock held.
    #[inline(always)]
    fn next_message(&self, at: u64) -> SysResult<u64> {
        next_message_in(self.heap_view(), at)
    }

    /// Message `at`'s body size, if the message lies in the heap whole;
    /// Err(EINVAL) if not (its size or offset cannot be right).
    fn message_size(&self, at: u64) -> SysResult<u64> {
        let size = self.message(at).size.load(Relaxed);
        checked_block(at, MESSAGE_HEADER.saturating_add(size), "a message larger than the heap")?;
        Ok(size)
    }

    fn msg_waiter(&self, offset: u64) -> &MsgWaiter {
        // SAFETY: offsets in waiter lists name live waiter blocks.
        unsafe { self.heap_ref(offset) }
    }

    /// The sleeper after `at` in a list of a queue (`list`: its head and
    /// tail). A link outside the heap ends the list at `at`: what it named
    /// is out of reach. Both locks held.
    fn waiter_next(&self, list: (&AtomicU64, &AtomicU64), at: u64) -> u64 {
        let waiter = self.msg_waiter(at);
        if let Some(next) = heap_link(waiter.next.load(Relaxed)) {
            return next;
        }
        corrupt("a message queue's sleeper list outside the heap");
        waiter.next.store(0, Relaxed);
        list.1.store(at, Relaxed);
        0
    }

    /// Frees message `at` (a size that cannot be right leaves it lost: see
    /// `heap_free`).
    fn free_message(&self, at: u64) {
        let size = self.message(at).size.load(Relaxed);
        self.heap_free(at, MESSAGE_HEADER.saturating_add(size));
    }

    /// Whether the process that queued a waiter is gone (its reaper will free it).
    fn waiter_is_dead(&self, waiter: &MsgWaiter) -> bool {
        let rec = RecordRef { index: waiter.record.load(Relaxed), generation: waiter.record_generation.load(Relaxed) };
        !self.record_current(rec) || self.liveness(rec.index) == Liveness::Dead
    }

    /// Whether a message of `size` bytes fits. Exact with both locks held;
    /// with only the send lock, the receive side's counters may lag, which
    /// only ever makes the queue look fuller than it is.
    fn fits(slot: &MsgSlot, size: u64) -> bool {
        let qbytes = slot.qbytes.load(Relaxed);
        // Linux also counts messages against msg_qbytes: each costs at least a byte.
        size.saturating_add(slot.cbytes()) <= qbytes && slot.qnum() < qbytes
    }

    /// Appends waiter `at` to a list. Queue lock held.
    fn push_msg_waiter(&self, head: &AtomicU64, tail: &AtomicU64, at: u64) {
        self.msg_waiter(at).next.store(0, Relaxed);
        match tail.load(Relaxed) {
            0 => head.store(at, Relaxed),
            last => self.msg_waiter(last).next.store(at, Relaxed),
        }
        tail.store(at, Relaxed);
    }

    /// Unlinks waiter `at`, whose predecessor is `prev` (0 for the head). Queue lock held.
    fn unlink_msg_waiter(&self, head: &AtomicU64, tail: &AtomicU64, prev: u64, at: u64) {
        let next = self.waiter_next((head, tail), at);
        match prev {
            0 => head.store(next, Relaxed),
            prev => self.msg_waiter(prev).next.store(next, Relaxed),
        }
        if tail.load(Relaxed) == at {
            tail.store(prev, Relaxed);
        }
    }

    /// Unlinks waiter `at` from its list in `slot`, if it is there. Queue lock held.
    fn remove_msg_waiter(&self, slot: &MsgSlot, at: u64) {
        let (head, tail) = match self.msg_waiter(at).kind.load(Relaxed) {
            SENDER => (&slot.senders_head, &slot.senders_tail),
            _ => (&slot.receivers_head, &slot.receivers_tail),
        };
        let mut prev = 0;
        let mut cursor = head.load(Relaxed);
        while cursor != 0 {
            if cursor == at {
                self.unlink_msg_waiter(head, tail, prev, at);
                return;
            }
            prev = cursor;
            cursor = self.waiter_next((head, tail), cursor);
        }
    }

    /// Stores a queued waiter's outcome, then unlinks it (its predecessor is
    /// `prev`) and wakes it; once `completing` names it, a repair finishes
    /// the job if this thread dies. Both locks held.
    fn complete_msg_waiter(&self, slot: &MsgSlot, list: (&AtomicU64, &AtomicU64), prev: u64, at: u64, result: i32) {
        let waiter = self.msg_waiter(at);
        waiter.result.store(result, Relaxed);
        slot.completing.store(at, Relaxed);
        crate::faults::crash_point("msg.complete.committed");
        self.unlink_msg_waiter(list.0, list.1, prev, at);
        wait::finish(&waiter.status);
        crate::faults::crash_point("msg.complete.woken");
        slot.completing.store(0, Relaxed);
    }

    /// Queues message `at` or hands it to a sleeping receiver (Linux's
    /// pipelined_send). Both locks held.
    fn deliver(&self, slot: &MsgSlot, at: u64, pid: i32) {
        let message = self.message(at);
        let (mtype, size) = (message.mtype.load(Relaxed), message.size.load(Relaxed));
        let now = sys::realtime_seconds();
        store_if_changed_i32(&slot.send.lspid, pid);
        store_if_changed_i64(&slot.send.stime, now);
        let receivers = (&slot.receivers_head, &slot.receivers_tail);
        let mut prev = 0;
        let mut cursor = slot.receivers_head.load(Relaxed);
        while cursor != 0 {
            let waiter = self.msg_waiter(cursor);
            let next = self.waiter_next(receivers, cursor);
            let wanted = Search::from_u32(waiter.mode.load(Relaxed)).accepts(mtype, waiter.msgtyp.load(Relaxed));
            if !wanted || self.waiter_is_dead(waiter) {
                prev = cursor;
                cursor = next;
                continue;
            }
            if waiter.max_size.load(Relaxed) < size {
                self.complete_msg_waiter(slot, receivers, prev, cursor, libc::E2BIG);
                cursor = next;
                continue;
            }
            store_if_changed_i32(&slot.lrpid, waiter.tid.load(Relaxed));
            store_if_changed_i64(&slot.rtime, now);
            waiter.message.store(at, Relaxed);
            self.complete_msg_waiter(slot, receivers, prev, cursor, 0);
            return;
        }
        self.append(slot, at, size);
    }

    /// Links message `at` (whose `next` is 0) after the last one and counts
    /// it. Send lock held.
    fn append(&self, slot: &MsgSlot, at: u64, size: u64) {
        // Release: a receiver holding only the receive lock reads the
        // message once it sees this link.
        self.message(slot.send.messages_tail.load(Relaxed)).next.store(at, Release);
        slot.send.messages_tail.store(at, Relaxed);
        bump(&slot.send.bytes, size);
        bump(&slot.send.count, 1);
    }

    /// msgsnd's common case, under the send lock alone: no receiver sleeps
    /// (so none is owed the message), and the message fits. Returns false
    /// if either fails, or the queue is not one the caller may write to;
    /// the caller then takes the slow path, which decides exactly.
    fn send_with_send_lock(&self, index: u32, seq: u32, at: u64, size: u64, cred: &Cred, pid: i32) -> bool {
        if index >= MsgTable(self).initialised() {
            return false;
        }
        let slot = self.queue(index);
        let Ok(send) = slot.send.lock.lock() else { return false };
        if send.owner_died {
            slot.torn.store(1, Relaxed);
        }
        if slot.torn.load(Relaxed) != 0
            || slot.send.live_seq.load(Relaxed) != seq.wrapping_add(1)
            || !is_block(slot.send.messages_tail.load(Relaxed))
            || slot.receivers_head.load(Relaxed) != 0
            || !slot.fits_for_sender(size)
            || !slot.head.may_access(cred, 0o222)
        {
            return false;
        }
        self.append(slot, at, size);
        store_if_changed_i32(&slot.send.lspid, pid);
        store_if_changed_i64(&slot.send.stime, sys::realtime_seconds());
        true
    }

    /// The message msgrcv takes, with its predecessor (Linux's find_msg);
    /// Err(EINVAL) at a link outside the heap. Queue lock held.
    fn find_message(&self, slot: &MsgSlot, mode: Search, msgtyp: i64) -> SysResult<Option<(u64, u64)>> {
        let mut bound = msgtyp;
        let mut found = None;
        // One view of the heap for the walk (see `Region::heap_view`).
        let heap = self.heap_view();
        let dummy = slot.messages_head().load(Relaxed);
        let (mut prev, mut cursor, mut count) = (dummy, next_message_in(heap, dummy)?, 0i64);
        while cursor != 0 {
            let mtype = message_in(heap, cursor).mtype.load(Relaxed);
            if mode.accepts(mtype, bound) {
                match mode {
                    // The lowest type wins; the first of it among equals.
                    Search::LessEqual if mtype != 1 => {
                        bound = mtype.saturating_sub(1);
                        found = Some((prev, cursor));
                    }
                    Search::Number if count != msgtyp => count += 1,
                    _ => return Ok(Some((prev, cursor))),
                }
            }
            prev = cursor;
            cursor = next_message_in(heap, cursor)?;
        }
        Ok(found)
    }

    /// Takes message `at` (after `prev`) off the queue for a receiver. Both locks held.
    fn take_message(&self, slot: &MsgSlot, prev: u64, at: u64, pid: i32) {
        let message = self.message(at);
        let next = message.next.load(Relaxed);
        self.message(prev).next.store(next, Relaxed);
        if slot.send.messages_tail.load(Relaxed) == at {
            slot.send.messages_tail.store(prev, Relaxed);
        }
        self.count_received(slot, message.size.load(Relaxed), pid);
        self.wake_senders(slot);
    }

    /// Counts a message taken off the queue. Receive lock held.
    fn count_received(&self, slot: &MsgSlot, size: u64, pid: i32) {
        bump(slot.received_bytes(), size);
        bump(slot.received_count(), 1);
        store_if_changed_i64(&slot.rtime, sys::realtime_seconds());
        store_if_changed_i32(&slot.lrpid, pid);
    }

    /// msgrcv's common case, under the receive lock alone: the first
    /// message is the one wanted, it fits the buffer, and no sender sleeps
    /// (so none is owed a wake-up). It becomes the dummy, so its body is
    /// copied out to `msgp` before the lock goes (see `MsgSlot`).
    fn receive_with_receive_lock(&self, index: u32, seq: u32, request: &Request, cred: &Cred, pid: i32) -> FastReceive {
        let Request { mode, msgtyp, msgp, bufsz, flags } = *request;
        if flags & MSG_COPY != 0 || index >= MsgTable(self).initialised() {
            return FastReceive::Slow;
        }
        let slot = self.queue(index);
        let table = MsgTable(self);
        let Ok(_receive) = table.lock_slot(index) else { return FastReceive::Slow };
        if slot.torn.load(Relaxed) != 0
            || !slot.head.is_live()
            || slot.head.removing.load(Relaxed) != 0
            || slot.head.seq.load(Relaxed) != seq
            || slot.senders_head.load(Relaxed) != 0
            || !slot.head.may_access(cred, 0o444)
        {
            return FastReceive::Slow;
        }
        let dummy = slot.messages_head().load(Relaxed);
        if !is_block(dummy) {
            return FastReceive::Slow;
        }
        // Acquire: pairs with the sender's Release that linked the message.
        let first = self.message(dummy).next.load(Acquire);
        if first == 0 {
            return FastReceive::Empty(dummy);
        }
        // One that cannot be right is the slow path's to refuse.
        let Ok(size) = self.message_size(first) else { return FastReceive::Slow };
        let mtype = self.message(first).mtype.load(Relaxed);
        let first_is_wanted = match mode {
            Search::Any => true,
            Search::Equal | Search::NotEqual => mode.accepts(mtype, msgtyp),
            Search::LessEqual | Search::Number => false,
        };
        if !first_is_wanted || (bufsz < size as usize && flags & MSG_NOERROR == 0) {
            return FastReceive::Slow;
        }
        let Ok(body) = self.heap_span(first + MESSAGE_HEADER, size as usize) else { return FastReceive::Slow };
        slot.messages_head().store(first, Relaxed);
        self.count_received(slot, size, pid);
        // As on Linux, a message whose copy-out faults is consumed all the same.
        let result = fill(msgp, bufsz, mtype, body, size as usize);
        FastReceive::Done(result, dummy)
    }

    /// Wakes the sleeping senders whose message fits now, to try again
    /// (Linux's ss_wakeup). Queue lock held.
    fn wake_senders(&self, slot: &MsgSlot) {
        let senders = (&slot.senders_head, &slot.senders_tail);
        let (mut prev, mut cursor) = (0, slot.senders_head.load(Relaxed));
        while cursor != 0 {
            let waiter = self.msg_waiter(cursor);
            let next = self.waiter_next(senders, cursor);
            if Self::fits(slot, waiter.size.load(Relaxed)) && !self.waiter_is_dead(waiter) {
                self.complete_msg_waiter(slot, senders, prev, cursor, 0);
            } else {
                prev = cursor;
            }
            cursor = next;
        }
    }

    /// Completes every sleeper of a list with `result`, one at a time (a
    /// repair can finish the rest). Both locks held.
    fn wake_all(&self, slot: &MsgSlot, list: (&AtomicU64, &AtomicU64), result: i32) {
        loop {
            let at = list.0.load(Relaxed);
            if at == 0 {
                break;
            }
            self.complete_msg_waiter(slot, list, 0, at, result);
        }
    }

    /// Frees a queue: sleepers get EIDRM, messages go. Facility lock and both queue locks held.
    fn destroy_queue(&self, index: u32) {
        let table = MsgTable(self);
        table.begin_removal(index);
        self.empty_removed_queue(self.queue(index));
        table.release(index);
    }

    /// What removal does to the queue itself, resumable after a death:
    /// sleepers get EIDRM, messages (the dummy too) are freed one by one.
    /// Both locks held.
    fn empty_removed_queue(&self, slot: &MsgSlot) {
        self.wake_all(slot, (&slot.receivers_head, &slot.receivers_tail), libc::EIDRM);
        self.wake_all(slot, (&slot.senders_head, &slot.senders_tail), libc::EIDRM);
        slot.send.live_seq.store(0, Relaxed);
        loop {
            let at = slot.messages_head().load(Relaxed);
            if at == 0 {
                break;
            }
            // What a link outside the heap named is out of reach: lost.
            let next = self.next_message(at).unwrap_or(0);
            slot.messages_head().store(next, Relaxed);
            crate::faults::crash_point("msg.destroy.unlinked_message");
            self.free_message(at);
        }
        slot.reset_messages(0);
    }

    /// Unlinks and frees what a dead process left sleeping in msgsnd/msgrcv.
    /// Each waiter stays on the dead process's list until it is unlinked
    /// from its queue, so a reaper that dies midway leaves the rest to the
    /// next. With `how` UnlessStopped, a waiter whose queue's lock a
    /// stopped process holds stays too; whether none did.
    pub(crate) fn drop_msg_waiters(&self, rec: RecordRef, how: Locking) -> bool {
        let mut link = &self.record(rec.index).msg_waiters;
        let mut complete = true;
        loop {
            let cursor = link.load(Relaxed);
            if cursor == 0 {
                break;
            }
            if !block_fits(cursor, core::mem::size_of::<MsgWaiter>() as u64) {
                // What the list held past here is out of reach: lost.
                corrupt("a process's message sleepers outside the heap");
                link.store(0, Relaxed);
                break;
            }
            let waiter = self.msg_waiter(cursor);
            let next = waiter.next_in_process.load(Relaxed);
            let (index, seq) = (waiter.slot.load(Relaxed), waiter.seq.load(Relaxed));
            // A waiter still queued is unlinked under its queue's lock; a
            // completed one (or one whose queue is gone) is no one else's.
            match MsgTable(self).lock_both_live_with(index, Some(seq), how) {
                Ok(Some((_, _locks))) => {
                    if waiter.status.load(Acquire) != wait::DONE {
                        self.remove_msg_waiter(self.queue(index), cursor);
                    }
                }
                Ok(None) => {
                    complete = false;
                    link = &waiter.next_in_process;
                    continue;
                }
                Err(_) => {}
            }
            link.store(next, Relaxed);
            // A receiver's hand-off it never took, or a sleeping sender's message.
            let message = waiter.message.swap(0, Relaxed);
            if message != 0 {
                self.free_message(message);
            }
            self.heap_free(cursor, core::mem::size_of::<MsgWaiter>() as u64);
        }
        complete
    }
}

/// Linux's do_msg_fill: the type, then as much of the `size`-byte body at
/// `body` (memory of ours) as fits in `bufsz`.
/// Message `offset` as `heap` reaches it.
#[inline(always)]
fn message_in(heap: HeapView<'_>, offset: u64) -> &Message {
    // SAFETY: offsets in message lists and hand-offs name live message blocks.
    unsafe { heap.get(offset) }
}

/// `Region::next_message` through `heap`.
#[inline(always)]
fn next_message_in(heap: HeapView<'_>, at: u64) -> SysResult<u64> {
    heap_link(message_in(heap, at).next.load(Relaxed)).ok_or_else(|| corrupt("a message link outside the heap"))
}

fn fill(msgp: usize, bufsz: usize, mtype: i64, body: usize, size: usize) -> SysResult<isize> {
    sys::copy_to_user(msgp, &mtype.to_ne_bytes())?;
    let n = bufsz.min(size);
    sys::copy_to_user_from(msgp + 8, body, n)?;
    Ok(n as isize)
}

/// How `receive_with_receive_lock` ended.
enum FastReceive {
    /// Taken: the result, and the old dummy for the caller to free.
    Done(SysResult<isize>, u64),
    /// No message is queued; the list's dummy is this one.
    Empty(u64),
    /// The slow path must decide.
    Slow,
}

/// What a msgrcv asks for.
#[derive(Clone, Copy)]
struct Request {
    mode: Search,
    msgtyp: i64,
    msgp: usize,
    bufsz: usize,
    flags: i32,
}

/// A waiter block of this thread, on its process's list while it lives.
/// Its queue is kept here too: the block's own copy is in the region,
/// which another process may have overwritten.
struct OwnWaiter<'a> {
    ns: &'a Namespace,
    at: u64,
    index: u32,
    rec: RecordRef,
}

impl OwnWaiter<'_> {
    fn get(&self) -> &MsgWaiter {
        self.ns.region.msg_waiter(self.at)
    }
}

impl Drop for OwnWaiter<'_> {
    fn drop(&mut self) {
        let region = &self.ns.region;
        if self.get().kind.load(Relaxed) == SENDER {
            // The caller frees or has queued the message itself.
            self.get().message.store(0, Relaxed);
        }
        let index = self.index;
        if region.queue(index).completing.load(Relaxed) == self.at {
            // Its completer has not let go yet, or died before it could: the
            // lock waits for the one or repairs after the other.
            drop(MsgTable(region).lock_slot(index));
        }
        {
            let _local = self.ns.local();
            let list = &region.record(self.rec.index).msg_waiters;
            region.unlink_block(list, self.at, |at| &region.msg_waiter(at).next_in_process);
        }
        region.heap_free(self.at, core::mem::size_of::<MsgWaiter>() as u64);
    }
}

/// What a blocked call learned when it woke.
enum Wake {
    /// Completed with this result.
    Done(i32),
    Interrupted,
}

impl Namespace {
    fn msgs(&self) -> MsgTable<'_> {
        MsgTable(&self.region)
    }

    /// msgget(2).
    pub fn msgget(&self, key: i32, flags: i32) -> SysResult<i32> {
        let _hold = self.hold();
        let region = &self.region;
        let cred = Cred::current();
        let table = self.msgs();
        let (_fac, found) =
            if key != IPC_PRIVATE { table.lock_facility_and_key(key)? } else { (table.lock_facility()?, None) };
        if let Some((index, _guard)) = found {
            if flags & IPC_CREAT != 0 && flags & IPC_EXCL != 0 {
                return Err(libc::EEXIST);
            }
            let slot = region.queue(index);
            if !cred.may_access(&slot.head.perm(), flags) {
                return Err(libc::EACCES);
            }
            return Ok(make_id(index, slot.head.seq.load(Relaxed)));
        }
        if key != IPC_PRIVATE && flags & IPC_CREAT == 0 {
            return Err(libc::ENOENT);
        }
        let limits = region.limits();
        let index = table.alloc_index(limits.msgmni.load(Relaxed))?;
        let dummy = region.heap_alloc(MESSAGE_HEADER)?;
        let slot = region.queue(index);
        let _locks = match table.lock_both_any(index) {
            Ok(locks) => locks,
            Err(e) => {
                region.heap_free(dummy, MESSAGE_HEADER);
                return Err(e);
            }
        };
        slot.qbytes.store(limits.msgmnb.load(Relaxed), Relaxed);
        slot.reset_messages(dummy);
        slot.torn.store(0, Relaxed);
        for cell in [&slot.send.lspid, &slot.lrpid] {
            cell.store(0, Relaxed);
        }
        slot.send.stime.store(0, Relaxed);
        slot.rtime.store(0, Relaxed);
        slot.ctime.store(sys::realtime_seconds(), Relaxed);
        for cell in [&slot.receivers_head, &slot.receivers_tail, &slot.senders_head, &slot.senders_tail] {
            cell.store(0, Relaxed);
        }
        let id = table.publish(index, key, cred.euid, cred.egid, flags as u32 & MODE_PERMISSION_BITS);
        slot.send.live_seq.store(split_id(id).1 + 1, Relaxed);
        Ok(id)
    }

    /// A waiter block for this thread on queue `index`, on this process's list.
    fn own_waiter(&self, index: u32, seq: u32, kind: u32) -> SysResult<OwnWaiter<'_>> {
        let region = &self.region;
        let at = region.heap_alloc(core::mem::size_of::<MsgWaiter>() as u64)?;
        let mut local = self.local();
        let rec = match self.own_record(&mut local) {
            Ok(rec) => rec,
            Err(e) => {
                region.heap_free(at, core::mem::size_of::<MsgWaiter>() as u64);
                return Err(e);
            }
        };
        let waiter = region.msg_waiter(at);
        waiter.record.store(rec.index, Relaxed);
        waiter.record_generation.store(rec.generation, Relaxed);
        waiter.slot.store(index, Relaxed);
        waiter.seq.store(seq, Relaxed);
        waiter.kind.store(kind, Relaxed);
        waiter.tid.store(sys::gettid(), Relaxed);
        let record = region.record(rec.index);
        waiter.next_in_process.store(record.msg_waiters.load(Relaxed), Relaxed);
        record.msg_waiters.store(at, Relaxed);
        Ok(OwnWaiter { ns: self, at, index, rec })
    }

    /// Sleeps until `waiter` (queued under the lock just released) completes
    /// or a signal handler runs.
    /// `handlers_seen`: see `wait::wait_done`.
    fn sleep_in_queue(&self, hold: &Hold<'_>, waiter: &MsgWaiter, handlers_seen: u64) -> Wake {
        match hold
            .released(|| wait::wait_done(&waiter.status, None, true, handlers_seen, &|| self.supervised_or_repair()))
        {
            Woken::Done => Wake::Done(waiter.result.load(Relaxed)),
            _ => Wake::Interrupted,
        }
    }

    /// Frees message `at`, ours alone now, through this process's magazine.
    fn free_message_block(&self, at: u64) {
        self.free_block(at, MESSAGE_HEADER.saturating_add(self.region.message(at).size.load(Relaxed)));
    }

    /// msgsnd(2). `msgp` is the caller's `struct msgbuf` pointer.
    pub fn msgsnd(&self, id: i32, msgp: usize, msgsz: usize, flags: i32) -> SysResult<i32> {
        // Linux's order: the type is read first, then sizes and id are
        // checked, then the body is copied in, then the queue is looked up.
        let mut mtype = [0u8; 8];
        sys::copy_from_user(&mut mtype, msgp)?;
        let mtype = i64::from_ne_bytes(mtype);
        let region = &self.region;
        if msgsz as u64 > region.limits().msgmax.load(Relaxed) || (msgsz as isize) < 0 || id < 0 {
            return Err(libc::EINVAL);
        }
        if mtype < 1 {
            return Err(libc::EINVAL);
        }
        let size = msgsz as u64;
        let hold = self.hold();
        let at = self.alloc_block(MESSAGE_HEADER + size)?;
        crate::faults::crash_point("msg.snd.allocated");
        let message = region.message(at);
        let copied =
            region.heap_span(at + MESSAGE_HEADER, msgsz).and_then(|body| sys::copy_from_user_to(body, msgp + 8, msgsz));
        if let Err(e) = copied {
            self.free_block(at, MESSAGE_HEADER + size);
            return Err(e);
        }
        message.next.store(0, Relaxed);
        message.mtype.store(mtype, Relaxed);
        message.size.store(size, Relaxed);
        let result = self.send_message(&hold, id, at, size, flags);
        if result.is_err() {
            self.free_block(at, MESSAGE_HEADER + size);
        }
        result
    }

    /// msgsnd of message `at` (a heap block, body copied in).
    fn send_message(&self, hold: &Hold<'_>, id: i32, at: u64, size: u64, flags: i32) -> SysResult<i32> {
        let region = &self.region;
        let table = self.msgs();
        let cred = Cred::current();
        let (index, seq) = split_id(id);
        if region.send_with_send_lock(index, seq, at, size, cred, self.pid()) {
            return Ok(0);
        }
        self.ensure_record();
        let mut found = false;
        let mut waiter: Option<OwnWaiter<'_>> = None;
        let mut handlers_seen = None;
        loop {
            // As in msgrcv: the queue's last message into this core's cache
            // before the lock, not while holding it.
            let last = region.queue(index).send.messages_tail.load(Relaxed);
            if last != 0 {
                core::hint::black_box(region.message(last).next.load(Relaxed));
            }
            // Once found, a queue that is gone was removed.
            let (_, guard) = table.lock_both(index, Some(seq)).map_err(|e| if found { libc::EIDRM } else { e })?;
            found = true;
            if let Some(own) = &waiter {
                // The message is ours alone again (see `MsgWaiter::message`).
                own.get().message.store(0, Relaxed);
            }
            let slot = region.queue(index);
            if !cred.may_access(&slot.head.perm(), 0o222) {
                return Err(libc::EACCES);
            }
            if Region::fits(slot, size) {
                region.deliver(slot, at, self.pid());
                return Ok(0);
            }
            if flags & IPC_NOWAIT != 0 {
                return Err(libc::EAGAIN);
            }
            let Some(own) = &waiter else {
                // A receiver on another core is likely to make room soon;
                // if none does, get a waiter (which takes other locks) and
                // look again.
                let received = slot.received_count().load(Relaxed);
                drop(guard);
                if !wait::poll(|| slot.received_count().load(Relaxed) != received || slot.head.seq.load(Relaxed) != seq)
                {
                    self.reap_dead();
                    waiter = Some(self.own_waiter(index, seq, SENDER)?);
                }
                continue;
            };
            let w = own.get();
            w.size.store(size, Relaxed);
            w.message.store(at, Relaxed);
            w.result.store(0, Relaxed);
            w.status.store(WAITING, Relaxed);
            // From the first time the call queues: a handler that runs from
            // then on ends it with EINTR.
            let seen = *handlers_seen.get_or_insert_with(crate::interrupt::runs);
            region.push_msg_waiter(&slot.senders_head, &slot.senders_tail, own.at);
            drop(guard);
            match self.sleep_in_queue(hold, w, seen) {
                Wake::Done(0) => continue,
                Wake::Done(e) => return Err(e),
                Wake::Interrupted => {
                    let (_, _locks) = table.lock_both(index, Some(seq)).map_err(|_| libc::EIDRM)?;
                    if w.status.load(Acquire) != wait::DONE {
                        region.remove_msg_waiter(region.queue(index), own.at);
                    }
                    return Err(libc::EINTR);
                }
            }
        }
    }

    /// msgrcv(2). Returns the number of body bytes copied to the caller.
    pub fn msgrcv(&self, id: i32, msgp: usize, bufsz: usize, msgtyp: i64, flags: i32) -> SysResult<isize> {
        if id < 0 || (bufsz as isize) < 0 {
            return Err(libc::EINVAL);
        }
        let region = &self.region;
        let msgmax = region.limits().msgmax.load(Relaxed) as usize;
        if flags & MSG_COPY != 0 {
            if flags & MSG_EXCEPT != 0 || flags & IPC_NOWAIT == 0 {
                return Err(libc::EINVAL);
            }
            // Linux reads the buffer in first (prepare_copy): EFAULT now.
            let mut probe = vec![0u8; bufsz.min(msgmax)];
            sys::copy_from_user(&mut probe, msgp)?;
        }
        let (mode, msgtyp) = Search::of(msgtyp, flags);
        let hold = &self.hold();
        let table = self.msgs();
        let cred = Cred::current();
        let (index, seq) = split_id(id);
        let mut found = false;
        let mut waiter: Option<OwnWaiter<'_>> = None;
        let mut handlers_seen = None;
        let request = Request { mode, msgtyp, msgp, bufsz, flags };
        loop {
            match region.receive_with_receive_lock(index, seq, &request, cred, self.pid()) {
                FastReceive::Done(result, old_dummy) => {
                    crate::faults::crash_point("msg.rcv.old_dummy");
                    self.free_message_block(old_dummy);
                    return result;
                }
                // A sender on another core is likely to send soon. Watch the
                // dummy's link, the one word a sender writes for it (a racy
                // read: the dummy may be freed meanwhile, which the receive
                // lock then sorts out), not the send side's busy line.
                FastReceive::Empty(dummy) if flags & IPC_NOWAIT == 0 => {
                    let queue = region.queue(index);
                    let link = &region.message(dummy).next;
                    if !wait::poll(|| link.load(Relaxed) != 0 || queue.messages_head().load(Relaxed) != dummy) {
                        break;
                    }
                }
                _ => break,
            }
        }
        self.ensure_record();
        let message = loop {
            // Bring the first message's header into this core's cache before
            // taking the lock, not while holding it (a racy read: the lock
            // decides what is really there).
            let first = region.queue(index).messages_head().load(Relaxed);
            if first != 0 {
                core::hint::black_box(region.message(first).mtype.load(Relaxed));
            }
            // Once found, a queue that is gone was removed.
            let (_, guard) = table.lock_both(index, Some(seq)).map_err(|e| if found { libc::EIDRM } else { e })?;
            found = true;
            let slot = region.queue(index);
            if !cred.may_access(&slot.head.perm(), 0o444) {
                return Err(libc::EACCES);
            }
            if let Some((prev, at)) = region.find_message(slot, mode, msgtyp)? {
                let size = region.message_size(at)? as usize;
                if bufsz < size && flags & MSG_NOERROR == 0 {
                    return Err(libc::E2BIG);
                }
                if flags & MSG_COPY != 0 {
                    if size > bufsz.min(msgmax) {
                        return Err(libc::EINVAL);
                    }
                    let (mtype, body) = (region.message(at).mtype.load(Relaxed), self.copy_body(at)?);
                    drop(guard);
                    return fill(msgp, bufsz, mtype, body.as_ptr() as usize, body.len());
                }
                region.take_message(slot, prev, at, self.pid());
                break at;
            }
            if flags & IPC_NOWAIT != 0 {
                return Err(libc::ENOMSG);
            }
            let Some(own) = &waiter else {
                // A sender on another core is likely to send soon; if none
                // does, get a waiter (which takes other locks) and look again.
                let sent = slot.send.count.load(Relaxed);
                drop(guard);
                if !wait::poll(|| slot.send.count.load(Relaxed) != sent || slot.head.seq.load(Relaxed) != seq) {
                    self.reap_dead();
                    waiter = Some(self.own_waiter(index, seq, RECEIVER)?);
                }
                continue;
            };
            let w = own.get();
            w.msgtyp.store(msgtyp, Relaxed);
            w.mode.store(mode as u32, Relaxed);
            let max_size = if flags & MSG_NOERROR != 0 { i32::MAX as u64 } else { bufsz as u64 };
            w.max_size.store(max_size, Relaxed);
            w.message.store(0, Relaxed);
            w.result.store(RETRY, Relaxed);
            w.status.store(WAITING, Relaxed);
            let seen = *handlers_seen.get_or_insert_with(crate::interrupt::runs);
            region.push_msg_waiter(&slot.receivers_head, &slot.receivers_tail, own.at);
            drop(guard);
            let woken = self.sleep_in_queue(hold, w, seen);
            if let Wake::Interrupted = woken {
                let (_, _locks) = table.lock_both(index, Some(seq)).map_err(|_| libc::EIDRM)?;
                if w.status.load(Acquire) != wait::DONE {
                    region.remove_msg_waiter(region.queue(index), own.at);
                    return Err(libc::EINTR);
                }
            }
            match w.result.load(Relaxed) {
                0 => break w.message.swap(0, Relaxed),
                RETRY if matches!(woken, Wake::Interrupted) => return Err(libc::EINTR),
                RETRY => continue,
                e => return Err(e),
            }
        };
        drop(waiter);
        crate::faults::crash_point("msg.rcv.taken");
        // A hand-off that cannot be right is lost.
        let size = region.message_size(message)? as usize;
        let mtype = region.message(message).mtype.load(Relaxed);
        let result =
            region.heap_span(message + MESSAGE_HEADER, size).and_then(|body| fill(msgp, bufsz, mtype, body, size));
        self.free_message_block(message);
        result
    }

    /// A private copy of message `at`'s body, for MSG_COPY (the message may
    /// be gone once the lock is let go). Queue lock held; the message lies
    /// in the heap (`message_size`).
    fn copy_body(&self, at: u64) -> SysResult<Vec<u8>> {
        let size = self.region.message(at).size.load(Relaxed) as usize;
        let from = self.region.heap_span(at + MESSAGE_HEADER, size)?;
        let mut body = vec![0u8; size];
        // SAFETY: the body lies in a live message block of `size` bytes; it is
        // immutable once queued.
        unsafe { core::ptr::copy_nonoverlapping(from as *const u8, body.as_mut_ptr(), size) };
        Ok(body)
    }

    /// msgctl(2).
    pub fn msgctl(&self, id: i32, cmd: i32, buf: usize) -> SysResult<i32> {
        if id < 0 || cmd < 0 {
            return Err(libc::EINVAL);
        }
        // Only these may move heap blocks (a removal frees the messages).
        let _hold = (cmd == IPC_SET || cmd == IPC_RMID).then(|| {
            self.ensure_record();
            self.hold()
        });
        let region = &self.region;
        let table = self.msgs();
        let cred = Cred::current();
        match cmd {
            IPC_INFO | MSG_INFO => {
                let limits = region.limits();
                // Totals over the queues, read without their locks: like
                // Linux's per-CPU counters, a sum of recent values.
                let (in_use, max_index, messages, bytes) = {
                    let _fac = table.lock_facility()?;
                    let max_index = table.max_live_index();
                    let (mut messages, mut bytes) = (0u64, 0u64);
                    for index in 0..=max_index.max(-1) {
                        let slot = region.queue(index as u32);
                        if slot.head.is_live() {
                            messages += slot.qnum();
                            bytes += slot.cbytes();
                        }
                    }
                    (table.facility().in_use.load(Relaxed), max_index, messages, bytes)
                };
                let clamp = |v: u64| v.min(i32::MAX as u64) as i32;
                let info = MsgInfo {
                    msgpool: if cmd == MSG_INFO { in_use as i32 } else { MSGPOOL },
                    msgmap: if cmd == MSG_INFO { clamp(messages) } else { MSGMAP },
                    msgmax: clamp(limits.msgmax.load(Relaxed)),
                    msgmnb: clamp(limits.msgmnb.load(Relaxed)),
                    msgmni: clamp(limits.msgmni.load(Relaxed)),
                    msgssz: MSGSSZ,
                    msgtql: if cmd == MSG_INFO { clamp(bytes) } else { MSGTQL },
                    msgseg: MSGSEG,
                    pad: 0,
                };
                sys::copy_to_user(buf, as_bytes(&info))?;
                Ok(max_index.max(0))
            }
            IPC_STAT | MSG_STAT | MSG_STAT_ANY => {
                let ds = {
                    if cmd == IPC_STAT && id < 0 {
                        return Err(libc::EINVAL);
                    }
                    let seq = (cmd == IPC_STAT).then_some(split_id(id).1);
                    let (index, _locks) = table.lock_both(split_id(id).0, seq)?;
                    let slot = region.queue(index);
                    let perm = slot.head.perm();
                    if cmd != MSG_STAT_ANY && !cred.may_access(&perm, 0o444) {
                        return Err(libc::EACCES);
                    }
                    MsqidDs {
                        perm,
                        stime: slot.send.stime.load(Relaxed),
                        rtime: slot.rtime.load(Relaxed),
                        ctime: slot.ctime.load(Relaxed),
                        cbytes: slot.cbytes(),
                        qnum: slot.qnum(),
                        qbytes: slot.qbytes.load(Relaxed),
                        lspid: slot.send.lspid.load(Relaxed),
                        lrpid: slot.lrpid.load(Relaxed),
                        ..Default::default()
                    }
                };
                sys::copy_to_user(buf, as_bytes(&ds))?;
                Ok(if cmd == IPC_STAT { 0 } else { make_id(split_id(id).0, ds.perm.seq as u32) })
            }
            IPC_SET | IPC_RMID => {
                let mut new = MsqidDs::default();
                if cmd == IPC_SET {
                    sys::copy_from_user(as_bytes_mut(&mut new), buf)?;
                }
                let (_fac, index, _locks) = table.lock_facility_and_both(id)?;
                let slot = region.queue(index);
                if !cred.may_control(&slot.head.perm()) {
                    return Err(libc::EPERM);
                }
                if cmd == IPC_RMID {
                    region.destroy_queue(index);
                    drop(_locks);
                    if table.trim_free_top() {
                        region.give_heap_back(|| drop((_fac, _hold)));
                    }
                    return Ok(0);
                }
                let msgmnb = region.limits().msgmnb.load(Relaxed);
                if new.qbytes > msgmnb && !cred.has_cap(CAP_SYS_RESOURCE) {
                    return Err(libc::EPERM);
                }
                slot.head.set_perm(&new.perm)?;
                slot.qbytes.store(new.qbytes, Relaxed);
                slot.ctime.store(sys::realtime_seconds(), Relaxed);
                // Sleepers look again: permissions or room may have changed.
                region.wake_all(slot, (&slot.receivers_head, &slot.receivers_tail), RETRY);
                region.wake_senders(slot);
                Ok(0)
            }
            _ => Err(libc::EINVAL),
        }
    }
}

impl Region {
    /// Adds every block the queues reach to `map`: messages (the dummies
    /// too), sleepers (on their queues and their processes' lists), and
    /// messages handed to a receiver that has not taken them yet.
    pub(crate) fn msg_blocks(&self, map: &mut crate::check::BlockMap, how: Locking) -> Result<(), String> {
        let busy = || "queues: a lock is held".to_string();
        let table = MsgTable(self);
        let lock_error = |_| "queues: a lock glibc refuses".to_string();
        let _fac = table.lock_facility_with(how).map_err(lock_error)?.ok_or_else(busy)?;
        let waiter_size = core::mem::size_of::<MsgWaiter>() as u64;
        let message_size = |at: u64| MESSAGE_HEADER.saturating_add(self.message(at).size.load(Relaxed));
        for index in 0..table.initialised() {
            let _locks = table.lock_both_with(index, how).map_err(lock_error)?.ok_or_else(busy)?;
            let slot = self.queue(index);
            for at in self.list_blocks(slot.messages_head().load(Relaxed), |at| self.message(at).next.load(Relaxed)) {
                map.add(at, message_size(at), "a queued message", false)?;
            }
            for head in [&slot.receivers_head, &slot.senders_head] {
                for at in self.list_blocks(head.load(Relaxed), |at| self.msg_waiter(at).next.load(Relaxed)) {
                    map.add(at, waiter_size, "a sleeper in msgsnd or msgrcv", true)?;
                }
            }
        }
        for index in self.records_in_use() {
            let list = self.record(index).msg_waiters.load(Relaxed);
            for at in self.list_blocks(list, |at| self.msg_waiter(at).next_in_process.load(Relaxed)) {
                map.add(at, waiter_size, "a sleeper in msgsnd or msgrcv", true)?;
                let message = self.msg_waiter(at).message.load(Relaxed);
                if message != 0 {
                    map.add(message, message_size(message), "a handed-off or waiting message", false)?;
                }
            }
        }
        Ok(())
    }

    /// The message queue part of `check_invariants`: each live queue's list
    /// runs from its dummy to its last message, and holds exactly the
    /// messages and bytes its counters say; waiter lists are finite, of the
    /// right kind and hold no completed waiter.
    pub(crate) fn check_msgs(&self) -> Result<(), String> {
        let table = MsgTable(self);
        let _fac = table.lock_facility().map_err(|_| "queues: a lock glibc refuses".to_string())?;
        let mut live = 0;
        for index in 0..table.initialised() {
            let Ok((_, _locks)) = table.lock_both(index, None) else { continue };
            live += 1;
            let slot = self.queue(index);
            if slot.completing.load(Relaxed) != 0 || slot.head.removing.load(Relaxed) != 0 {
                return Err(format!("queue {index}: a completion or a removal unfinished"));
            }
            let Some(ListWalk { last, count, bytes }) = self.walk_list(slot) else {
                return Err(format!("queue {index}: message list loops or leaves the heap"));
            };
            if last != slot.send.messages_tail.load(Relaxed) {
                return Err(format!(
                    "queue {index}: the list ends at {last:#x}, the send side at {:#x}",
                    slot.send.messages_tail.load(Relaxed)
                ));
            }
            if (count, bytes) != (slot.qnum(), slot.cbytes()) {
                return Err(format!(
                    "queue {index}: {count} messages of {bytes} bytes listed, counters say {} and {}",
                    slot.qnum(),
                    slot.cbytes()
                ));
            }
            for (kind, head) in [(RECEIVER, &slot.receivers_head), (SENDER, &slot.senders_head)] {
                let mut at = head.load(Relaxed);
                for steps in 0.. {
                    if at == 0 {
                        break;
                    }
                    let waiter = self.msg_waiter(at);
                    if steps > 1 << 20 || waiter.kind.load(Relaxed) != kind || waiter.status.load(Acquire) == wait::DONE
                    {
                        return Err(format!(
                            "queue {index}: a waiter list loops, mixes kinds or holds a completed waiter"
                        ));
                    }
                    at = waiter.next.load(Relaxed);
                }
            }
        }
        let in_use = table.facility().in_use.load(Relaxed);
        if in_use != live {
            return Err(format!("queues: {in_use} counted in use, {live} live"));
        }
        Ok(())
    }
}
