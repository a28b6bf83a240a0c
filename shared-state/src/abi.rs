//! The Linux user ABI of System V IPC on 64-bit targets (x86_64, aarch64):
//! the structures glibc passes straight to the kernel, and the constants.
//!
//! Owns: byte layouts only; no behaviour. Layouts follow the kernel's
//! `ipc64_perm`, `shmid64_ds`, `shminfo64` and `shm_info`, which glibc uses
//! unchanged on these targets.

pub const IPC_PRIVATE: i32 = 0;
pub const IPC_CREAT: i32 = 0o1000;
pub const IPC_EXCL: i32 = 0o2000;
pub const IPC_NOWAIT: i32 = 0o4000;

pub const IPC_RMID: i32 = 0;
pub const IPC_SET: i32 = 1;
pub const IPC_STAT: i32 = 2;
pub const IPC_INFO: i32 = 3;
/// Flag glibc ORs into `cmd` to ask for the 64-bit structures; the kernel strips it.
pub const IPC_64: i32 = 0x100;

pub const SHM_LOCK: i32 = 11;
pub const SHM_UNLOCK: i32 = 12;
pub const SHM_STAT: i32 = 13;
pub const SHM_INFO: i32 = 14;
pub const SHM_STAT_ANY: i32 = 15;

pub const SHM_RDONLY: i32 = 0o10000;
pub const SHM_RND: i32 = 0o20000;
pub const SHM_REMAP: i32 = 0o40000;
pub const SHM_EXEC: i32 = 0o100000;
pub const SHM_HUGETLB: i32 = 0o4000;
pub const SHM_NORESERVE: i32 = 0o10000;

/// Mode bits kept in `ipc_perm.mode` beside the permission bits.
pub const SHM_DEST: u32 = 0o1000;
pub const SHM_LOCKED: u32 = 0o2000;

/// `S_IRWXUGO`: the bits of a mode that IPC_SET and creation may set.
pub const MODE_PERMISSION_BITS: u32 = 0o777;

/// Capabilities Linux checks for System V IPC.
pub const CAP_IPC_LOCK: u32 = 14;
pub const CAP_IPC_OWNER: u32 = 15;
pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_SYS_RESOURCE: u32 = 24;

#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct IpcPerm {
    pub key: i32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    pub mode: u32,
    pub seq: u16,
    pub pad2: u16,
    pub unused1: u64,
    pub unused2: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct ShmidDs {
    pub perm: IpcPerm,
    pub segsz: u64,
    pub atime: i64,
    pub dtime: i64,
    pub ctime: i64,
    pub cpid: i32,
    pub lpid: i32,
    pub nattch: u64,
    pub unused4: u64,
    pub unused5: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct ShmInfo64 {
    pub shmmax: u64,
    pub shmmin: u64,
    pub shmmni: u64,
    pub shmseg: u64,
    pub shmall: u64,
    pub unused: [u64; 4],
}

#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct ShmInfo {
    pub used_ids: i32,
    pub shm_tot: u64,
    pub shm_rss: u64,
    pub shm_swp: u64,
    pub swap_attempts: u64,
    pub swap_successes: u64,
}

const _: () = assert!(core::mem::size_of::<IpcPerm>() == 48);
const _: () = assert!(core::mem::size_of::<ShmidDs>() == 112);
const _: () = assert!(core::mem::size_of::<ShmInfo64>() == 72);
const _: () = assert!(core::mem::size_of::<ShmInfo>() == 48);

/// Views a plain-old-data ABI value as bytes, for copying to user memory.
pub fn as_bytes<T: Copy>(value: &T) -> &[u8] {
    // SAFETY: T is one of the repr(C) structs above: initialised, no padding
    // holes with undefined content (every field is written, defaults zero).
    unsafe { core::slice::from_raw_parts(value as *const T as *const u8, core::mem::size_of::<T>()) }
}

/// Views a plain-old-data ABI value as writable bytes, for copying from user memory.
pub fn as_bytes_mut<T: Copy>(value: &mut T) -> &mut [u8] {
    // SAFETY: as `as_bytes`; any byte pattern is a valid value of these structs.
    unsafe { core::slice::from_raw_parts_mut(value as *mut T as *mut u8, core::mem::size_of::<T>()) }
}
