//! The command line of ipcbox, as clap defines it: parsed by `main`, and
//! read by `examples/share.rs`, which generates the man pages and shell
//! completions from it (so they say what `--help` says).

use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "ipcbox",
    version,
    about = "Run programs in a private System V IPC namespace, without root.",
    long_about = "Run programs in a private System V IPC namespace, without root.\n\n\
        Every process started under `ipcbox run` (children, grandchildren, across fork and exec) \
        shares one private set of System V shared memory segments, semaphore sets and message queues, invisible to \
        the host and to other boxes, and gone when the last process of the box exits.",
    after_help = "Examples:\n  ipcbox run -- ./my-test-suite\n  ipcbox run -- sh -c './server & ./client'\n  \
        ipcbox run --name demo -- ./server    (then, elsewhere: ipcbox run --name demo -- ./client)\n  \
        ipcbox run --limit msgmni=64 --trace /tmp/ipc.log -- ./my-daemon\n\n\
        Environment:\n  IPCBOX_LIB    path of libipcbox.so (default: ../lib/ipcbox/libipcbox.so from the\n                \
        directory of ipcbox's real path, as installed; else beside ipcbox, as built)\n  \
        IPCBOX_DIR    directory of named boxes (default: /dev/shm/ipcbox-UID)\n  \
        IPCBOX_TRACE  trace file, as --trace (inherited by the box's processes)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Run a command in a box (a new one, or a named one) and exit with its status.
    #[command(
        after_help = "Exit status:\n  the command's, or 128+N if a signal N killed it; 125 if ipcbox itself failed,\n  \
        126 if the command cannot be executed, 127 if it is not found."
    )]
    Run {
        /// Set one of the box's limits (repeatable); the defaults are Linux's.
        /// NAME is a System V IPC sysctl: shmmax, shmall, shmmni, msgmax,
        /// msgmnb, msgmni, sem (four values, SEMMSL,SEMMNS,SEMOPM,SEMMNI),
        /// or one of sem's values: semmsl, semmns, semopm, semmni. Inside the
        /// box, /proc/sys/kernel/NAME reads and sets the same limit.
        #[arg(long = "limit", value_name = "NAME=VALUE")]
        limits: Vec<String>,
        /// Let no System V IPC system call reach the host's namespace, through
        /// seccomp filters: one made past libc by a program that has the box's
        /// library (a raw system call, a runtime such as Go's) is answered by
        /// the box; one from a program without it (static, setuid) fails with
        /// ENOSYS. Programs of another ABI (32-bit) cannot run, and setuid
        /// programs run without their privileges (no_new_privs).
        #[arg(long)]
        strict: bool,
        /// Log every call the box answers to FILE, one line each in the
        /// manner of strace (PID, call, arguments, result); FILE is emptied
        /// first. Setting IPCBOX_TRACE=FILE in the environment does the same.
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
        /// Create box NAME, or join it if it exists, so that other process
        /// trees can join it too (`ipcbox run --name NAME` elsewhere). It
        /// disappears when its last process exits, unless --keep.
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// With --name: keep the box after its last process exits, until
        /// `ipcbox rm NAME`.
        #[arg(long, requires = "name")]
        keep: bool,
        /// The command and its arguments (put them after `--`).
        #[arg(required = true, trailing_var_arg = true, value_name = "COMMAND")]
        command: Vec<OsString>,
    },
    /// List your named boxes: whether a process is in each, and their objects.
    Ls,
    /// Show a named box's objects from outside it, as ipcs does.
    Ipcs {
        /// The box's name.
        name: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a named box: its name goes at once; processes still in it go on.
    Rm {
        /// The box's name.
        name: String,
    },
}
