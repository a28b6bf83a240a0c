/*
 * load_many.c - 64 processes use all three facilities at once; only yes/no
 * lines print.  Each process, ITER times:
 *   - takes a SEM_UNDO mutex (semaphore 0 of a set), increments a counter
 *     in a shared segment it has just attached, lets the mutex go, detaches;
 *   - sends one message (type 1 + its number % 8, a body naming it and the
 *     round, checksummed) and receives one message of any type.
 * Then the counter must equal 64 * ITER; every message was received
 * exactly once and intact (the receivers add up what they got in a shared
 * anonymous mapping); the queue is empty; the segment has no attachment;
 * the mutex is free; no call failed.
 */
#include "common.h"

#define PROCS 64
#define ITER 300

struct body {
	uint32_t proc, round, sum;
};

struct shared {
	uint8_t got[PROCS][ITER];
	uint32_t failures, corrupt;
};

static struct shared *sh;

static uint32_t sum_of(uint32_t proc, uint32_t round)
{
	uint32_t both[2] = { proc, round };
	return ct_fnv(both, sizeof both);
}

static void fail_once(void)
{
	__atomic_fetch_add(&sh->failures, 1, __ATOMIC_SEQ_CST);
}

static void worker(int proc, int semid, int shmid, int qid)
{
	struct sembuf lock = { 0, -1, SEM_UNDO }, unlock = { 0, 1, SEM_UNDO };
	struct {
		long mtype;
		struct body b;
	} m;
	for (uint32_t round = 0; round < ITER; round++) {
		volatile long *counter = shmat(shmid, NULL, 0);
		if (counter == (void *)-1) {
			fail_once();
			continue;
		}
		if (semop(semid, &lock, 1) == 0) {
			*counter = *counter + 1;
			if (semop(semid, &unlock, 1))
				fail_once();
		} else {
			fail_once();
		}
		if (shmdt((void *)counter))
			fail_once();
		m.mtype = 1 + proc % 8;
		m.b = (struct body){ (uint32_t)proc, round, sum_of(proc, round) };
		if (msgsnd(qid, &m, sizeof m.b, 0))
			fail_once();
		if (msgrcv(qid, &m, sizeof m.b, 0, 0) != sizeof m.b) {
			fail_once();
		} else if (m.b.proc >= PROCS || m.b.round >= ITER || m.b.sum != sum_of(m.b.proc, m.b.round) ||
			   m.mtype != 1 + (long)(m.b.proc % 8)) {
			__atomic_fetch_add(&sh->corrupt, 1, __ATOMIC_SEQ_CST);
		} else {
			__atomic_fetch_add(&sh->got[m.b.proc][m.b.round], 1, __ATOMIC_SEQ_CST);
		}
	}
	_exit(0);
}

int main(void)
{
	ct_init();
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		ct_fatal("mmap");
	int semid = T_ID(semget(IPC_PRIVATE, 1, IPC_CREAT | 0600));
	int shmid = T_ID(shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600));
	int qid = T_ID(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
	T_INT(semctl(semid, 0, SETVAL, 1));
	fflush(stdout);
	pid_t pids[PROCS];
	for (int proc = 0; proc < PROCS; proc++) {
		pids[proc] = fork();
		if (pids[proc] < 0)
			ct_fatal("fork");
		if (pids[proc] == 0)
			worker(proc, semid, shmid, qid);
	}
	int clean = 1;
	for (int proc = 0; proc < PROCS; proc++) {
		int status;
		if (waitpid(pids[proc], &status, 0) != pids[proc] || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			clean = 0;
	}
	printf("all %d processes ended cleanly: %s\n", PROCS, clean ? "yes" : "no");
	printf("no call failed: %s\n", sh->failures == 0 ? "yes" : "no");

	long *counter = shmat(shmid, NULL, SHM_RDONLY);
	printf("the counter is exact: %s\n", counter != (void *)-1 && *counter == (long)PROCS * ITER ? "yes" : "no");
	shmdt(counter);
	long once = 0;
	for (int proc = 0; proc < PROCS; proc++)
		for (int round = 0; round < ITER; round++)
			once += sh->got[proc][round] == 1;
	printf("every message received exactly once, intact: %s\n",
	       once == (long)PROCS * ITER && sh->corrupt == 0 ? "yes" : "no");
	struct msqid_ds q;
	struct shmid_ds s;
	T_INT(msgctl(qid, IPC_STAT, &q));
	printf("queue empty: %s\n", q.msg_qnum == 0 && q.msg_cbytes == 0 ? "yes" : "no");
	T_INT(shmctl(shmid, IPC_STAT, &s));
	printf("no attachment left: %s\n", s.shm_nattch == 0 ? "yes" : "no");
	T_INT(semctl(semid, 0, GETVAL));
	T_INT(semctl(semid, 0, GETNCNT));
	T_INT(semctl(semid, 0, IPC_RMID));
	T_INT(shmctl(shmid, IPC_RMID, NULL));
	T_INT(msgctl(qid, IPC_RMID, NULL));
	return 0;
}
