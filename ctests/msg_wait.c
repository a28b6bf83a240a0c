/*
 * msg_wait.c - sleeping in msgrcv and msgsnd, and wake-ups:
 *   - a receiver on an empty queue sleeps (state S) until a message
 *     arrives; a message sent to a sleeping receiver that wants it is
 *     handed over directly ("pipelined"): it never counts in qnum/cbytes,
 *     lspid is the sender and lrpid the receiver
 *   - a receiver waiting for type 2 is not woken by type 1 (which is
 *     queued); msgtyp < 0 and MSG_EXCEPT receivers are matched the same
 *     way as in a queue search
 *   - several sleeping receivers: a new message goes to the first one,
 *     in the order they went to sleep, that wants it; receivers of the
 *     same type are served in that order
 *   - a sleeping receiver whose buffer is too small (no MSG_NOERROR)
 *     gets E2BIG when a matching message arrives, and the message goes on
 *     to the next matching receiver, or to the queue; with MSG_NOERROR it
 *     gets the truncated message
 *   - a sender on a full queue sleeps until a receive makes room for its
 *     message (bytes, or the message count limit); a receive that frees
 *     too little leaves it asleep; a sleeping sender whose message does
 *     not fit does not hold up a later sender whose message fits
 *   - IPC_RMID wakes every sleeping receiver and sender with EIDRM
 *   - a sleeper killed by SIGKILL takes nothing: a later message goes to
 *     the next receiver or to the queue; a killed sender sends nothing
 *   - threads: a thread sleeping in msgrcv is woken by another thread of
 *     its process; lspid is the process id; lrpid is the process id when
 *     the thread takes a queued message, but the thread id when a message
 *     is handed to the sleeping thread (pipelined_send records
 *     task_pid(receiver), not its tgid)
 * Children are forked straight into their call and report its result
 * through a pipe (common.h ct_rcv_kid/ct_snd_kid), so the parent prints
 * everything in a fixed order.
 */
#include "common.h"
#include <pthread.h>

static int id;

/* after an event that should complete exactly one of kids[0..n-1]: wait
 * until one has a result, give the others a moment, then report every
 * kid that has finished (in array order) and mark it done */
static void woken(struct ct_kid *kids, int *done, int n)
{
	int any = 0;
	for (int t = 0; t < 5000 && !any; t++) {
		for (int i = 0; i < n; i++)
			if (!done[i] && ct_kid_ready(&kids[i], 0))
				any = 1;
		if (!any)
			usleep(1000);
	}
	usleep(20000);
	int count = 0;
	for (int i = 0; i < n; i++)
		if (!done[i] && ct_kid_ready(&kids[i], 0)) {
			ct_kid_done(&kids[i]);
			done[i] = 1;
			count++;
		}
	if (count == 0)
		printf("nobody woke up\n");
}

static int thr_id;
static long thr_r;
static struct ct_msg thr_m;
static pid_t thr_tid;

static void *thr_rcv(void *arg)
{
	(void)arg;
	thr_tid = gettid();
	thr_r = ct_rcv_q(thr_id, &thr_m, 100, 0, 0);
	return NULL;
}

int main(void)
{
	ct_init();
	struct ct_kid r[6], s[3];
	int done[6];
	id = T_ID(msgget(IPC_PRIVATE, IPC_CREAT | 0600));

	printf("== a receiver sleeps until a message arrives\n");
	r[0] = ct_rcv_kid("r1", id, 100, 0, 0);
	ct_asleep(r[0].pid);
	ct_q("r1 sleeping", id);
	ct_snd(id, 1, "hello", 0);
	ct_kid_done(&r[0]);
	ct_q("handed over", id);

	printf("== a receiver waiting for type 2 is not woken by type 1\n");
	r[0] = ct_rcv_kid("r1", id, 100, 2, 0);
	ct_asleep(r[0].pid);
	ct_snd(id, 1, "type one", 0);
	ct_still_blocked(&r[0]);
	ct_q("type 1 queued", id);
	ct_snd(id, 2, "type two", 0);
	ct_kid_done(&r[0]);
	ct_q("type 1 still queued", id);
	r[0] = ct_rcv_kid("r2", id, 100, -1, 0);
	ct_kid_done(&r[0]);
	ct_snd(id, 3, "type three", 0);
	r[0] = ct_rcv_kid("r3", id, 100, -2, 0);
	ct_asleep(r[0].pid);
	ct_snd(id, 4, "type four", 0);
	ct_still_blocked(&r[0]);
	ct_snd(id, 2, "type two", 0);
	ct_kid_done(&r[0]);
	r[0] = ct_rcv_kid("r4", id, 100, 3, MSG_EXCEPT);
	ct_kid_done(&r[0]);
	r[0] = ct_rcv_kid("r5", id, 100, 3, MSG_EXCEPT);
	ct_asleep(r[0].pid);
	ct_snd(id, 3, "type three", 0);
	ct_still_blocked(&r[0]);
	ct_snd(id, 5, "type five", 0);
	ct_kid_done(&r[0]);
	ct_rcv(id, 100, 0, IPC_NOWAIT);
	ct_rcv(id, 100, 0, IPC_NOWAIT);
	ct_q("empty", id);

	printf("== several receivers: first matching one in sleeping order\n");
	r[0] = ct_rcv_kid("r1", id, 100, 3, 0);
	ct_asleep(r[0].pid);
	r[1] = ct_rcv_kid("r2", id, 100, -2, 0);
	ct_asleep(r[1].pid);
	r[2] = ct_rcv_kid("r3", id, 100, 2, MSG_EXCEPT);
	ct_asleep(r[2].pid);
	r[3] = ct_rcv_kid("r4", id, 100, 0, 0);
	ct_asleep(r[3].pid);
	r[4] = ct_rcv_kid("r5", id, 100, 0, 0);
	ct_asleep(r[4].pid);
	memset(done, 0, sizeof done);
	ct_snd(id, 2, "2 for r2", 0);
	woken(r, done, 5);
	ct_snd(id, 5, "5 for r3", 0);
	woken(r, done, 5);
	ct_snd(id, 1, "1 for r4", 0);
	woken(r, done, 5);
	ct_snd(id, 2, "2 for r5", 0);
	woken(r, done, 5);
	ct_snd(id, 2, "2 queued", 0);
	ct_still_blocked(&r[0]);
	ct_q("one queued", id);
	ct_snd(id, 3, "3 for r1", 0);
	woken(r, done, 5);
	ct_q("after", id);
	ct_rcv(id, 100, 0, IPC_NOWAIT);

	printf("== receivers of one type: in sleeping order\n");
	for (int i = 0; i < 3; i++) {
		char nm[8];
		snprintf(nm, sizeof nm, "r%d", i + 1);
		r[i] = ct_rcv_kid(nm, id, 100, 0, 0);
		ct_asleep(r[i].pid);
	}
	memset(done, 0, sizeof done);
	ct_snd(id, 1, "A", 0);
	woken(r, done, 3);
	ct_snd(id, 7, "B", 0);
	woken(r, done, 3);
	ct_snd(id, 1, "C", 0);
	woken(r, done, 3);

	printf("== a sleeping receiver with too small a buffer\n");
	r[0] = ct_rcv_kid("r1", id, 4, 0, 0);
	ct_asleep(r[0].pid);
	r[1] = ct_rcv_kid("r2", id, 100, 0, 0);
	ct_asleep(r[1].pid);
	ct_snd(id, 1, "too long", 0);
	ct_kid_done(&r[0]);
	ct_kid_done(&r[1]);
	ct_q("r2 got it", id);
	r[0] = ct_rcv_kid("r3", id, 4, 0, 0);
	ct_asleep(r[0].pid);
	ct_snd(id, 1, "too long", 0);
	ct_kid_done(&r[0]);
	ct_q("queued", id);
	ct_rcv(id, 100, 0, IPC_NOWAIT);
	r[0] = ct_rcv_kid("r4", id, 4, 0, MSG_NOERROR);
	ct_asleep(r[0].pid);
	r[1] = ct_rcv_kid("r5", id, 100, 0, 0);
	ct_asleep(r[1].pid);
	ct_snd(id, 1, "truncated", 0);
	ct_kid_done(&r[0]);
	ct_still_blocked(&r[1]);
	ct_snd(id, 1, "for r5", 0);
	ct_kid_done(&r[1]);
	ct_q("empty", id);

	printf("== a sender sleeps on a full queue\n");
	ct_sndn(id, 1, 8192, 0);
	ct_sndn(id, 2, 8192, 0);
	s[0] = ct_snd_kid("s1", id, 5, 100, 0);
	ct_asleep(s[0].pid);
	ct_q("s1 sleeping", id);
	ct_rcv(id, 10000, 0, 0);
	ct_kid_done(&s[0]);
	ct_q("s1 sent", id);
	ct_rcv(id, 10000, 0, 0);
	ct_rcv(id, 10000, 0, 0);

	printf("== a receive that frees too little\n");
	ct_setqbytes(id, 1000);
	ct_sndn(id, 1, 300, 0);
	ct_sndn(id, 2, 300, 0);
	ct_sndn(id, 3, 300, 0);
	s[0] = ct_snd_kid("s1", id, 4, 500, 0);
	ct_asleep(s[0].pid);
	ct_rcv(id, 1000, 1, 0);
	ct_still_blocked(&s[0]);
	ct_q("600 bytes queued", id);
	ct_rcv(id, 1000, 2, 0);
	ct_kid_done(&s[0]);
	ct_q("s1 sent", id);
	ct_rcv(id, 1000, 0, 0);
	ct_rcv(id, 1000, 0, 0);

	printf("== a sender that does not fit does not hold up one that does\n");
	ct_sndn(id, 1, 500, 0);
	ct_sndn(id, 2, 500, 0);
	s[0] = ct_snd_kid("s1", id, 3, 600, 0);
	ct_asleep(s[0].pid);
	s[1] = ct_snd_kid("s2", id, 4, 100, 0);
	ct_asleep(s[1].pid);
	ct_rcv(id, 1000, 1, 0);
	ct_kid_done(&s[1]);
	ct_still_blocked(&s[0]);
	ct_q("s2 sent, s1 sleeping", id);
	ct_rcv(id, 1000, 2, 0);
	ct_kid_done(&s[0]);
	ct_q("s1 sent", id);
	ct_rcv(id, 1000, 0, 0);
	ct_rcv(id, 1000, 0, 0);

	printf("== the message count limit\n");
	ct_setqbytes(id, 2);
	ct_snd(id, 1, "", 0);
	ct_snd(id, 2, "", 0);
	s[0] = ct_snd_kid("s1", id, 3, 0, 0);
	ct_asleep(s[0].pid);
	ct_q("s1 sleeping", id);
	ct_rcv(id, 10, 0, 0);
	ct_kid_done(&s[0]);
	ct_q("s1 sent", id);
	ct_rcv(id, 10, 0, 0);
	ct_rcv(id, 10, 0, 0);
	ct_setqbytes(id, CT_MSGMNB);

	printf("== IPC_RMID wakes everybody with EIDRM\n");
	{
		int q = T_ID(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
		ct_setqbytes(q, 10);
		ct_sndn(q, 1, 10, 0);
		r[0] = ct_rcv_kid("r1", q, 100, 2, 0);
		ct_asleep(r[0].pid);
		r[1] = ct_rcv_kid("r2", q, 100, 1, MSG_EXCEPT);
		ct_asleep(r[1].pid);
		s[0] = ct_snd_kid("s1", q, 1, 5, 0);
		ct_asleep(s[0].pid);
		s[1] = ct_snd_kid("s2", q, 2, 1, 0);
		ct_asleep(s[1].pid);
		T_INT(msgctl(q, IPC_RMID, NULL));
		ct_kid_done(&r[0]);
		ct_kid_done(&r[1]);
		ct_kid_done(&s[0]);
		ct_kid_done(&s[1]);
	}

	printf("== sleepers killed by SIGKILL\n");
	r[0] = ct_rcv_kid("r1", id, 100, 0, 0);
	ct_asleep(r[0].pid);
	r[1] = ct_rcv_kid("r2", id, 100, 0, 0);
	ct_asleep(r[1].pid);
	kill(r[0].pid, SIGKILL);
	ct_kid_done(&r[0]);
	ct_snd(id, 1, "for r2", 0);
	ct_kid_done(&r[1]);
	r[0] = ct_rcv_kid("r3", id, 100, 0, 0);
	ct_asleep(r[0].pid);
	kill(r[0].pid, SIGKILL);
	ct_kid_done(&r[0]);
	ct_snd(id, 1, "queued", 0);
	ct_q("queued", id);
	ct_rcv(id, 100, 0, 0);
	ct_setqbytes(id, 5);
	ct_snd(id, 1, "full", 0);
	s[0] = ct_snd_kid("s1", id, 2, 3, 0);
	ct_asleep(s[0].pid);
	kill(s[0].pid, SIGKILL);
	ct_kid_done(&s[0]);
	ct_rcv(id, 100, 0, 0);
	ct_rcv(id, 100, 0, IPC_NOWAIT);
	ct_q("s1 sent nothing", id);
	ct_setqbytes(id, CT_MSGMNB);

	printf("== threads\n");
	pid_t c;
	if ((c = ct_fork("child1")) == 0) {
		pthread_t t;
		thr_id = id;
		if (pthread_create(&t, NULL, thr_rcv, NULL) != 0)
			ct_fatal("pthread_create");
		while (!__atomic_load_n(&thr_tid, __ATOMIC_SEQ_CST))
			usleep(1000);
		ct_pid_register(thr_tid, "child1-thread");
		printf("thread blocked: %s\n", yes(ct_wait_asleep(getpid(), thr_tid)));
		ct_snd(id, 1, "to the thread", 0);
		pthread_join(t, NULL);
		printf("thread: %s\n", ct_rcv_str(thr_r, 0, &thr_m));
		ct_q("pipelined to a thread", id);
		ct_snd(id, 1, "queued for the thread", 0);
		thr_tid = 0;
		if (pthread_create(&t, NULL, thr_rcv, NULL) != 0)
			ct_fatal("pthread_create");
		pthread_join(t, NULL);
		printf("thread: %s\n", ct_rcv_str(thr_r, 0, &thr_m));
		ct_q("received by a thread from the queue", id);
		ct_child_exit(0);
	}
	ct_wait(c);
	ct_msgstat("final", id);
	return 0;
}
