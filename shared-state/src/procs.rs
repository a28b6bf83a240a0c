//! The process table: which processes of the box hold state in the region,
//! and how their deaths are noticed.
//!
//! Owns: `ProcRecord`s, their allocation, the answer to "is this process
//! still there?", and the death watch (`DeathWatch`). A process gets a
//! record only when it first holds state that must be undone at its death
//! (shm attachments, SEM_UNDO adjustments, sleepers in semop, msgsnd and
//! msgrcv, the free blocks of its magazine), before it changes a set or
//! queue on a slow path (so that its death, holding that object's lock, is
//! noticed at once), or before a call that may move heap blocks (so that
//! its death with one in hand is noticed: see `collect`), so programs that
//! do not use SysV IPC never touch the table.
//!
//! A record stands for an address space, which is what holds attachments:
//! its `pid` is the process that owns the address space (normally the
//! process itself; for a clone(CLONE_VM) child, the process whose memory it
//! shares), so a thread or a CLONE_VM child that exits leaves the record to
//! its owner, who re-arms it.
//!
//! States, and who answers for a record in each:
//! - FREE: on the free list (or about to be: see the repair below).
//! - LIVE: its process, through `liveness`, a robust mutex held by one
//!   thread of the process for the record's life. When that thread dies
//!   (exit, SIGKILL) or the process execs (which drops every mapping, and so
//!   every attachment), the kernel marks the lock owner-died before the
//!   process's parent can observe the exit, so reading the lock word tells a
//!   stale record without a system call. Only when the word says "gone" do
//!   we confirm with /proc/PID/stat (pid plus start time), because the
//!   holding thread may have been a worker that exited while the process
//!   lives on; the process re-arms its own record at its next call then. A
//!   process that execs a new image with the shim takes its stale record
//!   over at load (its attachments dropped, its SEM_UNDO list kept where it
//!   lies: `Namespace::adopt_own_stale_records`); one that execs an image
//!   without the shim keeps its records until it dies (README: known
//!   deviations). A LIVE record is
//!   made whole under the table lock, its liveness lock taken there, so a
//!   death at any instruction leaves it either FREE or LIVE and owned.
//! - FORKING: a child's record made by its parent before fork, so that the
//!   child's inherited attachments are counted when fork returns, as Linux
//!   counts them. Its `parent` names the forking process's record, which
//!   answers for it while it lives. The parent also takes a *ticket* before
//!   fork: a shared lock (an open file description lock) on the record's
//!   byte of the region's file, through a descriptor of its own that the
//!   child inherits. The lock lasts while the parent or the child keeps
//!   that descriptor: the child closes it once it has armed the record
//!   (FORKING to LIVE), the parent once it saw that, or the child's death,
//!   or fork fail (the parent then frees the record itself). So a FORKING
//!   record whose parent is dead is dead too once no one holds its ticket
//!   (nobody can arm it any more), and still pending while someone does
//!   (the child may be about to arm it). The kernel drops the ticket at
//!   any death, at any instruction, and no pid is needed: a parent killed
//!   between the fork system call and learning its child's pid leaves
//!   nothing unknowable.
//!
//! Deaths noticed without a scan (`DeathWatch`): reaping used to look at
//! every record on every call, a cost that grew with the box. Now each
//! death is noticed once, by whoever learns of it first, and the one who
//! notices bumps `noticed`: the supervisor (a pidfd per LIVE record), a
//! process that waits for a child (the shim's wait wrappers: a parent that
//! reaped a child's exit must see its SEM_UNDO applied and attachments
//! dropped, as on Linux), a thread that finds a region lock owner-died, a
//! sleeper's watch. A call compares `noticed` with `reaped` (two loads of
//! a line no one writes between deaths) and only if they differ scans the
//! table and reaps; the scan then raises `reaped` to the `noticed` it read
//! before it began. Where no supervisor holds `supervisor`, a death may go
//! unnoticed (a process killed whose parent is outside the box, a death
//! seen through a pipe's end), so calls fall back to the scan every time,
//! as exact as before and as costly.
//!
//! Locking: the table lock guards allocation (`high_water`, `free_head`,
//! `next_free`, `live`, and `state` changes to and from FREE). A record's
//! other fields are written under it before `state` leaves FREE with
//! Release, and are read after an Acquire load of `state`; a FORKING
//! record's `pid` is written after, by the parent and the child.
//! `generation` changes at each allocation, so a reaper that decided from a
//! snapshot re-checks it under the record's reaping lock (see `ns`). If a
//! holder of the table lock died, the next holder rebuilds the free list
//! and `live` from the records' states (`repair_table`): a record popped
//! but not yet made LIVE or FORKING, or made FREE but not yet pushed, goes
//! back on the list.
//! `shm_attachments` is guarded by the shm facility lock. Lock order:
//! facility lock, then table lock, then a new record's liveness lock.
//!
//! Corruption (see the region's notes): `high_water` is read through
//! `records_high()`, never past `MAX_PROCS`; a record index read from the
//! region (the free list's, a FORKING record's parent, the one a waiter
//! names) is checked against the table before use, so a free list past it
//! fails the allocation with EINVAL and a reference past it names no
//! record (`record_current`). A table lock or a reaping lock that glibc
//! refuses (see `lock`) fails an allocation with EINVAL and leaves a
//! record unfreed, or unreaped (see `ns`).

use crate::lock::{Guard, LivenessLock, RobustMutex};
use crate::region::{corrupt, Area, Region, MAX_PROCS};
use crate::sys::{self, SysResult};
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering::*};

pub const PROC_FREE: u32 = 0;
pub const PROC_FORKING: u32 = 1;
pub const PROC_LIVE: u32 = 2;

/// Byte of the region's file whose lock is record `index`'s fork ticket:
/// far past any data, where no one reads or writes.
const TICKET_BASE: u64 = 1 << 62;

#[repr(C)]
pub struct ProcTable {
    pub lock: RobustMutex,
    /// Records below this index have been used at least once. Table lock.
    pub high_water: AtomicU32,
    /// Free list head: record index + 1, 0 for none. Table lock.
    pub free_head: AtomicU32,
    /// Records not FREE. Table lock to write; read lock-free.
    pub live: AtomicU32,
    /// Bumped (and woken) each time a record becomes LIVE, so a supervisor
    /// can start watching its process.
    pub registrations: AtomicU32,
    /// Read by every call: on a cache line of its own.
    pub watch: DeathWatch,
}

/// How calls learn, with two loads, that a process of the box died (see
/// the module notes).
#[repr(C, align(64))]
pub struct DeathWatch {
    /// Deaths noticed: bumped by whoever learns of one. Atomic adds.
    pub noticed: AtomicU64,
    /// Every death noticed up to this count has been reaped. Raised (never
    /// lowered) by reapers after a complete scan.
    pub reaped: AtomicU64,
    /// Held for good by a supervisor (`watch_deaths`) while one watches the
    /// box: deaths are then always noticed, and sleepers leave repairs to
    /// it. Otherwise calls scan for the dead every time.
    pub supervisor: LivenessLock,
}

impl ProcTable {
    /// # Safety
    /// Only while creating the region.
    pub(crate) unsafe fn init(&self) {
        crate::region::init_lock(&self.lock);
        // SAFETY: forwarded: the region is not shared yet.
        unsafe { self.watch.supervisor.init() };
    }
}

#[repr(C)]
pub struct ProcRecord {
    /// Held by `holder_tid` for as long as the record's process lives.
    /// Taken under the table lock as the record becomes LIVE.
    pub liveness: LivenessLock,
    /// Held by whoever undoes the record's state after its process ended
    /// (its reaper, or the process itself at exit), so that two never work
    /// on one record at once (see `ns`). Made once, before the record is
    /// first used, and never again.
    pub reaping: RobustMutex,
    /// PROC_FREE, PROC_FORKING or PROC_LIVE. See the module notes; also the
    /// futex the forking parent sleeps on.
    pub state: AtomicU32,
    /// Bumped at each allocation. Table lock.
    pub generation: AtomicU32,
    /// The process. LIVE: written before LIVE. FORKING: 0 until the parent
    /// learns its child's pid (or the child arms the record).
    pub pid: AtomicI32,
    /// The thread holding `liveness`. Written by the record's process.
    pub holder_tid: AtomicI32,
    /// Start time in clock ticks (field 22 of /proc/PID/stat). Written before LIVE.
    pub start_time: AtomicU64,
    /// FORKING: the forking process's record (`RecordRef::packed`).
    /// Written under the table lock before FORKING.
    pub parent: AtomicU64,
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

impl RecordRef {
    /// One word: (generation << 32) | (index + 1); 0 names no record.
    pub fn packed(self) -> u64 {
        ((self.generation as u64) << 32) | (self.index as u64 + 1)
    }

    pub fn unpacked(word: u64) -> Option<RecordRef> {
        let index = (word as u32).checked_sub(1)?;
        Some(RecordRef { index, generation: (word >> 32) as u32 })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    Alive,
    /// LIVE: the holder thread is gone but the process lives on (or
    /// exec'd). FORKING: the parent is gone but its ticket is still held,
    /// so the child may yet arm the record.
    AliveUnarmed,
    Dead,
}

impl Region {
    pub fn procs(&self) -> &ProcTable {
        &self.header().procs
    }

    /// Record `index` (taken modulo MAX_PROCS: see `Region::table_entry`).
    pub fn record(&self, index: u32) -> &ProcRecord {
        // SAFETY: the table of records, of MAX_PROCS entries.
        unsafe { self.table_entry(Area::Procs, MAX_PROCS, index) }
    }

    /// Where record `index`'s pid is copied, densely, so that the records
    /// of one pid are found without reading every record (see
    /// `suspect_records_of`). A hint: written with the record's own pid.
    fn pid_copy(&self, index: u32) -> &AtomicI32 {
        // SAFETY: the table of pids, of MAX_PROCS entries.
        unsafe { self.table_entry(Area::Pids, MAX_PROCS, index) }
    }

    /// Sets record `index`'s pid and its copy.
    fn set_record_pid(&self, index: u32, pid: i32) {
        self.record(index).pid.store(pid, Relaxed);
        self.pid_copy(index).store(pid, Relaxed);
    }

    /// Records below this have been used: `high_water`, never past the
    /// table even if the region says so.
    #[inline]
    pub(crate) fn records_high(&self) -> u32 {
        self.procs().high_water.load(Acquire).min(MAX_PROCS)
    }

    /// The table lock, the free list and counts rebuilt first if its last
    /// holder died holding it.
    fn lock_table(&self) -> SysResult<Guard<'_>> {
        let guard = self.procs().lock.lock()?;
        Ok(self.table_taken(guard))
    }

    /// `lock_table`, unless its holder is stopped (see
    /// `RobustMutex::lock_unless_stopped`): Ok(None) then.
    fn lock_table_unless_stopped(&self) -> SysResult<Option<Guard<'_>>> {
        let Some(guard) = self.procs().lock.lock_unless_stopped()? else { return Ok(None) };
        Ok(Some(self.table_taken(guard)))
    }

    /// The table lock just taken, repaired first if its last holder died
    /// holding it.
    fn table_taken<'a>(&self, guard: Guard<'a>) -> Guard<'a> {
        if guard.owner_died {
            self.repair_table();
            self.note_death();
        }
        guard
    }

    /// Rebuilds the free list and `live` from the records' states. Table
    /// lock held, its last holder dead: a record it had popped but not yet
    /// given a state, or made FREE but not yet pushed, is FREE and off the
    /// list; either way the walk puts it back.
    fn repair_table(&self) {
        let table = self.procs();
        let high = self.records_high();
        let (mut free_head, mut live) = (0, 0);
        for index in (0..high).rev() {
            let record = self.record(index);
            if record.state.load(Relaxed) == PROC_FREE {
                record.next_free.store(free_head, Relaxed);
                free_head = index + 1;
            } else {
                live += 1;
            }
        }
        table.free_head.store(free_head, Relaxed);
        table.live.store(live, Relaxed);
    }

    /// Takes a FREE record off the list and resets it for a new life.
    /// Table lock held.
    fn pop_free_record(&self) -> SysResult<RecordRef> {
        let table = self.procs();
        let free = table.free_head.load(Relaxed);
        let index = if free != 0 {
            let index = free - 1;
            if index >= self.records_high() {
                return Err(corrupt("the free list of process records past the table"));
            }
            table.free_head.store(self.record(index).next_free.load(Relaxed), Relaxed);
            index
        } else {
            let index = table.high_water.load(Relaxed);
            if index >= MAX_PROCS {
                return Err(libc::ENOMEM);
            }
            self.map_area(Area::Procs, (index as usize + 1) * core::mem::size_of::<ProcRecord>())?;
            self.map_area(Area::Pids, (index as usize + 1) * 4)?;
            // SAFETY: a record past the high water is no one's: no thread
            // holds or waits on its reaping lock. Made again if this thread
            // dies before the store below, as no one has used it.
            unsafe { self.record(index).reaping.init() };
            // Sequentially consistent: a collector reads it so (see `collect`).
            table.high_water.store(index + 1, SeqCst);
            index
        };
        crate::faults::crash_point("procs.alloc.popped");
        let record = self.record(index);
        let generation = record.generation.load(Relaxed).wrapping_add(1);
        record.generation.store(generation, Relaxed);
        self.set_record_pid(index, 0);
        record.start_time.store(0, Relaxed);
        record.holder_tid.store(0, Relaxed);
        record.parent.store(0, Relaxed);
        record.shm_attachments.store(0, Relaxed);
        record.sem_undos.store(0, Relaxed);
        record.sem_waiters.store(0, Relaxed);
        record.msg_waiters.store(0, Relaxed);
        record.magazine.reset();
        Ok(RecordRef { index, generation })
    }

    /// A LIVE record for the calling thread's process, `owner` (the caller
    /// itself, unless it shares its owner's memory through
    /// clone(CLONE_VM)), its liveness lock held by the calling thread.
    pub fn alloc_live_record(&self, owner: i32) -> SysResult<RecordRef> {
        let start_time = start_time_of(owner);
        let rec = {
            let _guard = self.lock_table()?;
            let rec = self.pop_free_record()?;
            let record = self.record(rec.index);
            // SAFETY: the record is FREE and off the list: no thread holds
            // or waits on its liveness lock.
            unsafe { record.liveness.init_and_hold() };
            record.holder_tid.store(record.liveness.holder(), Relaxed);
            self.set_record_pid(rec.index, owner);
            record.start_time.store(start_time, Relaxed);
            crate::faults::crash_point("procs.alloc.held");
            self.announce_registration();
            record.state.store(PROC_LIVE, Release);
            self.procs().live.fetch_add(1, Relaxed);
            rec
        };
        Ok(rec)
    }

    /// A FORKING record for a child of the process of record `parent`
    /// (see the module notes: the parent then takes its ticket).
    pub fn alloc_forking_record(&self, parent: RecordRef) -> SysResult<RecordRef> {
        let _guard = self.lock_table()?;
        let rec = self.pop_free_record()?;
        let record = self.record(rec.index);
        record.parent.store(parent.packed(), Relaxed);
        record.state.store(PROC_FORKING, Release);
        self.procs().live.fetch_add(1, Relaxed);
        Ok(rec)
    }

    /// Takes the fork ticket of FORKING record `rec`: a descriptor of the
    /// region's file of its own, locked on the record's byte. The caller
    /// forks with it open, and both parent and child close it when done.
    pub fn take_fork_ticket(&self, rec: RecordRef) -> SysResult<i32> {
        let fd = sys::reopen_read_only(self.fd())?;
        if let Err(e) = sys::ofd_read_lock(fd, TICKET_BASE + rec.index as u64) {
            let _ = sys::close(fd);
            return Err(e);
        }
        Ok(fd)
    }

    /// Whether anyone still holds the fork ticket of record `index`.
    fn fork_ticket_held(&self, index: u32) -> bool {
        sys::ofd_lock_held(self.fd(), TICKET_BASE + index as u64)
    }

    /// Makes a FORKING record the calling process's own and LIVE (the
    /// child, right after fork; it closes its ticket after this).
    pub fn arm_forked_record(&self, rec: RecordRef, owner: i32) {
        let record = self.record(rec.index);
        // SAFETY: the record is FORKING: no thread holds or waits on its
        // liveness lock (the parent only reads the state).
        unsafe { record.liveness.init_and_hold() };
        record.holder_tid.store(record.liveness.holder(), Relaxed);
        self.set_record_pid(rec.index, owner);
        record.start_time.store(start_time_of(owner), Relaxed);
        self.announce_registration();
        crate::faults::crash_point("fork.child.announced");
        record.state.store(PROC_LIVE, Release);
        sys::futex_wake(&record.state, i32::MAX);
    }

    /// Tells a supervisor to watch a process whose pid and start time its
    /// record now holds. Done before the record becomes LIVE: a process
    /// that died right after would otherwise hold state no one watches.
    fn announce_registration(&self) {
        let table = self.procs();
        table.registrations.fetch_add(1, Release);
        sys::futex_wake(&table.registrations, i32::MAX);
    }

    /// Records whose process announced itself (pid and start time set:
    /// LIVE, or about to be), as (reference, pid, start time): what a
    /// supervisor watches.
    pub fn announced_records(&self) -> Vec<(RecordRef, i32, u64)> {
        self.snapshot_records(|record| record.pid.load(Relaxed) > 0 && record.start_time.load(Relaxed) != 0)
    }

    /// LIVE records as (reference, pid, start time).
    pub fn live_records(&self) -> Vec<(RecordRef, i32, u64)> {
        self.snapshot_records(|record| record.state.load(Acquire) == PROC_LIVE)
    }

    fn snapshot_records(&self, keep: impl Fn(&ProcRecord) -> bool) -> Vec<(RecordRef, i32, u64)> {
        (0..self.records_high())
            .filter_map(|index| {
                let record = self.record(index);
                let generation = record.generation.load(Acquire);
                keep(record).then(|| {
                    (RecordRef { index, generation }, record.pid.load(Relaxed), record.start_time.load(Relaxed))
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

    /// The reaping lock of record `index` (see `ProcRecord::reaping`),
    /// taken as `how` says (Ok(None): it was not had; Err(EINVAL): glibc
    /// refuses it, see `lock`). A reaper that died with it left steps that
    /// the next one takes again.
    pub(crate) fn lock_reaping(&self, index: u32, how: crate::table::Locking) -> SysResult<Option<Guard<'_>>> {
        let lock = &self.record(index).reaping;
        match how {
            crate::table::Locking::Wait => lock.lock().map(Some),
            crate::table::Locking::Briefly => lock.lock_briefly(),
            crate::table::Locking::UnlessStopped => lock.lock_unless_stopped(),
        }
    }

    /// Returns a record to the free list. The caller has already undone its
    /// state. Nothing is done if glibc refuses the table lock (see `lock`).
    pub fn free_record(&self, rec: RecordRef) {
        let _ = self.free_record_unless_stopped(rec, false);
    }

    /// `free_record`; with `unless_stopped`, Ok(false) (nothing done) if
    /// the table lock's holder is stopped: a reaper then leaves the record,
    /// whose state is undone, for a later reap to free (see `ns`).
    /// Err(EINVAL), nothing done, if glibc refuses the table lock.
    pub(crate) fn free_record_unless_stopped(&self, rec: RecordRef, unless_stopped: bool) -> SysResult<bool> {
        let table = self.procs();
        let guard = if unless_stopped { self.lock_table_unless_stopped()? } else { Some(self.lock_table()?) };
        let Some(_guard) = guard else { return Ok(false) };
        let record = self.record(rec.index);
        if record.generation.load(Relaxed) != rec.generation || record.state.load(Relaxed) == PROC_FREE {
            return Ok(true);
        }
        self.reset_holds(&record.holds.0);
        self.set_record_pid(rec.index, 0);
        record.start_time.store(0, Relaxed);
        record.state.store(PROC_FREE, Release);
        crate::faults::crash_point("procs.free.unlisted");
        record.next_free.store(table.free_head.load(Relaxed), Relaxed);
        table.free_head.store(rec.index + 1, Relaxed);
        table.live.fetch_sub(1, Relaxed);
        Ok(true)
    }

    /// Whether the process of a record is still there. May read /proc (a
    /// LIVE record whose holder thread is gone) or ask the kernel about a
    /// fork ticket (a FORKING record whose parent is gone).
    pub fn liveness(&self, index: u32) -> Liveness {
        let record = self.record(index);
        match record.state.load(Acquire) {
            PROC_FORKING => {
                if self.parent_alive(record) {
                    Liveness::Alive
                } else if self.fork_ticket_held(index) || record.state.load(Acquire) != PROC_FORKING {
                    // Held: the child may still arm it. Armed meanwhile: it
                    // is the child's now, and its death will be noticed.
                    Liveness::AliveUnarmed
                } else {
                    // No one holds the ticket and it is still FORKING: the
                    // child never armed it and never will.
                    Liveness::Dead
                }
            }
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

    /// Whether the process that made FORKING `record` still lives (memory
    /// reads only): it then answers for the record.
    fn parent_alive(&self, record: &ProcRecord) -> bool {
        let Some(parent) = RecordRef::unpacked(record.parent.load(Relaxed)) else { return false };
        if parent.index >= self.records_high() {
            return false;
        }
        let owner = self.record(parent.index);
        owner.generation.load(Relaxed) == parent.generation
            && owner.state.load(Acquire) == PROC_LIVE
            && owner.liveness.held_by(owner.holder_tid.load(Relaxed))
    }

    /// Records that look stale, with their generation: LIVE ones whose
    /// liveness lock lost its holder, FORKING ones whose parent is gone.
    /// Costs memory reads only, over the whole table.
    pub fn suspect_records(&self) -> Vec<RecordRef> {
        let table = self.procs();
        if table.live.load(Relaxed) == 0 {
            return Vec::new();
        }
        (0..self.records_high())
            .filter_map(|index| {
                let generation = self.record(index).generation.load(Relaxed);
                self.is_suspect(index).then_some(RecordRef { index, generation })
            })
            .collect()
    }

    /// The records of `suspect_records` that name process `pid`: what an
    /// image that process executed left (see `ns`). Reads the dense copies
    /// of the pids (4 bytes a record), then only the records that match.
    pub(crate) fn suspect_records_of(&self, pid: i32) -> Vec<RecordRef> {
        if self.procs().live.load(Relaxed) == 0 {
            return Vec::new();
        }
        let high = self.records_high();
        if self.map_area(Area::Pids, high as usize * 4).is_err() {
            return self
                .suspect_records()
                .into_iter()
                .filter(|rec| self.record(rec.index).pid.load(Relaxed) == pid)
                .collect();
        }
        (0..high)
            .filter(|&index| self.pid_copy(index).load(Relaxed) == pid)
            .filter_map(|index| {
                let record = self.record(index);
                let generation = record.generation.load(Relaxed);
                (record.pid.load(Relaxed) == pid && self.is_suspect(index)).then_some(RecordRef { index, generation })
            })
            .collect()
    }

    /// Whether `suspect_records` would name any record; no allocation.
    pub fn any_suspect(&self) -> bool {
        if self.procs().live.load(Relaxed) == 0 {
            return false;
        }
        (0..self.records_high()).any(|index| self.is_suspect(index))
    }

    fn is_suspect(&self, index: u32) -> bool {
        let record = self.record(index);
        match record.state.load(Acquire) {
            PROC_LIVE => !record.liveness.held_by(record.holder_tid.load(Relaxed)),
            PROC_FORKING => !self.parent_alive(record),
            _ => false,
        }
    }

    /// Notes that a process of the box may have died (see `DeathWatch`):
    /// the next call of any process reaps.
    pub fn note_death(&self) {
        self.procs().watch.noticed.fetch_add(1, Release);
    }

    /// Whether a call must look for the dead before it acts: a death was
    /// noticed and not yet reaped, or no supervisor notices deaths.
    #[inline(always)]
    pub(crate) fn deaths_unreaped(&self) -> bool {
        let watch = &self.procs().watch;
        watch.noticed.load(Acquire) != watch.reaped.load(Acquire) || !watch.supervisor.is_held()
    }

    /// Indices of the records in use (not FREE), as of now.
    pub(crate) fn records_in_use(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.records_high()).filter(|&index| self.record(index).state.load(Acquire) != PROC_FREE)
    }

    /// The table's free list holds exactly the FREE records below
    /// `high_water`, once each, and `live` counts the others. Exact while
    /// no other thread allocates or frees.
    pub(crate) fn check_procs(&self) -> Result<(), String> {
        let _guard = self.lock_table().map_err(|_| "procs: a lock glibc refuses".to_string())?;
        let table = self.procs();
        let high = table.high_water.load(Relaxed);
        if high > MAX_PROCS {
            return Err(format!("procs: high water {high} past the table"));
        }
        let mut listed = vec![false; high as usize];
        let mut next = table.free_head.load(Relaxed);
        while next != 0 {
            let index = next - 1;
            match listed.get_mut(index as usize) {
                None => return Err(format!("procs: free list names record {index}, past {high}")),
                Some(true) => return Err(format!("procs: record {index} is on the free list twice")),
                Some(seen) => *seen = true,
            }
            if self.record(index).state.load(Relaxed) != PROC_FREE {
                return Err(format!("procs: record {index} is on the free list but in use"));
            }
            next = self.record(index).next_free.load(Relaxed);
        }
        let mut in_use = 0;
        for index in 0..high {
            let free = self.record(index).state.load(Relaxed) == PROC_FREE;
            if free && !listed[index as usize] {
                return Err(format!("procs: record {index} is FREE but lost to the free list"));
            }
            in_use += u32::from(!free);
        }
        let live = table.live.load(Relaxed);
        if live != in_use {
            return Err(format!("procs: live says {live}, {in_use} records are in use"));
        }
        Ok(())
    }

    /// Whether `rec` still names the same allocation of its record (one
    /// past the table, read from a corrupt region, names none).
    pub fn record_current(&self, rec: RecordRef) -> bool {
        rec.index < MAX_PROCS && {
            let record = self.record(rec.index);
            record.generation.load(Relaxed) == rec.generation && record.state.load(Acquire) != PROC_FREE
        }
    }
}

/// What the box reads of a /proc/PID/stat.
struct Stat {
    /// Zombie or dead (state Z or X).
    gone: bool,
    /// Field 20.
    threads: u64,
    /// Field 22, in clock ticks since boot.
    start_time: u64,
}

fn stat_of(path: &core::ffi::CStr) -> Option<Stat> {
    let mut buf = [0u8; 1024];
    let n = sys::read_file(path, &mut buf).ok()?;
    let text = &buf[..n];
    // The command name (field 2) may hold spaces and parentheses.
    let close = text.iter().rposition(|&b| b == b')')?;
    let mut fields = text[close + 1..].split(|&b| b == b' ').filter(|f| !f.is_empty());
    let number = |field: &[u8]| core::str::from_utf8(field).ok()?.trim().parse().ok();
    let state = fields.next()?.first().copied()?;
    let threads = number(fields.nth(16)?)?;
    let start_time = number(fields.nth(1)?)?;
    Some(Stat { gone: state == b'Z' || state == b'X', threads, start_time })
}

/// Whether the calling process has one thread.
pub(crate) fn single_threaded() -> bool {
    stat_of(c"/proc/self/stat").is_some_and(|stat| stat.threads == 1)
}

pub(crate) fn start_time_of(pid: i32) -> u64 {
    let stat = if pid == sys::getpid() {
        stat_of(c"/proc/self/stat")
    } else {
        stat_of(&std::ffi::CString::new(format!("/proc/{pid}/stat")).expect("no NUL in a number"))
    };
    stat.map_or(0, |stat| stat.start_time)
}

/// Whether `pid` is a living (not zombie) process that started at `start_time`.
pub(crate) fn process_matches(pid: i32, start_time: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    let path = std::ffi::CString::new(format!("/proc/{pid}/stat")).expect("no NUL in a number");
    stat_of(&path).is_some_and(|stat| !stat.gone && stat.start_time == start_time)
}
