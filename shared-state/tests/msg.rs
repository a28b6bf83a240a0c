//! Message queues through the shared-state API, in one process (threads) and
//! across forked processes: what the C tests cannot reach (the region's
//! memory, lost or doubled messages under concurrency, repair after a
//! receiver's death).

mod common;

use common::*;
use shared_state::msg::{MsqidDs, MSG_EXCEPT, MSG_NOERROR};
use shared_state::Namespace;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const IPC_NOWAIT: i32 = 0o4000;
const IPC_STAT: i32 = 2;
const IPC_RMID: i32 = 0;

/// `struct msgbuf` with room for `N` bytes of body.
#[repr(C)]
struct MsgBuf<const N: usize> {
    mtype: i64,
    text: [u8; N],
}

fn send(ns: &Namespace, id: i32, mtype: i64, body: &[u8], flags: i32) -> Result<i32, i32> {
    let mut buf = MsgBuf::<8192> { mtype, text: [0; 8192] };
    buf.text[..body.len()].copy_from_slice(body);
    ns.msgsnd(id, &buf as *const _ as usize, body.len(), flags)
}

fn recv(ns: &Namespace, id: i32, bufsz: usize, msgtyp: i64, flags: i32) -> Result<(i64, Vec<u8>), i32> {
    let mut buf = MsgBuf::<8192> { mtype: 0, text: [0; 8192] };
    let n = ns.msgrcv(id, &mut buf as *mut _ as usize, bufsz, msgtyp, flags)?;
    Ok((buf.mtype, buf.text[..n as usize].to_vec()))
}

fn stat(ns: &Namespace, id: i32) -> MsqidDs {
    let mut ds = MsqidDs::default();
    assert_eq!(ns.msgctl(id, IPC_STAT, &mut ds as *mut _ as usize), Ok(0));
    ds
}

#[test]
fn messages_come_back_by_type_and_counters_follow() {
    let ns = new_box();
    let id = ns.msgget(0, 0o600).unwrap();
    for (mtype, body) in [(3, &b"three"[..]), (1, b"one"), (2, b"two"), (1, b"uno")] {
        assert_eq!(send(&ns, id, mtype, body, 0), Ok(0));
    }
    let ds = stat(&ns, id);
    assert_eq!((ds.qnum, ds.cbytes, ds.lspid), (4, 14, std::process::id() as i32));
    assert_eq!(recv(&ns, id, 100, 1, 0), Ok((1, b"one".to_vec())), "first of type 1");
    assert_eq!(recv(&ns, id, 100, -2, 0), Ok((1, b"uno".to_vec())), "lowest type up to 2");
    assert_eq!(recv(&ns, id, 100, 2, MSG_EXCEPT), Ok((3, b"three".to_vec())), "first not of type 2");
    assert_eq!(recv(&ns, id, 2, 0, 0), Err(libc::E2BIG), "too long: stays queued");
    assert_eq!(recv(&ns, id, 2, 0, MSG_NOERROR), Ok((2, b"tw".to_vec())), "truncated");
    assert_eq!(recv(&ns, id, 100, 0, IPC_NOWAIT), Err(libc::ENOMSG));
    assert_eq!(send(&ns, id, 0, b"x", 0), Err(libc::EINVAL), "mtype below 1");
    assert_eq!(send(&ns, id, 1, &[0; 8192], 0).map(drop), Ok(()), "MSGMAX fits");
    let ds = stat(&ns, id);
    assert_eq!((ds.qnum, ds.cbytes), (1, 8192));
    assert_eq!(ns.msgctl(id, IPC_RMID, 0), Ok(0));
    assert_eq!(ns.region().heap_in_use(), 0, "a removed queue gives its messages' memory back");
}

#[test]
fn a_full_queue_blocks_and_cannot_grow_past_its_limit() {
    let ns = new_box();
    let id = ns.msgget(0, 0o600).unwrap();
    let mut sent = 0;
    while send(&ns, id, 1, &[7; 1000], IPC_NOWAIT).is_ok() {
        sent += 1;
    }
    assert_eq!(sent, 16, "16 x 1000 bytes fit in 16384");
    assert_eq!(send(&ns, id, 1, &[7; 1000], IPC_NOWAIT), Err(libc::EAGAIN));
    let in_use = ns.region().heap_in_use();
    // 16 blocks of 2 KiB, and the 32-byte dummy that starts the queue's list.
    assert!(in_use <= 16 * 2048 + 32, "memory held by a full queue: {in_use} bytes");
    // A blocked sender proceeds once a receiver makes room.
    let ns = Arc::new(ns);
    let sender = {
        let ns = ns.clone();
        std::thread::spawn(move || send(&ns, id, 2, &[9; 1000], 0))
    };
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(stat(&ns, id).qnum, 16, "the sender waits");
    assert_eq!(recv(&ns, id, 1000, 0, 0).map(|m| m.0), Ok(1));
    assert_eq!(sender.join().unwrap(), Ok(0));
    assert_eq!(recv(&ns, id, 1000, 2, 0), Ok((2, vec![9; 1000])));
    assert_eq!(ns.msgctl(id, IPC_RMID, 0), Ok(0));
    assert_eq!(ns.region().heap_in_use(), 0);
}

/// A simple checksum of a message's sequence number and body.
fn checksum(body: &[u8]) -> u64 {
    body.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

fn body_for(seq: u64) -> Vec<u8> {
    let len = 8 + (seq * 7919 % 600) as usize;
    let mut body = vec![0u8; len];
    body[..8].copy_from_slice(&seq.to_ne_bytes());
    for (i, b) in body[8..].iter_mut().enumerate() {
        *b = (seq as usize * 31 + i) as u8;
    }
    body
}

#[test]
fn threads_send_and_receive_every_message_once_intact() {
    const PRODUCERS: u64 = 4;
    const CONSUMERS: u64 = 4;
    const EACH: u64 = 3000;
    let ns = Arc::new(new_box());
    let id = ns.msgget(0, 0o600).unwrap();
    let seen: Arc<Vec<AtomicU64>> = Arc::new((0..PRODUCERS * EACH).map(|_| AtomicU64::new(0)).collect());
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let ns = ns.clone();
            std::thread::spawn(move || {
                for i in 0..EACH {
                    let seq = p * EACH + i;
                    assert_eq!(send(&ns, id, 1 + (seq % 5) as i64, &body_for(seq), 0), Ok(0));
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|c| {
            let (ns, seen) = (ns.clone(), seen.clone());
            std::thread::spawn(move || {
                for _ in 0..PRODUCERS * EACH / CONSUMERS {
                    // Half the consumers take any type, half the lowest first.
                    let msgtyp = if c % 2 == 0 { 0 } else { -5 };
                    let (mtype, body) = recv(&ns, id, 8192, msgtyp, 0).unwrap();
                    let seq = u64::from_ne_bytes(body[..8].try_into().unwrap());
                    assert_eq!(mtype, 1 + (seq % 5) as i64);
                    assert_eq!(checksum(&body), checksum(&body_for(seq)), "message {seq} damaged");
                    seen[seq as usize].fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    producers.into_iter().chain(consumers).for_each(|t| t.join().unwrap());
    assert!(seen.iter().all(|n| n.load(Ordering::Relaxed) == 1), "every message exactly once");
    assert_eq!(stat(&ns, id).qnum, 0);
    assert_eq!(ns.msgctl(id, IPC_RMID, 0), Ok(0));
    assert_eq!(ns.region().heap_in_use(), 0, "no block leaked");
}

/// The queue's two locks: a stream taken in order from the front (the
/// receive-lock-only path) while another receiver takes messages from the
/// middle and the end (the path with both locks) and the sender appends.
#[test]
fn a_stream_stays_in_order_while_another_receiver_takes_from_the_middle() {
    const COUNT: u64 = 20000;
    let ns = Arc::new(new_box());
    let id = ns.msgget(0, 0o600).unwrap();
    let type_of = |seq: u64| if seq % 7 == 3 { 2 } else { 1 };
    let sender = {
        let ns = ns.clone();
        std::thread::spawn(move || {
            for seq in 0..COUNT {
                assert_eq!(send(&ns, id, type_of(seq), &body_for(seq), 0), Ok(0));
            }
        })
    };
    let receivers: Vec<_> = [1i64, 2]
        .into_iter()
        .map(|mtype| {
            let ns = ns.clone();
            std::thread::spawn(move || {
                let expected: Vec<u64> = (0..COUNT).filter(|&seq| type_of(seq) == mtype).collect();
                for &want in &expected {
                    let (got_type, body) = recv(&ns, id, 8192, mtype, 0).unwrap();
                    let seq = u64::from_ne_bytes(body[..8].try_into().unwrap());
                    assert_eq!((got_type, seq), (mtype, want), "type {mtype} out of order");
                    assert_eq!(checksum(&body), checksum(&body_for(seq)), "message {seq} damaged");
                }
            })
        })
        .collect();
    std::iter::once(sender).chain(receivers).for_each(|t| t.join().unwrap());
    let ds = stat(&ns, id);
    assert_eq!((ds.qnum, ds.cbytes), (0, 0));
    assert_eq!(ns.msgctl(id, IPC_RMID, 0), Ok(0));
    assert_eq!(ns.region().heap_in_use(), 0, "no block leaked");
}

/// A process keeps the blocks of the messages it took at hand for its
/// next ones (its magazine); they are not lost when it is killed.
#[test]
fn a_killed_receiver_gives_back_the_blocks_it_kept() {
    let ns = new_box();
    let id = ns.msgget(0, 0o600).unwrap();
    for seq in 0..40u8 {
        assert_eq!(send(&ns, id, 1, &[seq; 64], 0), Ok(0));
    }
    let (ready_r, ready_w) = pipe();
    let child = fork_child(&ns, || {
        // 20 blocks freed: a batch handed on, and some kept.
        for seq in 0..20u8 {
            assert_eq!(recv(&ns, id, 100, 0, 0), Ok((1, vec![seq; 64])));
        }
        // SAFETY: writing one byte to our pipe.
        unsafe { libc::write(ready_w, b"x".as_ptr().cast(), 1) };
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    });
    let mut byte = 0u8;
    // SAFETY: reading one byte from our pipe.
    assert_eq!(unsafe { libc::read(ready_r, (&mut byte as *mut u8).cast(), 1) }, 1);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child, libc::SIGKILL) };
    assert_eq!(wait_status(child) & 0x7f, libc::SIGKILL);
    for seq in 20..40u8 {
        assert_eq!(recv(&ns, id, 100, 0, IPC_NOWAIT), Ok((1, vec![seq; 64])));
    }
    // A call that repairs after the dead.
    assert_eq!(ns.semctl(0, 0, shared_state::sem::GETVAL, 0), Err(libc::EINVAL));
    assert_eq!(ns.msgctl(id, IPC_RMID, 0), Ok(0));
    assert_eq!(ns.region().heap_in_use(), 0, "the dead receiver's blocks are free again");
}

/// A sender that dies holding the send lock, between linking its message
/// and moving the list's end, leaves a queue that the next caller repairs:
/// its message stays queued, none sent after it is lost, the counters agree.
#[test]
fn a_sender_dead_halfway_through_leaves_a_queue_that_works() {
    let ns = new_box();
    let id = ns.msgget(0, 0o600).unwrap();
    assert_eq!(send(&ns, id, 1, b"first", 0), Ok(0));
    let child = fork_child(&ns, || {
        ns.region().link_and_abandon_send_lock(id, 2, b"half-sent");
        0
    });
    assert_eq!(wait_status(child), 0);
    assert_eq!(send(&ns, id, 3, b"after", 0), Ok(0));
    let ds = stat(&ns, id);
    assert_eq!((ds.qnum, ds.cbytes), (3, 5 + 9 + 5));
    assert_eq!(recv(&ns, id, 100, 0, IPC_NOWAIT), Ok((1, b"first".to_vec())));
    assert_eq!(recv(&ns, id, 100, 0, IPC_NOWAIT), Ok((2, b"half-sent".to_vec())));
    assert_eq!(recv(&ns, id, 100, 0, IPC_NOWAIT), Ok((3, b"after".to_vec())));
    assert_eq!(recv(&ns, id, 100, 0, IPC_NOWAIT), Err(libc::ENOMSG));
    assert_eq!((stat(&ns, id).qnum, stat(&ns, id).cbytes), (0, 0));
    assert_eq!(ns.msgctl(id, IPC_RMID, 0), Ok(0));
    assert_eq!(ns.region().heap_in_use(), 0, "nothing orphaned");
}

#[test]
fn a_receiver_killed_while_waiting_takes_nothing_and_leaves_nothing() {
    let ns = new_box();
    let id = ns.msgget(0, 0o600).unwrap();
    let (ready_r, ready_w) = pipe();
    let child = fork_child(&ns, || {
        // SAFETY: writing one byte to our pipe.
        unsafe { libc::write(ready_w, b"x".as_ptr().cast(), 1) };
        recv(&ns, id, 100, 0, 0).map_or(2, |_| 3)
    });
    let mut byte = 0u8;
    // SAFETY: reading one byte from our pipe.
    assert_eq!(unsafe { libc::read(ready_r, (&mut byte as *mut u8).cast(), 1) }, 1);
    // Let it queue itself and sleep, then kill it.
    std::thread::sleep(std::time::Duration::from_millis(100));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child, libc::SIGKILL) };
    assert_eq!(wait_status(child) & 0x7f, libc::SIGKILL);
    assert_eq!(send(&ns, id, 1, b"for the living", 0), Ok(0));
    assert_eq!(stat(&ns, id).qnum, 1, "not handed to the dead receiver");
    assert_eq!(recv(&ns, id, 100, 0, IPC_NOWAIT), Ok((1, b"for the living".to_vec())));
    // Any call that repairs after the dead (semctl does, before it looks
    // its id up) frees its waiter.
    assert_eq!(ns.semctl(0, 0, shared_state::sem::GETVAL, 0), Err(libc::EINVAL));
    assert_eq!(ns.msgctl(id, IPC_RMID, 0), Ok(0));
    assert_eq!(ns.region().heap_in_use(), 0, "the dead receiver's waiter was freed");
}
