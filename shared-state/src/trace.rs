//! Tracing of the calls a box answers (`ipcbox run --trace FILE`, or
//! `IPCBOX_TRACE=FILE` in the environment): one line per call, in the
//! manner of strace, `PID name(arguments) = result`, with commands and
//! flags by name, `struct sembuf` arrays and message types decoded, and an
//! error as `-1 ENAME (description)`.
//!
//! Owns: the trace descriptor of this process, the formatting, and the
//! writing. The file is opened once for the whole box (by `ipcbox run
//! --trace`, or by the first process that finds IPCBOX_TRACE=FILE and no
//! descriptor) with O_APPEND, at a descriptor every process of the box
//! inherits and names in IPCBOX_TRACE_FD, which the shim protects from
//! being closed or reused as it does the region's. A process that changes
//! user afterwards (a server that drops root) still writes to it, where
//! reopening the file would be refused. Each line is one `write` (traced
//! calls only), so lines of concurrent processes never interleave.

use crate::abi::*;
use crate::sys;
use core::sync::atomic::{AtomicI32, Ordering::Relaxed};
use std::ffi::CString;
use std::fmt::Write;

/// The trace descriptor, -1 while calls are not traced. Set at load, and
/// moved when a program takes its number (see the shim's `vacate`).
static FD: AtomicI32 = AtomicI32::new(-1);

/// Traces this process's calls to descriptor `fd` (from IPCBOX_TRACE_FD),
/// if it is open for writing; whether it is.
pub fn use_fd(fd: i32) -> bool {
    let writable = sys::fcntl(fd, libc::F_GETFL, 0).is_ok_and(|flags| flags as i32 & libc::O_ACCMODE != libc::O_RDONLY);
    if writable {
        FD.store(fd, Relaxed);
    }
    writable
}

/// Traces this process's calls to `path` (from IPCBOX_TRACE), opened for
/// appending at a descriptor of `floor` or above that children inherit.
pub fn open_path(path: &[u8], floor: i32) -> Result<(), i32> {
    let path = CString::new(path).map_err(|_| libc::EINVAL)?;
    // SAFETY: a NUL-terminated path and plain flags.
    let fd = sys::check(unsafe {
        sys::syscall6(
            libc::SYS_openat,
            [
                libc::AT_FDCWD as usize,
                path.as_ptr() as usize,
                (libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC) as usize,
                0o644,
                0,
                0,
            ],
        )
    })? as i32;
    let moved = sys::fcntl(fd, libc::F_DUPFD, floor as usize);
    let _ = sys::close(fd);
    FD.store(moved? as i32, Relaxed);
    Ok(())
}

/// The trace descriptor, if calls are traced.
pub fn fd() -> Option<i32> {
    Some(FD.load(Relaxed)).filter(|&fd| fd >= 0)
}

/// Moves tracing to descriptor `fd` (a duplicate of the old one).
pub fn set_fd(fd: i32) {
    FD.store(fd, Relaxed);
}

/// Whether calls are traced: one load when they are not.
#[inline]
pub fn enabled() -> bool {
    FD.load(Relaxed) >= 0
}

/// Appends `PID line` to the trace file.
pub fn emit(line: &str) {
    let Some(fd) = fd() else { return };
    let text = format!("{} {line}\n", sys::getpid());
    // SAFETY: our own buffer.
    unsafe { sys::syscall6(libc::SYS_write, [fd as usize, text.as_ptr() as usize, text.len(), 0, 0, 0]) };
}

/// ` = value`, or ` = -1 ENAME (description)`.
pub fn result<T: core::fmt::Display>(result: &Result<T, i32>) -> String {
    match result {
        Ok(value) => format!(" = {value}"),
        Err(e) => format!(" = -1 {} ({})", errno_name(*e), describe(*e)),
    }
}

/// The C library's description of an errno, as strace prints it.
fn describe(errno: i32) -> String {
    // SAFETY: strerror returns a NUL-terminated string that stays valid
    // until the next call in this thread; it is copied at once.
    unsafe { std::ffi::CStr::from_ptr(libc::strerror(errno)) }.to_string_lossy().into_owned()
}

pub fn errno_name(e: i32) -> String {
    let name = match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::E2BIG => "E2BIG",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EEXIST => "EEXIST",
        libc::EINVAL => "EINVAL",
        libc::EFBIG => "EFBIG",
        libc::ENOSPC => "ENOSPC",
        libc::ERANGE => "ERANGE",
        libc::ENOSYS => "ENOSYS",
        libc::ENOMSG => "ENOMSG",
        libc::EIDRM => "EIDRM",
        libc::EOVERFLOW => "EOVERFLOW",
        _ => return format!("E{e}"),
    };
    name.to_string()
}

/// A key as strace shows it: IPC_PRIVATE or hexadecimal.
pub fn key(key: i32) -> String {
    if key == IPC_PRIVATE {
        "IPC_PRIVATE".into()
    } else {
        format!("{:#x}", key as u32)
    }
}

/// Flags by name, `|`-joined, then the rest (a mode) in octal.
pub fn flags(value: i32, names: &[(i32, &str)], mode_bits: i32) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut rest = value;
    for &(bit, name) in names {
        if rest & bit != 0 {
            parts.push(name.to_string());
            rest &= !bit;
        }
    }
    if rest & mode_bits != 0 || parts.is_empty() {
        let mode = rest & mode_bits;
        parts.push(if mode == 0 { "0".into() } else { format!("0{mode:o}") });
        rest &= !mode_bits;
    }
    if rest != 0 {
        parts.push(format!("{rest:#x}"));
    }
    parts.join("|")
}

pub const GET_FLAGS: [(i32, &str); 2] = [(IPC_CREAT, "IPC_CREAT"), (IPC_EXCL, "IPC_EXCL")];
pub const SHMGET_FLAGS: [(i32, &str); 4] =
    [(IPC_CREAT, "IPC_CREAT"), (IPC_EXCL, "IPC_EXCL"), (SHM_HUGETLB, "SHM_HUGETLB"), (SHM_NORESERVE, "SHM_NORESERVE")];
pub const SHMAT_FLAGS: [(i32, &str); 4] =
    [(SHM_RDONLY, "SHM_RDONLY"), (SHM_RND, "SHM_RND"), (SHM_REMAP, "SHM_REMAP"), (SHM_EXEC, "SHM_EXEC")];
pub const MSG_FLAGS: [(i32, &str); 4] = [
    (IPC_NOWAIT, "IPC_NOWAIT"),
    (crate::msg::MSG_NOERROR, "MSG_NOERROR"),
    (crate::msg::MSG_EXCEPT, "MSG_EXCEPT"),
    (crate::msg::MSG_COPY, "MSG_COPY"),
];

/// A command of shmctl, semctl or msgctl by name.
pub fn command(facility: char, cmd: i32) -> String {
    let common = match cmd & !IPC_64 {
        IPC_RMID => Some("IPC_RMID"),
        IPC_SET => Some("IPC_SET"),
        IPC_STAT => Some("IPC_STAT"),
        IPC_INFO => Some("IPC_INFO"),
        _ => None,
    };
    use crate::msg::{MSG_INFO, MSG_STAT, MSG_STAT_ANY};
    use crate::sem::{GETALL, GETNCNT, GETPID, GETVAL, GETZCNT, SEM_INFO, SEM_STAT, SEM_STAT_ANY, SETALL, SETVAL};
    let own = match (facility, cmd & !IPC_64) {
        ('m', SHM_LOCK) => Some("SHM_LOCK"),
        ('m', SHM_UNLOCK) => Some("SHM_UNLOCK"),
        ('m', SHM_STAT) => Some("SHM_STAT"),
        ('m', SHM_INFO) => Some("SHM_INFO"),
        ('m', SHM_STAT_ANY) => Some("SHM_STAT_ANY"),
        ('s', GETPID) => Some("GETPID"),
        ('s', GETVAL) => Some("GETVAL"),
        ('s', GETALL) => Some("GETALL"),
        ('s', GETNCNT) => Some("GETNCNT"),
        ('s', GETZCNT) => Some("GETZCNT"),
        ('s', SETVAL) => Some("SETVAL"),
        ('s', SETALL) => Some("SETALL"),
        ('s', SEM_STAT) => Some("SEM_STAT"),
        ('s', SEM_INFO) => Some("SEM_INFO"),
        ('s', SEM_STAT_ANY) => Some("SEM_STAT_ANY"),
        ('q', MSG_STAT) => Some("MSG_STAT"),
        ('q', MSG_INFO) => Some("MSG_INFO"),
        ('q', MSG_STAT_ANY) => Some("MSG_STAT_ANY"),
        _ => None,
    };
    match common.or(own) {
        Some(name) if cmd & IPC_64 != 0 => format!("IPC_64|{name}"),
        Some(name) => name.to_string(),
        None => cmd.to_string(),
    }
}

/// A pointer argument: NULL or hexadecimal.
pub fn pointer(addr: usize) -> String {
    if addr == 0 {
        "NULL".into()
    } else {
        format!("{addr:#x}")
    }
}

/// A `struct sembuf` array at `addr`, read safely (its address if unreadable).
pub fn sembufs(addr: usize, nsops: usize) -> String {
    let shown = nsops.min(8);
    let mut raw = vec![0u8; shown * 6];
    if shown == 0 || sys::copy_from_user(&mut raw, addr).is_err() {
        return pointer(addr);
    }
    let mut text = String::from("[");
    for (i, op) in raw.chunks(6).enumerate() {
        let num = u16::from_ne_bytes([op[0], op[1]]);
        let value = i16::from_ne_bytes([op[2], op[3]]);
        let flg = i16::from_ne_bytes([op[4], op[5]]) as i32;
        let flag_text = flags(flg, &[(crate::sem::SEM_UNDO as i32, "SEM_UNDO"), (IPC_NOWAIT, "IPC_NOWAIT")], 0);
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(text, "{sep}{{sem_num={num}, sem_op={value}, sem_flg={flag_text}}}");
    }
    if nsops > shown {
        text.push_str(", ...");
    }
    text.push(']');
    text
}

/// A `struct timespec` at `addr`, read safely.
pub fn timespec(addr: usize) -> String {
    let mut raw = [0u8; 16];
    if addr == 0 || sys::copy_from_user(&mut raw, addr).is_err() {
        return pointer(addr);
    }
    let sec = i64::from_ne_bytes(raw[..8].try_into().expect("8 bytes"));
    let nsec = i64::from_ne_bytes(raw[8..].try_into().expect("8 bytes"));
    format!("{{tv_sec={sec}, tv_nsec={nsec}}}")
}

/// A message at `addr` (type, then up to 32 bytes of its `size`-byte body).
pub fn message(addr: usize, size: usize) -> String {
    let shown = size.min(32);
    let mut raw = vec![0u8; 8 + shown];
    if sys::copy_from_user(&mut raw, addr).is_err() {
        return pointer(addr);
    }
    let mtype = i64::from_ne_bytes(raw[..8].try_into().expect("8 bytes"));
    let mut body = String::new();
    for &b in &raw[8..] {
        match b {
            b'"' | b'\\' => body.push_str(&format!("\\{}", b as char)),
            0x20..=0x7e => body.push(b as char),
            b'\n' => body.push_str("\\n"),
            _ => body.push_str(&format!("\\{b:o}")),
        }
    }
    let more = if size > shown { "..." } else { "" };
    format!("{{mtype={mtype}, mtext=\"{body}\"{more}}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_commands_read_as_in_strace() {
        assert_eq!(flags(IPC_CREAT | IPC_EXCL | 0o600, &GET_FLAGS, 0o777), "IPC_CREAT|IPC_EXCL|0600");
        assert_eq!(flags(0, &GET_FLAGS, 0o777), "0");
        assert_eq!(flags(SHM_RDONLY, &SHMAT_FLAGS, 0), "SHM_RDONLY");
        assert_eq!(command('s', 16), "SETVAL");
        assert_eq!(command('m', IPC_STAT | IPC_64), "IPC_64|IPC_STAT");
        assert_eq!(command('q', 99), "99");
        assert_eq!(key(IPC_PRIVATE), "IPC_PRIVATE");
        assert_eq!(key(0x1234), "0x1234");
        assert_eq!(result::<i32>(&Err(libc::EINVAL)), " = -1 EINVAL (Invalid argument)");
    }

    #[test]
    fn arrays_and_messages_are_decoded() {
        let ops: [i16; 6] = [0, -1, 0x1000, 2, 1, IPC_NOWAIT as i16];
        assert_eq!(
            sembufs(ops.as_ptr() as usize, 2),
            "[{sem_num=0, sem_op=-1, sem_flg=SEM_UNDO}, {sem_num=2, sem_op=1, sem_flg=IPC_NOWAIT}]"
        );
        let mut msg = 3i64.to_ne_bytes().to_vec();
        msg.extend_from_slice(b"hi\n\"");
        assert_eq!(message(msg.as_ptr() as usize, 4), "{mtype=3, mtext=\"hi\\n\\\"\"}");
    }
}
