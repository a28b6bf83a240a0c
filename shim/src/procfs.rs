//! The box's /proc/sysvipc files and IPC sysctls (see `shared_state::procfs`):
//! opening one of those paths inside a box gives a memory file holding the
//! box's text instead; a `write` to an open sysctl file sets the box's limit.
//!
//! Owns: the wrappers of libc's `open` family, `fopen`, `write` and
//! `fclose`, and the process-private list of descriptors open on sysctl
//! files for writing (followed through `dup2`, `dup3` and `close`, and
//! checked by inode at each write, so a number reused behind our back is
//! not mistaken for one). Writes through stdio (`fprintf` on a `fopen`ed
//! sysctl) go through glibc's internal `write`, past ours, into the memory
//! file: `fclose` applies what they wrote, and fails as the kernel's flush
//! would if the value is refused.

use crate::{namespace, next_symbol, ret_int, set_errno};
use shared_state::procfs::{ProcFile, Sysctl};
use shared_state::sys;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Descriptors open for writing on one of the files: (descriptor, the
/// sysctl or None for a /proc/sysvipc file, inode).
static SYSCTL_WRITERS: Mutex<Vec<(c_int, Option<Sysctl>, u64)>> = Mutex::new(Vec::new());
/// `SYSCTL_WRITERS.len()`, read without the lock by every `write`.
static SYSCTL_WRITER_COUNT: AtomicUsize = AtomicUsize::new(0);

fn writers() -> std::sync::MutexGuard<'static, Vec<(c_int, Option<Sysctl>, u64)>> {
    SYSCTL_WRITERS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn update_writers(change: impl FnOnce(&mut Vec<(c_int, Option<Sysctl>, u64)>)) {
    let mut list = writers();
    change(&mut list);
    SYSCTL_WRITER_COUNT.store(list.len(), Ordering::Relaxed);
}

/// If `path` names a file the box answers for (and the process is in a
/// box), opens a memory file with the box's text: Some(descriptor or errno).
///
/// # Safety
/// `path` is null or a NUL-terminated string.
unsafe fn open_virtual(path: *const c_char, flags: c_int) -> Option<Result<c_int, i32>> {
    let ns = namespace()?;
    if path.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated string (caller's contract).
    let path = unsafe { CStr::from_ptr(path) }.to_bytes();
    if !path.starts_with(b"/proc/sys") {
        return None;
    }
    let file = ProcFile::of_path(path)?;
    let writing = flags & libc::O_ACCMODE != libc::O_RDONLY;
    if writing && !file.may_open_for_writing(sys::geteuid(), sys::effective_caps()) {
        return Some(Err(libc::EACCES));
    }
    let memfd_flags = if flags & libc::O_CLOEXEC != 0 { libc::MFD_CLOEXEC } else { 0 };
    let fd = match sys::memfd_create(c"ipcbox-proc", memfd_flags) {
        Ok(fd) => fd,
        Err(e) => return Some(Err(e)),
    };
    if flags & libc::O_TRUNC == 0 {
        if let Err(e) = sys::pwrite(fd, ns.proc_file_text(file).as_bytes(), 0) {
            let _ = sys::close(fd);
            return Some(Err(e));
        }
    }
    if writing {
        let sysctl = match file {
            ProcFile::Sysctl(sysctl) => Some(sysctl),
            _ => None,
        };
        let inode = sys::fstat(fd).map_or(0, |st| st.st_ino);
        update_writers(|list| {
            list.retain(|&(open, _, _)| open != fd);
            list.push((fd, sysctl, inode));
        });
    }
    Some(Ok(fd))
}

/// Whether `fd`, just opened by libc on `path`, is the box's region file:
/// `/proc/self/map_files/` of an attachment (which Linux answers with the
/// segment's own file) or `/proc/PID/fd/N` of the library's descriptor.
/// Only paths under /proc and /dev/fd are looked at.
///
/// # Safety
/// `path` is null or a NUL-terminated string.
unsafe fn names_region(path: *const c_char, fd: c_int) -> bool {
    let Some(ns) = namespace().filter(|_| fd >= 0 && !path.is_null()) else {
        return false;
    };
    // SAFETY: a NUL-terminated string (caller's contract).
    let bytes = unsafe { CStr::from_ptr(path) }.to_bytes();
    if !bytes.starts_with(b"/proc/") && !bytes.starts_with(b"/dev/fd/") {
        return false;
    }
    match (sys::fstat(fd), sys::fstat(ns.fd())) {
        (Ok(opened), Ok(region)) => (opened.st_dev, opened.st_ino) == (region.st_dev, region.st_ino),
        _ => false,
    }
}

/// Such a descriptor would reach every object of the box: the open fails
/// with EACCES (the caller closes it), said once on stderr.
///
/// # Safety
/// `path` is a NUL-terminated string.
unsafe fn refuse_region(path: *const c_char) {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !SAID.swap(true, Ordering::Relaxed) {
        // SAFETY: a NUL-terminated string (caller's contract).
        let path = unsafe { CStr::from_ptr(path) }.to_string_lossy();
        let line = format!(
            "ipcbox: refused to open {path}: in a box it is the file that holds every object of the box, not one segment's (map a segment with shmat)\n"
        );
        // SAFETY: writing our own buffer to stderr.
        unsafe { sys::syscall6(libc::SYS_write, [2, line.as_ptr() as usize, line.len(), 0, 0, 0]) };
    }
    set_errno(libc::EACCES);
}

/// `fd` as libc's open returned it, unless it names the region (see
/// `names_region`): then -1 and EACCES.
///
/// # Safety
/// `path` is null or a NUL-terminated string.
unsafe fn unless_region(path: *const c_char, fd: c_int) -> c_int {
    // SAFETY: forwarded from our caller.
    if unsafe { names_region(path, fd) } {
        let _ = sys::close(fd);
        // SAFETY: non-null, as names_region said yes.
        unsafe { refuse_region(path) };
        return -1;
    }
    fd
}

macro_rules! open_wrapper {
    ($name:ident) => {
        /// open(2) with the box's /proc files.
        ///
        /// # Safety
        /// C callers' contract. The optional mode travels in the third
        /// argument register (x86_64, aarch64), so it is received as a word.
        #[no_mangle]
        pub unsafe extern "C" fn $name(path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
            // SAFETY: forwarded from our caller.
            if let Some(result) = unsafe { open_virtual(path, flags) } {
                return ret_int(result);
            }
            let name = concat!(stringify!($name), "\0");
            // SAFETY: the literal above ends with its NUL.
            let cname = unsafe { CStr::from_bytes_with_nul_unchecked(name.as_bytes()) };
            match next!(cname, as unsafe extern "C" fn(*const c_char, c_int, ...) -> c_int) {
                // SAFETY: libc's function, called with the arguments it was given.
                Some(f) => unsafe { unless_region(path, f(path, flags, mode)) },
                None => ret_int(Err(libc::ENOSYS)),
            }
        }
    };
}

macro_rules! openat_wrapper {
    ($name:ident) => {
        /// openat(2) with the box's /proc files (absolute paths).
        ///
        /// # Safety
        /// As the open wrappers.
        #[no_mangle]
        pub unsafe extern "C" fn $name(dirfd: c_int, path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
            // SAFETY: forwarded from our caller.
            if let Some(result) = unsafe { open_virtual(path, flags) } {
                return ret_int(result);
            }
            let name = concat!(stringify!($name), "\0");
            // SAFETY: the literal above ends with its NUL.
            let cname = unsafe { CStr::from_bytes_with_nul_unchecked(name.as_bytes()) };
            match next!(cname, as unsafe extern "C" fn(c_int, *const c_char, c_int, ...) -> c_int) {
                // SAFETY: libc's function, called with the arguments it was given.
                Some(f) => unsafe { unless_region(path, f(dirfd, path, flags, mode)) },
                None => ret_int(Err(libc::ENOSYS)),
            }
        }
    };
}

/// The fortified forms (`_FORTIFY_SOURCE`), which take no mode.
macro_rules! open_2_wrapper {
    ($name:ident) => {
        /// # Safety
        /// As the open wrappers.
        #[no_mangle]
        pub unsafe extern "C" fn $name(path: *const c_char, flags: c_int) -> c_int {
            // SAFETY: forwarded from our caller.
            if let Some(result) = unsafe { open_virtual(path, flags) } {
                return ret_int(result);
            }
            let name = concat!(stringify!($name), "\0");
            // SAFETY: the literal above ends with its NUL.
            let cname = unsafe { CStr::from_bytes_with_nul_unchecked(name.as_bytes()) };
            match next!(cname, as unsafe extern "C" fn(*const c_char, c_int) -> c_int) {
                // SAFETY: libc's function, called with the arguments it was given.
                Some(f) => unsafe { unless_region(path, f(path, flags)) },
                None => ret_int(Err(libc::ENOSYS)),
            }
        }
    };
}

macro_rules! openat_2_wrapper {
    ($name:ident) => {
        /// # Safety
        /// As the open wrappers.
        #[no_mangle]
        pub unsafe extern "C" fn $name(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
            // SAFETY: forwarded from our caller.
            if let Some(result) = unsafe { open_virtual(path, flags) } {
                return ret_int(result);
            }
            let name = concat!(stringify!($name), "\0");
            // SAFETY: the literal above ends with its NUL.
            let cname = unsafe { CStr::from_bytes_with_nul_unchecked(name.as_bytes()) };
            match next!(cname, as unsafe extern "C" fn(c_int, *const c_char, c_int) -> c_int) {
                // SAFETY: libc's function, called with the arguments it was given.
                Some(f) => unsafe { unless_region(path, f(dirfd, path, flags)) },
                None => ret_int(Err(libc::ENOSYS)),
            }
        }
    };
}

open_wrapper!(open);
open_wrapper!(open64);
openat_wrapper!(openat);
openat_wrapper!(openat64);
open_2_wrapper!(__open_2);
open_2_wrapper!(__open64_2);
openat_2_wrapper!(__openat_2);
openat_2_wrapper!(__openat64_2);

/// The open(2) flags of an fopen mode ("r", "w+", "ae", ...).
fn flags_of_mode(mode: &[u8]) -> c_int {
    let plus = mode.contains(&b'+');
    let access = match (mode.first(), plus) {
        (Some(b'r'), false) => libc::O_RDONLY,
        (Some(b'r'), true) => libc::O_RDWR,
        (_, false) => libc::O_WRONLY,
        (_, true) => libc::O_RDWR,
    };
    let truncate = if mode.first() == Some(&b'w') { libc::O_TRUNC } else { 0 };
    let cloexec = if mode.contains(&b'e') { libc::O_CLOEXEC } else { 0 };
    access | truncate | cloexec
}

macro_rules! fopen_wrapper {
    ($name:ident) => {
        /// fopen(3) with the box's /proc files.
        ///
        /// # Safety
        /// C callers' contract: `path` and `mode` are NUL-terminated strings.
        #[no_mangle]
        pub unsafe extern "C" fn $name(path: *const c_char, mode: *const c_char) -> *mut libc::FILE {
            if namespace().is_some() && !mode.is_null() {
                // SAFETY: a NUL-terminated string (caller's contract).
                let flags = flags_of_mode(unsafe { CStr::from_ptr(mode) }.to_bytes());
                // SAFETY: forwarded from our caller.
                match unsafe { open_virtual(path, flags) } {
                    // SAFETY: our descriptor, and the caller's mode.
                    Some(Ok(fd)) => return unsafe { libc::fdopen(fd, mode) },
                    Some(Err(e)) => {
                        set_errno(e);
                        return std::ptr::null_mut();
                    }
                    None => {}
                }
            }
            let name = concat!(stringify!($name), "\0");
            // SAFETY: the literal above ends with its NUL.
            let cname = unsafe { CStr::from_bytes_with_nul_unchecked(name.as_bytes()) };
            match next!(cname, as unsafe extern "C" fn(*const c_char, *const c_char) -> *mut libc::FILE) {
                // SAFETY: libc's function, called with the arguments it was
                // given; a stream it opened on the region is closed.
                Some(f) => unsafe {
                    let stream = f(path, mode);
                    if !stream.is_null() && names_region(path, libc::fileno(stream)) {
                        libc::fclose(stream);
                        refuse_region(path);
                        return std::ptr::null_mut();
                    }
                    stream
                },
                None => {
                    set_errno(libc::ENOSYS);
                    std::ptr::null_mut()
                }
            }
        }
    };
}

fopen_wrapper!(fopen);
fopen_wrapper!(fopen64);

/// A write to a descriptor open on a sysctl file: Some(result) if it is one.
fn sysctl_write(fd: c_int, buf: *const c_void, count: usize) -> Option<isize> {
    // try_lock: write is async-signal-safe, and a handler may interrupt a
    // thread that holds the list.
    let entry = {
        let list = SYSCTL_WRITERS.try_lock().ok()?;
        *list.iter().find(|&&(open, _, _)| open == fd)?
    };
    let ns = namespace()?;
    if sys::fstat(fd).map_or(true, |st| st.st_ino != entry.2) {
        update_writers(|list| list.retain(|&(open, _, _)| open != fd));
        return None;
    }
    let Some(sysctl) = entry.1 else {
        // A /proc/sysvipc file, opened for writing by a privileged process.
        set_errno(libc::EIO);
        return Some(-1);
    };
    let mut text = vec![0u8; count.min(4096)];
    if let Err(e) = sys::copy_from_user(&mut text, buf as usize) {
        set_errno(e);
        return Some(-1);
    }
    Some(match ns.write_sysctl(sysctl, &text) {
        Ok(()) => count as isize,
        Err(e) => {
            set_errno(e);
            -1
        }
    })
}

/// write(2), which sets a box's limit when it writes to a sysctl file.
#[no_mangle]
pub extern "C" fn write(fd: c_int, buf: *const c_void, count: libc::size_t) -> libc::ssize_t {
    if SYSCTL_WRITER_COUNT.load(Ordering::Relaxed) != 0 {
        if let Some(result) = sysctl_write(fd, buf, count) {
            return result;
        }
    }
    match next!(c"write", as extern "C" fn(c_int, *const c_void, libc::size_t) -> libc::ssize_t) {
        Some(f) => f(fd, buf, count),
        None => {
            // SAFETY: forwarding the caller's arguments to the system call.
            let r = unsafe { sys::syscall6(libc::SYS_write, [fd as usize, buf as usize, count, 0, 0, 0]) };
            if r < 0 {
                set_errno(-r as i32);
                -1
            } else {
                r
            }
        }
    }
}

/// fclose(3): for a stream open for writing on a sysctl file, applies what
/// stdio wrote into the memory file (EOF and errno, as the kernel's refusal
/// of the flush would give, if the value is refused).
///
/// # Safety
/// C callers' contract: `stream` is an open stream.
#[no_mangle]
pub unsafe extern "C" fn fclose(stream: *mut libc::FILE) -> c_int {
    let next = next!(c"fclose", as unsafe extern "C" fn(*mut libc::FILE) -> c_int);
    let mut refused = None;
    if SYSCTL_WRITER_COUNT.load(Ordering::Relaxed) != 0 && !stream.is_null() {
        // SAFETY: an open stream (caller's contract).
        let fd = unsafe { libc::fileno(stream) };
        let entry = writers().iter().find(|&&(open, _, _)| open == fd).copied();
        if let (Some((_, Some(sysctl), inode)), Some(ns)) = (entry, namespace()) {
            // SAFETY: as above; pushes stdio's buffer into the memory file.
            unsafe { libc::fflush(stream) };
            let mut text = [0u8; 4096];
            let unchanged = sys::fstat(fd).is_ok_and(|st| st.st_ino == inode);
            if let (true, Ok(n)) = (unchanged, sys::pread(fd, &mut text, 0)) {
                if n > 0 {
                    refused = ns.write_sysctl(sysctl, &text[..n]).err();
                }
            }
        }
        forget(fd);
    }
    let result = match next {
        // SAFETY: libc's fclose on the caller's stream.
        Some(f) => unsafe { f(stream) },
        None => ret_int(Err(libc::ENOSYS)),
    };
    match refused {
        Some(e) => {
            set_errno(e);
            libc::EOF
        }
        None => result,
    }
}

/// Called by the close wrapper: the descriptor no longer names a sysctl file.
pub(crate) fn forget(fd: c_int) {
    if SYSCTL_WRITER_COUNT.load(Ordering::Relaxed) != 0 {
        update_writers(|list| list.retain(|&(open, _, _)| open != fd));
    }
}

/// Called by the dup2 and dup3 wrappers after a successful duplication.
pub(crate) fn duplicated(oldfd: c_int, newfd: c_int) {
    if SYSCTL_WRITER_COUNT.load(Ordering::Relaxed) != 0 {
        update_writers(|list| {
            list.retain(|&(open, _, _)| open != newfd);
            if let Some(&(_, sysctl, inode)) = list.iter().find(|&&(open, _, _)| open == oldfd) {
                list.push((newfd, sysctl, inode));
            }
        });
    }
}
