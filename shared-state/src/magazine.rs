//! Per-process caches of free heap blocks (magazines, after Bonwick and
//! Adams' "Magazines and Vmem"), for message bodies.
//!
//! Owns: `Magazine` (one in each `ProcRecord`) and the heap's per-class
//! stacks of full batches (`HeapHeader::batches`).
//!
//! Why: in a message stream the sender allocates every block and the
//! receiver frees every block. Through the heap's free lists, each block
//! would go back and forth between the two cores: the receiver writes the
//! free-list link into the block and the list head, the sender reads both
//! back at once. Here the receiver gathers the blocks it frees in its own
//! magazine (`spent`), touching nothing shared and writing nothing into
//! them, and hands them on `BATCH` at a time: the first block carries the
//! others' offsets and goes on the class's batch stack. The sender takes a
//! whole batch into its own magazine (`loaded`) and allocates from it
//! without touching anything shared, while the next block's lines are
//! fetched for writing ahead of use.
//!
//! Invariants: a magazine holds free blocks only, of the class its side
//! names. Blocks in magazines and batches are free memory: `heap_in_use`
//! counts them as free, and a dead process's reaper empties its magazine
//! into the free lists, so nothing is lost when a process dies.
//!
//! Locking: a magazine is its process's alone, and `busy` keeps two of its
//! threads apart (a thread that finds it busy uses the free lists instead).
//! After the process's death, only its reaper touches it (the holder of
//! the record's reaping lock, see `ns`). Batch stacks are
//! lock-free, as the free lists are (see `heap`).
//!
//! Corruption (see the region's notes): a magazine whose count, class or
//! blocks cannot be right is emptied (its blocks lost) and the call takes
//! its block from the heap, or frees it there; a batch whose carrier lies
//! outside the heap is dropped.

use crate::heap::{block_fits, class_of, MIN_SHIFT};
use crate::region::{corrupt, Region};
use core::sync::atomic::{AtomicU32, Ordering::*};

/// Blocks in a full batch: the carrier and the offsets it holds.
pub const BATCH: usize = 15;
/// Smallest block that can carry a batch: the stack link and 14 offsets.
const MIN_CLASS: usize = 2;
/// Largest block cached: 8 KiB (MSGMAX and its header round up to 16 KiB,
/// whose pages are worth giving back rather than caching).
const MAX_CLASS: usize = 9;
/// Offsets are stored in 16-byte units, so that 32 bits reach the whole heap.
const UNIT: u64 = 16;

#[repr(C, align(64))]
pub struct Magazine {
    /// 1 while a thread of the process uses the magazine.
    pub busy: AtomicU32,
    /// Class + 1 of the blocks in `loaded`, 0 while empty. Busy.
    loaded_class: AtomicU32,
    loaded_count: AtomicU32,
    /// Class + 1 of the blocks in `spent`, 0 while empty. Busy.
    spent_class: AtomicU32,
    spent_count: AtomicU32,
    /// Blocks to allocate from, the next at the end. Busy.
    loaded: [AtomicU32; BATCH],
    /// Blocks freed, to hand on as a batch once full. Busy.
    spent: [AtomicU32; BATCH],
}

impl Magazine {
    /// Empties the magazine (a record newly allocated).
    pub fn reset(&self) {
        for cell in [&self.busy, &self.loaded_class, &self.loaded_count, &self.spent_class, &self.spent_count] {
            cell.store(0, Relaxed);
        }
    }

    /// Drops what a side of the magazine holds, whose count or blocks
    /// cannot be right (its blocks are lost). Busy.
    #[cold]
    fn drop_side(class: &AtomicU32, count: &AtomicU32) {
        corrupt("a magazine's count or blocks");
        class.store(0, Relaxed);
        count.store(0, Relaxed);
    }

    /// Runs `f` with the magazine to itself, or returns None if another
    /// thread of the process has it.
    fn with<R>(&self, f: impl FnOnce() -> Option<R>) -> Option<R> {
        if self.busy.swap(1, Acquire) != 0 {
            return None;
        }
        let result = f();
        self.busy.store(0, Release);
        result
    }
}

/// A batch's first block, seen as 32-bit words: the stack link (as every
/// free block starts), then the other blocks' offsets.
type Carrier = [AtomicU32; BATCH + 1];

fn cached_class(size: u64) -> Option<usize> {
    class_of(size).map(|(class, _)| class).filter(|class| (MIN_CLASS..=MAX_CLASS).contains(class))
}

fn block_size(class: usize) -> u64 {
    1 << (class as u32 + MIN_SHIFT)
}

/// The size of the blocks a magazine side of class `class_plus_one` holds
/// (see `Magazine`), if it holds any of a class magazines cache.
fn side_block_size(class_plus_one: u32) -> Option<u64> {
    let class = (class_plus_one as usize).checked_sub(1)?;
    (MIN_CLASS..=MAX_CLASS).contains(&class).then(|| block_size(class))
}

impl Region {
    fn magazine(&self, record: u32) -> &Magazine {
        &self.record(record).magazine
    }

    /// A free block for `size` bytes from the magazine of process record
    /// `record` (refilled from a batch if empty); None if the size is not
    /// cached, the magazine is busy or holds another class, and no batch is
    /// there. Its contents are whatever the last user left.
    pub(crate) fn magazine_alloc(&self, record: u32, size: u64) -> Option<u64> {
        let class = cached_class(size)?;
        let magazine = self.magazine(record);
        magazine.with(|| {
            let mut count = magazine.loaded_count.load(Relaxed) as usize;
            if count == 0 {
                // A process killed between the pop and the count's store
                // loses the batch; its reaper never frees blocks twice.
                let carrier = self.stack_pop(&self.heap_header().batches[class])?;
                if !block_fits(carrier, block_size(class)) {
                    corrupt("a batch outside the heap");
                    return None;
                }
                crate::faults::crash_point("magazine.batch_taken");
                // SAFETY: a batch carrier is a free block of 64 bytes or more.
                let offsets = unsafe { self.heap_ref::<Carrier>(carrier) };
                for (cell, offset) in magazine.loaded.iter().zip(&offsets[2..]) {
                    cell.store(offset.load(Relaxed), Relaxed);
                }
                magazine.loaded[BATCH - 1].store((carrier / UNIT) as u32, Relaxed);
                magazine.loaded_class.store(class as u32 + 1, Relaxed);
                count = BATCH;
            } else if magazine.loaded_class.load(Relaxed) != class as u32 + 1 {
                return None;
            } else if count > BATCH {
                Magazine::drop_side(&magazine.loaded_class, &magazine.loaded_count);
                return None;
            }
            let at = magazine.loaded[count - 1].load(Relaxed) as u64 * UNIT;
            if !block_fits(at, block_size(class)) {
                Magazine::drop_side(&magazine.loaded_class, &magazine.loaded_count);
                return None;
            }
            count -= 1;
            magazine.loaded_count.store(count as u32, Relaxed);
            if count == 0 {
                magazine.loaded_class.store(0, Relaxed);
            } else {
                // The next allocation writes this block: ask for its lines
                // for writing now, so that they arrive meanwhile (wherever
                // it is: a prefetch never faults).
                let next = magazine.loaded[count - 1].load(Relaxed) as u64 * UNIT;
                prefetch_for_write(self.prefetch_addr(next), block_size(class).min(128));
            }
            Some(at)
        })
    }

    /// Frees a block of `size` bytes into the magazine of process record
    /// `record`, handing a full one on as a batch. False if the caller must
    /// free it to the heap instead.
    pub(crate) fn magazine_free(&self, record: u32, offset: u64, size: u64) -> bool {
        let Some(class) = cached_class(size) else { return false };
        if !block_fits(offset, block_size(class)) {
            // The heap drops it (see `heap_free`).
            return false;
        }
        let magazine = self.magazine(record);
        magazine
            .with(|| {
                let count = magazine.spent_count.load(Relaxed) as usize;
                if count == 0 {
                    magazine.spent_class.store(class as u32 + 1, Relaxed);
                } else if magazine.spent_class.load(Relaxed) != class as u32 + 1 {
                    return None;
                } else if count >= BATCH {
                    Magazine::drop_side(&magazine.spent_class, &magazine.spent_count);
                    return None;
                }
                magazine.spent[count].store((offset / UNIT) as u32, Relaxed);
                if count + 1 < BATCH {
                    magazine.spent_count.store(count as u32 + 1, Relaxed);
                    return Some(());
                }
                // Full: the last block freed carries the others.
                // SAFETY: the block is free and at least 64 bytes (MIN_CLASS).
                let offsets = unsafe { self.heap_ref::<Carrier>(offset) };
                for (cell, spent) in offsets[2..].iter().zip(&magazine.spent[..BATCH - 1]) {
                    cell.store(spent.load(Relaxed), Relaxed);
                }
                // Emptied before the batch is published: a process killed
                // in between loses the batch, rather than its reaper freeing
                // blocks that are on the stack too.
                magazine.spent_count.store(0, Relaxed);
                magazine.spent_class.store(0, Relaxed);
                crate::faults::crash_point("magazine.batch_handing");
                self.stack_push(&self.heap_header().batches[class], offset);
                Some(())
            })
            .is_some()
    }

    /// Gives the blocks of a dead process's magazine back to the free lists.
    /// Its reaper only.
    pub(crate) fn drain_magazine(&self, record: u32) {
        let magazine = self.magazine(record);
        let sides = [
            (&magazine.loaded_class, &magazine.loaded_count, &magazine.loaded),
            (&magazine.spent_class, &magazine.spent_count, &magazine.spent),
        ];
        for (class, count, blocks) in sides {
            let (class_plus_one, n) = (class.load(Relaxed), count.load(Relaxed) as usize);
            // A class no magazine caches names no blocks (heap_free drops
            // those outside the heap).
            if let Some(size) = side_block_size(class_plus_one) {
                blocks[..n.min(BATCH)].iter().for_each(|b| self.heap_free(b.load(Relaxed) as u64 * UNIT, size));
            }
            class.store(0, Relaxed);
            count.store(0, Relaxed);
        }
    }

    /// Adds the blocks in batches and in magazines to `map`.
    pub(crate) fn magazine_blocks(&self, map: &mut crate::check::BlockMap) -> Result<(), String> {
        for (class, head) in self.heap_header().batches.iter().enumerate() {
            let size = block_size(class);
            let mut carrier = self.stack_head_offset(head);
            let mut count = 0;
            while carrier != 0 {
                map.add(carrier, size, "a batch's carrier", false)?;
                // SAFETY: a batch carrier is a free block of 64 bytes or more.
                let offsets = unsafe { self.heap_ref::<Carrier>(carrier) };
                for offset in &offsets[2..] {
                    map.add(offset.load(Relaxed) as u64 * UNIT, size, "in a batch", false)?;
                }
                count += 1;
                if count > crate::region::HEAP_SIZE / size {
                    return Err(format!("heap: batch stack of class {class} loops"));
                }
                // SAFETY: as above; its first word is the stack link.
                carrier = unsafe { self.heap_ref::<core::sync::atomic::AtomicU64>(carrier) }.load(Relaxed);
            }
        }
        for index in self.records_in_use() {
            let magazine = self.magazine(index);
            for (class, count, blocks) in [
                (&magazine.loaded_class, &magazine.loaded_count, &magazine.loaded),
                (&magazine.spent_class, &magazine.spent_count, &magazine.spent),
            ] {
                if let Some(size) = side_block_size(class.load(Relaxed)) {
                    for block in &blocks[..(count.load(Relaxed) as usize).min(BATCH)] {
                        map.add(block.load(Relaxed) as u64 * UNIT, size, "in a magazine", false)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Asks the CPU to fetch `len` bytes at `addr` for writing, without waiting.
#[inline(always)]
fn prefetch_for_write(addr: usize, len: u64) {
    #[cfg(target_arch = "x86_64")]
    for line in (0..len as usize).step_by(64) {
        // SAFETY: a prefetch never faults, whatever the address.
        unsafe { core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_ET0 }>((addr + line) as *const i8) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (addr, len);
}
