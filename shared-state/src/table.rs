//! Slot tables: how IPC objects are named, found and counted.
//!
//! Owns: the per-facility header (`FacilityHeader`), the common head of every
//! object slot (`SlotHeader`), ids, the key index, and slot allocation.
//!
//! Design (after illumos `ipc.c` and Linux `ipc/util.c`): each facility has a
//! fixed table of `IPCMNI` slots. An id is `seq << 15 | index`, where `seq` is
//! the slot's own sequence number, bumped each time the slot is freed, so a
//! stale id names a slot whose sequence moved on and fails with EINVAL, and an
//! id is not handed out again until its slot has cycled through 65536 lives.
//! Indices are allocated cyclically (next free after the last one given, in a
//! window of max(64, 1.5 * in_use) as Linux does), so freshly freed indices
//! are not reused at once either.
//!
//! Locking:
//! - The facility lock serialises create, remove and key lookup: it guards
//!   `in_use`, `last_idx`, `key_buckets`, each slot's `key_next`, and the
//!   initialisation of new slots (`initialised`).
//! - Each slot's own lock guards the object's fields. `state`, `seq` and
//!   `key` change only with both the facility lock and the slot lock held,
//!   so either lock suffices to read them.
//! - Lock order: facility lock, then slot lock. A lookup by id takes only the
//!   slot lock: no lock is shared by the whole namespace.
//! - A thread that holds the facility lock never waits for a slot lock
//!   that another thread may hold for long: a slot lock's holder may be
//!   stopped (SIGSTOP, a debugger), and the facility lock is the whole
//!   facility's. A lookup under the facility lock (by key for get, by id
//!   for IPC_SET and IPC_RMID) tries the slot's lock for a short spin and,
//!   if it stays held, lets the facility lock go, waits for the slot's
//!   alone, and starts again (`lock_facility_and_slot`). So a process
//!   stopped holding an object's lock holds up the calls on that object,
//!   and those on the facility only if it stopped inside the facility lock.
//!   (A new slot's lock, taken under the facility lock when it is made, is
//!   held by no one else but a lookup by id that finds the slot free.)
//! - A slot's memory stays initialised while the slot is below
//!   `initialised`, so a lookup may lock any slot below it without the
//!   facility lock. Free slots at the top of a table are given back to
//!   the system (`trim_free_top`, under the facility lock) and made again
//!   before use (`remake_slot`); a lookup that read `initialised` before
//!   a trim meets a lock marked TRIMMED or zeroes (see `trim_free_top`).
//!
//! Death: every lock is a robust mutex; `lock_slot` and `lock_facility` run
//! the facility's repair when they find the last holder died. A removal
//! marks the slot (`removing`) first and clears the mark last, each step in
//! between can be taken again, and lookups treat a marked slot as gone; the
//! facility lock's next holder finishes it, then rebuilds the key chains
//! and counts from the slots themselves (`repair_facility`).
//!
//! Corruption (see the region's notes): `initialised` is read through
//! `initialised()`, never past `IPCMNI`; a slot index read from the region
//! (a key chain's, one a waiter or an undo record names) is looked up only
//! below it, and `lock_live` lets the facility check the object's own
//! fields (`check_slot`), so that a lookup of a corrupt object fails with
//! EINVAL. A lock glibc refuses fails the call too (see `lock`), however
//! it is taken (`lock_slot_with`, `lock_facility_with`,
//! `lock_facility_and_slot` answer Err, apart from Ok(None) for a lock
//! not had): a collector's walk then gives up, a reaper skips the object
//! (see `ns`).

use crate::abi::IpcPerm;
use crate::lock::{Guard, RobustMutex};
use crate::region::{corrupt, IDX_BITS, IPCMNI, PAGE_SIZE};
use crate::sys::SysResult;
use core::sync::atomic::{AtomicI32, AtomicU32, Ordering::*};

pub const KEY_BUCKETS: usize = 1024;
/// Largest sequence number plus one: ids stay positive ints.
const SEQ_LIMIT: u32 = (i32::MAX as u32 >> IDX_BITS) + 1;
/// Linux's `ipc_min_cycle`: indices cycle through at least this many slots.
const MIN_CYCLE: u32 = 64;

pub const SLOT_FREE: u32 = 0;
pub const SLOT_LIVE: u32 = 1;

#[repr(C)]
pub struct FacilityHeader {
    pub lock: RobustMutex,
    /// Slots below this index have an initialised lock. Facility lock to
    /// write; read with Acquire by lock-free lookups.
    pub initialised: AtomicU32,
    /// Live objects. Facility lock.
    pub in_use: AtomicU32,
    /// Index handed out last, or -1. Facility lock.
    pub last_idx: AtomicI32,
    /// The id the next object is to get, or -1 (Linux's checkpoint/restore
    /// sysctl `<facility>_next_id`). Written by a sysctl write with no lock
    /// (as Linux's); taken, and reset to -1, by the next allocation under
    /// the facility lock.
    pub next_id: AtomicI32,
    /// Slots below this were initialised once (the most `initialised`
    /// ever was); those at or above `initialised` were given back since
    /// (`trim_free_top`) and are made again before use. Facility lock.
    pub touched: AtomicU32,
    /// Sequence numbers (not yet taken modulo `SEQ_LIMIT`) above those of
    /// every slot given back: a slot made again starts here, so that an id
    /// of the slot's earlier life is not handed out again soon. Facility lock.
    pub seq_floor: AtomicU32,
    /// Head of each key's chain: slot index + 1, 0 for none. Facility lock.
    pub key_buckets: [AtomicU32; KEY_BUCKETS],
}

/// Where a facility's slot table lies in the region file, for giving its
/// free top back (`SlotTable::trim_free_top`).
pub struct TableMemory {
    /// The region file.
    pub fd: i32,
    /// File offset of slot 0.
    pub start: usize,
    /// Bytes of a slot.
    pub slot_size: usize,
    /// Address of the region file's first byte in this process (each
    /// byte of the region is mapped at the base plus its file offset).
    pub region_base: usize,
}

impl TableMemory {
    /// File offsets of the first byte of `field` and of the byte after it.
    fn bytes_of<T>(&self, field: &T) -> (usize, usize) {
        let at = field as *const T as usize - self.region_base;
        (at, at + core::mem::size_of::<T>())
    }

    /// Calls `visit(data, hole)` for each run of the file in memory between
    /// file offsets `from` and `to`, clipped to them.
    fn for_each_extent(&self, from: usize, to: usize, mut visit: impl FnMut(usize, usize)) {
        let mut at = from;
        while at < to {
            let Ok(data) = crate::sys::seek(self.fd, at as u64, libc::SEEK_DATA) else { return };
            let data = data as usize;
            if data >= to {
                return;
            }
            let hole = crate::sys::seek(self.fd, data as u64, libc::SEEK_HOLE).map_or(to, |h| (h as usize).min(to));
            visit(data.max(from), hole);
            at = hole;
        }
    }
}

/// Bytes of free slots above the highest live one worth giving back at
/// once: a trim costs a system call and a pass over the slots it gives
/// back, and a table that shrinks by less is left as it is.
const TRIM_MIN_BYTES: usize = 32 << 10;

#[repr(C)]
pub struct SlotHeader {
    pub lock: RobustMutex,
    /// SLOT_FREE or SLOT_LIVE. Facility lock and slot lock to write.
    pub state: AtomicU32,
    /// This slot's sequence number. Facility lock and slot lock to write.
    pub seq: AtomicU32,
    /// Four words of the facility's own that every operation writes, kept
    /// in the lock's cache line (the lock, `state`, `seq` and these fill 64
    /// bytes) so that handing the object from one core to another moves one
    /// line, not two. Message queues keep their list ends and counters
    /// here. Slot lock.
    pub hot: [AtomicU32; 4],
    /// The object's key; IPC_PRIVATE once removed. Facility lock and slot lock to write.
    pub key: AtomicI32,
    /// Next slot (index + 1) in the same key bucket. Facility lock.
    pub key_next: AtomicU32,
    /// Permission fields. Slot lock.
    pub uid: AtomicU32,
    pub gid: AtomicU32,
    pub cuid: AtomicU32,
    pub cgid: AtomicU32,
    /// Permission bits plus facility flags (SHM_DEST, SHM_LOCKED). Slot lock.
    pub mode: AtomicU32,
    /// While the object is being removed: the sequence number it had, plus
    /// one (0 otherwise). Set first and cleared last by a removal, so that
    /// one cut short by its caller's death is finished by the facility
    /// lock's next holder (`repair_facility`), and a lookup meanwhile finds
    /// no object. Facility lock and slot lock to write.
    pub removing: AtomicU32,
}

impl SlotHeader {
    /// `Cred::may_access` on this object, reading only the fields it needs.
    #[inline(always)]
    pub fn may_access(&self, cred: &crate::cred::Cred, flag: i32) -> bool {
        let (mode, uid, cuid) = (self.mode.load(Relaxed), self.uid.load(Relaxed), self.cuid.load(Relaxed));
        cred.may_access_fields(flag, mode, uid, cuid, || (self.gid.load(Relaxed), self.cgid.load(Relaxed)))
    }

    pub fn perm(&self) -> IpcPerm {
        IpcPerm {
            key: self.key.load(Relaxed),
            uid: self.uid.load(Relaxed),
            gid: self.gid.load(Relaxed),
            cuid: self.cuid.load(Relaxed),
            cgid: self.cgid.load(Relaxed),
            mode: self.mode.load(Relaxed),
            seq: self.seq.load(Relaxed) as u16,
            ..Default::default()
        }
    }

    /// IPC_SET's change of owner and permission bits (Linux's
    /// ipc_update_perm): uid and gid must be valid ids, and only the low
    /// nine mode bits change. Slot lock held.
    pub fn set_perm(&self, new: &IpcPerm) -> SysResult<()> {
        if new.uid == u32::MAX || new.gid == u32::MAX {
            return Err(libc::EINVAL);
        }
        self.uid.store(new.uid, Relaxed);
        self.gid.store(new.gid, Relaxed);
        let mode = self.mode.load(Relaxed);
        let permission_bits = crate::abi::MODE_PERMISSION_BITS;
        self.mode.store((mode & !permission_bits) | (new.mode & permission_bits), Relaxed);
        Ok(())
    }

    pub fn is_live(&self) -> bool {
        self.state.load(Relaxed) == SLOT_LIVE
    }
}

pub fn make_id(index: u32, seq: u32) -> i32 {
    ((seq << IDX_BITS) | index) as i32
}

pub fn split_id(id: i32) -> (u32, u32) {
    let id = id as u32;
    (id & (IPCMNI - 1), id >> IDX_BITS)
}

fn bucket_of(key: i32) -> usize {
    ((key as u32).wrapping_mul(0x9e37_79b1) >> (32 - KEY_BUCKETS.trailing_zeros())) as usize
}

/// How a walk over a facility's objects takes their locks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Locking {
    /// As any call does (checks, inspection).
    Wait,
    /// Each only if it comes within a short spin, and none a dead holder
    /// left (its repair may wait for other locks): a collector's walk,
    /// which gives up rather than wait for a holder that may be stopped.
    Briefly,
    /// As long as it takes, unless the holder is stopped (see
    /// `RobustMutex::lock_unless_stopped`): a reaper, which leaves what it
    /// cannot do now to a later reap.
    UnlessStopped,
}

/// Marks `lock` TRIMMED (see `RobustMutex::mark_trimmed`), waiting a
/// little for a holder to let go: once `initialised` is lowered, only
/// lookups already under way take the lock, each for a few instructions
/// (unless it was preempted or stopped: the lock then stays unmarked, and
/// its pages stay, until a later trim).
fn mark_soon(lock: &RobustMutex) {
    const TRIES: u32 = 200;
    for _ in 0..TRIES {
        if lock.mark_trimmed() {
            return;
        }
        for _ in 0..64 {
            core::hint::spin_loop();
        }
    }
}

/// A facility's slot table: the header plus a way to reach slot headers.
pub trait SlotTable {
    fn facility(&self) -> &FacilityHeader;
    /// The head of slot `index` (taken modulo IPCMNI: see `Region::table_entry`).
    fn slot_header(&self, index: u32) -> &SlotHeader;
    /// Maps the table in this process through slot `index` (ENOMEM if it
    /// cannot be): for the allocator, before it hands the slot out.
    fn map_slots_through(&self, index: u32) -> SysResult<()>;
    /// Where the table lies in the region file, if its free top may be
    /// given back (see `trim_free_top`): not in a box where a process takes
    /// locks through glibc (`Header::glibc_locks`).
    fn table_memory(&self) -> Option<TableMemory> {
        None
    }
    /// Whether free slot `index` keeps memory the region reaches through
    /// it (see `trim_free_top`: such a slot is never given back).
    fn keeps_memory(&self, _index: u32) -> bool {
        false
    }
    /// Gives back the facility's own memory of slots `first..end` beyond
    /// the table (see `trim_free_top`), after their pages were.
    fn give_back_beyond(&self, _memory: &TableMemory, _first: u32, _end: u32) {}
    /// Every lock of slot `index` (the slot lock, and a facility's own).
    fn slot_locks(&self, index: u32) -> [Option<&RobustMutex>; 2] {
        [Some(&self.slot_header(index).lock), None]
    }
    /// Initialises a facility's own locks of a slot never used before.
    ///
    /// # Safety
    /// `index < IPCMNI`, the slot unpublished, the facility lock held.
    unsafe fn init_slot(&self, _index: u32) {}

    /// Slots below this have been initialised: `FacilityHeader::initialised`,
    /// never past the table even if the region says so.
    #[inline(always)]
    fn initialised(&self) -> u32 {
        self.facility().initialised.load(Acquire).min(IPCMNI)
    }

    /// Whether the live object in slot `index` has fields that can be
    /// right (heap offsets in the heap, counts within their blocks): a
    /// lookup of a corrupt object fails with EINVAL. Slot lock held.
    fn check_slot(&self, _index: u32) -> SysResult<()> {
        Ok(())
    }

    /// Tells the collector of lost blocks that a repair begins (see
    /// `collect`); the facilities whose repairs move heap blocks do.
    fn note_repair(&self) {}

    /// Repairs what a thread that died holding slot `index`'s lock left
    /// half done. Slot lock held (just found owner-died).
    fn repair_slot(&self, _index: u32) {}

    /// Finishes the removal of the object in slot `index` that its remover
    /// died in (`removing` is set): the facility's own part (sleepers,
    /// contents), then `release`. Facility lock held; takes the slot's locks.
    fn finish_removal(&self, index: u32) {
        if let Ok(_guard) = self.lock_slot(index) {
            self.release(index);
        }
    }

    /// Recomputes the facility's own totals from the live slots. Facility lock held.
    fn recount_totals(&self) {}

    /// Locks slot `index` (below `initialised`), repairing it first if its
    /// last holder died with it.
    #[inline(always)]
    fn lock_slot(&self, index: u32) -> SysResult<Guard<'_>> {
        let guard = self.slot_header(index).lock.lock()?;
        if guard.owner_died {
            self.repair_after_death(index);
        }
        Ok(guard)
    }

    /// `lock_slot`'s repair, out of the way of every lock taken.
    #[cold]
    #[inline(never)]
    fn repair_after_death(&self, index: u32) {
        self.note_repair();
        self.repair_slot(index);
    }

    /// As `lock_slot`, but only within a short spin (see
    /// `RobustMutex::lock_briefly`): Ok(None) if the lock stayed held.
    fn lock_slot_briefly(&self, index: u32) -> SysResult<Option<Guard<'_>>> {
        let Some(guard) = self.slot_header(index).lock.lock_briefly()? else { return Ok(None) };
        if guard.owner_died {
            self.repair_after_death(index);
        }
        Ok(Some(guard))
    }

    /// Slot `index`'s lock taken as `how` says (Ok(None): it was not had;
    /// Err(EINVAL): glibc refuses it, see `lock`).
    fn lock_slot_with(&self, index: u32, how: Locking) -> SysResult<Option<Guard<'_>>> {
        let lock = &self.slot_header(index).lock;
        let guard = match how {
            Locking::Wait => return self.lock_slot(index).map(Some),
            Locking::Briefly if lock.is_abandoned() => return Ok(None),
            Locking::Briefly => lock.lock_briefly()?,
            Locking::UnlessStopped => lock.lock_unless_stopped()?,
        };
        let Some(guard) = guard else { return Ok(None) };
        if guard.owner_died {
            self.repair_after_death(index);
        }
        Ok(Some(guard))
    }

    /// As `lock_live` (the object's fields checked too), with the lock
    /// taken as `how` says: Ok(None) if it was not had.
    #[allow(clippy::type_complexity)]
    fn lock_live_with(&self, index: u32, seq: Option<u32>, how: Locking) -> SysResult<Option<(u32, Guard<'_>)>> {
        if index >= self.initialised() {
            return Err(libc::EINVAL);
        }
        let Some(guard) = self.lock_slot_with(index, how)? else { return Ok(None) };
        let slot = self.slot_header(index);
        if !slot.is_live() || slot.removing.load(Relaxed) != 0 || seq.is_some_and(|s| s != slot.seq.load(Relaxed)) {
            return Err(libc::EINVAL);
        }
        self.check_slot(index)?;
        Ok(Some((index, guard)))
    }

    /// The facility lock taken as `how` says (Ok(None): it was not had;
    /// Err(EINVAL): glibc refuses it).
    fn lock_facility_with(&self, how: Locking) -> SysResult<Option<Guard<'_>>> {
        let lock = &self.facility().lock;
        let guard = match how {
            Locking::Wait => return self.lock_facility().map(Some),
            Locking::Briefly if lock.is_abandoned() => return Ok(None),
            Locking::Briefly => lock.lock_briefly()?,
            Locking::UnlessStopped => lock.lock_unless_stopped()?,
        };
        let Some(guard) = guard else { return Ok(None) };
        if guard.owner_died {
            self.note_repair();
            self.repair_facility();
        }
        Ok(Some(guard))
    }

    /// The facility lock and the lock of the slot `find` picks under it
    /// (an id's, a key's; None: no such slot, the facility lock alone),
    /// never waiting for a slot's lock while holding the facility's: a
    /// slot's holder may be stopped, or wait on its caller's memory, and
    /// the facility lock is the whole facility's. While the slot's lock is
    /// busy, this lets the facility lock go, waits for the slot's alone,
    /// and starts again. The caller checks the slot's state under both.
    /// Err: what `find` said, or a lock glibc refuses.
    #[allow(clippy::type_complexity)]
    fn lock_facility_and_slot(
        &self,
        find: impl Fn() -> SysResult<Option<u32>>,
    ) -> SysResult<(Guard<'_>, Option<(u32, Guard<'_>)>)> {
        loop {
            let facility = self.lock_facility()?;
            let Some(index) = find()? else { return Ok((facility, None)) };
            if let Some(slot) = self.lock_slot_briefly(index)? {
                return Ok((facility, Some((index, slot))));
            }
            drop(facility);
            drop(self.lock_slot(index)?);
        }
    }

    /// The facility lock and the lock of the live object named by `id`,
    /// as `lock_facility_and_slot` takes them, its fields checked as
    /// `lock_live` checks them.
    fn lock_facility_and_id(&self, id: i32) -> SysResult<(Guard<'_>, u32, Guard<'_>)> {
        if id < 0 {
            return Err(libc::EINVAL);
        }
        let (index, seq) = split_id(id);
        let (facility, slot) = self.lock_facility_and_slot(|| {
            if index >= self.initialised() {
                return Err(libc::EINVAL);
            }
            Ok(Some(index))
        })?;
        let Some((index, guard)) = slot else { return Err(libc::EINVAL) };
        let header = self.slot_header(index);
        if !header.is_live() || header.removing.load(Relaxed) != 0 || header.seq.load(Relaxed) != seq {
            return Err(libc::EINVAL);
        }
        self.check_slot(index)?;
        Ok((facility, index, guard))
    }

    /// The facility lock and, if a live object has `key`, its slot and lock,
    /// as `lock_facility_and_slot` takes them; Err(EINVAL) if the key's
    /// chain cannot be right (see `find_key`) or a lock glibc refuses.
    #[allow(clippy::type_complexity)]
    fn lock_facility_and_key(&self, key: i32) -> SysResult<(Guard<'_>, Option<(u32, Guard<'_>)>)> {
        self.lock_facility_and_slot(|| self.find_key(key))
    }

    /// Takes and lets go of every lock of the facility that a dead holder
    /// abandoned, so that each repair runs now rather than at the next use.
    fn repair_abandoned(&self) {
        if self.facility().lock.is_abandoned() {
            drop(self.lock_facility());
        }
        for index in 0..self.initialised() {
            self.repair_slot_if_abandoned(index);
        }
    }

    /// Takes and lets go of slot `index`'s locks if a dead holder abandoned one.
    fn repair_slot_if_abandoned(&self, index: u32) {
        if self.slot_header(index).lock.is_abandoned() {
            drop(self.lock_slot(index));
        }
    }

    /// Takes the facility lock, repairing first what a holder that died
    /// left: removals it was in the middle of, the key index, the counts.
    fn lock_facility(&self) -> SysResult<Guard<'_>> {
        let guard = self.facility().lock.lock()?;
        if guard.owner_died {
            self.note_repair();
            self.repair_facility();
        }
        Ok(guard)
    }

    /// After a death under the facility lock: finishes removals cut short,
    /// then rebuilds from the slots themselves what create and remove keep
    /// beside them (key chains, `in_use`, the facility's totals). Facility
    /// lock held.
    fn repair_facility(&self) {
        let fac = self.facility();
        let initialised = self.initialised();
        for index in 0..initialised {
            if self.slot_header(index).removing.load(Relaxed) != 0 {
                self.finish_removal(index);
            }
        }
        fac.key_buckets.iter().for_each(|bucket| bucket.store(0, Relaxed));
        let mut live = 0;
        for index in 0..initialised {
            let slot = self.slot_header(index);
            if !slot.is_live() {
                continue;
            }
            live += 1;
            let key = slot.key.load(Relaxed);
            if key != crate::abi::IPC_PRIVATE {
                let bucket = &fac.key_buckets[bucket_of(key)];
                slot.key_next.store(bucket.load(Relaxed), Relaxed);
                bucket.store(index + 1, Relaxed);
            }
        }
        fac.in_use.store(live, Relaxed);
        self.recount_totals();
    }

    /// Locks the live object named by `id`, without any facility-wide lock.
    fn lock_id(&self, id: i32) -> SysResult<(u32, Guard<'_>)> {
        if id < 0 {
            return Err(libc::EINVAL);
        }
        let (index, seq) = split_id(id);
        self.lock_live(index, Some(seq))
    }

    /// Locks the live object in slot `index` (which may have been read
    /// from the region), optionally checking its sequence, and checks its
    /// fields (`check_slot`).
    fn lock_live(&self, index: u32, seq: Option<u32>) -> SysResult<(u32, Guard<'_>)> {
        if index >= self.initialised() {
            return Err(libc::EINVAL);
        }
        let guard = self.lock_slot(index)?;
        let slot = self.slot_header(index);
        if !slot.is_live() || slot.removing.load(Relaxed) != 0 || seq.is_some_and(|s| s != slot.seq.load(Relaxed)) {
            return Err(libc::EINVAL);
        }
        self.check_slot(index)?;
        Ok((index, guard))
    }

    /// The live slot with `key`; Err(EINVAL) if the key's chain names a
    /// slot past those initialised or loops (the region is corrupt).
    /// Facility lock held.
    fn find_key(&self, key: i32) -> SysResult<Option<u32>> {
        let mut next = self.facility().key_buckets[bucket_of(key)].load(Relaxed);
        for _ in 0..IPCMNI {
            if next == 0 {
                return Ok(None);
            }
            let index = next - 1;
            if index >= self.initialised() {
                break;
            }
            let slot = self.slot_header(index);
            if slot.key.load(Relaxed) == key && slot.is_live() {
                return Ok(Some(index));
            }
            next = slot.key_next.load(Relaxed);
        }
        Err(corrupt("a key chain past the slot table"))
    }

    /// Reserves a free slot index for a new object, Linux's way. Facility lock held.
    /// The slot is initialised but still SLOT_FREE: `publish` makes it live.
    fn alloc_index(&self, max_objects: u64) -> SysResult<u32> {
        let fac = self.facility();
        let in_use = fac.in_use.load(Relaxed);
        if in_use as u64 >= max_objects.min(IPCMNI as u64) {
            return Err(libc::ENOSPC);
        }
        let initialised = self.initialised();
        let free = |i: u32| i >= initialised || !self.slot_header(i).is_live();
        // As Linux's ipc_idr_alloc: a next_id set by its sysctl is used up
        // by this allocation whatever it finds. Its index, or the lowest
        // free one above it, gets its sequence number; the usual cycle
        // (`last_idx`) is left where it was.
        let next_id = fac.next_id.swap(-1, Relaxed);
        let (index, seq) = if next_id >= 0 {
            let (wanted, seq) = split_id(next_id);
            ((wanted..IPCMNI).find(|&i| free(i)).ok_or(libc::ENOSPC)?, Some(seq))
        } else {
            let window = (in_use * 3 / 2).clamp(MIN_CYCLE, IPCMNI);
            let start = fac.last_idx.load(Relaxed).wrapping_add(1) as u32;
            let found = (start..window).chain(0..start.min(window)).find(|&i| free(i));
            (found.ok_or(libc::ENOSPC)?, None)
        };
        self.map_slots_through(index)?;
        let touched = fac.touched.load(Relaxed).min(IPCMNI);
        for i in initialised..=index {
            if i < touched {
                self.remake_slot(i);
                continue;
            }
            // SAFETY: slots at or above `touched` were never reached by
            // any lookup (i < IPCMNI); we hold the facility lock, the only
            // writer of `initialised`.
            unsafe {
                self.slot_header(i).lock.init();
                self.init_slot(i);
            }
        }
        if index >= initialised {
            crate::faults::crash_point("table.alloc.before_initialised");
            if index >= touched {
                fac.touched.store(index + 1, Relaxed);
            }
            fac.initialised.store(index + 1, Release);
        }
        match seq {
            Some(seq) => {
                let _slot = self.lock_slot(index)?;
                self.slot_header(index).seq.store(seq, Relaxed);
            }
            None => fac.last_idx.store(index as i32, Relaxed),
        }
        Ok(index)
    }

    /// Makes slot `index` live with `key` and the creator's credentials.
    /// Facility lock and the slot's lock held. Returns the new id.
    fn publish(&self, index: u32, key: i32, uid: u32, gid: u32, mode: u32) -> i32 {
        let fac = self.facility();
        let slot = self.slot_header(index);
        slot.key.store(key, Relaxed);
        for cell in [&slot.uid, &slot.cuid] {
            cell.store(uid, Relaxed);
        }
        for cell in [&slot.gid, &slot.cgid] {
            cell.store(gid, Relaxed);
        }
        slot.mode.store(mode, Relaxed);
        if key != crate::abi::IPC_PRIVATE {
            let bucket = &fac.key_buckets[bucket_of(key)];
            slot.key_next.store(bucket.load(Relaxed), Relaxed);
            bucket.store(index + 1, Relaxed);
        }
        slot.state.store(SLOT_LIVE, Release);
        crate::faults::crash_point("table.publish.before_count");
        fac.in_use.fetch_add(1, Relaxed);
        make_id(index, slot.seq.load(Relaxed))
    }

    /// Takes the object's key out of the index: later lookups by key miss it
    /// and its key reads as IPC_PRIVATE. Facility lock and slot lock held.
    fn make_private(&self, index: u32) {
        let slot = self.slot_header(index);
        let key = slot.key.load(Relaxed);
        if key == crate::abi::IPC_PRIVATE {
            return;
        }
        let mut link = &self.facility().key_buckets[bucket_of(key)];
        for _ in 0..IPCMNI {
            let next = link.load(Relaxed);
            if next == 0 {
                break;
            }
            if next - 1 == index {
                link.store(slot.key_next.load(Relaxed), Relaxed);
                break;
            }
            if next > self.initialised() {
                corrupt("a key chain past the slot table");
                break;
            }
            link = &self.slot_header(next - 1).key_next;
        }
        slot.key.store(crate::abi::IPC_PRIVATE, Relaxed);
    }

    /// Marks the live object in slot `index` as being removed (see
    /// `SlotHeader::removing`): the first step of every removal. Facility
    /// lock and slot lock held.
    fn begin_removal(&self, index: u32) {
        let slot = self.slot_header(index);
        slot.removing.store(slot.seq.load(Relaxed).wrapping_add(1), Relaxed);
    }

    /// Frees a live slot, or finishes freeing one whose remover died: each
    /// step can be taken again. Facility lock and slot lock held.
    fn release(&self, index: u32) {
        let slot = self.slot_header(index);
        if slot.removing.load(Relaxed) == 0 {
            self.begin_removal(index);
        }
        self.make_private(index);
        let seq = slot.seq.load(Relaxed);
        // The new sequence number first: from here the old id names nothing.
        if seq.wrapping_add(1) == slot.removing.load(Relaxed) {
            slot.seq.store(seq.wrapping_add(1) % SEQ_LIMIT, Relaxed);
        }
        if slot.state.swap(SLOT_FREE, Release) == SLOT_LIVE {
            self.facility().in_use.fetch_sub(1, Relaxed);
        }
        crate::faults::crash_point("table.release.before_done");
        slot.removing.store(0, Relaxed);
    }

    /// Makes a slot given back by `trim_free_top` usable again: its locks
    /// (see `RobustMutex::remake`: a stale lookup may hold one) and a
    /// sequence number above its earlier lives'. Facility lock held; the
    /// slot lies at or above `initialised`, below `touched`.
    fn remake_slot(&self, index: u32) {
        for lock in self.slot_locks(index).into_iter().flatten() {
            // SAFETY: the slot is free and above `initialised` (see the
            // caller), and trims happen only where every process takes
            // locks inline (`table_memory`).
            unsafe { lock.remake() };
        }
        let slot = self.slot_header(index);
        let floor = self.facility().seq_floor.load(Relaxed);
        slot.seq.store(slot.seq.load(Relaxed).max(floor) % SEQ_LIMIT, Relaxed);
        slot.removing.store(0, Relaxed);
    }

    /// Gives the memory of the free slots above the highest live one back
    /// to the system, once it is worth it (`TRIM_MIN_BYTES`) and the table
    /// is at most half live: as Linux frees an idr's empty leaves. For the
    /// remover of an object, after its removal. Facility lock held, no
    /// slot lock.
    ///
    /// A lookup by id reads `initialised` and then locks the slot, without
    /// the facility lock; one that read it before the trim may touch a
    /// slot given back at any time after. So: `initialised` is lowered first
    /// (lookups from then on miss the slots); then each lock of theirs is
    /// marked `TRIMMED` by compare-and-swap from free, which no thread can
    /// take and a lookup that meets fails with EINVAL; the sequence floor
    /// is raised over their sequence numbers; and only then are pages
    /// punched out, each only if every lock that lies in it is marked (a
    /// lock held, waited for or abandoned keeps its pages). A stale lookup
    /// that meets a punched lock faults its page in again, takes the
    /// zeroed lock inline, finds no object and lets go; `remake_slot` never
    /// stores over a lock so held. The pages stale lookups fault in above
    /// `initialised` are given back by the next trim: it goes over what is
    /// in memory (`lseek` SEEK_DATA) up to `touched`, and reads no lock in
    /// a hole (a read would fault the page in).
    ///
    /// Death: each step leaves slots above `initialised` that are free,
    /// marked or zeroes, and `remake_slot` makes any of them again; a
    /// death before the floor is raised leaves their pages unpunched, with
    /// their own sequence numbers, which `remake_slot` keeps.
    ///
    /// Whether it gave memory back (the table shrank).
    fn trim_free_top(&self) -> bool {
        let Some(memory) = self.table_memory() else { return false };
        let fac = self.facility();
        let initialised = self.initialised();
        let touched = fac.touched.load(Relaxed).clamp(initialised, IPCMNI);
        if initialised as usize * memory.slot_size < 2 * TRIM_MIN_BYTES
            || fac.in_use.load(Relaxed) as u64 * 2 > initialised as u64
        {
            return false;
        }
        let top = (0..initialised)
            .rev()
            .find(|&i| {
                let slot = self.slot_header(i);
                slot.is_live() || slot.removing.load(Relaxed) != 0 || self.keeps_memory(i)
            })
            .map_or(0, |i| i + 1);
        let page = PAGE_SIZE as usize;
        let from = (memory.start + top as usize * memory.slot_size).next_multiple_of(page);
        // Worth it if enough initialised slots are free at the top; what
        // stale lookups faulted in above them goes back with them.
        let below = (memory.start + initialised as usize * memory.slot_size).next_multiple_of(page);
        if below < from + TRIM_MIN_BYTES || self.map_slots_through(touched - 1).is_err() {
            return false;
        }
        let to = (memory.start + touched as usize * memory.slot_size).next_multiple_of(page);
        // The slot that holds the first byte given back, and all above it.
        let first = ((from - memory.start) / memory.slot_size) as u32;
        fac.initialised.store(first, Release);
        crate::faults::crash_point("table.trim.lowered");
        let mut floor = fac.seq_floor.load(Relaxed);
        self.for_each_resident_lock(&memory, first..touched, (from, to), |index, lock, (data, hole)| {
            mark_soon(lock);
            // A sequence number in a hole is a zero no one writes (the
            // slot is free, and we hold the facility lock).
            let seq = &self.slot_header(index).seq;
            let (seq_from, seq_to) = memory.bytes_of(seq);
            if index < initialised && seq_from >= data && seq_to <= hole {
                floor = floor.max(seq.load(Relaxed) % SEQ_LIMIT + 1);
            }
        });
        fac.seq_floor.store(floor, Relaxed);
        crate::faults::crash_point("table.trim.marked");
        // Pages in memory now whose every lock is marked. Marks stay until
        // `remake_slot`: no thread takes a marked lock, so a page that
        // keeps some (next to an unmarked one) is given back later.
        memory.for_each_extent(from, to, |data, hole| {
            let mut punch_from = data;
            self.for_each_lock_in(&memory, first..touched, (data, hole), |_, lock, (lock_from, lock_to)| {
                let whole = lock_from >= data && lock_to <= hole;
                if whole && lock.is_trimmed() {
                    return;
                }
                // Kept: the pages this lock lies in.
                let keep_from = lock_from / page * page;
                if keep_from > punch_from {
                    let _ = crate::sys::punch_hole(memory.fd, punch_from as u64, (keep_from - punch_from) as u64);
                }
                punch_from = punch_from.max(lock_to.next_multiple_of(page));
            });
            if hole > punch_from {
                let _ = crate::sys::punch_hole(memory.fd, punch_from as u64, (hole - punch_from) as u64);
            }
        });
        self.give_back_beyond(&memory, first, touched);
        true
    }

    /// Calls `visit` with each lock of slots `slots` that lies wholly in
    /// memory between file offsets `within` (see `trim_free_top`), and the
    /// run of memory it lies in.
    fn for_each_resident_lock(
        &self,
        memory: &TableMemory,
        slots: core::ops::Range<u32>,
        within: (usize, usize),
        mut visit: impl FnMut(u32, &RobustMutex, (usize, usize)),
    ) {
        memory.for_each_extent(within.0, within.1, |data, hole| {
            self.for_each_lock_in(memory, slots.clone(), (data, hole), |index, lock, (lock_from, lock_to)| {
                if lock_from >= data && lock_to <= hole {
                    visit(index, lock, (data, hole));
                }
            });
        });
    }

    /// Calls `visit` with each lock of slots `slots` that has a byte
    /// between file offsets `run`, and the file offsets of its bytes.
    fn for_each_lock_in(
        &self,
        memory: &TableMemory,
        slots: core::ops::Range<u32>,
        run: (usize, usize),
        mut visit: impl FnMut(u32, &RobustMutex, (usize, usize)),
    ) {
        let first = ((run.0 - memory.start) / memory.slot_size) as u32;
        let end = ((run.1 - memory.start).div_ceil(memory.slot_size) as u32).min(slots.end);
        for index in first.max(slots.start)..end {
            for lock in self.slot_locks(index).into_iter().flatten() {
                let bytes = memory.bytes_of(lock);
                if bytes.1 > run.0 && bytes.0 < run.1 {
                    visit(index, lock, bytes);
                }
            }
        }
    }

    /// Linux's `ipc_get_maxidx`: the highest live index, or -1 when empty.
    fn max_live_index(&self) -> i32 {
        let fac = self.facility();
        if fac.in_use.load(Relaxed) == 0 {
            return -1;
        }
        (0..self.initialised()).rev().find(|&i| self.slot_header(i).is_live()).map_or(-1, |i| i as i32)
    }
}
