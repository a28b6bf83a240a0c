/*
 * msg_setwake.c - msgctl(IPC_SET) and sleepers:
 *   - raising msg_qbytes wakes a sleeping sender whose message now fits;
 *     an IPC_SET that leaves too little room (same qbytes, or a raise
 *     that is not enough) leaves it asleep
 *   - with msg_qbytes 0 nothing fits, so a sender sleeps even while a
 *     receiver waits for its message (a message is only handed over once
 *     it would fit in the queue); raising qbytes then completes both
 *   - receivers are re-checked: after IPC_SET removes read permission, a
 *     sleeping receiver (uid 65534) fails with EACCES; one that still has
 *     permission (root) keeps sleeping and gets the next message
 *   - senders are re-checked only when they are woken: after IPC_SET
 *     removes write permission, a sleeping sender (uid 65534) sleeps on
 *     while its message does not fit; when a receive makes room it fails
 *     with EACCES and nothing is sent; an IPC_SET that removes the
 *     permission and makes room at once gives EACCES directly
 */
#include "common.h"

static void become_nobody(void)
{
	ct_become(NOBODY, NOBODY);
}

/* IPC_SET mode and qbytes; prints "IPC_SET(id1, mode=0600 qbytes=5) = 0" */
static int set(int id, unsigned mode, unsigned long qbytes)
{
	struct msqid_ds ds;
	errno = 0;
	int r = msgctl(id, IPC_STAT, &ds);
	if (r == 0) {
		ds.msg_perm.mode = mode;
		ds.msg_qbytes = qbytes;
		r = msgctl(id, IPC_SET, &ds);
	}
	if (r)
		printf("IPC_SET(%s, mode=%#o qbytes=%lu) = -1 %s\n", idn(id), mode, qbytes,
		       ct_errname(errno));
	else
		printf("IPC_SET(%s, mode=%#o qbytes=%lu) = 0\n", idn(id), mode, qbytes);
	return r;
}

int main(void)
{
	ct_init();
	struct ct_kid r1, r2, s1;
	int id = T_ID(msgget(IPC_PRIVATE, IPC_CREAT | 0600));

	printf("== raising qbytes wakes a sleeping sender\n");
	set(id, 0600, 10);
	ct_sndn(id, 1, 10, 0);
	s1 = ct_snd_kid("s1", id, 2, 5, 0);
	ct_asleep(s1.pid);
	set(id, 0600, 15);
	ct_kid_done(&s1);
	ct_q("s1 sent", id);

	printf("== an IPC_SET that makes too little room\n");
	s1 = ct_snd_kid("s2", id, 3, 5, 0);
	ct_asleep(s1.pid);
	set(id, 0640, 15);
	ct_still_blocked(&s1);
	set(id, 0600, 19);
	ct_still_blocked(&s1);
	set(id, 0600, 20);
	ct_kid_done(&s1);
	ct_q("s2 sent", id);
	ct_rcv(id, 100, 0, 0);
	ct_rcv(id, 100, 0, 0);
	ct_rcv(id, 100, 0, 0);

	printf("== qbytes 0: a sender sleeps even while a receiver waits\n");
	set(id, 0600, 0);
	r1 = ct_rcv_kid("r1", id, 100, 0, 0);
	ct_asleep(r1.pid);
	s1 = ct_snd_kid("s3", id, 4, 1, 0);
	ct_asleep(s1.pid);
	ct_still_blocked(&r1);
	ct_q("both sleeping", id);
	set(id, 0600, 100);
	ct_kid_done(&s1);
	ct_kid_done(&r1);
	ct_q("handed over", id);

	printf("== receivers are re-checked after IPC_SET\n");
	set(id, 0666, 100);
	ct_kid_setup = become_nobody;
	r1 = ct_rcv_kid("nobody-r", id, 100, 0, 0);
	ct_kid_setup = NULL;
	ct_asleep(r1.pid);
	r2 = ct_rcv_kid("root-r", id, 100, 0, 0);
	ct_asleep(r2.pid);
	set(id, 0600, 100);
	ct_kid_done(&r1);
	ct_still_blocked(&r2);
	ct_snd(id, 1, "for root-r", 0);
	ct_kid_done(&r2);
	ct_q("after", id);

	printf("== senders are re-checked when they are woken\n");
	set(id, 0666, 5);
	ct_snd(id, 1, "full!", 0);
	ct_kid_setup = become_nobody;
	s1 = ct_snd_kid("nobody-s1", id, 2, 3, 0);
	ct_kid_setup = NULL;
	ct_asleep(s1.pid);
	set(id, 0600, 5);
	ct_still_blocked(&s1);
	ct_rcv(id, 100, 0, 0);
	ct_kid_done(&s1);
	ct_q("nothing sent", id);
	set(id, 0666, 5);
	ct_snd(id, 1, "full!", 0);
	ct_kid_setup = become_nobody;
	s1 = ct_snd_kid("nobody-s2", id, 2, 3, 0);
	ct_kid_setup = NULL;
	ct_asleep(s1.pid);
	set(id, 0600, 100);
	ct_kid_done(&s1);
	ct_q("nothing sent", id);
	ct_rcv(id, 100, 0, 0);
	ct_msgstat("final", id);
	return 0;
}
