//! shared-state: an ipcbox namespace, as plain Rust over one shared region.
//!
//! A box is one memfd (the region) that every process of the box maps. It
//! holds all System V IPC objects of the box: slot tables with Linux-style
//! ids, a key index per facility, per-box limits, the process table, and the
//! data of shared memory segments. Each process reaches it through a
//! `Namespace`, which adds the process's private view of its own state.
//!
//! Modules, from the bottom up:
//! - `sys`: direct system calls (never through interposable libc functions).
//! - `usercopy`: copies from and to callers' pointers: EFAULT, not a crash.
//! - `lock`: robust, process-shared locks that survive their holder's death.
//! - `abi`: the C structures and constants of the Linux API.
//! - `cred`: credentials and Linux's permission rules.
//! - `region`: the memfd layout, its versioned header, creation and attachment.
//! - `table`: slot tables: ids, keys, allocation, lookup without global locks.
//! - `procs`: the process table, liveness of box processes, and the death
//!   watch that tells a call in two loads whether anyone died.
//! - `ns`: a process's handle on its box, fork and exec bookkeeping, repair
//!   after death.
//! - `heap`: variable-size blocks in the region.
//! - `interrupt`: knowing that a signal handler ran (EINTR for waiters).
//! - `magazine`: per-process caches of free blocks, for message streams.
//! - `shm`: shared memory segments (`shm::remap`: remap_file_pages and
//!   mremap on attachments).
//! - `wait`: sleeping on a futex in the region until another process acts.
//! - `sem`: semaphore sets, waiters and SEM_UNDO.
//! - `msg`: message queues, their messages and sleepers.
//! - `procfs`: the box's /proc/sysvipc files and IPC sysctls.
//! - `supervise`: the supervisor's prompt repair after deaths.
//! - `seccomp`: the filters of `ipcbox run --strict`.
//! - `trace`: one line per call answered, for `ipcbox run --trace`.
//! - `dispatch`: every SysV call by system call number, traced.
//! - `check`: the region's invariants, checked on demand.
//! - `collect`: holds, and the collection of blocks lost to deaths.
//! - `faults`: points where tests make a process die mid-call.
//!
//! Nothing here interposes symbols; the shim crate maps C calls onto
//! `Namespace` methods, which return `Err(errno)` exactly as Linux would.

pub mod abi;
pub mod check;
pub mod collect;
pub mod cred;
pub mod dispatch;
pub mod faults;
pub mod heap;
pub mod interrupt;
pub mod lock;
pub mod magazine;
pub mod msg;
pub mod ns;
pub mod procfs;
pub mod procs;
pub mod region;
pub mod seccomp;
pub mod sem;
pub mod shm;
pub mod supervise;
pub mod sys;
pub mod table;
pub mod trace;
pub mod usercopy;
pub mod wait;

pub use ns::Namespace;
pub use region::{LimitValues, Region, RegionError};
