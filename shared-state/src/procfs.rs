//! The box's own view of the procfs files that describe System V IPC:
//! `/proc/sysvipc/{shm,sem,msg}` (what `ipcs` reads) and the IPC sysctls
//! under `/proc/sys/kernel` (the limits, which a write changes for the box
//! alone, as it would for a Linux IPC namespace).
//!
//! Owns: the files' paths, their text in Linux's exact format, and the
//! parsing and checking of sysctl writes (Linux's `proc_dointvec_minmax`,
//! `proc_doulongvec_minmax` and the `sem` vector's rules). The shim opens a
//! memory file with this text in place of the real one.
//!
//! Locking: the objects' rows come from the facilities' `*_STAT_ANY`
//! commands, one object at a time under its own locks, as Linux's procfs
//! walk shows each object as it is when reached. Limits are atomics.

use crate::abi::*;
use crate::ns::Namespace;
use crate::region::IPCMNI;
use crate::sys::SysResult;
use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// One of the files the box answers for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcFile {
    SysvipcShm,
    SysvipcSem,
    SysvipcMsg,
    Sysctl(Sysctl),
}

/// An IPC sysctl of `/proc/sys/kernel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sysctl {
    Shmmax,
    Shmall,
    Shmmni,
    Sem,
    Msgmax,
    Msgmnb,
    Msgmni,
    /// Destroy segments as soon as nothing holds them (0 or 1).
    ShmRmidForced,
    /// Obsolete: reads 0, takes 0 or 1 and ignores it.
    AutoMsgmni,
    /// The id the next object of a facility gets (checkpoint/restore).
    NextId(Facility),
}

/// A facility, for the sysctls that come once for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Facility {
    Shm,
    Sem,
    Msg,
}

impl ProcFile {
    /// The file an absolute path names, if the box answers for it.
    pub fn of_path(path: &[u8]) -> Option<ProcFile> {
        Some(match path {
            b"/proc/sysvipc/shm" => ProcFile::SysvipcShm,
            b"/proc/sysvipc/sem" => ProcFile::SysvipcSem,
            b"/proc/sysvipc/msg" => ProcFile::SysvipcMsg,
            b"/proc/sys/kernel/shmmax" => ProcFile::Sysctl(Sysctl::Shmmax),
            b"/proc/sys/kernel/shmall" => ProcFile::Sysctl(Sysctl::Shmall),
            b"/proc/sys/kernel/shmmni" => ProcFile::Sysctl(Sysctl::Shmmni),
            b"/proc/sys/kernel/sem" => ProcFile::Sysctl(Sysctl::Sem),
            b"/proc/sys/kernel/msgmax" => ProcFile::Sysctl(Sysctl::Msgmax),
            b"/proc/sys/kernel/msgmnb" => ProcFile::Sysctl(Sysctl::Msgmnb),
            b"/proc/sys/kernel/msgmni" => ProcFile::Sysctl(Sysctl::Msgmni),
            b"/proc/sys/kernel/shm_rmid_forced" => ProcFile::Sysctl(Sysctl::ShmRmidForced),
            b"/proc/sys/kernel/auto_msgmni" => ProcFile::Sysctl(Sysctl::AutoMsgmni),
            b"/proc/sys/kernel/shm_next_id" => ProcFile::Sysctl(Sysctl::NextId(Facility::Shm)),
            b"/proc/sys/kernel/sem_next_id" => ProcFile::Sysctl(Sysctl::NextId(Facility::Sem)),
            b"/proc/sys/kernel/msg_next_id" => ProcFile::Sysctl(Sysctl::NextId(Facility::Msg)),
            _ => return None,
        })
    }

    /// Whether a caller with effective uid `euid` and effective capability
    /// set `caps` may open the file for writing (Linux's `ipc_permissions`
    /// with `proc_sys_permission`): the sysctls are root's (mode 0644, no
    /// capability overrides that), except the next_id files, which need
    /// CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN. The sysvipc files are
    /// read-only (mode 0444): a process that may override file modes
    /// (CAP_DAC_OVERRIDE) opens one for writing, and its writes fail with EIO.
    pub fn may_open_for_writing(self, euid: u32, caps: u64) -> bool {
        const CAP_DAC_OVERRIDE: u32 = 1;
        const CAP_CHECKPOINT_RESTORE: u32 = 40;
        let has = |cap: u32| caps & (1 << cap) != 0;
        match self {
            ProcFile::Sysctl(Sysctl::NextId(_)) => has(CAP_SYS_ADMIN) || has(CAP_CHECKPOINT_RESTORE),
            ProcFile::Sysctl(_) => euid == 0,
            _ => has(CAP_DAC_OVERRIDE),
        }
    }
}

impl Namespace {
    /// The text of `file` as Linux would show it in this box now.
    pub fn proc_file_text(&self, file: ProcFile) -> String {
        match file {
            ProcFile::SysvipcShm => self.sysvipc_shm_text(),
            ProcFile::SysvipcSem => self.sysvipc_sem_text(),
            ProcFile::SysvipcMsg => self.sysvipc_msg_text(),
            ProcFile::Sysctl(sysctl) => self.sysctl_text(sysctl),
        }
    }

    /// Every segment of the box as (index, id, IPC_STAT data), by slot.
    fn all_segments(&self) -> Vec<(i32, i32, ShmidDs)> {
        // IPC_INFO, not SHM_INFO: the latter counts every segment's resident
        // pages, which the text then counts again line by line.
        let mut info = crate::abi::ShmInfo64::default();
        let max_index = self.shmctl(0, crate::abi::IPC_INFO, &mut info as *mut _ as usize).unwrap_or(-1);
        stat_each(max_index, |index, ds: &mut ShmidDs| self.shmctl(index, SHM_STAT_ANY, ds as *mut ShmidDs as usize))
    }

    /// Every semaphore set of the box as (index, id, IPC_STAT data).
    fn all_sets(&self) -> Vec<(i32, i32, crate::sem::SemidDs)> {
        use crate::sem::{SemInfo, SemidDs, SEM_INFO, SEM_STAT_ANY};
        let mut info = SemInfo::default();
        let max_index = self.semctl(0, 0, SEM_INFO, &mut info as *mut SemInfo as usize).unwrap_or(-1);
        stat_each(max_index, |index, ds: &mut SemidDs| self.semctl(index, 0, SEM_STAT_ANY, ds as *mut SemidDs as usize))
    }

    /// Every message queue of the box as (index, id, IPC_STAT data).
    fn all_queues(&self) -> Vec<(i32, i32, crate::msg::MsqidDs)> {
        use crate::msg::{MsgInfo, MsqidDs, MSG_INFO, MSG_STAT_ANY};
        let mut info = MsgInfo::default();
        let max_index = self.msgctl(0, MSG_INFO, &mut info as *mut MsgInfo as usize).unwrap_or(-1);
        stat_each(max_index, |index, ds: &mut MsqidDs| self.msgctl(index, MSG_STAT_ANY, ds as *mut MsqidDs as usize))
    }

    fn sysvipc_shm_text(&self) -> String {
        let mut text = String::from(
            "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n",
        );
        for (index, id, ds) in self.all_segments() {
            let rss = self.shm_resident_bytes(index as u32);
            let p = &ds.perm;
            let _ = writeln!(
                text,
                "{:10} {:10}  {:4o} {:21} {:5} {:5}  {:5} {:5} {:5} {:5} {:5} {:10} {:10} {:10} {:21} {:21}",
                p.key,
                id,
                p.mode,
                ds.segsz,
                ds.cpid,
                ds.lpid,
                ds.nattch,
                p.uid,
                p.gid,
                p.cuid,
                p.cgid,
                ds.atime as u64,
                ds.dtime as u64,
                ds.ctime as u64,
                rss,
                0
            );
        }
        text
    }

    fn sysvipc_sem_text(&self) -> String {
        let mut text =
            String::from("       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n");
        for (_, id, ds) in self.all_sets() {
            let p = &ds.perm;
            let _ = writeln!(
                text,
                "{:10} {:10}  {:4o} {:10} {:5} {:5} {:5} {:5} {:10} {:10}",
                p.key, id, p.mode, ds.nsems, p.uid, p.gid, p.cuid, p.cgid, ds.otime as u64, ds.ctime as u64
            );
        }
        text
    }

    fn sysvipc_msg_text(&self) -> String {
        let mut text = String::from(
            "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime\n",
        );
        for (_, id, ds) in self.all_queues() {
            let p = &ds.perm;
            let _ = writeln!(
                text,
                "{:10} {:10}  {:4o}  {:10} {:10} {:5} {:5} {:5} {:5} {:5} {:5} {:10} {:10} {:10}",
                p.key,
                id,
                p.mode,
                ds.cbytes,
                ds.qnum,
                ds.lspid,
                ds.lrpid,
                p.uid,
                p.gid,
                p.cuid,
                p.cgid,
                ds.stime as u64,
                ds.rtime as u64,
                ds.ctime as u64
            );
        }
        text
    }

    fn sysctl_text(&self, sysctl: Sysctl) -> String {
        let limits = self.region().limits();
        let value = |cell: &AtomicU64| cell.load(Relaxed);
        match sysctl {
            Sysctl::Shmmax => format!("{}\n", value(&limits.shmmax)),
            Sysctl::Shmall => format!("{}\n", value(&limits.shmall)),
            Sysctl::Shmmni => format!("{}\n", value(&limits.shmmni)),
            Sysctl::Sem => format!(
                "{}\t{}\t{}\t{}\n",
                value(&limits.semmsl),
                value(&limits.semmns),
                value(&limits.semopm),
                value(&limits.semmni)
            ),
            Sysctl::Msgmax => format!("{}\n", value(&limits.msgmax)),
            Sysctl::Msgmnb => format!("{}\n", value(&limits.msgmnb)),
            Sysctl::Msgmni => format!("{}\n", value(&limits.msgmni)),
            Sysctl::ShmRmidForced => format!("{}\n", value(&limits.shm_rmid_forced)),
            Sysctl::AutoMsgmni => "0\n".to_string(),
            Sysctl::NextId(facility) => format!("{}\n", self.next_id_cell(facility).load(Relaxed)),
        }
    }

    fn next_id_cell(&self, facility: Facility) -> &core::sync::atomic::AtomicI32 {
        let region = self.region();
        let header = region.header();
        match facility {
            Facility::Shm => &header.shm.ids.next_id,
            Facility::Sem => &header.sem.ids.next_id,
            Facility::Msg => &header.msg.ids.next_id,
        }
    }

    /// A write of `text` at the start of a sysctl file: the new value(s),
    /// checked as Linux checks them (EINVAL, nothing changed, for text that
    /// is not numbers or a value out of range; for `sem`, see below).
    pub fn write_sysctl(&self, sysctl: Sysctl, text: &[u8]) -> SysResult<()> {
        let limits = self.region().limits();
        let int_max = i32::MAX as u64;
        match sysctl {
            Sysctl::Shmmax | Sysctl::Shmall => {
                let [value] = parse_values::<1>(text, u64::MAX)?;
                let cell = if sysctl == Sysctl::Shmmax { &limits.shmmax } else { &limits.shmall };
                store_given(&[cell], &[value]);
            }
            Sysctl::Shmmni | Sysctl::Msgmni => {
                let [value] = parse_values::<1>(text, int_max)?;
                if value.is_some_and(|v| v > IPCMNI as u64) {
                    return Err(libc::EINVAL);
                }
                let cell = if sysctl == Sysctl::Shmmni { &limits.shmmni } else { &limits.msgmni };
                store_given(&[cell], &[value]);
            }
            Sysctl::Msgmax | Sysctl::Msgmnb => {
                let [value] = parse_values::<1>(text, int_max)?;
                let cell = if sysctl == Sysctl::Msgmax { &limits.msgmax } else { &limits.msgmnb };
                store_given(&[cell], &[value]);
            }
            Sysctl::ShmRmidForced | Sysctl::AutoMsgmni => {
                let [value] = parse_values::<1>(text, 1)?;
                if sysctl == Sysctl::ShmRmidForced {
                    store_given(&[&limits.shm_rmid_forced], &[value]);
                    // Linux destroys the orphans there and then.
                    self.reap_dead();
                    let _shm = self.region().lock_shm()?;
                    self.destroy_orphans_locked(&[]);
                }
            }
            Sysctl::NextId(facility) => {
                let [value] = parse_values::<1>(text, int_max)?;
                if let Some(value) = value {
                    self.next_id_cell(facility).store(value as i32, Relaxed);
                }
            }
            Sysctl::Sem => {
                // Linux stores the four values, then puts SEMMNI back and
                // fails with ERANGE if it is out of range.
                let values = parse_values::<4>(text, int_max)?;
                let cells = [&limits.semmsl, &limits.semmns, &limits.semopm, &limits.semmni];
                let semmni_ok = values[3].is_none_or(|v| v <= IPCMNI as u64);
                let stored = if semmni_ok { values } else { [values[0], values[1], values[2], None] };
                store_given(&cells, &stored);
                if !semmni_ok {
                    return Err(libc::ERANGE);
                }
            }
        }
        Ok(())
    }
}

/// One object of a box, as `ipcs` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRow {
    /// "shm", "sem" or "msg".
    pub facility: &'static str,
    pub key: i32,
    pub id: i32,
    pub uid: u32,
    /// Permission bits, with SHM_DEST and SHM_LOCKED for segments.
    pub mode: u32,
    /// Segment bytes, semaphores in the set, or bytes queued.
    pub size: u64,
    /// Attachments of a segment, messages in a queue (0 for a set).
    pub count: u64,
}

impl Namespace {
    /// Every object of the box, segments first, then sets, then queues,
    /// each by slot (what `ipcbox ipcs` shows from outside the box).
    pub fn objects(&self) -> Vec<ObjectRow> {
        let row = |facility, perm: &IpcPerm, id, size, count| ObjectRow {
            facility,
            key: perm.key,
            id,
            uid: perm.uid,
            mode: perm.mode,
            size,
            count,
        };
        let segments = self.all_segments().into_iter().map(|(_, id, ds)| row("shm", &ds.perm, id, ds.segsz, ds.nattch));
        let sets = self.all_sets().into_iter().map(|(_, id, ds)| row("sem", &ds.perm, id, ds.nsems, 0));
        let queues = self.all_queues().into_iter().map(|(_, id, ds)| row("msg", &ds.perm, id, ds.cbytes, ds.qnum));
        segments.chain(sets).chain(queues).collect()
    }
}

/// The limits `set_limit` knows: the sysctls, and each of `sem`'s four
/// values by its own name.
pub const LIMIT_NAMES: [&str; 11] =
    ["shmmax", "shmall", "shmmni", "sem", "semmsl", "semmns", "semopm", "semmni", "msgmax", "msgmnb", "msgmni"];

impl Namespace {
    /// Sets limit `name` to `value` (for `sem`, four values separated by
    /// commas or blanks), checked as a write to its sysctl is; Err says
    /// what is wrong in words.
    pub fn set_limit(&self, name: &str, value: &str) -> Result<(), String> {
        let sem_position = ["semmsl", "semmns", "semopm", "semmni"].iter().position(|&n| n == name);
        let (sysctl, text) = match (name, sem_position) {
            (_, Some(position)) => {
                let limits = self.region().limits();
                let mut values: Vec<String> = [&limits.semmsl, &limits.semmns, &limits.semopm, &limits.semmni]
                    .iter()
                    .map(|cell| cell.load(Relaxed).to_string())
                    .collect();
                values[position] = value.to_string();
                (Sysctl::Sem, values.join(" "))
            }
            ("sem", _) => (Sysctl::Sem, value.replace(',', " ")),
            _ => {
                let file = format!("/proc/sys/kernel/{name}");
                match ProcFile::of_path(file.as_bytes()) {
                    Some(ProcFile::Sysctl(sysctl)) if LIMIT_NAMES.contains(&name) => (sysctl, value.to_string()),
                    _ => {
                        return Err(format!("{name}={value}: unknown limit {name} (known: {})", LIMIT_NAMES.join(", ")))
                    }
                }
            }
        };
        let range = match name {
            "shmmax" | "shmall" => "0 to 18446744073709551615".to_string(),
            "shmmni" | "msgmni" | "semmni" => format!("0 to {IPCMNI}"),
            "sem" => format!("four numbers, the last 0 to {IPCMNI}"),
            _ => "0 to 2147483647".to_string(),
        };
        // All or nothing: `sem` may take three values and refuse the fourth.
        let before = self.sysctl_text(sysctl);
        self.write_sysctl(sysctl, text.as_bytes()).map_err(|_| {
            let _ = self.write_sysctl(sysctl, before.as_bytes());
            format!("{name}={value}: not a valid value ({range})")
        })
    }
}

/// `stat(index, &mut ds)` for every index up to `max_index`: the objects
/// found, as (index, id, data).
fn stat_each<T: Default>(max_index: i32, stat: impl Fn(i32, &mut T) -> SysResult<i32>) -> Vec<(i32, i32, T)> {
    (0..=max_index)
        .filter_map(|index| {
            let mut ds = T::default();
            stat(index, &mut ds).ok().map(|id| (index, id, ds))
        })
        .collect()
}

fn store_given(cells: &[&AtomicU64], values: &[Option<u64>]) {
    for (cell, value) in cells.iter().zip(values) {
        if let Some(value) = value {
            cell.store(*value, Relaxed);
        }
    }
}

/// Up to N whitespace-separated decimal values, each at most `max` (Linux's
/// `proc_do*vec_minmax`): None for those not given. EINVAL for anything
/// else, a negative value, one out of range, or none at all.
fn parse_values<const N: usize>(text: &[u8], max: u64) -> SysResult<[Option<u64>; N]> {
    let text = core::str::from_utf8(text).map_err(|_| libc::EINVAL)?;
    let text = text.trim_end_matches('\0');
    let mut values = [None; N];
    let mut words = text.split_ascii_whitespace();
    for value in values.iter_mut() {
        let Some(word) = words.next() else { break };
        let parsed: u64 = word.strip_prefix('+').unwrap_or(word).parse().map_err(|_| libc::EINVAL)?;
        if parsed > max {
            return Err(libc::EINVAL);
        }
        *value = Some(parsed);
    }
    if values[0].is_none() {
        return Err(libc::EINVAL);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_as_linux_does() {
        assert_eq!(parse_values::<1>(b"5\n", 10), Ok([Some(5)]));
        assert_eq!(parse_values::<1>(b"  7", 10), Ok([Some(7)]));
        assert_eq!(parse_values::<1>(b"11\n", 10), Err(libc::EINVAL));
        assert_eq!(parse_values::<1>(b"-1\n", 10), Err(libc::EINVAL));
        assert_eq!(parse_values::<1>(b"x\n", 10), Err(libc::EINVAL));
        assert_eq!(parse_values::<1>(b"\n", 10), Err(libc::EINVAL));
        assert_eq!(parse_values::<4>(b"1 2\t3\n", 10), Ok([Some(1), Some(2), Some(3), None]));
    }

    #[test]
    fn paths_name_the_files() {
        assert_eq!(ProcFile::of_path(b"/proc/sysvipc/msg"), Some(ProcFile::SysvipcMsg));
        assert_eq!(ProcFile::of_path(b"/proc/sys/kernel/sem"), Some(ProcFile::Sysctl(Sysctl::Sem)));
        assert_eq!(ProcFile::of_path(b"/proc/sys/kernel/shmmax2"), None);
        assert!(!ProcFile::SysvipcShm.may_open_for_writing(0, 0));
        assert!(ProcFile::SysvipcShm.may_open_for_writing(1000, 1 << 1));
        assert!(ProcFile::Sysctl(Sysctl::Msgmni).may_open_for_writing(0, 0));
        assert!(!ProcFile::Sysctl(Sysctl::Msgmni).may_open_for_writing(1000, u64::MAX));
        assert!(!ProcFile::Sysctl(Sysctl::NextId(Facility::Msg)).may_open_for_writing(0, 0));
    }
}
