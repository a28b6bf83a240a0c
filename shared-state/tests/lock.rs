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
