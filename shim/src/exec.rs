//! Box membership across exec.
//!
//! Owns: the environment a program of the box hands to the programs it
//! executes. Membership is inherited through three variables (LD_PRELOAD with
//! libipcbox.so, IPCBOX_FD, IPCBOX_ID) and the region's descriptor. Programs
//! that scrub their environment (`env -i`, daemons, `clearenv()`) would drop
//! the first part and silently leave the box for the host's namespace, so:
//! - the exec and spawn functions that take an environment (execve, execvpe,
//!   fexecve, execveat, posix_spawn, posix_spawnp) and those that use
//!   `environ` (execv, execvp) pass one with the box's variables put back;
//! - clearenv() puts the box's variables back into `environ`, which covers
//!   execl, execlp, system and popen after it.
//!
//! IPCBOX_FD is always rewritten with the region's current descriptor, which
//! may have moved (see `vacate` in lib.rs).

use super::{env_entries, namespace, next_symbol, ret_int, set_errno, ENV_FD, ENV_ID, ENV_STRICT, ENV_TRACE_FD};
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::atomic::AtomicUsize;
use std::sync::OnceLock;

extern "C" {
    static mut environ: *const *const c_char;
}

/// Path of this library, as the dynamic linker loaded it.
fn library_path() -> Option<&'static CStr> {
    static PATH: OnceLock<Option<CString>> = OnceLock::new();
    PATH.get_or_init(|| {
        // SAFETY: an all-zero Dl_info is valid to overwrite; dladdr fills it
        // for an address inside this library.
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        let found = unsafe { libc::dladdr(library_path as *const c_void, &mut info) };
        if found == 0 || info.dli_fname.is_null() {
            return None;
        }
        // SAFETY: dli_fname is a NUL-terminated path owned by the linker.
        Some(unsafe { CStr::from_ptr(info.dli_fname) }.to_owned())
    })
    .as_deref()
}

/// An environment with the box's variables, and the pointer array for exec.
struct BoxedEnv {
    _strings: Vec<CString>,
    pointers: Vec<*const c_char>,
}

/// Copies `envp` (NULL-terminated; NULL for none) and puts the box's
/// variables in. None when the process is not in a box.
fn boxed_env(envp: *const *const c_char) -> Option<BoxedEnv> {
    let ns = namespace()?;
    let library = library_path()?.to_bytes();
    let mut strings = Vec::new();
    let mut preload = None;
    // SAFETY: exec's callers pass a NULL-terminated environment (or NULL).
    for bytes in unsafe { env_entries(envp) } {
        if let Some(value) = bytes.strip_prefix(b"LD_PRELOAD=") {
            preload = Some(value.to_vec());
        } else if ![ENV_FD, ENV_ID, ENV_STRICT, ENV_TRACE_FD].iter().any(|name| bytes.starts_with(name)) {
            strings.push(CString::new(bytes).expect("C strings have no NUL inside"));
        }
    }
    let mut value = b"LD_PRELOAD=".to_vec();
    match preload {
        Some(existing) if existing.split(|&b| b == b':' || b == b' ').any(|e| e == library) => value.extend(existing),
        Some(existing) if !existing.is_empty() => {
            value.extend(library);
            value.push(b':');
            value.extend(existing);
        }
        _ => value.extend(library),
    }
    strings.push(CString::new(value).expect("no NUL"));
    strings.push(CString::new(format!("IPCBOX_FD={}", ns.fd())).expect("no NUL"));
    strings.push(CString::new(format!("IPCBOX_ID={:x}", ns.region().box_id())).expect("no NUL"));
    if crate::trap::strict() {
        strings.push(CString::new("IPCBOX_STRICT=1").expect("no NUL"));
    }
    if let Some(fd) = shared_state::trace::fd() {
        strings.push(CString::new(format!("IPCBOX_TRACE_FD={fd}")).expect("no NUL"));
    }
    let mut pointers: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
    pointers.push(std::ptr::null());
    Some(BoxedEnv { _strings: strings, pointers })
}

/// Runs `f` with the boxed form of `envp`, or with `envp` itself outside a box.
fn with_boxed_env<T>(envp: *const *const c_char, f: impl FnOnce(*const *const c_char) -> T) -> T {
    match boxed_env(envp) {
        Some(env) => f(env.pointers.as_ptr()),
        None => f(envp),
    }
}

fn current_environ() -> *const *const c_char {
    // SAFETY: reading the process's environ pointer, as execv itself does.
    unsafe { environ }
}

type Argv = *const *const c_char;

#[no_mangle]
pub extern "C" fn execve(path: *const c_char, argv: Argv, envp: Argv) -> c_int {
    match next!(c"execve", as extern "C" fn(*const c_char, Argv, Argv) -> c_int) {
        Some(real) => with_boxed_env(envp, |env| real(path, argv, env)),
        None => ret_int(Err(libc::ENOSYS)),
    }
}

#[no_mangle]
pub extern "C" fn execvpe(file: *const c_char, argv: Argv, envp: Argv) -> c_int {
    match next!(c"execvpe", as extern "C" fn(*const c_char, Argv, Argv) -> c_int) {
        Some(real) => with_boxed_env(envp, |env| real(file, argv, env)),
        None => ret_int(Err(libc::ENOSYS)),
    }
}

#[no_mangle]
pub extern "C" fn execv(path: *const c_char, argv: Argv) -> c_int {
    execve(path, argv, current_environ())
}

#[no_mangle]
pub extern "C" fn execvp(file: *const c_char, argv: Argv) -> c_int {
    execvpe(file, argv, current_environ())
}

#[no_mangle]
pub extern "C" fn fexecve(fd: c_int, argv: Argv, envp: Argv) -> c_int {
    match next!(c"fexecve", as extern "C" fn(c_int, Argv, Argv) -> c_int) {
        Some(real) => with_boxed_env(envp, |env| real(fd, argv, env)),
        None => ret_int(Err(libc::ENOSYS)),
    }
}

#[no_mangle]
pub extern "C" fn execveat(dirfd: c_int, path: *const c_char, argv: Argv, envp: Argv, flags: c_int) -> c_int {
    match next!(c"execveat", as extern "C" fn(c_int, *const c_char, Argv, Argv, c_int) -> c_int) {
        Some(real) => with_boxed_env(envp, |env| real(dirfd, path, argv, env, flags)),
        None => ret_int(Err(libc::ENOSYS)),
    }
}

type SpawnFn = extern "C" fn(*mut libc::pid_t, *const c_char, *const c_void, *const c_void, Argv, Argv) -> c_int;

#[no_mangle]
pub extern "C" fn posix_spawn(
    pid: *mut libc::pid_t,
    path: *const c_char,
    actions: *const c_void,
    attr: *const c_void,
    argv: Argv,
    envp: Argv,
) -> c_int {
    match next!(c"posix_spawn", as SpawnFn) {
        Some(real) => with_boxed_env(envp, |env| real(pid, path, actions, attr, argv, env)),
        None => libc::ENOSYS,
    }
}

#[no_mangle]
pub extern "C" fn posix_spawnp(
    pid: *mut libc::pid_t,
    file: *const c_char,
    actions: *const c_void,
    attr: *const c_void,
    argv: Argv,
    envp: Argv,
) -> c_int {
    match next!(c"posix_spawnp", as SpawnFn) {
        Some(real) => with_boxed_env(envp, |env| real(pid, file, actions, attr, argv, env)),
        None => libc::ENOSYS,
    }
}

#[no_mangle]
pub extern "C" fn clearenv() -> c_int {
    let result = match next!(c"clearenv", as extern "C" fn() -> c_int) {
        Some(real) => real(),
        None => {
            set_errno(libc::ENOSYS);
            -1
        }
    };
    if let Some(env) = boxed_env(std::ptr::null()) {
        for entry in &env._strings {
            // SAFETY: putenv keeps the pointer, so the string is leaked on purpose.
            unsafe { libc::putenv(entry.clone().into_raw()) };
        }
    }
    result
}
