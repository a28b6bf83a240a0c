/*
 * sem_stress.c - many processes hammering semaphore sets at once; only
 * the deterministic outcome is printed:
 *   1. random operations: 8 processes x 3000 semop/semtimedop calls with
 *      1..3 operations each (random sets, semaphores, sizes; duplicates
 *      of a semaphore in one call allowed; some wait-for-zero), with and
 *      without SEM_UNDO.  A decrement that cannot proceed either fails
 *      with IPC_NOWAIT or sleeps in semtimedop for at most 2 ms, so
 *      nothing can deadlock.  SEM_UNDO is used on decrements, and on
 *      increments only while the process's own adjustment stays >= 0, so
 *      the exit adjustments can never be clamped.  Each process reports
 *      its net non-undo change per semaphore through a pipe; the final
 *      values must equal initial + the sum of those (SEM_UNDO changes
 *      are undone at exit: half the processes end with exit(), half with
 *      _exit()).  Fixed seeds per process.
 *   2. mutual exclusion: 8 processes x 2000 P/V (with SEM_UNDO) around a
 *      non-atomic increment of a shared counter: the counter is exact
 *   3. token ring: 4 processes pass one token 2000 times around a ring of
 *      semaphores (P own, V next; half use semtimedop with a long
 *      timeout): all rounds complete, the token ends where it started
 *   4. SIGKILL storm: 8 processes take a unit with SEM_UNDO from a
 *      semaphore of value 4 (4 succeed, 4 sleep), then all are killed:
 *      the value is back to 4, nobody is counted as waiting
 */
#include "common.h"
#include <sched.h>

#define NPROC 8
#define ITER 3000
#define NA 4
#define NB 3

struct report {
	long net[2][NA];
	long ok, eagain, other;
	int bad_errno;
};

static unsigned long rnd(unsigned long *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void random_ops(int idx, int ids[2], int fd)
{
	unsigned long seed = 0x9e3779b97f4a7c15UL * (idx + 1);
	struct report rep;
	memset(&rep, 0, sizeof rep);
	int adj[2][NA];
	memset(adj, 0, sizeof adj);
	int nsem[2] = { NA, NB };
	for (int it = 0; it < ITER; it++) {
		int s = rnd(&seed) % 2;
		int n = 1 + rnd(&seed) % 3;
		int timed = rnd(&seed) % 5 == 0;
		struct sembuf sops[3];
		int tadj[NA];
		memcpy(tadj, adj[s], sizeof tadj);
		for (int k = 0; k < n; k++) {
			int num = rnd(&seed) % nsem[s];
			int mag = 1 + rnd(&seed) % 3;
			int kind = rnd(&seed) % 100;
			short op, flg = 0;
			if (kind < 5) {
				op = 0;
				flg = IPC_NOWAIT;
			} else if (kind < 55) {
				op = -mag;
				if (!timed)
					flg = IPC_NOWAIT;
				if (rnd(&seed) % 3 == 0) {
					flg |= SEM_UNDO;
					tadj[num] += mag;
				}
			} else {
				op = mag;
				if (rnd(&seed) % 3 == 0 && tadj[num] >= mag) {
					flg |= SEM_UNDO;
					tadj[num] -= mag;
				}
			}
			sops[k].sem_num = num;
			sops[k].sem_op = op;
			sops[k].sem_flg = flg;
		}
		int r;
		if (timed) {
			struct timespec ts = { 0, 2000000 };
			r = semtimedop(ids[s], sops, n, &ts);
		} else {
			r = semop(ids[s], sops, n);
		}
		if (r == 0) {
			rep.ok++;
			memcpy(adj[s], tadj, sizeof tadj);
			for (int k = 0; k < n; k++)
				if (!(sops[k].sem_flg & SEM_UNDO))
					rep.net[s][sops[k].sem_num] += sops[k].sem_op;
		} else if (errno == EAGAIN) {
			rep.eagain++;
		} else {
			rep.other++;
			rep.bad_errno = errno;
		}
	}
	if (write(fd, &rep, sizeof rep) != (ssize_t)sizeof rep)
		ct_fatal("write");
	if (idx % 2)
		_exit(0);
	exit(0);
}

static void read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n <= 0)
			ct_fatal("read");
		got += n;
	}
}

static int all_exited_zero(pid_t *p, int n)
{
	int ok = 1;
	for (int i = 0; i < n; i++) {
		int st;
		if (waitpid(p[i], &st, 0) != p[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			ok = 0;
	}
	return ok;
}

static int no_waiters(int id, int n)
{
	for (int i = 0; i < n; i++)
		if (semctl(id, i, GETNCNT) != 0 || semctl(id, i, GETZCNT) != 0)
			return 0;
	return 1;
}

int main(void)
{
	ct_init();
	pid_t pids[NPROC];

	printf("== 1. random operations\n");
	int ids[2];
	ids[0] = T_ID(semget(IPC_PRIVATE, NA, IPC_CREAT | 0600));
	ids[1] = T_ID(semget(IPC_PRIVATE, NB, IPC_CREAT | 0600));
	ct_setall(ids[0], "20 20 20 20");
	ct_setall(ids[1], "10 10 10");
	int pfd[NPROC][2];
	fflush(stdout);
	for (int i = 0; i < NPROC; i++) {
		if (pipe(pfd[i]) != 0)
			ct_fatal("pipe");
		if ((pids[i] = fork()) == 0)
			random_ops(i, ids, pfd[i][1]);
		close(pfd[i][1]);
	}
	long expect[2][NA] = { { 20, 20, 20, 20 }, { 10, 10, 10, 0 } };
	long ok = 0, eagain = 0, other = 0;
	int bad = 0;
	for (int i = 0; i < NPROC; i++) {
		struct report rep;
		read_full(pfd[i][0], &rep, sizeof rep);
		close(pfd[i][0]);
		for (int s = 0; s < 2; s++)
			for (int k = 0; k < NA; k++)
				expect[s][k] += rep.net[s][k];
		ok += rep.ok;
		eagain += rep.eagain;
		other += rep.other;
		if (rep.other)
			bad = rep.bad_errno;
	}
	printf("all processes exited 0: %s\n", yes(all_exited_zero(pids, NPROC)));
	printf("calls: %ld, unexpected errors: %ld%s%s\n", ok + eagain + other, other,
	       other ? " " : "", other ? ct_errname(bad) : "");
	printf("some succeeded and some failed with EAGAIN: %s\n", yes(ok > 0 && eagain > 0));
	{
		unsigned short a[NA], b[NB];
		semctl(ids[0], 0, GETALL, SU_ARR(a));
		semctl(ids[1], 0, GETALL, SU_ARR(b));
		int consistent = 1;
		for (int k = 0; k < NA; k++)
			if (a[k] != expect[0][k])
				consistent = 0;
		for (int k = 0; k < NB; k++)
			if (b[k] != expect[1][k])
				consistent = 0;
		printf("consistent: %s\n", yes(consistent));
		if (!consistent) {
			for (int k = 0; k < NA; k++)
				printf("  A[%d]: got %u expected %ld\n", k, a[k], expect[0][k]);
			for (int k = 0; k < NB; k++)
				printf("  B[%d]: got %u expected %ld\n", k, b[k], expect[1][k]);
		}
		printf("no waiters left: %s\n", yes(no_waiters(ids[0], NA) && no_waiters(ids[1], NB)));
	}

	printf("== 2. mutual exclusion\n");
	volatile long *counter = mmap(NULL, ct_page, PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (counter == MAP_FAILED)
		ct_fatal("mmap");
	int mx = T_ID(semget(IPC_PRIVATE, 1, IPC_CREAT | 0600));
	ct_setval(mx, 0, 1);
	fflush(stdout);
	for (int i = 0; i < NPROC; i++) {
		if ((pids[i] = fork()) == 0) {
			struct sembuf p = { 0, -1, SEM_UNDO }, v = { 0, 1, SEM_UNDO };
			for (int k = 0; k < 2000; k++) {
				if (semop(mx, &p, 1) != 0)
					_exit(1);
				long c = *counter;
				if (k % 7 == 0)
					sched_yield();
				*counter = c + 1;
				if (semop(mx, &v, 1) != 0)
					_exit(2);
			}
			_exit(0);
		}
	}
	printf("all processes exited 0: %s\n", yes(all_exited_zero(pids, NPROC)));
	printf("counter: %ld (expected %d)\n", *counter, NPROC * 2000);
	ct_vals("mutex", mx);
	ct_cnts("mutex", mx);

	printf("== 3. token ring\n");
	int ring = T_ID(semget(IPC_PRIVATE, 4, IPC_CREAT | 0600));
	ct_setall(ring, "1 0 0 0");
	fflush(stdout);
	for (int i = 0; i < 4; i++) {
		if ((pids[i] = fork()) == 0) {
			struct sembuf p = { i, -1, 0 }, v = { (i + 1) % 4, 1, 0 };
			struct timespec ts = { 30, 0 };
			for (int k = 0; k < 2000; k++) {
				int r = i % 2 ? semtimedop(ring, &p, 1, &ts) : semop(ring, &p, 1);
				if (r != 0)
					_exit(1);
				if (semop(ring, &v, 1) != 0)
					_exit(2);
			}
			_exit(0);
		}
	}
	printf("all processes exited 0: %s\n", yes(all_exited_zero(pids, 4)));
	ct_vals("ring", ring);
	ct_cnts("ring", ring);

	printf("== 4. SIGKILL storm\n");
	int pool = T_ID(semget(IPC_PRIVATE, 2, IPC_CREAT | 0600));
	ct_setall(pool, "4 0");
	fflush(stdout);
	for (int i = 0; i < NPROC; i++) {
		if ((pids[i] = fork()) == 0) {
			struct sembuf p = { 0, -1, SEM_UNDO };
			struct sembuf busy[2] = { { 1, 1, SEM_UNDO }, { 1, -1, SEM_UNDO } };
			if (semop(pool, &p, 1) != 0)
				_exit(1);
			for (;;)
				semop(pool, busy, 2);
		}
	}
	int held = ct_wait_cnt(0, pool, 0, GETNCNT, NPROC - 4);
	printf("4 hold a unit, 4 sleep: %s\n", yes(held && semctl(pool, 0, GETVAL) == 0));
	for (int i = 0; i < NPROC; i++)
		kill(pids[i], SIGKILL);
	int killed = 1;
	for (int i = 0; i < NPROC; i++) {
		int st;
		if (waitpid(pids[i], &st, 0) != pids[i] || !WIFSIGNALED(st))
			killed = 0;
	}
	printf("all killed: %s\n", yes(killed));
	ct_vals("pool", pool);
	ct_cnts("pool", pool);
	return 0;
}
