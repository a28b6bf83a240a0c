/*
 * msg_stress.c - several producers and consumers on one queue at once;
 * only deterministic summary lines are printed:
 *   1. 4 producers x 1500 messages of random size (16..1000 bytes) and
 *      type (1..5), 4 consumers with different selections (msgtyp 0, -3,
 *      5|MSG_EXCEPT, -5), msg_qbytes 4096 so that producers often sleep
 *      (some sends use IPC_NOWAIT and retry on EAGAIN, some receives
 *      IPC_NOWAIT and retry on ENOMSG).  Each message carries its
 *      producer, sequence number, length and a checksum; consumers check
 *      them and count every (producer, seq) in a shared anonymous
 *      mapping (MAP_SHARED|MAP_ANONYMOUS, not SysV shm).  At the end
 *      every message was received exactly once, intact, and each consumer
 *      saw the messages of one producer and one type in sending order.
 *      When the queue is empty, one stop message per consumer ends them.
 *   2. the same with producers that send until they are killed with
 *      SIGKILL mid-run (after each has sent at least 300 messages; one
 *      that has sent all its MAXSEQ messages waits to be killed).  Each
 *      producer marks "about to send" before msgsnd and "sent" after it
 *      returned 0: every "sent" message is received exactly once; the
 *      only "about to send" message of a producer (its last) is received
 *      at most once; nothing else is received; nothing twice or corrupt.
 */
#include "common.h"
#include <sched.h>

#define NP 4
#define NC 4
#define N1 1500
#define MAXSEQ 30000
#define STOP 0xffffffffu

struct hdr {
	uint32_t producer, seq, len, sum;
};

struct shared {
	uint8_t state[NP][MAXSEQ]; /* 1 = about to send, 2 = sent */
	uint8_t got[NP][MAXSEQ];   /* times received */
	long corrupt, unordered, bogus;
	long sent[NP];
};

static struct shared *sh;
static int qid;

static long type_of(uint32_t p, uint32_t seq)
{
	return 1 + (long)(ct_mix(((uint64_t)p << 32) | seq) % 5);
}

static uint32_t len_of(uint32_t p, uint32_t seq)
{
	return 16 + (uint32_t)(ct_mix(((uint64_t)seq << 32) | (p + 77)) % 985);
}

static void make(struct ct_msg *m, uint32_t p, uint32_t seq)
{
	struct hdr h = { p, seq, len_of(p, seq), 0 };
	m->mtype = type_of(p, seq);
	uint64_t r = ct_mix(((uint64_t)p << 40) ^ seq ^ 0x5bd1e995);
	for (uint32_t i = sizeof h; i < h.len; i++) {
		r = r * 6364136223846793005ULL + 1442695040888963407ULL;
		m->mtext[i] = (char)(r >> 56);
	}
	memcpy(m->mtext, &h, sizeof h);
	h.sum = ct_fnv(m->mtext, h.len);
	memcpy(m->mtext, &h, sizeof h);
}

static int check(const struct ct_msg *m, long n, struct hdr *out)
{
	struct hdr h;
	if (n < (long)sizeof h)
		return 0;
	memcpy(&h, m->mtext, sizeof h);
	*out = h;
	if (h.producer == STOP)
		return n == (long)sizeof h && m->mtype == 1;
	if (h.producer >= NP || h.seq >= MAXSEQ || h.len != (uint32_t)n)
		return 0;
	if (h.len != len_of(h.producer, h.seq) || m->mtype != type_of(h.producer, h.seq))
		return 0;
	struct ct_msg c;
	memcpy(c.mtext, m->mtext, n);
	struct hdr z = h;
	z.sum = 0;
	memcpy(c.mtext, &z, sizeof z);
	return ct_fnv(c.mtext, n) == h.sum;
}

/* send count messages, then exit (or, if hold, wait to be killed) */
static void producer(int p, int count, int hold)
{
	static struct ct_msg m;
	uint64_t r = ct_mix(p + 1000);
	for (uint32_t seq = 0; seq < (uint32_t)count; seq++) {
		make(&m, p, seq);
		r = ct_mix(r);
		int nowait = r % 4 == 0;
		__atomic_store_n(&sh->state[p][seq], 1, __ATOMIC_SEQ_CST);
		for (;;) {
			int rc = msgsnd(qid, &m, len_of(p, seq), nowait ? IPC_NOWAIT : 0);
			if (rc == 0)
				break;
			if (errno == EAGAIN && nowait) {
				sched_yield();
				continue;
			}
			_exit(10);
		}
		__atomic_store_n(&sh->state[p][seq], 2, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&sh->sent[p], 1, __ATOMIC_SEQ_CST);
	}
	while (hold)
		pause();
	_exit(0);
}

static void consumer(int c)
{
	static const long typ[NC] = { 0, -3, 5, -5 };
	static const int flg[NC] = { 0, 0, MSG_EXCEPT, MSG_NOERROR };
	static struct ct_msg m;
	static int32_t last[NP][6];
	memset(last, 0xff, sizeof last);
	uint64_t r = ct_mix(c + 2000);
	for (;;) {
		r = ct_mix(r);
		int nowait = r % 3 == 0;
		long n = msgrcv(qid, &m, sizeof m.mtext, typ[c], flg[c] | (nowait ? IPC_NOWAIT : 0));
		if (n < 0) {
			if (errno == ENOMSG && nowait) {
				sched_yield();
				continue;
			}
			_exit(20);
		}
		struct hdr h;
		if (!check(&m, n, &h)) {
			__atomic_add_fetch(&sh->corrupt, 1, __ATOMIC_SEQ_CST);
			continue;
		}
		if (h.producer == STOP)
			_exit(0);
		if (__atomic_load_n(&sh->state[h.producer][h.seq], __ATOMIC_SEQ_CST) == 0)
			__atomic_add_fetch(&sh->bogus, 1, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&sh->got[h.producer][h.seq], 1, __ATOMIC_SEQ_CST);
		int32_t *l = &last[h.producer][m.mtype];
		if ((int32_t)h.seq <= *l)
			__atomic_add_fetch(&sh->unordered, 1, __ATOMIC_SEQ_CST);
		*l = (int32_t)h.seq;
	}
}

static pid_t spawn_consumer(int c)
{
	pid_t p = fork();
	if (p < 0)
		ct_fatal("fork");
	if (p == 0)
		consumer(c);
	return p;
}

static int wait_all(pid_t *p, int n, int want_signal)
{
	int ok = 1;
	for (int i = 0; i < n; i++) {
		int st;
		if (waitpid(p[i], &st, 0) != p[i])
			ok = 0;
		else if (want_signal ? !(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
				     : !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
			ok = 0;
	}
	return ok;
}

/* wait until the queue is empty, then send one stop message per
 * consumer and reap them */
static int stop_consumers(pid_t *cons)
{
	struct msqid_ds ds;
	for (int t = 0; t < 20000; t++) {
		if (msgctl(qid, IPC_STAT, &ds) != 0)
			ct_fatal("IPC_STAT");
		if (ds.msg_qnum == 0)
			break;
		usleep(1000);
	}
	struct ct_msg m;
	struct hdr h = { STOP, 0, sizeof h, 0 };
	m.mtype = 1;
	memcpy(m.mtext, &h, sizeof h);
	for (int i = 0; i < NC; i++)
		if (msgsnd(qid, &m, sizeof h, 0) != 0)
			ct_fatal("msgsnd stop");
	return wait_all(cons, NC, 0);
}

static void summary(void)
{
	printf("corrupt: %ld, out of order: %ld, received but never sent: %ld\n", sh->corrupt,
	       sh->unordered, sh->bogus);
	struct msqid_ds ds;
	struct msginfo mi;
	msgctl(qid, IPC_STAT, &ds);
	msgctl(0, MSG_INFO, (struct msqid_ds *)&mi);
	printf("queue: qnum=%lu cbytes=%lu; MSG_INFO messages=%d bytes=%d\n",
	       (unsigned long)ds.msg_qnum, (unsigned long)ds.msg_cbytes, mi.msgmap, mi.msgtql);
}

int main(void)
{
	ct_init();
	pid_t prod[NP], cons[NC];
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		ct_fatal("mmap");

	printf("== 1. %d producers x %d messages, %d consumers, qbytes 4096\n", NP, N1, NC);
	qid = T_ID(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
	ct_setqbytes(qid, 4096);
	fflush(stdout);
	for (int i = 0; i < NC; i++)
		cons[i] = spawn_consumer(i);
	for (int i = 0; i < NP; i++)
		if ((prod[i] = fork()) == 0)
			producer(i, N1, 0);
	printf("all producers exited 0: %s\n", yes(wait_all(prod, NP, 0)));
	printf("all consumers stopped and exited 0: %s\n", yes(stop_consumers(cons)));
	{
		long once = 0, lost = 0, dup = 0;
		for (int p = 0; p < NP; p++)
			for (int s = 0; s < N1; s++) {
				int g = sh->got[p][s];
				once += g == 1;
				lost += g == 0;
				dup += g > 1;
			}
		printf("sent %ld, received exactly once: %ld, lost: %ld, duplicated: %ld\n",
		       sh->sent[0] + sh->sent[1] + sh->sent[2] + sh->sent[3], once, lost, dup);
	}
	summary();
	T_INT(msgctl(qid, IPC_RMID, NULL));

	printf("== 2. producers killed by SIGKILL mid-run\n");
	memset(sh, 0, sizeof *sh);
	qid = T_ID(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
	ct_setqbytes(qid, 4096);
	fflush(stdout);
	for (int i = 0; i < NC; i++)
		cons[i] = spawn_consumer(i);
	for (int i = 0; i < NP; i++)
		if ((prod[i] = fork()) == 0)
			producer(i, MAXSEQ, 1);
	int enough = 0;
	for (int t = 0; t < 10000 && !enough; t++) {
		enough = 1;
		for (int p = 0; p < NP; p++)
			if (__atomic_load_n(&sh->sent[p], __ATOMIC_SEQ_CST) < 300)
				enough = 0;
		if (!enough)
			usleep(1000);
	}
	for (int i = 0; i < NP; i++)
		kill(prod[i], SIGKILL);
	printf("each producer sent >= 300 before the kill: %s\n", yes(enough));
	printf("all producers killed by SIGKILL: %s\n", yes(wait_all(prod, NP, 1)));
	printf("all consumers stopped and exited 0: %s\n", yes(stop_consumers(cons)));
	{
		int acked_once = 1, inflight_ok = 1, none_else = 1;
		for (int p = 0; p < NP; p++) {
			int inflight = 0;
			for (int s = 0; s < MAXSEQ; s++) {
				int st = sh->state[p][s], g = sh->got[p][s];
				if (st == 2 && g != 1)
					acked_once = 0;
				if (st == 1) {
					inflight++;
					if (g > 1)
						inflight_ok = 0;
				}
				if (st == 0 && g != 0)
					none_else = 0;
			}
			if (inflight > 1)
				inflight_ok = 0;
		}
		printf("every message whose msgsnd returned 0 received exactly once: %s\n",
		       yes(acked_once));
		printf("at most one send in flight per producer, received at most once: %s\n",
		       yes(inflight_ok));
		printf("nothing received that was not being sent: %s\n", yes(none_else));
	}
	summary();
	T_INT(msgctl(qid, IPC_RMID, NULL));
	return 0;
}
