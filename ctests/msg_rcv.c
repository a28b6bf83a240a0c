/*
 * msg_rcv.c - msgrcv(2) without sleeping (type selection is in
 * msg_type.c):
 *   - msgtyp 0 takes the first message of the queue (FIFO over all
 *     types); the result is the number of body bytes; mtype is written;
 *     exactly that many bytes of mtext are written, nothing past them
 *   - msgsz == the message's size is enough; msgsz larger than MSGMAX is
 *     fine (only the message's bytes are written)
 *   - a message longer than msgsz: E2BIG and it stays queued (same
 *     position, nothing updated: qnum, cbytes, lrpid, rtime); with
 *     MSG_NOERROR it is truncated to msgsz bytes and removed (cbytes drops
 *     by its full size); msgsz 0 receives a zero-length message, and with
 *     MSG_NOERROR any message (as 0 bytes)
 *   - IPC_NOWAIT on an empty queue -> ENOMSG; a failed receive changes
 *     nothing
 *   - a successful receive sets lrpid to the receiver (child or main) and
 *     lowers qnum/cbytes; lspid is not changed
 *   - the body survives exactly (all 256 byte values, 8192 bytes)
 */
#include "common.h"

int main(void)
{
	ct_init();
	pid_t c;
	int id = T_ID(msgget(IPC_PRIVATE, IPC_CREAT | 0600));

	printf("== FIFO over all types\n");
	ct_snd(id, 3, "first", 0);
	ct_snd(id, 1, "second", 0);
	ct_snd(id, 2, "third", 0);
	ct_snd(id, 1, "fourth", 0);
	ct_q("4 queued", id);
	ct_rcv(id, 100, 0, 0);
	ct_q("after one", id);
	ct_rcv(id, 100, 0, IPC_NOWAIT);
	ct_rcv(id, 100, 0, MSG_NOERROR);
	ct_rcv(id, 100, 0, 0);
	ct_q("empty", id);
	ct_rcv(id, 100, 0, IPC_NOWAIT);
	ct_rcv(id, 100, 0, IPC_NOWAIT | MSG_NOERROR);
	ct_q("unchanged", id);

	printf("== buffer sizes\n");
	ct_snd(id, 1, "exactly", 0);
	ct_rcv(id, 7, 0, 0);
	ct_snd(id, 1, "exactly", 0);
	ct_rcv(id, 6, 0, IPC_NOWAIT);
	ct_q("still queued", id);
	ct_rcv(id, 0, 0, IPC_NOWAIT);
	ct_rcv(id, 100000, 0, IPC_NOWAIT);
	ct_snd(id, 1, "", 0);
	ct_rcv(id, 0, 0, IPC_NOWAIT);
	ct_sndn(id, 2, 8192, 0);
	ct_rcv(id, 8191, 0, IPC_NOWAIT);
	ct_rcv(id, 8192, 0, IPC_NOWAIT);

	printf("== E2BIG keeps the message in place\n");
	ct_snd(id, 1, "long message", 0);
	ct_snd(id, 1, "short", 0);
	ct_q("two queued", id);
	if ((c = ct_fork("child1")) == 0) {
		ct_rcv(id, 5, 0, IPC_NOWAIT);
		ct_rcv(id, 5, 0, 0);
		ct_child_exit(0);
	}
	ct_wait(c);
	ct_msgstat("after E2BIG (nothing changed)", id);
	ct_rcv(id, 100, 0, IPC_NOWAIT);
	ct_rcv(id, 100, 0, IPC_NOWAIT);

	printf("== MSG_NOERROR truncates\n");
	ct_snd(id, 1, "truncated message", 0);
	ct_sndn(id, 2, 1000, 0);
	ct_snd(id, 3, "gone", 0);
	ct_q("three queued", id);
	if ((c = ct_fork("child2")) == 0) {
		ct_rcv(id, 9, 0, MSG_NOERROR);
		ct_child_exit(0);
	}
	ct_wait(c);
	ct_q("after a truncated receive", id);
	ct_rcv(id, 100, 0, MSG_NOERROR | IPC_NOWAIT);
	ct_q("after a truncated receive", id);
	ct_rcv(id, 0, 0, MSG_NOERROR);
	ct_q("empty", id);
	ct_snd(id, 3, "fits", 0);
	ct_rcv(id, 100, 0, MSG_NOERROR);

	printf("== every byte value survives\n");
	{
		static struct ct_msg m;
		m.mtype = 42;
		for (int i = 0; i < 8192; i++)
			m.mtext[i] = (char)(i * 7 + (i >> 8));
		T_INT(msgsnd(id, &m, 8192, 0));
		uint32_t want = ct_fnv(m.mtext, 8192);
		static struct ct_msg r;
		long n = ct_rcv_q(id, &r, sizeof r.mtext, 0, 0);
		printf("received %ld bytes, type %ld, intact: %s\n", n, r.mtype,
		       yes(n == 8192 && ct_fnv(r.mtext, 8192) == want));
	}
	ct_msgstat("final", id);
	return 0;
}
