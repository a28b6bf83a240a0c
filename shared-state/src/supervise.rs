//! The supervisor's death watch: prompt repair after a process of the box dies.
//!
//! Owns: `Namespace::watch_deaths`, run by `ipcbox run` beside the command.
//!
//! Why: a dead process's state is otherwise repaired lazily, by the next
//! process that calls into the box. That is enough for counts (every reader
//! repairs first), but not for a process asleep in semop that waits for a
//! dead holder's SEM_UNDO to give a unit back: nobody would call. Linux
//! applies undo at exit, so the supervisor does the same, promptly.
//!
//! How: every process that gets a record bumps `ProcTable::registrations`
//! and wakes its futex, after its pid and start time are in the record and
//! before the record holds any state (so a process that dies at once is
//! still watched). One thread sleeps on that futex and, at each bump,
//! opens a pidfd for every announced record it does not watch yet (checking the
//! start time after opening, so a reused pid is never mistaken for the dead
//! process) and adds it to an epoll set. Another thread sleeps in
//! epoll_wait; a pidfd becomes readable when its process exits, and the
//! thread then notes the death (see `procs`: `DeathWatch`) and reaps every
//! dead record. No polling: both threads sleep until
//! the kernel wakes them.
//!
//! The reap thread also runs the collection of blocks the dead left in hand
//! (see `collect`), retrying with backoff while the box is too busy.
//!
//! Locking: the watch list is private to the supervisor (a std Mutex);
//! reaping takes the region's locks as any caller does.

use crate::ns::Namespace;
use crate::procs::RecordRef;
use crate::sys;
use std::collections::HashMap;
use std::sync::atomic::Ordering::Acquire;
use std::sync::{Arc, Mutex};

impl Namespace {
    /// Watches the box's processes and repairs what each leaves when it
    /// dies, until the process ends. Starts two threads and returns.
    pub fn watch_deaths(self: &Arc<Self>) -> std::io::Result<()> {
        // SAFETY: plain system call; the descriptor is ours.
        let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epoll < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // Calls may now count on deaths being noticed, and sleepers leave
        // repairs to us. If another supervisor holds this (a named box
        // joined from elsewhere), it watches too, and a thread of ours
        // waits to take over when it ends, so that the box stays watched
        // while any supervisor runs.
        let supervisor = &self.region().procs().watch.supervisor;
        if supervisor.take_over() != sys::gettid() {
            let ns = self.clone();
            std::thread::Builder::new().name("ipcbox-standby".into()).spawn(move || {
                if !ns.region().procs().watch.supervisor.wait_and_hold() {
                    // glibc refuses the lock (the region is corrupt): this
                    // supervisor cannot stand by.
                    return;
                }
                // Whatever died while no one watched is reaped now.
                ns.region().note_death();
                ns.repair_dead();
                loop {
                    std::thread::park();
                }
            })?;
        }
        let watched: Arc<Mutex<HashMap<u64, i32>>> = Arc::default();
        let (ns, list) = (self.clone(), watched.clone());
        std::thread::Builder::new().name("ipcbox-register".into()).spawn(move || loop {
            let seen = ns.region().procs().registrations.load(Acquire);
            ns.watch_new_records(epoll, &list);
            let _ = sys::futex_wait(&ns.region().procs().registrations, seen, None);
        })?;
        let ns = self.clone();
        std::thread::Builder::new().name("ipcbox-reap".into()).spawn(move || {
            let mut events = [libc::epoll_event { events: 0, u64: 0 }; 32];
            // While blocks lost to a death wait for a quiet instant to be
            // collected, retry after a timeout that doubles up to a second.
            let mut retry_ms = -1;
            loop {
                // SAFETY: events is writable for its length.
                let n = unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), events.len() as i32, retry_ms) };
                if n <= 0 {
                    if n == 0 {
                        retry_ms = next_retry(retry_ms, ns.collect_lost().is_some());
                    }
                    continue;
                }
                for event in &events[..n as usize] {
                    if let Some(pidfd) = watched.lock().unwrap_or_else(|p| p.into_inner()).remove(&{ event.u64 }) {
                        // SAFETY: closing a pidfd we opened (epoll forgets it).
                        unsafe { libc::close(pidfd) };
                    }
                }
                ns.region().note_death();
                ns.repair_dead();
                retry_ms = next_retry(-1, ns.collect_lost().is_some());
            }
        })?;
        Ok(())
    }

    fn watch_new_records(&self, epoll: i32, watched: &Mutex<HashMap<u64, i32>>) {
        for (rec, pid, start_time) in self.region().announced_records() {
            let key = key_of(rec);
            if watched.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&key) {
                continue;
            }
            // SAFETY: plain system call.
            let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
            if pidfd < 0 {
                // Already gone: repair now.
                self.region().note_death();
                self.repair_dead();
                continue;
            }
            if !self.region().process_is(pid, start_time) {
                // SAFETY: closing the pidfd we just opened.
                unsafe { libc::close(pidfd) };
                self.region().note_death();
                self.repair_dead();
                continue;
            }
            let mut event = libc::epoll_event { events: libc::EPOLLIN as u32, u64: key };
            // SAFETY: registering our pidfd with our epoll set.
            unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, pidfd, &mut event) };
            watched.lock().unwrap_or_else(|p| p.into_inner()).insert(key, pidfd);
        }
    }
}

/// The reap thread's next epoll timeout: none once a collection is done
/// (or none was pending), else the last one doubled, from 1 ms to 1 s.
fn next_retry(last_ms: i32, collected: bool) -> i32 {
    match (collected, last_ms) {
        (true, _) => -1,
        (false, -1) => 1,
        (false, ms) => (ms * 2).min(1000),
    }
}

fn key_of(rec: RecordRef) -> u64 {
    (rec.index as u64) << 32 | rec.generation as u64
}
