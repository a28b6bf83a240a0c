//! libipcbox.so: the C-ABI face of ipcbox, preloaded into every process of a box.
//!
//! Owns: the exported libc names (shm*, sem*, msg*, and the wrappers that
//! keep the box's bookkeeping: fork, exec, close, mmap, credentials,
//! signal dispositions, and the /proc files of `procfs`), errno,
//! joining the box at load, the fork wrapper, and keeping the region's
//! descriptor alive in programs that close descriptors they do not know.
//! All semantics live in `shared_state`; each export here converts arguments,
//! calls one `Namespace` method, and sets errno.
//!
//! Box membership is inherited, never inferred: `ipcbox run` puts the region's
//! memfd at an inheritable descriptor and names it in IPCBOX_FD (with the box
//! id in IPCBOX_ID). At load the shim maps the region behind that descriptor.
//! If the descriptor was moved (a program dup2'd over it and the shim moved it
//! away) the shim finds the region among /proc/self/fd by its box id.
//! A process without IPCBOX_FD is not in a box: its calls go to libc.
//! A process whose IPCBOX_FD names no usable region prints one line on stderr
//! and exits with status 127, rather than guess.
//!
//! Invariants: nothing here calls an interposable libc function for its own
//! work (system calls go through `shared_state::sys`), except `dlsym` to find
//! the next definition of the functions wrapped here.

use shared_state::dispatch;
use shared_state::sys;
use shared_state::trace;
use shared_state::Namespace;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

static NAMESPACE: OnceLock<Namespace> = OnceLock::new();

const ENV_FD: &[u8] = b"IPCBOX_FD=";
const ENV_ID: &[u8] = b"IPCBOX_ID=";
const ENV_TRACE: &[u8] = b"IPCBOX_TRACE=";
const ENV_TRACE_FD: &[u8] = b"IPCBOX_TRACE_FD=";
const ENV_STRICT: &[u8] = b"IPCBOX_STRICT=";
/// Lowest descriptor number the region is moved to when a program takes its number.
const FD_FLOOR: usize = 100;

fn set_errno(e: i32) {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = e };
}

fn ret_int(result: Result<i32, i32>) -> c_int {
    match result {
        Ok(v) => v,
        Err(e) => {
            set_errno(e);
            -1
        }
    }
}

/// Looks up the next definition of a wrapped libc function, once.
fn next_symbol(cache: &AtomicUsize, name: &CStr) -> usize {
    let cached = cache.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    // SAFETY: name is NUL-terminated; RTLD_NEXT finds libc's definition.
    let found = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) } as usize;
    cache.store(found, Ordering::Relaxed);
    found
}

macro_rules! next {
    ($name:expr, as $ty:ty) => {{
        static CACHE: AtomicUsize = AtomicUsize::new(0);
        let f = next_symbol(&CACHE, $name);
        if f == 0 {
            None
        } else {
            // SAFETY: dlsym returned libc's definition of this very function,
            // whose C signature is $ty.
            Some(unsafe { core::mem::transmute::<usize, $ty>(f) })
        }
    }};
}

mod divert;
mod exec;
mod procfs;
mod trap;

// ---------------------------------------------------------------- load

/// The entries of a NULL-terminated C environment array (none for NULL).
///
/// # Safety
/// `envp` is NULL or a NULL-terminated array of NUL-terminated strings that
/// outlive the iteration.
unsafe fn env_entries<'a>(envp: *const *const c_char) -> impl Iterator<Item = &'a [u8]> {
    let mut p = envp;
    std::iter::from_fn(move || {
        if p.is_null() {
            return None;
        }
        // SAFETY: p points into the array (caller's contract).
        let entry = unsafe { *p };
        if entry.is_null() {
            return None;
        }
        // SAFETY: still within the array, whose last element is the NULL above.
        p = unsafe { p.add(1) };
        // SAFETY: each entry is a NUL-terminated string (caller's contract).
        Some(unsafe { CStr::from_ptr(entry) }.to_bytes())
    })
}

/// Runs at load (from .init_array) with the process's environment.
extern "C" fn on_load(_argc: c_int, _argv: *const *const c_char, envp: *const *const c_char) {
    let (mut fd, mut box_id, mut strict) = (None, None, false);
    let (mut trace_fd, mut trace_path) = (None, None);
    // SAFETY: the loader passes the process's environment.
    for bytes in unsafe { env_entries(envp) } {
        if let Some(v) = bytes.strip_prefix(ENV_FD) {
            fd = std::str::from_utf8(v).ok().and_then(|v| v.parse::<i32>().ok());
        } else if let Some(v) = bytes.strip_prefix(ENV_ID) {
            box_id = std::str::from_utf8(v).ok().and_then(|v| u64::from_str_radix(v, 16).ok());
        } else if bytes.strip_prefix(ENV_STRICT) == Some(b"1") {
            strict = true;
        } else if let Some(v) = bytes.strip_prefix(ENV_TRACE_FD) {
            trace_fd = std::str::from_utf8(v).ok().and_then(|v| v.parse::<i32>().ok());
        } else if let Some(path) = bytes.strip_prefix(ENV_TRACE).filter(|p| !p.is_empty()) {
            trace_path = Some(path);
        }
    }
    let Some(fd) = fd else { return };
    match join_box(fd, box_id) {
        Ok(ns) => {
            let _ = NAMESPACE.set(ns);
            // The box's trace descriptor, or the file named, opened for the
            // processes this one starts (see shared_state::trace).
            if !trace_fd.is_some_and(trace::use_fd) {
                if let Some(path) = trace_path {
                    let _ = trace::open_path(path, FD_FLOOR as i32);
                }
            }
            divert::divert_libc(&diversions());
            if strict {
                trap::arm_at_load();
            }
            // Registered before the program's own handlers and the dynamic
            // linker's, so it runs after all of them.
            // SAFETY: registering a plain extern "C" function.
            unsafe { libc::atexit(leave_at_exit) };
        }
        Err(message) => {
            let line = format!("{message}\n");
            // SAFETY: writing our own buffer to stderr, then leaving at once.
            unsafe {
                sys::syscall6(libc::SYS_write, [2, line.as_ptr() as usize, line.len(), 0, 0, 0]);
                sys::syscall6(libc::SYS_exit_group, [127, 0, 0, 0, 0, 0]);
            }
        }
    }
}

/// The box's part of a normal exit (see `Namespace::leave_at_exit`).
extern "C" fn leave_at_exit() {
    if let Some(ns) = namespace() {
        ns.leave_at_exit();
    }
}

#[used]
#[link_section = ".init_array"]
static ON_LOAD: extern "C" fn(c_int, *const *const c_char, *const *const c_char) = on_load;

fn join_box(fd: i32, box_id: Option<u64>) -> Result<Namespace, String> {
    let first = Namespace::attach(fd);
    if let Ok(ns) = &first {
        if box_id.is_none_or(|id| id == ns.region().box_id()) {
            return first.map_err(|e| e.to_string());
        }
    }
    // The descriptor was moved or reused: look for our region among the others.
    if let Some(id) = box_id {
        if let Some(ns) = find_region_by_id(id) {
            return Ok(ns);
        }
    }
    match first {
        Ok(_) => {
            Err(format!("ipcbox: descriptor {fd} holds another box's region: restart the program with `ipcbox run`"))
        }
        Err(e) => Err(e.to_string()),
    }
}

fn find_region_by_id(box_id: u64) -> Option<Namespace> {
    // SAFETY: opening a directory with a NUL-terminated path.
    let dir = unsafe {
        sys::syscall6(
            libc::SYS_openat,
            [
                libc::AT_FDCWD as usize,
                c"/proc/self/fd".as_ptr() as usize,
                (libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) as usize,
                0,
                0,
                0,
            ],
        )
    };
    if dir < 0 {
        return None;
    }
    let dir = dir as i32;
    let mut buf = [0u8; 4096];
    let mut found = None;
    'outer: loop {
        // SAFETY: buf is writable for its length.
        let n = unsafe {
            sys::syscall6(libc::SYS_getdents64, [dir as usize, buf.as_mut_ptr() as usize, buf.len(), 0, 0, 0])
        };
        if n <= 0 {
            break;
        }
        let mut at = 0usize;
        while at < n as usize {
            let reclen = u16::from_ne_bytes([buf[at + 16], buf[at + 17]]) as usize;
            let name = &buf[at + 19..at + reclen];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if let Some(candidate) = std::str::from_utf8(name).ok().and_then(|s| s.parse::<i32>().ok()) {
                if candidate != dir {
                    if let Ok(ns) = Namespace::attach(candidate) {
                        if ns.region().box_id() == box_id {
                            found = Some(ns);
                            break 'outer;
                        }
                    }
                }
            }
            at += reclen;
        }
    }
    let _ = sys::close(dir);
    found
}

fn namespace() -> Option<&'static Namespace> {
    NAMESPACE.get()
}

// ---------------------------------------------------------------- shm
//
// Each call answered by the box is traced when tracing is on (see
// shared_state::trace); calls outside a box go to libc untraced.

/// A SysV call of an int result on the box (see shared_state::dispatch).
#[inline(always)]
fn boxed(ns: &Namespace, number: libc::c_long, args: [usize; 6]) -> Result<c_int, i32> {
    match dispatch::call(ns, number, args) {
        Some(result) => result.map(|value| value as c_int),
        None => unreachable!("a SysV call"),
    }
}

#[no_mangle]
pub extern "C" fn shmget(key: libc::key_t, size: libc::size_t, flags: c_int) -> c_int {
    match namespace() {
        Some(ns) => ret_int(boxed(ns, libc::SYS_shmget, [key as usize, size, flags as usize, 0, 0, 0])),
        None => match next!(c"shmget", as extern "C" fn(libc::key_t, libc::size_t, c_int) -> c_int) {
            Some(f) => f(key, size, flags),
            None => ret_int(Err(libc::ENOSYS)),
        },
    }
}

#[no_mangle]
pub extern "C" fn shmat(id: c_int, addr: *const c_void, flags: c_int) -> *mut c_void {
    match namespace() {
        Some(ns) => match dispatch::call(ns, libc::SYS_shmat, [id as usize, addr as usize, flags as usize, 0, 0, 0]) {
            Some(Ok(at)) => at as *mut c_void,
            Some(Err(e)) => {
                set_errno(e);
                usize::MAX as *mut c_void
            }
            None => unreachable!("shmat is a SysV call"),
        },
        None => match next!(c"shmat", as extern "C" fn(c_int, *const c_void, c_int) -> *mut c_void) {
            Some(f) => f(id, addr, flags),
            None => {
                set_errno(libc::ENOSYS);
                usize::MAX as *mut c_void
            }
        },
    }
}

#[no_mangle]
pub extern "C" fn shmdt(addr: *const c_void) -> c_int {
    match namespace() {
        Some(ns) => ret_int(boxed(ns, libc::SYS_shmdt, [addr as usize, 0, 0, 0, 0, 0])),
        None => match next!(c"shmdt", as extern "C" fn(*const c_void) -> c_int) {
            Some(f) => f(addr),
            None => ret_int(Err(libc::ENOSYS)),
        },
    }
}

#[no_mangle]
pub extern "C" fn shmctl(id: c_int, cmd: c_int, buf: *mut c_void) -> c_int {
    match namespace() {
        Some(ns) => ret_int(boxed(ns, libc::SYS_shmctl, [id as usize, cmd as usize, buf as usize, 0, 0, 0])),
        None => match next!(c"shmctl", as extern "C" fn(c_int, c_int, *mut c_void) -> c_int) {
            Some(f) => f(id, cmd, buf),
            None => ret_int(Err(libc::ENOSYS)),
        },
    }
}

// ---------------------------------------------------------------- sem

#[no_mangle]
pub extern "C" fn semget(key: libc::key_t, nsems: c_int, flags: c_int) -> c_int {
    match namespace() {
        Some(ns) => ret_int(boxed(ns, libc::SYS_semget, [key as usize, nsems as usize, flags as usize, 0, 0, 0])),
        None => match next!(c"semget", as extern "C" fn(libc::key_t, c_int, c_int) -> c_int) {
            Some(f) => f(key, nsems, flags),
            None => ret_int(Err(libc::ENOSYS)),
        },
    }
}

#[no_mangle]
pub extern "C" fn semop(id: c_int, ops: *mut c_void, nsops: libc::size_t) -> c_int {
    match namespace() {
        Some(ns) => ret_int(boxed(ns, libc::SYS_semop, [id as usize, ops as usize, nsops, 0, 0, 0])),
        None => semtimedop(id, ops, nsops, std::ptr::null()),
    }
}

#[no_mangle]
pub extern "C" fn semtimedop(
    id: c_int,
    ops: *mut c_void,
    nsops: libc::size_t,
    timeout: *const libc::timespec,
) -> c_int {
    match namespace() {
        Some(ns) => {
            ret_int(boxed(ns, libc::SYS_semtimedop, [id as usize, ops as usize, nsops, timeout as usize, 0, 0]))
        }
        None => match next!(
            c"semtimedop",
            as extern "C" fn(c_int, *mut c_void, libc::size_t, *const libc::timespec) -> c_int
        ) {
            Some(f) => f(id, ops, nsops, timeout),
            None => ret_int(Err(libc::ENOSYS)),
        },
    }
}

/// `int semctl(int, int, int, ...)`: the optional fourth argument, a `union
/// semun`, travels in the fourth argument register on x86_64 and aarch64, so
/// it is received as a plain word; it is read only for the commands that
/// take it (glibc's rule).
#[no_mangle]
pub extern "C" fn semctl(id: c_int, num: c_int, cmd: c_int, arg: usize) -> c_int {
    match namespace() {
        Some(ns) => ret_int(boxed(ns, libc::SYS_semctl, [id as usize, num as usize, cmd as usize, arg, 0, 0])),
        None => match next!(c"semctl", as unsafe extern "C" fn(c_int, c_int, c_int, ...) -> c_int) {
            // SAFETY: libc's semctl, called with the argument it was given.
            Some(f) => unsafe { f(id, num, cmd, arg) },
            None => ret_int(Err(libc::ENOSYS)),
        },
    }
}

// ---------------------------------------------------------------- msg

#[no_mangle]
pub extern "C" fn msgget(key: libc::key_t, flags: c_int) -> c_int {
    match namespace() {
        Some(ns) => ret_int(boxed(ns, libc::SYS_msgget, [key as usize, flags as usize, 0, 0, 0, 0])),
        None => match next!(c"msgget", as extern "C" fn(libc::key_t, c_int) -> c_int) {
            Some(f) => f(key, flags),
            None => ret_int(Err(libc::ENOSYS)),
        },
    }
}

#[no_mangle]
pub extern "C" fn msgsnd(id: c_int, msgp: *const c_void, msgsz: libc::size_t, flags: c_int) -> c_int {
    match namespace() {
        Some(ns) => ret_int(boxed(ns, libc::SYS_msgsnd, [id as usize, msgp as usize, msgsz, flags as usize, 0, 0])),
        None => match next!(c"msgsnd", as extern "C" fn(c_int, *const c_void, libc::size_t, c_int) -> c_int) {
            Some(f) => f(id, msgp, msgsz, flags),
            None => ret_int(Err(libc::ENOSYS)),
        },
    }
}

#[no_mangle]
pub extern "C" fn msgrcv(
    id: c_int,
    msgp: *mut c_void,
    msgsz: libc::size_t,
    msgtyp: libc::c_long,
    flags: c_int,
) -> libc::ssize_t {
    match namespace() {
        Some(ns) => match dispatch::call(
            ns,
            libc::SYS_msgrcv,
            [id as usize, msgp as usize, msgsz, msgtyp as usize, flags as usize, 0],
        ) {
            Some(Ok(n)) => n as libc::ssize_t,
            Some(Err(e)) => {
                set_errno(e);
                -1
            }
            None => unreachable!("msgrcv is a SysV call"),
        },
        None => match next!(
            c"msgrcv",
            as extern "C" fn(c_int, *mut c_void, libc::size_t, libc::c_long, c_int) -> libc::ssize_t
        ) {
            Some(f) => f(id, msgp, msgsz, msgtyp, flags),
            None => {
                set_errno(libc::ENOSYS);
                -1
            }
        },
    }
}

#[no_mangle]
pub extern "C" fn msgctl(id: c_int, cmd: c_int, buf: *mut c_void) -> c_int {
    match namespace() {
        Some(ns) => ret_int(boxed(ns, libc::SYS_msgctl, [id as usize, cmd as usize, buf as usize, 0, 0, 0])),
        None => match next!(c"msgctl", as extern "C" fn(c_int, c_int, *mut c_void) -> c_int) {
            Some(f) => f(id, cmd, buf),
            None => ret_int(Err(libc::ENOSYS)),
        },
    }
}

// ---------------------------------------------------------------- syscall()

/// syscall(2): the SysV numbers are answered by the box through the
/// dispatch the wrappers above use (traced alike); every other number goes on to the
/// next definition (libc's, or another preloaded library's). Up to six
/// arguments travel in registers (x86_64, aarch64), so they are received as
/// words.
///
/// # Safety
/// C callers' contract for the system call they make.
#[no_mangle]
pub unsafe extern "C" fn syscall(
    number: libc::c_long,
    a0: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
) -> libc::c_long {
    if let Some(result) = boxed_syscall(number, [a0, a1, a2, a3, a4, a5]) {
        return result;
    }
    match next!(c"syscall", as unsafe extern "C" fn(libc::c_long, ...) -> libc::c_long) {
        // SAFETY: libc's syscall, called with the arguments it was given.
        Some(f) => unsafe { f(number, a0, a1, a2, a3, a4, a5) },
        None => {
            set_errno(libc::ENOSYS);
            -1
        }
    }
}

/// Where libc's own syscall() jumps in a box (see `divert`): the SysV
/// numbers as `syscall`, every other number made here as libc makes it.
/// Not passed on to the next definition: that may be another preloaded
/// library's syscall(), which calls libc's, which leads here.
///
/// # Safety
/// C callers' contract for the system call they make.
unsafe extern "C" fn libc_syscall(
    number: libc::c_long,
    a0: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
) -> libc::c_long {
    if let Some(result) = boxed_syscall(number, [a0, a1, a2, a3, a4, a5]) {
        return result;
    }
    // SAFETY: the caller's system call, with the arguments it gave.
    let rc = unsafe { sys::syscall6(number, [a0, a1, a2, a3, a4, a5]) };
    match rc {
        -4095..=-1 => {
            set_errno(-rc as i32);
            -1
        }
        _ => rc as libc::c_long,
    }
}

/// A SysV system call by number, answered by the box (C's convention:
/// -1 and errno on failure); None if the number is another or the process
/// is not in a box.
fn boxed_syscall(number: libc::c_long, args: [usize; 6]) -> Option<libc::c_long> {
    let ns = namespace()?;
    let result = match number {
        libc::SYS_remap_file_pages => ns.remap_file_pages(args[0], args[1], args[2], args[3], args[4])?.map(|()| 0),
        libc::SYS_mremap => ns.mremap(args[0], args[1], args[2], args[3] as c_int, args[4]),
        _ => dispatch::call(ns, number, args)?,
    };
    Some(match result {
        Ok(value) => value as libc::c_long,
        Err(e) => {
            set_errno(e);
            -1
        }
    })
}

/// libc's functions that jump to the shim's of the same name once the
/// process is in a box (see `divert`), but syscall(), which jumps to
/// `libc_syscall`.
fn diversions() -> [divert::Diversion; 14] {
    use divert::Diversion as D;
    [
        D { name: c"shmget", target: shmget as *const () as usize },
        D { name: c"shmat", target: shmat as *const () as usize },
        D { name: c"shmdt", target: shmdt as *const () as usize },
        D { name: c"shmctl", target: shmctl as *const () as usize },
        D { name: c"semget", target: semget as *const () as usize },
        D { name: c"semop", target: semop as *const () as usize },
        D { name: c"semtimedop", target: semtimedop as *const () as usize },
        D { name: c"semctl", target: semctl as *const () as usize },
        D { name: c"msgget", target: msgget as *const () as usize },
        D { name: c"msgsnd", target: msgsnd as *const () as usize },
        D { name: c"msgrcv", target: msgrcv as *const () as usize },
        D { name: c"msgctl", target: msgctl as *const () as usize },
        D { name: c"syscall", target: libc_syscall as *const () as usize },
        D { name: c"remap_file_pages", target: remap_file_pages as *const () as usize },
    ]
}

// ---------------------------------------------------------------- dlmopen

/// dlmopen(3): an object loaded into a link map other than the program's
/// gets a libc of its own, which the box does not reach (see `divert`)
/// unless its system calls trap (see `trap`): said once on stderr, then
/// the call goes on to libc's dlmopen. A jump,
/// not a call, so that glibc still sees the program's return address (the
/// caller decides the library search path).
///
/// # Safety
/// C callers' contract for dlmopen.
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
#[no_mangle]
pub unsafe extern "C" fn dlmopen(lmid: libc::Lmid_t, file: *const c_char, mode: c_int) -> *mut c_void {
    core::arch::naked_asm!(
        "push rdi",
        "push rsi",
        "push rdx",
        "call {notice}",
        "pop rdx",
        "pop rsi",
        "pop rdi",
        "test rax, rax",
        "jz 2f",
        "jmp rax",
        "2:",
        "xor eax, eax",
        "ret",
        notice = sym dlmopen_notice,
    )
}

/// The notice of `dlmopen`; returns libc's dlmopen (0 if there is none).
#[cfg(target_arch = "x86_64")]
extern "C" fn dlmopen_notice(lmid: libc::Lmid_t, file: *const c_char, _mode: c_int) -> usize {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    // Under --strict its raw system calls trap, and the box answers them.
    if namespace().is_some() && !trap::armed() && lmid != libc::LM_ID_BASE && !SAID.swap(true, Ordering::Relaxed) {
        let name = if file.is_null() {
            "the program".into()
        } else {
            // SAFETY: dlmopen's file argument is a NUL-terminated string.
            unsafe { CStr::from_ptr(file) }.to_string_lossy()
        };
        let line = format!(
            "ipcbox: dlmopen loads {name} into a new link map, whose System V IPC calls reach the host's kernel, not the box (under ipcbox run --strict the box answers them)\n"
        );
        // SAFETY: writing our own buffer to stderr.
        unsafe { sys::syscall6(libc::SYS_write, [2, line.as_ptr() as usize, line.len(), 0, 0, 0]) };
    }
    static CACHE: AtomicUsize = AtomicUsize::new(0);
    next_symbol(&CACHE, c"dlmopen")
}

// ---------------------------------------------------------------- fork

#[no_mangle]
pub extern "C" fn fork() -> libc::pid_t {
    let Some(real) = next!(c"fork", as extern "C" fn() -> libc::pid_t) else {
        set_errno(libc::ENOSYS);
        return -1;
    };
    match namespace() {
        Some(ns) => ns.fork_with(|| real()),
        None => real(),
    }
}

// ---------------------------------------------------------------- wait
//
// A parent that has seen its child end (through any of libc's wait calls)
// must find the child's SEM_UNDO applied and its attachments dropped, as
// Linux does them before the parent can see the exit. The box notices the
// death here, and the parent's next call reaps it (see shared_state::procs).

fn ended(status: c_int) -> bool {
    libc::WIFEXITED(status) || libc::WIFSIGNALED(status)
}

fn note_if_ended(pid: libc::pid_t, status: Option<c_int>) {
    if pid > 0 && status.is_none_or(ended) {
        if let Some(ns) = namespace() {
            ns.note_child_ended();
        }
    }
}

#[no_mangle]
pub extern "C" fn waitpid(pid: libc::pid_t, status: *mut c_int, options: c_int) -> libc::pid_t {
    let mut own = 0;
    let out = if status.is_null() { &mut own as *mut c_int } else { status };
    let Some(real) = next!(c"waitpid", as extern "C" fn(libc::pid_t, *mut c_int, c_int) -> libc::pid_t) else {
        set_errno(libc::ENOSYS);
        return -1;
    };
    let done = real(pid, out, options);
    // SAFETY: out is writable (the caller's, or ours), and was written if done > 0.
    note_if_ended(done, (done > 0).then(|| unsafe { *out }));
    done
}

#[no_mangle]
pub extern "C" fn wait(status: *mut c_int) -> libc::pid_t {
    waitpid(-1, status, 0)
}

#[no_mangle]
pub extern "C" fn wait4(pid: libc::pid_t, status: *mut c_int, options: c_int, usage: *mut libc::rusage) -> libc::pid_t {
    let mut own = 0;
    let out = if status.is_null() { &mut own as *mut c_int } else { status };
    let Some(real) =
        next!(c"wait4", as extern "C" fn(libc::pid_t, *mut c_int, c_int, *mut libc::rusage) -> libc::pid_t)
    else {
        set_errno(libc::ENOSYS);
        return -1;
    };
    let done = real(pid, out, options, usage);
    // SAFETY: as in waitpid.
    note_if_ended(done, (done > 0).then(|| unsafe { *out }));
    done
}

#[no_mangle]
pub extern "C" fn wait3(status: *mut c_int, options: c_int, usage: *mut libc::rusage) -> libc::pid_t {
    wait4(-1, status, options, usage)
}

/// # Safety
/// `info` is null or points to a writable siginfo_t, as for libc's waitid.
#[no_mangle]
pub unsafe extern "C" fn waitid(
    idtype: libc::idtype_t,
    id: libc::id_t,
    info: *mut libc::siginfo_t,
    options: c_int,
) -> c_int {
    let Some(real) =
        next!(c"waitid", as extern "C" fn(libc::idtype_t, libc::id_t, *mut libc::siginfo_t, c_int) -> c_int)
    else {
        set_errno(libc::ENOSYS);
        return -1;
    };
    let done = real(idtype, id, info, options);
    if done == 0 {
        // SAFETY: waitid succeeded: `info` is null or the caller's
        // siginfo_t (see the contract), which it filled.
        if let Some(info) = unsafe { info.as_ref() } {
            // SAFETY: si_pid is the member waitid fills.
            let pid = unsafe { info.si_pid() };
            if matches!(info.si_code, libc::CLD_EXITED | libc::CLD_KILLED | libc::CLD_DUMPED) {
                note_if_ended(pid, None);
            }
        }
    }
    done
}

// ---------------------------------------------------------------- exit
//
// exit() reaches the box through the atexit handler registered at load;
// a direct _exit() or _Exit() through these.

#[no_mangle]
pub extern "C" fn _exit(status: c_int) -> ! {
    leave_at_exit();
    // SAFETY: the exit_group system call does not return.
    unsafe { sys::syscall6(libc::SYS_exit_group, [status as usize, 0, 0, 0, 0, 0]) };
    unreachable!("exit_group returned")
}

#[no_mangle]
pub extern "C" fn _Exit(status: c_int) -> ! {
    _exit(status)
}

// ---------------------------------------------------------------- descriptor protection
//
// Daemons close every descriptor they did not open (a close() loop,
// closefrom, close_range) and may dup2 over any number. The region, and the
// trace file if calls are traced, must stay reachable for what they exec
// later, so their descriptors are skipped by the first three and moved out
// of the way of the last.

/// The box's own descriptors in this process: the region's and the trace's.
fn protected_fds() -> [Option<c_int>; 2] {
    [namespace().map(|ns| ns.fd()), namespace().and(trace::fd())]
}

#[no_mangle]
pub extern "C" fn close(fd: c_int) -> c_int {
    if protected_fds().contains(&Some(fd)) {
        return 0;
    }
    procfs::forget(fd);
    match next!(c"close", as extern "C" fn(c_int) -> c_int) {
        Some(f) => f(fd),
        None => ret_int(sys::close(fd).map(|()| 0)),
    }
}

fn raw_close_range(first: c_uint, last: c_uint, flags: c_int) -> Result<(), i32> {
    // SAFETY: plain integers.
    let r = unsafe { sys::syscall6(libc::SYS_close_range, [first as usize, last as usize, flags as usize, 0, 0, 0]) };
    if r < 0 {
        Err(-r as i32)
    } else {
        Ok(())
    }
}

/// close_range over [first, last] except the box's own descriptors.
fn close_range_sparing(first: c_uint, last: c_uint, flags: c_int) -> Result<(), i32> {
    if first > last {
        return Err(libc::EINVAL);
    }
    // No allocation: a child of a multithreaded program may call this.
    let mut spared = protected_fds().map(|fd| fd.filter(|&fd| fd >= 0 && (first..=last).contains(&(fd as c_uint))));
    spared.sort_unstable();
    let mut from = first;
    for fd in spared.into_iter().flatten().map(|fd| fd as c_uint) {
        if fd > from {
            raw_close_range(from, fd - 1, flags)?;
        }
        from = from.max(fd + 1);
    }
    if from <= last {
        raw_close_range(from, last, flags)?;
    }
    Ok(())
}

#[no_mangle]
pub extern "C" fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    ret_int(close_range_sparing(first, last, flags).map(|()| 0))
}

#[no_mangle]
pub extern "C" fn closefrom(lowfd: c_int) {
    let _ = close_range_sparing(lowfd.max(0) as c_uint, c_uint::MAX, 0);
}

/// Moves the box's descriptor away when a program is about to reuse its
/// number. Err(EMFILE) where no number is free to move it to: the program's
/// call must then fail, or its file would be taken for the box's (mapped as
/// the region, or as a segment).
fn vacate(newfd: c_int) -> Result<(), i32> {
    if let Some(ns) = namespace() {
        if ns.fd() == newfd {
            ns.set_fd(sys::dup_high(newfd, FD_FLOOR)?);
        }
        if trace::fd() == Some(newfd) {
            if let Ok(moved) = sys::dup_high(newfd, FD_FLOOR) {
                trace::set_fd(moved);
            }
        }
    }
    Ok(())
}

#[no_mangle]
pub extern "C" fn dup2(oldfd: c_int, newfd: c_int) -> c_int {
    if oldfd != newfd {
        if let Err(e) = vacate(newfd) {
            return ret_int(Err(e));
        }
    }
    let result = match next!(c"dup2", as extern "C" fn(c_int, c_int) -> c_int) {
        Some(f) => f(oldfd, newfd),
        None => ret_int(Err(libc::ENOSYS)),
    };
    if result >= 0 && oldfd != newfd {
        procfs::duplicated(oldfd, newfd);
    }
    result
}

#[no_mangle]
pub extern "C" fn dup3(oldfd: c_int, newfd: c_int, flags: c_int) -> c_int {
    if oldfd != newfd {
        if let Err(e) = vacate(newfd) {
            return ret_int(Err(e));
        }
    }
    let result = match next!(c"dup3", as extern "C" fn(c_int, c_int, c_int) -> c_int) {
        Some(f) => f(oldfd, newfd, flags),
        None => ret_int(Err(libc::ENOSYS)),
    };
    if result >= 0 {
        procfs::duplicated(oldfd, newfd);
    }
    result
}

// ---------------------------------------------------------------- credentials
//
// The box caches the process's credentials (see shared_state::cred); every
// libc function that changes them drops the cache after doing its work.

macro_rules! credential_change {
    ($($name:ident($($arg:ident: $ty:ty),*);)*) => {$(
        #[no_mangle]
        pub extern "C" fn $name($($arg: $ty),*) -> c_int {
            let name = concat!(stringify!($name), "\0");
            // SAFETY: the literal above ends with its NUL.
            let cname = unsafe { CStr::from_bytes_with_nul_unchecked(name.as_bytes()) };
            let result = match next!(cname, as extern "C" fn($($ty),*) -> c_int) {
                Some(f) => f($($arg),*),
                None => ret_int(Err(libc::ENOSYS)),
            };
            shared_state::cred::invalidate();
            result
        }
    )*};
}

credential_change! {
    setuid(uid: libc::uid_t);
    seteuid(uid: libc::uid_t);
    setreuid(ruid: libc::uid_t, euid: libc::uid_t);
    setresuid(ruid: libc::uid_t, euid: libc::uid_t, suid: libc::uid_t);
    setgid(gid: libc::gid_t);
    setegid(gid: libc::gid_t);
    setregid(rgid: libc::gid_t, egid: libc::gid_t);
    setresgid(rgid: libc::gid_t, egid: libc::gid_t, sgid: libc::gid_t);
    setgroups(size: libc::size_t, list: *const libc::gid_t);
    initgroups(user: *const c_char, group: libc::gid_t);
    capset(header: *mut c_void, data: *const c_void);
}

// ---------------------------------------------------------------- signals
//
// The box copies to and from callers' pointers under its own SIGSEGV/SIGBUS
// handler (shared_state::usercopy), installed only over the default
// disposition. A program that handles or blocks those signals itself is
// noticed here, and the box then lets the kernel check its pointers instead.
// A program that asks for the disposition sees the default it had.

fn is_fault_signal(sig: c_int) -> bool {
    sig == libc::SIGSEGV || sig == libc::SIGBUS
}

/// Whether a mask change may block SIGSEGV or SIGBUS.
///
/// # Safety
/// `set` is null or points at a sigset_t.
unsafe fn blocks_fault_signal(how: c_int, set: *const libc::sigset_t) -> bool {
    // SAFETY: set is valid when not null (caller's contract).
    how != libc::SIG_UNBLOCK
        && !set.is_null()
        && unsafe { libc::sigismember(set, libc::SIGSEGV) == 1 || libc::sigismember(set, libc::SIGBUS) == 1 }
}

/// sigaction(2).
///
/// # Safety
/// C callers' contract: `act` and `oldact` are null or valid.
#[no_mangle]
pub unsafe extern "C" fn sigaction(sig: c_int, act: *const libc::sigaction, oldact: *mut libc::sigaction) -> c_int {
    if sig == libc::SIGSYS && trap::armed() {
        // SAFETY: act and oldact are null or valid (caller's contract).
        return unsafe { program_sigsys_action(act, oldact) };
    }
    if is_fault_signal(sig) && !act.is_null() {
        shared_state::usercopy::give_up();
    }
    let Some(real) =
        next!(c"sigaction", as unsafe extern "C" fn(c_int, *const libc::sigaction, *mut libc::sigaction) -> c_int)
    else {
        return ret_int(Err(libc::ENOSYS));
    };
    // SAFETY: libc's sigaction with the caller's arguments.
    let result = unsafe { real(sig, act, oldact) };
    if result == 0 && !act.is_null() && namespace().is_some() {
        // Its handler returns through a restorer that counts it (EINTR for
        // a SysV wait it interrupts, see shared_state::interrupt).
        shared_state::interrupt::adopt(sig);
    }
    if result == 0 && !oldact.is_null() {
        // SAFETY: libc filled *oldact.
        let old = unsafe { &mut *oldact };
        if shared_state::usercopy::is_our_handler(old.sa_sigaction) {
            // SAFETY: an all-zero sigaction is SIG_DFL with no flags and an empty mask.
            *old = unsafe { core::mem::zeroed() };
        }
    }
    result
}

/// sigaction on SIGSYS where the shim answers trapped calls: the program's
/// action is recorded and reported, the kernel keeps the shim's (see `trap`).
///
/// # Safety
/// `act` and `oldact` are null or valid.
unsafe fn program_sigsys_action(act: *const libc::sigaction, oldact: *mut libc::sigaction) -> c_int {
    let new = (!act.is_null()).then(|| {
        // SAFETY: act is valid when not null.
        let act = unsafe { &*act };
        // SAFETY: a sigset_t holds at least 8 bytes; signals 1 to 64 are its first word.
        let mask = unsafe { *(&act.sa_mask as *const libc::sigset_t as *const u64) };
        trap::ProgramAction { handler: act.sa_sigaction, flags: act.sa_flags as u32 as u64, mask }
    });
    let old = trap::swap_program_action(new);
    if !oldact.is_null() {
        // SAFETY: oldact is valid; an all-zero sigaction is SIG_DFL with an empty mask.
        let out = unsafe { &mut *oldact };
        *out = unsafe { core::mem::zeroed() };
        out.sa_sigaction = old.handler;
        out.sa_flags = (old.flags & !0x0400_0000) as c_int;
        // SAFETY: as above, the mask's first word.
        unsafe { *(&mut out.sa_mask as *mut libc::sigset_t as *mut u64) = old.mask };
    }
    0
}

macro_rules! handler_change {
    ($($name:ident;)*) => {$(
        #[no_mangle]
        pub extern "C" fn $name(sig: c_int, handler: libc::sighandler_t) -> libc::sighandler_t {
            if sig == libc::SIGSYS && trap::armed() {
                let flags = if stringify!($name) == "sysv_signal" {
                    (libc::SA_RESETHAND | libc::SA_NODEFER) as u64
                } else {
                    libc::SA_RESTART as u64
                };
                return trap::swap_program_action(Some(trap::ProgramAction { handler, flags, mask: 0 })).handler;
            }
            if is_fault_signal(sig) {
                shared_state::usercopy::give_up();
            }
            let name = concat!(stringify!($name), "\0");
            // SAFETY: the literal above ends with its NUL.
            let cname = unsafe { CStr::from_bytes_with_nul_unchecked(name.as_bytes()) };
            match next!(cname, as extern "C" fn(c_int, libc::sighandler_t) -> libc::sighandler_t) {
                Some(f) => {
                    let old = f(sig, handler);
                    if old != libc::SIG_ERR && namespace().is_some() {
                        shared_state::interrupt::adopt(sig);
                    }
                    if shared_state::usercopy::is_our_handler(old) { libc::SIG_DFL } else { old }
                }
                None => {
                    set_errno(libc::ENOSYS);
                    libc::SIG_ERR
                }
            }
        }
    )*};
}

handler_change! {
    signal;
    sigset;
    bsd_signal;
    sysv_signal;
}

macro_rules! mask_change {
    ($($name:ident;)*) => {$(
        /// # Safety
        /// C callers' contract: `set` and `old` are null or valid.
        #[no_mangle]
        pub unsafe extern "C" fn $name(how: c_int, set: *const libc::sigset_t, old: *mut libc::sigset_t) -> c_int {
            // SAFETY: set is null or the caller's sigset_t.
            if unsafe { blocks_fault_signal(how, set) } {
                shared_state::usercopy::give_up();
            }
            let name = concat!(stringify!($name), "\0");
            // SAFETY: the literal above ends with its NUL.
            let cname = unsafe { CStr::from_bytes_with_nul_unchecked(name.as_bytes()) };
            // A trap while SIGSYS is blocked would end the process (see `trap`).
            let without_sigsys = (trap::armed() && how != libc::SIG_UNBLOCK && !set.is_null()).then(|| {
                // SAFETY: set is the caller's valid sigset_t; ours is a copy.
                let mut copy = unsafe { *set };
                // SAFETY: copy is a valid sigset_t.
                unsafe { libc::sigdelset(&mut copy, libc::SIGSYS) };
                copy
            });
            let set = without_sigsys.as_ref().map_or(set, |copy| copy as *const libc::sigset_t);
            match next!(cname, as unsafe extern "C" fn(c_int, *const libc::sigset_t, *mut libc::sigset_t) -> c_int) {
                // SAFETY: libc's function with the caller's arguments.
                Some(f) => unsafe { f(how, set, old) },
                None => ret_int(Err(libc::ENOSYS)),
            }
        }
    )*};
}

mask_change! {
    sigprocmask;
    pthread_sigmask;
}

// ---------------------------------------------------------------- mappings
//
// An attachment unmapped by munmap, or replaced by a fixed mmap, is detached
// for Linux; the box counts it so too.

#[no_mangle]
pub extern "C" fn munmap(addr: *mut c_void, len: libc::size_t) -> c_int {
    let Some(real) = next!(c"munmap", as extern "C" fn(*mut c_void, libc::size_t) -> c_int) else {
        return ret_int(Err(libc::ENOSYS));
    };
    match namespace() {
        Some(ns) => ns.around_unmap(addr as usize, len, || {
            let r = real(addr, len);
            (r, r == 0)
        }),
        None => real(addr, len),
    }
}

/// remap_file_pages(2): pages of an attachment are given pages of its own
/// segment (see `shared_state::shm` remap); any other mapping is the
/// kernel's. Diverted from libc's (see `divert`), so in a box the kernel is
/// called directly.
#[no_mangle]
pub extern "C" fn remap_file_pages(
    addr: *mut c_void,
    size: libc::size_t,
    prot: c_int,
    page_offset: libc::size_t,
    flags: c_int,
) -> c_int {
    let (start, prot, flags) = (addr as usize, prot as usize, flags as usize);
    match namespace() {
        Some(ns) => ret_int(match ns.remap_file_pages(start, size, prot, page_offset, flags) {
            Some(result) => result.map(|()| 0),
            // SAFETY: the program's call, as it made it.
            None => unsafe { sys::remap_file_pages(start, size, prot, page_offset, flags) }.map(|()| 0),
        }),
        None => match next!(
            c"remap_file_pages",
            as extern "C" fn(*mut c_void, libc::size_t, c_int, libc::size_t, c_int) -> c_int
        ) {
            Some(f) => f(addr, size, prot as c_int, page_offset, flags as c_int),
            None => ret_int(Err(libc::ENOSYS)),
        },
    }
}

/// mremap(2): an attachment moved, copied or grown stays within its
/// segment and is counted as Linux counts it (see `shared_state::shm`
/// remap). Not diverted: glibc's realloc calls libc's own mremap, which
/// never concerns an attachment. `new_address` is read only with
/// MREMAP_FIXED, as the kernel does (the C function is variadic; its
/// fifth argument arrives in the same register as a fixed one).
#[no_mangle]
pub extern "C" fn mremap(
    old: *mut c_void,
    old_size: libc::size_t,
    new_size: libc::size_t,
    flags: c_int,
    new_address: *mut c_void,
) -> *mut c_void {
    let new_address = if flags & libc::MREMAP_FIXED != 0 { new_address as usize } else { 0 };
    let result = match namespace() {
        Some(ns) => ns.mremap(old as usize, old_size, new_size, flags, new_address),
        // SAFETY: the program's call, as it made it.
        None => unsafe { sys::mremap(old as usize, old_size, new_size, flags, new_address) },
    };
    match result {
        Ok(at) => at as *mut c_void,
        Err(e) => {
            set_errno(e);
            libc::MAP_FAILED
        }
    }
}

type MmapFn = extern "C" fn(*mut c_void, libc::size_t, c_int, c_int, c_int, libc::off_t) -> *mut c_void;

fn mmap_with(
    real: Option<MmapFn>,
    addr: *mut c_void,
    len: libc::size_t,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: libc::off_t,
) -> *mut c_void {
    let Some(real) = real else {
        set_errno(libc::ENOSYS);
        return libc::MAP_FAILED;
    };
    match namespace() {
        Some(ns) if flags & libc::MAP_FIXED != 0 => ns.around_unmap(addr as usize, len, || {
            let r = real(addr, len, prot, flags, fd, off);
            (r, r != libc::MAP_FAILED)
        }),
        _ => real(addr, len, prot, flags, fd, off),
    }
}

#[no_mangle]
pub extern "C" fn mmap(
    addr: *mut c_void,
    len: libc::size_t,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: libc::off_t,
) -> *mut c_void {
    mmap_with(next!(c"mmap", as MmapFn), addr, len, prot, flags, fd, off)
}

#[no_mangle]
pub extern "C" fn mmap64(
    addr: *mut c_void,
    len: libc::size_t,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: libc::off_t,
) -> *mut c_void {
    mmap_with(next!(c"mmap64", as MmapFn), addr, len, prot, flags, fd, off)
}
