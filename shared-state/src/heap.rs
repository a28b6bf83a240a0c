//! The region's heap: variable-size blocks for semaphore arrays, undo
//! records and waiters (and, later, message bodies).
//!
//! Owns: `HeapHeader` and the heap area of the memfd (`HEAP_OFFSET`, sparse,
//! `HEAP_SIZE` bytes of address space that cost memory only where touched).
//!
//! Design: power-of-two size classes from 16 bytes to 16 MiB; each class has
//! a free list threaded through its free blocks; new blocks are cut from a
//! bump pointer. Blocks are named by their offset in the heap, never by a
//! pointer, since each process maps the region at its own address. Freed
//! blocks of 64 KiB or more give their pages back (hole punch) beyond the
//! first page, which holds the free-list link.
//!
//! Locking: the heap lock guards `bump`, `free` and `in_use`; it is a leaf
//! (nothing else is taken while it is held). Allocation makes no system
//! call, so facilities may allocate on fast paths.
//!
//! Invariants: a block handed out is zeroed; its owner frees it with the
//! size it asked for (the class is derived from it).

use crate::lock::RobustMutex;
use crate::region::{Region, HEAP_OFFSET, HEAP_SIZE, PAGE_SIZE};
use crate::sys::{self, SysResult};
use core::sync::atomic::{AtomicU64, Ordering::*};

const MIN_SHIFT: u32 = 4;
const CLASSES: usize = 21;
/// Largest block: 16 MiB.
pub const MAX_BLOCK: u64 = 1 << (MIN_SHIFT as usize + CLASSES - 1);
const PUNCH_FROM: u64 = 64 << 10;

#[repr(C)]
pub struct HeapHeader {
    pub lock: RobustMutex,
    /// Heap offset of the first never-used byte. Heap lock.
    pub bump: AtomicU64,
    /// Per class, the first free block's offset + 1 (0 for none). Heap lock.
    pub free: [AtomicU64; CLASSES],
    /// Bytes in blocks handed out. Heap lock.
    pub in_use: AtomicU64,
}

impl HeapHeader {
    /// # Safety
    /// Only while creating the region.
    pub(crate) unsafe fn init(&self) {
        crate::region::init_lock(&self.lock);
        // Offset 0 stays unused so that 0 can mean "no block" everywhere.
        self.bump.store(PAGE_SIZE, Relaxed);
    }
}

fn class_of(size: u64) -> Option<(usize, u64)> {
    if size > MAX_BLOCK {
        return None;
    }
    let block = size.max(1 << MIN_SHIFT).next_power_of_two();
    Some(((block.trailing_zeros() - MIN_SHIFT) as usize, block))
}

impl Region {
    fn heap(&self) -> &HeapHeader {
        &self.header().heap
    }

    /// Address in this process of heap offset `offset`.
    pub(crate) fn heap_addr(&self, offset: u64) -> usize {
        debug_assert!(offset > 0 && offset < HEAP_SIZE);
        self.base() + HEAP_OFFSET + offset as usize
    }

    /// A reference to a `T` at heap offset `offset`.
    ///
    /// # Safety
    /// `offset` names a live block (or a place in one) holding a `T`, whose
    /// fields are atomics or are accessed under the lock that guards them.
    pub(crate) unsafe fn heap_ref<T>(&self, offset: u64) -> &T {
        // SAFETY: forwarded to the caller; the heap lies inside the mapping.
        unsafe { &*(self.heap_addr(offset) as *const T) }
    }

    /// Allocates a zeroed block of at least `size` bytes; returns its offset.
    pub fn heap_alloc(&self, size: u64) -> SysResult<u64> {
        let (class, block) = class_of(size).ok_or(libc::ENOMEM)?;
        let heap = self.heap();
        let offset = {
            let _guard = heap.lock.lock();
            let head = heap.free[class].load(Relaxed);
            let offset = if head != 0 {
                let offset = head - 1;
                // SAFETY: a free block's first word is its free-list link.
                let next = unsafe { self.heap_ref::<AtomicU64>(offset) }.load(Relaxed);
                heap.free[class].store(next, Relaxed);
                offset
            } else {
                let offset = heap.bump.load(Relaxed);
                let end = offset.checked_add(block).filter(|&e| e <= HEAP_SIZE).ok_or(libc::ENOMEM)?;
                heap.bump.store(end, Relaxed);
                offset
            };
            heap.in_use.fetch_add(block, Relaxed);
            offset
        };
        // SAFETY: the block is ours alone until we return its offset.
        unsafe { core::ptr::write_bytes(self.heap_addr(offset) as *mut u8, 0, block as usize) };
        Ok(offset)
    }

    /// Frees a block allocated with `size`.
    pub fn heap_free(&self, offset: u64, size: u64) {
        let Some((class, block)) = class_of(size) else { return };
        if block >= PUNCH_FROM {
            // Give the pages back, keeping the first (it holds the link).
            let start = HEAP_OFFSET as u64 + offset + PAGE_SIZE;
            let _ = sys::punch_hole(self.fd(), start, block - PAGE_SIZE);
        }
        let heap = self.heap();
        let _guard = heap.lock.lock();
        // SAFETY: the block is free now; its first word becomes the link.
        unsafe { self.heap_ref::<AtomicU64>(offset) }.store(heap.free[class].load(Relaxed), Relaxed);
        heap.free[class].store(offset + 1, Relaxed);
        heap.in_use.fetch_sub(block, Relaxed);
    }

    /// Bytes in blocks handed out (for tests and inspection).
    pub fn heap_in_use(&self) -> u64 {
        self.heap().in_use.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_round_up_to_powers_of_two() {
        assert_eq!(class_of(0), Some((0, 16)));
        assert_eq!(class_of(16), Some((0, 16)));
        assert_eq!(class_of(17), Some((1, 32)));
        assert_eq!(class_of(MAX_BLOCK), Some((CLASSES - 1, MAX_BLOCK)));
        assert_eq!(class_of(MAX_BLOCK + 1), None);
    }
}
