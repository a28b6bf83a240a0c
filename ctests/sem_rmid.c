/*
 * sem_rmid.c - IPC_RMID of a semaphore set:
 *   - every sleeper gets EIDRM: P, wait-for-zero, multi-operation lists
 *     (altering and wait-for-zero only), semtimedop with a timeout, and
 *     sleepers with SEM_UNDO
 *   - after removal the id is invalid everywhere (EINVAL): semop,
 *     semtimedop, every semctl command, a second IPC_RMID; the key is
 *     free (ENOENT), a new set with the key gets a different id
 *   - the SEM_UNDO adjustments for a removed set are dropped: a process
 *     exiting with adjustments for it changes nothing in a new set
 *     (even one with the same key); SEM_UNDO on the new set is tracked
 *     separately
 *   - removal is immediate (no deferred destruction as with shm)
 */
#include "common.h"

#define KEY 0x5e77

static pid_t waiter(const char *name, int id, const char *spec, long ms)
{
	pid_t p = ct_fork(name);
	if (p == 0) {
		int r = ms < 0 ? ct_semop_q(id, spec) : ct_semtimedop_q(id, spec, ms);
		ct_child_result(r, errno);
	}
	return p;
}

int main(void)
{
	ct_init();
	struct semid_ds ds;
	struct seminfo si;
	unsigned short arr[4];
	int id = T_ID(semget(KEY, 4, IPC_CREAT | 0600));
	ct_setall(id, "0 1 0 1");

	printf("== sleepers get EIDRM\n");
	pid_t w[8];
	const char *specs[8] = { "0:-1", "1:0", "2:-1 0:-1", "1:0 3:0", "0:-2", "0:-1:u", "3:0:u 1:-2:u",
				 "2:+1:u 1:0" };
	const char *names[8] = { "w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8" };
	int semnum[8] = { 0, 1, 2, 1, 0, 0, 3, 1 };
	int zero[8] = { 0, 1, 0, 1, 0, 0, 1, 1 };
	int ncnt[4] = { 0 }, zcnt[4] = { 0 };
	for (int i = 0; i < 8; i++) {
		w[i] = waiter(names[i], id, specs[i], i == 4 ? 20000 : -1);
		int *c = zero[i] ? zcnt : ncnt;
		c[semnum[i]]++;
		ct_blocked(w[i], id, semnum[i], zero[i] ? GETZCNT : GETNCNT, c[semnum[i]]);
	}
	ct_cnts("8 sleepers", id);
	ct_vals("8 sleepers", id);
	T_INT(semctl(id, 0, IPC_RMID));
	for (int i = 0; i < 8; i++) {
		char what[64];
		snprintf(what, sizeof what, "[%s]%s", specs[i], i == 4 ? " timed 20s" : "");
		ct_wait_result(w[i], what);
	}

	printf("== the id is gone\n");
	ct_semop(id, "0:+1");
	ct_semop(id, "0:-1:n");
	ct_semtimedop(id, "0:+1", 10);
	T_INT(semctl(id, 0, GETVAL));
	T_INT(semctl(id, 0, SETVAL, SU_VAL(1)));
	T_INT(semctl(id, 0, GETALL, SU_ARR(arr)));
	T_INT(semctl(id, 0, SETALL, SU_ARR(arr)));
	T_INT(semctl(id, 0, GETPID));
	T_INT(semctl(id, 0, GETNCNT));
	T_INT(semctl(id, 0, GETZCNT));
	T_INT(semctl(id, 0, IPC_STAT, SU_BUF(&ds)));
	memset(&ds, 0, sizeof ds);
	T_INT(semctl(id, 0, IPC_SET, SU_BUF(&ds)));
	T_INT(semctl(id, 0, IPC_RMID));
	T_ID(semget(KEY, 0, 0));
	int maxidx = semctl(0, 0, SEM_INFO, SU_INFO(&si));
	printf("SEM_INFO: semusz=%d semaem=%d\n", si.semusz, si.semaem);
	{
		int found = 0;
		for (int i = 0; i <= maxidx; i++)
			if (semctl(i, 0, SEM_STAT_ANY, SU_BUF(&ds)) == id)
				found = 1;
		printf("listed by SEM_STAT_ANY: %s\n", yes(found));
	}

	printf("== adjustments for a removed set are dropped\n");
	int a = T_ID(semget(KEY, 2, IPC_CREAT | IPC_EXCL | 0600));
	printf("new id differs: %s\n", yes(a != id));
	struct ct_chan done = ct_chan(), go = ct_chan();
	pid_t u;
	if ((u = ct_fork("u1")) == 0) {
		ct_semop(a, "0:+1:u 1:+2:u");
		ct_post(done);
		ct_waitfor(go);
		/* a is gone now, b is the new set with the same key */
		int b = semget(KEY, 0, 0);
		printf("u1 sees the new set: %s\n", idn(b));
		ct_semop(b, "1:+5:u");
		ct_vals("u1", b);
		ct_child_exit(0);
	}
	ct_waitfor(done);
	ct_vals("u1 alive", a);
	T_INT(semctl(a, 0, IPC_RMID));
	int b = T_ID(semget(KEY, 2, IPC_CREAT | IPC_EXCL | 0600));
	ct_setall(b, "1 2");
	ct_post(go);
	ct_wait(u);
	ct_vals("u1 gone", b);
	ct_sempids("u1 gone", b);

	printf("== removing a set with sleepers and adjustments, then exiting\n");
	if ((u = ct_fork("u2")) == 0) {
		ct_semop(b, "0:-1:u");
		int r = ct_semop_q(b, "0:-1:u");
		int e = errno;
		ct_waitfor(go);
		printf("u2: [0:-1:u] = %d %s\n", r, ct_errname(e));
		ct_child_exit(0);
	}
	ct_blocked(u, b, 0, GETNCNT, 1);
	T_INT(semctl(b, 0, IPC_RMID));
	ct_post(go);
	ct_wait(u);
	int c = T_ID(semget(KEY, 2, IPC_CREAT | IPC_EXCL | 0600));
	ct_vals("new set", c);
	ct_sempids("new set", c);
	return 0;
}
