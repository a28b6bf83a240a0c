//! The region's robust lock, taken inline and through glibc in one thread's
//! robust list: the kernel must find every lock a dead thread held, whichever
//! side took it and in whatever order the others were let go.

use shared_state::lock::{inline_path, RobustMutex};
use std::mem::MaybeUninit;

/// Shared anonymous memory, as the region is shared: `count` robust mutexes
/// of ours and one plain glibc robust mutex after them.
struct Shared {
    base: *mut u8,
    count: usize,
}

// SAFETY: the mutexes are made for use by many threads and processes.
unsafe impl Sync for Shared {}

const MUTEX: usize = core::mem::size_of::<RobustMutex>();

impl Shared {
    fn new(count: usize) -> Shared {
        // SAFETY: a fresh anonymous shared mapping.
        let base = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(base, libc::MAP_FAILED);
        let shared = Shared { base: base as *mut u8, count };
        for i in 0..count {
            // SAFETY: zeroed memory of ours, not yet used by anyone.
            unsafe { shared.ours(i).init() };
        }
        // SAFETY: as above, for glibc's own mutex.
        unsafe {
            let mut attr = MaybeUninit::<libc::pthread_mutexattr_t>::zeroed().assume_init();
            libc::pthread_mutexattr_init(&mut attr);
            libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED);
            libc::pthread_mutexattr_setrobust(&mut attr, libc::PTHREAD_MUTEX_ROBUST);
            assert_eq!(libc::pthread_mutex_init(shared.glibc(), &attr), 0);
        }
        shared
    }

    fn ours(&self, i: usize) -> &RobustMutex {
        assert!(i < self.count);
        // SAFETY: initialised in `new`, inside the mapping.
        unsafe { &*(self.base.add(i * MUTEX) as *const RobustMutex) }
    }

    fn glibc(&self) -> *mut libc::pthread_mutex_t {
        // SAFETY: inside the mapping, after ours.
        unsafe { self.base.add(self.count * MUTEX) as *mut libc::pthread_mutex_t }
    }
}

fn run_child(body: impl FnOnce()) {
    // SAFETY: the child runs `body` and leaves by _exit or death.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        body();
        // SAFETY: leaving the child without the parent's destructors.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: status is writable.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
}

fn kill_self() {
    // SAFETY: plain system calls.
    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
}

#[test]
fn the_inline_path_is_taken_here() {
    // The layout check passes with the glibc this suite runs on; if it did
    // not, every test below would only test glibc.
    assert_eq!(inline_path(), cfg!(target_arch = "x86_64"));
}

#[test]
fn a_dead_holder_of_interleaved_locks_leaves_them_owner_died() {
    let shared = Shared::new(4);
    run_child(|| {
        let a = shared.ours(0).lock().unwrap();
        // SAFETY: glibc's own mutex, initialised.
        assert_eq!(unsafe { libc::pthread_mutex_lock(shared.glibc()) }, 0);
        let b = shared.ours(1).lock().unwrap();
        let c = shared.ours(2).lock().unwrap();
        // Let go out of order: from the middle of the list, then glibc's
        // (whose neighbours were linked inline), then the first taken.
        drop(b);
        // SAFETY: held by this thread.
        assert_eq!(unsafe { libc::pthread_mutex_unlock(shared.glibc()) }, 0);
        drop(a);
        let d = shared.ours(3).lock().unwrap();
        // SAFETY: as above.
        assert_eq!(unsafe { libc::pthread_mutex_lock(shared.glibc()) }, 0);
        core::mem::forget((c, d));
        kill_self();
    });
    let free: Vec<bool> = (0..4).map(|i| !shared.ours(i).is_abandoned()).collect();
    assert_eq!(free, [true, true, false, false], "abandoned: the locks held at death");
    for i in 0..4 {
        let guard = shared.ours(i).try_lock().expect("free or abandoned");
        assert_eq!(guard.owner_died, i >= 2, "lock {i}");
    }
    // SAFETY: glibc's mutex, which the dead child held.
    assert_eq!(unsafe { libc::pthread_mutex_trylock(shared.glibc()) }, libc::EOWNERDEAD);
}

#[test]
fn a_thread_dying_between_locks_leaves_only_those_it_held() {
    // A death after each step of take-and-release sequences (lock, take or
    // let go): the locks held at that moment, and only they, read owner-died.
    // Letting go of the first, a middle and the last entry of the list.
    let sequences: [&[(usize, bool)]; 2] = [
        &[(0, true), (1, true), (0, false), (2, true), (1, false), (2, false)],
        &[(0, true), (1, true), (2, true), (1, false), (3, true), (0, false), (3, false)],
    ];
    for sequence in sequences {
        for steps in 0..=sequence.len() {
            let shared = Shared::new(4);
            run_child(|| {
                let mut held: Vec<Option<_>> = (0..4).map(|_| None).collect();
                for &(lock, take) in &sequence[..steps] {
                    held[lock] = take.then(|| shared.ours(lock).lock().unwrap());
                }
                held.into_iter().flatten().for_each(core::mem::forget);
                kill_self();
            });
            let mut expected = [false; 4];
            for &(lock, take) in &sequence[..steps] {
                expected[lock] = take;
            }
            let abandoned: Vec<bool> = (0..4).map(|i| shared.ours(i).is_abandoned()).collect();
            assert_eq!(abandoned, expected, "{sequence:?} after {steps} steps");
        }
    }
}

#[test]
fn a_waiter_sleeping_in_glibc_is_woken_by_an_inline_release() {
    let shared = Shared::new(1);
    let guard = shared.ours(0).lock().unwrap();
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            let start = std::time::Instant::now();
            let got = shared.ours(0).lock().unwrap();
            assert!(!got.owner_died);
            start.elapsed()
        });
        // Longer than the waiter's spin: it sleeps in glibc's lock, with
        // FUTEX_WAITERS set, and only the inline release can wake it.
        std::thread::sleep(std::time::Duration::from_millis(200));
        drop(guard);
        let waited = waiter.join().unwrap();
        assert!(waited >= std::time::Duration::from_millis(150), "waited {waited:?}");
    });
}

/// Forks a child running `body` (which never returns), pinned to `cpu`.
fn spawn_on(cpu: usize, body: impl FnOnce()) -> i32 {
    // SAFETY: the child runs `body` and leaves by _exit or death.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        // SAFETY: plain system calls on this process.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            let mut set: libc::cpu_set_t = core::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, core::mem::size_of::<libc::cpu_set_t>(), &set);
        }
        body();
        // SAFETY: leaving the child without the parent's destructors.
        unsafe { libc::_exit(0) };
    }
    pid
}

fn end(pid: i32) {
    // SAFETY: our own child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let mut status = 0;
    // SAFETY: status is writable.
    unsafe { libc::waitpid(pid, &mut status, 0) };
}

/// Whether process `pid` sleeps in a futex wait.
fn asleep_on_futex(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/wchan")).is_ok_and(|w| w.contains("futex"))
}

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "timed out: {what}");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// A sleeper woken for a lock and killed before it takes it (the lock's
/// word 0 again) must not leave the next sleeper asleep on a free lock:
/// each sleeper names the lock as its pending one while it sleeps, as
/// glibc's do, and the kernel then passes the wake-up on at its death
/// (`handle_futex_death`). X and W sleep on a held lock, X first; X runs
/// at SCHED_IDLE on a CPU kept busy, so that once woken it waits to run,
/// and is killed there. W must then get the lock. (Found by
/// ctests/chaos_kill: a msgrcv asleep on a free send lock, holding the
/// receive lock every other caller waited for.)
#[test]
fn a_sleeper_killed_after_its_wake_up_passes_it_on() {
    use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(cpus >= 2, "needs two CPUs");
    // SAFETY: pins the test's thread to CPU 0 (undone below).
    unsafe {
        let mut set: libc::cpu_set_t = core::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        libc::sched_setaffinity(0, core::mem::size_of::<libc::cpu_set_t>(), &set);
    }
    let shared = Shared::new(1);
    // Flags after the mutexes: [1] X got the lock, [2] W got it, [3] the
    // hog's stop.
    // SAFETY: inside the shared page, past the mutexes.
    let flag = |i: usize| unsafe { &*(shared.base.add(2048 + i * 4) as *const AtomicU32) };
    let mut passed = false;
    for _attempt in 0..20 {
        (1..4).for_each(|i| flag(i).store(0, Relaxed));
        let (ready_r, ready_w) = common_pipe();
        let (go_r, go_w) = common_pipe();
        let holder = spawn_on(0, || {
            let guard = shared.ours(0).lock().unwrap();
            write_byte(ready_w);
            read_byte(go_r);
            drop(guard);
        });
        read_byte(ready_r);
        let hog = spawn_on(1, || {
            while flag(3).load(Relaxed) == 0 {
                core::hint::spin_loop();
            }
        });
        let x = spawn_on(1, || {
            // SAFETY: plain system call on this process.
            unsafe {
                let param = libc::sched_param { sched_priority: 0 };
                libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
            }
            let guard = shared.ours(0).lock().unwrap();
            flag(1).store(1, Relaxed);
            drop(guard);
        });
        wait_until("X asleep on the lock", || asleep_on_futex(x));
        let w = spawn_on(0, || {
            let guard = shared.ours(0).lock().unwrap();
            flag(2).store(1, Relaxed);
            drop(guard);
        });
        wait_until("W asleep on the lock", || asleep_on_futex(w));
        // The holder lets go and wakes X, the first sleeper; X waits
        // behind the hog, and dies there.
        write_byte(go_w);
        let mut status = 0;
        // SAFETY: status is writable.
        unsafe { libc::waitpid(holder, &mut status, 0) };
        end(x);
        flag(3).store(1, Relaxed);
        end(hog);
        [ready_r, ready_w, go_r, go_w].into_iter().for_each(|fd| {
            // SAFETY: our own descriptors.
            unsafe { libc::close(fd) };
        });
        if flag(1).load(Relaxed) != 0 {
            // X ran and took the lock before its death: try again.
            end(w);
            continue;
        }
        let start = std::time::Instant::now();
        while flag(2).load(Relaxed) == 0 && start.elapsed() < std::time::Duration::from_secs(2) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let got = flag(2).load(Relaxed) != 0;
        end(w);
        assert!(got, "W sleeps on a free lock after X died with the wake-up");
        passed = true;
        break;
    }
    // SAFETY: as above, every CPU again.
    unsafe {
        let mut set: libc::cpu_set_t = core::mem::zeroed();
        (0..cpus).for_each(|cpu| libc::CPU_SET(cpu, &mut set));
        libc::sched_setaffinity(0, core::mem::size_of::<libc::cpu_set_t>(), &set);
    }
    assert!(passed, "X always took the lock before its death: the scenario never arose");
}

fn common_pipe() -> (i32, i32) {
    let mut fds = [0; 2];
    // SAFETY: fds is writable.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    (fds[0], fds[1])
}

fn write_byte(fd: i32) {
    // SAFETY: one byte from the stack.
    assert_eq!(unsafe { libc::write(fd, [1u8].as_ptr() as *const libc::c_void, 1) }, 1);
}

fn read_byte(fd: i32) {
    let mut byte = [0u8];
    // SAFETY: one byte into the stack.
    assert_eq!(unsafe { libc::read(fd, byte.as_mut_ptr() as *mut libc::c_void, 1) }, 1);
}
