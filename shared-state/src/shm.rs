//! System V shared memory: shmget, shmat, shmdt, shmctl with Linux's semantics.
//!
//! Owns: the shm slot table (`ShmSlot`), the facility header (`ShmFacility`),
//! segment data placement in the memfd, and attachment accounting
//! (`AttachEntry`: one per attachment, linked from the attaching process's
//! record, so a dead process's attachments can be dropped by anyone).
//!
//! Segment data: each segment owns a page-aligned range of the memfd past
//! `META_SIZE`, handed out upward and never reused (the offset space is 2^63
//! bytes); shmat maps that range MAP_SHARED, so attachers share the memory
//! itself, at memory speed. When a segment is destroyed its range is punched
//! out of the file and its memory returns to the system.
//!
//! Lifetime (as Linux): IPC_RMID with attachments sets SHM_DEST and takes the
//! key out of the index; the segment is destroyed when `nattch` reaches 0 by
//! detach, exit, exec or death.
//!
//! Locking: the shm facility lock (the slot table's lock) serialises create,
//! remove, key lookup, every change to attachments (`nattch`, the entry pool,
//! each record's `shm_attachments`: shmat and shmdt too, and the dropping
//! of a dead process's attachments), and memlock accounting. Each slot's
//! lock guards its fields; IPC_STAT and SHM_STAT take only that one, for a
//! few loads (the copy out comes after), as does `remap`'s look at a
//! segment (where its data lies, for remap_file_pages, mremap and the
//! shmdt of an attachment cut into pieces), and every other holder of a
//! segment's lock holds the facility lock too. So a process stopped inside
//! a call holds up every call that needs the facility lock (which includes
//! shmat and shmdt of any segment) only if it stopped inside the facility
//! lock itself. Calls reap the dead before they take the facility lock
//! (see `ns`). A lookup under the facility lock takes the segment's lock
//! without waiting for it there (`SlotTable::lock_facility_and_slot`);
//! the facility lock's own walks over segments (a detach, a repair, the
//! orphans of shm_rmid_forced) wait for a segment's lock, held only for
//! those few loads. Order: process-private `local`, facility lock, slot
//! lock, table lock.
//!
//! Death while holding the facility lock can leave an attachment counted in
//! `nattch` but no longer listed (or the reverse); whoever takes the lock
//! next finds it owner-died and recounts every `nattch` from the lists
//! (`lock_shm`), which are changed one store at a time and so stay whole.
//!
//! Corruption (see the region's notes): entry indices read from the region
//! (the free list's, a process's list's links) are checked against the
//! entry table, and the slot an entry names against the slots initialised:
//! an attach that meets a bad one fails with EINVAL; a detach, exit or
//! reap leaves the rest of a bad list alone and counts no detach for an
//! entry naming no slot. A segment whose data the region places outside
//! the box's file is neither attached (EINVAL) nor punched out.

use crate::abi::*;
use crate::cred::Cred;
use crate::lock::Guard;
use crate::ns::{Attachment, Local, Namespace};
use crate::procs::RecordRef;
use crate::region::{corrupt, Area, Region, IPCMNI, MAX_ATTACH, META_SIZE, PAGE_SIZE};
use crate::sys::{self, SysResult};
use crate::table::{FacilityHeader, Locking, SlotHeader, SlotTable};
use core::sync::atomic::{AtomicI32, AtomicI64, AtomicU32, AtomicU64, Ordering::*};

mod remap;
pub use remap::BEYOND_DATA;

/// Linux's SHMMIN.
const SHMMIN: u64 = 1;
/// The least the memfd grows by when a segment needs more of it.
const FILE_GROWTH: u64 = 64 << 20;
/// Attach address alignment; SHMLBA is the page size on x86_64 and aarch64.
const SHMLBA: usize = PAGE_SIZE as usize;

#[repr(C)]
pub struct ShmFacility {
    pub ids: FacilityHeader,
    /// Pages of all existing segments (Linux's shm_tot). Facility lock.
    pub total_pages: AtomicU64,
    /// Memfd offset for the next segment's data. Facility lock.
    pub data_next: AtomicU64,
    /// Current length of the memfd. Facility lock.
    pub file_size: AtomicU64,
    /// Free attachment entries (index + 1, 0 for none). Facility lock.
    pub attach_free: AtomicU32,
    /// Attachment entries ever used. Facility lock.
    pub attach_high: AtomicU32,
}

impl ShmFacility {
    /// # Safety
    /// Only while creating the region.
    pub(crate) unsafe fn init(&self) {
        crate::region::init_facility(&self.ids);
        self.ids.last_idx.store(-1, Relaxed);
        self.data_next.store(META_SIZE as u64, Relaxed);
        self.file_size.store(META_SIZE as u64, Relaxed);
    }
}

#[repr(C)]
pub struct ShmSlot {
    pub head: SlotHeader,
    /// Size asked for at creation. Immutable while live.
    pub segsz: AtomicU64,
    /// Where the data lies in the memfd. Immutable while live.
    pub offset: AtomicU64,
    /// Times and pids as shmid_ds reports them. Slot lock.
    pub atime: AtomicI64,
    pub dtime: AtomicI64,
    pub ctime: AtomicI64,
    pub cpid: AtomicI32,
    pub lpid: AtomicI32,
    /// Attachments across the box. Facility lock and slot lock to write.
    pub nattch: AtomicU64,
    /// Effective uid charged for SHM_LOCK (memlock accounting). Facility lock.
    pub lock_uid: AtomicU32,
    /// When the creating process started (its /proc stat start time): with
    /// `cpid`, who the creator is, so that shm_rmid_forced can tell a
    /// segment whose creator has ended. Immutable while live.
    pub creator_start: AtomicU64,
}

/// One attachment, counted for the process that holds it.
#[repr(C)]
pub struct AttachEntry {
    /// Next entry of the same process, or of the free list (index + 1). Facility lock.
    pub next: AtomicU32,
    /// Slot of the attached segment. Facility lock.
    pub slot: AtomicU32,
}

impl SlotTable for Region {
    fn facility(&self) -> &FacilityHeader {
        &self.header().shm.ids
    }
    fn lock_facility(&self) -> SysResult<Guard<'_>> {
        self.lock_shm()
    }
    fn slot_header(&self, index: u32) -> &SlotHeader {
        &self.live_shm_slot(index).head
    }
    fn map_slots_through(&self, index: u32) -> SysResult<()> {
        self.map_area(Area::ShmSlots, (index as usize + 1) * core::mem::size_of::<ShmSlot>())
    }
    fn table_memory(&self) -> Option<crate::table::TableMemory> {
        self.slot_table_memory::<ShmSlot>(crate::region::SHM_SLOTS_OFFSET)
    }
    fn finish_removal(&self, index: u32) {
        let Ok(_guard) = self.lock_slot(index) else { return };
        if let Some((offset, bytes)) = self.segment_data(self.live_shm_slot(index)) {
            let _ = sys::punch_hole(self.fd(), offset, bytes);
        }
        self.release(index);
    }
    fn recount_totals(&self) {
        let total = (0..self.initialised())
            .map(|index| self.live_shm_slot(index))
            .filter(|slot| slot.head.is_live())
            .fold(0u64, |total, slot| total.saturating_add(pages_of(slot.segsz.load(Relaxed))));
        self.shm().total_pages.store(total, Relaxed);
    }
}

fn pages_of(size: u64) -> u64 {
    size.div_ceil(PAGE_SIZE)
}

/// The bytes of a segment's data in the memfd (whole pages; a size read
/// from a corrupt region cannot overflow).
fn segment_bytes(size: u64) -> u64 {
    pages_of(size).saturating_mul(PAGE_SIZE)
}

impl Region {
    fn shm(&self) -> &ShmFacility {
        &self.header().shm
    }

    /// Slot `index` (taken modulo IPCMNI: see `Region::table_entry`); the
    /// segment in it is live while its slot lock or facility lock is held.
    fn live_shm_slot(&self, index: u32) -> &ShmSlot {
        // SAFETY: the shm slot table, of IPCMNI slots.
        unsafe { self.table_entry(Area::ShmSlots, IPCMNI, index) }
    }

    /// Attachment entry `index` (taken modulo MAX_ATTACH: callers check
    /// indices read from the region).
    fn attach_entry(&self, index: u32) -> &AttachEntry {
        // SAFETY: the attachment entry table, of MAX_ATTACH entries.
        unsafe { self.table_entry(Area::Attach, MAX_ATTACH, index) }
    }

    /// Where segment `slot`'s data lies in the memfd (offset and bytes), if
    /// that can be right: past the metadata, on a page, inside the file.
    /// None if not (the region is corrupt): mapped, a range past the file's
    /// end would fault in the program at its first touch, and punched, a
    /// range in the metadata would wipe tables.
    fn segment_data(&self, slot: &ShmSlot) -> Option<(u64, u64)> {
        let (offset, bytes) = (slot.offset.load(Relaxed), segment_bytes(slot.segsz.load(Relaxed)));
        let file_size = self.shm().file_size.load(Relaxed);
        if offset >= META_SIZE as u64 && offset.is_multiple_of(PAGE_SIZE) && bytes <= file_size.saturating_sub(offset) {
            Some((offset, bytes))
        } else {
            corrupt("a segment's data outside the box's file");
            None
        }
    }

    /// The entry index a list link (index + 1, 0 for none) names, if it
    /// lies in the table; else the region is corrupt (EINVAL).
    fn entry_of_link(&self, link: u32) -> SysResult<u32> {
        let index = link.wrapping_sub(1);
        if index < self.shm().attach_high.load(Relaxed).min(MAX_ATTACH) {
            Ok(index)
        } else {
            Err(corrupt("an attachment list past the entry table"))
        }
    }

    /// The shm facility lock, the attachment counts repaired first if its
    /// last holder died holding it (see the module notes).
    pub(crate) fn lock_shm(&self) -> SysResult<Guard<'_>> {
        self.lock_shm_with(Locking::Wait)?.ok_or(libc::EINVAL)
    }

    /// `lock_shm`, the lock taken as `how` says (Ok(None): it was not had;
    /// Err(EINVAL): glibc refuses it, see `lock`).
    pub(crate) fn lock_shm_with(&self, how: Locking) -> SysResult<Option<Guard<'_>>> {
        let lock = &self.facility().lock;
        let guard = match how {
            Locking::Wait => Some(lock.lock()?),
            Locking::Briefly => lock.lock_briefly()?,
            Locking::UnlessStopped => lock.lock_unless_stopped()?,
        };
        let Some(guard) = guard else { return Ok(None) };
        if guard.owner_died {
            self.repair_facility();
            self.recount_attachments();
        }
        Ok(Some(guard))
    }

    /// Sets each live segment's `nattch` to the number of attachment
    /// entries naming it in the lists of the processes that still hold
    /// state (a dead one's are counted until its reaper drops them), and
    /// destroys a removed segment left with none. Facility lock held.
    fn recount_attachments(&self) {
        // Lists that loop or leave the table are beyond repair: left as
        // they are, for `check_invariants` to report.
        let Ok(counts) = self.attachment_counts() else { return };
        for (index, &count) in counts.iter().enumerate() {
            let slot = self.live_shm_slot(index as u32);
            let Ok(_slot_guard) = slot.head.lock.lock() else { continue };
            if !slot.head.is_live() {
                continue;
            }
            slot.nattch.store(count, Relaxed);
            if count == 0 && slot.head.mode.load(Relaxed) & SHM_DEST != 0 {
                self.destroy_segment(self.fd(), index as u32);
            }
        }
    }

    /// Per slot, the attachment entries naming it in the lists of the
    /// processes that still hold state; Err(record) if that record's list
    /// loops or leaves the entry table. Facility lock held.
    fn attachment_counts(&self) -> Result<Vec<u64>, u32> {
        let mut counts = vec![0u64; self.initialised() as usize];
        for record in self.records_in_use() {
            let mut next = self.record(record).shm_attachments.load(Relaxed);
            for steps in 0.. {
                if next == 0 {
                    break;
                }
                let index = match self.entry_of_link(next) {
                    Ok(index) if steps <= MAX_ATTACH => index,
                    _ => return Err(record),
                };
                let entry = self.attach_entry(index);
                if let Some(count) = counts.get_mut(entry.slot.load(Relaxed) as usize) {
                    *count += 1;
                }
                next = entry.next.load(Relaxed);
            }
        }
        Ok(counts)
    }

    /// Takes an attachment entry for `rec` on `slot`. Facility lock held.
    fn push_attach_entry(&self, rec: RecordRef, slot: u32) -> SysResult<u32> {
        let shm = self.shm();
        let free = shm.attach_free.load(Relaxed);
        let index = if free != 0 {
            let index = self.entry_of_link(free)?;
            shm.attach_free.store(self.attach_entry(index).next.load(Relaxed), Relaxed);
            index
        } else {
            let high = shm.attach_high.load(Relaxed);
            if high >= MAX_ATTACH {
                return Err(libc::ENOMEM);
            }
            self.map_area(Area::Attach, (high as usize + 1) * core::mem::size_of::<AttachEntry>())?;
            shm.attach_high.store(high + 1, Relaxed);
            high
        };
        let entry = self.attach_entry(index);
        let record = self.record(rec.index);
        entry.slot.store(slot, Relaxed);
        entry.next.store(record.shm_attachments.load(Relaxed), Relaxed);
        record.shm_attachments.store(index + 1, Relaxed);
        Ok(index)
    }

    /// Unlinks entry `index` from `rec`'s list and frees it, if the list
    /// holds it before it ends or leaves the table. Facility lock held.
    fn remove_attach_entry(&self, rec: RecordRef, index: u32) {
        let mut link = &self.record(rec.index).shm_attachments;
        for _ in 0..=MAX_ATTACH {
            let next = link.load(Relaxed);
            if next == 0 {
                return;
            }
            if next - 1 == index {
                return self.free_attach_entry(link, index);
            }
            let Ok(at) = self.entry_of_link(next) else { return };
            link = &self.attach_entry(at).next;
        }
    }

    /// Unlinks entry `index`, which `link` names, and puts it on the free
    /// list. Facility lock held.
    fn free_attach_entry(&self, link: &AtomicU32, index: u32) {
        let entry = self.attach_entry(index);
        link.store(entry.next.load(Relaxed), Relaxed);
        entry.next.store(self.shm().attach_free.load(Relaxed), Relaxed);
        self.shm().attach_free.store(index + 1, Relaxed);
    }

    /// Counts one attachment going away (unless `index`, read from an
    /// entry, names no slot). Facility lock held, slot lock not.
    fn count_detach(&self, fd: i32, index: u32, pid: i32) {
        if index >= self.initialised() {
            corrupt("an attachment entry naming no segment");
            return;
        }
        let slot = self.live_shm_slot(index);
        let Ok(_slot_guard) = slot.head.lock.lock() else { return };
        slot.nattch.fetch_sub(1, Relaxed);
        slot.dtime.store(sys::realtime_seconds(), Relaxed);
        slot.lpid.store(pid, Relaxed);
        // Linux's shm_may_destroy: removed, or shm_rmid_forced.
        let forced = self.limits().shm_rmid_forced.load(Relaxed) != 0;
        if slot.nattch.load(Relaxed) == 0 && (forced || slot.head.mode.load(Relaxed) & SHM_DEST != 0) {
            self.destroy_segment(fd, index);
        }
    }

    /// Frees a segment and its memory. Facility lock and slot lock held.
    fn destroy_segment(&self, fd: i32, index: u32) {
        self.begin_removal(index);
        crate::faults::crash_point("shm.destroy.begun");
        let slot = self.live_shm_slot(index);
        if let Some((offset, bytes)) = self.segment_data(slot) {
            let _ = sys::punch_hole(fd, offset, bytes);
        }
        self.shm().total_pages.fetch_sub(pages_of(slot.segsz.load(Relaxed)), Relaxed);
        self.release(index);
    }
}

impl Namespace {
    /// shmget(2).
    pub fn shmget(&self, key: i32, size: usize, flags: i32) -> SysResult<i32> {
        let region = &self.region;
        let cred = Cred::current();
        if flags & IPC_CREAT != 0 && region.limits().shm_rmid_forced.load(Relaxed) != 0 {
            // A creator the box knows of: its end, however it comes, is
            // reaped, and its orphans then destroyed.
            self.own_record(&mut self.local())?;
        }
        self.reap_dead();
        let (_fac, found) =
            if key != IPC_PRIVATE { region.lock_facility_and_key(key)? } else { (region.lock_shm()?, None) };
        if let Some((index, _slot_guard)) = found {
            if flags & IPC_CREAT != 0 && flags & IPC_EXCL != 0 {
                return Err(libc::EEXIST);
            }
            let slot = region.live_shm_slot(index);
            if slot.segsz.load(Relaxed) < size as u64 {
                return Err(libc::EINVAL);
            }
            if !cred.may_access(&slot.head.perm(), flags) {
                return Err(libc::EACCES);
            }
            return Ok(crate::table::make_id(index, slot.head.seq.load(Relaxed)));
        }
        if key != IPC_PRIVATE && flags & IPC_CREAT == 0 {
            return Err(libc::ENOENT);
        }
        self.new_segment(key, size as u64, flags, cred)
    }

    /// Linux's `newseg`. Facility lock held.
    fn new_segment(&self, key: i32, size: u64, flags: i32, cred: &Cred) -> SysResult<i32> {
        let region = &self.region;
        let limits = region.limits();
        let shm = region.shm();
        if size < SHMMIN || size > limits.shmmax.load(Relaxed) {
            return Err(libc::EINVAL);
        }
        let pages = pages_of(size);
        if pages.checked_mul(PAGE_SIZE).is_none() {
            return Err(libc::ENOSPC);
        }
        let total = shm.total_pages.load(Relaxed);
        match total.checked_add(pages) {
            Some(t) if t <= limits.shmall.load(Relaxed) => {}
            _ => return Err(libc::ENOSPC),
        }
        if size > i64::MAX as u64 {
            // shmem_kernel_file_setup refuses sizes past MAX_LFS_FILESIZE.
            return Err(libc::EINVAL);
        }
        if flags & SHM_HUGETLB != 0 {
            huge_pages_allow(size, flags, cred)?;
        } else if flags & SHM_NORESERVE == 0 && !overcommit_allows(pages) {
            return Err(libc::ENOMEM);
        }
        let offset = shm.data_next.load(Relaxed);
        let end = offset.checked_add(pages * PAGE_SIZE).filter(|&e| e <= BEYOND_DATA).ok_or(libc::ENOMEM)?;
        let index = region.alloc_index(limits.shmmni.load(Relaxed))?;
        if end > shm.file_size.load(Relaxed) {
            // Ahead by an eighth, at least FILE_GROWTH: a file's length costs
            // nothing until its pages are touched, and creations then make
            // no ftruncate most of the time.
            let size = shm.file_size.load(Relaxed);
            let ahead = end.max(size.saturating_add((size / 8).max(FILE_GROWTH))).min(BEYOND_DATA);
            sys::grow_file(self.fd(), ahead).or_else(|_| sys::grow_file(self.fd(), end)).map_err(|_| libc::ENOMEM)?;
            shm.file_size.store(ahead, Relaxed);
        }
        shm.data_next.store(end, Relaxed);
        shm.total_pages.fetch_add(pages, Relaxed);
        let slot = region.live_shm_slot(index);
        let _slot_guard = slot.head.lock.lock()?;
        slot.segsz.store(size, Relaxed);
        slot.offset.store(offset, Relaxed);
        slot.atime.store(0, Relaxed);
        slot.dtime.store(0, Relaxed);
        slot.ctime.store(sys::realtime_seconds(), Relaxed);
        slot.cpid.store(sys::getpid(), Relaxed);
        slot.creator_start.store(self.own_start_time(), Relaxed);
        self.segment_creator.store(sys::getpid(), Relaxed);
        slot.lpid.store(0, Relaxed);
        slot.nattch.store(0, Relaxed);
        Ok(region.publish(index, key, cred.euid, cred.egid, flags as u32 & MODE_PERMISSION_BITS))
    }

    /// shmat(2): returns the address of the new attachment.
    pub fn shmat(&self, id: i32, addr: usize, flags: i32) -> SysResult<usize> {
        if id < 0 {
            return Err(libc::EINVAL);
        }
        // An address that SHM_RND rounds down to 0 is still an explicit
        // one: Linux maps at 0 (MAP_FIXED), as vm.mmap_min_addr allows
        // only with CAP_SYS_RAWIO (EPERM otherwise, from our own mmap).
        let explicit = addr != 0;
        let mut addr = addr;
        if explicit {
            if addr & (SHMLBA - 1) != 0 {
                if flags & SHM_RND == 0 {
                    return Err(libc::EINVAL);
                }
                addr &= !(SHMLBA - 1);
                if addr == 0 && flags & SHM_REMAP != 0 {
                    return Err(libc::EINVAL);
                }
            }
        } else if flags & SHM_REMAP != 0 {
            return Err(libc::EINVAL);
        }
        let (mut prot, mut access) = if flags & SHM_RDONLY != 0 {
            (libc::PROT_READ, 0o444)
        } else {
            (libc::PROT_READ | libc::PROT_WRITE, 0o666)
        };
        if flags & SHM_EXEC != 0 {
            prot |= libc::PROT_EXEC;
            access |= 0o111;
        }
        let cred = Cred::current();
        self.reap_dead();
        let mut local = self.local();
        let rec = self.own_record(&mut local)?;
        let region = &self.region;
        let (fac_guard, index, slot_guard) = region.lock_facility_and_id(id)?;
        let slot = region.live_shm_slot(index);
        if !cred.may_access(&slot.head.perm(), access) {
            return Err(libc::EACCES);
        }
        let size = slot.segsz.load(Relaxed) as usize;
        // Its data, whole pages of `size` bytes, lies in the file.
        let Some((offset, _)) = region.segment_data(slot) else { return Err(libc::EINVAL) };
        let map_flags = match (explicit, flags & SHM_REMAP != 0) {
            (false, _) => libc::MAP_SHARED,
            (_, true) => libc::MAP_SHARED | libc::MAP_FIXED,
            (_, false) => {
                if addr.checked_add(size).is_none() {
                    return Err(libc::EINVAL);
                }
                libc::MAP_SHARED | libc::MAP_FIXED_NOREPLACE
            }
        };
        // A read-only attachment maps through a read-only descriptor, so that
        // mprotect cannot make it writable later (EACCES, as Linux).
        let read_only_fd = if flags & SHM_RDONLY != 0 { Some(sys::reopen_read_only(self.fd())?) } else { None };
        // SAFETY: either the kernel picks the place, or the caller named it
        // (and with SHM_REMAP asked to replace what is there, as Linux does).
        let mapped = unsafe { sys::mmap(addr, size, prot, map_flags, read_only_fd.unwrap_or(self.fd()), offset) };
        if let Some(fd) = read_only_fd {
            let _ = sys::close(fd);
        }
        let mapped = mapped.map_err(|e| if e == libc::EEXIST { libc::EINVAL } else { e })?;
        let entry = match region.push_attach_entry(rec, index) {
            Ok(entry) => entry,
            Err(e) => {
                // SAFETY: we just created this mapping.
                let _ = unsafe { sys::munmap(mapped, size) };
                return Err(e);
            }
        };
        crate::faults::crash_point("shm.at.entry_pushed");
        slot.nattch.fetch_add(1, Relaxed);
        slot.atime.store(sys::realtime_seconds(), Relaxed);
        slot.lpid.store(sys::getpid(), Relaxed);
        let seq = slot.head.seq.load(Relaxed);
        drop(slot_guard);
        local.attachments.push(Attachment { addr: mapped, len: size, slot: index, seq, entry, split: false });
        self.attachment_count.store(local.attachments.len(), Relaxed);
        drop(fac_guard);
        if map_flags & libc::MAP_FIXED != 0 {
            self.forget_covered(&mut local, mapped, size, Some(entry));
        }
        Ok(mapped)
    }

    /// shmdt(2).
    pub fn shmdt(&self, addr: usize) -> SysResult<()> {
        if addr & (PAGE_SIZE as usize - 1) != 0 {
            return Err(libc::EINVAL);
        }
        let mut local = self.local();
        let position = local.attachments.iter().position(|a| a.addr == addr).ok_or(libc::EINVAL)?;
        let attachment = local.attachments[position];
        self.unmap_attachment(&attachment);
        self.forget_attachment(&mut local, position);
        Ok(())
    }

    /// Counts attachment `position` of `local` as detached; its mapping is
    /// already gone.
    fn forget_attachment(&self, local: &mut Local, position: usize) {
        let attachment = local.attachments.swap_remove(position);
        self.attachment_count.store(local.attachments.len(), Relaxed);
        let region = &self.region;
        let Ok(_fac) = region.lock_shm() else { return };
        if let Some(rec) = local.record.filter(|&rec| region.record_current(rec)) {
            let slot = region.live_shm_slot(attachment.slot);
            if slot.head.is_live() && slot.head.seq.load(Relaxed) == attachment.seq {
                region.remove_attach_entry(rec, attachment.entry);
                crate::faults::crash_point("shm.dt.entry_removed");
                region.count_detach(self.fd(), attachment.slot, sys::getpid());
                let _ = region.trim_free_top();
            }
        }
    }

    /// Counts as detached every attachment lying wholly in [addr, addr + len),
    /// whose mapping the caller has just removed or replaced (munmap, mmap
    /// with MAP_FIXED, shmat with SHM_REMAP), as Linux does when the last
    /// mapping of an attachment goes. `local` is held across that change so
    /// no attach can slip in between.
    pub fn forget_covered(&self, local: &mut Local, addr: usize, len: usize, keep_entry: Option<u32>) {
        // The kernel works in whole pages.
        let page_end = |end: usize| end.div_ceil(SHMLBA).saturating_mul(SHMLBA);
        let end = page_end(addr.saturating_add(len));
        // One cut into pieces is kept, and its shmdt will leave alone what
        // the program maps in its holes (see `remap`).
        for attachment in local.attachments.iter_mut() {
            let overlaps = attachment.addr < end && addr < page_end(attachment.addr + attachment.len);
            if overlaps && Some(attachment.entry) != keep_entry {
                attachment.split = true;
            }
        }
        while let Some(position) = local
            .attachments
            .iter()
            .position(|a| Some(a.entry) != keep_entry && a.addr >= addr && page_end(a.addr + a.len) <= end)
        {
            self.forget_attachment(local, position);
        }
    }

    /// Runs `unmap` (a munmap or fixed mmap of [addr, addr + len) that
    /// returns whether it succeeded) with the attachments held still, then
    /// forgets those it removed.
    pub fn around_unmap<T>(&self, addr: usize, len: usize, unmap: impl FnOnce() -> (T, bool)) -> T {
        if self.attachment_count.load(Relaxed) == 0 {
            return unmap().0;
        }
        let mut local = self.local();
        let (result, removed) = unmap();
        if removed {
            self.forget_covered(&mut local, addr, len, None);
        }
        result
    }

    /// shmctl(2). `buf` is the caller's pointer, checked here (EFAULT).
    pub fn shmctl(&self, id: i32, cmd: i32, buf: usize) -> SysResult<i32> {
        if cmd < 0 || id < 0 {
            return Err(libc::EINVAL);
        }
        // glibc passes only the commands it knows (adding IPC_64 itself);
        // anything else, IPC_64 from the caller included, is EINVAL.
        // Read before any lock in the region is taken.
        let cred = Cred::current();
        let region = &self.region;
        match cmd {
            IPC_INFO => {
                let limits = region.limits();
                let mni = limits.shmmni.load(Relaxed);
                let info = ShmInfo64 {
                    shmmax: limits.shmmax.load(Relaxed),
                    shmmin: SHMMIN,
                    shmmni: mni,
                    shmseg: mni,
                    shmall: limits.shmall.load(Relaxed),
                    ..Default::default()
                };
                self.reap_dead();
                let max_index = {
                    let _fac = region.lock_shm()?;
                    region.max_live_index()
                };
                sys::copy_to_user(buf, as_bytes(&info))?;
                Ok(max_index.max(0))
            }
            SHM_INFO => {
                self.reap_dead();
                let (info, max_index) = {
                    let _fac = region.lock_shm()?;
                    let info = ShmInfo {
                        used_ids: region.facility().in_use.load(Relaxed) as i32,
                        shm_tot: region.shm().total_pages.load(Relaxed),
                        shm_rss: self.resident_pages(),
                        ..Default::default()
                    };
                    (info, region.max_live_index())
                };
                sys::copy_to_user(buf, as_bytes(&info))?;
                Ok(max_index.max(0))
            }
            IPC_STAT | SHM_STAT | SHM_STAT_ANY => {
                self.reap_dead();
                let (index, ds) = {
                    let (index, _slot_guard) = if cmd == IPC_STAT {
                        region.lock_id(id)?
                    } else {
                        region.lock_live(crate::table::split_id(id).0, None)?
                    };
                    let slot = region.live_shm_slot(index);
                    let perm = slot.head.perm();
                    if cmd != SHM_STAT_ANY && !cred.may_access(&perm, 0o444) {
                        return Err(libc::EACCES);
                    }
                    let ds = ShmidDs {
                        perm,
                        segsz: slot.segsz.load(Relaxed),
                        atime: slot.atime.load(Relaxed),
                        dtime: slot.dtime.load(Relaxed),
                        ctime: slot.ctime.load(Relaxed),
                        cpid: slot.cpid.load(Relaxed),
                        lpid: slot.lpid.load(Relaxed),
                        nattch: slot.nattch.load(Relaxed),
                        ..Default::default()
                    };
                    (index, ds)
                };
                // Out of the lock, as Linux copies: the caller's memory may
                // take its time (a fault served by userfaultfd, say).
                sys::copy_to_user(buf, as_bytes(&ds))?;
                Ok(if cmd == IPC_STAT { 0 } else { crate::table::make_id(index, ds.perm.seq as u32) })
            }
            IPC_SET | IPC_RMID => {
                let mut new = ShmidDs::default();
                if cmd == IPC_SET {
                    sys::copy_from_user(as_bytes_mut(&mut new), buf)?;
                }
                self.reap_dead();
                let (_fac, index, _slot_guard) = region.lock_facility_and_id(id)?;
                let slot = region.live_shm_slot(index);
                if !cred.may_control(&slot.head.perm()) {
                    return Err(libc::EPERM);
                }
                if cmd == IPC_RMID {
                    if slot.nattch.load(Relaxed) > 0 {
                        slot.head.mode.fetch_or(SHM_DEST, Relaxed);
                        region.make_private(index);
                    } else {
                        region.destroy_segment(self.fd(), index);
                        drop(_slot_guard);
                        let _ = region.trim_free_top();
                    }
                } else {
                    slot.head.set_perm(&new.perm)?;
                    slot.ctime.store(sys::realtime_seconds(), Relaxed);
                }
                Ok(0)
            }
            SHM_LOCK | SHM_UNLOCK => self.shm_lock(id, cmd == SHM_LOCK),
            _ => Err(libc::EINVAL),
        }
    }

    /// SHM_LOCK and SHM_UNLOCK. Nothing is swapped here, so only the flag and
    /// the memlock accounting matter.
    fn shm_lock(&self, id: i32, lock: bool) -> SysResult<i32> {
        let region = &self.region;
        let cred = Cred::current();
        let (_fac, index, _slot_guard) = region.lock_facility_and_id(id)?;
        let slot = region.live_shm_slot(index);
        let privileged = cred.has_cap(CAP_IPC_LOCK);
        let memlock_pages = match sys::prlimit_soft(libc::RLIMIT_MEMLOCK) {
            u64::MAX => u64::MAX,
            bytes => bytes / PAGE_SIZE,
        };
        if !privileged {
            let perm = slot.head.perm();
            if cred.euid != perm.uid && cred.euid != perm.cuid {
                return Err(libc::EPERM);
            }
            if lock && memlock_pages == 0 {
                return Err(libc::EPERM);
            }
        }
        let mode = slot.head.mode.load(Relaxed);
        if lock {
            if mode & SHM_LOCKED == 0 {
                let pages = pages_of(slot.segsz.load(Relaxed));
                if !privileged && self.locked_pages_of(cred.euid).saturating_add(pages) > memlock_pages {
                    return Err(libc::ENOMEM);
                }
                slot.lock_uid.store(cred.euid, Relaxed);
                slot.head.mode.store(mode | SHM_LOCKED, Relaxed);
            }
        } else {
            slot.head.mode.store(mode & !SHM_LOCKED, Relaxed);
        }
        Ok(0)
    }

    /// Pages of SHM_LOCKed segments charged to `uid`. Facility lock held;
    /// skips slots whose lock the caller holds by reading only atomics.
    fn locked_pages_of(&self, uid: u32) -> u64 {
        let region = &self.region;
        (0..region.initialised())
            .map(|i| region.live_shm_slot(i))
            .filter(|s| {
                s.head.is_live() && s.head.mode.load(Relaxed) & SHM_LOCKED != 0 && s.lock_uid.load(Relaxed) == uid
            })
            .fold(0u64, |total, s| total.saturating_add(pages_of(s.segsz.load(Relaxed))))
    }

    /// Resident pages of all segments, as SHM_INFO's shm_rss. Facility lock held.
    ///
    /// The memfd's allocated blocks (one fstat) less those of the metadata
    /// before `META_SIZE` (a walk of what the metadata has touched, which is
    /// small): Linux reads each segment's page count in O(1), and walking
    /// every segment's pages made SHM_INFO cost as much as the memory in
    /// use. Facility lock held, so no segment is made or destroyed meanwhile.
    fn resident_pages(&self) -> u64 {
        let Ok(st) = sys::fstat(self.fd()) else {
            return 0;
        };
        let allocated = st.st_blocks as u64 * 512 / PAGE_SIZE;
        allocated.saturating_sub(self.data_pages_in(0, META_SIZE as u64))
    }

    /// Bytes of segment `index` in memory (0 if none lives there): Linux's
    /// `rss` column of /proc/sysvipc/shm.
    pub(crate) fn shm_resident_bytes(&self, index: u32) -> u64 {
        if index >= self.region.initialised() {
            return 0;
        }
        self.shm_resident_pages(index) * PAGE_SIZE
    }

    /// Pages of the segment in slot `index` (below `initialised`) that are
    /// in memory: the data ranges of its part of the memfd.
    fn shm_resident_pages(&self, index: u32) -> u64 {
        let slot = self.region.live_shm_slot(index);
        if !slot.head.is_live() {
            return 0;
        }
        let Some((start, bytes)) = self.region.segment_data(slot) else { return 0 };
        self.data_pages_in(start, start + bytes)
    }

    /// Pages of the memfd in [start, end) that hold data.
    fn data_pages_in(&self, start: u64, end: u64) -> u64 {
        let (mut at, mut resident) = (start, 0);
        while at < end {
            let Ok(data) = sys::seek(self.fd(), at, libc::SEEK_DATA) else {
                break;
            };
            if data >= end {
                break;
            }
            let hole = sys::seek(self.fd(), data, libc::SEEK_HOLE).unwrap_or(end).min(end);
            resident += (hole - data) / PAGE_SIZE;
            at = hole;
        }
        resident
    }

    /// Drops every attachment counted for `rec`, whose process `pid` is gone.
    /// Facility lock held.
    /// shm_rmid_forced's clean-up (Linux's `shm_destroy_orphaned` when the
    /// sysctl is set, `exit_shm` when a creator ends): destroys each segment
    /// nothing is attached to whose creating process has ended: it is one
    /// of `ended` (pid and start time; processes known to have ended, or
    /// to be ending, whatever /proc still shows of them), or /proc shows it
    /// gone. Does nothing unless shm_rmid_forced is set. Facility lock held.
    pub(crate) fn destroy_orphans_locked(&self, ended: &[(i32, u64)]) {
        let region = &self.region;
        if region.limits().shm_rmid_forced.load(Relaxed) == 0 {
            return;
        }
        for index in 0..region.initialised() {
            let slot = region.live_shm_slot(index);
            let Ok(_slot_guard) = slot.head.lock.lock() else { continue };
            if !slot.head.is_live() || slot.nattch.load(Relaxed) != 0 {
                continue;
            }
            let creator = (slot.cpid.load(Relaxed), slot.creator_start.load(Relaxed));
            if ended.contains(&creator) || !crate::procs::process_matches(creator.0, creator.1) {
                region.destroy_segment(self.fd(), index);
            }
        }
        let _ = region.trim_free_top();
    }

    pub(crate) fn shm_drop_record_locked(&self, rec: RecordRef, pid: i32) {
        let region = &self.region;
        if !region.record_current(rec) {
            return;
        }
        let list = &region.record(rec.index).shm_attachments;
        loop {
            let head = list.load(Relaxed);
            if head == 0 {
                break;
            }
            let Ok(entry) = region.entry_of_link(head) else {
                // What the list held past here is out of reach: it is not counted.
                list.store(0, Relaxed);
                break;
            };
            let slot = region.attach_entry(entry).slot.load(Relaxed);
            region.free_attach_entry(list, entry);
            region.count_detach(self.fd(), slot, pid);
        }
        let _ = region.trim_free_top();
    }

    /// Before fork: counts a copy of each of this process's attachments
    /// for the child's FORKING record `child`, as Linux counts them at fork
    /// (nattch, atime, and lpid set to the forking process). On an error
    /// the caller reaps `child`, which drops what was counted.
    pub(crate) fn shm_prepare_child(&self, child: RecordRef, local: &Local) -> SysResult<Vec<u32>> {
        let region = &self.region;
        let _fac = region.lock_shm()?;
        let now = sys::realtime_seconds();
        let pid = self.pid();
        let mut entries = Vec::with_capacity(local.attachments.len());
        for attachment in &local.attachments {
            entries.push(region.push_attach_entry(child, attachment.slot)?);
            crate::faults::crash_point("fork.prepare.entry");
            let slot = region.live_shm_slot(attachment.slot);
            let _slot_guard = slot.head.lock.lock()?;
            slot.nattch.fetch_add(1, Relaxed);
            slot.atime.store(now, Relaxed);
            slot.lpid.store(pid, Relaxed);
        }
        Ok(entries)
    }
}

/// SHM_HUGETLB at creation, checked as Linux's `newseg` and
/// `hugetlb_file_setup` check it, in their order: the huge page size asked
/// for (bits from SHM_HUGE_SHIFT, 0 for the default) must be one the kernel
/// has (EINVAL); the caller needs CAP_IPC_LOCK or membership of the group
/// in /proc/sys/vm/hugetlb_shm_group (EPERM); without SHM_NORESERVE the
/// kernel's huge page pool must hold the segment (ENOMEM). A segment that
/// passes is made of ordinary pages (README, Known deviations): the region
/// is one memfd, which huge pages cannot back in part.
fn huge_pages_allow(size: u64, flags: i32, cred: &Cred) -> SysResult<()> {
    const SHM_HUGE_SHIFT: i32 = 26;
    const SHM_HUGE_MASK: i32 = 0x3f;
    let log = (flags >> SHM_HUGE_SHIFT) & SHM_HUGE_MASK;
    let default_pool = HugePool::default_size();
    let pool = match (log, default_pool) {
        (0, Some(pool)) => Some(pool),
        (0, None) | (1..=9, _) => None,
        (log, Some(pool)) if pool.page_kib == 1 << (log - 10) => Some(pool),
        (log, _) => HugePool::of_size(1 << (log - 10)),
    };
    let Some(pool) = pool else {
        return Err(libc::EINVAL);
    };
    if !cred.may_use_hugetlb_shm(|| read_number(c"/proc/sys/vm/hugetlb_shm_group").unwrap_or(0) as u32) {
        return Err(libc::EPERM);
    }
    if flags & SHM_NORESERVE == 0 {
        let wanted = size.div_ceil(pool.page_kib * 1024);
        let free = pool.free.saturating_sub(pool.reserved);
        let surplus_room = pool.overcommit().saturating_sub(pool.surplus);
        if wanted > free + surplus_room {
            return Err(libc::ENOMEM);
        }
    }
    Ok(())
}

/// The counters of a huge page pool, as the kernel's hugetlb_file_setup
/// reads them.
struct HugePool {
    page_kib: u64,
    free: u64,
    reserved: u64,
    surplus: u64,
    /// Where nr_overcommit_hugepages is, read only if needed.
    overcommit_path: String,
}

impl HugePool {
    /// The pool of the default huge page size: one read of /proc/meminfo
    /// (Hugepagesize and the HugePages_ counters); None without hugetlb.
    fn default_size() -> Option<HugePool> {
        let mut buf = [0u8; 4096];
        let n = sys::read_file(c"/proc/meminfo", &mut buf).ok()?;
        let text = core::str::from_utf8(&buf[..n]).ok()?;
        let field = |name: &str| -> Option<u64> {
            let line = text.lines().find(|line| line.starts_with(name))?;
            line[name.len()..].split_whitespace().next()?.parse().ok()
        };
        Some(HugePool {
            page_kib: field("Hugepagesize:")?,
            free: field("HugePages_Free:").unwrap_or(0),
            reserved: field("HugePages_Rsvd:").unwrap_or(0),
            surplus: field("HugePages_Surp:").unwrap_or(0),
            overcommit_path: "/proc/sys/vm/nr_overcommit_hugepages\0".into(),
        })
    }

    /// The pool of `page_kib` KiB pages, from sysfs; None if the kernel has none.
    fn of_size(page_kib: u64) -> Option<HugePool> {
        let counter = |name: &str| {
            let path = format!("/sys/kernel/mm/hugepages/hugepages-{page_kib}kB/{name}\0");
            read_number(core::ffi::CStr::from_bytes_with_nul(path.as_bytes()).ok()?)
        };
        counter("nr_hugepages")?;
        Some(HugePool {
            page_kib,
            free: counter("free_hugepages").unwrap_or(0),
            reserved: counter("resv_hugepages").unwrap_or(0),
            surplus: counter("surplus_hugepages").unwrap_or(0),
            overcommit_path: format!("/sys/kernel/mm/hugepages/hugepages-{page_kib}kB/nr_overcommit_hugepages\0"),
        })
    }

    fn overcommit(&self) -> u64 {
        core::ffi::CStr::from_bytes_with_nul(self.overcommit_path.as_bytes()).ok().and_then(read_number).unwrap_or(0)
    }
}

/// The number a small /proc or /sys file holds.
fn read_number(path: &core::ffi::CStr) -> Option<u64> {
    let mut buf = [0u8; 32];
    let n = sys::read_file(path, &mut buf).ok()?;
    core::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()
}

/// Linux's overcommit heuristic for a shmem file (`__vm_enough_memory`):
/// in the default mode a single request larger than RAM plus swap fails.
/// A request no larger than the RAM seen once per process passes in every
/// mode (the box does not model strict accounting), so it reads nothing.
fn overcommit_allows(pages: u64) -> bool {
    static RAM_PAGES: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let ram = *RAM_PAGES.get_or_init(|| {
        sys::sysinfo().map_or(0, |info| info.totalram.saturating_mul(info.mem_unit.max(1) as u64) / PAGE_SIZE)
    });
    if pages <= ram {
        return true;
    }
    if read_number(c"/proc/sys/vm/overcommit_memory").unwrap_or(0) != 0 {
        return true;
    }
    match sys::sysinfo() {
        Ok(info) => {
            let unit = info.mem_unit.max(1) as u64;
            let total = (info.totalram + info.totalswap).saturating_mul(unit) / PAGE_SIZE;
            pages <= total
        }
        Err(_) => true,
    }
}

impl Region {
    /// The shared memory part of `check_invariants`: each live segment's
    /// `nattch` is the number of attachment entries naming it, none is both
    /// removed and unattached, and `total_pages` adds up.
    pub(crate) fn check_shm(&self) -> Result<(), String> {
        let lock_error = |_| "shm: a lock glibc refuses".to_string();
        let _fac = self.lock_shm().map_err(lock_error)?;
        let counts = self
            .attachment_counts()
            .map_err(|record| format!("record {record}: attachment list loops or leaves the table"))?;
        let (mut live, mut pages) = (0u64, 0u64);
        for (index, &count) in counts.iter().enumerate() {
            let slot = self.live_shm_slot(index as u32);
            let _guard = slot.head.lock.lock().map_err(lock_error)?;
            if !slot.head.is_live() {
                continue;
            }
            live += 1;
            pages = pages.saturating_add(pages_of(slot.segsz.load(Relaxed)));
            let nattch = slot.nattch.load(Relaxed);
            if nattch != count {
                return Err(format!("segment {index}: nattch {nattch}, {count} attachments listed"));
            }
            if nattch == 0 && slot.head.mode.load(Relaxed) & SHM_DEST != 0 {
                return Err(format!("segment {index}: removed and unattached, yet live"));
            }
        }
        let (in_use, total) = (self.facility().in_use.load(Relaxed) as u64, self.shm().total_pages.load(Relaxed));
        if in_use != live || total != pages {
            return Err(format!("segments: {in_use} counted in use and {total} pages, {live} live with {pages} pages"));
        }
        Ok(())
    }
}
