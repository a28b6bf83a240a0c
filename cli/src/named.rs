//! Named boxes: `ipcbox run --name NAME` creates box NAME or joins it, so
//! that separate process trees (a server started in one terminal, its
//! client in another) share one box; `ipcbox ls`, `ipcbox ipcs NAME` and
//! `ipcbox rm NAME` list, show and remove them.
//!
//! Owns: the per-user directory of named boxes and the box files in it.
//! A named box's region lives in a file of a tmpfs (`/dev/shm/ipcbox-UID/NAME`,
//! or `$IPCBOX_DIR/NAME`) instead of an anonymous memfd; the directory is
//! the user's alone (mode 0700), as the region's memfd is.
//!
//! Creation is atomic: the region is made in a private temporary file and
//! linked under its name only once whole; a creator that finds the name
//! taken drops its file and joins the other instead.
//!
//! Lifetime: every supervisor holds a shared flock on its own open file
//! description of the box file, and gives its command another one, also
//! locked, which the command's processes inherit, so the box's file stays
//! locked while any supervisor or process of the box lives. When a
//! supervisor's command ends, it lets its own lock go and tries an
//! exclusive lock: if it gets it, no process of the box is left anywhere,
//! and the file is removed (unless the box was created with --keep). A
//! box whose last process outlived every supervisor (a daemon) is found
//! unlocked later: the next `run --name` or `ls` removes it then.

use shared_state::procfs::ObjectRow;
use shared_state::{LimitValues, Namespace};
use std::ffi::CString;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;

/// The directory of the user's named boxes, made if needed.
pub fn dir() -> Result<PathBuf, String> {
    let dir = match std::env::var_os("IPCBOX_DIR") {
        Some(dir) => PathBuf::from(dir),
        // SAFETY: getuid has no preconditions.
        None => PathBuf::from(format!("/dev/shm/ipcbox-{}", unsafe { libc::getuid() })),
    };
    match std::fs::create_dir(&dir) {
        Ok(()) => {
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot make the directory of named boxes {}: {e}", dir.display())),
    }
    let meta = std::fs::symlink_metadata(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o077 != 0 {
        return Err(format!(
            "{} is not a private directory of yours: remove it, or set IPCBOX_DIR to one",
            dir.display()
        ));
    }
    Ok(dir)
}

/// Refuses names that are not plain file names.
pub fn check_name(name: &str) -> Result<(), String> {
    let fine = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if fine {
        Ok(())
    } else {
        Err(format!("{name:?} is not a box name: use up to 64 letters, digits, '.', '_' or '-', not starting with '.'"))
    }
}

fn open(path: &std::path::Path, flags: i32, mode: u32) -> std::io::Result<i32> {
    let path = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC, mode) };
    if fd < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(fd)
    }
}

fn flock(fd: i32, how: i32) -> bool {
    // SAFETY: plain system call on our descriptor.
    unsafe { libc::flock(fd, how) == 0 }
}

fn close(fd: i32) {
    // SAFETY: closing our own descriptor.
    unsafe { libc::close(fd) };
}

fn inode(fd: i32) -> Option<u64> {
    // SAFETY: st is written by fstat.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        (libc::fstat(fd, &mut st) == 0).then_some(st.st_ino)
    }
}

/// The file of a box joined or created by name.
pub struct Named {
    pub path: PathBuf,
    pub inode: u64,
}

/// Creates box `name` or joins it if it exists; with `keep`, the box stays
/// after its last process exits.
pub fn create_or_join(name: &str, keep: bool) -> Result<(Namespace, Named), String> {
    check_name(name)?;
    let dir = dir()?;
    let path = dir.join(name);
    for _ in 0..20 {
        match open(&path, libc::O_RDWR, 0) {
            Ok(fd) => {
                let ino = inode(fd).unwrap_or(0);
                // Removed meanwhile (its last process left): start over.
                if std::fs::metadata(&path).map(|m| m.ino()).ok() != Some(ino) {
                    close(fd);
                    continue;
                }
                let namespace = match Namespace::attach(fd) {
                    Ok(ns) => ns,
                    Err(e) => {
                        close(fd);
                        return Err(format!("box {name}: {}", strip(&e.to_string())));
                    }
                };
                if occupancy(&path, fd, &namespace) == Occupancy::Removed {
                    drop(namespace);
                    close(fd);
                    continue;
                }
                // Ours: joined (a lock converts in place, even from exclusive).
                flock(fd, libc::LOCK_SH);
                if keep {
                    namespace.region().header().keep.store(1, std::sync::atomic::Ordering::Release);
                }
                return Ok((namespace, Named { path, inode: ino }));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot open box {name} ({}): {e}", path.display())),
        }
        let temp = dir.join(format!(".{name}.{}.new", std::process::id()));
        let fd = open(&temp, libc::O_RDWR | libc::O_CREAT | libc::O_EXCL, 0o600)
            .map_err(|e| format!("cannot make box {name} in {}: {e}", dir.display()))?;
        flock(fd, libc::LOCK_SH);
        let namespace = match Namespace::create_on(fd, &LimitValues::default()) {
            Ok(ns) => ns,
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                return Err(format!("cannot make box {name}: {}", strip(&e.to_string())));
            }
        };
        namespace.region().header().keep.store(keep as u32, std::sync::atomic::Ordering::Release);
        let linked = std::fs::hard_link(&temp, &path);
        let _ = std::fs::remove_file(&temp);
        match linked {
            Ok(()) => return Ok((namespace, Named { inode: inode(fd).unwrap_or(0), path })),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                drop(namespace);
                close(fd);
            }
            Err(e) => return Err(format!("cannot name box {name}: {e}")),
        }
    }
    Err(format!("box {name} keeps appearing and disappearing: try again"))
}

fn strip(message: &str) -> &str {
    message.trim_start_matches("ipcbox: ")
}

impl Named {
    /// A descriptor of the box file for the command, with the shared lock
    /// that marks a live process of the box (see the module notes).
    pub fn descriptor_for_command(&self, namespace: &Namespace) -> std::io::Result<i32> {
        let own = format!("/proc/self/fd/{}", namespace.fd());
        let fd = open(std::path::Path::new(&own), libc::O_RDWR, 0)?;
        if !flock(fd, libc::LOCK_SH) {
            let e = std::io::Error::last_os_error();
            close(fd);
            return Err(e);
        }
        Ok(fd)
    }

    /// After the command ended: removes the box file if no process of the
    /// box is left anywhere and the box was not made to be kept.
    pub fn leave(&self, namespace: &Namespace) {
        flock(namespace.fd(), libc::LOCK_UN);
        let Ok(fd) = open(&self.path, libc::O_RDWR, 0) else { return };
        if inode(fd) == Some(self.inode) && flock(fd, libc::LOCK_EX | libc::LOCK_NB) && !is_kept(namespace) {
            let _ = std::fs::remove_file(&self.path);
        }
        close(fd);
    }
}

/// Whether a box is in use, from its file `path`, open at `fd` and mapped
/// as `namespace`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Occupancy {
    /// Some supervisor or process of the box holds the shared lock.
    Active,
    /// No process is left, and the box was made to be kept (`fd` is then
    /// left locked exclusively, so that no one joins meanwhile).
    Kept,
    /// No process was left and the box was not to be kept: the leftover of
    /// a box whose last process outlived every supervisor, now removed.
    Removed,
}

fn occupancy(path: &std::path::Path, fd: i32, namespace: &Namespace) -> Occupancy {
    if !flock(fd, libc::LOCK_EX | libc::LOCK_NB) {
        return Occupancy::Active;
    }
    if is_kept(namespace) {
        return Occupancy::Kept;
    }
    let _ = std::fs::remove_file(path);
    Occupancy::Removed
}

fn is_kept(namespace: &Namespace) -> bool {
    namespace.region().header().keep.load(std::sync::atomic::Ordering::Acquire) != 0
}

/// Opens box `name` to look at it from outside.
fn look(name: &str) -> Result<(Namespace, i32), String> {
    check_name(name)?;
    let path = dir()?.join(name);
    let fd = open(&path, libc::O_RDWR, 0).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("no box named {name} (see `ipcbox ls`)"),
        _ => format!("cannot open box {name}: {e}"),
    })?;
    let namespace = Namespace::attach(fd).map_err(|e| format!("box {name}: {}", strip(&e.to_string())))?;
    Ok((namespace, fd))
}

/// `ipcbox ls`: the user's named boxes.
pub fn list() -> Result<(), String> {
    let dir = dir()?;
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| !name.starts_with('.'))
        .collect();
    names.sort();
    println!("{:<24} {:<8} {:>5} {:>5} {:>5}", "NAME", "STATE", "SHM", "SEM", "MSG");
    for name in names {
        let Ok((namespace, fd)) = look(&name) else { continue };
        let state = match occupancy(&dir.join(&name), fd, &namespace) {
            Occupancy::Active => "active",
            Occupancy::Kept => "kept",
            Occupancy::Removed => {
                drop(namespace);
                close(fd);
                continue;
            }
        };
        let objects = namespace.objects();
        let count = |facility: &str| objects.iter().filter(|row| row.facility == facility).count();
        println!("{name:<24} {state:<8} {:>5} {:>5} {:>5}", count("shm"), count("sem"), count("msg"));
        drop(namespace);
        close(fd);
    }
    Ok(())
}

fn owner(uid: u32) -> String {
    // SAFETY: getpwuid returns null or a record valid until the next call;
    // the name is copied at once.
    unsafe {
        let pw = libc::getpwuid(uid);
        if pw.is_null() {
            uid.to_string()
        } else {
            std::ffi::CStr::from_ptr((*pw).pw_name).to_string_lossy().into_owned()
        }
    }
}

/// `ipcbox ipcs NAME [--json]`: the box's objects, from outside it.
pub fn show(name: &str, json: bool) -> Result<(), String> {
    let (namespace, fd) = look(name)?;
    let objects = namespace.objects();
    if json {
        println!("{}", to_json(name, &objects));
    } else {
        for (facility, title, id, size, count) in [
            ("msg", "Message Queues", "msqid", "used-bytes", "messages"),
            ("shm", "Shared Memory Segments", "shmid", "bytes", "nattch"),
            ("sem", "Semaphore Arrays", "semid", "nsems", ""),
        ] {
            println!("\n------ {title} (box {name}) --------");
            println!("{:<10} {:<10} {:<10} {:<10} {:<12} {:<12}", "key", id, "owner", "perms", size, count);
            for row in objects.iter().filter(|row| row.facility == facility) {
                let count = if facility == "sem" { String::new() } else { row.count.to_string() };
                let status = match (facility, row.mode & 0o1000 != 0, row.mode & 0o2000 != 0) {
                    ("shm", true, _) => "dest",
                    ("shm", _, true) => "locked",
                    _ => "",
                };
                println!(
                    "{:<10} {:<10} {:<10} {:<10o} {:<12} {:<12} {status}",
                    format!("{:#010x}", row.key as u32),
                    row.id,
                    owner(row.uid),
                    row.mode & 0o777,
                    row.size,
                    count
                );
            }
        }
        println!();
    }
    drop(namespace);
    close(fd);
    Ok(())
}

fn to_json(name: &str, objects: &[ObjectRow]) -> String {
    let rows: Vec<String> = objects
        .iter()
        .map(|row| {
            format!(
                "{{\"facility\":\"{}\",\"key\":{},\"id\":{},\"uid\":{},\"perms\":\"{:o}\",\"size\":{},\"count\":{}}}",
                row.facility,
                row.key,
                row.id,
                row.uid,
                row.mode & 0o777,
                row.size,
                row.count
            )
        })
        .collect();
    let name = name.replace('\\', "\\\\").replace('"', "\\\"");
    format!("{{\"box\":\"{name}\",\"objects\":[{}]}}", rows.join(","))
}

/// `ipcbox rm NAME`: removes the box's name; processes still in it go on.
pub fn remove(name: &str) -> Result<(), String> {
    check_name(name)?;
    let path = dir()?.join(name);
    std::fs::remove_file(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("no box named {name} (see `ipcbox ls`)"),
        _ => format!("cannot remove box {name}: {e}"),
    })
}
