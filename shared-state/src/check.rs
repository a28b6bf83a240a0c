//! The region's invariants, checked on demand (for tests and inspection).
//!
//! Owns: `Region::check_invariants`, which takes each facility's locks in
//! the usual order and reports the first broken rule in one line. The
//! checks themselves live beside the state they check, in each facility's
//! module; here are the sequence and the heap's accounting.
//!
//! The walk of the heap's blocks (`reachable_blocks`) takes the locks as
//! it is told (`Locking`): waiting, for checks and inspection, or briefly,
//! giving up at a lock that stays held, for a collector (see `collect`).
//!
//! Also `Region::heap_account`: every heap block the region reaches, each
//! found through exactly one owner (an object, a free list, a batch, a
//! magazine; an undo record or a waiter also through its process's list),
//! so that overlaps show up as errors and `lost()` is exactly the memory no
//! one can reach. Each facility lists its own blocks (`sem_blocks`,
//! `msg_blocks`); the heap lists the free ones (`free_blocks`).
//! `repair_abandoned_locks` lives here too: it takes every lock a dead
//! holder left, in every facility, so that the repairs run at once.
//!
//! The accounting also serves the collector of lost blocks (`collect`),
//! which any call may run: so it reports a block outside the heap, or a
//! bump past it, as an error rather than trusting the region.

use crate::region::{Region, HEAP_START};
pub(crate) use crate::table::Locking;
use std::collections::BTreeMap;

/// Every heap block the region can reach, by offset: its size (its class's,
/// rounded up) and who holds it. Built by `heap_account`.
#[derive(Default)]
pub(crate) struct BlockMap {
    blocks: BTreeMap<u64, (u64, &'static str)>,
}

impl BlockMap {
    /// Records block `at` of `size` bytes held by `holder`. A block found
    /// twice is an error, unless `shared` (reached again along a second
    /// list that legitimately names it, as an undo record is); so is one
    /// that does not lie in the heap.
    pub(crate) fn add(&mut self, at: u64, size: u64, holder: &'static str, shared: bool) -> Result<(), String> {
        let size = crate::heap::class_of(size).map_or(size, |(_, block)| block);
        if !crate::heap::block_fits(at, size) {
            return Err(format!("heap: block {at:#x} of {size} bytes ({holder}) does not lie in the heap"));
        }
        if let Some(&(old_size, old_holder)) = self.blocks.get(&at) {
            if shared && old_holder == holder && old_size == size {
                return Ok(());
            }
            return Err(format!("heap: block {at:#x} is both {old_holder} and {holder}"));
        }
        self.blocks.insert(at, (size, holder));
        Ok(())
    }

    /// Bytes in the blocks recorded.
    pub(crate) fn bytes(&self) -> u64 {
        self.blocks.values().map(|&(size, _)| size).sum()
    }

    /// The blocks recorded as (offset, size), in order of offset.
    pub(crate) fn spans(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.blocks.iter().map(|(&at, &(size, _))| (at, size))
    }
}

/// What the heap's blocks add up to (see `Region::heap_account`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapAccount {
    /// Bytes cut from the heap so far.
    pub cut: u64,
    /// Bytes in blocks the region reaches: objects (semaphore arrays that
    /// slots left behind when they grew too), free lists, magazines.
    pub reachable: u64,
}

impl HeapAccount {
    /// Bytes no one can reach: blocks lost by processes killed while
    /// holding them (README: known deviations), or a bug.
    pub fn lost(&self) -> u64 {
        self.cut - self.reachable
    }
}

impl Region {
    /// Checks every facility and the heap; Err names the first broken rule.
    /// Exact while no other thread works in the box, as in the tests that
    /// run it after each step.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.check_procs()?;
        self.check_shm()?;
        self.check_sems()?;
        self.check_msgs()?;
        self.heap_account().map(|_| ())
    }

    /// Finds every heap block the region reaches (objects, free lists,
    /// batches, magazines) and checks that no two overlap and that they fit
    /// in what was cut. Exact while no other thread works in the box; a
    /// block a live thread holds in hand mid-call is not reached.
    pub fn heap_account(&self) -> Result<HeapAccount, String> {
        let (map, bump) = self.reachable_blocks(Locking::Wait)?;
        Ok(HeapAccount { cut: bump - HEAP_START, reachable: map.bytes() })
    }

    /// Every heap block the region reaches, checked not to overlap, and the
    /// heap's bump (all of them lie below it). The facilities' locks are
    /// taken as `how` says; Err if one was not had.
    pub(crate) fn reachable_blocks(&self, how: Locking) -> Result<(BlockMap, u64), String> {
        let mut map = BlockMap::default();
        self.sem_blocks(&mut map, how)?;
        self.msg_blocks(&mut map, how)?;
        crate::faults::crash_point("collect.walking");
        self.free_blocks(&mut map)?;
        let mut end = HEAP_START;
        for (&at, &(size, holder)) in &map.blocks {
            if at < end {
                return Err(format!("heap: block {at:#x} ({holder}) overlaps the one before"));
            }
            end = at + size;
        }
        let bump = self.heap_header().bump.load(core::sync::atomic::Ordering::Relaxed);
        if !(HEAP_START..=crate::region::HEAP_SIZE).contains(&bump) {
            return Err(format!("heap: the bump {bump:#x} lies outside the heap"));
        }
        if end > bump {
            return Err(format!("heap: a block ends at {end:#x}, beyond the {bump:#x} cut"));
        }
        Ok((map, bump))
    }

    /// Repairs now whatever lock a dead holder abandoned, in every
    /// facility (see `SlotTable::repair_abandoned`).
    pub fn repair_abandoned_locks(&self) {
        use crate::table::SlotTable;
        if SlotTable::facility(self).lock.is_abandoned() {
            drop(self.lock_shm());
        }
        crate::sem::SemTable(self).repair_abandoned();
        crate::msg::MsgTable(self).repair_abandoned();
    }
}
