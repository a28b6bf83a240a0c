//! Shared memory semantics of shared-state, in-process: threads, fork, kill.

mod common;
use common::{fork_child, new_box, pipe, wait_status};

use shared_state::abi::*;
use shared_state::region::{LimitValues, Region, RegionError, LAYOUT_VERSION};
use shared_state::table::SlotTable;
use shared_state::Namespace;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier};

fn stat(ns: &Namespace, id: i32) -> Result<ShmidDs, i32> {
    let mut ds = ShmidDs::default();
    ns.shmctl(id, IPC_STAT, &mut ds as *mut ShmidDs as usize).map(|_| ds)
}

#[test]
fn ids_carry_a_sequence_and_stale_ids_fail() {
    let ns = new_box();
    let a = ns.shmget(IPC_PRIVATE, 4096, 0o600).unwrap();
    ns.shmctl(a, IPC_RMID, 0).unwrap();
    let b = ns.shmget(IPC_PRIVATE, 4096, 0o600).unwrap();
    assert_ne!(a, b, "a freed id is not handed out again at once");
    assert_eq!(stat(&ns, a).unwrap_err(), libc::EINVAL);
    assert!(stat(&ns, b).is_ok());
    // Reuse of the same index bumps its sequence.
    let mut ids = std::collections::HashSet::new();
    for _ in 0..200 {
        let id = ns.shmget(IPC_PRIVATE, 1, 0o600).unwrap();
        assert!(ids.insert(id), "id {id} reused");
        ns.shmctl(id, IPC_RMID, 0).unwrap();
    }
    assert_eq!(ns.shmctl(-1, IPC_STAT, 0).unwrap_err(), libc::EINVAL);
    assert_eq!(ns.shmctl(i32::MAX, IPC_STAT, 0).unwrap_err(), libc::EINVAL);
}

#[test]
fn key_lookup_follows_linux() {
    let ns = new_box();
    assert_eq!(ns.shmget(0x51, 100, 0o600).unwrap_err(), libc::ENOENT);
    let id = ns.shmget(0x51, 100, IPC_CREAT | 0o640).unwrap();
    assert_eq!(ns.shmget(0x51, 100, IPC_CREAT | IPC_EXCL | 0o600).unwrap_err(), libc::EEXIST);
    assert_eq!(ns.shmget(0x51, 0, 0).unwrap(), id);
    assert_eq!(ns.shmget(0x51, 50, IPC_CREAT).unwrap(), id);
    assert_eq!(ns.shmget(0x51, 101, 0).unwrap_err(), libc::EINVAL);
    assert_eq!(ns.shmget(0x52, 0, IPC_CREAT).unwrap_err(), libc::EINVAL);
    let ds = stat(&ns, id).unwrap();
    assert_eq!(ds.perm.key, 0x51);
    assert_eq!(ds.perm.mode, 0o640);
    assert_eq!(ds.segsz, 100);
    assert_eq!(ds.nattch, 0);
    assert_eq!(ds.cpid, std::process::id() as i32);
    assert_eq!((ds.atime, ds.dtime, ds.lpid), (0, 0, 0));
    // Removing frees the key at once.
    ns.shmctl(id, IPC_RMID, 0).unwrap();
    assert_eq!(ns.shmget(0x51, 100, 0).unwrap_err(), libc::ENOENT);
}

#[test]
fn limits_give_the_kernel_errnos() {
    let limits = LimitValues { shmmni: 3, shmall: 4, shmmax: 8192, ..LimitValues::default() };
    let ns = Namespace::create(&limits).unwrap();
    assert_eq!(ns.shmget(IPC_PRIVATE, 8193, 0o600).unwrap_err(), libc::EINVAL);
    let a = ns.shmget(IPC_PRIVATE, 8192, 0o600).unwrap();
    let b = ns.shmget(IPC_PRIVATE, 4096, 0o600).unwrap();
    assert_eq!(ns.shmget(IPC_PRIVATE, 4097, 0o600).unwrap_err(), libc::ENOSPC, "SHMALL");
    let c = ns.shmget(IPC_PRIVATE, 4096, 0o600).unwrap();
    assert_eq!(ns.shmget(IPC_PRIVATE, 1, 0o600).unwrap_err(), libc::ENOSPC, "SHMALL before SHMMNI");
    ns.shmctl(a, IPC_RMID, 0).unwrap();
    let _d = ns.shmget(IPC_PRIVATE, 1, 0o600).unwrap();
    assert_eq!(ns.shmget(IPC_PRIVATE, 1, 0o600).unwrap_err(), libc::ENOSPC, "SHMMNI");
    let _ = (b, c);
}

#[test]
fn attach_shares_memory_and_counts() {
    let ns = new_box();
    let id = ns.shmget(IPC_PRIVATE, 10000, 0o600).unwrap();
    let a = ns.shmat(id, 0, 0).unwrap();
    let b = ns.shmat(id, 0, SHM_RDONLY).unwrap();
    assert_ne!(a, b);
    // SAFETY: a is a writable attachment of at least 10000 bytes, b a readable one.
    unsafe {
        *(a as *mut u64).add(1000) = 0xdead_beef;
        assert_eq!(*(b as *const u64).add(1000), 0xdead_beef);
    }
    let ds = stat(&ns, id).unwrap();
    assert_eq!(ds.nattch, 2);
    assert_eq!(ds.lpid, std::process::id() as i32);
    assert!(ds.atime > 0);
    ns.shmdt(b).unwrap();
    assert_eq!(ns.shmdt(b).unwrap_err(), libc::EINVAL);
    assert_eq!(ns.shmdt(a + 1).unwrap_err(), libc::EINVAL);
    assert_eq!(ns.shmdt(a + 4096).unwrap_err(), libc::EINVAL);
    assert_eq!(stat(&ns, id).unwrap().nattch, 1);
    ns.shmdt(a).unwrap();
    let ds = stat(&ns, id).unwrap();
    assert_eq!(ds.nattch, 0);
    assert!(ds.dtime > 0);
    ns.shmctl(id, IPC_RMID, 0).unwrap();
}

#[test]
fn attach_at_addresses() {
    let ns = new_box();
    let id = ns.shmget(IPC_PRIVATE, 8192, 0o600).unwrap();
    // SAFETY: reserving and releasing a range to learn a free address.
    let free = unsafe {
        let p =
            libc::mmap(std::ptr::null_mut(), 1 << 20, libc::PROT_NONE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0);
        libc::munmap(p, 1 << 20);
        p as usize
    };
    assert_eq!(ns.shmat(id, free + 1, 0).unwrap_err(), libc::EINVAL);
    assert_eq!(ns.shmat(id, 0, SHM_REMAP).unwrap_err(), libc::EINVAL);
    let a = ns.shmat(id, free + 100, SHM_RND).unwrap();
    assert_eq!(a, free);
    assert_eq!(ns.shmat(id, free, 0).unwrap_err(), libc::EINVAL, "overlap without SHM_REMAP");
    let b = ns.shmat(id, free, SHM_REMAP).unwrap();
    assert_eq!(b, free);
    ns.shmdt(free).unwrap();
    ns.shmctl(id, IPC_RMID, 0).unwrap();
}

#[test]
fn rmid_while_attached_defers_destruction() {
    let ns = new_box();
    let id = ns.shmget(0x77, 4096, IPC_CREAT | 0o600).unwrap();
    let a = ns.shmat(id, 0, 0).unwrap();
    // SAFETY: a is a writable 4096-byte attachment.
    unsafe { *(a as *mut u32) = 7 };
    ns.shmctl(id, IPC_RMID, 0).unwrap();
    let ds = stat(&ns, id).unwrap();
    assert_eq!(ds.perm.mode & SHM_DEST, SHM_DEST);
    assert_eq!(ds.perm.key, IPC_PRIVATE);
    let fresh = ns.shmget(0x77, 4096, IPC_CREAT | IPC_EXCL | 0o600).unwrap();
    assert_ne!(fresh, id);
    // Still attachable by id while it lives.
    let again = ns.shmat(id, 0, 0).unwrap();
    // SAFETY: readable attachment.
    assert_eq!(unsafe { *(again as *const u32) }, 7);
    ns.shmdt(again).unwrap();
    assert!(stat(&ns, id).is_ok());
    ns.shmdt(a).unwrap();
    assert_eq!(stat(&ns, id).unwrap_err(), libc::EINVAL);
    assert_eq!(ns.region().header().shm.total_pages.load(Ordering::Relaxed), 1, "only `fresh` is left");
}

#[test]
fn info_and_stat_by_index() {
    let ns = new_box();
    let mut info = ShmInfo64::default();
    assert_eq!(ns.shmctl(0, IPC_INFO, &mut info as *mut _ as usize).unwrap(), 0);
    assert_eq!(info.shmmni, 4096);
    assert_eq!(info.shmmin, 1);
    let ids: Vec<i32> = (0..3).map(|_| ns.shmget(IPC_PRIVATE, 5000, 0o600).unwrap()).collect();
    let top = ns.shmctl(0, IPC_INFO, &mut info as *mut _ as usize).unwrap();
    assert_eq!(top, ids.iter().map(|id| id & 0x7fff).max().unwrap());
    let mut usage = ShmInfo::default();
    ns.shmctl(0, SHM_INFO, &mut usage as *mut _ as usize).unwrap();
    assert_eq!(usage.used_ids, 3);
    assert_eq!(usage.shm_tot, 6);
    for &id in &ids {
        let mut ds = ShmidDs::default();
        assert_eq!(ns.shmctl(id & 0x7fff, SHM_STAT, &mut ds as *mut _ as usize).unwrap(), id);
        assert_eq!(ns.shmctl(id & 0x7fff, SHM_STAT_ANY, &mut ds as *mut _ as usize).unwrap(), id);
    }
    assert_eq!(ns.shmctl(top + 1, SHM_STAT, &mut ShmidDs::default() as *mut _ as usize).unwrap_err(), libc::EINVAL);
    assert_eq!(ns.shmctl(ids[0], IPC_STAT, 0).unwrap_err(), libc::EFAULT);
    assert_eq!(ns.shmctl(ids[0], IPC_SET, 8).unwrap_err(), libc::EFAULT);
    assert_eq!(ns.shmctl(ids[0], 99, 0).unwrap_err(), libc::EINVAL);
}

#[test]
fn set_changes_only_permission_bits() {
    let ns = new_box();
    let id = ns.shmget(IPC_PRIVATE, 10, 0o600).unwrap();
    ns.shmctl(id, SHM_LOCK, 0).unwrap();
    let mut ds = stat(&ns, id).unwrap();
    assert_eq!(ds.perm.mode, 0o600 | SHM_LOCKED);
    ds.perm.mode = 0o7777;
    ds.perm.uid = 1234;
    ns.shmctl(id, IPC_SET, &mut ds as *mut _ as usize).unwrap();
    let after = stat(&ns, id).unwrap();
    assert_eq!(after.perm.mode, 0o777 | SHM_LOCKED);
    assert_eq!(after.perm.uid, 1234);
    ds.perm.uid = u32::MAX;
    assert_eq!(ns.shmctl(id, IPC_SET, &mut ds as *mut _ as usize).unwrap_err(), libc::EINVAL);
    ns.shmctl(id, SHM_UNLOCK, 0).unwrap();
    assert_eq!(stat(&ns, id).unwrap().perm.mode, 0o777);
}

#[test]
fn fork_exit_and_kill_keep_nattch_exact() {
    let ns = new_box();
    let id = ns.shmget(IPC_PRIVATE, 4096, 0o600).unwrap();
    let a = ns.shmat(id, 0, 0).unwrap();
    let me = std::process::id() as i32;

    let (read_end, write_end) = pipe();
    let child = fork_child(&ns, || {
        // The child sees its inherited attachment counted, and shares memory.
        let ds = stat(&ns, id).unwrap();
        // SAFETY: inherited writable attachment.
        unsafe { *(a as *mut u32) = 42 };
        let mut byte = [0u8];
        // SAFETY: blocking read on our pipe end until the parent has looked.
        unsafe { libc::read(read_end, byte.as_mut_ptr() as *mut _, 1) };
        if ds.nattch == 2 {
            0
        } else {
            1
        }
    });
    let ds = stat(&ns, id).unwrap();
    assert_eq!(ds.nattch, 2, "counted as soon as fork returns");
    assert_eq!(ds.lpid, me, "fork sets lpid to the parent, as Linux");
    // SAFETY: write one byte to our pipe.
    unsafe { libc::write(write_end, b"x".as_ptr() as *const _, 1) };
    assert_eq!(wait_status(child), 0);
    let ds = stat(&ns, id).unwrap();
    assert_eq!(ds.nattch, 1, "exit drops the child's attachment");
    assert_eq!(ds.lpid, child);
    // SAFETY: readable attachment.
    assert_eq!(unsafe { *(a as *const u32) }, 42);

    let child = fork_child(&ns, || loop {
        // SAFETY: waits for the signal that kills it.
        unsafe { libc::pause() };
    });
    assert_eq!(stat(&ns, id).unwrap().nattch, 2);
    // SAFETY: killing our own child.
    unsafe { libc::kill(child, libc::SIGKILL) };
    wait_status(child);
    assert_eq!(stat(&ns, id).unwrap().nattch, 1, "SIGKILL drops the attachment");

    // The last attachment going away by death destroys a removed segment.
    ns.shmctl(id, IPC_RMID, 0).unwrap();
    let child = fork_child(&ns, || loop {
        // SAFETY: waits for the signal that kills it.
        unsafe { libc::pause() };
    });
    ns.shmdt(a).unwrap();
    assert_eq!(stat(&ns, id).unwrap().nattch, 1);
    // SAFETY: killing our own child.
    unsafe { libc::kill(child, libc::SIGKILL) };
    wait_status(child);
    assert_eq!(stat(&ns, id).unwrap_err(), libc::EINVAL);
    assert_eq!(ns.region().header().shm.total_pages.load(Ordering::Relaxed), 0);
}

#[test]
fn a_lock_held_by_a_killed_process_is_recovered() {
    let ns = new_box();
    let id = ns.shmget(IPC_PRIVATE, 4096, 0o600).unwrap();
    let (read_end, write_end) = pipe();
    let child = fork_child(&ns, || {
        let _held = ns.region().facility().lock.lock().unwrap();
        // SAFETY: tell the parent the lock is held, then wait to be killed.
        unsafe {
            libc::write(write_end, b"x".as_ptr() as *const _, 1);
            loop {
                libc::pause();
            }
        }
    });
    let mut byte = [0u8];
    // SAFETY: blocking read on our pipe end.
    unsafe { libc::read(read_end, byte.as_mut_ptr() as *mut _, 1) };
    // SAFETY: killing our own child.
    unsafe { libc::kill(child, libc::SIGKILL) };
    wait_status(child);
    // The facility lock is taken by shmget; it must not hang.
    let other = ns.shmget(IPC_PRIVATE, 4096, 0o600).unwrap();
    assert_ne!(other, id);
}

#[test]
fn concurrent_threads_keep_the_table_consistent() {
    let ns = Arc::new(new_box());
    let threads = 8;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let ns = ns.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let mut exclusive_wins = 0;
                for i in 0..300 {
                    let id = ns.shmget(IPC_PRIVATE, 4096 * (1 + i % 3), 0o600).unwrap();
                    let a = ns.shmat(id, 0, 0).unwrap();
                    // SAFETY: writable attachment of at least 4096 bytes.
                    unsafe { *(a as *mut usize) = t * 1000 + i };
                    ns.shmctl(id, IPC_RMID, 0).unwrap();
                    // SAFETY: still attached, so still readable.
                    assert_eq!(unsafe { *(a as *const usize) }, t * 1000 + i);
                    ns.shmdt(a).unwrap();
                    if ns.shmget(0x1000 + i as i32, 16, IPC_CREAT | IPC_EXCL | 0o600).is_ok() {
                        exclusive_wins += 1;
                    }
                }
                exclusive_wins
            })
        })
        .collect();
    let wins: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(wins, 300, "each key was created by exactly one thread");
    let region = ns.region();
    assert_eq!(region.facility().in_use.load(Ordering::Relaxed), 300);
    assert_eq!(region.header().shm.total_pages.load(Ordering::Relaxed), 300);
}

#[test]
fn a_region_of_another_version_or_damaged_is_refused() {
    let ns = new_box();
    let fd = ns.fd();
    assert!(Region::attach(fd).is_ok());
    let base = ns.region().header() as *const _ as *mut u8;
    // SAFETY: the header's version field is at offset 8 of our own mapping.
    unsafe { *(base.add(8) as *mut u32) = LAYOUT_VERSION + 1 };
    let err = Region::attach(fd).err().unwrap();
    assert_eq!(err, RegionError::VersionMismatch { found: LAYOUT_VERSION + 1, expected: LAYOUT_VERSION });
    assert!(err.to_string().contains("layout version"));
    // SAFETY: as above; then damage the box id (covered by the check).
    unsafe {
        *(base.add(8) as *mut u32) = LAYOUT_VERSION;
        *base.add(24) ^= 1;
    }
    assert_eq!(Region::attach(fd).err().unwrap(), RegionError::Corrupt("checksum mismatch"));
    assert!(matches!(Region::attach(9999).err().unwrap(), RegionError::BadDescriptor(9999, libc::EBADF)));
    let file = std::fs::File::open("/proc/self/exe").unwrap();
    use std::os::fd::AsRawFd;
    assert!(matches!(Region::attach(file.as_raw_fd()).err().unwrap(), RegionError::NotRegion(_)));
}

#[test]
fn memory_grows_with_use() {
    let ns = new_box();
    let allocated = |ns: &Namespace| {
        // SAFETY: fstat on our region descriptor.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::fstat(ns.fd(), &mut st) }, 0);
        st.st_blocks as u64 * 512
    };
    let empty = allocated(&ns);
    assert!(empty < 1 << 20, "a new box costs {empty} bytes");
    let id = ns.shmget(IPC_PRIVATE, 64 << 20, 0o600).unwrap();
    let a = ns.shmat(id, 0, 0).unwrap();
    assert!(allocated(&ns) < empty + (1 << 20), "untouched segment memory is not allocated");
    // SAFETY: writable attachment of 64 MiB.
    unsafe { std::ptr::write_bytes(a as *mut u8, 1, 64 << 20) };
    assert!(allocated(&ns) >= empty + (64 << 20));
    ns.shmctl(id, IPC_RMID, 0).unwrap();
    ns.shmdt(a).unwrap();
    assert!(allocated(&ns) < empty + (1 << 20), "destroyed segment memory is returned");
}
