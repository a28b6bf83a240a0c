//! The process table: which processes of the box hold state in the region.
//!
//! Owns: `ProcRecord`s, their allocation, and the answer to "is this process
//! still there?". A process gets a record only when it first holds state that
//! must be undone at its death (shm attachments, SEM_UNDO adjustments,
//! sleepers in semop, msgsnd and msgrcv, the free blocks of its magazine),
//! before it changes a set or queue on a slow path (so that its death,
//! holding that object's lock, is noticed at once), or before a call that
//! may move heap blocks (so that its death with one in hand is noticed: see
//! `collect`), so programs that do not use SysV IPC never touch the table.
//!
//! A record stands for an address space, which is what holds attachments:
//! its `pid` is the process that owns the address space (normally the
//! process itself; for a clone(CLONE_VM) child, the process whose memory it
//! shares), so a thread or a CLONE_VM child that exits leaves the record to
//! its owner, who re-arms it.
//!
//! Liveness without system calls: each record's `LivenessLock` is a robust
//! mutex held by one thread of the process for the record's life. When that
//! thread dies (exit, SIGKILL) or the process execs (which drops every
//! mapping, and so every attachment), the kernel marks the lock owner-died
//! before the process's parent can observe the exit. Reading the lock word is
//! therefore enough to know a record is stale. Only when the word says
//! "gone" do we confirm with /proc/PID/stat (pid plus start time), because the
//! holding thread may have been a worker that exited while the process lives
//! on; the process re-arms its own record at its next call in that case. A
//! process that execs a new image with the shim reaps its own stale records
//! at load; one that execs an image without the shim keeps its records until
//! it dies (README: known deviations).
//!
//! Records born in fork: the parent creates the child's record (state
//! FORKING) before fork so that the child's inherited attachments are counted
//! when fork returns, as Linux counts them; the child arms the record at once
//! and the parent waits for that (or for the child's death) before returning.
//!
//! Locking: the table lock guards allocation (`high_water`, `free_head`,
//! `next_free`, `live`, and `state` changes to and from FREE). A record's
//! other fields are written by its own process (or the forking parent) before
//! `state` becomes LIVE with Release, and are read after an Acquire load of
//! `state`. `generation` changes at each allocation, so a reaper that decided
//! from a snapshot re-checks it under the lock. `shm_attachments` is guarded
//! by the shm facility lock. Lock order: facility lock, then table lock.

use crate::lock::{LivenessLock, RobustMutex};
use crate::region::{Region, MAX_PROCS, PROCS_OFFSET};
use crate::sys::{self, SysResult};
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering::*};

pub const PROC_FREE: u32 = 0;
pub const PROC_FORKING: u32 = 1;
pub const PROC_LIVE: u32 = 2;

#[repr(C)]
pub struct ProcTable {
    pub lock: RobustMutex,
    /// Records below this index have been used at least once. Table lock.
    pub high_water: AtomicU32,
    /// Free list head: record index + 1, 0 for none. Table lock.
    pub free_head: AtomicU32,
    /// Records not FREE. Table lock to write; read lock-free to skip scans.
    pub live: AtomicU32,
    /// Bumped (and woken) each time a record becomes LIVE, so a supervisor
    /// can start watching its process.
    pub registrations: AtomicU32,
    /// Held for good by a supervisor (`watch_deaths`) while one watches the
    /// box: sleepers then leave repairs after the dead to it, and otherwise
    /// repair themselves now and then (see `wait::wait_done`).
    pub supervisor: LivenessLock,
}

impl ProcTable {
    /// # Safety
    /// Only while creating the region.
    pub(crate) unsafe fn init(&self) {
        crate::region::init_lock(&self.lock);
        // SAFETY: forwarded: the region is not shared yet.
        unsafe { self.supervisor.init() };
    }
}

#[repr(C)]
pub struct ProcRecord {
    /// Held by `holder_tid` for as long as the record's process lives.
    pub liveness: LivenessLock,
    /// PROC_FREE, PROC_FORKING or PROC_LIVE. See the module notes; also the
    /// futex the forking parent sleeps on.
    pub state: AtomicU32,
    /// Bumped at each allocation. Table lock.
    pub generation: AtomicU32,
    /// The process. Written before LIVE.
    pub pid: AtomicI32,
    /// The thread holding `liveness`. Written by the record's process.
    pub holder_tid: AtomicI32,
    /// Start time in clock ticks (field 22 of /proc/PID/stat). Written before LIVE.
    pub start_time: AtomicU64,
    /// Free list link. Table lock.
    pub next_free: AtomicU32,
    /// First shm attachment entry + 1, 0 for none. Shm facility lock.
    pub shm_attachments: AtomicU32,
    /// First SEM_UNDO record (heap offset), 0 for none. Written by the
    /// record's process while it lives, by its reaper after.
    pub sem_undos: AtomicU64,
    /// First semop `Waiter` (heap offset) of a thread of this process, from
    /// its allocation to its free: the list owns the blocks (a queue only
    /// links them). Written by the record's process under its private lock
    /// while it lives, by its reaper after.
    pub sem_waiters: AtomicU64,
    /// First `MsgWaiter` (heap offset) of a thread of this process sleeping
    /// in msgsnd/msgrcv, 0 for none. Written by the record's process under
    /// its private lock while it lives, by its reaper after.
    pub msg_waiters: AtomicU64,
    /// Threads of this process inside a hold (low 32 bits) and holds taken
    /// (high 32): see `collect`. Its threads' atomic adds; reset when the
    /// record is freed (table lock).
    pub holds: crate::collect::HoldWord,
    /// Free blocks this process keeps at hand (see `magazine`).
    pub magazine: crate::magazine::Magazine,
}

/// A record as one process knows it: index and generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordRef {
    pub index: u32,
    pub generation: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    Alive,
    /// The holder thread is gone but the process lives on (or exec'd).
    AliveUnarmed,
    Dead,
}

impl Region {
    pub fn procs(&self) -> &ProcTable {
        &self.header().procs
    }

    pub fn record(&self, index: u32) -> &ProcRecord {
        assert!(index < MAX_PROCS);
        // SAFETY: index < MAX_PROCS, the table's capacity.
        unsafe { self.table_entry(PROCS_OFFSET, index) }
    }

    /// Allocates a record in state FORKING (not yet anyone's). Returns its reference.
    pub fn alloc_record(&self) -> SysResult<RecordRef> {
        let table = self.procs();
        let _guard = table.lock.lock();
        let free = table.free_head.load(Relaxed);
        let index = if free != 0 {
            let index = free - 1;
            table.free_head.store(self.record(index).next_free.load(Relaxed), Relaxed);
            index
        } else {
            let index = table.high_water.load(Relaxed);
            if index >= MAX_PROCS {
                return Err(libc::ENOMEM);
            }
            table.high_water.store(index + 1, Relaxed);
            index
        };
        let record = self.record(index);
        let generation = record.generation.load(Relaxed).wrapping_add(1);
        record.generation.store(generation, Relaxed);
        record.pid.store(0, Relaxed);
        record.holder_tid.store(0, Relaxed);
        record.shm_attachments.store(0, Relaxed);
        record.sem_undos.store(0, Relaxed);
        record.sem_waiters.store(0, Relaxed);
        record.msg_waiters.store(0, Relaxed);
        record.magazine.reset();
        record.state.store(PROC_FORKING, Release);
        table.live.fetch_add(1, Relaxed);
        Ok(RecordRef { index, generation })
    }

    /// Makes a FORKING record the calling process's own and LIVE.
    /// `owner` is the process whose address space the record stands for
    /// (the caller itself, unless it shares its owner's memory through
    /// clone(CLONE_VM)).
    pub fn arm_record(&self, rec: RecordRef, owner: i32) {
        let record = self.record(rec.index);
        // SAFETY: the record is FORKING: no thread holds or waits on its liveness lock.
        unsafe { record.liveness.init_and_hold() };
        record.holder_tid.store(record.liveness.holder(), Relaxed);
        record.pid.store(owner, Relaxed);
        record.start_time.store(start_time_of(owner), Relaxed);
        record.state.store(PROC_LIVE, Release);
        sys::futex_wake(&record.state, i32::MAX);
        let table = self.procs();
        table.registrations.fetch_add(1, Release);
        sys::futex_wake(&table.registrations, i32::MAX);
    }

    /// LIVE records as (reference, pid, start time): what a supervisor watches.
    pub fn live_records(&self) -> Vec<(RecordRef, i32, u64)> {
        let high = self.procs().high_water.load(Acquire);
        (0..high)
            .filter_map(|index| {
                let record = self.record(index);
                let generation = record.generation.load(Relaxed);
                (record.state.load(Acquire) == PROC_LIVE).then(|| {
                    let pid = record.pid.load(Relaxed);
                    (RecordRef { index, generation }, pid, record.start_time.load(Relaxed))
                })
            })
            .collect()
    }

    /// Whether `pid` is a living process that started at `start_time`.
    pub fn process_is(&self, pid: i32, start_time: u64) -> bool {
        process_matches(pid, start_time)
    }

    /// Re-takes the calling process's own record's liveness lock after the
    /// thread that held it exited.
    pub fn rearm_record(&self, rec: RecordRef) {
        let record = self.record(rec.index);
        record.holder_tid.store(record.liveness.take_over(), Relaxed);
    }

    /// Returns a record to the free list. The caller has already undone its state.
    pub fn free_record(&self, rec: RecordRef) {
        let table = self.procs();
        let _guard = table.lock.lock();
        let record = self.record(rec.index);
        if record.generation.load(Relaxed) != rec.generation || record.state.load(Relaxed) == PROC_FREE {
            return;
        }
        self.reset_holds(&record.holds.0);
        record.state.store(PROC_FREE, Release);
        record.next_free.store(table.free_head.load(Relaxed), Relaxed);
        table.free_head.store(rec.index + 1, Relaxed);
        table.live.fetch_sub(1, Relaxed);
    }

    /// Whether the process of a record is still there.
    pub fn liveness(&self, index: u32) -> Liveness {
        let record = self.record(index);
        match record.state.load(Acquire) {
            PROC_FORKING => Liveness::Alive,
            PROC_LIVE => {
                if record.liveness.held_by(record.holder_tid.load(Relaxed)) {
                    Liveness::Alive
                } else if process_matches(record.pid.load(Relaxed), record.start_time.load(Relaxed)) {
                    Liveness::AliveUnarmed
                } else {
                    Liveness::Dead
                }
            }
            _ => Liveness::Dead,
        }
    }

    /// Records that look stale: LIVE ones whose liveness lock lost its holder,
    /// with their generation. Costs memory reads only.
    pub fn suspect_records(&self) -> Vec<RecordRef> {
        let table = self.procs();
        if table.live.load(Relaxed) == 0 {
            return Vec::new();
        }
        let high = table.high_water.load(Acquire);
        (0..high)
            .filter_map(|index| {
                let generation = self.record(index).generation.load(Relaxed);
                self.is_suspect(index).then_some(RecordRef { index, generation })
            })
            .collect()
    }

    /// Whether `suspect_records` would name any record; no allocation, for
    /// the check every operation makes.
    #[inline]
    pub fn any_suspect(&self) -> bool {
        let high = self.procs().high_water.load(Acquire);
        (0..high).any(|index| self.is_suspect(index))
    }

    fn is_suspect(&self, index: u32) -> bool {
        let record = self.record(index);
        record.state.load(Acquire) == PROC_LIVE && !record.liveness.held_by(record.holder_tid.load(Relaxed))
    }

    /// Indices of the records in use (not FREE), as of now.
    pub(crate) fn records_in_use(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.procs().high_water.load(Acquire)).filter(|&index| self.record(index).state.load(Acquire) != PROC_FREE)
    }

    /// Whether `rec` still names the same allocation of its record.
    pub fn record_current(&self, rec: RecordRef) -> bool {
        let record = self.record(rec.index);
        record.generation.load(Relaxed) == rec.generation && record.state.load(Acquire) != PROC_FREE
    }
}

/// Field 22 of /proc/PID/stat, and whether the process is a zombie.
fn stat_of(path: &core::ffi::CStr) -> Option<(u64, bool)> {
    let mut buf = [0u8; 1024];
    let n = sys::read_file(path, &mut buf).ok()?;
    let text = &buf[..n];
    let close = text.iter().rposition(|&b| b == b')')?;
    let mut fields = text[close + 1..].split(|&b| b == b' ').filter(|f| !f.is_empty());
    let state = fields.next()?.first().copied()?;
    let start = fields.nth(18)?;
    let start_time = core::str::from_utf8(start).ok()?.trim().parse().ok()?;
    Some((start_time, state == b'Z' || state == b'X'))
}

fn start_time_of(pid: i32) -> u64 {
    let stat = if pid == sys::getpid() {
        stat_of(c"/proc/self/stat")
    } else {
        stat_of(&std::ffi::CString::new(format!("/proc/{pid}/stat")).expect("no NUL in a number"))
    };
    stat.map_or(0, |(t, _)| t)
}

/// Whether `pid` is a living (not zombie) process that started at `start_time`.
fn process_matches(pid: i32, start_time: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    let path = std::ffi::CString::new(format!("/proc/{pid}/stat")).expect("no NUL in a number");
    matches!(stat_of(&path), Some((t, false)) if t == start_time)
}
