/*
 * chaos_kill.c - workers killed with SIGKILL at random moments, over and
 * over, while they use all three facilities; afterwards the objects must be
 * exactly as the dead left them by the rules.  Only yes/no lines print.
 *
 * 6 worker processes loop on random operations until killed:
 *   - P then V with SEM_UNDO on one semaphore, or on two at once, of a set
 *     of 3 semaphores of value 2 (semtimedop with a 2 ms timeout, so a
 *     worker never waits long);
 *   - msgsnd (IPC_NOWAIT) of a tracked message, type 1: the worker marks it
 *     "about to send" in a shared anonymous mapping before, and "sent"
 *     after msgsnd returned 0; its body carries (slot, seq, length) and a
 *     checksum;
 *   - msgsnd and msgrcv (IPC_NOWAIT) of untracked type-2 messages, which
 *     workers both send and take (a worker killed after msgrcv loses its
 *     message, as on Linux, so those are only checked for integrity);
 *   - shmat, a write, shmdt of one segment;
 *   - V then P without SEM_UNDO (one operation each, which a set used only
 *     so takes without its lock) on a semaphore of the worker's own, in a
 *     second set, marking in shared memory which one it is about to make;
 *   - a blocking msgsnd or msgrcv of 64 bytes on a second queue that holds
 *     two such messages, so that workers sleep on it both ways.
 * The parent, for about 2 s, kills a random worker every 0 to 3 ms and
 * starts another in its place, and takes the type-1 messages as they come.
 * After each kill it checks the dead worker's own semaphore against its
 * marks (0 or 1, as the last operation did or did not happen), then sets
 * it back to 0 for the next worker.
 * Then it kills every worker, and checks:
 *   - each semaphore is back to 2 (every SEM_UNDO applied, none twice) and
 *     nobody is counted as waiting;
 *   - the segment has no attachment left;
 *   - every tracked message marked "sent" arrived exactly once, one marked
 *     only "about to send" at most once, no other arrived, none corrupt;
 *     untracked ones are intact too;
 *   - each object still works.
 * The same must hold against the kernel (the test is run on both).
 */
#include "common.h"
#include <sched.h>

#define WORKERS 6
#define MAXSEQ 200000
#define CHAOS_MS 2000 /* CHAOS_MS in the environment overrides (scripts/soak.sh) */
#define TRACKED 1
#define UNTRACKED 2

struct body {
	uint32_t slot, seq, len, sum;
	char fill[200];
};

struct shared {
	uint32_t next_seq[WORKERS];
	uint32_t damaged; /* untracked messages a worker found corrupt */
	uint8_t state[WORKERS][MAXSEQ]; /* 1 = about to send, 2 = sent */
	uint8_t got[WORKERS][MAXSEQ];
	uint32_t own_mark[WORKERS]; /* 0 idle, 1 about to V, 2 about to P */
};

static struct shared *sh;
static int semid, own_semid, qid, shmid, small_qid;
static long corrupt;

static uint32_t sum_of(const struct body *b)
{
	struct body c = *b;
	c.sum = 0;
	return ct_fnv(&c, b->len);
}

static void make(struct body *b, uint32_t slot, uint32_t seq)
{
	b->slot = slot;
	b->seq = seq;
	b->len = 16 + (uint32_t)(ct_mix(((uint64_t)slot << 32) | seq) % sizeof b->fill);
	for (uint32_t i = 0; i < b->len - 16; i++)
		b->fill[i] = (char)(seq * 31 + i);
	b->sum = 0;
	b->sum = sum_of(b);
}

static int intact(const struct body *b, long n)
{
	return n >= 16 && b->len == (uint32_t)n && b->slot < WORKERS && b->seq < MAXSEQ && b->sum == sum_of(b);
}

static void worker(int slot, uint64_t seed)
{
	struct {
		long mtype;
		struct body b;
	} m;
	struct timespec wait = { 0, 2000000 };
	uint64_t r = ct_mix(seed);
	for (;;) {
		r = ct_mix(r);
		int a = (int)(r % 3), b = (int)((r >> 8) % 3);
		switch ((r >> 16) % 7) {
		case 0: {
			struct sembuf p = { (unsigned short)a, -1, SEM_UNDO }, v = { (unsigned short)a, 1, SEM_UNDO };
			if (semtimedop(semid, &p, 1, &wait) == 0 && semop(semid, &v, 1))
				_exit(10);
			break;
		}
		case 1: {
			if (a == b)
				break;
			struct sembuf p[2] = { { (unsigned short)a, -1, SEM_UNDO }, { (unsigned short)b, -1, SEM_UNDO } };
			struct sembuf v[2] = { { (unsigned short)a, 1, SEM_UNDO }, { (unsigned short)b, 1, SEM_UNDO } };
			if (semtimedop(semid, p, 2, &wait) == 0 && semop(semid, v, 2))
				_exit(11);
			break;
		}
		case 2: {
			uint32_t seq = __atomic_fetch_add(&sh->next_seq[slot], 1, __ATOMIC_SEQ_CST);
			if (seq >= MAXSEQ)
				break;
			make(&m.b, slot, seq);
			m.mtype = TRACKED;
			__atomic_store_n(&sh->state[slot][seq], 1, __ATOMIC_SEQ_CST);
			if (msgsnd(qid, &m, m.b.len, IPC_NOWAIT) == 0)
				__atomic_store_n(&sh->state[slot][seq], 2, __ATOMIC_SEQ_CST);
			else if (errno == EAGAIN)
				__atomic_store_n(&sh->state[slot][seq], 0, __ATOMIC_SEQ_CST);
			else
				_exit(12);
			break;
		}
		case 3:
			if (r & (1 << 30)) {
				make(&m.b, slot, (uint32_t)(r % MAXSEQ));
				m.mtype = UNTRACKED;
				if (msgsnd(qid, &m, m.b.len, IPC_NOWAIT) && errno != EAGAIN)
					_exit(13);
			} else {
				long n = msgrcv(qid, &m, sizeof m.b, UNTRACKED, IPC_NOWAIT);
				if (n < 0 && errno != ENOMSG)
					_exit(14);
				if (n >= 0 && !intact(&m.b, n))
					__atomic_fetch_add(&sh->damaged, 1, __ATOMIC_SEQ_CST);
			}
			break;
		case 4: {
			char *at = shmat(shmid, NULL, 0);
			if (at == (void *)-1)
				_exit(15);
			at[r % 4096] = (char)r;
			if (shmdt(at))
				_exit(16);
			break;
		}
		case 5: {
			unsigned short own = (unsigned short)slot;
			struct sembuf v = { own, 1, 0 }, p = { own, -1, IPC_NOWAIT };
			__atomic_store_n(&sh->own_mark[slot], 1, __ATOMIC_SEQ_CST);
			if (semop(own_semid, &v, 1))
				_exit(17);
			__atomic_store_n(&sh->own_mark[slot], 2, __ATOMIC_SEQ_CST);
			if (semop(own_semid, &p, 1))
				_exit(18);
			__atomic_store_n(&sh->own_mark[slot], 0, __ATOMIC_SEQ_CST);
			break;
		}
		case 6:
			/* Sleeps when the small queue is full (a send) or empty (a
			 * receive); a kill ends the sleep. */
			make(&m.b, slot, 0);
			m.b.len = 64;
			m.mtype = 1 + (long)(r % 3);
			if (r & (1 << 29)) {
				if (msgsnd(small_qid, &m, 64, 0))
					_exit(19);
			} else if (msgrcv(small_qid, &m, 64, 0, 0) != 64) {
				_exit(20);
			}
			break;
		}
	}
}

static pid_t start(int slot, uint64_t seed)
{
	pid_t pid = fork();
	if (pid < 0)
		ct_fatal("fork");
	if (pid == 0)
		worker(slot, seed);
	return pid;
}

/* Takes the tracked messages queued now; returns how many. */
static long take_tracked(void)
{
	struct {
		long mtype;
		struct body b;
	} m;
	long n, taken = 0;
	while ((n = msgrcv(qid, &m, sizeof m.b, TRACKED, IPC_NOWAIT)) >= 0) {
		taken++;
		if (!intact(&m.b, n))
			corrupt++;
		else
			sh->got[m.b.slot][m.b.seq]++;
	}
	if (errno != ENOMSG)
		ct_fatal("msgrcv");
	return taken;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(void)
{
	ct_init();
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		ct_fatal("mmap");
	semid = semget(IPC_PRIVATE, 3, IPC_CREAT | 0600);
	own_semid = semget(IPC_PRIVATE, WORKERS, IPC_CREAT | 0600);
	qid = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	small_qid = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	shmid = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	if (semid < 0 || own_semid < 0 || qid < 0 || small_qid < 0 || shmid < 0)
		ct_fatal("get");
	unsigned short initial[3] = { 2, 2, 2 };
	if (semctl(semid, 0, SETALL, initial))
		ct_fatal("SETALL");
	struct msqid_ds small;
	if (msgctl(small_qid, IPC_STAT, &small))
		ct_fatal("IPC_STAT");
	small.msg_qbytes = 128;
	if (msgctl(small_qid, IPC_SET, &small))
		ct_fatal("IPC_SET");
	fflush(stdout);

	pid_t pids[WORKERS];
	uint64_t seed = 12345;
	for (int slot = 0; slot < WORKERS; slot++)
		pids[slot] = start(slot, seed++);
	uint64_t r = 99;
	long kills = 0, own_wrong = 0;
	const char *chaos_ms = getenv("CHAOS_MS");
	double end = now_ms() + (chaos_ms ? atof(chaos_ms) : CHAOS_MS);
	while (now_ms() < end) {
		r = ct_mix(r);
		struct timespec pause = { 0, (long)(r % 3000000) };
		nanosleep(&pause, NULL);
		take_tracked();
		int slot = (int)((r >> 32) % WORKERS);
		kill(pids[slot], SIGKILL);
		int status;
		if (waitpid(pids[slot], &status, 0) != pids[slot])
			ct_fatal("waitpid");
		if (!WIFSIGNALED(status)) {
			printf("worker failed: exit %d\n", WEXITSTATUS(status));
			return 1;
		}
		kills++;
		int own = semctl(own_semid, slot, GETVAL);
		uint32_t mark = sh->own_mark[slot];
		if (own < 0 || own > 1 || (mark == 0 && own != 0))
			own_wrong++;
		sh->own_mark[slot] = 0;
		if (semctl(own_semid, slot, SETVAL, 0))
			ct_fatal("SETVAL");
		pids[slot] = start(slot, seed++);
	}
	for (int slot = 0; slot < WORKERS; slot++) {
		kill(pids[slot], SIGKILL);
		waitpid(pids[slot], NULL, 0);
	}
	printf("workers killed at random moments, at least 100 times: %s\n", kills >= 100 ? "yes" : "no");

	unsigned short values[3];
	if (semctl(semid, 0, GETALL, values))
		ct_fatal("GETALL");
	printf("semaphores back to 2: %s\n", values[0] == 2 && values[1] == 2 && values[2] == 2 ? "yes" : "no");
	printf("each dead worker's own semaphore as its last operation left it: %s\n", own_wrong == 0 ? "yes" : "no");
	int waiting = 0;
	for (int i = 0; i < 3; i++)
		waiting += semctl(semid, i, GETNCNT) + semctl(semid, i, GETZCNT);
	printf("nobody counted as waiting: %s\n", waiting == 0 ? "yes" : "no");

	struct shmid_ds ds;
	if (shmctl(shmid, IPC_STAT, &ds))
		ct_fatal("IPC_STAT");
	printf("no attachment left: %s\n", ds.shm_nattch == 0 ? "yes" : "no");
	if (getenv("CHAOS_DEBUG"))
		fprintf(stderr, "nattch %lu\n", (unsigned long)ds.shm_nattch);

	take_tracked();
	long untracked = 0, n;
	struct {
		long mtype;
		struct body b;
	} m;
	while ((n = msgrcv(qid, &m, sizeof m.b, UNTRACKED, IPC_NOWAIT)) >= 0) {
		untracked++;
		if (!intact(&m.b, n))
			corrupt++;
	}
	corrupt += sh->damaged;
	long sent = 0, lost = 0, doubled = 0, unsent = 0;
	for (int slot = 0; slot < WORKERS; slot++) {
		for (uint32_t seq = 0; seq < MAXSEQ; seq++) {
			int state = sh->state[slot][seq], got = sh->got[slot][seq];
			sent += state == 2;
			lost += state == 2 && got == 0;
			doubled += got > 1;
			unsent += state == 0 && got != 0;
		}
	}
	printf("tracked messages sent: %s\n", sent > 0 ? "yes" : "no");
	printf("every one sent arrived once: %s\n", lost == 0 && doubled == 0 ? "yes" : "no");
	printf("none arrived that was not sent: %s\n", unsent == 0 ? "yes" : "no");
	printf("none corrupt: %s\n", corrupt == 0 ? "yes" : "no");
	struct msqid_ds qds;
	if (msgctl(qid, IPC_STAT, &qds))
		ct_fatal("msg IPC_STAT");
	printf("queue empty after the last receive: %s\n", qds.msg_qnum == 0 && qds.msg_cbytes == 0 ? "yes" : "no");
	if (msgctl(small_qid, IPC_STAT, &small))
		ct_fatal("IPC_STAT");
	long left = 0, bytes = 0;
	while ((n = msgrcv(small_qid, &m, sizeof m.b, 0, IPC_NOWAIT)) >= 0) {
		left++;
		bytes += n;
	}
	printf("the small queue held what its counters said: %s\n",
	       (unsigned long)left == small.msg_qnum && (unsigned long)bytes == small.msg_cbytes ? "yes" : "no");

	/* everything still works */
	struct sembuf p = { 0, -2, SEM_UNDO | IPC_NOWAIT }, v = { 0, 2, SEM_UNDO };
	T_INT(semop(semid, &p, 1));
	T_INT(semop(semid, &v, 1));
	make(&m.b, 0, 1);
	m.mtype = TRACKED;
	T_INT(msgsnd(qid, &m, m.b.len, IPC_NOWAIT));
	n = msgrcv(qid, &m, sizeof m.b, 0, IPC_NOWAIT);
	printf("a message still goes through intact: %s\n", n >= 0 && intact(&m.b, n) ? "yes" : "no");
	char *at = shmat(shmid, NULL, 0);
	printf("the segment still attaches: %s\n", at != (void *)-1 ? "yes" : "no");
	T_INT(shmdt(at));
	T_INT(semctl(semid, 0, IPC_RMID));
	T_INT(semctl(own_semid, 0, IPC_RMID));
	T_INT(msgctl(qid, IPC_RMID, NULL));
	T_INT(msgctl(small_qid, IPC_RMID, NULL));
	T_INT(shmctl(shmid, IPC_RMID, NULL));
	return 0;
}
