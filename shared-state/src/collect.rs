//! The collection of heap blocks lost to deaths: what a process killed in
//! the middle of a call held in hand (a message between its allocation and
//! its queueing, an undo record not yet linked, a block between its
//! unlinking and its freeing, a batch its magazine was taking).
//!
//! Owns: holds (`ProcRecord::holds`, `CollectHeader::unrecorded_holds`),
//! the gate, `Hold`, and `Region::collect_lost`.
//!
//! Design: no thread has a heap block in hand, or moves one from owner to
//! owner, outside a hold. A hold spans each call that may allocate, free,
//! link or unlink heap blocks (every message call, the semaphore calls
//! that make or free blocks, a semop only when it must make its undo
//! record, grow its set's journal or wait, and the reaping of the dead),
//! less its sleeps: a sleeper
//! holds nothing the region does not reach (see `sem` and `msg`). Taking a
//! hold is one atomic add on a word of the process's own record (a process
//! that has none shares `unrecorded_holds`): holds in the low 32 bits,
//! entries in the high 32.
//!
//! The collector closes the gate, then reads every hold word: if any thread
//! is inside a hold, it opens the gate again and gives up (a later try
//! succeeds once the box is quiet for an instant). Otherwise no block is in
//! anyone's hand and none can move until the gate opens: a thread that takes
//! a hold finds the gate closed, lets its hold go and waits on the collector
//! lock. The collector then finds every block the region reaches
//! (`heap_account`'s walk, under the facilities' locks as usual), and every
//! byte between the heap's start and its bump that no block covers is lost:
//! it cuts those gaps into blocks of the heap's sizes and frees them.
//! Threads outside holds run on meanwhile: what they do (most semops,
//! reads, shm calls) moves no heap block.
//!
//! Gate and holds follow Dekker: the entering thread adds to its word, then
//! reads the gate; the collector writes the gate, then reads the words; all
//! four sequentially consistent, so at least one of the two sees the other.
//!
//! Locking: the collector lock (robust) is held for the whole collection and
//! the gate is closed only under it, so one collector runs at a time and no
//! gap is freed twice. A thread that finds the gate closed waits by taking
//! that lock; if the collector died, the lock says owner-died and the thread
//! opens the gate. A collector killed half way leaves the gaps it freed on
//! the free lists and the rest as gaps for the next one. Lock order: the
//! collector lock, then the sem and msg locks (never the shm lock: a reaper
//! may wait at the gate holding it). A thread takes a hold before any sem or
//! msg lock.
//!
//! When: the reaper of a process that died inside a hold sets `lost_pending`
//! (`Region::free_record`). Reaping tries a collection afterwards, so does
//! a supervisor, retrying with backoff while the box is busy; and while a
//! collection is pending, every process tries one at the first call that
//! takes a hold or repairs after the dead, then after a number of calls
//! that doubles at each failure.

use crate::heap::MAX_BLOCK;
use crate::lock::RobustMutex;
use crate::ns::Namespace;
use crate::region::{Region, PAGE_SIZE};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};

/// One entry in a hold word's high half.
const ENTRY: u64 = 1 << 32;
const HOLDS_MASK: u64 = ENTRY - 1;

#[repr(C)]
pub struct CollectHeader {
    /// Held by the collector while it runs (see the module notes).
    pub lock: RobustMutex,
    /// 1 while a collector runs: no hold may begin. Written under `lock`.
    pub gate: AtomicU32,
    /// 1 when a process died inside a hold and its blocks wait for
    /// collection. Set by reapers, cleared by the collector (lock).
    pub lost_pending: AtomicU32,
    /// Bumped at the start of every repair after a lock's dead holder
    /// (`note_repair`): a thread outside any hold may run one, so the
    /// collector frees nothing if one began during its walk.
    pub repairs: AtomicU64,
    /// The hold word of processes that have no record (one that found the
    /// process table full). Their own atomic adds.
    pub unrecorded_holds: AtomicU64,
}

impl CollectHeader {
    /// # Safety
    /// Only while creating the region.
    pub(crate) unsafe fn init(&self) {
        crate::region::init_lock(&self.lock);
    }
}

/// A process's hold word, alone on its cache line: it changes twice in
/// every call that takes a hold, and the record's other fields are read by
/// every process of the box on every call (`Region::any_suspect`).
#[repr(C, align(64))]
pub struct HoldWord(pub AtomicU64);

/// A hold on one hold word, let go when dropped.
pub(crate) struct Hold<'a> {
    region: &'a Region,
    word: &'a AtomicU64,
}

impl<'a> Hold<'a> {
    fn enter(region: &'a Region, word: &'a AtomicU64) -> Hold<'a> {
        let collect = &region.header().collect;
        loop {
            word.fetch_add(ENTRY + 1, SeqCst);
            if collect.gate.load(SeqCst) == 0 {
                return Hold { region, word };
            }
            word.fetch_sub(1, Release);
            let guard = collect.lock.lock();
            if guard.owner_died {
                // The collector died with the gate closed.
                collect.gate.store(0, Release);
            }
        }
    }

    /// Runs `sleep` with the hold let go: a sleeper holds nothing the
    /// region does not reach, and a collector may run meanwhile.
    pub(crate) fn released<T>(&self, sleep: impl FnOnce() -> T) -> T {
        self.word.fetch_sub(1, Release);
        let result = sleep();
        core::mem::forget(Hold::enter(self.region, self.word));
        result
    }
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        self.word.fetch_sub(1, Release);
    }
}

impl Namespace {
    /// A hold for a call that may move heap blocks (see the module notes),
    /// on this process's record (made now if it has none, so that its
    /// death inside the hold is seen). Take it before any lock. Tries a
    /// pending collection first, now and then.
    pub(crate) fn hold(&self) -> Hold<'_> {
        self.collect_now_and_then();
        self.hold_on(self.magazine_record())
    }

    /// As `hold`, for a caller that holds a region lock (but no sem or msg
    /// lock), and so may not wait for this process's private lock to make
    /// a record.
    pub(crate) fn hold_under_lock(&self) -> Hold<'_> {
        let record = self.known_record().or_else(|| self.try_record_without_waiting());
        self.hold_on(record)
    }

    fn hold_on(&self, record: Option<u32>) -> Hold<'_> {
        // Only a process that found the process table full has no record.
        let word = match record {
            Some(index) => &self.region.record(index).holds.0,
            None => &self.region.header().collect.unrecorded_holds,
        };
        Hold::enter(&self.region, word)
    }

    /// Frees the heap blocks that processes killed mid-call left in hand,
    /// if any wait and the box is quiet for an instant; the bytes freed, or
    /// None if a thread was inside a hold (try again later) or another
    /// collector runs. Call it outside any hold and any region lock.
    pub fn collect_lost(&self) -> Option<u64> {
        self.region.collect_lost()
    }

    /// `collect_lost`, now and then while a collection is pending: at the
    /// first call that sees it pending, then after a number of calls that
    /// doubles at each failure (a busy box wastes few walks).
    #[inline]
    pub(crate) fn collect_now_and_then(&self) {
        if self.region.header().collect.lost_pending.load(Relaxed) != 0 {
            self.collect_now_and_then_slow();
        }
    }

    #[cold]
    fn collect_now_and_then_slow(&self) {
        let calls = self.collect_countdown.fetch_sub(1, Relaxed);
        if calls > 1 {
            return;
        }
        let next = match self.collect_lost() {
            Some(_) => 1,
            None => (self.collect_interval.load(Relaxed) * 2).clamp(64, 1 << 16),
        };
        self.collect_interval.store(next, Relaxed);
        self.collect_countdown.store(next, Relaxed);
    }
}

impl Region {
    /// See `Namespace::collect_lost`.
    pub(crate) fn collect_lost(&self) -> Option<u64> {
        let collect = &self.header().collect;
        if collect.lost_pending.load(Acquire) == 0 {
            return Some(0);
        }
        let _guard = collect.lock.try_lock()?;
        collect.gate.store(1, SeqCst);
        crate::faults::crash_point("collect.gate_closed");
        let freed = if self.all_holds_let_go() { self.free_gaps() } else { None };
        collect.gate.store(0, Release);
        freed
    }

    /// Asks for a collection even though no death asked for one (for tests
    /// and inspection: a collection with nothing lost frees nothing).
    pub fn request_collection(&self) {
        self.header().collect.lost_pending.store(1, Release);
    }

    /// Notes that a repair after a dead lock holder begins (see
    /// `CollectHeader::repairs`). The repairing thread holds the lock.
    /// A lock's holder died: that is also a death to reap (see `procs`).
    pub(crate) fn note_repair(&self) {
        self.header().collect.repairs.fetch_add(1, SeqCst);
        self.note_death();
    }

    /// Whether no thread of the box is inside a hold. Gate closed.
    fn all_holds_let_go(&self) -> bool {
        let collect = &self.header().collect;
        let records = self.procs().high_water.load(SeqCst);
        collect.unrecorded_holds.load(SeqCst) & HOLDS_MASK == 0
            && (0..records).all(|index| self.record(index).holds.0.load(SeqCst) & HOLDS_MASK == 0)
    }

    /// Frees every gap between the blocks the region reaches. Gate closed,
    /// no hold taken: nothing is in hand and nothing moves.
    fn free_gaps(&self) -> Option<u64> {
        let collect = &self.header().collect;
        let repairs = collect.repairs.load(SeqCst);
        // A broken region is for check_invariants to report; freeing by a
        // wrong map would break it further.
        let (map, end) = self.reachable_blocks().ok()?;
        if collect.repairs.load(SeqCst) != repairs {
            return None;
        }
        collect.lost_pending.store(0, Relaxed);
        let mut freed = 0;
        let mut at = PAGE_SIZE;
        for (start, size) in map.spans().chain([(end, 0)]) {
            while at < start {
                let gap = start - at;
                let block = if gap >= MAX_BLOCK { MAX_BLOCK } else { 1 << (63 - gap.leading_zeros()) };
                self.heap_free(at, block);
                crate::faults::crash_point("collect.freeing");
                at += block;
                freed += block;
            }
            at = at.max(start + size);
        }
        Some(freed)
    }

    /// Ends the hold word's part in a record freed (its process is gone):
    /// notes that the process died inside a hold, if it did, and clears
    /// its holds for the record's next life.
    pub(crate) fn reset_holds(&self, word: &AtomicU64) {
        let old = word.load(Relaxed);
        if old & HOLDS_MASK != 0 {
            self.header().collect.lost_pending.store(1, Release);
        }
        word.store((old & !HOLDS_MASK).wrapping_add(ENTRY), Release);
    }
}
