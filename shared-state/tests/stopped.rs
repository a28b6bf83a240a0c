//! A process stopped inside a call (SIGSTOP, a debugger attaching) must not
//! stall the others: on Linux a stopped process never blocks another's IPC.
//! Here it may block what it was operating on (its object's lock is held),
//! and, if it stopped inside a facility lock, what needs that lock (create,
//! remove and key lookup of that facility; shmat and shmdt need the shm
//! facility lock); nothing else.
//!
//! For every crash point in the code (`faults::crash_point`; the test reads
//! the sources and fails for a point it has no case for), a child S stops
//! itself there (`faults::arm_stop`) in the call that reaches it. Then
//! probe processes, made and warmed up before S stopped, call on other
//! objects (a set, a queue and a segment S never touches) and must complete
//! each call within `PATIENCE`: semop (lock-free, SEM_UNDO, several
//! operations, one that sleeps and is woken), semctl, msgsnd and msgrcv
//! (one that sleeps too), msgctl, shmat, shmdt, shmctl, lookups by key,
//! creation and removal, and collections of lost heap blocks. A probe
//! that needs a lock S holds is not run; the box-wide locks S holds at each
//! point are checked against the case's list, which is thus the list of
//! what a stopped process can block beyond its own object. Then S is
//! continued and everything must end and be consistent.
//!
//! The collector itself is stopped too (with the gate closed, in the
//! middle of its walk, between two frees), and killed there.
//!
//! Run with `cargo test -p shared-state --features fault-injection`.

mod common;
use common::{fork_child, new_box, op, pipe, serial, wait_status};

use shared_state::abi::*;
use shared_state::faults;
use shared_state::sem::*;
use shared_state::Namespace;
use std::sync::atomic::{AtomicUsize, Ordering::*};
use std::time::{Duration, Instant};

/// How long a call of another process may take while S is stopped.
const PATIENCE: Duration = Duration::from_secs(2);
/// Probe processes ready per case: one runs the probes; each call that
/// stalls leaves its probe stuck, and the next one goes on after it.
const POOL: usize = 6;

/// The box-wide locks.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Lock {
    Sem,
    Msg,
    Shm,
    Table,
    Collector,
}
use Lock::*;

const LOCKS: [Lock; 5] = [Sem, Msg, Shm, Table, Collector];

/// The box-wide locks some thread holds now.
fn held(ns: &Namespace) -> Vec<Lock> {
    let header = ns.region().header();
    LOCKS
        .into_iter()
        .filter(|lock| match lock {
            Sem => header.sem.ids.lock.is_locked(),
            Msg => header.msg.ids.lock.is_locked(),
            Shm => header.shm.ids.lock.is_locked(),
            Table => header.procs.lock.is_locked(),
            Collector => header.collect.lock.is_locked(),
        })
        .collect()
}

/// A set, a queue and a segment.
#[derive(Clone, Copy)]
struct Objects {
    sem: i32,
    msg: i32,
    shm: i32,
}

/// The keys of the probes' objects.
const B_KEYS: [i32; 3] = [0x5b0, 0x5b1, 0x5b2];

impl Objects {
    fn make(ns: &Namespace, keys: [i32; 3]) -> Objects {
        let flags = IPC_CREAT | 0o600;
        Objects {
            sem: ns.semget(keys[0], 3, flags).unwrap(),
            msg: ns.msgget(keys[1], flags).unwrap(),
            shm: ns.shmget(keys[2], 8192, flags).unwrap(),
        }
    }
}

fn send(ns: &Namespace, qid: i32, mtype: i64, size: usize) -> Result<i32, i32> {
    let mut buf = vec![0xabu8; 8 + size];
    buf[..8].copy_from_slice(&mtype.to_ne_bytes());
    ns.msgsnd(qid, buf.as_ptr() as usize, size, 0)
}

fn receive(ns: &Namespace, qid: i32, mtype: i64, flags: i32) -> Result<isize, i32> {
    let mut buf = [0u8; 8 + 256];
    ns.msgrcv(qid, buf.as_mut_ptr() as usize, 256, mtype, flags)
}

/// A call of a probe: whether it succeeded. It gets the objects S never
/// touches, then S's own.
type ProbeCall = fn(&Namespace, &Objects, &Objects) -> bool;

/// A probe's call, the box-wide locks it needs, and whether it may wait
/// for S (a call on S's own object).
struct ProbeKind {
    name: &'static str,
    needs: &'static [Lock],
    on_s_object: bool,
    call: ProbeCall,
}

const fn probe(name: &'static str, needs: &'static [Lock], call: ProbeCall) -> ProbeKind {
    ProbeKind { name, needs, on_s_object: false, call }
}

/// The probes, in the order they run: collections first (a probe left
/// waiting inside a hold, as one removing S's object may be, makes every
/// collection give up at once), then calls by id, then the removal of S's
/// objects (each waits if S holds that object's lock, and must then hold
/// nothing that the calls after it need), then the calls that need a
/// facility lock.
const PROBES: &[ProbeKind] = &[
    probe("a collection", &[], |ns, _, _| {
        ns.region().request_collection();
        let _ = ns.collect_lost();
        true
    }),
    probe("msgsnd and msgrcv with a collection due", &[], |ns, b, _| {
        ns.region().request_collection();
        send(ns, b.msg, 1, 64).is_ok() && receive(ns, b.msg, 1, IPC_NOWAIT) == Ok(64)
    }),
    probe("semctl IPC_STAT", &[], |ns, b, _| {
        let mut ds = [0u64; 32];
        ns.semctl(b.sem, 0, IPC_STAT, ds.as_mut_ptr() as usize).is_ok()
    }),
    probe("semctl GETVAL", &[], |ns, b, _| ns.semctl(b.sem, 0, GETVAL, 0) == Ok(0)),
    probe("semop, one operation", &[], |ns, b, _| {
        ns.semop(b.sem, &[op(0, 1, 0)], None).is_ok() && ns.semop(b.sem, &[op(0, -1, 0)], None).is_ok()
    }),
    probe("semop SEM_UNDO", &[], |ns, b, _| {
        ns.semop(b.sem, &[op(0, 1, SEM_UNDO)], None).is_ok() && ns.semop(b.sem, &[op(0, -1, SEM_UNDO)], None).is_ok()
    }),
    probe("semop, two operations", &[], |ns, b, _| {
        ns.semop(b.sem, &[op(0, 1, 0), op(1, 1, 0)], None).is_ok()
            && ns.semop(b.sem, &[op(0, -1, 0), op(1, -1, 0)], None).is_ok()
    }),
    probe("semctl SETVAL", &[], |ns, b, _| ns.semctl(b.sem, 1, SETVAL, 0) == Ok(0)),
    probe("semop that sleeps until woken", &[], |ns, b, _| {
        std::thread::scope(|scope| {
            let sleeper = scope.spawn(|| ns.semop(b.sem, &[op(2, -1, 0)], None).is_ok());
            std::thread::sleep(Duration::from_millis(20));
            let woke = ns.semop(b.sem, &[op(2, 1, 0)], None).is_ok();
            sleeper.join().unwrap() && woke
        })
    }),
    probe("msgctl IPC_STAT", &[], |ns, b, _| {
        let mut ds = [0u64; 32];
        ns.msgctl(b.msg, IPC_STAT, ds.as_mut_ptr() as usize).is_ok()
    }),
    probe("msgsnd", &[], |ns, b, _| send(ns, b.msg, 1, 64).is_ok()),
    probe("msgrcv", &[], |ns, b, _| receive(ns, b.msg, 1, IPC_NOWAIT) == Ok(64)),
    probe("msgrcv that sleeps until a message comes", &[], |ns, b, _| {
        std::thread::scope(|scope| {
            let sleeper = scope.spawn(|| receive(ns, b.msg, 7, 0) == Ok(32));
            std::thread::sleep(Duration::from_millis(20));
            let sent = send(ns, b.msg, 7, 32).is_ok();
            sleeper.join().unwrap() && sent
        })
    }),
    probe("shmctl IPC_STAT", &[], |ns, b, _| {
        let mut ds = [0u64; 16];
        ns.shmctl(b.shm, IPC_STAT, ds.as_mut_ptr() as usize).is_ok()
    }),
    probe("shmat", &[Shm], |ns, b, _| match ns.shmat(b.shm, 0, 0) {
        Ok(addr) => {
            ATTACHED.store(addr, Relaxed);
            true
        }
        Err(_) => false,
    }),
    probe("shmdt", &[Shm], |ns, _, _| match ATTACHED.swap(0, Relaxed) {
        0 => true,
        addr => ns.shmdt(addr).is_ok(),
    }),
    ProbeKind {
        name: "semctl IPC_RMID of S's set",
        needs: &[Sem],
        on_s_object: true,
        call: |ns, _, a| ns.semctl(a.sem, 0, IPC_RMID, 0).is_ok(),
    },
    ProbeKind {
        name: "msgctl IPC_RMID of S's queue",
        needs: &[Msg],
        on_s_object: true,
        call: |ns, _, a| ns.msgctl(a.msg, IPC_RMID, 0).is_ok(),
    },
    ProbeKind {
        name: "shmctl IPC_RMID of S's segment",
        needs: &[Shm],
        on_s_object: true,
        call: |ns, _, a| ns.shmctl(a.shm, IPC_RMID, 0).is_ok(),
    },
    probe("semget of an existing key", &[Sem], |ns, b, _| ns.semget(B_KEYS[0], 0, 0) == Ok(b.sem)),
    probe("msgget of an existing key", &[Msg], |ns, b, _| ns.msgget(B_KEYS[1], 0) == Ok(b.msg)),
    probe("shmget of an existing key", &[Shm], |ns, b, _| ns.shmget(B_KEYS[2], 0, 0) == Ok(b.shm)),
    probe("a set made and removed", &[Sem], |ns, _, _| {
        ns.semget(IPC_PRIVATE, 1, 0o600).is_ok_and(|id| ns.semctl(id, 0, IPC_RMID, 0).is_ok())
    }),
    probe("a queue made and removed", &[Msg], |ns, _, _| {
        ns.msgget(IPC_PRIVATE, 0o600).is_ok_and(|id| ns.msgctl(id, IPC_RMID, 0).is_ok())
    }),
    probe("a segment made and removed", &[Shm], |ns, _, _| {
        ns.shmget(IPC_PRIVATE, 4096, 0o600).is_ok_and(|id| ns.shmctl(id, IPC_RMID, 0).is_ok())
    }),
    probe("msgsnd, its message left queued", &[], |ns, b, _| send(ns, b.msg, 3, 64).is_ok()),
];

/// The probe's attachment of the segment, between "shmat" and "shmdt".
static ATTACHED: AtomicUsize = AtomicUsize::new(0);

fn close(fd: i32) {
    // SAFETY: closing a descriptor of ours.
    unsafe { libc::close(fd) };
}

fn write_u64(fd: i32, value: u64) {
    // SAFETY: value is readable for 8 bytes.
    unsafe { libc::write(fd, &value as *const u64 as *const libc::c_void, 8) };
}

fn read_u64(fd: i32) -> Option<u64> {
    let mut value = 0u64;
    // SAFETY: value is writable for 8 bytes.
    let n = unsafe { libc::read(fd, &mut value as *mut u64 as *mut libc::c_void, 8) };
    (n == 8).then_some(value)
}

/// `read_u64`, if something comes within `patience`.
fn read_u64_within(fd: i32, patience: Duration) -> Option<u64> {
    let mut fds = [libc::pollfd { fd, events: libc::POLLIN, revents: 0 }];
    // SAFETY: fds is valid for one entry.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), 1, patience.as_millis() as i32) };
    if ready == 1 {
        read_u64(fd)
    } else {
        None
    }
}

/// Events a probe reports: call `i` begun (4i), succeeded (4i + 1),
/// failed (4i + 2); ready, and all done.
const READY: u64 = u64::MAX;
const ALL_DONE: u64 = u64::MAX - 1;
/// What the test tells a probe that is to end.
const EXIT: u64 = 0;

/// A probe process, warmed up (its record made, its undo record, attachment
/// and messages used once), waiting for the calls to run.
struct Probe {
    pid: i32,
    go: i32,
    events: i32,
}

impl Probe {
    fn start(ns: &Namespace, b: &Objects, a: &Objects) -> Probe {
        let (go_r, go_w) = pipe();
        let (events_r, events_w) = pipe();
        let pid = fork_child(ns, || {
            close(go_w);
            close(events_r);
            let warm = ns.semop(b.sem, &[op(0, 1, SEM_UNDO)], None).is_ok()
                && ns.semop(b.sem, &[op(0, -1, SEM_UNDO)], None).is_ok()
                && send(ns, b.msg, 9, 64).is_ok()
                && receive(ns, b.msg, 9, IPC_NOWAIT) == Ok(64)
                && ns.shmat(b.shm, 0, 0).is_ok_and(|addr| ns.shmdt(addr).is_ok());
            if !warm {
                return 1;
            }
            write_u64(events_w, READY);
            let mask = match read_u64(go_r) {
                Some(EXIT) | None => return 0,
                Some(mask) => mask,
            };
            for (i, kind) in PROBES.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    write_u64(events_w, 4 * i as u64);
                    let ok = (kind.call)(ns, b, a);
                    write_u64(events_w, 4 * i as u64 + if ok { 1 } else { 2 });
                }
            }
            write_u64(events_w, ALL_DONE);
            // Until the test lets go (each child forked meanwhile holds a
            // copy of the pipe's write end, so no end of file comes).
            let _ = read_u64(go_r);
            0
        });
        close(go_r);
        close(events_w);
        let probe = Probe { pid, go: go_w, events: events_r };
        assert_eq!(read_u64_within(probe.events, Duration::from_secs(10)), Some(READY), "a probe warmed up");
        probe
    }

    /// Runs the calls of `mask`; returns those that failed, and the one
    /// that did not end within PATIENCE, if any (this probe then stays
    /// stuck in it).
    fn run(&self, mask: u64) -> (Vec<usize>, Option<usize>) {
        write_u64(self.go, mask);
        let (mut failed, mut current) = (Vec::new(), None);
        loop {
            match read_u64_within(self.events, PATIENCE) {
                Some(ALL_DONE) => return (failed, None),
                Some(event) => {
                    let i = (event / 4) as usize;
                    match event % 4 {
                        0 => current = Some(i),
                        1 => current = None,
                        _ => {
                            failed.push(i);
                            current = None;
                        }
                    }
                }
                None => return (failed, Some(current.unwrap_or(usize::MAX))),
            }
        }
    }
}

/// A crash point at which S stops, in the call `variant` names where one
/// point is reached by several calls; and the box-wide locks S then holds.
struct Case {
    point: &'static str,
    variant: &'static str,
    locks: &'static [Lock],
}

const fn case(point: &'static str, variant: &'static str, locks: &'static [Lock]) -> Case {
    Case { point, variant, locks }
}

const CASES: &[Case] = &[
    case("sem.try_ops.after_op", "", &[]),
    case("sem.journal.allocated", "", &[]),
    case("sem.complete.committed", "", &[]),
    case("sem.complete.woken", "", &[]),
    case("sem.complete.done", "", &[]),
    case("sem.destroy.woke_one", "", &[Sem]),
    case("sem.apply_undos.after_sem", "", &[]),
    case("sem.apply_undos.applied", "", &[]),
    case("sem.apply_undos.unlinked", "", &[]),
    case("sem.undo.allocated", "", &[]),
    case("sem.setall.after_sem", "", &[]),
    case("exec.adopted", "", &[]),
    case("exec.attachments_dropped", "", &[]),
    case("reap.shm_locked.held", "", &[Shm]),
    case("exit.state_undone", "", &[]),
    case("fork.child.forked", "", &[]),
    case("fork.child.announced", "", &[]),
    case("fork.child.armed", "", &[]),
    case("fork.parent.forked", "", &[]),
    case("fork.parent.settled", "", &[]),
    case("fork.prepare.allocated", "", &[]),
    case("fork.prepare.ticket", "", &[]),
    case("fork.prepare.entry", "", &[Shm]),
    case("procs.alloc.popped", "", &[Table]),
    case("procs.alloc.held", "", &[Table]),
    case("procs.alloc.popped", "a death to reap", &[Table]),
    case("procs.alloc.held", "a death to reap", &[Table]),
    case("procs.free.unlisted", "", &[Table]),
    case("msg.complete.committed", "", &[]),
    case("msg.complete.woken", "", &[]),
    case("msg.destroy.unlinked_message", "", &[Msg]),
    case("msg.snd.allocated", "", &[]),
    case("msg.rcv.old_dummy", "", &[]),
    case("msg.rcv.taken", "", &[]),
    case("table.publish.before_count", "semget", &[Sem]),
    case("table.publish.before_count", "msgget", &[Msg]),
    case("table.publish.before_count", "shmget", &[Shm]),
    case("table.release.before_done", "semctl IPC_RMID", &[Sem]),
    case("table.release.before_done", "msgctl IPC_RMID", &[Msg]),
    case("table.release.before_done", "shmctl IPC_RMID", &[Shm]),
    case("table.alloc.before_initialised", "msgget", &[Msg]),
    case("table.trim.lowered", "", &[Msg]),
    case("table.trim.marked", "", &[Msg]),
    case("magazine.batch_taken", "", &[]),
    case("magazine.batch_handing", "", &[]),
    case("shm.destroy.begun", "", &[Shm]),
    case("shm.at.entry_pushed", "", &[Shm]),
    case("shm.dt.entry_removed", "", &[Shm]),
    case("collect.gate_closed", "", &[Collector]),
    case("collect.walking", "", &[Collector]),
    case("collect.freeing", "", &[Collector]),
    case("collect.top_punched", "", &[Collector]),
    case("region.grown", "", &[]),
    case("heap.bump.mapped", "", &[]),
];

impl Case {
    fn name(&self) -> String {
        if self.variant.is_empty() {
            self.point.to_string()
        } else {
            format!("{} ({})", self.point, self.variant)
        }
    }
}

/// Every crash point named in the library's sources (src/ and the
/// directories under it, as src/shm/).
fn points_in_sources() -> Vec<String> {
    let mut dirs = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
    let mut points = Vec::new();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let text = std::fs::read_to_string(path).unwrap();
            for piece in text.split("crash_point(\"").skip(1) {
                points.push(piece.split('"').next().unwrap().to_string());
            }
        }
    }
    points.sort();
    points.dedup();
    points
}

/// A process that dies inside a hold, with its state for the next call to
/// reap: an undo on `a`'s set, an attachment of its segment, and (at
/// `killed_at`, if given) a heap block in hand.
fn dead_process(ns: &Namespace, a: &Objects, killed_at: Option<&'static str>) {
    let pid = fork_child(ns, || {
        ns.semop(a.sem, &[op(0, 1, SEM_UNDO)], None).unwrap();
        ns.shmat(a.shm, 0, 0).unwrap();
        if let Some(point) = killed_at {
            faults::arm(point, 1);
            let _ = send(ns, a.msg, 1, 64);
        }
        // SAFETY: plain system call.
        unsafe { libc::raise(libc::SIGKILL) };
        0
    });
    let status = wait_status(pid);
    assert!(libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL);
}

/// A child that sleeps in `call` until S wakes it (or removes its object),
/// dying with the test's thread if the test fails.
fn sleeper(ns: &Namespace, call: impl FnOnce() -> bool) -> i32 {
    fork_child(ns, || {
        // SAFETY: plain system call.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        i32::from(!call())
    })
}

fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Makes what S's call needs in place (sleepers, a dead process to reap,
/// messages); returns the children it forked, which end once S went on.
fn prepare(case: &Case, ns: &Namespace, a: &Objects) -> Vec<i32> {
    let mut children = Vec::new();
    let ncnt = |num| ns.semctl(a.sem, num, GETNCNT, 0).unwrap();
    match case.point {
        // A journal already there: S's semop takes no hold.
        "sem.try_ops.after_op" => {
            ns.semop(a.sem, &[op(0, 1, 0), op(1, 1, 0)], None).unwrap();
            ns.semop(a.sem, &[op(0, -1, 0), op(1, -1, 0)], None).unwrap();
        }
        "sem.complete.committed" | "sem.complete.woken" | "sem.complete.done" | "sem.destroy.woke_one" => {
            let (ns_ref, sem) = (ns, a.sem);
            children.push(sleeper(ns, || {
                let result = ns_ref.semop(sem, &[op(2, -1, 0)], None);
                result.is_ok() || result == Err(libc::EIDRM)
            }));
            eventually("the sleeper to queue", || ncnt(2) == 1);
        }
        "msg.complete.committed" | "msg.complete.woken" => {
            let (ns_ref, msg) = (ns, a.msg);
            children.push(sleeper(ns, || receive(ns_ref, msg, 0, 0) == Ok(64)));
            let queue = ns.region().queue_of(a.msg);
            eventually("the receiver to queue", || queue.receivers_head.load(Acquire) != 0);
        }
        "msg.destroy.unlinked_message" | "msg.rcv.old_dummy" => {
            send(ns, a.msg, 1, 64).unwrap();
            send(ns, a.msg, 1, 64).unwrap();
        }
        "msg.rcv.taken" => {
            send(ns, a.msg, 1, 64).unwrap();
            send(ns, a.msg, 2, 64).unwrap();
        }
        // A batch on the heap's stack: this process's magazine hands on
        // the blocks it frees.
        "magazine.batch_taken" => {
            (0..16).for_each(|_| assert_eq!(send(ns, a.msg, 1, 100), Ok(0)));
            (0..16).for_each(|_| assert_eq!(receive(ns, a.msg, 0, IPC_NOWAIT), Ok(100)));
        }
        // A table worth trimming: the queue at its top goes last (in S's call).
        // The collection that follows gives back the heap's top.
        "table.trim.lowered" | "table.trim.marked" | "collect.top_punched" => {
            let queues: Vec<i32> = (0..2000).map(|_| ns.msgget(IPC_PRIVATE, 0o600).unwrap()).collect();
            ns.msgget(TOP_QUEUE_KEY, IPC_CREAT | 0o600).unwrap();
            queues.iter().for_each(|&id| assert_eq!(send(ns, id, 1, 100), Ok(0)));
            // The heap's top: blocks too large for a magazine to keep.
            queues[..8].iter().for_each(|&id| assert_eq!(send(ns, id, 1, 8000), Ok(0)));
            queues.iter().for_each(|&id| assert_eq!(ns.msgctl(id, IPC_RMID, 0), Ok(0)));
        }
        "magazine.batch_handing" => (0..16).for_each(|_| assert_eq!(send(ns, a.msg, 1, 100), Ok(0))),
        "sem.apply_undos.after_sem"
        | "sem.apply_undos.applied"
        | "sem.apply_undos.unlinked"
        | "reap.shm_locked.held"
        | "procs.free.unlisted" => dead_process(ns, a, None),
        // S stops making its record before it reaps: the others reap.
        _ if case.variant == "a death to reap" => dead_process(ns, a, None),
        // S reaps it and then collects the block it held.
        "collect.gate_closed" | "collect.walking" | "collect.freeing" => dead_process(ns, a, Some("msg.snd.allocated")),
        _ => {}
    }
    children
}

/// The key of the queue at the top of the table the trim cases make.
const TOP_QUEUE_KEY: i32 = 0x70b;

/// S's call, which stops at the case's point.
fn act(case: &Case, ns: &Namespace, a: &Objects) {
    match (case.point, case.variant) {
        ("sem.try_ops.after_op" | "sem.journal.allocated", _) => {
            let _ = ns.semop(a.sem, &[op(0, 1, 0), op(1, 1, 0)], None);
        }
        ("sem.complete.committed" | "sem.complete.woken" | "sem.complete.done", _) => {
            let _ = ns.semop(a.sem, &[op(2, 1, 0)], None);
        }
        ("sem.destroy.woke_one", _) | (_, "semctl IPC_RMID") => {
            let _ = ns.semctl(a.sem, 0, IPC_RMID, 0);
        }
        ("sem.apply_undos.after_sem" | "sem.apply_undos.applied" | "sem.apply_undos.unlinked", _) => {
            let _ = ns.semctl(a.sem, 0, GETVAL, 0);
        }
        ("sem.undo.allocated" | "procs.alloc.popped" | "procs.alloc.held", _) => {
            let _ = ns.semop(a.sem, &[op(0, 1, SEM_UNDO)], None);
        }
        ("sem.setall.after_sem", _) => {
            let values = [1u16, 1, 1];
            let _ = ns.semctl(a.sem, 0, SETALL, values.as_ptr() as usize);
        }
        ("exec.adopted" | "exec.attachments_dropped", _) => {
            // The old image's only thread to call, gone as by exec.
            let ns_addr = ns as *const Namespace as usize;
            let a = *a;
            std::thread::spawn(move || {
                // SAFETY: `ns` outlives this thread, which is joined below.
                let ns = unsafe { &*(ns_addr as *const Namespace) };
                ns.semop(a.sem, &[op(0, 1, SEM_UNDO)], None).unwrap();
                ns.shmat(a.shm, 0, 0).unwrap();
            })
            .join()
            .unwrap();
            faults::arm_stop(case.point, 1);
            drop(Namespace::attach(ns.fd()).unwrap());
        }
        ("reap.shm_locked.held", _) | ("shm.at.entry_pushed", _) => {
            let _ = ns.shmat(a.shm, 0, 0);
        }
        ("exit.state_undone", _) => {
            ns.semop(a.sem, &[op(0, 1, SEM_UNDO)], None).unwrap();
            ns.shmat(a.shm, 0, 0).unwrap();
            faults::arm_stop(case.point, 1);
            ns.leave_at_exit();
        }
        (point, _) if point.starts_with("fork.") => {
            ns.shmat(a.shm, 0, 0).unwrap();
            faults::arm_stop(case.point, 1);
            // SAFETY: the child leaves at once with _exit.
            let child = ns.fork_with(|| unsafe { libc::fork() });
            if child == 0 {
                // SAFETY: leaving the forked child.
                unsafe { libc::_exit(0) };
            }
            if child > 0 {
                wait_status(child);
            }
        }
        ("table.trim.lowered" | "table.trim.marked" | "collect.top_punched", _) => {
            let id = ns.msgget(TOP_QUEUE_KEY, 0).unwrap();
            let _ = ns.msgctl(id, IPC_RMID, 0);
        }
        (point, _) if point.starts_with("collect.") || point == "procs.free.unlisted" => ns.repair_dead(),
        ("region.grown", _) => {
            // As a process that has just joined: nothing of the tables or
            // the heap mapped, so the lookup maps the table first.
            let fresh = Namespace::attach(ns.fd()).unwrap();
            faults::arm_stop(case.point, 1);
            let _ = fresh.semctl(a.sem, 0, GETVAL, 0);
        }
        // A block of a size no one has freed: cut from the bump.
        ("heap.bump.mapped", _) => {
            let _ = send(ns, a.msg, 1, 5000);
        }
        ("msg.complete.committed" | "msg.complete.woken" | "msg.snd.allocated", _) => {
            let _ = send(ns, a.msg, 1, 64);
        }
        ("magazine.batch_taken", _) => {
            let _ = send(ns, a.msg, 1, 100);
        }
        ("msg.destroy.unlinked_message", _) | (_, "msgctl IPC_RMID") => {
            let _ = ns.msgctl(a.msg, IPC_RMID, 0);
        }
        ("msg.rcv.old_dummy", _) => {
            let _ = receive(ns, a.msg, 0, IPC_NOWAIT);
        }
        ("msg.rcv.taken", _) => {
            let _ = receive(ns, a.msg, 2, IPC_NOWAIT);
        }
        ("magazine.batch_handing", _) => (0..16).for_each(|_| {
            let _ = receive(ns, a.msg, 0, IPC_NOWAIT);
        }),
        (_, "semget") => {
            let _ = ns.semget(IPC_PRIVATE, 1, 0o600);
        }
        (_, "msgget") => {
            let _ = ns.msgget(IPC_PRIVATE, 0o600);
        }
        (_, "shmget") => {
            let _ = ns.shmget(IPC_PRIVATE, 4096, 0o600);
        }
        ("shm.destroy.begun", _) | (_, "shmctl IPC_RMID") => {
            let _ = ns.shmctl(a.shm, IPC_RMID, 0);
        }
        ("shm.dt.entry_removed", _) => {
            let addr = ns.shmat(a.shm, 0, 0).unwrap();
            faults::arm_stop(case.point, 1);
            let _ = ns.shmdt(addr);
        }
        _ => panic!("no call reaches {}", case.name()),
    }
}

/// Points armed inside `act` itself (after the steps that pass them too).
fn armed_in_act(point: &str) -> bool {
    point.starts_with("exec.")
        || point.starts_with("fork.")
        || point == "region.grown"
        || point == "exit.state_undone"
        || point == "shm.dt.entry_removed"
}

/// The stopped process of process group `group` (S or, for the points on
/// the child's side of fork, its child), if one stops within 10 s; None
/// if S ended first.
fn stopped_in_group(group: i32) -> Option<i32> {
    let start = Instant::now();
    loop {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<i32>().ok()) else { continue };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
            let Some(close) = stat.rfind(')') else { continue };
            let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
            if fields.len() > 2 && fields[0] == "T" && fields[2].parse() == Ok(group) {
                return Some(pid);
            }
        }
        let mut status = 0;
        // SAFETY: status is writable.
        if unsafe { libc::waitpid(group, &mut status, libc::WNOHANG) } == group {
            return None;
        }
        if start.elapsed() > Duration::from_secs(10) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits for child `pid` to end, at most `patience`; false (and kills it)
/// if it does not.
fn ends_within(pid: i32, patience: Duration) -> bool {
    status_within(pid, patience).is_some()
}

/// The wait status of child `pid` if it ends within `patience`; None (and
/// it is killed) if it does not.
fn status_within(pid: i32, patience: Duration) -> Option<i32> {
    let start = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: status is writable.
        let done = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if done == pid || done < 0 {
            return Some(status);
        }
        if start.elapsed() > patience {
            // SAFETY: killing our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            wait_status(pid);
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// After everything went on: the invariants hold, a collection runs to its
/// end and no heap block is lost.
fn consistent(ns: &Namespace) -> Result<(), String> {
    ns.repair_dead();
    ns.region().check_invariants()?;
    ns.region().request_collection();
    if ns.collect_lost().is_none() {
        return Err("a collection did not run to its end".into());
    }
    match ns.region().heap_account()?.lost() {
        0 => Ok(()),
        lost => Err(format!("{lost} heap bytes lost")),
    }
}

/// Runs one case; returns what went wrong, and the probes not run because
/// S held a lock they need.
fn run_case(case: &Case) -> (Vec<String>, Vec<&'static str>) {
    let name = case.name();
    let mut problems = Vec::new();
    let ns = new_box();
    let a = Objects::make(&ns, [IPC_PRIVATE; 3]);
    let b = Objects::make(&ns, B_KEYS);
    let pool: Vec<Probe> = (0..POOL).map(|_| Probe::start(&ns, &b, &a)).collect();
    let children = prepare(case, &ns, &a);
    let s = fork_child(&ns, || {
        // SAFETY: plain system call: S leads a group, which its children join.
        unsafe { libc::setpgid(0, 0) };
        if !armed_in_act(case.point) {
            faults::arm_stop(case.point, 1);
        }
        act(case, &ns, &a);
        0
    });
    let Some(_stopped) = stopped_in_group(s) else {
        problems.push(format!("{name}: never stopped there"));
        // SAFETY: ending our own child's group, if it still runs.
        unsafe { libc::kill(-s, libc::SIGKILL) };
        ends_within(s, Duration::from_secs(10));
        for probe in &pool {
            write_u64(probe.go, EXIT);
            ends_within(probe.pid, Duration::from_secs(10));
        }
        return (problems, Vec::new());
    };
    let locks = held(&ns);
    if locks != case.locks {
        problems.push(format!("{name}: holds {locks:?} where {:?} was expected", case.locks));
    }
    let mut skipped = Vec::new();
    let mut mask = 0u64;
    for (i, kind) in PROBES.iter().enumerate() {
        if kind.needs.iter().any(|lock| locks.contains(lock)) {
            skipped.push(kind.name);
        } else {
            mask |= 1 << i;
        }
    }
    let mut probes = pool.iter();
    while mask != 0 {
        let Some(probe) = probes.next() else {
            problems.push(format!("{name}: more calls stalled than probes were ready"));
            break;
        };
        let (failed, stalled) = probe.run(mask);
        for i in failed {
            if !PROBES[i].on_s_object {
                problems.push(format!("{name}: {} failed", PROBES[i].name));
            }
        }
        match stalled {
            None => break,
            Some(i) if i < PROBES.len() => {
                if !PROBES[i].on_s_object {
                    problems.push(format!("{name}: {} stalled", PROBES[i].name));
                }
                mask &= !((2u64 << i) - 1);
            }
            Some(_) => {
                problems.push(format!("{name}: a probe stalled before its first call"));
                break;
            }
        }
    }
    // SAFETY: continuing our own child's group.
    unsafe { libc::kill(-s, libc::SIGCONT) };
    if !ends_within(s, Duration::from_secs(10)) {
        problems.push(format!("{name}: S did not end once continued"));
    }
    for probe in &pool {
        write_u64(probe.go, EXIT);
        close(probe.go);
        if !ends_within(probe.pid, Duration::from_secs(10)) {
            problems.push(format!("{name}: a probe never ended"));
        }
        close(probe.events);
    }
    for child in children {
        if !ends_within(child, Duration::from_secs(10)) {
            problems.push(format!("{name}: a sleeper of S's object never ended"));
        }
    }
    if let Err(e) = consistent(&ns) {
        problems.push(format!("{name}: {e}"));
    }
    (problems, skipped)
}

#[test]
fn a_process_stopped_at_any_crash_point_stalls_no_call_on_other_objects() {
    let _serial = serial();
    let mut problems = Vec::new();
    let covered: Vec<&str> = CASES.iter().map(|case| case.point).collect();
    for point in points_in_sources() {
        if !covered.contains(&point.as_str()) {
            problems.push(format!("{point}: no case stops there"));
        }
    }
    for case in CASES {
        let (found, skipped) = run_case(case);
        if !skipped.is_empty() {
            eprintln!("{}: not run, as S holds a lock they need: {}", case.name(), skipped.join(", "));
        }
        problems.extend(found);
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// The collector itself stopped with its gate closed, a block lost to a
/// death waiting for it: a call that takes a hold finds the gate closed,
/// sees the collector stopped, opens the gate and goes on at once. Once
/// continued, the lost block is collected. (Stopped in the middle of its
/// walk, the collector must also find the holds taken meanwhile and free
/// nothing: the case "collect.walking" above checks that.)
#[test]
fn a_collector_stopped_with_its_gate_closed_holds_no_one_up() {
    let _serial = serial();
    let ns = new_box();
    let a = Objects::make(&ns, [IPC_PRIVATE; 3]);
    dead_process(&ns, &a, Some("msg.snd.allocated"));
    let collector = fork_child(&ns, || {
        // Reaps the dead process (its block in hand is then lost), then
        // collects, and stops with the gate closed.
        faults::arm_stop("collect.gate_closed", 1);
        ns.repair_dead();
        0
    });
    let mut status = 0;
    // SAFETY: status is writable; waiting for our own child to stop.
    assert_eq!(unsafe { libc::waitpid(collector, &mut status, libc::WUNTRACED) }, collector);
    assert!(libc::WIFSTOPPED(status), "the collector stopped at its gate");
    let closed = ns.region().header().collect.gate.load(Acquire) != 0;
    // In a child, so that a call stuck at the gate fails the test rather
    // than hang it.
    let caller =
        fork_child(&ns, || i32::from(send(&ns, a.msg, 1, 64) != Ok(0) || receive(&ns, a.msg, 1, IPC_NOWAIT) != Ok(64)));
    let start = Instant::now();
    let called = status_within(caller, PATIENCE);
    let waited = start.elapsed();
    let reopened = ns.region().header().collect.gate.load(Acquire) == 0;
    // Continued before anything is asserted: a failing test leaves no
    // stopped process behind.
    // SAFETY: continuing our own child.
    unsafe { libc::kill(collector, libc::SIGCONT) };
    let collector_ended = ends_within(collector, Duration::from_secs(10));
    assert!(closed, "the gate was closed");
    assert_eq!(called, Some(0), "a call waited at the gate of a stopped collector");
    assert!(waited < Duration::from_millis(500), "a call waited {waited:?} at the gate");
    assert!(reopened, "the gate is open again");
    assert!(collector_ended, "the collector ended once continued");
    consistent(&ns).unwrap();
}

/// The collector killed at each of its points (gate closed, half way
/// through its walk, between two frees): calls go on at once, and the
/// next collection frees what is left, nothing twice.
#[test]
fn a_collector_killed_anywhere_leaves_the_box_collecting() {
    let _serial = serial();
    for point in ["collect.gate_closed", "collect.walking", "collect.freeing"] {
        let ns = new_box();
        let a = Objects::make(&ns, [IPC_PRIVATE; 3]);
        // Two blocks lost, apart (a message queued between them), so that
        // a collector killed after its first free leaves one. (A call that
        // reaps the first death would collect its block: msgsnd does not.)
        let sender_killed_in_hand = || {
            let pid = fork_child(&ns, || {
                faults::arm("msg.snd.allocated", 1);
                let _ = send(&ns, a.msg, 1, 64);
                99
            });
            let status = wait_status(pid);
            assert!(libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL);
        };
        sender_killed_in_hand();
        assert_eq!(send(&ns, a.msg, 2, 64), Ok(0));
        sender_killed_in_hand();
        assert!(ns.region().heap_account().unwrap().lost() > 128, "{point}: two blocks lost");
        let collector = fork_child(&ns, || {
            faults::arm(point, 1);
            ns.repair_dead();
            0
        });
        let status = wait_status(collector);
        assert!(libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL, "{point}: died there");
        let start = Instant::now();
        assert_eq!(send(&ns, a.msg, 1, 64), Ok(0), "{point}");
        assert_eq!(receive(&ns, a.msg, 1, IPC_NOWAIT), Ok(64), "{point}");
        assert!(start.elapsed() < Duration::from_millis(500), "{point}: a call waited {:?}", start.elapsed());
        // The collection is still due: the next repair makes it, with no
        // death or request to ask for it again.
        ns.repair_dead();
        assert_eq!(ns.region().heap_account().unwrap().lost(), 0, "{point}: blocks left lost");
        consistent(&ns).unwrap_or_else(|e| panic!("{point}: {e}"));
    }
}
