/*
 * msg_limits.c - limits of a fresh namespace:
 *   - MSGMAX 8192: a message of 8192 bytes is fine, 8193 -> EINVAL
 *   - MSGMNB 16384: the default msg_qbytes; it also limits the number of
 *     messages: 16384 zero-length messages fit in one queue, the next one
 *     does not (EAGAIN); MSG_INFO counts them; after one receive one more
 *     fits
 *   - MSGMNI 32000 queues: create queues until ENOSPC; the count equals
 *     msgmni; MSG_INFO then reports msgpool == msgmni and the highest
 *     index >= msgmni-1; keyed creation also gets ENOSPC (an existing key
 *     is still found, a missing key without IPC_CREAT is still ENOENT,
 *     IPC_CREAT|IPC_EXCL on an existing key is still EEXIST); after
 *     removing one queue, one more fits; after removing all, msgpool 0
 * (The limits are the defaults of a new IPC namespace; changing them
 * needs /proc/sys/kernel/msg*, which is outside the emulated API.)
 */
#include "common.h"

static int ids[40000];

int main(void)
{
	ct_init();
	struct msginfo mi, minfo;

	printf("== limits\n");
	T_INT(msgctl(0, IPC_INFO, (struct msqid_ds *)&mi));
	ct_print_msginfo("IPC_INFO", &mi);
	int id = T_ID(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
	ct_sndn(id, 1, mi.msgmax, 0);
	ct_sndn(id, 1, mi.msgmax + 1, 0);
	ct_rcv(id, mi.msgmax, 0, 0);

	printf("== MSGMNB also limits the number of messages\n");
	{
		int n = 0, err = 0;
		for (;;) {
			if (ct_snd_q(id, 1 + n % 3, "", IPC_NOWAIT) != 0) {
				err = errno;
				break;
			}
			if (++n > 100000)
				break;
		}
		printf("zero-length messages before failure: %d (== msgmnb: %s), error %s\n", n,
		       yes(n == mi.msgmnb), ct_errname(err));
		ct_q("full of empty messages", id);
		msgctl(0, MSG_INFO, (struct msqid_ds *)&minfo);
		printf("MSG_INFO: messages=%d bytes=%d\n", minfo.msgmap, minfo.msgtql);
		ct_snd(id, 1, "", IPC_NOWAIT);
		ct_rcv(id, 10, 2, IPC_NOWAIT);
		ct_snd(id, 1, "x", IPC_NOWAIT);
		ct_snd(id, 1, "", IPC_NOWAIT);
		ct_snd(id, 1, "", IPC_NOWAIT);
		int got = 0;
		struct ct_msg m;
		while (ct_rcv_q(id, &m, 10, 0, IPC_NOWAIT) >= 0)
			got++;
		printf("received %d messages, then %s\n", got, ct_errname(errno));
		T_INT(msgctl(id, IPC_RMID, NULL));
	}

	printf("== MSGMNI exhaustion\n");
	int keyed = T_ID(msgget(0x7002, IPC_CREAT | 0600));
	int n = 1, err = 0;
	for (;;) {
		int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
		if (q < 0) {
			err = errno;
			break;
		}
		if (n >= (int)(sizeof ids / sizeof ids[0]))
			break;
		ids[n++] = q;
	}
	ids[0] = keyed;
	printf("queues before failure: %d (== msgmni: %s), error %s\n", n, yes(n == mi.msgmni),
	       ct_errname(err));
	int maxidx = msgctl(0, MSG_INFO, (struct msqid_ds *)&minfo);
	{
		struct msqid_ds ds;
		printf("MSG_INFO: maxidx >= msgmni-1: %s, MSG_STAT_ANY(maxidx) ok: %s, "
		       "msgpool=%d msgmap=%d msgtql=%d\n",
		       yes(maxidx >= mi.msgmni - 1), yes(msgctl(maxidx, MSG_STAT_ANY, &ds) >= 0),
		       minfo.msgpool, minfo.msgmap, minfo.msgtql);
		printf("IPC_INFO returns the same: %s\n",
		       yes(msgctl(0, IPC_INFO, (struct msqid_ds *)&mi) == maxidx));
	}
	T_ID(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
	T_ID(msgget(IPC_PRIVATE, 0600));
	T_ID(msgget(0x7003, IPC_CREAT | 0600));
	T_ID(msgget(0x7003, 0600));
	T_ID(msgget(0x7002, 0600));
	T_ID(msgget(0x7002, IPC_CREAT | 0600));
	T_ID(msgget(0x7002, IPC_CREAT | IPC_EXCL | 0600));
	ct_snd(keyed, 1, "still works", 0);
	ct_rcv(keyed, 100, 0, 0);
	T_INT(msgctl(ids[n / 2], IPC_RMID, NULL));
	int one = T_ID(msgget(0x7003, IPC_CREAT | 0600));
	T_ID(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
	int removed = 0, failed = 0;
	for (int i = 0; i < n; i++) {
		if (i == n / 2)
			continue;
		if (msgctl(ids[i], IPC_RMID, NULL) == 0)
			removed++;
		else
			failed++;
	}
	printf("removed %d, failed %d\n", removed, failed);
	T_INT(msgctl(one, IPC_RMID, NULL));
	maxidx = msgctl(0, MSG_INFO, (struct msqid_ds *)&minfo);
	printf("MSG_INFO returns %d, msgpool=%d msgmap=%d msgtql=%d\n", maxidx, minfo.msgpool,
	       minfo.msgmap, minfo.msgtql);
	T_ID(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
	return 0;
}
