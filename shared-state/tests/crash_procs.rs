//! Deaths at chosen instructions of the process lifecycle: record
//! allocation and release under the table lock, each step of fork on both
//! sides, and reaping inside a hold taken under the shm lock. Afterwards
//! `shm_nattch` must be exact (a child's inherited attachments counted
//! while it lives, dropped when it is gone), the table whole, and the box
//! able to collect lost heap blocks.
//!
//! No supervisor runs here unless a test starts one: calls then look for
//! the dead every time, as in a box whose supervisor is gone.
//! Run with `cargo test -p shared-state --features fault-injection`.

mod common;
use common::{eventually, fork_child, nattch, new_box, op, pipe, serial, wait_status};

use shared_state::abi::*;
use shared_state::faults;
use shared_state::procs::PROC_FORKING;
use shared_state::sem::*;
use shared_state::Namespace;

fn consistent(ns: &Namespace) {
    ns.repair_dead();
    ns.region().check_invariants().unwrap();
    assert_eq!(ns.collect_lost(), Some(0), "a collection runs");
    assert_eq!(ns.region().heap_account().unwrap().lost(), 0, "no heap block lost");
}

fn killed(status: i32) -> bool {
    libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL
}

fn read_i32(fd: i32) -> Option<i32> {
    let mut value = 0i32;
    // SAFETY: value is writable for 4 bytes.
    let n = unsafe { libc::read(fd, &mut value as *mut i32 as *mut libc::c_void, 4) };
    (n == 4).then_some(value)
}

fn write_i32(fd: i32, value: i32) {
    // SAFETY: value is readable for 4 bytes.
    unsafe { libc::write(fd, &value as *const i32 as *const libc::c_void, 4) };
}

fn close(fd: i32) {
    // SAFETY: closing a descriptor of ours.
    unsafe { libc::close(fd) };
}

/// How a forking process is cut short in `fork_cut_short`.
struct Cut<'a> {
    /// Points armed in the forking process (its child inherits them).
    kill_at: &'a [&'static str],
    stop_at: &'a [&'static str],
}

/// A process P attached to `shmid` forks a child C while the points of
/// `cut` are armed. C, if it runs on, reports its pid on a pipe and then
/// waits for the test to release it. Returns P's wait status and C's pid
/// (None if C never reported), with C still holding on; `release` ends C.
fn fork_cut_short(ns: &Namespace, shmid: i32, cut: &Cut<'_>) -> (i32, Option<i32>, impl FnOnce()) {
    let (report_r, report_w) = pipe();
    let (hold_r, hold_w) = pipe();
    let parent = fork_child(ns, || {
        close(report_r);
        close(hold_w);
        ns.shmat(shmid, 0, 0).unwrap();
        cut.kill_at.iter().for_each(|point| faults::arm(point, 1));
        cut.stop_at.iter().for_each(|point| faults::arm_stop(point, 1));
        let child = ns.fork_with(|| {
            // SAFETY: the child only reports and waits, then leaves with _exit.
            unsafe { libc::fork() }
        });
        if child == 0 {
            // SAFETY: plain system call.
            write_i32(report_w, unsafe { libc::getpid() });
            let _ = read_i32(hold_r);
            // SAFETY: leaving the forked child.
            unsafe { libc::_exit(0) };
        }
        0
    });
    close(report_w);
    close(hold_r);
    let status = wait_status(parent);
    // C, if it exists, reports at once unless stopped (a stopped C is
    // found in the table instead); on a loaded machine "at once" may take
    // a while, and a C that was never made closes the pipe at once.
    let reported = {
        let mut fds = [libc::pollfd { fd: report_r, events: libc::POLLIN, revents: 0 }];
        let patience = if cut.stop_at.is_empty() { 10_000 } else { 200 };
        // SAFETY: fds is valid for one entry.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), 1, patience) };
        if ready == 1 {
            read_i32(report_r)
        } else {
            None
        }
    };
    close(report_r);
    let release = move || close(hold_w);
    (status, reported, release)
}

/// The pid of the one FORKING record of the box, if any.
fn forking_pid(ns: &Namespace) -> Option<i32> {
    let region = ns.region();
    (0..region.procs().high_water.load(std::sync::atomic::Ordering::Acquire))
        .map(|index| region.record(index))
        .find(|record| record.state.load(std::sync::atomic::Ordering::Acquire) == PROC_FORKING)
        .map(|record| record.pid.load(std::sync::atomic::Ordering::Relaxed))
}

/// The forking process dies before fork (the child was never made) or
/// after it (the child lives on): nattch counts exactly the processes
/// attached, and drops to 0 when the child goes.
#[test]
fn a_process_killed_at_each_step_of_fork_leaves_nattch_exact() {
    let _serial = serial();
    let before_fork = ["fork.prepare.allocated", "fork.prepare.ticket", "fork.prepare.entry"];
    let after_fork = ["fork.parent.forked", "fork.parent.settled"];
    for point in before_fork.into_iter().chain(after_fork) {
        let ns = new_box();
        let shmid = ns.shmget(IPC_PRIVATE, 4096, 0o600).unwrap();
        let (status, child, release) = fork_cut_short(&ns, shmid, &Cut { kill_at: &[point], stop_at: &[] });
        assert!(killed(status), "{point}: the forking process was killed there (status {status:#x})");
        if before_fork.contains(&point) {
            assert_eq!(child, None, "{point}: no child");
            assert_eq!(nattch(&ns, shmid), Ok(0), "{point}: nothing attached is left");
        } else {
            assert!(child.is_some(), "{point}: the child runs on");
            assert_eq!(nattch(&ns, shmid), Ok(1), "{point}: the child's attachment counts");
        }
        release();
        eventually("the child's attachment to go", || nattch(&ns, shmid) == Ok(0));
        // Removed now, the segment goes at once: nothing holds it.
        assert_eq!(ns.shmctl(shmid, IPC_RMID, 0), Ok(0));
        assert_eq!(nattch(&ns, shmid), Err(libc::EINVAL), "{point}: destroyed");
        consistent(&ns);
    }
}

/// The child dies right after fork, before it armed its record, or right
/// after: its parent lives on, and the child's attachment goes.
#[test]
fn a_child_killed_as_it_starts_leaves_nattch_exact() {
    let _serial = serial();
    for point in ["fork.child.forked", "fork.child.announced", "fork.child.armed"] {
        let ns = new_box();
        let shmid = ns.shmget(IPC_PRIVATE, 4096, 0o600).unwrap();
        let (stop_r, stop_w) = pipe();
        let parent = fork_child(&ns, || {
            close(stop_w);
            ns.shmat(shmid, 0, 0).unwrap();
            faults::arm(point, 1);
            // SAFETY: the child dies at the armed point, inside fork_with.
            let child = ns.fork_with(|| unsafe { libc::fork() });
            assert!(child > 0, "{point}: the child died before returning");
            let status = wait_status(child);
            assert!(killed(status));
            // Stay attached until the test has looked.
            let _ = read_i32(stop_r);
            0
        });
        close(stop_r);
        eventually("the parent alone to be attached", || nattch(&ns, shmid) == Ok(1));
        close(stop_w);
        assert_eq!(wait_status(parent), 0, "{point}: the parent saw its child die");
        assert_eq!(nattch(&ns, shmid), Ok(0));
        consistent(&ns);
    }
}

/// The forking process and its child die together (a process group
/// killed during fork): the child stopped before it armed its record, the
/// parent killed after the fork returned. While the child lives its
/// attachment counts; once it is killed, unarmed, with its parent gone
/// (nobody to tell its pid), it counts no more.
#[test]
fn a_parent_and_child_killed_together_in_fork_leave_nattch_exact() {
    let _serial = serial();
    for supervised in [false, true] {
        let ns = std::sync::Arc::new(new_box());
        if supervised {
            ns.watch_deaths().unwrap();
        }
        let shmid = ns.shmget(IPC_PRIVATE, 4096, 0o600).unwrap();
        let cut = Cut { kill_at: &["fork.parent.forked"], stop_at: &["fork.child.forked"] };
        let (status, reported, release) = fork_cut_short(&ns, shmid, &cut);
        assert!(killed(status));
        assert_eq!(reported, None, "the child stopped before it could report");
        let child = forking_pid(&ns).expect("the child's record is still FORKING");
        assert!(child > 0, "the parent stored its child's pid before it died");
        for _ in 0..100 {
            assert_eq!(nattch(&ns, shmid), Ok(1), "the stopped child's attachment counts");
        }
        // SAFETY: killing the stopped grandchild.
        unsafe { libc::kill(child, libc::SIGKILL) };
        eventually("the unarmed child's attachment to go", || nattch(&ns, shmid) == Ok(0));
        assert_eq!(forking_pid(&ns), None, "its record is freed");
        release();
        consistent(&ns);
    }
}

/// A death inside record allocation or release, under the table lock:
/// the next holder rebuilds the free list and the count, and the dead
/// process's state is reaped.
#[test]
fn a_death_under_the_process_table_lock_is_repaired() {
    let _serial = serial();
    for point in ["procs.alloc.popped", "procs.alloc.held"] {
        let ns = new_box();
        let id = ns.semget(IPC_PRIVATE, 1, 0o600).unwrap();
        let pid = fork_child(&ns, || {
            faults::arm(point, 1);
            let _ = ns.semop(id, &[op(0, 1, SEM_UNDO)], None);
            99
        });
        assert!(killed(wait_status(pid)), "{point}: died there");
        assert_eq!(ns.semop(id, &[op(0, 1, SEM_UNDO)], None), Ok(0), "{point}: the table still allocates");
        assert_eq!(ns.semctl(id, 0, GETVAL, 0), Ok(1), "{point}: the dead one's semop never happened");
        consistent(&ns);
    }
    // Death while freeing a dead process's record.
    let ns = new_box();
    let shmid = ns.shmget(IPC_PRIVATE, 4096, 0o600).unwrap();
    let id = ns.semget(IPC_PRIVATE, 1, 0o600).unwrap();
    let dead = fork_child(&ns, || {
        ns.shmat(shmid, 0, 0).unwrap();
        ns.semop(id, &[op(0, 2, SEM_UNDO)], None).unwrap();
        // SAFETY: plain system call: dies holding state.
        unsafe { libc::raise(libc::SIGKILL) };
        0
    });
    assert!(killed(wait_status(dead)));
    let reaper = fork_child(&ns, || {
        faults::arm("procs.free.unlisted", 1);
        ns.repair_dead();
        99
    });
    assert!(killed(wait_status(reaper)), "the reaper died freeing the record");
    assert_eq!(nattch(&ns, shmid), Ok(0));
    assert_eq!(ns.semctl(id, 0, GETVAL, 0), Ok(0), "the undo applied once");
    consistent(&ns);
}

/// A process killed while reaping the dead under the shm lock, inside the
/// hold that reaping takes: the box still collects lost blocks afterwards
/// (a hold left raised by a death would stop every collection).
#[test]
fn a_death_inside_each_kind_of_hold_still_lets_the_box_collect() {
    let _serial = serial();
    let ns = new_box();
    let shmid = ns.shmget(IPC_PRIVATE, 4096, 0o600).unwrap();
    let qid = ns.msgget(IPC_PRIVATE, 0o600).unwrap();
    // A dead process for the next calls to reap, with undo and a message
    // waiter to free.
    let dead = fork_child(&ns, || {
        ns.shmat(shmid, 0, 0).unwrap();
        let id = ns.semget(IPC_PRIVATE, 1, 0o600).unwrap();
        ns.semop(id, &[op(0, 1, SEM_UNDO)], None).unwrap();
        // SAFETY: plain system call.
        unsafe { libc::raise(libc::SIGKILL) };
        0
    });
    assert!(killed(wait_status(dead)));
    // shmat reaps under the shm lock and its own process's private lock,
    // just after making the caller's record; shmget from a process with
    // no record yet. Each dies there; the second finds a new death to reap.
    let reaper = fork_child(&ns, || {
        faults::arm("reap.shm_locked.held", 1);
        let _ = ns.shmat(shmid, 0, 0);
        99
    });
    assert!(killed(wait_status(reaper)), "died reaping in shmat");
    let reaper = fork_child(&ns, || {
        faults::arm("reap.shm_locked.held", 1);
        let _ = ns.shmget(IPC_PRIVATE, 4096, 0o600);
        99
    });
    assert!(killed(wait_status(reaper)), "died reaping in shmget");
    // And one killed inside a message call's hold, with a block in hand.
    let sender = fork_child(&ns, || {
        faults::arm("msg.snd.allocated", 1);
        let mut buf = [0u8; 8 + 64];
        buf[0] = 1;
        let _ = ns.msgsnd(qid, buf.as_ptr() as usize, 64, 0);
        99
    });
    assert!(killed(wait_status(sender)));
    assert_eq!(nattch(&ns, shmid), Ok(0));
    ns.repair_dead();
    ns.region().request_collection();
    assert!(ns.collect_lost().is_some(), "a collection runs to its end");
    consistent(&ns);
    assert!(ns.region().live_records().iter().all(|&(_, pid, _)| pid == std::process::id() as i32));
}

/// Exec, as the shim sees it: the thread that made the record is gone
/// (exec kills every thread and drops every mapping) and a new image of the
/// same process joins the box. It takes the record over: the attachment
/// goes at once, the SEM_UNDO adjustment stays with the process and is
/// applied once when it dies, wherever in the takeover it is killed.
#[test]
fn an_exec_keeps_the_undo_and_drops_the_attachments_whatever_kills_it() {
    let _serial = serial();
    for point in [None, Some("exec.adopted"), Some("exec.attachments_dropped")] {
        let ns = new_box();
        let semid = ns.semget(IPC_PRIVATE, 1, 0o600).unwrap();
        let shmid = ns.shmget(IPC_PRIVATE, 4096, 0o600).unwrap();
        let (adopted_r, adopted_w) = pipe();
        let (go_r, go_w) = pipe();
        let process = fork_child(&ns, || {
            close(adopted_r);
            close(go_w);
            // The old image: its only thread to call, gone by the exec
            // (joined, not scoped: a scope ends before its threads have
            // left the kernel, and so before their robust locks are let go).
            let ns_addr = &ns as *const Namespace as usize;
            std::thread::spawn(move || {
                // SAFETY: `ns` outlives this thread, which is joined below.
                let ns = unsafe { &*(ns_addr as *const Namespace) };
                ns.semop(semid, &[op(0, 1, SEM_UNDO)], None).unwrap();
                ns.shmat(shmid, 0, 0).unwrap();
            })
            .join()
            .unwrap();
            if let Some(point) = point {
                faults::arm(point, 1);
            }
            let image = Namespace::attach(ns.fd()).unwrap();
            write_i32(adopted_w, 1);
            let _ = read_i32(go_r);
            drop(image);
            0
        });
        close(adopted_w);
        close(go_r);
        let adopted = read_i32(adopted_r);
        let what = point.unwrap_or("no death");
        if point.is_none() {
            assert_eq!(adopted, Some(1));
            assert_eq!(nattch(&ns, shmid), Ok(0), "{what}: the exec dropped the attachment");
            assert_eq!(ns.semctl(semid, 0, GETVAL, 0), Ok(1), "{what}: the adjustment waits for the exit");
            close(go_w);
            assert_eq!(wait_status(process), 0);
        } else {
            assert_eq!(adopted, None, "{what}: died in the takeover");
            assert!(killed(wait_status(process)));
            close(go_w);
        }
        assert_eq!(nattch(&ns, shmid), Ok(0), "{what}");
        assert_eq!(ns.semctl(semid, 0, GETVAL, 0), Ok(0), "{what}: the undo applied once at the death");
        consistent(&ns);
    }
}

/// A normal exit undoes the process's state itself, before its
/// descriptors close (`Namespace::leave_at_exit`, run by the shim's exit
/// handlers): the undo is applied and the attachment dropped while the
/// process still lives, and a death in the middle of it leaves the rest to
/// the reaper, the undo applied once.
#[test]
fn an_exit_undoes_its_own_state_once_whatever_kills_it() {
    let _serial = serial();
    for point in [None, Some("exit.state_undone")] {
        let ns = new_box();
        let semid = ns.semget(IPC_PRIVATE, 1, 0o600).unwrap();
        let shmid = ns.shmget(IPC_PRIVATE, 4096, 0o600).unwrap();
        let (left_r, left_w) = pipe();
        let (go_r, go_w) = pipe();
        let process = fork_child(&ns, || {
            close(left_r);
            close(go_w);
            ns.semop(semid, &[op(0, 3, SEM_UNDO)], None).unwrap();
            ns.shmat(shmid, 0, 0).unwrap();
            if let Some(point) = point {
                faults::arm(point, 1);
            }
            ns.leave_at_exit();
            write_i32(left_w, 1);
            let _ = read_i32(go_r);
            0
        });
        close(left_w);
        close(go_r);
        let what = point.unwrap_or("no death");
        if point.is_none() {
            assert_eq!(read_i32(left_r), Some(1));
            assert_eq!(ns.semctl(semid, 0, GETVAL, 0), Ok(0), "{what}: undone before the exit");
            assert_eq!(nattch(&ns, shmid), Ok(0), "{what}: detached before the exit");
            close(go_w);
            assert_eq!(wait_status(process), 0);
        } else {
            assert_eq!(read_i32(left_r), None);
            assert!(killed(wait_status(process)));
            close(go_w);
        }
        assert_eq!(ns.semctl(semid, 0, GETVAL, 0), Ok(0), "{what}: the undo applied once");
        assert_eq!(nattch(&ns, shmid), Ok(0), "{what}");
        consistent(&ns);
    }
}

/// An exit from a signal handler that interrupted a call holding a lock of
/// the region must not undo the state itself (it would wait for that lock
/// forever): the thread's robust list tells, and only the liveness lock
/// may be on it.
#[test]
fn an_exit_inside_a_call_that_holds_a_lock_leaves_the_state_to_the_reaper() {
    let _serial = serial();
    let ns = new_box();
    let semid = ns.semget(IPC_PRIVATE, 1, 0o600).unwrap();
    let status = wait_status(fork_child(&ns, || {
        ns.semop(semid, &[op(0, 1, SEM_UNDO)], None).unwrap();
        let region = ns.region();
        // SAFETY: plain system call.
        let me = unsafe { libc::getpid() };
        let Some(&(own, _, _)) = region.live_records().iter().find(|&&(_, pid, _)| pid == me) else { return 9 };
        let liveness = &region.record(own.index).liveness;
        if liveness.thread_holds_others() {
            return 1;
        }
        let memory = Box::new(std::mem::MaybeUninit::<shared_state::lock::RobustMutex>::zeroed());
        // SAFETY: a fresh mutex of this thread's alone.
        let other = unsafe { &*(memory.as_ptr()) };
        // SAFETY: not shared with anyone yet.
        unsafe { other.init() };
        let guard = other.lock().unwrap();
        if !liveness.thread_holds_others() {
            return 2;
        }
        // Interrupted here, an exit leaves everything as it is.
        ns.leave_at_exit();
        if ns.semctl(semid, 0, GETVAL, 0) != Ok(1) {
            return 3;
        }
        drop(guard);
        if liveness.thread_holds_others() {
            return 4;
        }
        ns.leave_at_exit();
        if ns.semctl(semid, 0, GETVAL, 0) != Ok(0) {
            return 5;
        }
        0
    }));
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "status {status:#x}");
    consistent(&ns);
}
