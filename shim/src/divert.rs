//! Diverting libc's own System V entry points to the shim, so that a call
//! reaches the box however it was bound.
//!
//! Owns: the list of diverted libc functions and the patching of their
//! first instruction, once per process image, at load.
//!
//! Why: preloading puts the shim first in the global lookup scope, which
//! is enough for every object bound the usual way. It is not for an object
//! loaded with `dlopen(..., RTLD_DEEPBIND)` (PHP loads its extensions so,
//! as do some plugin hosts and JNI or Python embeddings): its own scope,
//! with its dependency libc.so.6, comes before the global one, so its
//! semget binds to libc's and the box is bypassed. The same goes for a
//! `dlsym(handle, "semget")` on such a handle.
//!
//! Mechanism, chosen among three:
//! - Clearing RTLD_DEEPBIND in a dlopen wrapper changes how the library
//!   binds every other symbol (the clashes DEEPBIND is there to avoid), and
//!   a dlopen wrapper becomes the "caller" glibc uses for the library search
//!   path (DT_RPATH) and the link map namespace.
//! - The dynamic linker's audit interface (LD_AUDIT, la_symbind) reaches
//!   every binding in every link map, but loads an audit library with its
//!   own copy of libc into every process of the box, at every start, and
//!   makes every lazy binding go through it.
//! - Here, at load, the first bytes of each of libc's SysV functions and of
//!   its syscall() are overwritten with a jump to the shim's function of
//!   the same name. Whatever binds to libc's definition (DEEPBIND, dlsym on
//!   any handle, a lazy or immediate binding, a constructor) lands in the
//!   shim, and nothing else about any library changes. It costs a few
//!   system calls at load (mprotect of the two or three text pages the
//!   functions lie in, which become private copies: about 8 KiB a process)
//!   and nothing per call or per dlopen.
//!
//! The shim never calls libc's diverted SysV functions in a box; libc's
//! syscall() jumps to a function of the shim that makes the numbers that
//! are not SysV itself (see `libc_syscall` in lib.rs).
//! Outside a box nothing is diverted.
//!
//! Limits: an object loaded by dlmopen into a new link map has a libc of
//! its own, whose functions are not diverted (its errno is not the one
//! the shim sets); the shim's dlmopen says so on stderr, but under
//! --strict, where that libc's system calls trap (see `trap`). Where text pages
//! may not be made writable (a W^X policy), the shim says so on stderr
//! and the program runs with the preload alone, as before. Only x86_64
//! code is patched; elsewhere the preload alone applies.

#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

use std::ffi::{c_void, CStr};

/// A function of libc's to divert, and the shim's function of that name.
pub(crate) struct Diversion {
    pub name: &'static CStr,
    pub target: usize,
}

#[cfg(target_arch = "x86_64")]
mod arch {
    /// `jmp rel32`.
    pub const JUMP_LEN: usize = 5;
    /// `jmp [rip + 0]` followed by the 8-byte target.
    pub const SLOT_LEN: usize = 14;

    pub fn near_jump(site: usize, to: usize) -> Option<[u8; JUMP_LEN]> {
        let rel = (to as i64).wrapping_sub(site as i64 + JUMP_LEN as i64);
        let rel = i32::try_from(rel).ok()?;
        let mut code = [0xe9, 0, 0, 0, 0];
        code[1..].copy_from_slice(&rel.to_le_bytes());
        Some(code)
    }

    pub fn far_slot(to: usize) -> [u8; SLOT_LEN] {
        let mut code = [0xff, 0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        code[6..].copy_from_slice(&(to as u64).to_le_bytes());
        code
    }
}

/// glibc's `RTLD_DL_SYMENT` for dladdr1: the symbol table entry.
const RTLD_DL_SYMENT: i32 = 1;
const PAGE: usize = 4096;
/// Ranges of pages to patch this close or closer are changed together.
const MERGE_GAP: usize = 1 << 20;

/// Where a libc function starts and whether a jump fits there: at a
/// 16-byte boundary (where glibc's functions start) it does, whatever the
/// function's size, as the next one starts 16 bytes on at the nearest;
/// elsewhere the symbol's size must cover it. (dladdr1, which gives the
/// size, scans libc's whole symbol table on each call: about 10 µs.)
fn libc_function(libc_handle: *mut c_void, name: &CStr, needed: usize) -> Option<Result<usize, String>> {
    // SAFETY: a handle from dlopen and a NUL-terminated name.
    let entry = unsafe { libc::dlsym(libc_handle, name.as_ptr()) };
    if entry.is_null() {
        return None;
    }
    if (entry as usize).is_multiple_of(16) {
        return Some(Ok(entry as usize));
    }
    // SAFETY: Dl_info is plain data, filled by dladdr1.
    let mut info: libc::Dl_info = unsafe { core::mem::zeroed() };
    let mut symbol: *mut c_void = core::ptr::null_mut();
    // SAFETY: dladdr1 fills `info` and points `symbol` at the ElfW(Sym) of the
    // definition containing `entry`.
    let found = unsafe { libc::dladdr1(entry, &mut info, &mut symbol, RTLD_DL_SYMENT) };
    if found == 0 || symbol.is_null() || info.dli_saddr != entry {
        return Some(Err(format!("{} has no symbol of its own", name.to_string_lossy())));
    }
    // SAFETY: RTLD_DL_SYMENT gives a pointer into the object's symbol table.
    let size = unsafe { (*(symbol as *const libc::Elf64_Sym)).st_size } as usize;
    if size < needed {
        return Some(Err(format!("{} is {size} bytes long", name.to_string_lossy())));
    }
    Some(Ok(entry as usize))
}

/// Diverts every function of `list` that libc.so.6 defines, or says on
/// stderr why it could not.
pub(crate) fn divert_libc(list: &[Diversion]) {
    #[cfg(not(target_arch = "x86_64"))]
    let _ = list;
    #[cfg(target_arch = "x86_64")]
    if let Err(why) = divert_x86_64(list) {
        let line = format!(
                "ipcbox: cannot divert libc's System V functions ({why}): a library loaded with RTLD_DEEPBIND would reach the host's kernel; run with --strict to refuse such calls\n"
            );
        // SAFETY: writing our own buffer to stderr.
        unsafe { shared_state::sys::syscall6(libc::SYS_write, [2, line.as_ptr() as usize, line.len(), 0, 0, 0]) };
    }
}

#[cfg(target_arch = "x86_64")]
fn divert_x86_64(list: &[Diversion]) -> Result<(), String> {
    let libc_ranges = libc_segments();
    // libc's own handle, opened only if some name's next definition is not
    // libc's (another preloaded library wraps it): dlopen costs about 20 µs.
    let mut handle: *mut c_void = core::ptr::null_mut();
    // (site, code) for each function, with far targets through slots.
    let mut patches: Vec<(usize, Vec<u8>)> = Vec::with_capacity(list.len());
    let mut far: Vec<(usize, usize)> = Vec::new();
    for diversion in list {
        // SAFETY: RTLD_NEXT and a NUL-terminated name.
        let next = unsafe { libc::dlsym(libc::RTLD_NEXT, diversion.name.as_ptr()) } as usize;
        let in_libc = |at: usize| libc_ranges.iter().any(|&(start, end)| (start..end).contains(&at));
        let site = if next != 0 && in_libc(next) {
            if next.is_multiple_of(16) {
                next
            } else {
                libc_function(libc::RTLD_NEXT, diversion.name, arch::JUMP_LEN).unwrap_or(Err(String::new()))?
            }
        } else {
            if handle.is_null() {
                // SAFETY: RTLD_NOLOAD only looks up the libc already loaded.
                handle = unsafe { libc::dlopen(c"libc.so.6".as_ptr(), libc::RTLD_NOLOAD | libc::RTLD_LAZY) };
                if handle.is_null() {
                    return Err("libc.so.6 not found".into());
                }
            }
            let Some(site) = libc_function(handle, diversion.name, arch::JUMP_LEN) else { continue };
            site?
        };
        if site == diversion.target {
            continue;
        }
        match arch::near_jump(site, diversion.target) {
            Some(code) => patches.push((site, code.to_vec())),
            None => far.push((site, diversion.target)),
        }
    }
    if !handle.is_null() {
        // SAFETY: the handle came from dlopen above.
        unsafe { libc::dlclose(handle) };
    }
    if !far.is_empty() {
        let slots = far_slots(far[0].0, far.len())?;
        let mut code = Vec::with_capacity(far.len() * arch::SLOT_LEN);
        for &(_, target) in &far {
            code.extend_from_slice(&arch::far_slot(target));
        }
        patches.push((slots, code));
        for (i, &(site, _)) in far.iter().enumerate() {
            let slot = slots + i * arch::SLOT_LEN;
            patches.push((site, arch::near_jump(site, slot).ok_or("no room for a jump slot near libc")?.to_vec()));
        }
    }
    write_patches(&patches)
}

/// The address ranges of libc.so.6's loaded segments.
fn libc_segments() -> Vec<(usize, usize)> {
    extern "C" fn each(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> i32 {
        // SAFETY: the loader passes a valid dl_phdr_info; data is our Vec.
        let (info, ranges) = unsafe { (&*info, &mut *(data as *mut Vec<(usize, usize)>)) };
        if info.dlpi_name.is_null() {
            return 0;
        }
        // SAFETY: dlpi_name is a NUL-terminated path.
        let name = unsafe { CStr::from_ptr(info.dlpi_name) }.to_bytes();
        if !(name == b"libc.so.6" || name.ends_with(b"/libc.so.6")) {
            return 0;
        }
        // SAFETY: dlpi_phdr points at dlpi_phnum program headers.
        let headers = unsafe { core::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
        for header in headers.iter().filter(|h| h.p_type == libc::PT_LOAD) {
            let start = info.dlpi_addr as usize + header.p_vaddr as usize;
            ranges.push((start, start + header.p_memsz as usize));
        }
        1
    }
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    // SAFETY: the callback matches dl_iterate_phdr's and `data` outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(each), &mut ranges as *mut _ as *mut c_void) };
    ranges
}

/// A fresh executable page within a jump's reach of `near`, for `count` slots.
#[cfg(target_arch = "x86_64")]
fn far_slots(near: usize, count: usize) -> Result<usize, String> {
    let len = (count * arch::SLOT_LEN).div_ceil(PAGE) * PAGE;
    // Below libc first, where the loader leaves room; 64 MiB steps.
    for step in 1..32usize {
        for hint in [near.wrapping_sub(step << 26) & !(PAGE - 1), (near + (step << 26)) & !(PAGE - 1)] {
            // SAFETY: an anonymous mapping at a hint that must not replace anything.
            let at = unsafe {
                shared_state::sys::syscall6(
                    libc::SYS_mmap,
                    [
                        hint,
                        len,
                        (libc::PROT_READ | libc::PROT_WRITE) as usize,
                        (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE) as usize,
                        usize::MAX,
                        0,
                    ],
                )
            };
            if at == hint as isize {
                return Ok(hint);
            }
        }
    }
    Err("no room for jump slots near libc".into())
}

/// Writes each patch's code at its address in text mappings, then leaves
/// their pages readable and executable. At load the process runs one
/// thread (the shim's constructor runs before the program's), so no one
/// executes these bytes meanwhile.
///
/// The pages are made writable and executable at once, never writable
/// alone: a policy that forbids making a modified page executable again
/// (SELinux's execmod) would then leave libc's code unexecutable. Where the
/// last step is refused, the pages stay writable and executable.
fn write_patches(patches: &[(usize, Vec<u8>)]) -> Result<(), String> {
    let mut ranges: Vec<(usize, usize)> =
        patches.iter().map(|(at, code)| (at & !(PAGE - 1), (at + code.len()).div_ceil(PAGE) * PAGE)).collect();
    ranges.sort_unstable();
    // One mprotect for pages close together (each splits the mapping),
    // though only the pages written become private copies.
    ranges.dedup_by(|next, merged| {
        if next.0 <= merged.1 + MERGE_GAP {
            merged.1 = merged.1.max(next.1);
            true
        } else {
            false
        }
    });
    let protect = |(start, end): (usize, usize), prot: i32| {
        // SAFETY: changing the protection of pages of a mapping of ours.
        let rc =
            unsafe { shared_state::sys::syscall6(libc::SYS_mprotect, [start, end - start, prot as usize, 0, 0, 0]) };
        if rc == 0 {
            Ok(())
        } else {
            Err(format!("mprotect: {}", std::io::Error::from_raw_os_error(-rc as i32)))
        }
    };
    for &range in &ranges {
        protect(range, libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC)?;
    }
    for (at, code) in patches {
        // SAFETY: the pages are writable now and `code` lies in them.
        unsafe { core::ptr::copy_nonoverlapping(code.as_ptr(), *at as *mut u8, code.len()) };
    }
    for &range in &ranges {
        let _ = protect(range, libc::PROT_READ | libc::PROT_EXEC);
    }
    Ok(())
}
