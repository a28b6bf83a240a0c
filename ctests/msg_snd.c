/*
 * msg_snd.c - msgsnd(2) without sleeping:
 *   - messages of 0, 1, 100 and MSGMAX (8192) bytes are queued; msg_qnum
 *     counts messages, msg_cbytes the bytes of their bodies (the mtype is
 *     not counted); msg_lspid is the sender, msg_lrpid stays 0
 *   - msgsz > MSGMAX -> EINVAL; mtype < 1 (0, -1, LONG_MIN) -> EINVAL;
 *     mtype LONG_MAX is fine; unknown msgflg bits are ignored
 *   - a failed msgsnd changes nothing (qnum, cbytes, lspid)
 *   - the queue limit: a message fits when cbytes + msgsz <= msg_qbytes
 *     AND qnum + 1 <= msg_qbytes; otherwise IPC_NOWAIT -> EAGAIN:
 *       . default qbytes 16384: two messages of 8192 bytes fill it; a
 *         third one does not fit, but a zero-length one still does
 *       . qbytes 3 (IPC_SET): three zero-length messages fit, a fourth
 *         does not (the message count is limited by qbytes too)
 *       . a message larger than qbytes never fits, even in an empty queue
 *       . qbytes 0: not even a zero-length message fits
 *       . lowering qbytes below cbytes keeps the queued messages; sends
 *         fail until enough is received
 *   - messages from several processes: lspid is the last sender
 * Blocking senders are in msg_wait.c.
 */
#include "common.h"
#include <limits.h>

int main(void)
{
	ct_init();
	pid_t c;
	int id = T_ID(msgget(IPC_PRIVATE, IPC_CREAT | 0600));

	printf("== sizes\n");
	ct_snd(id, 1, "", 0);
	ct_q("0 bytes", id);
	ct_snd(id, 1, "x", 0);
	ct_q("1 byte", id);
	ct_sndn(id, 2, 100, 0);
	ct_q("100 bytes", id);
	ct_sndn(id, 3, 8192, 0);
	ct_q("8192 bytes", id);
	ct_sndn(id, 3, 8193, IPC_NOWAIT);
	ct_sndn(id, 3, 8193, 0);
	ct_sndn(id, 3, 100000, 0);
	ct_q("unchanged", id);
	ct_rcv(id, 10000, 0, 0);
	ct_rcv(id, 10000, 0, 0);
	ct_rcv(id, 10000, 0, 0);
	ct_rcv(id, 10000, 0, 0);
	ct_q("empty", id);

	printf("== mtype\n");
	ct_snd(id, 0, "zero", 0);
	ct_snd(id, -1, "minus one", 0);
	ct_snd(id, LONG_MIN, "LONG_MIN", IPC_NOWAIT);
	ct_snd(id, LONG_MAX, "LONG_MAX", 0);
	ct_snd(id, 1, "one", 0);
	ct_q("two queued", id);
	ct_rcv(id, 100, 0, 0);
	ct_rcv(id, 100, 0, 0);

	printf("== unknown flags are ignored\n");
	ct_snd(id, 5, "flags", MSG_NOERROR | MSG_EXCEPT | MSG_COPY);
	ct_snd(id, 5, "flags", 0x40000000);
	ct_snd(id, 5, "flags", -1);
	ct_q("three queued", id);
	ct_rcv(id, 100, 0, IPC_NOWAIT);
	ct_rcv(id, 100, 0, IPC_NOWAIT);
	ct_rcv(id, 100, 0, IPC_NOWAIT);

	printf("== byte limit (qbytes 16384)\n");
	ct_sndn(id, 1, 8192, IPC_NOWAIT);
	ct_sndn(id, 2, 8192, IPC_NOWAIT);
	ct_q("full", id);
	ct_sndn(id, 3, 1, IPC_NOWAIT);
	ct_sndn(id, 3, 8192, IPC_NOWAIT);
	ct_snd(id, 4, "", IPC_NOWAIT);
	ct_snd(id, 4, "", IPC_NOWAIT);
	ct_q("two zero-length messages fit in a full queue", id);
	ct_rcv(id, 100, 4, IPC_NOWAIT);
	ct_rcv(id, 100, 4, IPC_NOWAIT);
	ct_rcv(id, 10000, 1, IPC_NOWAIT);
	ct_sndn(id, 3, 8193, IPC_NOWAIT);
	ct_sndn(id, 3, 8192, IPC_NOWAIT);
	ct_sndn(id, 3, 1, IPC_NOWAIT);
	ct_rcv(id, 10000, 0, IPC_NOWAIT);
	ct_rcv(id, 10000, 0, IPC_NOWAIT);
	ct_q("empty", id);

	printf("== message count limit (qbytes 3)\n");
	ct_setqbytes(id, 3);
	ct_snd(id, 1, "", IPC_NOWAIT);
	ct_snd(id, 1, "", IPC_NOWAIT);
	ct_snd(id, 1, "", IPC_NOWAIT);
	ct_snd(id, 1, "", IPC_NOWAIT);
	ct_q("3 messages", id);
	ct_rcv(id, 100, 0, IPC_NOWAIT);
	ct_snd(id, 1, "a", IPC_NOWAIT);
	ct_snd(id, 1, "", IPC_NOWAIT);
	ct_rcv(id, 100, 0, IPC_NOWAIT);
	ct_rcv(id, 100, 0, IPC_NOWAIT);
	ct_snd(id, 1, "a", IPC_NOWAIT);
	ct_snd(id, 1, "b", IPC_NOWAIT);
	ct_q("full by bytes and count", id);
	ct_rcv(id, 100, 0, IPC_NOWAIT);
	ct_rcv(id, 100, 0, IPC_NOWAIT);
	ct_rcv(id, 100, 0, IPC_NOWAIT);
	ct_rcv(id, 100, 0, IPC_NOWAIT);
	printf("-- larger than qbytes: never fits\n");
	ct_snd(id, 1, "abcd", IPC_NOWAIT);
	ct_snd(id, 1, "abc", IPC_NOWAIT);
	ct_rcv(id, 100, 0, IPC_NOWAIT);
	printf("-- qbytes 1\n");
	ct_setqbytes(id, 1);
	ct_snd(id, 1, "", IPC_NOWAIT);
	ct_snd(id, 1, "", IPC_NOWAIT);
	ct_rcv(id, 100, 0, IPC_NOWAIT);
	ct_snd(id, 1, "a", IPC_NOWAIT);
	ct_snd(id, 1, "", IPC_NOWAIT);
	ct_rcv(id, 100, 0, IPC_NOWAIT);
	printf("-- qbytes 0\n");
	ct_setqbytes(id, 0);
	ct_snd(id, 1, "", IPC_NOWAIT);
	ct_snd(id, 1, "a", IPC_NOWAIT);
	ct_q("empty", id);

	printf("== lowering qbytes below cbytes\n");
	ct_setqbytes(id, 1000);
	ct_sndn(id, 1, 300, IPC_NOWAIT);
	ct_sndn(id, 2, 300, IPC_NOWAIT);
	ct_sndn(id, 3, 300, IPC_NOWAIT);
	ct_setqbytes(id, 500);
	ct_msgstat("over the limit", id);
	ct_snd(id, 4, "", IPC_NOWAIT);
	ct_rcv(id, 1000, 0, IPC_NOWAIT);
	ct_snd(id, 4, "", IPC_NOWAIT);
	ct_rcv(id, 1000, 0, IPC_NOWAIT);
	ct_snd(id, 4, "", IPC_NOWAIT);
	ct_sndn(id, 5, 200, IPC_NOWAIT);
	ct_sndn(id, 5, 201, IPC_NOWAIT);
	ct_q("at the limit", id);
	ct_rcv(id, 1000, 0, IPC_NOWAIT);
	ct_rcv(id, 1000, 0, IPC_NOWAIT);
	ct_rcv(id, 1000, 0, IPC_NOWAIT);
	ct_rcv(id, 1000, 0, IPC_NOWAIT);
	ct_setqbytes(id, CT_MSGMNB);

	printf("== several senders\n");
	if ((c = ct_fork("child1")) == 0) {
		ct_snd(id, 1, "child1", 0);
		ct_child_exit(0);
	}
	ct_wait(c);
	ct_q("after child1", id);
	ct_snd(id, 1, "main", 0);
	ct_q("after main", id);
	if ((c = ct_fork("child2")) == 0) {
		ct_snd(id, 1, "child2", 0);
		ct_sndn(id, 1, 9000, 0);
		ct_snd(id, 0, "child2", 0);
		ct_child_exit(0);
	}
	ct_wait(c);
	ct_q("after child2 and two failed sends", id);
	ct_rcv(id, 100, 0, 0);
	ct_rcv(id, 100, 0, 0);
	ct_rcv(id, 100, 0, 0);
	ct_msgstat("final", id);
	return 0;
}
