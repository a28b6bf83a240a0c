//! The region's areas grow in place in each process (see the notes of
//! `shared_state::region`): a growth that finds part of its range mapped
//! by another thread's growth maps around it, and one that finds a mapping
//! of the program's there fails, leaving what was mapped working.

mod common;
use common::new_box;

use shared_state::abi::*;
use shared_state::region::SEM_SLOTS_OFFSET;
use shared_state::sem::*;
use shared_state::Namespace;

/// Sets 0..count, each with its index modulo 100 as its value; their slot
/// indices are 0..count in a new box.
fn sets(ns: &Namespace, count: usize) -> Vec<i32> {
    (0..count)
        .map(|i| {
            let id = ns.semget(IPC_PRIVATE, 1, 0o600).unwrap();
            assert_eq!(id as u32 & 0x7fff, i as u32, "slots are handed out in order");
            assert_eq!(ns.semctl(id, 0, SETVAL, i % 100), Ok(0));
            id
        })
        .collect()
}

/// Maps `len` bytes at `addr` in place, failing if anything is there.
fn map_at(addr: usize, len: usize, fd: i32, offset: usize) {
    let (prot, flags) = if fd < 0 {
        (libc::PROT_READ, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS)
    } else {
        (libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED)
    };
    // SAFETY: MAP_FIXED_NOREPLACE maps only where nothing is mapped.
    let got =
        unsafe { libc::mmap(addr as *mut _, len, prot, flags | libc::MAP_FIXED_NOREPLACE, fd, offset as libc::off_t) };
    assert_eq!(got as usize, addr, "mapping at {addr:#x}");
}

#[test]
fn a_growth_maps_around_what_another_thread_mapped_of_its_range() {
    let ns = new_box();
    let ids = sets(&ns, 2000);
    // As after an exec: nothing of the tables mapped. Another thread's
    // growth of the semaphore table is half done: it mapped the table's
    // second 64 KiB and has not yet said so.
    let fresh = Namespace::attach(ns.fd()).unwrap();
    let region = fresh.region();
    map_at(region.metadata_address(SEM_SLOTS_OFFSET + 65536), 65536, fresh.fd(), SEM_SLOTS_OFFSET + 65536);
    for (i, &id) in ids.iter().enumerate() {
        assert_eq!(fresh.semctl(id, 0, GETVAL, 0), Ok((i % 100) as i32), "set {i}");
    }
    assert_eq!(region.growth_races(), 1);
    // And the area goes on growing past it: a new set, past the others.
    let id = fresh.semget(IPC_PRIVATE, 1, 0o600).unwrap();
    assert_eq!(id as u32 & 0x7fff, 2000);
    assert_eq!(ns.semctl(id, 0, GETVAL, 0), Ok(0));
}

#[test]
fn a_growth_that_meets_a_mapping_of_the_programs_fails_and_the_rest_works() {
    let ns = new_box();
    let ids = sets(&ns, 1000);
    let fresh = Namespace::attach(ns.fd()).unwrap();
    let region = fresh.region();
    // The program's own page where the semaphore table grows past its
    // first 64 KiB (slots 0 to `last`).
    map_at(region.metadata_address(SEM_SLOTS_OFFSET + 65536), 4096, -1, 0);
    let last = 65536 / std::mem::size_of::<SemSlot>() - 1;
    assert_eq!(fresh.semctl(ids[0], 0, GETVAL, 0), Ok(0));
    assert_eq!(fresh.semctl(ids[last], 0, GETVAL, 0), Ok((last % 100) as i32));
    // A set it cannot map is one it cannot see (and it says so on stderr);
    // a creation that would need more of the table fails with ENOMEM.
    assert_eq!(fresh.semctl(ids[500], 0, GETVAL, 0), Err(libc::EINVAL));
    assert_eq!(fresh.semget(IPC_PRIVATE, 1, 0o600), Err(libc::ENOMEM));
    assert!(region.growth_races() >= 2, "each growth met the mapping");
    // The other processes of the box are not concerned.
    assert_eq!(ns.semctl(ids[500], 0, GETVAL, 0), Ok(0));
    assert!(ns.semget(IPC_PRIVATE, 1, 0o600).is_ok());
}

#[test]
fn a_growth_through_a_descriptor_the_program_replaced_maps_nothing() {
    let ns = new_box();
    let ids = sets(&ns, 1000);
    // SAFETY: a copy of our own descriptor.
    let copy = unsafe { libc::dup(ns.fd()) };
    let fresh = Namespace::attach(copy).unwrap();
    assert_eq!(fresh.semctl(ids[0], 0, GETVAL, 0), Ok(0));
    // The program puts a small file of its own at the box's number (past
    // every way the shim has to move the box's descriptor out of its way):
    // mapped as the box, its pages past its end would fault.
    let path = std::env::temp_dir().join(format!("ipcbox-growth-{}", std::process::id()));
    let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path).unwrap();
    file.set_len(4096).unwrap();
    std::fs::remove_file(&path).unwrap();
    // SAFETY: replacing our own descriptor.
    assert_eq!(unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&file), copy) }, copy);
    assert_eq!(fresh.semctl(ids[500], 0, GETVAL, 0), Err(libc::EINVAL));
    assert_eq!(fresh.semctl(ids[0], 0, GETVAL, 0), Ok(0), "what was mapped still works");
    assert_eq!(ns.semctl(ids[500], 0, GETVAL, 0), Ok(0));
}

/// Threads of a process that has just joined reach far into every table
/// and the heap at once, in different orders: each growth they race on
/// maps the area once, and every object reads right.
#[test]
fn threads_that_join_at_once_see_every_object() {
    let ns = new_box();
    let sems = sets(&ns, 3000);
    let queues: Vec<i32> = (0..500).map(|_| ns.msgget(IPC_PRIVATE, 0o600).unwrap()).collect();
    for (i, &q) in queues.iter().enumerate() {
        let mut buf = vec![0u8; 8 + 2000];
        buf[..8].copy_from_slice(&1i64.to_ne_bytes());
        buf[8] = i as u8;
        assert_eq!(ns.msgsnd(q, buf.as_ptr() as usize, 2000, 0), Ok(0));
    }
    for round in 0..20 {
        let fresh = Namespace::attach(ns.fd()).unwrap();
        let threads = 6;
        let barrier = std::sync::Barrier::new(threads);
        std::thread::scope(|scope| {
            for t in 0..threads {
                let (fresh, barrier, sems, queues) = (&fresh, &barrier, &sems, &queues);
                scope.spawn(move || {
                    barrier.wait();
                    let step = [1, 7, 11, 13, 17, 19][t];
                    for k in 0..sems.len() {
                        let i = (k * step + t * 500) % sems.len();
                        assert_eq!(fresh.semctl(sems[i], 0, GETVAL, 0), Ok((i % 100) as i32), "round {round} set {i}");
                    }
                    for k in 0..queues.len() {
                        let i = (k * step + t * 100) % queues.len();
                        let mut buf = vec![0u8; 8 + 2000];
                        let got = fresh.msgrcv(
                            queues[i],
                            buf.as_mut_ptr() as usize,
                            2000,
                            0,
                            IPC_NOWAIT | shared_state::msg::MSG_COPY,
                        );
                        assert_eq!(got, Ok(2000), "round {round} queue {i}");
                        assert_eq!(buf[8], i as u8);
                    }
                });
            }
        });
    }
}
