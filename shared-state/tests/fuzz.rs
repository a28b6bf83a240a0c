//! Random operation sequences through the whole API, with bad input mixed
//! in (unknown ids, odd sizes and flags, unknown commands, null, inaccessible,
//! read-only and misaligned pointers): no call may panic, every error is an
//! errno, and the region's invariants hold after every step.

mod common;

use common::*;
use shared_state::abi::{IPC_CREAT, IPC_EXCL, IPC_NOWAIT};
use shared_state::Namespace;

/// xorshift64*: a fixed seed gives the same sequence every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

struct Fuzzer {
    ns: Namespace,
    rng: Rng,
    /// Ids seen from the *get calls, with made-up ones mixed in when used.
    ids: Vec<i32>,
    attached: Vec<usize>,
    buffer: Vec<u8>,
    /// A page that may be read but not written, and one that may not be touched.
    read_only: usize,
    no_access: usize,
    /// Whether this is a fork child of a fuzzer (which forks no further).
    forked: bool,
}

impl Fuzzer {
    fn new(seed: u64) -> Fuzzer {
        // SAFETY: a fresh anonymous mapping of two pages, the second then
        // made inaccessible; the test never writes to the first.
        let (read_only, no_access) = unsafe {
            let base = libc::mmap(
                core::ptr::null_mut(),
                8192,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            ) as usize;
            assert_ne!(base, libc::MAP_FAILED as usize);
            // Inaccessible rather than no_access, so that no later mapping
            // (a segment attached at an address of the kernel's choice)
            // can land there.
            libc::mprotect((base + 4096) as *mut libc::c_void, 4096, libc::PROT_NONE);
            (base, base + 4096)
        };
        Fuzzer {
            ns: new_box(),
            rng: Rng(seed),
            ids: Vec::new(),
            attached: Vec::new(),
            buffer: vec![0; 3 * 65536],
            read_only,
            no_access,
            forked: false,
        }
    }

    fn id(&mut self) -> i32 {
        if self.ids.is_empty() || self.rng.below(8) == 0 {
            return self.rng.pick(&[-1, 0, 1, 32767, 32768, i32::MAX, i32::MIN, 5 << 15]);
        }
        let id = self.ids[self.rng.below(self.ids.len() as u64) as usize];
        // Sometimes a stale sequence number for the same slot.
        if self.rng.below(10) == 0 {
            id.wrapping_add(1 << 15)
        } else {
            id
        }
    }

    fn key(&mut self) -> i32 {
        self.rng.pick(&[0, 0, 1, 2, 0x1234, -1])
    }

    fn flags(&mut self) -> i32 {
        let mut flags = self.rng.pick(&[0o600, 0o666, 0o400, 0, 0o777]);
        if self.rng.below(2) == 0 {
            flags |= IPC_CREAT;
        }
        if self.rng.below(4) == 0 {
            flags |= IPC_EXCL;
        }
        flags
    }

    /// A pointer for the call to read or write `len` bytes at: mostly our
    /// buffer (filled with random bytes), sometimes a bad one.
    fn pointer(&mut self, len: usize) -> usize {
        match self.rng.below(12) {
            0 => 0,
            1 => 8,
            2 => self.no_access,
            3 => self.read_only,
            4 => self.no_access - 4,
            _ => {
                let start = self.rng.below(64) as usize;
                let end = (start + len.max(64)).min(self.buffer.len());
                for byte in &mut self.buffer[start..end] {
                    *byte = self.rng.next() as u8;
                }
                self.buffer.as_ptr() as usize + start
            }
        }
    }

    fn size(&mut self) -> usize {
        self.rng.pick(&[0, 1, 6, 8, 64, 100, 4096, 8192, 8193, 65536, usize::MAX, isize::MAX as usize])
    }

    fn command(&mut self) -> i32 {
        self.rng.pick(&[0, 1, 2, 3, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, -1, 99, 0x100 | 2])
    }

    fn step(&mut self) -> String {
        let ns = &self.ns as *const Namespace;
        // SAFETY: `ns` lives as long as self; the borrow checker cannot see
        // that the other fields used below are distinct.
        let ns = unsafe { &*ns };
        match self.rng.below(13) {
            12 if !self.forked => {
                // A child inherits the attachments: it exits at once, makes
                // a few calls and exits, or makes a few and is killed.
                let (steps, killed) = (self.rng.below(8), self.rng.below(3) == 0);
                let this = self as *mut Fuzzer;
                let pid = common::fork_child(ns, || {
                    // SAFETY: the child's own copy of the fuzzer.
                    let child = unsafe { &mut *this };
                    child.forked = true;
                    (0..steps).for_each(|_| drop(child.step()));
                    if killed {
                        // SAFETY: plain system call.
                        unsafe { libc::raise(libc::SIGKILL) };
                    }
                    0
                });
                let status = common::wait_status(pid);
                format!("fork() = child of {steps} calls, status {status:#x}")
            }
            0 => {
                let (key, size, flags) = (self.key(), self.size().min(1 << 20), self.flags());
                let r = ns.shmget(key, size, flags);
                if let Ok(id) = r {
                    self.ids.push(id);
                }
                format!("shmget({key}, {size}, {flags:#o}) = {r:?}")
            }
            1 => {
                let (id, flags) = (self.id(), self.rng.pick(&[0, 0o10000, 0o20000, 0o100000, 0o40000]));
                let r = ns.shmat(id, 0, flags);
                if let Ok(addr) = r {
                    self.attached.push(addr);
                }
                format!("shmat({id}, 0, {flags:#o}) = {r:?}")
            }
            2 => {
                let addr = if !self.attached.is_empty() && self.rng.below(4) != 0 {
                    self.attached.swap_remove(self.rng.below(self.attached.len() as u64) as usize)
                } else {
                    self.rng.pick(&[0, 1, 4096, self.no_access])
                };
                format!("shmdt({addr:#x}) = {:?}", ns.shmdt(addr))
            }
            3 => {
                let (id, cmd) = (self.id(), self.command());
                let buf = self.pointer(256);
                format!("shmctl({id}, {cmd}, {buf:#x}) = {:?}", ns.shmctl(id, cmd, buf))
            }
            4 => {
                let (key, flags) = (self.key(), self.flags());
                let nsems = self.rng.pick(&[-1, 0, 1, 2, 4, 250, 251, 32000]);
                let r = ns.semget(key, nsems, flags);
                if let Ok(id) = r {
                    self.ids.push(id);
                }
                format!("semget({key}, {nsems}, {flags:#o}) = {r:?}")
            }
            5 | 6 => {
                let id = self.id();
                let nsops = self.rng.pick(&[0, 1, 1, 1, 2, 4, 500, 501]);
                let ops = self.pointer(nsops * 6);
                // Never block: every operation in our buffer gets IPC_NOWAIT.
                if ops >= self.buffer.as_ptr() as usize && ops < self.buffer.as_ptr() as usize + self.buffer.len() {
                    let start = ops - self.buffer.as_ptr() as usize;
                    for i in 0..nsops.min((self.buffer.len() - start) / 6) {
                        let at = start + i * 6;
                        self.buffer[at] = self.rng.below(5) as u8;
                        self.buffer[at + 1] = 0;
                        let op = self.rng.pick(&[-2i16, -1, 0, 1, 2, 32767, -32768]);
                        self.buffer[at + 2..at + 4].copy_from_slice(&op.to_ne_bytes());
                        let flags = (IPC_NOWAIT as i16) | self.rng.pick(&[0i16, 0x1000]);
                        self.buffer[at + 4..at + 6].copy_from_slice(&flags.to_ne_bytes());
                    }
                } else if ops == self.read_only {
                    // Zeros there: wait-for-zero on semaphore 0, which may
                    // block; keep it to sets whose semaphore 0 is free.
                    return String::from("(skipped: a read-only sembuf could block)");
                }
                format!("semop({id}, {ops:#x}, {nsops}) = {:?}", ns.semtimedop(id, ops, nsops, 0))
            }
            7 => {
                let (id, num, cmd) = (self.id(), self.rng.pick(&[-1, 0, 1, 3, 250]), self.command());
                let arg = if self.rng.below(2) == 0 { self.rng.below(70000) as usize } else { self.pointer(1024) };
                format!("semctl({id}, {num}, {cmd}, {arg:#x}) = {:?}", ns.semctl(id, num, cmd, arg))
            }
            8 => {
                let (key, flags) = (self.key(), self.flags());
                let r = ns.msgget(key, flags);
                if let Ok(id) = r {
                    self.ids.push(id);
                }
                format!("msgget({key}, {flags:#o}) = {r:?}")
            }
            9 => {
                let (id, size) = (self.id(), self.size());
                let msgp = self.pointer(size.min(9000) + 8);
                if msgp >= self.buffer.as_ptr() as usize && msgp < self.buffer.as_ptr() as usize + self.buffer.len() {
                    let mtype = self.rng.pick(&[-1i64, 0, 1, 2, 3, i64::MAX]);
                    let start = msgp - self.buffer.as_ptr() as usize;
                    self.buffer[start..start + 8].copy_from_slice(&mtype.to_ne_bytes());
                }
                let flags = IPC_NOWAIT | self.rng.pick(&[0, 0o10000]);
                format!("msgsnd({id}, {msgp:#x}, {size}, {flags:#o}) = {:?}", ns.msgsnd(id, msgp, size, flags))
            }
            10 => {
                let (id, size) = (self.id(), self.size());
                let msgp = self.pointer(size.min(9000) + 8);
                let msgtyp = self.rng.pick(&[0i64, 1, 2, -2, -3, i64::MIN, i64::MAX]);
                let flags = IPC_NOWAIT | self.rng.pick(&[0, 0o10000, 0o20000, 0o40000, 0o60000]);
                let r = ns.msgrcv(id, msgp, size, msgtyp, flags);
                format!("msgrcv({id}, {msgp:#x}, {size}, {msgtyp}, {flags:#o}) = {r:?}")
            }
            _ => {
                let (id, cmd) = (self.id(), self.command());
                let buf = self.pointer(256);
                format!("msgctl({id}, {cmd}, {buf:#x}) = {:?}", ns.msgctl(id, cmd, buf))
            }
        }
    }
}

#[test]
fn random_calls_keep_the_region_consistent() {
    for seed in [1u64, 0x9e37_79b9_7f4a_7c15, 42] {
        let mut fuzzer = Fuzzer::new(seed);
        let mut trail = std::collections::VecDeque::new();
        for step in 0..4000 {
            let call = fuzzer.step();
            trail.push_back(call);
            if trail.len() > 8 {
                trail.pop_front();
            }
            let lost = fuzzer.ns.region().check_invariants().and_then(|_| fuzzer.ns.region().heap_account());
            match lost {
                Ok(account) if account.lost() == 0 => {}
                Ok(account) => panic!(
                    "seed {seed:#x}, step {step}: {} heap bytes reached by nothing\nlast calls:\n  {}",
                    account.lost(),
                    Vec::from(trail).join("\n  ")
                ),
                Err(broken) => {
                    panic!("seed {seed:#x}, step {step}: {broken}\nlast calls:\n  {}", Vec::from(trail).join("\n  "))
                }
            }
        }
        // Whatever is left can be removed, and then nothing is in use.
        for &addr in &fuzzer.attached {
            fuzzer.ns.shmdt(addr).unwrap();
        }
        for &id in &fuzzer.ids {
            let _ = fuzzer.ns.shmctl(id, shared_state::abi::IPC_RMID, 0);
            let _ = fuzzer.ns.semctl(id, 0, shared_state::abi::IPC_RMID, 0);
            let _ = fuzzer.ns.msgctl(id, shared_state::abi::IPC_RMID, 0);
        }
        fuzzer.ns.region().check_invariants().unwrap();
    }
}

/// Eight processes make random calls on shared keys at once while the
/// parent SIGKILLs half of them at random moments, inside calls or between
/// them, and one of its threads runs collections of lost blocks again and
/// again: afterwards every repair has run, no worker's record is left, no
/// heap byte is lost, and the invariants hold, before and after the
/// leftovers are removed.
#[test]
fn concurrent_random_calls_with_kills_keep_the_region_consistent() {
    const WORKERS: u64 = 8;
    for seed in [7u64, 0x51ed_2701] {
        let mut fuzzer = Fuzzer::new(seed);
        // Objects on the keys the workers use, so that they meet at once.
        for key in [1, 2, 0x1234] {
            fuzzer.ns.shmget(key, 4096, IPC_CREAT | 0o600).unwrap();
            fuzzer.ns.semget(key, 4, IPC_CREAT | 0o600).unwrap();
            fuzzer.ns.msgget(key, IPC_CREAT | 0o600).unwrap();
        }
        let workers: Vec<i32> = (0..WORKERS)
            .map(|worker| {
                let child = &mut fuzzer as *mut Fuzzer;
                fork_child(&fuzzer.ns, || {
                    // SAFETY: the child's own copy of the fuzzer, used by it alone.
                    let fuzzer = unsafe { &mut *child };
                    fuzzer.rng = Rng(seed ^ (worker + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                    for _ in 0..20_000 {
                        fuzzer.step();
                    }
                    0
                })
            })
            .collect();
        let mut rng = Rng(seed);
        let (killed, _) = collecting_meanwhile(&fuzzer.ns, || {
            for &pid in workers.iter().step_by(2) {
                std::thread::sleep(std::time::Duration::from_micros(rng.below(5_000)));
                // SAFETY: signalling our own child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            let mut killed = 0;
            for (worker, &pid) in workers.iter().enumerate() {
                let status = wait_status(pid);
                if worker % 2 == 1 {
                    assert_eq!(status, 0, "seed {seed:#x}: worker {worker} failed (status {status:#x})");
                } else if libc::WIFSIGNALED(status) {
                    killed += 1;
                }
            }
            killed
        });
        assert!(killed > 0, "seed {seed:#x}: every worker ended before its kill");
        // The next call repairs after the dead; then everything must agree.
        let _ = fuzzer.ns.semget(1, 0, 0);
        fuzzer.ns.region().repair_abandoned_locks();
        if let Err(broken) = fuzzer.ns.region().check_invariants() {
            panic!("seed {seed:#x}: after the workers: {broken}");
        }
        // What the killed held in hand was collected after the repairs.
        let lost = fuzzer.ns.region().heap_account().unwrap().lost();
        assert_eq!(lost, 0, "seed {seed:#x}: heap bytes lost to {killed} kills");
        let ns = &fuzzer.ns;
        let region = ns.region();
        let me = std::process::id() as i32;
        assert!(region.live_records().iter().all(|&(_, pid, _)| pid == me), "seed {seed:#x}: a worker's record left");
        // The survivors' objects can all be removed.
        for index in 0..256 {
            for seq in 0..64 {
                let id = (seq << 15) | index;
                let _ = ns.shmctl(id, shared_state::abi::IPC_RMID, 0);
                let _ = ns.semctl(id, 0, shared_state::abi::IPC_RMID, 0);
                let _ = ns.msgctl(id, shared_state::abi::IPC_RMID, 0);
            }
        }
        region.check_invariants().unwrap();
    }
}
