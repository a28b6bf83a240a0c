//! Direct system calls.
//!
//! Owns: every system call ipcbox makes on its own behalf.
//!
//! Why: the shim is preloaded into arbitrary programs, next to other preload
//! libraries that may wrap `open`, fake `geteuid`, or (from issue 6 on) even
//! `syscall()` itself, which ipcbox will interpose. Going through libc for our
//! own work would let those wrappers change what we see, or recurse into us.
//! So every call here is an inline `svc`/`syscall` instruction.
//!
//! Invariants: functions return `Err(errno)` with the positive errno value on
//! failure; nothing here touches the C `errno` variable.

use core::arch::asm;

pub type Errno = i32;
pub type SysResult<T> = Result<T, Errno>;

/// Issues a raw system call with up to six arguments.
///
/// # Safety
/// The caller guarantees that the arguments are valid for `nr`
/// (pointers point to memory of the size the kernel will access).
#[inline(always)]
pub unsafe fn syscall6(nr: i64, a: [usize; 6]) -> isize {
    let ret: isize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the x86_64 Linux syscall ABI: rax = nr, args in rdi, rsi, rdx,
    // r10, r8, r9; rcx and r11 are clobbered by the instruction.
    unsafe {
        asm!("syscall",
            inlateout("rax") nr as isize => ret,
            in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
            in("r10") a[3], in("r8") a[4], in("r9") a[5],
            lateout("rcx") _, lateout("r11") _,
            options(nostack));
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: the aarch64 Linux syscall ABI: x8 = nr, args in x0..x5,
    // result in x0.
    unsafe {
        asm!("svc 0",
            in("x8") nr,
            inlateout("x0") a[0] as isize => ret,
            in("x1") a[1], in("x2") a[2], in("x3") a[3],
            in("x4") a[4], in("x5") a[5],
            options(nostack));
    }
    ret
}

#[inline(always)]
pub(crate) fn check(ret: isize) -> SysResult<usize> {
    if (-4095..0).contains(&ret) {
        Err((-ret) as Errno)
    } else {
        Ok(ret as usize)
    }
}

macro_rules! sc {
    ($nr:expr) => { sc!($nr, 0, 0, 0, 0, 0, 0) };
    ($nr:expr, $a:expr) => { sc!($nr, $a, 0, 0, 0, 0, 0) };
    ($nr:expr, $a:expr, $b:expr) => { sc!($nr, $a, $b, 0, 0, 0, 0) };
    ($nr:expr, $a:expr, $b:expr, $c:expr) => { sc!($nr, $a, $b, $c, 0, 0, 0) };
    ($nr:expr, $a:expr, $b:expr, $c:expr, $d:expr) => { sc!($nr, $a, $b, $c, $d, 0, 0) };
    ($nr:expr, $a:expr, $b:expr, $c:expr, $d:expr, $e:expr) => { sc!($nr, $a, $b, $c, $d, $e, 0) };
    ($nr:expr, $a:expr, $b:expr, $c:expr, $d:expr, $e:expr, $f:expr) => {
        check(syscall6($nr as i64, [$a as usize, $b as usize, $c as usize, $d as usize, $e as usize, $f as usize]))
    };
}

/// The kernel's `struct sigaction` for rt_sigaction.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct KernelSigaction {
    pub handler: usize,
    pub flags: u64,
    pub restorer: usize,
    pub mask: u64,
}

const SA_RESTORER: u64 = 0x0400_0000;

#[cfg(target_arch = "x86_64")]
extern "C" {
    /// rt_sigreturn, for SA_RESTORER (defined with the copy routines in `usercopy`).
    static ipcbox_restore_rt: u8;
}

/// rt_sigaction(2) straight to the kernel; whether it succeeded.
pub fn rt_sigaction(sig: i32, new: Option<&KernelSigaction>, old: Option<&mut KernelSigaction>) -> bool {
    let new = new.map_or(0, |a| a as *const KernelSigaction as usize);
    let old = old.map_or(0, |a| a as *mut KernelSigaction as usize);
    // SAFETY: both pointers are null or point at a KernelSigaction; the mask is 8 bytes.
    unsafe { syscall6(libc::SYS_rt_sigaction, [sig as usize, new, old, 8, 0, 0]) >= 0 }
}

/// An SA_SIGINFO action that runs `handler`, with `flags` added, and on
/// x86_64 the restorer the kernel requires there.
pub fn handler_action(handler: usize, flags: u64) -> KernelSigaction {
    let flags = libc::SA_SIGINFO as u64 | flags;
    #[cfg(target_arch = "x86_64")]
    let (flags, restorer) = (flags | SA_RESTORER, core::ptr::addr_of!(ipcbox_restore_rt) as usize);
    #[cfg(not(target_arch = "x86_64"))]
    let restorer = 0;
    KernelSigaction { handler, flags, restorer, mask: 0 }
}

pub fn getpid() -> i32 {
    // SAFETY: no arguments.
    unsafe { sc!(libc::SYS_getpid) }.unwrap_or(0) as i32
}
pub fn gettid() -> i32 {
    // SAFETY: no arguments.
    unsafe { sc!(libc::SYS_gettid) }.unwrap_or(0) as i32
}
pub fn geteuid() -> u32 {
    // SAFETY: no arguments.
    unsafe { sc!(libc::SYS_geteuid) }.unwrap_or(0) as u32
}
pub fn getegid() -> u32 {
    // SAFETY: no arguments.
    unsafe { sc!(libc::SYS_getegid) }.unwrap_or(0) as u32
}

/// Supplementary groups of the calling thread.
pub fn getgroups() -> Vec<u32> {
    // SAFETY: a zero size only asks for the count.
    let n = unsafe { sc!(libc::SYS_getgroups, 0, 0) }.unwrap_or(0);
    let mut groups = vec![0u32; n];
    // SAFETY: the buffer holds n gids.
    let got = unsafe { sc!(libc::SYS_getgroups, n, groups.as_mut_ptr()) }.unwrap_or(0);
    groups.truncate(got);
    groups
}

/// The calling thread's effective capability set (bits 0..63).
pub fn effective_caps() -> u64 {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Default, Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut header = Header { version: 0x2008_0522, pid: 0 };
    let mut data = [Data::default(); 2];
    // SAFETY: version 3 headers take two data elements.
    match unsafe { sc!(libc::SYS_capget, &mut header as *mut Header, data.as_mut_ptr()) } {
        Ok(_) => data[0].effective as u64 | (data[1].effective as u64) << 32,
        Err(_) => 0,
    }
}

/// Seconds of CLOCK_REALTIME, through the vDSO (no system call) when the
/// kernel provides one, else with the system call.
pub fn realtime_seconds() -> i64 {
    // The vDSO's time() reads the kernel's own seconds counter, the one
    // ktime_get_real_seconds() gives semop and msgsnd, and is cheaper than
    // any clock_gettime; the coarse clock is the same seconds elsewhere.
    static VDSO_TIME: std::sync::OnceLock<Option<vdso::Time>> = std::sync::OnceLock::new();
    match VDSO_TIME.get_or_init(vdso::time) {
        // SAFETY: the vDSO's time takes a nullable pointer to a time_t.
        Some(time) => unsafe { time(core::ptr::null_mut()) },
        None => clock_now(libc::CLOCK_REALTIME_COARSE).tv_sec,
    }
}

/// Now on `clock`, as the vDSO or the system call says.
pub fn clock_now(clock: libc::clockid_t) -> libc::timespec {
    static VDSO: std::sync::OnceLock<Option<vdso::ClockGettime>> = std::sync::OnceLock::new();
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    match VDSO.get_or_init(vdso::clock_gettime) {
        // SAFETY: the vDSO's clock_gettime takes a clock id and a timespec.
        Some(f) if unsafe { f(clock, &mut ts) } == 0 => {}
        // SAFETY: ts is a valid timespec.
        _ => drop(unsafe { sc!(libc::SYS_clock_gettime, clock, &mut ts as *mut _) }),
    }
    ts
}

/// Finding a function in the vDSO, the kernel's shared object in every
/// process, by walking its ELF dynamic symbol table (DT_HASH gives its size).
mod vdso {
    pub type ClockGettime = unsafe extern "C" fn(libc::clockid_t, *mut libc::timespec) -> i32;

    pub type Time = unsafe extern "C" fn(*mut libc::time_t) -> libc::time_t;

    #[cfg(target_arch = "x86_64")]
    const CLOCK_GETTIME: &[u8] = b"__vdso_clock_gettime";
    #[cfg(target_arch = "aarch64")]
    const CLOCK_GETTIME: &[u8] = b"__kernel_clock_gettime";

    pub fn clock_gettime() -> Option<ClockGettime> {
        // SAFETY: the vDSO's clock_gettime has this signature.
        symbol(CLOCK_GETTIME).map(|at| unsafe { core::mem::transmute::<usize, ClockGettime>(at) })
    }

    /// time(), which only x86's vDSO has.
    pub fn time() -> Option<Time> {
        if cfg!(target_arch = "x86_64") {
            // SAFETY: the vDSO's time has this signature.
            symbol(b"__vdso_time").map(|at| unsafe { core::mem::transmute::<usize, Time>(at) })
        } else {
            None
        }
    }

    #[repr(C)]
    struct Dyn {
        tag: i64,
        value: u64,
    }

    /// The address of the vDSO's function `name`.
    fn symbol(name: &[u8]) -> Option<usize> {
        // SAFETY: getauxval only reads the auxiliary vector.
        let base = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) } as usize;
        if base == 0 {
            return None;
        }
        // SAFETY: the kernel maps a complete, valid ELF image at `base`; every
        // address below is derived from its own headers and stays inside it.
        unsafe {
            let ehdr = &*(base as *const libc::Elf64_Ehdr);
            let phdrs = core::slice::from_raw_parts(
                (base + ehdr.e_phoff as usize) as *const libc::Elf64_Phdr,
                ehdr.e_phnum as usize,
            );
            let load = phdrs.iter().find(|p| p.p_type == libc::PT_LOAD)?;
            let bias = base + load.p_offset as usize - load.p_vaddr as usize;
            let dynamic = phdrs.iter().find(|p| p.p_type == libc::PT_DYNAMIC)?;
            let (mut symtab, mut strtab, mut hash) = (0usize, 0usize, 0usize);
            let mut entry = (base + dynamic.p_offset as usize) as *const Dyn;
            while (*entry).tag != 0 {
                let at = bias + (*entry).value as usize;
                match (*entry).tag {
                    6 => symtab = at,
                    5 => strtab = at,
                    4 => hash = at,
                    _ => {}
                }
                entry = entry.add(1);
            }
            if symtab == 0 || strtab == 0 || hash == 0 {
                return None;
            }
            let count = *((hash + 4) as *const u32) as usize;
            let symbols = core::slice::from_raw_parts(symtab as *const libc::Elf64_Sym, count);
            let symbol = symbols.iter().find(|s| {
                s.st_shndx != 0
                    && core::ffi::CStr::from_ptr((strtab + s.st_name as usize) as *const core::ffi::c_char).to_bytes()
                        == name
            })?;
            Some(bias + symbol.st_value as usize)
        }
    }
}

pub fn memfd_create(name: &core::ffi::CStr, flags: u32) -> SysResult<i32> {
    // SAFETY: name is NUL-terminated.
    unsafe { sc!(libc::SYS_memfd_create, name.as_ptr(), flags) }.map(|fd| fd as i32)
}

pub fn ftruncate(fd: i32, len: u64) -> SysResult<()> {
    // SAFETY: plain integers.
    unsafe { sc!(libc::SYS_ftruncate, fd, len) }.map(drop)
}

/// Grows the file behind `fd` to `len` bytes (a memfd or a tmpfs file of
/// the region) without the SIGXFSZ, fatal by default, that a file size
/// limit (RLIMIT_FSIZE, `ulimit -f`) would bring: a soft limit below `len`
/// is raised to the hard one for the call; EFBIG, and no signal, where even
/// the hard one is below. The kernel's own SysV segments know no such
/// limit; the region's file is a file, so it does.
pub fn grow_file(fd: i32, len: u64) -> SysResult<()> {
    let mut lim = libc::rlimit { rlim_cur: u64::MAX, rlim_max: u64::MAX };
    // SAFETY: lim is writable; pid 0 is the caller.
    let _ = unsafe { sc!(libc::SYS_prlimit64, 0, libc::RLIMIT_FSIZE, 0, &mut lim as *mut libc::rlimit) };
    if len <= lim.rlim_cur {
        return ftruncate(fd, len);
    }
    if len > lim.rlim_max {
        return Err(libc::EFBIG);
    }
    let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
    // SAFETY: both structs are valid for reading; pid 0 is the caller.
    unsafe { sc!(libc::SYS_prlimit64, 0, libc::RLIMIT_FSIZE, &raised as *const libc::rlimit, 0) }?;
    let result = ftruncate(fd, len);
    // SAFETY: as above.
    let _ = unsafe { sc!(libc::SYS_prlimit64, 0, libc::RLIMIT_FSIZE, &lim as *const libc::rlimit, 0) };
    result
}

/// The soft file size limit (RLIMIT_FSIZE), in bytes; u64::MAX for none.
pub fn file_size_limit() -> u64 {
    prlimit_soft(libc::RLIMIT_FSIZE)
}

pub fn punch_hole(fd: i32, offset: u64, len: u64) -> SysResult<()> {
    let mode = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
    // SAFETY: plain integers.
    unsafe { sc!(libc::SYS_fallocate, fd, mode, offset, len) }.map(drop)
}

/// Start of the next data or hole at or after `offset` (`lseek` SEEK_DATA/SEEK_HOLE).
pub fn seek(fd: i32, offset: u64, whence: i32) -> SysResult<u64> {
    // SAFETY: plain integers.
    unsafe { sc!(libc::SYS_lseek, fd, offset, whence) }.map(|o| o as u64)
}

/// # Safety
/// As mmap(2); with MAP_FIXED the caller owns the range being replaced.
pub unsafe fn mmap(addr: usize, len: usize, prot: i32, flags: i32, fd: i32, off: u64) -> SysResult<usize> {
    // SAFETY: forwarded to the caller's contract.
    unsafe { sc!(libc::SYS_mmap, addr, len, prot, flags, fd, off) }
}

/// # Safety
/// The caller owns the range: nothing still uses it.
pub unsafe fn munmap(addr: usize, len: usize) -> SysResult<()> {
    // SAFETY: forwarded to the caller's contract.
    unsafe { sc!(libc::SYS_munmap, addr, len) }.map(drop)
}

/// # Safety
/// As mremap(2): the caller owns the ranges it moves or replaces.
pub unsafe fn mremap(old: usize, old_len: usize, new_len: usize, flags: i32, new_addr: usize) -> SysResult<usize> {
    // SAFETY: forwarded to the caller's contract.
    unsafe { sc!(libc::SYS_mremap, old, old_len, new_len, flags, new_addr) }
}

/// # Safety
/// As remap_file_pages(2): the caller owns the range whose pages it changes.
pub unsafe fn remap_file_pages(
    start: usize,
    len: usize,
    prot: usize,
    page_offset: usize,
    flags: usize,
) -> SysResult<()> {
    // SAFETY: forwarded to the caller's contract.
    unsafe { sc!(libc::SYS_remap_file_pages, start, len, prot, page_offset, flags) }.map(drop)
}

/// One line of /proc/self/maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub start: usize,
    pub end: usize,
    /// "rwxs" / "r--p" as the kernel writes them.
    pub perms: [u8; 4],
    /// File offset of `start`.
    pub offset: u64,
    pub dev: u64,
    pub inode: u64,
}

impl Mapping {
    fn parse(line: &[u8]) -> Option<Mapping> {
        let text = core::str::from_utf8(line).ok()?;
        let mut fields = text.split_ascii_whitespace();
        let (start, end) = fields.next()?.split_once('-')?;
        let perms: [u8; 4] = fields.next()?.as_bytes().try_into().ok()?;
        let offset = u64::from_str_radix(fields.next()?, 16).ok()?;
        let (major, minor) = fields.next()?.split_once(':')?;
        Some(Mapping {
            start: usize::from_str_radix(start, 16).ok()?,
            end: usize::from_str_radix(end, 16).ok()?,
            perms,
            offset,
            dev: libc::makedev(u32::from_str_radix(major, 16).ok()?, u32::from_str_radix(minor, 16).ok()?),
            inode: fields.next()?.parse().ok()?,
        })
    }

    /// mmap's protection bits for `perms`.
    pub fn prot(&self) -> i32 {
        let bit = |i: usize, c: u8, prot: i32| if self.perms[i] == c { prot } else { 0 };
        bit(0, b'r', libc::PROT_READ) | bit(1, b'w', libc::PROT_WRITE) | bit(2, b'x', libc::PROT_EXEC)
    }

    /// File offset of `addr`, which lies in the mapping.
    pub fn offset_of(&self, addr: usize) -> u64 {
        self.offset + (addr - self.start) as u64
    }
}

/// The mappings of this process that overlap [start, end), in address
/// order, read from /proc/self/maps without libc. None if it cannot be read.
pub fn mappings_in(start: usize, end: usize) -> Option<Vec<Mapping>> {
    // SAFETY: the path is NUL-terminated.
    let fd =
        unsafe { sc!(libc::SYS_openat, libc::AT_FDCWD, c"/proc/self/maps".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) }
            .ok()? as i32;
    let (mut buf, mut found) = (vec![0u8; 16384], Vec::new());
    let (mut filled, mut done) = (0, false);
    while !done {
        // SAFETY: the rest of buf is writable for its length.
        let n = match unsafe { sc!(libc::SYS_read, fd, buf[filled..].as_mut_ptr(), buf.len() - filled) } {
            Ok(n) => n,
            Err(libc::EINTR) => continue,
            Err(_) => {
                let _ = close(fd);
                return None;
            }
        };
        filled += n;
        done = n == 0;
        let mut consumed = 0;
        while let Some(newline) = buf[consumed..filled].iter().position(|&b| b == b'\n') {
            let line = &buf[consumed..consumed + newline];
            consumed += newline + 1;
            let Some(mapping) = Mapping::parse(line) else { continue };
            if mapping.start >= end {
                done = true;
                break;
            }
            if mapping.end > start {
                found.push(mapping);
            }
        }
        buf.copy_within(consumed..filled, 0);
        filled -= consumed;
        if filled == buf.len() {
            // A line longer than the buffer (a very long path): grow.
            buf.resize(buf.len() * 2, 0);
        }
    }
    let _ = close(fd);
    Some(found)
}

pub fn fstat(fd: i32) -> SysResult<libc::stat> {
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: st is a valid, writable stat.
    unsafe { sc!(libc::SYS_fstat, fd, &mut st as *mut libc::stat) }.map(|_| st)
}

pub fn fcntl(fd: i32, cmd: i32, arg: usize) -> SysResult<usize> {
    // SAFETY: the commands used here take integer arguments.
    unsafe { sc!(libc::SYS_fcntl, fd, cmd, arg) }
}

/// A copy of `fd` (inheritable) at the lowest free number from `floor`, out
/// of the way of the small numbers programs expect from open(); where a
/// descriptor limit (`ulimit -n`) is at or below `floor`, or leaves nothing
/// free above it, at the highest free number the limit allows.
pub fn dup_high(fd: i32, floor: usize) -> SysResult<i32> {
    match fcntl(fd, libc::F_DUPFD, floor) {
        Ok(copy) => return Ok(copy as i32),
        Err(libc::EINVAL | libc::EMFILE) => {}
        Err(e) => return Err(e),
    }
    let limit = prlimit_soft(libc::RLIMIT_NOFILE).min(floor as u64) as usize;
    for candidate in (3..limit).rev() {
        match fcntl(fd, libc::F_DUPFD, candidate) {
            Ok(copy) => return Ok(copy as i32),
            Err(libc::EMFILE) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(libc::EMFILE)
}

/// A new read-only descriptor for the file behind `fd`.
pub fn reopen_read_only(fd: i32) -> SysResult<i32> {
    let path = std::ffi::CString::new(format!("/proc/self/fd/{fd}")).expect("no NUL in a number");
    // SAFETY: path is NUL-terminated.
    unsafe { sc!(libc::SYS_openat, libc::AT_FDCWD, path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) }
        .map(|fd| fd as i32)
}

pub fn pread(fd: i32, buf: &mut [u8], offset: u64) -> SysResult<usize> {
    // SAFETY: buf is writable for its length.
    unsafe { sc!(libc::SYS_pread64, fd, buf.as_mut_ptr(), buf.len(), offset) }
}

pub fn pwrite(fd: i32, buf: &[u8], offset: u64) -> SysResult<usize> {
    // SAFETY: buf is readable for its length.
    unsafe { sc!(libc::SYS_pwrite64, fd, buf.as_ptr(), buf.len(), offset) }
}

/// How many CPUs this thread may run on (its affinity mask), at least 1.
pub fn cpus_allowed() -> u32 {
    let mut mask = [0u64; 16];
    // SAFETY: the mask is writable for its length; the kernel writes at most that.
    match unsafe { sc!(libc::SYS_sched_getaffinity, 0, core::mem::size_of_val(&mask), mask.as_mut_ptr()) } {
        Ok(_) => mask.iter().map(|word| word.count_ones()).sum::<u32>().max(1),
        // A mask wider than 1024 CPUs: many, whatever the count.
        Err(_) => u32::MAX,
    }
}

/// Lets another runnable thread have this core.
pub fn sched_yield() {
    // SAFETY: no arguments.
    let _ = unsafe { sc!(libc::SYS_sched_yield) };
}

pub fn close(fd: i32) -> SysResult<()> {
    // SAFETY: plain integer.
    unsafe { sc!(libc::SYS_close, fd) }.map(drop)
}

/// Reads a whole small file (a /proc entry) without libc.
pub fn read_file(path: &core::ffi::CStr, buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: path is NUL-terminated.
    let fd = unsafe { sc!(libc::SYS_openat, libc::AT_FDCWD, path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) }? as i32;
    let mut total = 0;
    let result = loop {
        if total == buf.len() {
            break Ok(total);
        }
        let rest = &mut buf[total..];
        // SAFETY: rest is writable for its length.
        match unsafe { sc!(libc::SYS_read, fd, rest.as_mut_ptr(), rest.len()) } {
            Ok(0) => break Ok(total),
            Ok(n) => total += n,
            Err(libc::EINTR) => {}
            Err(e) => break Err(e),
        }
    };
    let _ = close(fd);
    result
}

pub fn prlimit_soft(resource: u32) -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: lim is writable; pid 0 is the caller.
    match unsafe { sc!(libc::SYS_prlimit64, 0, resource, 0, &mut lim as *mut libc::rlimit) } {
        Ok(_) => lim.rlim_cur,
        Err(_) => u64::MAX,
    }
}

pub fn sysinfo() -> SysResult<libc::sysinfo> {
    // SAFETY: an all-zero sysinfo is valid to overwrite.
    let mut info: libc::sysinfo = unsafe { core::mem::zeroed() };
    // SAFETY: info is writable.
    unsafe { sc!(libc::SYS_sysinfo, &mut info as *mut libc::sysinfo) }.map(|_| info)
}

std::thread_local! {
    /// This thread's stack as [low, high), found once per thread.
    static STACK: core::cell::Cell<(usize, usize)> = const { core::cell::Cell::new((0, 0)) };
}

fn thread_stack() -> (usize, usize) {
    STACK.with(|cell| {
        if cell.get().1 == 0 {
            // SAFETY: attr is initialised by pthread_getattr_np before use and
            // destroyed after; the out-pointers are valid.
            unsafe {
                let mut attr: libc::pthread_attr_t = core::mem::zeroed();
                if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) == 0 {
                    let (mut addr, mut size) = (core::ptr::null_mut(), 0usize);
                    if libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0 {
                        cell.set((addr as usize, addr as usize + size));
                    }
                    libc::pthread_attr_destroy(&mut attr);
                }
            }
        }
        cell.get()
    })
}

/// Whether [addr, addr + len) lies in the live part of this thread's stack:
/// between the current stack pointer and the top, all of which is mapped and
/// writable. (Checked against where we are now, so a signal alternate stack
/// never qualifies.)
fn in_live_stack(addr: usize, len: usize) -> bool {
    let here = &addr as *const usize as usize;
    let (low, high) = thread_stack();
    low <= here && here < high && addr > here && addr.checked_add(len).is_some_and(|end| end <= high)
}

/// Copies `src` into the caller-supplied address `dst`, failing with EFAULT
/// instead of crashing when `dst` is not writable memory of this process.
pub fn copy_to_user(dst: usize, src: &[u8]) -> SysResult<()> {
    checked_copy(src.as_ptr() as usize, dst, src.len(), Direction::ToUser)
}

/// Copies from the caller-supplied address `src` into `dst`, with EFAULT for
/// memory that is not readable.
pub fn copy_from_user(dst: &mut [u8], src: usize) -> SysResult<()> {
    checked_copy(src, dst.as_mut_ptr() as usize, dst.len(), Direction::FromUser)
}

/// As `copy_from_user`, into `len` bytes at `dst` (memory of ours, such as
/// a block in the region that no one else touches yet).
pub fn copy_from_user_to(dst: usize, src: usize, len: usize) -> SysResult<()> {
    checked_copy(src, dst, len, Direction::FromUser)
}

/// As `copy_to_user`, from `len` bytes at `src` (memory of ours).
pub fn copy_to_user_from(dst: usize, src: usize, len: usize) -> SysResult<()> {
    checked_copy(src, dst, len, Direction::ToUser)
}

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    ToUser,
    FromUser,
}

/// Copies `len` bytes from `from` to `to`, one of which is the caller's
/// address: by the fault-guarded routine of `usercopy` (no system call; a
/// bad pointer gives EFAULT), or, where a program's own handling of SIGSEGV
/// rules that out, directly if the caller's buffer lies on this thread's
/// live stack, else through process_vm_writev/readv, so that the kernel
/// checks it.
fn checked_copy(from: usize, to: usize, len: usize, direction: Direction) -> SysResult<()> {
    let (user, ours) = if direction == Direction::ToUser { (to, from) } else { (from, to) };
    let direct = || {
        // SAFETY: `ours` is our own buffer of `len` bytes; `user` is either
        // proved mapped (live stack) or unverifiable (see the fallback below).
        unsafe { core::ptr::copy_nonoverlapping(from as *const u8, to as *mut u8, len) };
        Ok(())
    };
    if let Some(whole) = crate::usercopy::guarded_copy(to, from, len) {
        return if whole { Ok(()) } else { Err(libc::EFAULT) };
    }
    if in_live_stack(user, len) {
        return direct();
    }
    let nr = if direction == Direction::ToUser { libc::SYS_process_vm_writev } else { libc::SYS_process_vm_readv };
    let local = libc::iovec { iov_base: ours as *mut _, iov_len: len };
    let remote = libc::iovec { iov_base: user as *mut _, iov_len: len };
    // SAFETY: the kernel checks `remote`; `local` is our own buffer.
    match unsafe { sc!(nr, getpid(), &local as *const _, 1, &remote as *const _, 1, 0usize) } {
        Ok(n) if n == len => Ok(()),
        Ok(_) => Err(libc::EFAULT),
        // A seccomp policy forbids the checked copy: do the plain copy the
        // caller asked for.
        Err(libc::ENOSYS) | Err(libc::EPERM) => direct(),
        Err(e) => Err(e),
    }
}

/// Sleeps until `*word != expected` or a wake-up; `timeout_ns` of None waits forever.
pub fn futex_wait(word: &core::sync::atomic::AtomicU32, expected: u32, timeout_ns: Option<u64>) -> SysResult<()> {
    let ts;
    let tsp = match timeout_ns {
        Some(ns) => {
            ts = libc::timespec { tv_sec: (ns / 1_000_000_000) as i64, tv_nsec: (ns % 1_000_000_000) as i64 };
            &ts as *const libc::timespec as usize
        }
        None => 0,
    };
    // SAFETY: word is a live atomic in shared memory; FUTEX_WAIT (not private) works across processes.
    unsafe { sc!(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAIT, expected, tsp) }.map(drop)
}

pub fn futex_wake(word: &core::sync::atomic::AtomicU32, count: i32) {
    // SAFETY: word is a live atomic in shared memory.
    let _ = unsafe { sc!(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, count) };
}

/// Stores 0 in `lock` and wakes one sleeper on `word`, plus one on `lock`
/// if its old value had FUTEX_WAITERS (the sign bit), in one system call
/// (FUTEX_WAKE_OP): a lock let go and a sleeper woken with nothing between.
pub fn futex_unlock_and_wake(
    lock: &core::sync::atomic::AtomicU32,
    word: &core::sync::atomic::AtomicU32,
) -> SysResult<()> {
    const FUTEX_WAKE_OP: i32 = 5;
    // FUTEX_OP(FUTEX_OP_SET, 0, FUTEX_OP_CMP_LT, 0): old value < 0.
    const SET_ZERO_WAKE_IF_NEGATIVE: u32 = 2 << 24;
    // SAFETY: both words are live atomics in shared memory; the fourth
    // argument of FUTEX_WAKE_OP is a count, not a pointer.
    unsafe { sc!(libc::SYS_futex, word.as_ptr(), FUTEX_WAKE_OP, 1, 1, lock.as_ptr(), SET_ZERO_WAKE_IF_NEGATIVE) }
        .map(drop)
}

/// Whether `pid` has exited, without reaping it: true once it is a zombie or gone.
pub fn child_has_exited(pid: i32) -> bool {
    // SAFETY: an all-zero siginfo is valid to overwrite.
    let mut info: libc::siginfo_t = unsafe { core::mem::zeroed() };
    let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    // SAFETY: info is writable.
    match unsafe { sc!(libc::SYS_waitid, libc::P_PID, pid, &mut info as *mut libc::siginfo_t, flags, 0) } {
        // SAFETY: reading the union member waitid filled.
        Ok(_) => (unsafe { info.si_pid() }) != 0,
        Err(_) => true, // ECHILD: already reaped, or SIGCHLD is ignored
    }
}

/// Takes a shared open-file-description lock on byte `offset` of `fd`'s
/// file, without waiting. The lock belongs to the open file description:
/// it lasts while any process keeps a descriptor of it open, and goes with
/// the last one (at close, exit or SIGKILL).
pub fn ofd_read_lock(fd: i32, offset: u64) -> SysResult<()> {
    let mut lock = byte_lock(libc::F_RDLCK as i16, offset);
    // SAFETY: lock is a valid struct flock for F_OFD_SETLK.
    unsafe { sc!(libc::SYS_fcntl, fd, libc::F_OFD_SETLK, &mut lock as *mut libc::flock) }.map(drop)
}

/// Whether an open file description other than `fd`'s holds a lock on
/// byte `offset` of the file (errors count as held: the caller then waits).
pub fn ofd_lock_held(fd: i32, offset: u64) -> bool {
    let mut lock = byte_lock(libc::F_WRLCK as i16, offset);
    // SAFETY: lock is a valid struct flock for F_OFD_GETLK, which rewrites it.
    match unsafe { sc!(libc::SYS_fcntl, fd, libc::F_OFD_GETLK, &mut lock as *mut libc::flock) } {
        Ok(_) => lock.l_type != libc::F_UNLCK as i16,
        Err(_) => true,
    }
}

fn byte_lock(kind: i16, offset: u64) -> libc::flock {
    // SAFETY: an all-zero struct flock is valid (l_pid must be 0 for OFD locks).
    let mut lock: libc::flock = unsafe { core::mem::zeroed() };
    lock.l_type = kind;
    lock.l_whence = libc::SEEK_SET as i16;
    lock.l_start = offset as i64;
    lock.l_len = 1;
    lock
}
