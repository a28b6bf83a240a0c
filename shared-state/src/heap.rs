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
//! first page, which holds the free-list link. Small free blocks are given
//! back in bulk: when a slot table gives its top back (the box shrank), the
//! remover drops every listed free block (`drop_free_blocks`), and the
//! collection that follows frees the gaps whole, lowering the bump over
//! the top one (see `collect`).
//!
//! Free lists are lock-free stacks (compare-and-swap on a head word that
//! carries a tag, so a block popped and pushed back meanwhile is not taken
//! for the same head): the sender and the receiver of a message stream
//! allocate and free on every message, and a lock between them would be
//! handed from core to core each time. A process killed between the two
//! steps of a push or pop loses at most that block; the lists stay intact.
//! Each head has its own cache line. Message blocks mostly bypass the free
//! lists through per-process magazines, which hand free blocks on in
//! batches kept on per-class stacks of the same kind (see `magazine`).
//!
//! Locking: none. `bump` moves up by compare-and-swap, so that a process
//! stopped or killed while it cuts a block holds no one up (the mapping of
//! the new bytes, a system call, comes before the exchange, so that a block
//! below the bump is always mappable). Allocation makes a system call only
//! when the heap grows past what this process maps, so facilities may
//! allocate on fast paths.
//!
//! Invariants: a block handed out is zeroed (unless asked for uninitialised);
//! its owner frees it with the size it asked for (the class is derived from
//! it). Heap memory is never unmapped, so reading a block's link word is
//! safe even after another process took the block.
//!
//! Offsets read from the region (list heads and links, blocks named by
//! objects) are checked before use (`block_fits`, `checked_block`): a
//! free list whose head lies outside the heap gives EINVAL, a block freed
//! at such an offset is dropped (lost) rather than listed. `heap_ref`
//! itself never reaches outside the heap in use (or gives the spare page),
//! whatever offset it is given (see the region's notes).
//!
//! Each process maps the heap as far as it has reached into it (see the
//! region's notes): the allocator maps a block's bytes before it raises
//! the bump over them, so that every block below the bump can be mapped
//! by any process; an access past the bump is a corrupt offset.

use crate::region::{Area, Region, HEAP_OFFSET, HEAP_SIZE, HEAP_START, PAGE_SIZE};
use crate::sys::{self, SysResult};
use core::sync::atomic::{AtomicU64, Ordering::*};

pub(crate) const MIN_SHIFT: u32 = 4;
const CLASSES: usize = 21;
/// Largest block: 16 MiB.
pub const MAX_BLOCK: u64 = 1 << (MIN_SHIFT as usize + CLASSES - 1);
const PUNCH_FROM: u64 = 64 << 10;

#[repr(C)]
pub struct HeapHeader {
    /// Heap offset of the first never-used byte. Raised by compare-and-swap
    /// only (see the locking notes).
    pub bump: AtomicU64,
    /// Per class, the free list's head: see `Head`. Lock-free.
    pub free: [FreeHead; CLASSES],
    /// Per class, full batches of free blocks handed on by magazines (see
    /// `magazine`), linked as the free lists are. Lock-free.
    pub batches: [FreeHead; CLASSES],
}

/// A free list head alone on its cache line: the block's offset / 16 in the
/// low 32 bits (0: empty), a tag bumped by every change in the high 32.
#[repr(C, align(64))]
pub struct FreeHead(AtomicU64);

const OFFSET_UNIT: u64 = 16;

fn pack(tag: u64, offset: u64) -> u64 {
    (tag << 32) | (offset / OFFSET_UNIT)
}
fn unpack(word: u64) -> (u64, u64) {
    (word >> 32, (word & 0xffff_ffff) * OFFSET_UNIT)
}

/// Whether a block of `size` bytes can start at heap offset `offset`:
/// blocks lie past the heap's unused first page and the semaphore array
/// zone (`HEAP_START`), on 16-byte boundaries,
/// wholly inside the heap. For offsets read from the region.
#[inline(always)]
pub(crate) fn block_fits(offset: u64, size: u64) -> bool {
    offset >= HEAP_START && offset.is_multiple_of(OFFSET_UNIT) && offset <= HEAP_SIZE.saturating_sub(size)
}

/// `offset` if it (0 included) lies in the heap on a 16-byte boundary, for
/// the links a walk follows (`block_fits` checks a whole block). Computed
/// as `heap_ref` brings an offset into the heap, so that the compiler sees
/// that the offset returned needs no more of that.
#[inline(always)]
pub(crate) fn heap_link(offset: u64) -> Option<u64> {
    const { assert!(HEAP_SIZE == 1 << 32) };
    let inside = (offset as u32 & !(OFFSET_UNIT as u32 - 1)) as u64;
    (inside == offset).then_some(inside)
}

/// Whether a block can start at heap offset `offset` (see `block_fits`).
#[inline(always)]
pub(crate) fn is_block(offset: u64) -> bool {
    block_fits(offset, 1 << MIN_SHIFT)
}

/// `offset`, read from the region where a block of `size` bytes (`what`)
/// starts, if one can; else the region is corrupt (EINVAL).
#[inline(always)]
pub(crate) fn checked_block(offset: u64, size: u64, what: &str) -> SysResult<u64> {
    if block_fits(offset, size) {
        Ok(offset)
    } else {
        Err(crate::region::corrupt(what))
    }
}

impl HeapHeader {
    /// # Safety
    /// Only while creating the region.
    pub(crate) unsafe fn init(&self) {
        // Offset 0 stays unused so that 0 can mean "no block" everywhere;
        // the semaphore array zone follows (see `sem::zone_array`).
        self.bump.store(HEAP_START, Relaxed);
    }
}

/// The heap as a process mapped it at one moment (see `Region::heap_view`).
#[derive(Clone, Copy)]
pub(crate) struct HeapView<'a> {
    region: &'a Region,
    base: usize,
    mapped: usize,
}

impl<'a> HeapView<'a> {
    /// As `Region::heap_ref`, against what was mapped when the view was
    /// taken (a `T` past it goes the way of one past the mapping).
    ///
    /// # Safety
    /// As `Region::heap_ref`.
    #[inline(always)]
    pub(crate) unsafe fn get<T>(&self, offset: u64) -> &'a T {
        // SAFETY: forwarded.
        unsafe { heap_at(self.region, self.base, self.mapped, offset) }
    }
}

/// `Region::heap_ref` with the heap's address and mapped length given.
/// The fast path takes the offset as it is (its low 32 bits, a free
/// truncation) once two branches found it aligned and mapped: masking it
/// first would put instructions between a link's load and the next block's
/// in a list walk, where the links are aligned already (`heap_link`).
///
/// # Safety
/// As `Region::heap_ref`.
#[inline(always)]
unsafe fn heap_at<T>(region: &Region, base: usize, mapped: usize, offset: u64) -> &T {
    const { assert!(HEAP_SIZE == 1 << 32 && core::mem::size_of::<T>() <= crate::region::SPARE_SIZE) };
    let at = offset as u32 as usize;
    let address = if at & (core::mem::align_of::<T>() - 1) == 0 && at + core::mem::size_of::<T>() <= mapped {
        base + at
    } else {
        let aligned = at & !(core::mem::align_of::<T>() - 1);
        region.heap_ref_slow(aligned, core::mem::size_of::<T>())
    };
    // SAFETY: forwarded to the caller; the T is mapped here (or is the
    // spare page), aligned.
    unsafe { &*(address as *const T) }
}

/// Asks the CPU to fetch the cache line at `addr`, without waiting for it.
#[inline(always)]
fn prefetch(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults, whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(addr as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

pub(crate) fn class_of(size: u64) -> Option<(usize, u64)> {
    if size > MAX_BLOCK {
        return None;
    }
    let block = size.max(1 << MIN_SHIFT).next_power_of_two();
    Some(((block.trailing_zeros() - MIN_SHIFT) as usize, block))
}

impl Region {
    pub(crate) fn heap_header(&self) -> &HeapHeader {
        &self.header().heap
    }

    /// Pops the first block of a lock-free stack of blocks (a free list or
    /// a batch stack), whose first word is the link.
    pub(crate) fn stack_pop(&self, head: &FreeHead) -> Option<u64> {
        let head = &head.0;
        let mut word = head.load(Acquire);
        loop {
            let (tag, offset) = unpack(word);
            if offset == 0 {
                return None;
            }
            // SAFETY: heap memory stays mapped; if the block was taken
            // meanwhile, this link is stale and the exchange below fails.
            let next = unsafe { self.heap_ref::<AtomicU64>(offset) }.load(Relaxed);
            match head.compare_exchange_weak(word, pack(tag + 1, next), Acquire, Acquire) {
                Ok(_) => {
                    // The next pop will likely take the new head: start
                    // bringing it into this core's cache.
                    if next != 0 {
                        prefetch(self.prefetch_addr(next));
                    }
                    return Some(offset);
                }
                Err(now) => word = now,
            }
        }
    }

    /// Pushes free block `offset` on a lock-free stack of blocks.
    pub(crate) fn stack_push(&self, head: &FreeHead, offset: u64) {
        let head = &head.0;
        // SAFETY: the block is free now; its first word becomes the link.
        let link = unsafe { self.heap_ref::<AtomicU64>(offset) };
        let mut word = head.load(Relaxed);
        loop {
            let (tag, first) = unpack(word);
            link.store(first, Relaxed);
            match head.compare_exchange_weak(word, pack(tag + 1, offset), Release, Relaxed) {
                Ok(_) => return,
                Err(now) => word = now,
            }
        }
    }

    /// The first block of a stack (0 for none).
    pub(crate) fn stack_head_offset(&self, head: &FreeHead) -> u64 {
        unpack(head.0.load(Acquire)).1
    }

    /// The blocks of a list of heap blocks that starts at `head`, whose
    /// link in each block `next` reads; the walk stops after as many
    /// blocks as the heap could hold, so a list that loops ends (and shows
    /// up twice in `heap_account`). Offsets are yielded unchecked, for the
    /// caller to check. The caller holds the list's guard.
    pub(crate) fn list_blocks<'a>(
        &'a self,
        head: u64,
        next: impl Fn(u64) -> u64 + 'a,
    ) -> impl Iterator<Item = u64> + 'a {
        core::iter::successors(Some(head), move |&at| Some(next(at)))
            .take_while(|&at| at != 0)
            .take((HEAP_SIZE / OFFSET_UNIT) as usize)
    }

    /// Unlinks block `target` from the list of heap blocks that starts at
    /// `head`, whose link in each block `next` names. Whether it was there:
    /// not if the list ends before it, or at a link outside the heap (the
    /// region is corrupt). The caller holds whatever guards the list.
    pub(crate) fn unlink_block<'a>(
        &'a self,
        head: &'a AtomicU64,
        target: u64,
        next: impl Fn(u64) -> &'a AtomicU64,
    ) -> bool {
        let mut link = head;
        loop {
            let at = link.load(Relaxed);
            if at == 0 {
                return false;
            }
            if at == target {
                link.store(next(at).load(Relaxed), Relaxed);
                return true;
            }
            if !is_block(at) {
                crate::region::corrupt("a list link outside the heap");
                return false;
            }
            link = next(at);
        }
    }

    /// Address in this process of heap offset `offset`, unchecked: for a
    /// prefetch, which never faults wherever it points.
    #[inline(always)]
    pub(crate) fn prefetch_addr(&self, offset: u64) -> usize {
        self.area_base(Area::Heap).wrapping_add(offset as usize)
    }

    /// Address in this process of the `len` bytes at heap offset `offset`,
    /// for a caller that checked they lie in the heap: mapped here first if
    /// they were not. EINVAL if they lie past the heap in use (a corrupt
    /// region), ENOMEM if they cannot be mapped.
    #[inline(always)]
    pub(crate) fn heap_span(&self, offset: u64, len: usize) -> SysResult<usize> {
        debug_assert!(offset > 0 && offset < HEAP_SIZE);
        let end = offset as usize + len;
        if end > self.mapped(Area::Heap) {
            self.map_heap_to(end)?;
        }
        Ok(self.area_base(Area::Heap) + offset as usize)
    }

    /// Maps the heap here up to byte `end`, which another process's
    /// allocation put in use (else EINVAL: the region is corrupt).
    #[cold]
    #[inline(never)]
    fn map_heap_to(&self, end: usize) -> SysResult<()> {
        // Pairs with the release that published the offset read before:
        // the bump that covers it is seen too.
        core::sync::atomic::fence(Acquire);
        if end as u64 > self.heap_header().bump.load(Acquire) {
            return Err(crate::region::corrupt("a heap block past the heap in use"));
        }
        self.map_area(Area::Heap, end)
    }

    /// A reference to a `T` at heap offset `offset`. An offset past the
    /// heap, or not aligned for a `T` (a value read from a corrupt region
    /// that no check caught: see the region's notes), is taken modulo the
    /// heap's size (as the heap is 2^32 bytes) and aligned down; a `T` past
    /// the heap in use, or that cannot be mapped here, is the process's
    /// spare page instead. Whatever the offset, the reference is to memory
    /// that does not fault.
    ///
    /// # Safety
    /// `offset` names a live block (or a place in one) holding a `T`, whose
    /// fields are atomics or are accessed under the lock that guards them.
    #[inline(always)]
    pub(crate) unsafe fn heap_ref<T>(&self, offset: u64) -> &T {
        // SAFETY: forwarded.
        unsafe { heap_at(self, self.area_base(Area::Heap), self.mapped(Area::Heap), offset) }
    }

    /// What this process maps of the heap now, for a walk that reaches
    /// many blocks (a message list): its checks then compare with a value
    /// in a register rather than load the mapped length at each block.
    #[inline(always)]
    pub(crate) fn heap_view(&self) -> HeapView<'_> {
        HeapView { region: self, base: self.area_base(Area::Heap), mapped: self.mapped(Area::Heap) }
    }

    #[cold]
    #[inline(never)]
    fn heap_ref_slow(&self, offset: usize, len: usize) -> usize {
        core::sync::atomic::fence(Acquire);
        if (offset + len) as u64 > self.heap_header().bump.load(Acquire) {
            return self.spare();
        }
        self.reach(Area::Heap, offset, len)
    }

    /// Allocates a zeroed block of at least `size` bytes; returns its offset.
    pub fn heap_alloc(&self, size: u64) -> SysResult<u64> {
        let offset = self.heap_alloc_uninit(size)?;
        let block = class_of(size).expect("allocated above").1;
        let at = match self.heap_span(offset, block as usize) {
            Ok(at) => at,
            Err(e) => {
                self.heap_free(offset, size);
                return Err(e);
            }
        };
        // SAFETY: the block is ours alone until we return its offset.
        unsafe { core::ptr::write_bytes(at as *mut u8, 0, block as usize) };
        Ok(offset)
    }

    /// As `heap_alloc`, for a caller that overwrites the whole block (message
    /// bodies): its bytes are whatever the last user left.
    pub fn heap_alloc_uninit(&self, size: u64) -> SysResult<u64> {
        let (class, block) = class_of(size).ok_or(libc::ENOMEM)?;
        let heap = self.heap_header();
        if let Some(offset) = self.stack_pop(&heap.free[class]) {
            // A head outside the heap is off the list now: the next
            // allocation finds the list empty.
            return checked_block(offset, block, "a free list's head outside the heap");
        }
        let mut offset = heap.bump.load(Acquire);
        loop {
            if offset < HEAP_START || !offset.is_multiple_of(OFFSET_UNIT) {
                return Err(crate::region::corrupt("the heap's bump outside the heap"));
            }
            let end = offset.checked_add(block).filter(|&e| e <= HEAP_SIZE).ok_or(libc::ENOMEM)?;
            // Mapped here before it is handed out, so that a heap that cannot
            // grow in this process fails the allocation, not a later access.
            self.map_area(Area::Heap, end as usize)?;
            crate::faults::crash_point("heap.bump.mapped");
            match heap.bump.compare_exchange_weak(offset, end, AcqRel, Acquire) {
                Ok(_) => return Ok(offset),
                Err(now) => offset = now,
            }
        }
    }

    /// Frees a block allocated with `size`. A block said to lie outside the
    /// heap (an offset or size read from a corrupt region) is dropped:
    /// listed, it would be handed out.
    pub fn heap_free(&self, offset: u64, size: u64) {
        let Some((class, block)) = class_of(size) else { return };
        if !block_fits(offset, block) {
            crate::region::corrupt("a block to free outside the heap");
            return;
        }
        if block >= PUNCH_FROM {
            // Give the pages back, keeping the first (it holds the link).
            let start = HEAP_OFFSET as u64 + offset + PAGE_SIZE;
            let _ = sys::punch_hole(self.fd(), start, block - PAGE_SIZE);
        }
        self.stack_push(&self.heap_header().free[class], offset);
    }

    /// Takes every block off the free lists and the batch stacks and drops
    /// it, so that each becomes a gap for the next collection (see
    /// `collect`): it frees neighbouring gaps as one large block, whose
    /// pages go back to the system, and lowers the bump over a gap at the
    /// heap's top. For a caller inside a hold (the blocks are in its hand
    /// until it lets go), which then asks for a collection. Blocks in the
    /// processes' magazines stay there.
    pub(crate) fn drop_free_blocks(&self) {
        let heap = self.heap_header();
        let bump = heap.bump.load(Acquire).min(HEAP_SIZE);
        for (class, head) in heap.free.iter().chain(heap.batches.iter()).enumerate() {
            // No list holds more blocks than the heap has room for: a list
            // that loops (a corrupt region) ends here too.
            let most = bump >> ((class % CLASSES) as u32 + MIN_SHIFT);
            for _ in 0..=most {
                if self.stack_pop(head).is_none() {
                    break;
                }
            }
        }
    }

    /// After a removal whose table gave its top back (the box shrank): the
    /// free heap blocks go back too. Drops them (`drop_free_blocks`, in the
    /// remover's hold), asks for a collection, lets `release` give up the
    /// remover's facility lock and hold, and collects (the collection
    /// takes the facilities' locks and needs no hold anywhere).
    pub(crate) fn give_heap_back(&self, release: impl FnOnce()) {
        self.drop_free_blocks();
        self.request_collection();
        release();
        let _ = self.collect_lost();
    }

    /// Adds the blocks on the free lists, in batches and in magazines to `map`.
    pub(crate) fn free_blocks(&self, map: &mut crate::check::BlockMap) -> Result<(), String> {
        for (class, head) in self.heap_header().free.iter().enumerate() {
            let size = 1u64 << (class as u32 + MIN_SHIFT);
            let mut offset = unpack(head.0.load(Acquire)).1;
            let mut count = 0;
            while offset != 0 {
                map.add(offset, size, "on a free list", false)?;
                count += 1;
                if count > HEAP_SIZE / size {
                    return Err(format!("heap: free list of class {class} loops"));
                }
                // SAFETY: a free block's first word is its link.
                offset = unsafe { self.heap_ref::<AtomicU64>(offset) }.load(Relaxed);
            }
        }
        self.magazine_blocks(map)
    }

    /// Bytes in blocks handed out: those cut from the heap less those on the
    /// free lists (for tests and inspection; exact only while no one
    /// allocates or frees).
    pub fn heap_in_use(&self) -> u64 {
        let mut free = crate::check::BlockMap::default();
        self.free_blocks(&mut free).expect("the free lists, batches and magazines hold each block once");
        self.heap_header().bump.load(Relaxed) - HEAP_START - free.bytes()
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
