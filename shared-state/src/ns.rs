//! One process's handle on its box: `Namespace`.
//!
//! Owns: the mapping of the region in this process, the process's private
//! view of its own state (its process record and its shm attachments, kept in
//! private memory so that fork copies exactly what the child inherits), the
//! fork protocol (a FORKING record and its ticket, see `procs`), the
//! takeover of its own record by an exec'd image, and the repair of state
//! left by dead processes, which a call runs only when the death watch
//! (`procs::DeathWatch`) says a death is unreaped.
//!
//! Locking: `local` (a process-private mutex) is taken first, before any lock
//! in the region, by every operation that changes this process's attachments,
//! and across fork, so a fork never splits an attach or detach in half.
//!
//! Reaping: every call reaps the dead it knows of first, before it takes
//! any lock of the region, so what it sees already accounts for every
//! process whose death was noticed before the call (with a supervisor:
//! every death it or a wait call reported). A dead record is reaped by
//! whoever holds its reaping lock (`ProcRecord::reaping`), inside a hold:
//! its SEM_UNDO adjustments applied and its sleepers unqueued, each under
//! its own object's lock, its cached blocks freed, then its attachments
//! dropped under the shm facility lock, then the record freed under the
//! table lock. Each step can be taken again, so a reaper that dies leaves
//! the rest to the next. No box-wide lock is held while a reaper waits
//! for an object's lock. A reaper waits for another reaper of the same
//! record, and for each lock, as long as it takes, unless the holder is
//! stopped (`RobustMutex::lock_unless_stopped`): what a stopped process
//! keeps from being done (the undo on the set whose lock it holds, the
//! rest of the record a stopped reaper holds) then waits for a later
//! call, and the death stays unreaped until then; the calls themselves go
//! on. Lock order: `local`, reaping lock, object locks, shm facility lock,
//! shm slot locks, table lock.
//!
//! Corruption (see the region's notes): a reaper trusts no index or link
//! of the record it reaps (a parent past the table names no record; each
//! facility checks its own lists, see `sem`, `msg`, `shm`), and a lock
//! that glibc refuses (see `lock`) skips what it guards for good rather
//! than crash or wait: an object's, as if the object were gone; the
//! record's reaping lock, the shm facility lock or the table lock, the
//! rest of the reap, the record left unfreed (never freed with its
//! attachments still listed). An exit that meets one leaves the rest to
//! the reaper.

use crate::procs::{Liveness, RecordRef, PROC_FORKING, PROC_LIVE};
use crate::region::{LimitValues, Region, RegionError};
use crate::sys::{self, SysResult};
use crate::table::Locking;
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
    /// Cut into pieces (a partial munmap, a fixed mapping over part of it,
    /// remap_file_pages, a partial mremap): shmdt then unmaps only the
    /// pieces that still map the segment in place (see `shm::remap`).
    pub split: bool,
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
    /// The last SEM_UNDO record `own_undo` found: (set id << 32) | its heap
    /// offset, 0 for none. A hint, checked against the record and the set
    /// before use; reset in a fork child, which inherits no undo.
    pub(crate) undo_hint: AtomicU64,
    /// This process's start time (see `own_start_time`), with the pid it
    /// was read for (0 before the first read; a fork child reads its own).
    start_time: AtomicU64,
    start_time_pid: AtomicI32,
    /// The process that last created a segment here (a fork child
    /// inherits the value, not the creations), for shm_rmid_forced at exit.
    pub(crate) segment_creator: AtomicI32,
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
        ns.adopt_own_stale_records();
        Ok(ns)
    }

    fn from_region(region: Region) -> Namespace {
        // Resolve the vDSO clock now, single-threaded, rather than inside a
        // later call that a fork could split.
        let _ = sys::realtime_seconds();
        // The CPUs the process may use as it joins, before the program pins
        // its processes (see `wait::spinning_pays`).
        let _ = crate::wait::spinning_pays();
        if !crate::lock::inline_path() {
            region.header().glibc_locks.store(1, Relaxed);
        }
        Namespace {
            region,
            local: Mutex::new(Local::default()),
            attachment_count: AtomicUsize::new(0),
            owner: AtomicI32::new(sys::getpid()),
            magazine_record: AtomicU64::new(0),
            collect_countdown: AtomicU32::new(0),
            collect_interval: AtomicU32::new(0),
            undo_hint: AtomicU64::new(0),
            start_time: AtomicU64::new(0),
            start_time_pid: AtomicI32::new(0),
            segment_creator: AtomicI32::new(0),
        }
    }

    /// When this process started (its /proc stat start time), read once.
    pub(crate) fn own_start_time(&self) -> u64 {
        let pid = sys::getpid();
        if self.start_time_pid.load(Acquire) != pid {
            self.start_time.store(crate::procs::start_time_of(pid), Relaxed);
            self.start_time_pid.store(pid, Release);
        }
        self.start_time.load(Relaxed)
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

    /// This process's record, created on first need, re-armed if the
    /// thread that held it has exited. Also kept as the lock-free hint
    /// (`known_record`), so that a hold taken under a region lock later
    /// finds it.
    pub(crate) fn own_record(&self, local: &mut Local) -> SysResult<RecordRef> {
        if let Some(rec) = local.record {
            if self.region.record_current(rec) {
                if self.region.liveness(rec.index) == Liveness::AliveUnarmed {
                    self.region.rearm_record(rec);
                }
                self.magazine_record.store(rec.packed(), Relaxed);
                return Ok(rec);
            }
        }
        let rec = self.region.alloc_live_record(self.owner.load(Relaxed))?;
        local.record = Some(rec);
        self.magazine_record.store(rec.packed(), Relaxed);
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
        let rec = RecordRef::unpacked(hint)?;
        let record = self.region.record(rec.index);
        (record.generation.load(Relaxed) == rec.generation && record.liveness.held_by(record.holder_tid.load(Relaxed)))
            .then_some(rec.index)
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
        match self.own_record(local) {
            Ok(rec) => Some(rec.index),
            Err(_) => {
                self.magazine_record.store(NO_RECORD, Relaxed);
                None
            }
        }
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

    /// At load after exec: a record of this pid whose holder is gone
    /// belongs to the image this process replaced. Exec dropped its
    /// mappings and threads, so its attachments, sleepers and cached blocks
    /// go; its SEM_UNDO adjustments stay with the process, as on Linux, so
    /// this image takes the record over, undo list and all, where it lies:
    /// nothing is moved, so a death at any point leaves the adjustments on
    /// one record, applied once when the process is reaped.
    fn adopt_own_stale_records(&self) {
        let pid = sys::getpid();
        for rec in self.region.suspect_records_of(pid) {
            let stale = self.region.record(rec.index);
            if stale.state.load(Acquire) != PROC_LIVE || stale.pid.load(Relaxed) != pid {
                continue;
            }
            let mut local = self.local();
            // Another such record (an image without the shim came between)
            // is stripped alike and keeps its undo list until this process
            // dies.
            if local.record.is_none() {
                self.region.rearm_record(rec);
                // Threads of the old image killed inside a hold: a collection is due.
                self.region.reset_holds(&stale.holds.0);
                local.record = Some(rec);
                self.magazine_record.store(rec.packed(), Relaxed);
            }
            drop(local);
            crate::faults::crash_point("exec.adopted");
            let _hold = self.hold_under_lock();
            let Ok(Some(_claim)) = self.region.lock_reaping(rec.index, Locking::Wait) else { continue };
            {
                let Ok(_shm) = self.region.lock_shm() else { continue };
                self.shm_drop_record_locked(rec, pid);
            }
            crate::faults::crash_point("exec.attachments_dropped");
            // Waiting, whoever holds the locks: a sleeper of the old image
            // left queued would pass for one of this process.
            self.region.drop_sem_waiters(rec, Locking::Wait);
            self.region.drop_msg_waiters(rec, Locking::Wait);
            self.region.drain_magazine(rec.index);
        }
    }

    /// Records of processes that have died, and whether a record is left
    /// pending (a FORKING record whose parent died while someone still
    /// holds its ticket). Memory reads only, unless a record looks stale.
    fn dead_records(&self) -> (Vec<RecordRef>, bool) {
        let mut pending = false;
        let mut dead = self.region.suspect_records();
        dead.retain(|rec| match self.region.liveness(rec.index) {
            Liveness::Dead => true,
            Liveness::AliveUnarmed => {
                pending |= self.region.record(rec.index).state.load(Acquire) == PROC_FORKING;
                false
            }
            Liveness::Alive => false,
        });
        (dead, pending)
    }

    /// Repairs the state of every process of the box whose death was
    /// noticed (see `procs`: one check of two words while none was).
    ///
    /// Where no supervisor watches, every call looks: a record whose
    /// process lives on unarmed (its holder thread exited, or it runs a
    /// program without the shim) stays suspect, and each call then
    /// confirms it with /proc, but no call ever sees a death late, which is
    /// what Linux's exit-time SEM_UNDO promises (`ctests/sem_exec_noshim`).
    ///
    /// Also tries, now and then, a pending collection of blocks the dead
    /// left in hand (see `collect`).
    #[inline(always)]
    pub(crate) fn reap_dead(&self) {
        if self.region.deaths_unreaped() {
            self.reap_dead_slow(false);
        }
        self.collect_now_and_then();
    }

    /// Repairs after every process of the box that has died, whether or
    /// not its death was noticed, then every lock a dead holder left and
    /// what the dead held in hand (the supervisor after a death; tests and
    /// inspection).
    pub fn repair_dead(&self) {
        self.reap_dead_slow(true);
        self.collect_now_and_then();
    }

    /// Notes that a child of this process was seen to end (the shim's
    /// wait wrappers): the next call reaps it, as Linux had by then.
    pub fn note_child_ended(&self) {
        if self.region.procs().live.load(Relaxed) != 0 {
            self.region.note_death();
        }
    }

    /// For a sleeper (see `wait::wait_done`): whether a supervisor watches
    /// the box; if none does, repairs after the dead now.
    pub(crate) fn supervised_or_repair(&self) -> bool {
        if self.region.procs().watch.supervisor.is_held() {
            return true;
        }
        self.reap_dead();
        false
    }

    #[inline(never)]
    fn reap_dead_slow(&self, repair_locks: bool) {
        let watch = &self.region.procs().watch;
        let noticed = watch.noticed.load(Acquire);
        let (dead, mut pending) = if self.region.any_suspect() { self.dead_records() } else { (Vec::new(), false) };
        if !dead.is_empty() {
            let hold = self.hold();
            for rec in dead {
                // What a stopped process keeps from being done waits for a
                // later call (see the module notes).
                pending |= !self.reap(rec, Locking::UnlessStopped);
            }
            // A dead process may have died holding a lock: repair now what it
            // left half done (a sleeper it was waking may wait for that).
            self.region.repair_abandoned_locks();
            drop(hold);
            // What it held in hand can be collected now, if the box is quiet.
            let _ = self.collect_lost();
        } else if repair_locks {
            let _hold = self.hold();
            self.region.repair_abandoned_locks();
        }
        if !pending {
            watch.reaped.fetch_max(noticed, Release);
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

    /// Undoes a dead record's state and frees it, for a caller that may
    /// hold this process's private lock (fork).
    fn reap_one(&self, rec: RecordRef) {
        let _hold = self.hold_under_lock();
        self.reap(rec, Locking::UnlessStopped);
    }

    /// Undoes the state of record `rec`, whose process is gone, and frees
    /// it; whether nothing is left for a later reap. Something is if
    /// another reaper is at it and is stopped, or (`how` UnlessStopped) a
    /// lock it needs is held by a stopped process. A lock glibc refuses
    /// (the region is corrupt, see `lock`) skips what it guards, for good:
    /// an object's, as if the object were gone; the reaping lock, the shm
    /// facility lock or the table lock, the rest of the reap (the record
    /// is not freed with its attachments still listed). Inside a hold, no
    /// other lock held.
    fn reap(&self, rec: RecordRef, how: Locking) -> bool {
        let _claim = match self.region.lock_reaping(rec.index, how) {
            Ok(Some(claim)) => claim,
            Ok(None) => return false,
            Err(_) => return true,
        };
        if !self.region.record_current(rec) {
            return true;
        }
        let record = self.region.record(rec.index);
        let ended = (record.pid.load(Relaxed), record.start_time.load(Relaxed));
        let mut pid = record.pid.load(Relaxed);
        if pid == 0 {
            // A child that died before its parent learned its pid: its
            // detaches are the forking process's last word.
            let parent = RecordRef::unpacked(record.parent.load(Relaxed));
            if let Some(parent) = parent.filter(|parent| parent.index < self.region.records_high()) {
                pid = self.region.record(parent.index).pid.load(Relaxed);
            }
        }
        let done = self.undo_sem_msg_state(rec, pid, how);
        // Before the record goes: whoever finds it gone finds its orphans
        // gone too, as Linux's exit_shm is done before the parent is told.
        match self.drop_attachments(rec, pid, (ended.0 > 0).then_some(ended), how) {
            Ok(true) => {}
            Ok(false) => return false,
            Err(_) => return true,
        }
        done && self.region.free_record_unless_stopped(rec, how == Locking::UnlessStopped).unwrap_or(true)
    }

    /// What a process that ended leaves for others, given back: its
    /// SEM_UNDO adjustments applied, its sleepers out of their queues, its
    /// cached blocks freed. Whether all of it (see `reap`). The record's
    /// reaping lock held.
    fn undo_sem_msg_state(&self, rec: RecordRef, pid: i32, how: Locking) -> bool {
        let undone = self.region.apply_undos(rec, pid, how);
        let sem_waiters = self.region.drop_sem_waiters(rec, how);
        let msg_waiters = self.region.drop_msg_waiters(rec, how);
        self.region.drain_magazine(rec.index);
        undone && sem_waiters && msg_waiters
    }

    /// The attachments of a process that ended, dropped under the shm
    /// facility lock, and the segments it made that are orphans now
    /// destroyed (with shm_rmid_forced; `ended`: its pid and start time).
    /// Ok(false) if the lock was not had (see `reap`), Err(EINVAL) if
    /// glibc refuses it. The record's reaping lock held.
    fn drop_attachments(&self, rec: RecordRef, pid: i32, ended: Option<(i32, u64)>, how: Locking) -> SysResult<bool> {
        let Some(_shm) = self.region.lock_shm_with(how)? else { return Ok(false) };
        crate::faults::crash_point("reap.shm_locked.held");
        self.shm_drop_record_locked(rec, pid);
        if let Some(ended) = ended {
            self.destroy_orphans_locked(&[ended]);
        }
        Ok(true)
    }

    /// At a normal exit (the shim's atexit handler, which runs after every
    /// other): undoes this process's state now, as Linux does during exit,
    /// before the process's descriptors close. Without this, a process that
    /// learns of the exit otherwise than by waiting (the end of a pipe the
    /// exiting process held) could call before the supervisor has reaped.
    /// Only a single-threaded process does it (another thread could be in
    /// a call), and not a vfork or CLONE_VM child (whose record is its
    /// parent's); any other exit is reaped by whoever notices it.
    pub fn leave_at_exit(&self) {
        let pid = sys::getpid();
        if self.pid() != pid {
            return;
        }
        // An exit from a signal handler that interrupted one of our calls
        // leaves it to the reaper: that call may hold this process's
        // private lock, or a lock of the region (on the thread's robust
        // list), which this thread would wait for forever.
        let Ok(mut local) = self.local.try_lock() else { return };
        let Some(rec) = local.record.filter(|&rec| self.region.record_current(rec)) else {
            // No state to undo; segments made here may be orphans now.
            if self.segment_creator.load(Relaxed) == pid
                && !crate::lock::thread_holds_robust_locks()
                && crate::procs::single_threaded()
            {
                if let Ok(_shm) = self.region.lock_shm() {
                    self.destroy_orphans_locked(&[(pid, self.own_start_time())]);
                }
            }
            return;
        };
        let record = self.region.record(rec.index);
        if record.state.load(Acquire) != PROC_LIVE
            || record.pid.load(Relaxed) != pid
            || record.liveness.thread_holds_others()
            || !crate::procs::single_threaded()
        {
            return;
        }
        {
            let _hold = self.hold_under_lock();
            let Ok(Some(_claim)) = self.region.lock_reaping(rec.index, Locking::Wait) else { return };
            let done = self.undo_sem_msg_state(rec, pid, Locking::UnlessStopped);
            crate::faults::crash_point("exit.state_undone");
            let created = (self.segment_creator.load(Relaxed) == pid).then(|| (pid, self.own_start_time()));
            // What a stopped process, or a lock glibc refuses, keeps from
            // being done is left to the reaper, record and all.
            if !(matches!(self.drop_attachments(rec, pid, created, Locking::UnlessStopped), Ok(true)) && done) {
                return;
            }
        }
        // Out of the hold (freeing resets the hold word) and off this
        // thread's robust list (a record freed may be made anyone's).
        if record.liveness.held_by(sys::gettid()) {
            record.liveness.release();
        }
        // Left, unarmed, for the reaper to free if the table lock's holder
        // is stopped.
        let _ = self.region.free_record_unless_stopped(rec, true);
        local.record = None;
        local.attachments.clear();
        self.attachment_count.store(0, Relaxed);
        self.magazine_record.store(0, Relaxed);
        self.undo_hint.store(0, Relaxed);
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
    /// either process, as Linux counts them during fork; a death of either
    /// process at any instruction of it is repaired (see `procs`: FORKING).
    pub fn fork_with(&self, real_fork: impl FnOnce() -> i32) -> i32 {
        let mut local = self.local();
        let prepared = if local.attachments.is_empty() { None } else { Some(self.prepare_fork(&mut local)) };
        let pid = real_fork();
        // No attachments, or no room to count the child's: it runs uncounted.
        let Some(Ok(fork)) = prepared else {
            if pid == 0 {
                self.become_child(&mut local, None);
            }
            return pid;
        };
        match pid {
            0 => {
                crate::faults::crash_point("fork.child.forked");
                self.become_child(&mut local, Some(fork.child));
                crate::faults::crash_point("fork.child.armed");
                let _ = sys::close(fork.ticket);
                for (attachment, entry) in local.attachments.iter_mut().zip(fork.entries) {
                    attachment.entry = entry;
                }
            }
            pid if pid > 0 => {
                let record = self.region.record(fork.child.index);
                // The child may have armed the record, died and been reaped
                // already, and the record may serve another process now.
                let forking = || {
                    record.generation.load(Relaxed) == fork.child.generation
                        && record.state.load(Acquire) == PROC_FORKING
                };
                if forking() {
                    let _ = record.pid.compare_exchange(0, pid, Relaxed, Relaxed);
                }
                crate::faults::crash_point("fork.parent.forked");
                while forking() {
                    let _ = sys::futex_wait(&record.state, PROC_FORKING, Some(20_000_000));
                    if forking() && sys::child_has_exited(pid) {
                        self.reap_one(fork.child);
                        break;
                    }
                }
                crate::faults::crash_point("fork.parent.settled");
                let _ = sys::close(fork.ticket);
            }
            _ => {
                self.reap_one(fork.child);
                let _ = sys::close(fork.ticket);
            }
        }
        pid
    }

    /// Before fork: the child's FORKING record, its ticket, and a copy of
    /// each of this process's attachments counted for it.
    fn prepare_fork(&self, local: &mut Local) -> SysResult<PreparedFork> {
        let parent = self.own_record(local)?;
        let child = self.region.alloc_forking_record(parent)?;
        crate::faults::crash_point("fork.prepare.allocated");
        let ticket = match self.region.take_fork_ticket(child) {
            Ok(fd) => fd,
            Err(e) => {
                self.reap_one(child);
                return Err(e);
            }
        };
        crate::faults::crash_point("fork.prepare.ticket");
        match self.shm_prepare_child(child, local) {
            Ok(entries) => Ok(PreparedFork { child, ticket, entries }),
            Err(e) => {
                self.reap_one(child);
                let _ = sys::close(ticket);
                Err(e)
            }
        }
    }

    /// In a fork child: this process is now its own, with `record` (armed
    /// here) or none.
    fn become_child(&self, local: &mut Local, record: Option<RecordRef>) {
        let pid = sys::getpid();
        self.owner.store(pid, Relaxed);
        self.undo_hint.store(0, Relaxed);
        self.magazine_record.store(record.map_or(0, RecordRef::packed), Relaxed);
        if let Some(rec) = record {
            self.region.arm_forked_record(rec, pid);
        }
        local.record = record;
    }
}

/// What `prepare_fork` made for a child about to be forked.
struct PreparedFork {
    child: RecordRef,
    /// The descriptor that holds the child's fork ticket.
    ticket: i32,
    /// The attachment entries counted for the child, in the order of the
    /// parent's attachments.
    entries: Vec<u32>,
}

impl Drop for Namespace {
    fn drop(&mut self) {
        self.release_liveness();
    }
}
