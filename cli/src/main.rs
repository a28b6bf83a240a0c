//! ipcbox: run programs in a private System V IPC namespace, without root.
//!
//! Owns: the command line, creating a box's region, handing it to the first
//! process of the box (an inheritable descriptor named in the environment,
//! plus libipcbox.so first in LD_PRELOAD), and supervising that process:
//! watching the box's processes to repair what each leaves when it dies,
//! waiting for the command, forwarding termination signals, and exiting with its
//! status the way a shell reports it (128+N for a death by signal N).
//!
//! Exit codes of its own: 125 when ipcbox itself fails, 126 when the command
//! cannot be executed, 127 when it is not found (as `env` and `timeout` do).

mod cli;
mod named;

use clap::Parser;
use cli::{Cli, Cmd};
use shared_state::{LimitValues, Namespace};
use std::ffi::OsString;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicI32, Ordering};

/// Lowest descriptor number the region is placed at in the box, out of the
/// way of the small numbers programs expect to get from open().
const REGION_FD_FLOOR: usize = 100;
const EXIT_IPCBOX_FAILED: u8 = 125;

/// The exit of an inspection command: 0, or 1 after one line on stderr.
fn report(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ipcbox: {e}");
            ExitCode::from(1)
        }
    }
}

struct RunOptions {
    limits: Vec<String>,
    strict: bool,
    trace: Option<PathBuf>,
    name: Option<String>,
    keep: bool,
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("ipcbox: {message}");
    ExitCode::from(EXIT_IPCBOX_FAILED)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind::*;
            if matches!(e.kind(), DisplayHelp | DisplayVersion | DisplayHelpOnMissingArgumentOrSubcommand) {
                e.exit();
            }
            // A usage error in one line, as Unix tools give it.
            let text = e.render().to_string();
            let words: Vec<&str> = text.lines().take_while(|line| !line.trim().is_empty()).map(str::trim).collect();
            eprintln!("ipcbox: {} (see `ipcbox --help`)", words.join(" ").trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Cmd::Run { limits, strict, trace, name, keep, command } => {
            run(&RunOptions { limits, strict, trace, name, keep }, command)
        }
        Cmd::Ls => report(named::list()),
        Cmd::Ipcs { name, json } => report(named::show(&name, json)),
        Cmd::Rm { name } => report(named::remove(&name)),
    }
}

/// Where libipcbox.so is, as an absolute path LD_PRELOAD can carry:
/// `$IPCBOX_LIB` if set; else `../lib/ipcbox/libipcbox.so` from the
/// directory of this executable's real path (the installed layout:
/// PREFIX/bin/ipcbox, PREFIX/lib/ipcbox/libipcbox.so); else
/// `libipcbox.so` beside it (cargo's target/release). The real path is
/// /proc/self/exe, so a symbolic link to an installed ipcbox finds the
/// library of the installation it points into.
fn library_path() -> Result<PathBuf, String> {
    let path = match std::env::var_os("IPCBOX_LIB") {
        Some(path) => {
            let path = std::path::absolute(PathBuf::from(path))
                .map_err(|e| format!("IPCBOX_LIB: cannot make its path absolute: {e}"))?;
            if !path.is_file() {
                return Err(format!("IPCBOX_LIB names {}, which is not a file", path.display()));
            }
            path
        }
        None => {
            let exe = std::env::current_exe().map_err(|e| format!("cannot find its own executable: {e}"))?;
            let dir = exe.parent().ok_or("its own executable has no directory")?;
            let installed = dir.parent().map(|prefix| prefix.join("lib/ipcbox/libipcbox.so"));
            let candidates: Vec<PathBuf> = installed.into_iter().chain([dir.join("libipcbox.so")]).collect();
            match candidates.iter().find(|path| path.is_file()) {
                Some(path) => path.clone(),
                None => {
                    let looked: Vec<String> =
                        candidates.iter().filter_map(|path| Some(format!("{}/", path.parent()?.display()))).collect();
                    return Err(format!(
                        "cannot find libipcbox.so (looked in {}): install ipcbox with scripts/install.sh, \
                         build it with `cargo build --release`, or set IPCBOX_LIB to its path",
                        looked.join(" and ")
                    ));
                }
            }
        }
    };
    // LD_PRELOAD is a list split at colons and spaces: a path with one
    // would preload nothing, and the command would run unboxed.
    if path.as_os_str().as_encoded_bytes().iter().any(|b| b" :".contains(b)) {
        return Err(format!(
            "the path of libipcbox.so, {}, has a space or a colon, which LD_PRELOAD cannot carry: \
             install ipcbox elsewhere, or set IPCBOX_LIB to a copy whose path has none",
            path.display()
        ));
    }
    Ok(path)
}

static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward_signal(sig: libc::c_int) {
    let child = CHILD.load(Ordering::Relaxed);
    if child > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(child, sig) };
    }
}

/// The terminal sends SIGINT/SIGQUIT to the whole foreground group, child
/// included: the supervisor outlives them to report the child's status.
/// Signals sent to the supervisor alone are passed on to the child.
const HANDLED_SIGNALS: [libc::c_int; 6] =
    [libc::SIGINT, libc::SIGQUIT, libc::SIGTERM, libc::SIGHUP, libc::SIGUSR1, libc::SIGUSR2];

fn block_forwarded_signals() -> libc::sigset_t {
    // SAFETY: sigset_t values are initialised by sigemptyset before use.
    unsafe {
        let mut block: libc::sigset_t = std::mem::zeroed();
        let mut previous: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut block);
        for sig in HANDLED_SIGNALS {
            libc::sigaddset(&mut block, sig);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut previous);
        previous
    }
}

fn restore_signal_mask(previous: &libc::sigset_t) {
    // SAFETY: previous is a mask returned by pthread_sigmask.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, previous, std::ptr::null_mut()) };
}

fn install_signal_handlers() {
    for sig in HANDLED_SIGNALS {
        // SAFETY: a zeroed sigaction with a plain handler and an empty mask is valid.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = if matches!(sig, libc::SIGINT | libc::SIGQUIT) {
                ignore_signal as *const () as usize
            } else {
                forward_signal as *const () as usize
            };
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

extern "C" fn ignore_signal(_sig: libc::c_int) {}

fn run(options: &RunOptions, command: Vec<OsString>) -> ExitCode {
    let RunOptions { limits, strict, trace, name, keep } = options;
    let library = match library_path() {
        Ok(path) => path,
        Err(e) => return fail(e),
    };
    install_signal_handlers();
    // Forwarded signals stay blocked until the child's pid is known. The
    // supervisor's watcher threads are created meanwhile and keep them blocked
    // for good, so only this thread, which knows the pid, ever takes one.
    let previous_mask = block_forwarded_signals();
    let (namespace, named) = match name {
        Some(name) => match named::create_or_join(name, *keep) {
            Ok((ns, named)) => (std::sync::Arc::new(ns), Some(named)),
            Err(e) => return fail(e),
        },
        None => match Namespace::create(&LimitValues::default()) {
            Ok(ns) => (std::sync::Arc::new(ns), None),
            Err(e) => return fail(e.to_string().trim_start_matches("ipcbox: ")),
        },
    };
    for limit in limits {
        let Some((name, value)) = limit.split_once('=') else {
            return fail(format!("--limit {limit}: expected NAME=VALUE, as in --limit msgmni=64"));
        };
        if let Err(e) = namespace.set_limit(name, value) {
            return fail(format!("--limit {e}"));
        }
    }
    // Repair what a dead process leaves (SEM_UNDO, attachments) at once, as
    // the kernel does at exit, rather than at the next call of a survivor.
    if let Err(e) = namespace.watch_deaths() {
        return fail(format!("cannot start watching the box's processes: {e}"));
    }
    // The region's memfd is close-on-exec; the box gets an inheritable copy.
    // SAFETY: F_DUPFD on a descriptor we own.
    // A named box's command gets a descriptor of its own, which marks the
    // box as in use while any of its processes lives (see `named`).
    let source = match &named {
        Some(named) => match named.descriptor_for_command(&namespace) {
            Ok(fd) => fd,
            Err(e) => return fail(format!("cannot hand the box on: {e}")),
        },
        None => namespace.fd(),
    };
    let box_fd = shared_state::sys::dup_high(source, REGION_FD_FLOOR);
    if named.is_some() {
        // SAFETY: closing our own duplicate; box_fd shares its file description.
        unsafe { libc::close(source) };
    }
    let box_fd = match box_fd {
        Ok(fd) => fd,
        Err(e) => return fail(format!("cannot hand the region on: {}", std::io::Error::from_raw_os_error(e))),
    };
    let mut preload = library.into_os_string();
    if let Some(existing) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
        preload.push(":");
        preload.push(existing);
    }
    // The trace file is opened once, for appending, at a descriptor every
    // process of the box inherits: one that changes user later still
    // writes to it (see shared_state::trace).
    let trace_fd = match trace.as_ref().map(|path| {
        std::fs::OpenOptions::new().append(true).create(true).truncate(false).open(path).and_then(|file| {
            file.set_len(0)?;
            shared_state::sys::dup_high(std::os::fd::AsRawFd::as_raw_fd(&file), REGION_FD_FLOOR)
                .map_err(std::io::Error::from_raw_os_error)
        })
    }) {
        None => None,
        Some(Ok(fd)) => Some(fd),
        Some(Err(e)) => return fail(format!("--trace: cannot create the trace file: {e}")),
    };
    let mut child = Command::new(&command[0]);
    if let Some(fd) = trace_fd {
        child.env("IPCBOX_TRACE_FD", fd.to_string()).env_remove("IPCBOX_TRACE");
    }
    if *strict {
        // The shim then answers SysV calls made past libc (see shim/src/trap.rs).
        child.env("IPCBOX_STRICT", "1");
    }
    child
        .args(&command[1..])
        .env("LD_PRELOAD", preload)
        .env("IPCBOX_FD", box_fd.to_string())
        .env("IPCBOX_ID", format!("{:x}", namespace.region().box_id()));
    // The child starts with the caller's mask, not the blocked one, and
    // under --strict with the filter.
    // SAFETY: the closure runs in the child between fork and exec and calls
    // only pthread_sigmask and prctl, which are async-signal-safe.
    let filter = strict.then(shared_state::seccomp::launcher_filter);
    unsafe {
        child.pre_exec(move || {
            restore_signal_mask(&previous_mask);
            match &filter {
                Some(filter) => shared_state::seccomp::install(filter).map_err(std::io::Error::from_raw_os_error),
                None => Ok(()),
            }
        })
    };
    let spawned = child.spawn();
    if let Ok(child) = &spawned {
        CHILD.store(child.id() as i32, Ordering::Relaxed);
    }
    restore_signal_mask(&previous_mask);
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let code = if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
            eprintln!("ipcbox: cannot run {}: {e}", command[0].to_string_lossy());
            return ExitCode::from(code);
        }
    };
    // SAFETY: closing our copies; the box holds its own.
    unsafe { libc::close(box_fd) };
    if let Some(fd) = trace_fd {
        // SAFETY: as above.
        unsafe { libc::close(fd) };
    }
    let status = loop {
        match child.wait() {
            Ok(status) => break status,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return fail(format!("waiting for the command failed: {e}")),
        }
    };
    if let Some(named) = &named {
        named.leave(&namespace);
    }
    drop(namespace);
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitCode::from(code as u8),
        (None, Some(sig)) => ExitCode::from(128 + sig as u8),
        _ => ExitCode::from(EXIT_IPCBOX_FAILED),
    }
}
