//! Credentials of the calling thread and Linux's IPC permission rules.
//!
//! Owns: `Cred` (effective uid/gid, supplementary groups, effective
//! capabilities, read by direct system calls so that no preload library can
//! fake them), `ipcperms` (the kernel's `ipcperms()`), and the owner test used
//! by IPC_SET/IPC_RMID (`ipcctl_obtain_check()`).
//!
//! Privilege follows capabilities, never `euid == 0`: root without
//! CAP_IPC_OWNER is refused where Linux refuses it.
//!
//! Credentials are cached per process so that fast paths make no system
//! call. The cache is dropped by `invalidate`, which the shim calls after
//! every libc function that changes credentials (set*id, setgroups, capset).

use crate::abi::IpcPerm;
use crate::sys;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

#[derive(Clone, Debug)]
pub struct Cred {
    pub euid: u32,
    pub egid: u32,
    groups: Vec<u32>,
    caps: u64,
}

static GENERATION: AtomicU64 = AtomicU64::new(1);
/// The cached credentials: an immutable snapshot, replaced (never changed)
/// when stale. Lock-free, so that a fork while another thread refreshes it
/// cannot leave the child waiting on a lock nobody will release.
static CACHED: AtomicPtr<Snapshot> = AtomicPtr::new(core::ptr::null_mut());

struct Snapshot {
    generation: u64,
    cred: Cred,
}

/// Forgets the cached credentials: they have changed, or may have.
pub fn invalidate() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

impl Cred {
    /// The calling process's credentials; read from the kernel only when the
    /// cache was invalidated. Call it before taking any lock in the region.
    #[inline(always)]
    pub fn current() -> &'static Cred {
        let generation = GENERATION.load(Ordering::Acquire);
        let cached = CACHED.load(Ordering::Acquire);
        // SAFETY: snapshots are never freed (see below), so a pointer read
        // from CACHED stays valid.
        if let Some(snapshot) = unsafe { cached.as_ref() } {
            if snapshot.generation == generation {
                return &snapshot.cred;
            }
        }
        Self::refresh(generation)
    }

    #[cold]
    #[inline(never)]
    fn refresh(generation: u64) -> &'static Cred {
        let fresh = Box::into_raw(Box::new(Snapshot { generation, cred: Self::read() }));
        // The replaced snapshot is leaked on purpose: another thread may still
        // be reading it. Credentials change a handful of times in a process.
        CACHED.store(fresh, Ordering::Release);
        // SAFETY: just made, and never freed.
        unsafe { &(*fresh).cred }
    }

    /// Reads the credentials with system calls.
    pub fn read() -> Cred {
        Cred { euid: sys::geteuid(), egid: sys::getegid(), groups: sys::getgroups(), caps: sys::effective_caps() }
    }

    pub fn has_cap(&self, cap: u32) -> bool {
        self.caps & (1u64 << cap) != 0
    }

    /// Linux's `can_do_hugetlb_shm`: CAP_IPC_LOCK, or membership of
    /// `hugetlb_shm_group` (the vm sysctl).
    /// The group is asked for only when the capability is missing.
    pub fn may_use_hugetlb_shm(&self, hugetlb_shm_group: impl FnOnce() -> u32) -> bool {
        self.has_cap(crate::abi::CAP_IPC_LOCK) || self.in_group(hugetlb_shm_group())
    }

    fn in_group(&self, gid: u32) -> bool {
        gid == self.egid || self.groups.contains(&gid)
    }

    /// The kernel's `ipcperms`: `flag`'s low nine bits name the access wanted
    /// (for example 0o444 to read, 0o666 to read and write).
    pub fn may_access(&self, perm: &IpcPerm, flag: i32) -> bool {
        self.may_access_fields(flag, perm.mode, perm.uid, perm.cuid, || (perm.gid, perm.cgid))
    }

    /// As `may_access`, given the object's fields; `gids` (gid, cgid) is
    /// asked only when the caller is not the owner, as the fast paths mostly
    /// are.
    #[inline(always)]
    pub fn may_access_fields(
        &self,
        flag: i32,
        mode: u32,
        uid: u32,
        cuid: u32,
        gids: impl FnOnce() -> (u32, u32),
    ) -> bool {
        let requested = ((flag >> 6) | (flag >> 3) | flag) as u32 & 0o7;
        let mut granted = mode;
        if self.euid == cuid || self.euid == uid {
            granted >>= 6;
        } else {
            let (gid, cgid) = gids();
            if self.in_group(cgid) || self.in_group(gid) {
                granted >>= 3;
            }
        }
        requested & !granted & 0o7 == 0 || self.has_cap(crate::abi::CAP_IPC_OWNER)
    }

    /// Owner or creator, or CAP_SYS_ADMIN: who may IPC_SET and IPC_RMID.
    pub fn may_control(&self, perm: &IpcPerm) -> bool {
        self.euid == perm.cuid || self.euid == perm.uid || self.has_cap(crate::abi::CAP_SYS_ADMIN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(euid: u32, egid: u32, caps: u64) -> Cred {
        Cred { euid, egid, groups: vec![], caps }
    }

    #[test]
    fn owner_group_other_classes() {
        let perm = IpcPerm { uid: 10, cuid: 11, gid: 20, cgid: 21, mode: 0o640, ..Default::default() };
        assert!(cred(10, 0, 0).may_access(&perm, 0o666));
        assert!(cred(11, 0, 0).may_access(&perm, 0o600));
        assert!(cred(12, 21, 0).may_access(&perm, 0o444));
        assert!(!cred(12, 21, 0).may_access(&perm, 0o222));
        assert!(!cred(12, 30, 0).may_access(&perm, 0o444));
        assert!(cred(12, 30, 0).may_access(&perm, 0));
        // root without CAP_IPC_OWNER is an ordinary "other".
        assert!(!cred(0, 0, 0).may_access(&perm, 0o444));
        assert!(cred(0, 0, 1 << crate::abi::CAP_IPC_OWNER).may_access(&perm, 0o666));
    }

    #[test]
    fn owner_class_is_not_widened_by_group() {
        // Linux picks the first matching class; an owner denied by the owner
        // bits is denied even when the group bits would allow.
        let perm = IpcPerm { uid: 10, cuid: 10, gid: 20, cgid: 20, mode: 0o060, ..Default::default() };
        assert!(!cred(10, 20, 0).may_access(&perm, 0o444));
    }

    #[test]
    fn control_needs_owner_or_sys_admin() {
        let perm = IpcPerm { uid: 10, cuid: 11, ..Default::default() };
        assert!(cred(10, 0, 0).may_control(&perm));
        assert!(cred(11, 0, 0).may_control(&perm));
        assert!(!cred(0, 0, 0).may_control(&perm));
        assert!(cred(0, 0, 1 << crate::abi::CAP_SYS_ADMIN).may_control(&perm));
    }
}
