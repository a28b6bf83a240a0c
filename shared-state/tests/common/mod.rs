//! Helpers shared by the in-process tests: a fresh box, forking through the
//! box's fork bookkeeping, waiting, pipes.
#![allow(dead_code)]

use shared_state::region::LimitValues;
use shared_state::sem::{SemOp, GETALL};
use shared_state::Namespace;
use std::time::{Duration, Instant};

pub fn new_box() -> Namespace {
    Namespace::create(&LimitValues::default()).expect("create region")
}

/// Forks through `Namespace::fork_with`; the child runs `child` and leaves
/// with its result as exit status.
pub fn fork_child(ns: &Namespace, child: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child runs `child` and leaves with _exit.
    let pid = ns.fork_with(|| unsafe { libc::fork() });
    assert!(pid >= 0);
    if pid == 0 {
        let code = child();
        // SAFETY: leaving the forked child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    pid
}

/// shm_nattch of segment `shmid`, by IPC_STAT.
pub fn nattch(ns: &Namespace, shmid: i32) -> Result<u64, i32> {
    let mut ds = [0u64; 16];
    ns.shmctl(shmid, shared_state::abi::IPC_STAT, ds.as_mut_ptr() as usize)?;
    // struct shmid64_ds on x86_64: ipc_perm (48 bytes), segsz, atime,
    // dtime, ctime, cpid/lpid, then nattch.
    Ok(ds[11])
}

/// Reaps `pid` and returns its raw wait status.
pub fn wait_status(pid: i32) -> i32 {
    let mut status = 0;
    // SAFETY: status is writable.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    status
}

pub fn pipe() -> (i32, i32) {
    let mut fds = [0; 2];
    // SAFETY: fds is writable for two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    (fds[0], fds[1])
}

/// Holds off the other tests that take it, for tests that wait for a
/// pipe's end of file: a child that a test running meanwhile forks would
/// inherit the pipe's write end (fork copies every descriptor) and keep the
/// end of file from coming until it exits.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One `struct sembuf`.
pub fn op(num: u16, op: i16, flags: i16) -> SemOp {
    SemOp { num, op, flags }
}

/// GETALL of a set of `n` semaphores.
pub fn values(ns: &Namespace, id: i32, n: usize) -> Vec<u16> {
    let mut out = vec![0u16; n];
    ns.semctl(id, 0, GETALL, out.as_mut_ptr() as usize).unwrap();
    out
}

/// Waits (at most 10 s) until `cond` holds.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `work` while another thread asks for collections and runs them,
/// again and again, as a supervisor would after deaths; returns what `work`
/// returns and how many collections ran to the end (others found a thread
/// inside a hold and gave up, as they must).
pub fn collecting_meanwhile<T>(ns: &Namespace, work: impl FnOnce() -> T) -> (T, u32) {
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let collector = scope.spawn(|| {
            let mut collections = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                ns.region().request_collection();
                if ns.collect_lost().is_some() {
                    collections += 1;
                }
                // A pause, as a supervisor's retries have: a collector that
                // never paused would keep every thread waiting at its gate.
                std::thread::sleep(Duration::from_micros(200));
            }
            collections
        });
        let result = work();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (result, collector.join().unwrap())
    })
}

/// Bytes of the region file in memory between file offsets `from` and `to`.
pub fn allocated(ns: &Namespace, from: usize, to: usize) -> usize {
    let fd = ns.fd();
    let (mut pos, mut total) = (from as i64, 0usize);
    while pos < to as i64 {
        // SAFETY: plain system calls on the region's descriptor.
        let data = unsafe { libc::lseek(fd, pos, libc::SEEK_DATA) };
        if data < 0 || data >= to as i64 {
            break;
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) }.min(to as i64);
        total += (hole - data) as usize;
        pos = hole;
    }
    total
}
