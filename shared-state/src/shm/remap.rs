//! Calls that reach a segment's pages by file offset through an
//! attachment's mapping: remap_file_pages(2) and mremap(2), and shmdt of an
//! attachment they (or a partial munmap) have cut into pieces.
//!
//! Owns: the translation of a program's segment-relative offsets into the
//! region's memfd, and `BEYOND_DATA`.
//!
//! Why: on Linux an attachment maps the segment's own file, so offsets
//! count from the segment's start and pages past its size raise SIGBUS. In
//! a box every attachment maps the one region memfd, whose other pages hold
//! the box's metadata and the other segments. Passed to the kernel as they
//! are, `remap_file_pages(addr, size, 0, 0, 0)` would map the region's
//! header into the program, and growing an attachment with mremap would
//! map the next segment's data. So a remap is given the offset within the
//! segment's part of the file, and any page that lies past the segment is
//! mapped from `BEYOND_DATA`, past the end of the memfd, where touching it
//! raises SIGBUS as on Linux. Nothing here ever maps a file offset outside
//! the attachment's segment or that zone.
//!
//! Which mappings are attachments is read from /proc/self/maps (the region
//! file's device and inode): a program may have mapped something of its own
//! over part of an attachment, and the kernel answers for that as usual.
//! These calls are rare (remap_file_pages is deprecated; mremap of an
//! attachment is unusual), so reading the maps costs nothing that matters;
//! mremap of any other memory, which malloc makes, reads nothing and takes
//! no lock while the process has no attachment.
//!
//! Bookkeeping follows Linux where a box can: a whole attachment moved by
//! mremap is detached at its new address; a second mapping of a segment
//! from its first page (mremap with old size 0, or MREMAP_DONTUNMAP) is
//! counted as an attachment; a whole attachment of a segment marked for
//! removal, replaced by remap_file_pages, was its last mapping, so the
//! segment is destroyed and the call fails with EINVAL. An attachment cut
//! into pieces is marked `split`: its shmdt then unmaps only the pieces
//! that still map the segment where an unmoved attachment would (Linux's
//! rule), and leaves the rest, and whatever the program mapped in its
//! holes, alone.
//!
//! Locking: `local` is held across each call, as for munmap, so no attach or
//! detach of this process slips in between; the shm facility lock only
//! where a count changes, with the segment's lock taken as a lookup takes
//! it (never waited for under the facility lock, see `shm`). A segment's
//! place in the file is read under its lock alone.

use crate::ns::{Attachment, Local, Namespace};
use crate::region::PAGE_SIZE;
use crate::sys::{self, Mapping, SysResult};
use crate::table::SlotTable;
use core::sync::atomic::Ordering::*;

/// A file offset past every segment's data and past the end of the memfd
/// (`new_segment` places no data from here on): a page mapped from here
/// raises SIGBUS when touched, as a page of a SysV mapping past its
/// segment's size does on Linux.
pub const BEYOND_DATA: u64 = 1 << 62;

const PAGE: usize = PAGE_SIZE as usize;

fn page_up(len: usize) -> usize {
    len.div_ceil(PAGE).saturating_mul(PAGE)
}

impl Attachment {
    fn end(&self) -> usize {
        self.addr + page_up(self.len)
    }
}

/// The segment behind an attachment: its data's offset in the memfd, the
/// end of its pages, whether it is marked for removal and its attachments.
struct Segment {
    offset: u64,
    end: u64,
    removed: bool,
    nattch: u64,
}

impl Namespace {
    /// Whether `mapping` (from /proc/self/maps) is of the region file.
    fn is_region(&self, mapping: &Mapping) -> bool {
        self.region.file_id() == (mapping.dev, mapping.inode)
    }

    /// None if the segment's lock or data cannot be trusted (a corrupt
    /// region: see `region::corrupt`).
    fn segment_of(&self, attachment: &Attachment) -> Option<Segment> {
        let slot = self.region.live_shm_slot(attachment.slot);
        let _guard = slot.head.lock.lock().ok()?;
        let (offset, bytes) = self.region.segment_data(slot)?;
        Some(Segment {
            offset,
            end: offset + bytes,
            removed: slot.head.mode.load(Relaxed) & crate::abi::SHM_DEST != 0,
            nattch: slot.nattch.load(Relaxed),
        })
    }

    /// remap_file_pages(2). Some(result) when `start` lies in a mapping of
    /// the region (an attachment, or the region's own mapping, which a
    /// program does not know of: EINVAL, as for unmapped memory); None when
    /// the kernel answers as usual.
    pub fn remap_file_pages(
        &self,
        start: usize,
        size: usize,
        prot: usize,
        page_offset: usize,
        flags: usize,
    ) -> Option<SysResult<()>> {
        let (start, size) = (start & !(PAGE - 1), size & !(PAGE - 1));
        let mut local = self.local();
        let first = *sys::mappings_in(start, start.saturating_add(1))?.first()?;
        if first.start > start || !self.is_region(&first) {
            return None;
        }
        Some(self.remap_attachment_pages(&mut local, start, size, prot, page_offset, flags, &first))
    }

    #[allow(clippy::too_many_arguments)]
    fn remap_attachment_pages(
        &self,
        local: &mut Local,
        start: usize,
        size: usize,
        prot: usize,
        page_offset: usize,
        flags: usize,
        first: &Mapping,
    ) -> SysResult<()> {
        // Linux's checks, all EINVAL.
        let end = start.checked_add(size).filter(|&end| end > start).ok_or(libc::EINVAL)?;
        let pages = size / PAGE;
        if prot != 0 || page_offset.checked_add(pages).is_none() {
            return Err(libc::EINVAL);
        }
        let position = local.attachments.iter().position(|a| a.addr <= start && start < a.end()).ok_or(libc::EINVAL)?;
        let attachment = local.attachments[position];
        // Linux goes on through following mappings of the same file with the
        // same flags; each attachment is a file of its own there.
        if end > attachment.end() || !self.region_mappings_cover(start, end, first) {
            return Err(libc::EINVAL);
        }
        let segment = self.segment_of(&attachment).ok_or(libc::EINVAL)?;
        if start <= attachment.addr && end >= attachment.end() && segment.removed && segment.nattch == 1 {
            // Linux unmaps what the new mapping replaces first: the last
            // mapping of a removed segment, which goes with it, so the new
            // mapping has nothing to map.
            // SAFETY: the program's own range, which it asked to replace.
            let _ = unsafe { sys::munmap(start, size) };
            self.forget_attachment(local, position);
            return Err(libc::EINVAL);
        }
        let segment_pages = ((segment.end - segment.offset) / PAGE_SIZE) as usize;
        let inside = segment_pages.saturating_sub(page_offset).min(pages);
        if inside > 0 {
            let offset = segment.offset as usize / PAGE + page_offset;
            // SAFETY: pages of the program's attachment, remapped to pages of its segment.
            unsafe { sys::remap_file_pages(start, inside * PAGE, 0, offset, flags) }?;
        }
        if inside < pages {
            // SAFETY: as above, to pages past the end of the memfd.
            unsafe {
                sys::remap_file_pages(
                    start + inside * PAGE,
                    (pages - inside) * PAGE,
                    0,
                    BEYOND_DATA as usize / PAGE,
                    flags,
                )
            }?;
        }
        local.attachments[position].split = true;
        Ok(())
    }

    /// Whether [start, end) is mapped without a gap by mappings of the
    /// region with `first`'s permissions.
    fn region_mappings_cover(&self, start: usize, end: usize, first: &Mapping) -> bool {
        let Some(mappings) = sys::mappings_in(start, end) else {
            return false;
        };
        let mut at = start;
        for mapping in mappings {
            if mapping.start > at || !self.is_region(&mapping) || mapping.perms != first.perms {
                return false;
            }
            at = mapping.end;
        }
        at >= end
    }

    /// mremap(2), made by the kernel; an attachment that grows past its
    /// segment gets the pages past it from `BEYOND_DATA`, and the
    /// attachments it moves, copies or replaces are counted as Linux
    /// counts them.
    pub fn mremap(
        &self,
        old: usize,
        old_size: usize,
        new_size: usize,
        flags: i32,
        new_addr: usize,
    ) -> SysResult<usize> {
        // SAFETY: the program's call, as it made it.
        let as_asked = || unsafe { sys::mremap(old, old_size, new_size, flags, new_addr) };
        if self.attachment_count.load(Relaxed) == 0 {
            return as_asked();
        }
        let mut local = self.local();
        let position = local.attachments.iter().position(|a| a.addr <= old && old < a.end());
        let mapping = position.and_then(|_| sys::mappings_in(old, old + 1)?.first().copied());
        let (Some(position), Some(mapping)) = (position, mapping.filter(|m| m.start <= old && self.is_region(m)))
        else {
            let moved = as_asked()?;
            if flags & libc::MREMAP_FIXED != 0 {
                self.forget_covered(&mut local, new_addr, new_size, None);
            }
            return Ok(moved);
        };
        let attachment = local.attachments[position];
        let segment = self.segment_of(&attachment).ok_or(libc::EINVAL)?;
        let offset = mapping.offset_of(old);
        let (old_len, new_len) = (page_up(old_size), page_up(new_size));
        let past_segment = new_len > old_len && offset < BEYOND_DATA && offset + new_len as u64 > segment.end;
        let moved = if past_segment {
            self.grow_past_segment(old, old_size, new_size, flags, new_addr, &mapping, segment.end - offset)?
        } else {
            as_asked()?
        };
        if flags & libc::MREMAP_FIXED != 0 {
            self.forget_covered(&mut local, new_addr, new_size, Some(attachment.entry));
        }
        let Some(position) = local.attachments.iter().position(|a| a.entry == attachment.entry) else {
            return Ok(moved);
        };
        if old_len == 0 || flags & libc::MREMAP_DONTUNMAP != 0 {
            // A second mapping of the same pages, which Linux counts, and
            // detaches by shmdt when it maps the segment from its start.
            if offset == segment.offset {
                self.count_copy(&mut local, &attachment, moved, new_size);
            }
        } else if old == attachment.addr {
            let whole = old_len >= page_up(attachment.len);
            let moved_attachment = &mut local.attachments[position];
            moved_attachment.addr = moved;
            moved_attachment.len = new_size;
            moved_attachment.split |= !whole;
        } else {
            local.attachments[position].split = true;
        }
        Ok(moved)
    }

    /// mremap growing [old, old + old_size) to `new_size` where the pages
    /// past `room` bytes would lie past its segment: the kernel grows it up
    /// to the segment's end, then the rest is mapped from `BEYOND_DATA`;
    /// where that rest has no room, the mapping moves (MREMAP_MAYMOVE) or
    /// the call fails with ENOMEM, as the kernel's own growth would.
    #[allow(clippy::too_many_arguments)]
    fn grow_past_segment(
        &self,
        old: usize,
        old_size: usize,
        new_size: usize,
        flags: i32,
        new_addr: usize,
        mapping: &Mapping,
        room: u64,
    ) -> SysResult<usize> {
        if flags & libc::MREMAP_DONTUNMAP != 0 {
            // It may not resize.
            return Err(libc::EINVAL);
        }
        let new_len = page_up(new_size);
        let middle = page_up(old_size).max(room as usize).min(new_len);
        // SAFETY: the program's call, growing no further than its segment.
        let grown = unsafe { sys::mremap(old, old_size, middle, flags, new_addr) }?;
        let read_only_fd = if mapping.perms[1] == b'w' { None } else { Some(sys::reopen_read_only(self.fd())?) };
        let fd = read_only_fd.unwrap_or(self.fd());
        let map_rest = |at: usize, fixed: i32| {
            // SAFETY: MAP_FIXED only over the program's own target range
            // (MREMAP_FIXED) or over our own reservation below.
            unsafe {
                sys::mmap(at + middle, new_len - middle, mapping.prot(), libc::MAP_SHARED | fixed, fd, BEYOND_DATA)
            }
        };
        let fixed = if flags & libc::MREMAP_FIXED != 0 { libc::MAP_FIXED } else { libc::MAP_FIXED_NOREPLACE };
        let result = match map_rest(grown, fixed) {
            Ok(_) => Ok(grown),
            Err(libc::EEXIST) if flags & libc::MREMAP_MAYMOVE != 0 => {
                self.move_and_map_rest(grown, middle, new_len, &map_rest)
            }
            Err(e) => Err(if e == libc::EEXIST { libc::ENOMEM } else { e }),
        };
        if result.is_err() && grown == old && middle > page_up(old_size) {
            // Back to the size it had; shrinking in place cannot fail.
            // SAFETY: the part we grew, given back.
            let _ = unsafe { sys::mremap(old, middle, old_size, 0, 0) };
        }
        if let Some(fd) = read_only_fd {
            let _ = sys::close(fd);
        }
        result
    }

    /// Moves the `middle` bytes at `at` to a free range of `new_len` bytes,
    /// then maps the rest there.
    fn move_and_map_rest(
        &self,
        at: usize,
        middle: usize,
        new_len: usize,
        map_rest: &dyn Fn(usize, i32) -> SysResult<usize>,
    ) -> SysResult<usize> {
        let private_anon = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        // SAFETY: a new reservation where the kernel chooses.
        let target =
            unsafe { sys::mmap(0, new_len, libc::PROT_NONE, private_anon, -1, 0) }.map_err(|_| libc::ENOMEM)?;
        let fixed_move = libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED;
        // SAFETY: the program's mapping moved onto our reservation.
        if let Err(e) = unsafe { sys::mremap(at, middle, middle, fixed_move, target) } {
            // SAFETY: our reservation, unused.
            let _ = unsafe { sys::munmap(target, new_len) };
            return Err(e);
        }
        map_rest(target, libc::MAP_FIXED).map(|_| target)
    }

    /// Counts `[addr, addr + len)`, a new mapping of `of`'s segment from its
    /// first page, as an attachment.
    fn count_copy(&self, local: &mut Local, of: &Attachment, addr: usize, len: usize) {
        let Some(rec) = local.record.filter(|&rec| self.region.record_current(rec)) else {
            return;
        };
        let region = &self.region;
        // Never waiting for the segment's lock under the facility lock
        // (see `SlotTable::lock_facility_and_slot`).
        let Ok((_fac, Some((_, _slot_guard)))) = region.lock_facility_and_slot(|| Ok(Some(of.slot))) else {
            return;
        };
        let slot = region.live_shm_slot(of.slot);
        if !slot.head.is_live() || slot.head.seq.load(Relaxed) != of.seq {
            return;
        }
        let Ok(entry) = region.push_attach_entry(rec, of.slot) else {
            return;
        };
        slot.nattch.fetch_add(1, Relaxed);
        slot.atime.store(sys::realtime_seconds(), Relaxed);
        slot.lpid.store(sys::getpid(), Relaxed);
        local.attachments.push(Attachment { addr, len, entry, split: false, ..*of });
        self.attachment_count.store(local.attachments.len(), Relaxed);
    }

    /// Unmaps what shmdt takes of `attachment`: all of it, or, once it was
    /// cut into pieces, the pieces that map its segment where an unmoved
    /// attachment would (or past its end), as Linux's shmdt does.
    pub(super) fn unmap_attachment(&self, attachment: &Attachment) {
        let mappings = if attachment.split { sys::mappings_in(attachment.addr, attachment.end()) } else { None };
        let Some(mappings) = mappings else {
            // SAFETY: the range is this process's attachment, which the caller gives up.
            let _ = unsafe { sys::munmap(attachment.addr, attachment.len) };
            return;
        };
        let Some(segment) = self.segment_of(attachment) else {
            // SAFETY: the range is this process's attachment, which the caller gives up.
            let _ = unsafe { sys::munmap(attachment.addr, attachment.len) };
            return;
        };
        let segment_offset = segment.offset;
        for mapping in mappings.iter().filter(|m| self.is_region(m)) {
            let (from, to) = (mapping.start.max(attachment.addr), mapping.end.min(attachment.end()));
            let offset = mapping.offset_of(from);
            if offset >= BEYOND_DATA || offset == segment_offset + (from - attachment.addr) as u64 {
                // SAFETY: a piece of the attachment the caller gives up.
                let _ = unsafe { sys::munmap(from, to - from) };
            }
        }
    }
}
