//! System V IPC calls by system call number and argument words: the one
//! entry through which every way of making a call reaches the box (the
//! shim's libc functions, `syscall()`, a system call trapped under
//! `--strict`; a supervisor answering seccomp user notifications could use
//! it too, given the caller's memory), so that all of them behave, and are
//! traced, alike.
//!
//! Owns: the mapping from numbers to `Namespace` methods, the conversion of
//! argument words to their C types (as the kernel's system call entry
//! converts them: an `int` is the low 32 bits of its register), and the
//! trace line of each call.

use crate::sem::{semctl_takes_arg, SETVAL};
use crate::trace;
use crate::Namespace;

/// Makes System V IPC system call `number` on the box with argument words
/// `args`: its return value (a pointer, for shmat), or Err(errno). None if
/// `number` is not one.
#[inline(always)]
pub fn call(ns: &Namespace, number: libc::c_long, args: [usize; 6]) -> Option<Result<usize, i32>> {
    let int = |i: usize| args[i] as i32;
    // The formatting stays out of line, so that the uncontended paths
    // (a lock-free semop) inline into their callers.
    #[cold]
    #[inline(never)]
    fn emit(line: impl FnOnce() -> String) {
        trace::emit(&line());
    }
    macro_rules! traced {
        ($line:expr) => {
            if trace::enabled() {
                emit($line);
            }
        };
    }
    let as_word = |r: Result<i32, i32>| r.map(|v| v as isize as usize);
    Some(match number {
        libc::SYS_shmget => {
            let (key, size, flags) = (int(0), args[1], int(2));
            let r = ns.shmget(key, size, flags);
            traced!(move || {
                let flags = trace::flags(flags, &trace::SHMGET_FLAGS, 0o777);
                format!("shmget({}, {size}, {flags}){}", trace::key(key), trace::result(&r))
            });
            as_word(r)
        }
        libc::SYS_shmat => {
            let (id, addr, flags) = (int(0), args[1], int(2));
            let r = ns.shmat(id, addr, flags);
            traced!(move || {
                let shown = trace::flags(flags, &trace::SHMAT_FLAGS, 0);
                let result = trace::result(&r.map(trace::pointer));
                format!("shmat({id}, {}, {shown}){result}", trace::pointer(addr))
            });
            r
        }
        libc::SYS_shmdt => {
            let addr = args[0];
            let r = ns.shmdt(addr).map(|()| 0);
            traced!(move || format!("shmdt({}){}", trace::pointer(addr), trace::result(&r)));
            as_word(r)
        }
        libc::SYS_shmctl => {
            let (id, cmd, buf) = (int(0), int(1), args[2]);
            let r = ns.shmctl(id, cmd, buf);
            traced!(move || {
                format!("shmctl({id}, {}, {}){}", trace::command('m', cmd), trace::pointer(buf), trace::result(&r))
            });
            as_word(r)
        }
        libc::SYS_semget => {
            let (key, nsems, flags) = (int(0), int(1), int(2));
            let r = ns.semget(key, nsems, flags);
            traced!(move || {
                let flags = trace::flags(flags, &trace::GET_FLAGS, 0o777);
                format!("semget({}, {nsems}, {flags}){}", trace::key(key), trace::result(&r))
            });
            as_word(r)
        }
        libc::SYS_semop => {
            let (id, ops, nsops) = (int(0), args[1], args[2]);
            let r = ns.semtimedop(id, ops, nsops, 0);
            traced!(move || format!("semop({id}, {}, {nsops}){}", trace::sembufs(ops, nsops), trace::result(&r)));
            as_word(r)
        }
        libc::SYS_semtimedop => {
            let (id, ops, nsops, timeout) = (int(0), args[1], args[2], args[3]);
            let r = ns.semtimedop(id, ops, nsops, timeout);
            traced!(move || {
                let (shown, timeout) = (trace::sembufs(ops, nsops), trace::timespec(timeout));
                format!("semtimedop({id}, {shown}, {nsops}, {timeout}){}", trace::result(&r))
            });
            as_word(r)
        }
        libc::SYS_semctl => {
            let (id, num, cmd, arg) = (int(0), int(1), int(2), args[3]);
            let r = ns.semctl(id, num, cmd, arg);
            traced!(move || {
                let arg = match semctl_takes_arg(cmd) {
                    Some(true) if cmd == SETVAL => format!(", {}", arg as i32),
                    Some(true) => format!(", {}", trace::pointer(arg)),
                    _ => String::new(),
                };
                format!("semctl({id}, {num}, {}{arg}){}", trace::command('s', cmd), trace::result(&r))
            });
            as_word(r)
        }
        libc::SYS_msgget => {
            let (key, flags) = (int(0), int(1));
            let r = ns.msgget(key, flags);
            traced!(move || {
                let flags = trace::flags(flags, &trace::GET_FLAGS, 0o777);
                format!("msgget({}, {flags}){}", trace::key(key), trace::result(&r))
            });
            as_word(r)
        }
        libc::SYS_msgsnd => {
            let (id, msgp, msgsz, flags) = (int(0), args[1], args[2], int(3));
            let r = ns.msgsnd(id, msgp, msgsz, flags);
            traced!(move || {
                let (message, flags) = (trace::message(msgp, msgsz), trace::flags(flags, &trace::MSG_FLAGS, 0));
                format!("msgsnd({id}, {message}, {msgsz}, {flags}){}", trace::result(&r))
            });
            as_word(r)
        }
        libc::SYS_msgrcv => {
            let (id, msgp, msgsz, msgtyp, flags) = (int(0), args[1], args[2], args[3] as libc::c_long, int(4));
            let r = ns.msgrcv(id, msgp, msgsz, msgtyp, flags);
            traced!(move || {
                let message = match r {
                    Ok(n) => trace::message(msgp, n as usize),
                    Err(_) => trace::pointer(msgp),
                };
                let flags = trace::flags(flags, &trace::MSG_FLAGS, 0);
                format!("msgrcv({id}, {message}, {msgsz}, {msgtyp}, {flags}){}", trace::result(&r))
            });
            r.map(|n| n as usize)
        }
        libc::SYS_msgctl => {
            let (id, cmd, buf) = (int(0), int(1), args[2]);
            let r = ns.msgctl(id, cmd, buf);
            traced!(move || {
                format!("msgctl({id}, {}, {}){}", trace::command('q', cmd), trace::pointer(buf), trace::result(&r))
            });
            as_word(r)
        }
        _ => return None,
    })
}
