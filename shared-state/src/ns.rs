//! One process's handle on its box: `Namespace`.
//!
//! Owns: the mapping of the region in this process, the process's private
//! view of its own state (its process record and its shm attachments, kept in
//! private memory so that fork copies exactly what the child inherits), the
//! fork protocol, and the repair of state left by dead processes.
//!
//! Locking: `local` (a process-private mutex) is taken first, before any lock
//! in the region, by every operation that changes this process's attachments,
//! and across fork, so a fork never splits an attach or detach in half.
//! Reaping of dead processes happens under the shm facility lock, before any
//! operation that reports or depends on attachment counts, so what a caller
//! sees already accounts for every process that died before the call.

use crate::procs::{Liveness, RecordRef, PROC_FORKING};
use crate::region::{LimitValues, Region, RegionError};
use crate::sys::{self, SysResult};
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Mutex, MutexGuard};

/// One shm attachment of this process.
#[derive(Clone, Copy, Debug)]
pub struct Attachment {
    pub addr: usize,
    pub len: usize,
    pub slot: u32,
    pub seq: u32,
    /// Index of the shared `AttachEntry` that counts it.
    pub entry: u32,
}

/// What this process knows of its own state in the region.
#[derive(Default)]
pub struct Local {
    pub record: Option<RecordRef>,
    pub attachments: Vec<Attachment>,
}

pub struct Namespace {
    pub(crate) region: Region,
    pub(crate) local: Mutex<Local>,
    /// `local.attachments.len()`, readable without the lock: munmap and mmap
    /// wrappers skip all bookkeeping while it is 0.
    pub(crate) attachment_count: AtomicUsize,
    /// The process whose address space this is: set at load and in a fork
    /// child; a clone(CLONE_VM) child shares it with its parent.
    owner: AtomicI32,
    /// This process's record for `magazine`: (generation << 32) | (index +
    /// 1), 0 until looked up, NO_RECORD if none could be had. Readable
    /// without `local`, for the message fast paths.
    magazine_record: AtomicU64,
    /// Calls left before the next try at a pending collection, and the
    /// interval after a failed one (see `collect_now_and_then`).
    pub(crate) collect_countdown: AtomicU32,
    pub(crate) collect_interval: AtomicU32,
}

const NO_RECORD: u64 = u64::MAX;

impl Namespace {
    /// Creates a new box region (the launcher, and tests).
    pub fn create(limits: &LimitValues) -> Result<Namespace, RegionError> {
        Ok(Self::from_region(Region::create(limits)?))
    }

    /// Creates a new box region in the empty file behind `fd` (named boxes).
    pub fn create_on(fd: i32, limits: &LimitValues) -> Result<Namespace, RegionError> {
        Ok(Self::from_region(Region::create_on(fd, limits)?))
    }

    /// Joins the box whose region is behind `fd`.
    pub fn attach(fd: i32) -> Result<Namespace, RegionError> {
        let ns = Self::from_region(Region::attach(fd)?);
        ns.reap_own_stale_records();
        Ok(ns)
    }

    fn from_region(region: Region) -> Namespace {
        // Resolve the vDSO clock now, single-threaded, rather than inside a
        // later call that a fork could split.
        let _ = sys::realtime_seconds();
        Namespace {
            region,
            local: Mutex::new(Local::default()),
            attachment_count: AtomicUsize::new(0),
            owner: AtomicI32::new(sys::getpid()),
            magazine_record: AtomicU64::new(0),
            collect_countdown: AtomicU32::new(0),
            collect_interval: AtomicU32::new(0),
        }
    }

    /// This process's id, without a system call: the owner of the address
    /// space (set at load and in a fork child).
    pub fn pid(&self) -> i32 {
        self.owner.load(Relaxed)
    }

    pub fn region(&self) -> &Region {
        &self.region
    }

    pub fn fd(&self) -> i32 {
        self.region.fd()
    }

    pub fn set_fd(&self, fd: i32) {
        self.region.set_fd(fd);
    }

    pub fn local(&self) -> MutexGuard<'_, Local> {
        self.local.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// This process's record, created and armed on first need, re-armed if
    /// the thread that held it has exited.
    pub(crate) fn own_record(&self, local: &mut Local) -> SysResult<RecordRef> {
        if let Some(rec) = local.record {
            if self.region.record_current(rec) {
                if self.region.liveness(rec.index) == Liveness::AliveUnarmed {
                    self.region.rearm_record(rec);
                }
                return Ok(rec);
            }
        }
        let rec = self.region.alloc_record()?;
        self.region.arm_record(rec, self.owner.load(Relaxed));
        local.record = Some(rec);
        Ok(rec)
    }

    /// This process's record, for its magazine: without a lock once known
    /// and armed.
    #[inline]
    pub(crate) fn magazine_record(&self) -> Option<u32> {
        match self.magazine_record.load(Relaxed) {
            NO_RECORD => None,
            _ => self.known_record().or_else(|| self.magazine_record_slow()),
        }
    }

    /// This process's record if it is known and armed, without a lock;
    /// None rather than creating one.
    #[inline]
    pub(crate) fn known_record(&self) -> Option<u32> {
        let hint = self.magazine_record.load(Relaxed);
        if hint == 0 || hint == NO_RECORD {
            return None;
        }
        let (index, generation) = (hint as u32 - 1, (hint >> 32) as u32);
        let record = self.region.record(index);
        (record.generation.load(Relaxed) == generation && record.liveness.held_by(record.holder_tid.load(Relaxed)))
            .then_some(index)
    }

    #[cold]
    fn magazine_record_slow(&self) -> Option<u32> {
        self.magazine_record_locked(&mut self.local())
    }

    /// `magazine_record`, if this process's private lock is free now.
    #[cold]
    pub(crate) fn try_record_without_waiting(&self) -> Option<u32> {
        let mut local = match self.local.try_lock() {
            Ok(local) => local,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        self.magazine_record_locked(&mut local)
    }

    fn magazine_record_locked(&self, local: &mut Local) -> Option<u32> {
        let (hint, index) = match self.own_record(local) {
            Ok(rec) => (((rec.generation as u64) << 32) | (rec.index as u64 + 1), Some(rec.index)),
            Err(_) => (NO_RECORD, None),
        };
        self.magazine_record.store(hint, Relaxed);
        index
    }

    /// A heap block of `size` bytes, uninitialised, from this process's
    /// magazine when it can (see `magazine`).
    pub(crate) fn alloc_block(&self, size: u64) -> SysResult<u64> {
        if let Some(at) = self.magazine_record().and_then(|record| self.region.magazine_alloc(record, size)) {
            return Ok(at);
        }
        self.region.heap_alloc_uninit(size)
    }

    /// Frees a block from `alloc_block` (or any heap block of `size` bytes).
    pub(crate) fn free_block(&self, at: u64, size: u64) {
        if !self.magazine_record().is_some_and(|record| self.region.magazine_free(record, at, size)) {
            self.region.heap_free(at, size);
        }
    }

    /// At load after exec: records of this pid whose holder is gone belong to
    /// the image this process replaced. Exec dropped its mappings, so its
    /// attachments go; its SEM_UNDO adjustments stay with the process, as
    /// on Linux, so this image adopts them.
    fn reap_own_stale_records(&self) {
        let pid = sys::getpid();
        for rec in self.region.suspect_records() {
            let stale = self.region.record(rec.index);
            if stale.pid.load(Relaxed) != pid {
                continue;
            }
            let undos = stale.sem_undos.swap(0, Relaxed);
            if undos != 0 {
                let mut local = self.local();
                match self.own_record(&mut local) {
                    Ok(own) => self.region.record(own.index).sem_undos.store(undos, Relaxed),
                    Err(_) => stale.sem_undos.store(undos, Relaxed),
                }
            }
            self.reap(rec);
        }
    }

    /// Records of processes that have died. Memory reads only, unless a
    /// record looks stale.
    fn dead_records(&self) -> Vec<RecordRef> {
        let mut suspects = self.region.suspect_records();
        suspects.retain(|rec| self.region.liveness(rec.index) == Liveness::Dead);
        suspects
    }

    /// Repairs the state of every process of the box that has died.
    ///
    /// A record whose process lives on unarmed (its holder thread exited,
    /// or it runs a program without the shim) stays suspect, and each call
    /// then confirms it with /proc: system calls on every call while such
    /// a process lives, but no call ever sees its death late, which is what
    /// Linux's exit-time SEM_UNDO promises (`ctests/sem_exec_noshim`).
    ///
    /// Also tries, now and then, a pending collection of blocks the dead
    /// left in hand (see `collect`).
    #[inline(always)]
    pub(crate) fn reap_dead(&self) {
        // Fast paths call this on every operation: nothing to look at while
        // no process holds state in the table.
        if self.region.procs().live.load(Relaxed) != 0 && self.region.any_suspect() {
            self.reap_dead_slow();
        }
        self.collect_now_and_then();
    }

    /// Repairs after every process of the box that has died, and collects
    /// what they held in hand, now (what the next call that checks for the
    /// dead would do; for tests and inspection).
    pub fn repair_dead(&self) {
        self.reap_dead();
    }

    /// For a sleeper (see `wait::wait_done`): whether a supervisor watches
    /// the box; if none does, repairs after the dead now.
    pub(crate) fn supervised_or_repair(&self) -> bool {
        if self.region.procs().supervisor.is_held() {
            return true;
        }
        self.reap_dead();
        false
    }

    #[inline(never)]
    fn reap_dead_slow(&self) {
        let dead = self.dead_records();
        if !dead.is_empty() {
            let hold = self.hold();
            {
                let _shm = self.region.lock_shm();
                dead.into_iter().for_each(|rec| self.reap_with_shm_locked(rec));
            }
            // A dead process may have died holding a lock: repair now what it
            // left half done (a sleeper it was waking may wait for that).
            self.region.repair_abandoned_locks();
            drop(hold);
            // What it held in hand can be collected now, if the box is quiet.
            let _ = self.collect_lost();
        }
    }

    /// Makes sure this process has a record before it changes an object on
    /// a slow path, where it may complete other threads' waits: if it dies
    /// holding the object's lock, its record's death is what tells the
    /// supervisor (or a sleeper's watch) to repair after it. Takes no
    /// lock once the record is armed; call it before taking any region lock.
    #[inline]
    pub(crate) fn ensure_record(&self) {
        let _ = self.magazine_record();
    }

    /// As `reap_dead`, for a caller that holds the shm facility lock.
    pub(crate) fn reap_dead_with_shm_locked(&self) {
        let dead = self.dead_records();
        if !dead.is_empty() {
            let _hold = self.hold_under_lock();
            dead.into_iter().for_each(|rec| self.reap_with_shm_locked(rec));
        }
    }

    /// Undoes a dead record's state and frees it.
    fn reap(&self, rec: RecordRef) {
        let _hold = self.hold_under_lock();
        let _shm = self.region.lock_shm();
        self.reap_with_shm_locked(rec);
    }

    fn reap_with_shm_locked(&self, rec: RecordRef) {
        if !self.region.record_current(rec) {
            return;
        }
        let pid = self.region.record(rec.index).pid.load(Relaxed);
        self.shm_drop_record_locked(rec, pid);
        self.region.apply_undos(rec, pid);
        self.region.drop_sem_waiters(rec);
        self.region.drop_msg_waiters(rec);
        self.region.drain_magazine(rec.index);
        self.region.free_record(rec);
    }

    /// Lets go of this process's liveness lock before the region is
    /// unmapped (only tests drop a namespace): glibc keeps a held robust
    /// mutex on its thread's list and walks that list later, so a mutex in
    /// memory unmapped under it would crash the thread. If another thread
    /// holds it, the region stays mapped.
    fn release_liveness(&self) {
        let Some(rec) = self.local().record else { return };
        if !self.region.record_current(rec) {
            return;
        }
        let liveness = &self.region.record(rec.index).liveness;
        if liveness.held_by(sys::gettid()) {
            liveness.release();
        } else if liveness.is_held() {
            self.region.keep_mapped.store(true, Relaxed);
        }
    }

    /// fork(2) with the box's bookkeeping: `real_fork` is libc's fork.
    /// The child's inherited attachments are counted before this returns in
    /// either process, as Linux counts them during fork.
    pub fn fork_with(&self, real_fork: impl FnOnce() -> i32) -> i32 {
        let mut local = self.local();
        if local.attachments.is_empty() {
            let pid = real_fork();
            if pid == 0 {
                self.owner.store(sys::getpid(), Relaxed);
                self.magazine_record.store(0, Relaxed);
                local.record = None;
            }
            return pid;
        }
        let prepared = self.shm_prepare_child(&local);
        let pid = real_fork();
        let Ok((child, entries)) = prepared else {
            // No room to count the child's attachments: it runs uncounted.
            if pid == 0 {
                self.owner.store(sys::getpid(), Relaxed);
                self.magazine_record.store(0, Relaxed);
                local.record = None;
            }
            return pid;
        };
        match pid {
            0 => {
                self.owner.store(sys::getpid(), Relaxed);
                self.magazine_record.store(0, Relaxed);
                self.region.arm_record(child, sys::getpid());
                local.record = Some(child);
                for (attachment, entry) in local.attachments.iter_mut().zip(entries) {
                    attachment.entry = entry;
                }
            }
            pid if pid > 0 => {
                let record = self.region.record(child.index);
                record.pid.store(pid, Relaxed);
                while record.state.load(Acquire) == PROC_FORKING {
                    let _ = sys::futex_wait(&record.state, PROC_FORKING, Some(20_000_000));
                    if record.state.load(Acquire) == PROC_FORKING && sys::child_has_exited(pid) {
                        self.reap(child);
                        break;
                    }
                }
            }
            _ => self.reap(child),
        }
        pid
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        self.release_liveness();
    }
}
