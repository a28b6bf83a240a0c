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
//! entries in the high 32, so that a word changes whenever a hold is
//! taken, even one let go since.
//!
//! The collector reads every hold word; if a thread is inside a hold, it
//! gives up at once (a later try succeeds once the box is quiet for an
//! instant: it never waits for a hold, which a stopped process may keep
//! for ever). Otherwise no block is in anyone's hand. It then finds every
//! block the region reaches (`heap_account`'s walk) and reads the hold
//! words again: if each is as it was (and no repair began, see
//! `repairs`), no thread was inside a hold at any instant of the walk, so
//! the walk saw every block where it lay, and every byte between the
//! heap's start and its bump that no block covers is lost: no list names
//! it and no thread has it in hand, so no thread can come to reach it. It
//! cuts those gaps into blocks of the heap's sizes and frees them, while
//! the box runs on. Threads outside holds run on meanwhile: what they do
//! (most semops, reads, shm calls) moves no heap block.
//!
//! The gate keeps the walk from being wasted: the collector closes it
//! before its first reading, and a thread about to take a hold that finds
//! it closed backs out (its word is then as before, so the collector sees
//! nothing) and waits until it opens. The gate is only ever a matter of
//! time, never of correctness: a thread waits only while the collector
//! runs. If the collector is stopped (or died, or let go of its lock), the
//! thread opens the gate itself and takes its hold; that changes its word,
//! so the collector, if it goes on, frees nothing. So a stopped collector
//! holds the box up for one look at its /proc stat.
//!
//! Hold words and the collector's readings follow Dekker: the entering
//! thread adds to its word, then reads the gate; the collector writes the
//! gate, then reads the words; all sequentially consistent, so at least
//! one of the two sees the other. A hold that begins after the second
//! reading (the walk's loads are fenced before it) changes nothing the walk
//! saw; one that begins before it shows in the word. Records made during
//! the walk have words that were 0 before their first hold.
//!
//! The walk takes the facilities' locks as usual, but only briefly
//! (`RobustMutex::lock_briefly`): a lock that stays held (its holder may
//! be stopped) makes the collector give up rather than wait, gate closed.
//!
//! Locking: the collector lock (robust, only ever tried) is held for the
//! whole collection, so one collector runs at a time and no gap is freed
//! twice. A collector killed half way leaves the gaps it freed on the free
//! lists and the rest as gaps, with the collection still pending
//! (`lost_pending` is cleared only after the last free, and only if no
//! death asked for another since), for the next one. A stopped collector
//! keeps others from collecting, and nothing else. No lock order: the
//! collector waits for no lock, and no one waits for its lock.
//!
//! Corruption (see the region's notes): the high water is read never past
//! the process table, and the walk (`check`) reports a block outside the
//! heap, or a bump past it, as an error: the collector then frees
//! nothing. A lock the walk needs that glibc refuses (see `lock`) makes it
//! give up too; a collector lock that glibc refuses is never had, and a
//! thread at a gate closed for it (or a gate that holds garbage) opens
//! the gate as for a collector gone, rather than wait for good.
//!
//! When: the reaper of a process that died inside a hold asks for a
//! collection (`Region::free_record`). Reaping tries one afterwards, so does
//! a supervisor, retrying with backoff while the box is busy; and while a
//! collection is pending, every process tries one at the first call that
//! takes a hold or repairs after the dead, then after a number of calls
//! that doubles at each failure.

use crate::heap::MAX_BLOCK;
use crate::lock::RobustMutex;
use crate::ns::Namespace;
use crate::region::{Region, HEAP_OFFSET, HEAP_START, MAX_PROCS, PAGE_SIZE};
use crate::sys;
use core::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering::*};

/// One entry in a hold word's high half.
const ENTRY: u64 = 1 << 32;
const HOLDS_MASK: u64 = ENTRY - 1;

/// The gate's states: open, closed, closed with a thread asleep on it.
const OPEN: u32 = 0;
const CLOSED: u32 = 1;
const CLOSED_WAITED: u32 = 2;
/// How long a thread at the closed gate spins before it sleeps, and how
/// long it sleeps between two looks at the collector.
const GATE_SPIN_NS: i128 = 20_000;
const GATE_LOOK_NS: u64 = 10_000_000;

#[repr(C)]
pub struct CollectHeader {
    /// Held by the collector while it runs (see the module notes).
    pub lock: RobustMutex,
    /// OPEN, CLOSED or CLOSED_WAITED: closed while a collector walks
    /// (see the module notes). Closed by the collector under `lock`;
    /// opened by it, or by a thread that found it stopped.
    pub gate: AtomicU32,
    /// Not 0 when a process died inside a hold and its blocks wait for
    /// collection. Bumped by reapers; cleared by a collector that freed
    /// every gap, if no one bumped it meanwhile.
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

    /// Opens the gate, waking whoever sleeps at it.
    fn open_gate(&self) {
        if self.gate.swap(OPEN, SeqCst) == CLOSED_WAITED {
            sys::futex_wake(&self.gate, i32::MAX);
        }
    }

    /// Waits until the gate opens: true once it is open, false if the
    /// collector is stopped, dead or gone, or if glibc refuses its lock
    /// (see the module notes).
    fn wait_for_gate(&self) -> bool {
        let start = crate::wait::monotonic_ns();
        while crate::wait::monotonic_ns() - start < GATE_SPIN_NS {
            if self.gate.load(SeqCst) == OPEN {
                return true;
            }
            core::hint::spin_loop();
        }
        loop {
            let gate = self.gate.load(SeqCst);
            if gate == OPEN {
                return true;
            }
            if !self.lock.is_locked() || self.lock.holder_stopped() || self.lock.refused() {
                return false;
            }
            if gate == CLOSED_WAITED || self.gate.compare_exchange(CLOSED, CLOSED_WAITED, SeqCst, SeqCst).is_ok() {
                let _ = sys::futex_wait(&self.gate, CLOSED_WAITED, Some(GATE_LOOK_NS));
            }
        }
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
    #[inline(always)]
    fn enter(region: &'a Region, word: &'a AtomicU64) -> Hold<'a> {
        word.fetch_add(ENTRY + 1, SeqCst);
        if region.header().collect.gate.load(SeqCst) != OPEN {
            Self::past_the_gate(region, word);
        }
        Hold { region, word }
    }

    /// Entry at a closed gate: waits while the collector runs, then enters
    /// (see the module notes). The hold is taken when this returns.
    #[cold]
    #[inline(never)]
    fn past_the_gate(region: &Region, word: &AtomicU64) {
        let collect = &region.header().collect;
        loop {
            // Out again, whole: the word reads as it did before, and the
            // collector, comparing, sees that nothing happened.
            word.fetch_sub(ENTRY + 1, SeqCst);
            if !collect.wait_for_gate() {
                // The collector is stopped or gone: in anyway. The entry
                // shows in the word, so it frees nothing if it goes on.
                collect.open_gate();
                word.fetch_add(ENTRY + 1, SeqCst);
                return;
            }
            word.fetch_add(ENTRY + 1, SeqCst);
            if collect.gate.load(SeqCst) == OPEN {
                return;
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
    /// None if a thread was inside a hold (try again later), a lock the
    /// walk needs was held, or another collector runs. Never waits. Call
    /// it outside any hold.
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

/// The hold words as a collector read them: `unrecorded_holds`, then each
/// record's below the table's high water.
struct HoldWords {
    unrecorded: u64,
    records: Vec<u64>,
}

impl Region {
    /// See `Namespace::collect_lost`.
    pub(crate) fn collect_lost(&self) -> Option<u64> {
        let collect = &self.header().collect;
        let pending = collect.lost_pending.load(Acquire);
        if pending == 0 {
            return Some(0);
        }
        let _guard = collect.lock.try_lock()?;
        collect.gate.store(CLOSED, SeqCst);
        crate::faults::crash_point("collect.gate_closed");
        let walked = self.walk_while_quiet();
        collect.open_gate();
        let (map, end) = walked?;
        let freed = self.free_gaps(&map, end);
        // A death noted since asks for another collection.
        let _ = collect.lost_pending.compare_exchange(pending, 0, AcqRel, Relaxed);
        Some(freed)
    }

    /// Asks for a collection even though no death asked for one (for tests
    /// and inspection: a collection with nothing lost frees nothing).
    pub fn request_collection(&self) {
        self.header().collect.lost_pending.fetch_add(1, Release);
    }

    /// Notes that a repair after a dead lock holder begins (see
    /// `CollectHeader::repairs`). The repairing thread holds the lock.
    /// A lock's holder died: that is also a death to reap (see `procs`).
    pub(crate) fn note_repair(&self) {
        self.header().collect.repairs.fetch_add(1, SeqCst);
        self.note_death();
    }

    /// The blocks the region reaches and the heap's bump, found by a walk
    /// during which no thread was inside a hold and no repair ran (see the
    /// module notes); None if one was, or the walk found a lock held.
    fn walk_while_quiet(&self) -> Option<(crate::check::BlockMap, u64)> {
        let collect = &self.header().collect;
        let before = self.quiet_hold_words()?;
        let repairs = collect.repairs.load(SeqCst);
        let walked = self.reachable_blocks(crate::check::Locking::Briefly);
        // The walk's loads before the second reading.
        fence(SeqCst);
        let quiet = collect.repairs.load(SeqCst) == repairs && self.hold_words_as(&before);
        walked.ok().filter(|_| quiet)
    }

    /// The table's high water, read as the hold words are (sequentially
    /// consistent), never past the table even if the region says so.
    fn records_high_seqcst(&self) -> u32 {
        self.procs().high_water.load(SeqCst).min(MAX_PROCS)
    }

    /// Every hold word, if no thread is inside a hold.
    fn quiet_hold_words(&self) -> Option<HoldWords> {
        let unrecorded = self.header().collect.unrecorded_holds.load(SeqCst);
        let high = self.records_high_seqcst();
        let records: Vec<u64> = (0..high).map(|index| self.record(index).holds.0.load(SeqCst)).collect();
        let quiet = unrecorded & HOLDS_MASK == 0 && records.iter().all(|word| word & HOLDS_MASK == 0);
        quiet.then_some(HoldWords { unrecorded, records })
    }

    /// Whether every hold word still reads as `before` (a record made
    /// since, as 0: its word was before its first hold).
    fn hold_words_as(&self, before: &HoldWords) -> bool {
        let high = self.records_high_seqcst();
        self.header().collect.unrecorded_holds.load(SeqCst) == before.unrecorded
            && (0..high).all(|index| {
                self.record(index).holds.0.load(SeqCst) == before.records.get(index as usize).copied().unwrap_or(0)
            })
    }

    /// Frees every gap between the blocks of `map` below `end`: blocks no
    /// one can reach (see the module notes).
    fn free_gaps(&self, map: &crate::check::BlockMap, end: u64) -> u64 {
        let mut freed = 0;
        let mut at = HEAP_START;
        for (start, size) in map.spans().chain([(end, 0)]) {
            let start = if start == end && at < end {
                let lowered = self.lower_bump_over(at, end);
                freed += end - lowered;
                lowered
            } else {
                start
            };
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
        freed
    }

    /// Gives back the gap from `at` to the heap's top `end` (the bump as
    /// the walk read it): its whole pages are punched out, then the bump is
    /// lowered to the first of them, unless a block was cut from it since.
    /// Returns where the rest of the gap, to be freed as blocks, ends.
    ///
    /// No thread reaches a gap, so the punch takes nothing from anyone;
    /// blocks cut from the lowered bump are zeroes, as fresh ones are. A
    /// collector that dies here leaves the gap lost (the collection still
    /// pending), whichever step it got to: the next one frees it.
    fn lower_bump_over(&self, at: u64, end: u64) -> u64 {
        let first_page = at.next_multiple_of(PAGE_SIZE);
        if first_page >= end {
            return end;
        }
        let _ = crate::sys::punch_hole(self.fd(), (HEAP_OFFSET as u64) + first_page, end - first_page);
        crate::faults::crash_point("collect.top_punched");
        match self.heap_header().bump.compare_exchange(end, first_page, AcqRel, Relaxed) {
            Ok(_) => first_page,
            Err(_) => end,
        }
    }

    /// Ends the hold word's part in a record freed (its process is gone):
    /// asks for a collection if the process died inside a hold, and clears
    /// its holds for the record's next life (an entry more: the word
    /// changes, as for any hold taken).
    pub(crate) fn reset_holds(&self, word: &AtomicU64) {
        let old = word.load(Relaxed);
        if old & HOLDS_MASK != 0 {
            self.header().collect.lost_pending.fetch_add(1, Release);
        }
        word.store((old & !HOLDS_MASK).wrapping_add(ENTRY), SeqCst);
    }
}
