//! The namespace region: one memfd per box, mapped by every process of it.
//!
//! Owns: the layout of the memfd, its versioned header, creation (by the
//! launcher) and attachment (by each process), the refusal of a region
//! that is of another layout version or damaged, and the report of a value
//! in it that cannot be right (`corrupt`).
//!
//! Layout of the memfd (offsets fixed for a given `LAYOUT_VERSION`):
//!
//! ```text
//! 0                 Header (magic, version, sizes, box id, check, limits,
//!                   facility headers)
//! SHM_SLOTS_OFFSET  ShmSlot[IPCMNI]          the shm slot table
//! PROCS_OFFSET      ProcRecord[MAX_PROCS]    processes that hold box state
//! PIDS_OFFSET       i32[MAX_PROCS]           each record's pid, densely
//! ATTACH_OFFSET     AttachEntry[MAX_ATTACH]  shm attachments by process
//! SEM_SLOTS_OFFSET  SemSlot[IPCMNI]          the semaphore slot table
//! MSG_SLOTS_OFFSET  MsgSlot[IPCMNI]          the message queue slot table
//! HEAP_OFFSET       the heap: an unused page, then the semaphore array
//!                   zone (one array of ZONE_SEMS per sem slot), then from
//!                   HEAP_START blocks: larger semaphore arrays, journals,
//!                   undo records, waiters, messages
//! META_SIZE         segment data, page aligned, allocated upward
//! ```
//!
//! The file is sparse: a table page costs memory only once a slot on it is
//! first used, and segment data only once touched; memory of removed segments
//! is returned with a hole punch, and so are the free slots at a table's
//! top with their zone arrays (`table::SlotTable::trim_free_top`) and the
//! heap's free blocks when the box shrinks (see `collect`). Memory
//! therefore grows with use, not with the configured limits, and goes back
//! as use does.
//!
//! Invariants: every field of `Header` above `limits` is immutable after
//! `ready` is set; `check` is a hash of them, so a region whose immutable part
//! was damaged is refused rather than misread. Nothing in the region holds a
//! pointer, only indices and file offsets.
//!
//! Mapping (process-local, see `Area`): a process maps the header when it
//! joins, and each of the seven areas after it (the six tables, the heap)
//! only as far as it has reached into it, at `base + file offset` so that
//! one base serves all of them. An access past what this process has mapped
//! of an area (one compare in `table_entry` and `heap_ref`) maps more of it
//! (`grow`): a table as far as the entry, at least doubling; the heap as
//! far as the block, in 1 MiB steps (and never for an offset past its bump:
//! one read from a corrupt region). So a process's address
//! space follows the box's use, not the limits, and stays within an
//! address-space limit (`ulimit -v`). The base is chosen in a range of the
//! address space that the kernel's own placement does not reach (`BASES`),
//! and each area grows in place with MAP_FIXED_NOREPLACE, so a growth never
//! replaces a mapping of the program's; two threads that grow the same area
//! at once tell each other's mapping from a foreign one by the file and
//! offset /proc/self/maps shows. A growth changes nothing in the region, so
//! a death in one leaves nothing to repair. Areas are never unmapped while
//! the region is: a reference once given stays valid. The allocators (slot
//! indices, process records, attachment entries, the heap's bump) map what
//! they hand out before handing it out, so a box that cannot grow fails the
//! creating call with ENOMEM; a process that cannot map what another made
//! (its address-space limit reached) says so once on stderr and sees the
//! entry as zeroed memory of its own (see `Region::spare`).
//!
//! The rest of the region is written by every process of the box, and a
//! program that writes over its mapping (a stray pointer) can leave anything
//! there. So a region damaged after attachment never crashes a process: no
//! index, offset, link or count read from it is trusted. Each is checked
//! where it is read, and a call that meets one out of its range fails with
//! EINVAL (`corrupt`, said once per process on stderr), or skips what it
//! names where no caller is told (a reaper, an exit). Beneath those checks,
//! the accessors never reach outside their table, or the heap and the pad
//! after it, whatever they are given (`table_entry`, `Region::heap_ref`):
//! a value no check caught gives a wrong answer in a box that is damaged
//! already, never a fault. One exception: the links of its robust list
//! that glibc keeps inside a lock while a thread holds it (see `lock`),
//! which the thread follows as pointers when it lets go (in glibc's code
//! as in ours): overwritten in that window, they can crash the holder.

use crate::lock::RobustMutex;
use crate::procs::ProcTable;
use crate::shm::{ShmFacility, ShmSlot};
use crate::sys::{self, Errno, SysResult};
use crate::table::FacilityHeader;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::fmt;

pub const MAGIC: [u8; 8] = *b"IPCBOX\0R";
/// Bump on any change to the bytes of the region.
pub const LAYOUT_VERSION: u32 = 15;
const READY: u32 = 0x5245_4459;

/// Slot index bits of an id, as Linux's IPCMNI_SHIFT.
pub const IDX_BITS: u32 = 15;
/// Slots per facility table (Linux's IPCMNI).
pub const IPCMNI: u32 = 1 << IDX_BITS;
pub const MAX_PROCS: u32 = 1 << 16;
pub const MAX_ATTACH: u32 = 1 << 20;

pub const PAGE_SIZE: u64 = 4096;
/// Semaphores a set's array holds in the semaphore array zone (see
/// `sem::zone_array`): a set of up to this many semaphores uses its slot's
/// own array there, at a place fixed by the slot's index.
pub const ZONE_SEMS: u32 = 8;
/// Bytes of the semaphore array zone, at the heap's start (after its
/// unused first page): one array of ZONE_SEMS semaphores per slot.
pub const SEM_ZONE_SIZE: u64 = IPCMNI as u64 * ZONE_SEMS as u64 * core::mem::size_of::<crate::sem::Sem>() as u64;
/// Heap offset of the first block the heap cuts (after the unused first
/// page and the semaphore array zone). A quarter page past the zone: the
/// first blocks (a box's first undo record and journal) would otherwise lie
/// at the same offset within a page as slot 0's array, which x86 cores take
/// for a possible overlap of a store and a later load (4K aliasing): SEM_UNDO
/// P+V measured 42.3 ns against 40.0 (`tool_bench_sem`).
pub const HEAP_START: u64 = PAGE_SIZE + SEM_ZONE_SIZE + 1024;

const fn align_up(v: usize, a: usize) -> usize {
    v.div_ceil(a) * a
}
pub const SHM_SLOTS_OFFSET: usize = align_up(core::mem::size_of::<Header>(), 4096);
pub const PROCS_OFFSET: usize = align_up(SHM_SLOTS_OFFSET + IPCMNI as usize * core::mem::size_of::<ShmSlot>(), 4096);
pub const PIDS_OFFSET: usize =
    align_up(PROCS_OFFSET + MAX_PROCS as usize * core::mem::size_of::<crate::procs::ProcRecord>(), 4096);
pub const ATTACH_OFFSET: usize = align_up(PIDS_OFFSET + MAX_PROCS as usize * 4, 4096);
pub const SEM_SLOTS_OFFSET: usize =
    align_up(ATTACH_OFFSET + MAX_ATTACH as usize * core::mem::size_of::<crate::shm::AttachEntry>(), 4096);
pub const MSG_SLOTS_OFFSET: usize =
    align_up(SEM_SLOTS_OFFSET + IPCMNI as usize * core::mem::size_of::<crate::sem::SemSlot>(), 4096);
pub const HEAP_OFFSET: usize =
    align_up(MSG_SLOTS_OFFSET + IPCMNI as usize * core::mem::size_of::<crate::msg::MsgSlot>(), 2 << 20);
/// Address space of the heap (sparse: it costs only what is used).
pub const HEAP_SIZE: u64 = 4 << 30;
const META_END: usize = HEAP_OFFSET + HEAP_SIZE as usize;
/// Bytes of metadata (header, tables, heap); segment data starts here.
pub const META_SIZE: usize = align_up(META_END, 2 << 20);
const _: () = assert!(META_SIZE == HEAP_OFFSET + HEAP_SIZE as usize, "the heap ends the metadata");
/// Bytes of the header that every process maps when it joins.
const HEADER_MAP: usize = SHM_SLOTS_OFFSET;
/// Memory of its own each process hands out as an entry it cannot reach in
/// the region (see `Region::spare`): every table entry, and every `T` that
/// `Region::heap_ref` gives, fits in it.
pub(crate) const SPARE_SIZE: usize = PAGE_SIZE as usize;

/// The parts of the metadata a process maps on demand, each from its start
/// (see the module notes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Area {
    ShmSlots = 0,
    Procs = 1,
    Pids = 2,
    Attach = 3,
    SemSlots = 4,
    MsgSlots = 5,
    Heap = 6,
}
const AREAS: usize = 7;
const AREA_LIST: [Area; AREAS] =
    [Area::ShmSlots, Area::Procs, Area::Pids, Area::Attach, Area::SemSlots, Area::MsgSlots, Area::Heap];
/// File offset where each area starts; each ends where the next starts.
const AREA_START: [usize; AREAS + 1] = [
    SHM_SLOTS_OFFSET,
    PROCS_OFFSET,
    PIDS_OFFSET,
    ATTACH_OFFSET,
    SEM_SLOTS_OFFSET,
    MSG_SLOTS_OFFSET,
    HEAP_OFFSET,
    META_SIZE,
];
/// A table grows by whole multiples of this, the heap by whole multiples of
/// `HEAP_GROWTH`.
const TABLE_GROWTH: usize = 64 << 10;
const HEAP_GROWTH: usize = 1 << 20;

/// Where bases are tried: 2048 slots of 8 GiB from 32 TiB, below where
/// the kernel places mappings and programs (downward from about 126 TiB; PIE
/// executables and their brk heaps near 85 TiB) and above the shadow
/// memory of AddressSanitizer (below 16 TiB). A slot found taken (another
/// region in the process, a sanitizer's reservation) is passed over.
const BASES: (usize, usize, usize) = (0x2000_0000_0000, 8 << 30, 2048);
const _: () = assert!(BASES.1 >= META_SIZE);

/// Per-box limits, Linux's defaults unless the launcher was told otherwise.
/// Each is read without a lock (a racing change is seen before or after, as
/// with Linux's sysctls) and written, with single stores, by the launcher
/// before `ready` and by writes to the sysctl files (`procfs`).
#[repr(C)]
pub struct Limits {
    pub shmmax: AtomicU64,
    pub shmall: AtomicU64,
    pub shmmni: AtomicU64,
    pub semmsl: AtomicU64,
    pub semmns: AtomicU64,
    pub semopm: AtomicU64,
    pub semmni: AtomicU64,
    pub msgmax: AtomicU64,
    pub msgmnb: AtomicU64,
    pub msgmni: AtomicU64,
    /// The shm_rmid_forced sysctl, 0 or 1 (0 in a new region, as Linux's).
    pub shm_rmid_forced: AtomicU64,
}

pub struct LimitValues {
    pub shmmax: u64,
    pub shmall: u64,
    pub shmmni: u64,
    pub semmsl: u64,
    pub semmns: u64,
    pub semopm: u64,
    pub semmni: u64,
    pub msgmax: u64,
    pub msgmnb: u64,
    pub msgmni: u64,
}

impl Default for LimitValues {
    /// Linux's defaults (include/uapi/linux/shm.h, sem.h, msg.h).
    fn default() -> Self {
        let shm_big = u64::MAX - (1 << 24);
        LimitValues {
            shmmax: shm_big,
            shmall: shm_big,
            shmmni: 4096,
            semmsl: 32000,
            semmns: 32000 * 32000,
            semopm: 500,
            semmni: 32000,
            msgmax: 8192,
            msgmnb: 16384,
            msgmni: 32000,
        }
    }
}

#[repr(C)]
pub struct Header {
    /// Immutable: `MAGIC`.
    pub magic: [u8; 8],
    /// Immutable: `LAYOUT_VERSION` of the library that created the region.
    pub layout_version: u32,
    /// Immutable: `size_of::<Header>()` of that library.
    pub header_size: u32,
    /// Immutable: `META_SIZE` of that library.
    pub meta_size: u64,
    /// Immutable: random, names the box.
    pub box_id: u64,
    /// Immutable: pid of the launcher that created the box.
    pub creator_pid: i32,
    /// Set once to `READY` when the header and locks are initialised.
    pub ready: AtomicU32,
    /// Immutable: hash of the immutable fields above.
    pub check: u64,
    pub limits: Limits,
    /// The process table's header (its own lock).
    pub procs: ProcTable,
    /// The shm facility's header (its own lock).
    pub shm: ShmFacility,
    /// The semaphore facility's header (its own lock).
    pub sem: crate::sem::SemFacility,
    /// The message queue facility's header (its own lock).
    pub msg: crate::msg::MsgFacility,
    /// The heap's header (its own lock).
    pub heap: crate::heap::HeapHeader,
    /// 1 if a named box stays after its last process exits (`ipcbox run
    /// --name NAME --keep`). Written by its creator before the box's file
    /// is published under its name.
    pub keep: AtomicU32,
    /// The collector of lost heap blocks: holds, gate, its lock.
    pub collect: crate::collect::CollectHeader,
    /// 1 once a process joined that takes locks through glibc rather than
    /// inline (see `lock`): the tables then keep their memory, since
    /// giving a slot back relies on every holder of a stale slot's lock
    /// taking it inline (`RobustMutex::remake`). Set by that process as
    /// it joins; never cleared.
    pub glibc_locks: AtomicU32,
}

impl Header {
    fn compute_check(&self) -> u64 {
        // FNV-1a over the immutable fields.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for b in bytes {
                h ^= *b as u64;
                h = h.wrapping_mul(0x100_0000_01b3);
            }
        };
        eat(&self.magic);
        eat(&self.layout_version.to_le_bytes());
        eat(&self.header_size.to_le_bytes());
        eat(&self.meta_size.to_le_bytes());
        eat(&self.box_id.to_le_bytes());
        eat(&self.creator_pid.to_le_bytes());
        h
    }
}

/// Why a region cannot be used. Each renders as one line for stderr.
#[derive(Debug, PartialEq, Eq)]
pub enum RegionError {
    BadDescriptor(i32, Errno),
    NotRegion(i32),
    TooSmall(i32, u64),
    VersionMismatch {
        found: u32,
        expected: u32,
    },
    Corrupt(&'static str),
    NotReady,
    /// The file size limit (bytes) is below what the region's file needs.
    FileSizeLimit(u64),
    System(&'static str, Errno),
}

impl fmt::Display for RegionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use RegionError::*;
        match self {
            BadDescriptor(fd, e) => write!(f, "ipcbox: region descriptor {fd} is not usable ({}): run the program with `ipcbox run`", errno_name(*e)),
            NotRegion(fd) => write!(f, "ipcbox: descriptor {fd} is not an ipcbox region (bad magic): the environment points at a wrong descriptor; restart the box with `ipcbox run`"),
            TooSmall(fd, size) => write!(f, "ipcbox: region descriptor {fd} is truncated ({size} bytes): the box is damaged; restart it with `ipcbox run`"),
            VersionMismatch { found, expected } => write!(f, "ipcbox: region layout version {found} does not match this libipcbox.so (version {expected}): run every process of a box with the same ipcbox build"),
            Corrupt(what) => write!(f, "ipcbox: region header is corrupt ({what}): the box is damaged; restart it with `ipcbox run`"),
            NotReady => write!(f, "ipcbox: region was never initialised: restart the box with `ipcbox run`"),
            FileSizeLimit(limit) => write!(
                f,
                "ipcbox: the file size limit (ulimit -f: {} KiB) is below the {} KiB the box's memory file needs: raise it (ulimit -f unlimited)",
                limit / 1024,
                META_SIZE / 1024
            ),
            System(what, e) => write!(f, "ipcbox: {what} failed ({})", errno_name(*e)),
        }
    }
}

pub fn errno_name(e: Errno) -> String {
    // SAFETY: strerror returns a static or thread-local NUL-terminated string.
    let msg = unsafe { std::ffi::CStr::from_ptr(libc::strerror(e)) };
    msg.to_string_lossy().into_owned()
}

/// A mapping of the region's metadata in this process.
pub struct Region {
    /// Where file offset 0 of the region is (or would be) mapped; immutable.
    base: usize,
    /// Per area, the bytes mapped here from its start: raised (never
    /// lowered) by `grow` once the mapping is in place.
    mapped: [core::sync::atomic::AtomicUsize; AREAS],
    /// The region file's device and inode, to tell its mappings; immutable.
    file: (u64, u64),
    /// `SPARE_SIZE` bytes of this process's own memory; immutable.
    spare: usize,
    /// Growths that found part of their range mapped already (`fill`).
    growth_races: core::sync::atomic::AtomicU32,
    /// This process's descriptor for the memfd; it moves if the program
    /// takes its number (see the shim).
    fd: core::sync::atomic::AtomicI32,
    /// Set when a mutex in the region stays held by a thread of this
    /// process past the region's drop: the mapping is then kept (see
    /// `Namespace::release_liveness`).
    pub(crate) keep_mapped: core::sync::atomic::AtomicBool,
}

// SAFETY: the region is shared memory designed for concurrent access; every
// mutable field is an atomic or guarded by a robust mutex in the region.
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

impl Region {
    /// Creates a fresh region in a new memfd (close-on-exec; the launcher
    /// decides how to hand it on) with the given limits.
    pub fn create(limits: &LimitValues) -> Result<Region, RegionError> {
        let fd = sys::memfd_create(c"ipcbox", libc::MFD_CLOEXEC).map_err(|e| RegionError::System("memfd_create", e))?;
        Self::create_on(fd, limits)
    }

    /// Makes a fresh region in the empty file behind `fd` (a named box's
    /// file on a tmpfs), which it then owns.
    pub fn create_on(fd: i32, limits: &LimitValues) -> Result<Region, RegionError> {
        sys::grow_file(fd, META_SIZE as u64).map_err(|e| match e {
            libc::EFBIG => RegionError::FileSizeLimit(sys::file_size_limit()),
            e => RegionError::System("ftruncate of the region", e),
        })?;
        let st = sys::fstat(fd).map_err(|e| RegionError::BadDescriptor(fd, e))?;
        let region = Self::map(fd, &st)?;
        // SAFETY: the mapping starts with a Header and is not yet shared with
        // any other process or thread.
        let header = unsafe { &mut *(region.base as *mut Header) };
        header.magic = MAGIC;
        header.layout_version = LAYOUT_VERSION;
        header.header_size = core::mem::size_of::<Header>() as u32;
        header.meta_size = META_SIZE as u64;
        header.box_id = random_u64();
        header.creator_pid = sys::getpid();
        header.check = header.compute_check();
        let l = &header.limits;
        for (cell, value) in [
            (&l.shmmax, limits.shmmax),
            (&l.shmall, limits.shmall),
            (&l.shmmni, limits.shmmni),
            (&l.semmsl, limits.semmsl),
            (&l.semmns, limits.semmns),
            (&l.semopm, limits.semopm),
            (&l.semmni, limits.semmni),
            (&l.msgmax, limits.msgmax),
            (&l.msgmnb, limits.msgmnb),
            (&l.msgmni, limits.msgmni),
        ] {
            cell.store(value, Ordering::Relaxed);
        }
        // SAFETY: the region is not yet published to any other process.
        unsafe {
            header.procs.init();
            header.shm.init();
            header.sem.init();
            header.msg.init();
            header.heap.init();
            header.collect.init();
        }
        header.ready.store(READY, Ordering::Release);
        Ok(region)
    }

    /// Maps and validates the region behind `fd`.
    pub fn attach(fd: i32) -> Result<Region, RegionError> {
        let st = sys::fstat(fd).map_err(|e| RegionError::BadDescriptor(fd, e))?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(RegionError::NotRegion(fd));
        }
        let size = st.st_size as u64;
        // Validate the start of the header before trusting any size in it:
        // first what the file is, then which layout, then whether it is whole.
        let mut head = [0u8; 24];
        let got = sys::pread(fd, &mut head, 0).map_err(|e| RegionError::BadDescriptor(fd, e))?;
        if got < MAGIC.len() || head[..8] != MAGIC {
            return Err(RegionError::NotRegion(fd));
        }
        if got < head.len() {
            return Err(RegionError::TooSmall(fd, size));
        }
        let version = u32::from_ne_bytes(head[8..12].try_into().unwrap());
        if version != LAYOUT_VERSION {
            return Err(RegionError::VersionMismatch { found: version, expected: LAYOUT_VERSION });
        }
        let header_size = u32::from_ne_bytes(head[12..16].try_into().unwrap());
        let meta_size = u64::from_ne_bytes(head[16..24].try_into().unwrap());
        if header_size as usize != core::mem::size_of::<Header>() || meta_size != META_SIZE as u64 {
            return Err(RegionError::Corrupt("sizes do not match the layout version"));
        }
        if size < META_SIZE as u64 {
            return Err(RegionError::TooSmall(fd, size));
        }
        let region = Self::map(fd, &st)?;
        let header = region.header();
        if header.ready.load(Ordering::Acquire) != READY {
            return Err(RegionError::NotReady);
        }
        if header.check != header.compute_check() {
            return Err(RegionError::Corrupt("checksum mismatch"));
        }
        Ok(region)
    }

    /// Maps the header of the region behind `fd`, of which `st` is the
    /// fstat, at a base chosen for it.
    fn map(fd: i32, st: &libc::stat) -> Result<Region, RegionError> {
        let (rw, private) = (libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS);
        // SAFETY: fresh anonymous memory of our own.
        let spare = unsafe { sys::mmap(0, SPARE_SIZE, rw, private, -1, 0) }
            .map_err(|e| RegionError::System("mmap of the region", e))?;
        let base = Self::map_header(fd, st.st_ino).inspect_err(|_| {
            // SAFETY: the spare page mapped above, not yet handed out.
            let _ = unsafe { sys::munmap(spare, SPARE_SIZE) };
        })?;
        Ok(Region {
            base,
            mapped: Default::default(),
            file: (st.st_dev, st.st_ino),
            spare,
            growth_races: Default::default(),
            fd: core::sync::atomic::AtomicI32::new(fd),
            keep_mapped: core::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Maps the header at the first free base of `BASES` from one the
    /// region file's inode picks (no system call on the join path: every
    /// process of a box tries the same bases, regions of different boxes in
    /// one process different ones); where none can be had (a small address
    /// space), at a place the kernel finds room for the whole metadata at.
    fn map_header(fd: i32, inode: u64) -> Result<usize, RegionError> {
        let (first, step, slots) = BASES;
        let start = (inode.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize % slots;
        let error = |e| RegionError::System("mmap of the region", e);
        for attempt in 0..slots {
            let base = first + (start + attempt) % slots * step;
            match Self::map_file(base, HEADER_MAP, fd, 0) {
                Ok(()) => return Ok(base),
                Err(libc::EEXIST) => continue,
                // An address-space limit: no other base does better.
                Err(libc::ENOMEM) if sys::prlimit_soft(libc::RLIMIT_AS) != u64::MAX => return Err(error(libc::ENOMEM)),
                Err(_) => break,
            }
        }
        // SAFETY: a reservation only to learn where a hole of this size is;
        // gone before anything is mapped there.
        let hole = unsafe {
            sys::mmap(
                0,
                META_SIZE,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        }
        .map_err(error)?;
        // SAFETY: the reservation just made.
        let _ = unsafe { sys::munmap(hole, META_SIZE) };
        Self::map_file(hole, HEADER_MAP, fd, 0).map_err(error)?;
        Ok(hole)
    }

    /// Maps `len` bytes of the file from `offset` at `addr`, only if nothing
    /// is mapped there (EEXIST otherwise).
    fn map_file(addr: usize, len: usize, fd: i32, offset: u64) -> Result<(), Errno> {
        let rw = libc::PROT_READ | libc::PROT_WRITE;
        // SAFETY: MAP_FIXED_NOREPLACE replaces nothing: it maps into a free
        // range or fails.
        let got = unsafe { sys::mmap(addr, len, rw, libc::MAP_SHARED | libc::MAP_FIXED_NOREPLACE, fd, offset)? };
        if got != addr {
            // A kernel before 4.17 takes the flag as a mere hint.
            // SAFETY: the mapping just made, elsewhere.
            let _ = unsafe { sys::munmap(got, len) };
            return Err(libc::ENOMEM);
        }
        Ok(())
    }

    /// Maps area `area` in this process at least up to `need` bytes from
    /// its start (see the module notes). ENOMEM where the address space is
    /// full, or taken by a mapping of the program's.
    #[cold]
    #[inline(never)]
    pub(crate) fn grow(&self, area: Area, need: usize) -> Result<(), Errno> {
        let (start, end) = (AREA_START[area as usize], AREA_START[area as usize + 1]);
        let mapped = &self.mapped[area as usize];
        let have = mapped.load(Ordering::Acquire);
        if need <= have {
            return Ok(());
        }
        if need > end - start {
            return Err(libc::EINVAL);
        }
        // The descriptor is the program's to misuse (the shim moves it out of
        // the way of dup2 onto its number, but not past every limit): a
        // number that now names another file must not be mapped as the box.
        if sys::fstat(self.fd()).map(|st| (st.st_dev, st.st_ino)) != Ok(self.file) {
            return Err(libc::EBADF);
        }
        let growth = if area == Area::Heap { HEAP_GROWTH } else { TABLE_GROWTH };
        let wanted = if area == Area::Heap { need } else { need.max(have * 2) };
        let target = align_up(wanted, growth).min(end - start);
        let (from, to) = (self.base + start + have, self.base + start + target);
        match Self::map_file(from, to - from, self.fd(), (start + have) as u64) {
            Ok(()) => {}
            Err(libc::EEXIST) => self.fill(from, to)?,
            Err(e) => return Err(e),
        }
        crate::faults::crash_point("region.grown");
        mapped.fetch_max(target, Ordering::Release);
        Ok(())
    }

    /// Maps what is not mapped of [from, to), where some of it is: by
    /// another thread of this process growing the same area (its mapping
    /// is of the region file at the offset its address says), or by the
    /// program (then ENOMEM: the area cannot grow in place).
    fn fill(&self, from: usize, to: usize) -> Result<(), Errno> {
        self.growth_races.fetch_add(1, Ordering::Relaxed);
        for _ in 0..8 {
            let Some(found) = sys::mappings_in(from, to) else { return Err(libc::ENOMEM) };
            let ours = |m: &sys::Mapping| {
                (m.dev, m.inode) == self.file
                    && m.offset_of(m.start.max(from)) == (m.start.max(from) - self.base) as u64
            };
            if !found.iter().all(ours) {
                return Err(libc::ENOMEM);
            }
            let (mut at, mut raced) = (from, false);
            let gaps = found.iter().map(|m| (m.start, m.end)).chain([(to, to)]);
            for (next_start, next_end) in gaps {
                if next_start > at {
                    match Self::map_file(at, next_start.min(to) - at, self.fd(), (at - self.base) as u64) {
                        Ok(()) => {}
                        Err(libc::EEXIST) => raced = true,
                        Err(e) => return Err(e),
                    }
                }
                at = at.max(next_end.min(to));
            }
            if !raced {
                return Ok(());
            }
        }
        Err(libc::ENOMEM)
    }

    /// Where this process has `len` bytes at byte `at` of `area`, mapping
    /// more of it if need be; the spare page (with a line on stderr) where
    /// it cannot, for a `len` that fits in it.
    #[cold]
    #[inline(never)]
    pub(crate) fn reach(&self, area: Area, at: usize, len: usize) -> usize {
        match self.grow(area, at + len) {
            Ok(()) => self.base + AREA_START[area as usize] + at,
            Err(e) => {
                cannot_grow(e);
                self.spare()
            }
        }
    }

    /// This process's own `SPARE_SIZE` bytes, zeroed as far as this process
    /// knows: what an accessor gives for an entry it cannot reach, so that
    /// it never faults (see the module notes). Its contents mean nothing.
    pub(crate) fn spare(&self) -> usize {
        self.spare
    }

    /// Address here of the `len` bytes at byte `offset` of the metadata,
    /// mapped first if need be: for tests that reach into the region.
    #[doc(hidden)]
    pub fn metadata_for_tests(&self, offset: usize, len: usize) -> usize {
        if let Some(area) = (0..AREAS).rev().find(|&area| offset >= AREA_START[area]) {
            let area = AREA_LIST[area];
            self.grow(area, offset + len - AREA_START[area as usize]).expect("the region maps");
        }
        self.base + offset
    }

    /// Where byte `offset` of the metadata is, or would be, mapped here:
    /// for tests that place mappings of their own there.
    #[doc(hidden)]
    pub fn metadata_address(&self, offset: usize) -> usize {
        self.base + offset
    }

    /// How many growths found part of their range mapped already (by
    /// another thread's growth): for tests of that race.
    #[doc(hidden)]
    pub fn growth_races(&self) -> u32 {
        self.growth_races.load(Ordering::Relaxed)
    }

    /// Bytes of `area` this process has mapped. Relaxed: an access below
    /// it depends on it by a branch, and the mapping was in place (a system
    /// call done) before the value was stored.
    #[inline(always)]
    pub(crate) fn mapped(&self, area: Area) -> usize {
        self.mapped[area as usize].load(Ordering::Relaxed)
    }

    /// Makes sure this process maps `area` up to `need` bytes from its
    /// start: for an allocator, before it hands out what lies there.
    pub(crate) fn map_area(&self, area: Area, need: usize) -> SysResult<()> {
        if need <= self.mapped(area) {
            return Ok(());
        }
        self.grow(area, need).map_err(|e| if e == libc::EINVAL { e } else { libc::ENOMEM })
    }

    pub fn fd(&self) -> i32 {
        self.fd.load(Ordering::Relaxed)
    }

    /// Where a slot table of `T` slots starting at file offset `start` lies,
    /// for giving its free top back (see `table::TableMemory`); None in a
    /// box where some process takes locks through glibc.
    pub(crate) fn slot_table_memory<T>(&self, start: usize) -> Option<crate::table::TableMemory> {
        (self.header().glibc_locks.load(Ordering::Relaxed) == 0).then(|| crate::table::TableMemory {
            fd: self.fd(),
            start,
            slot_size: core::mem::size_of::<T>(),
            region_base: self.base,
        })
    }

    /// The region file's (device, inode): what /proc/self/maps shows of it.
    pub(crate) fn file_id(&self) -> (u64, u64) {
        self.file
    }

    /// Address of the start of `area` in this process (mapped or not).
    #[inline(always)]
    pub(crate) fn area_base(&self, area: Area) -> usize {
        self.base + AREA_START[area as usize]
    }

    /// Points the mapping at a new descriptor number of the same memfd (after
    /// the old number had to be given up).
    pub fn set_fd(&self, fd: i32) {
        self.fd.store(fd, Ordering::Relaxed);
    }

    pub fn header(&self) -> &Header {
        // SAFETY: the header is mapped from the base for as long as self lives.
        unsafe { &*(self.base as *const Header) }
    }

    /// The `index`-th element of the table of `T` that is `area`, whose
    /// `capacity` is a power of two. An index past the table (the caller
    /// checks those it read from the region) is taken modulo its capacity:
    /// whatever the index, the entry lies inside the table, mapped here
    /// first if it was not (or, if it cannot be, in the spare page).
    ///
    /// # Safety
    /// `area` must be a table, with `T` its element type and `capacity`
    /// its number of elements.
    #[inline(always)]
    pub(crate) unsafe fn table_entry<T>(&self, area: Area, capacity: u32, index: u32) -> &T {
        const { assert!(core::mem::size_of::<T>() <= SPARE_SIZE) };
        debug_assert!(capacity.is_power_of_two() && area != Area::Heap);
        let at = (index & (capacity - 1)) as usize * core::mem::size_of::<T>();
        let address = if at + core::mem::size_of::<T>() <= self.mapped(area) {
            self.area_base(area) + at
        } else {
            self.reach(area, at, core::mem::size_of::<T>())
        };
        // SAFETY: forwarded to the caller's contract; the entry is mapped
        // (or is the spare page) and aligned, as the table starts on a page.
        unsafe { &*(address as *const T) }
    }

    pub fn limits(&self) -> &Limits {
        &self.header().limits
    }

    pub fn box_id(&self) -> u64 {
        self.header().box_id
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        if self.keep_mapped.load(core::sync::atomic::Ordering::Relaxed) {
            return;
        }
        // SAFETY: the header, what was mapped of each area, and the spare
        // page are ours; references into them do not outlive self.
        unsafe {
            let _ = sys::munmap(self.base, HEADER_MAP);
            for (mapped, start) in self.mapped.iter().zip(AREA_START) {
                let mapped = mapped.load(Ordering::Relaxed);
                if mapped > 0 {
                    let _ = sys::munmap(self.base + start, mapped);
                }
            }
            let _ = sys::munmap(self.spare, SPARE_SIZE);
        }
    }
}

/// Says once per process that it cannot map more of the region.
#[cold]
fn cannot_grow(e: Errno) {
    static SAID: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
    if !SAID.swap(true, Ordering::Relaxed) {
        let why = match e {
            libc::EBADF => {
                "its descriptor no longer names the box's file: the program closed or replaced it".to_string()
            }
            e => format!("{}: raise the address-space limit (ulimit -v)", errno_name(e)),
        };
        let line =
            format!("ipcbox: cannot map more of the box's region ({why}); calls on objects it holds see them empty\n");
        // SAFETY: writing our own buffer to stderr.
        let _ = unsafe { sys::syscall6(libc::SYS_write, [2, line.as_ptr() as usize, line.len(), 0, 0, 0]) };
    }
}

/// Says once per process that a value read from the region cannot be
/// right (`what` names it) and returns the errno of the call that met it.
/// Nothing in the region can be trusted then; the box should be restarted.
#[cold]
#[inline(never)]
pub(crate) fn corrupt(what: &str) -> Errno {
    static SAID: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
    if !SAID.swap(true, Ordering::Relaxed) {
        let line = format!(
            "ipcbox: the box's region is corrupt ({what}); calls that meet it fail with EINVAL: restart the box with `ipcbox run`\n"
        );
        // SAFETY: writing our own buffer to stderr.
        let _ = unsafe { sys::syscall6(libc::SYS_write, [2, line.as_ptr() as usize, line.len(), 0, 0, 0]) };
    }
    libc::EINVAL
}

fn random_u64() -> u64 {
    let mut v = 0u64;
    // SAFETY: getrandom writes at most 8 bytes into v.
    let _ = unsafe { sys::syscall6(libc::SYS_getrandom, [&mut v as *mut u64 as usize, 8, 0, 0, 0, 0]) };
    v ^ sys::realtime_seconds() as u64
}

/// Stores `value` unless the cell holds it already: a read keeps the cache
/// line shared with other cores, a write takes it from them. For fields
/// that every operation would otherwise rewrite with the same value (last
/// pid, time in seconds).
pub(crate) fn store_if_changed_i32(cell: &core::sync::atomic::AtomicI32, value: i32) {
    if cell.load(Ordering::Relaxed) != value {
        cell.store(value, Ordering::Relaxed);
    }
}

/// As `store_if_changed_i32`.
pub(crate) fn store_if_changed_u32(cell: &core::sync::atomic::AtomicU32, value: u32) {
    if cell.load(Ordering::Relaxed) != value {
        cell.store(value, Ordering::Relaxed);
    }
}

/// As `store_if_changed_i32`.
pub(crate) fn store_if_changed_i64(cell: &core::sync::atomic::AtomicI64, value: i64) {
    if cell.load(Ordering::Relaxed) != value {
        cell.store(value, Ordering::Relaxed);
    }
}

/// Facility locks are stored in the header and initialised with it.
pub(crate) fn init_lock(lock: &RobustMutex) {
    // SAFETY: called only from `create`, before the region is shared.
    unsafe { lock.init() };
}

pub(crate) fn init_facility(facility: &FacilityHeader) {
    init_lock(&facility.lock);
    facility.next_id.store(-1, core::sync::atomic::Ordering::Relaxed);
}
