//! The region's invariants, checked on demand (for tests and inspection).
//!
//! Owns: `Region::check_invariants`, which takes each facility's locks in
//! the usual order and reports the first broken rule in one line. The
//! checks themselves live beside the state they check, in each facility's
//! module; here are the heap's, and the sequence.

use crate::region::{Region, PAGE_SIZE};

impl Region {
    /// Checks every facility and the heap; Err names the first broken rule.
    /// Exact while no other thread works in the box, as in the tests that
    /// run it after each step.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.check_shm()?;
        self.check_sems()?;
        self.check_msgs()?;
        self.check_heap()
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

    fn check_heap(&self) -> Result<(), String> {
        let heap = self.heap_header();
        let bump = heap.bump.load(core::sync::atomic::Ordering::Relaxed);
        let cut = bump.checked_sub(PAGE_SIZE).ok_or("heap: bump below its first page")?;
        let free = self.heap_free_bytes().ok_or("heap: a free list or batch stack loops")?;
        if free > cut {
            return Err(format!("heap: {free} bytes free of {cut} cut"));
        }
        Ok(())
    }
}
