/*
 * sem_wait.c - blocking semop and wake-ups across processes:
 *   - P (sem_op < 0) blocks until a V by another process makes it
 *     possible; a V too small to satisfy it leaves it blocked
 *   - wait-for-zero blocks until the value reaches 0
 *   - when a sleeping operation completes, sempid of its semaphores is
 *     the sleeper's pid (not the waker's)
 *   - GETNCNT / GETZCNT with several waiters: each sleeping task counts
 *     once, on the semaphore of the first operation of its list that
 *     cannot proceed (Linux >= 3.16, SUS); values of earlier operations
 *     of a sleeping list are not taken
 *   - one V can complete a chain: a sleeping op that makes a value 0
 *     wakes the wait-for-zero sleepers of that semaphore
 *   - SETVAL and SETALL wake sleepers that can now proceed
 *   - IPC_NOWAIT only matters on the op that would block: a list whose
 *     IPC_NOWAIT op can proceed sleeps on a later op without the flag
 *   - a sleeping list is retried as a whole: when the op it slept on can
 *     proceed but a later one fails, the sleeper gets that error (ERANGE,
 *     or EAGAIN from a later IPC_NOWAIT op) and nothing is applied
 *   - semtimedop: timeout -> EAGAIN after at least the timeout; a timed
 *     sleeper woken in time returns 0; counts drop after a timeout
 *   - a thread sleeping in semop is woken by another thread of the same
 *     process; sempid is the process id (not the thread id)
 *   - a sleeper killed by SIGKILL disappears from GETNCNT, the others are
 *     not disturbed
 * Children report their result through their exit status.
 */
#include "common.h"
#include <pthread.h>

static int thr_id;
static int thr_r, thr_e;
static void *thr_fn(void *arg)
{
	thr_r = ct_semop_q(thr_id, (const char *)arg);
	thr_e = errno;
	return NULL;
}

static pid_t waiter(const char *name, int id, const char *spec, long ms)
{
	pid_t p = ct_fork(name);
	if (p == 0) {
		int r = ms < 0 ? ct_semop_q(id, spec) : ct_semtimedop_q(id, spec, ms);
		ct_child_result(r, errno);
	}
	return p;
}

static long elapsed_ms(const struct timespec *a)
{
	struct timespec b;
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (b.tv_sec - a->tv_sec) * 1000 + (b.tv_nsec - a->tv_nsec) / 1000000;
}

int main(void)
{
	ct_init();
	pid_t w, w1, w2, w3, w4, w5, w6;
	int id = T_ID(semget(IPC_PRIVATE, 3, IPC_CREAT | 0600));

	printf("== P blocks until V\n");
	w = waiter("w1", id, "0:-1", -1);
	ct_blocked(w, id, 0, GETNCNT, 1);
	ct_cnts("w1 sleeping", id);
	ct_semop(id, "0:+1");
	ct_wait_result(w, "[0:-1]");
	ct_vals("after", id);
	ct_sempids("after", id);
	ct_cnts("after", id);

	printf("== V too small\n");
	w = waiter("w2", id, "0:-2", -1);
	ct_blocked(w, id, 0, GETNCNT, 1);
	ct_semop(id, "0:+1");
	ct_vals("w2 still sleeping", id);
	ct_cnts("w2 still sleeping", id);
	ct_sempids("w2 still sleeping", id);
	ct_semop(id, "0:+1");
	ct_wait_result(w, "[0:-2]");
	ct_vals("after", id);
	ct_sempids("after", id);

	printf("== wait for zero\n");
	ct_setval(id, 1, 2);
	w = waiter("z1", id, "1:0", -1);
	ct_blocked(w, id, 1, GETZCNT, 1);
	ct_cnts("z1 sleeping", id);
	ct_semop(id, "1:-1");
	ct_cnts("z1 still sleeping", id);
	ct_semop(id, "1:-1");
	ct_wait_result(w, "[1:0]");
	ct_sempids("after", id);
	ct_cnts("after", id);

	printf("== several sleepers\n");
	ct_setall(id, "0 1 0");
	w1 = waiter("w1", id, "0:-1", -1);
	ct_blocked(w1, id, 0, GETNCNT, 1);
	w2 = waiter("w2", id, "0:-2", -1);
	ct_blocked(w2, id, 0, GETNCNT, 2);
	w3 = waiter("w3", id, "1:0", -1);
	ct_blocked(w3, id, 1, GETZCNT, 1);
	w4 = waiter("w4", id, "1:0", -1);
	ct_blocked(w4, id, 1, GETZCNT, 2);
	w5 = waiter("w5", id, "2:-1 0:-1", -1);
	ct_blocked(w5, id, 2, GETNCNT, 1);
	w6 = waiter("w6", id, "1:-1 0:-1", -1);
	ct_blocked(w6, id, 0, GETNCNT, 3);
	ct_cnts("6 sleepers", id);
	ct_vals("6 sleepers", id);
	ct_semop(id, "0:+1");
	ct_wait_result(w1, "[0:-1]");
	ct_cnts("after [0:+1]", id);
	ct_semop(id, "0:+2");
	ct_wait_result(w2, "[0:-2]");
	ct_cnts("after [0:+2]", id);
	ct_semop(id, "2:+1");
	ct_cnts("after [2:+1] (w5 now sleeps on sem 0)", id);
	ct_vals("after [2:+1]", id);
	ct_semop(id, "0:+1");
	ct_wait_result(w5, "[2:-1 0:-1]");
	ct_cnts("after [0:+1]", id);
	ct_vals("after [0:+1]", id);
	printf("-- one V completes w6, whose op makes sem 1 zero: w3 and w4 wake\n");
	ct_semop(id, "0:+1");
	ct_wait_result(w6, "[1:-1 0:-1]");
	ct_wait_result(w3, "[1:0]");
	ct_wait_result(w4, "[1:0]");
	ct_cnts("all done", id);
	ct_vals("all done", id);
	ct_sempids("all done", id);

	printf("== a transient zero inside one call wakes nobody\n");
	ct_setall(id, "1 0 0");
	w = waiter("z2", id, "0:0", -1);
	ct_blocked(w, id, 0, GETZCNT, 1);
	ct_semop(id, "0:-1 0:+1");
	ct_cnts("z2 still sleeping", id);
	ct_semop(id, "0:-1");
	ct_wait_result(w, "[0:0]");

	printf("== SETVAL and SETALL wake sleepers\n");
	ct_setall(id, "0 5 0");
	w1 = waiter("w1", id, "0:-3", -1);
	ct_blocked(w1, id, 0, GETNCNT, 1);
	w2 = waiter("w2", id, "1:0", -1);
	ct_blocked(w2, id, 1, GETZCNT, 1);
	w3 = waiter("w3", id, "2:-1 0:-1", -1);
	ct_blocked(w3, id, 2, GETNCNT, 1);
	ct_setval(id, 0, 2);
	ct_cnts("after SETVAL(0, 2)", id);
	ct_setval(id, 0, 3);
	ct_wait_result(w1, "[0:-3]");
	ct_vals("after SETVAL(0, 3)", id);
	ct_sempids("after SETVAL(0, 3)", id);
	ct_setall(id, "1 0 1");
	ct_wait_result(w2, "[1:0]");
	ct_wait_result(w3, "[2:-1 0:-1]");
	ct_vals("after SETALL", id);
	ct_sempids("after SETALL", id);
	ct_cnts("after SETALL", id);

	printf("== the whole list is retried: later errors reach the sleeper\n");
	ct_setall(id, "0 32767 0");
	w = waiter("w1", id, "0:-1 1:+1", -1);
	ct_blocked(w, id, 0, GETNCNT, 1);
	ct_semop(id, "0:+1");
	ct_wait_result(w, "[0:-1 1:+1]");
	ct_vals("nothing applied", id);
	ct_setall(id, "0 0 0");
	w = waiter("w2", id, "0:-1 1:-1:n", -1);
	ct_blocked(w, id, 0, GETNCNT, 1);
	ct_semop(id, "0:+1");
	ct_wait_result(w, "[0:-1 1:-1:n]");
	ct_vals("nothing applied", id);
	ct_cnts("no sleepers", id);

	printf("== only the IPC_NOWAIT of the op that blocks counts\n");
	ct_setall(id, "1 0 0");
	w = waiter("w3", id, "0:-1:n 1:-1", -1);
	ct_blocked(w, id, 1, GETNCNT, 1);
	ct_cnts("w3 sleeping", id);
	ct_vals("w3 sleeping", id);
	ct_semop(id, "1:+1");
	ct_wait_result(w, "[0:-1:n 1:-1]");
	ct_vals("after", id);

	printf("== semtimedop timeout\n");
	ct_setall(id, "0 1 0");
	{
		struct timespec t0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		ct_semtimedop(id, "0:-1", 50);
		printf("waited >= 45ms: %s\n", yes(elapsed_ms(&t0) >= 45));
		clock_gettime(CLOCK_MONOTONIC, &t0);
		ct_semtimedop(id, "1:0", 50);
		printf("waited >= 45ms: %s\n", yes(elapsed_ms(&t0) >= 45));
		clock_gettime(CLOCK_MONOTONIC, &t0);
		ct_semtimedop(id, "1:-1 0:-1", 50);
		printf("waited >= 45ms: %s\n", yes(elapsed_ms(&t0) >= 45));
	}
	ct_vals("unchanged", id);
	ct_cnts("no sleepers", id);
	w = waiter("t1", id, "0:-1", 100);
	ct_blocked(w, id, 0, GETNCNT, 1);
	ct_wait_result(w, "timed [0:-1] 100ms");
	ct_cnts("after timeout", id);
	w = waiter("t2", id, "0:-1", 20000);
	ct_blocked(w, id, 0, GETNCNT, 1);
	ct_semop(id, "0:+1");
	ct_wait_result(w, "timed [0:-1] 20s");
	ct_sempids("after", id);

	printf("== threads of one process: one sleeps, another wakes it\n");
	ct_setall(id, "0 0 0");
	if ((w = ct_fork("th")) == 0) {
		pthread_t t;
		thr_id = id;
		if (pthread_create(&t, NULL, thr_fn, "2:-1") != 0)
			ct_fatal("pthread_create");
		printf("thread blocked: %s\n", yes(ct_wait_cnt(0, id, 2, GETNCNT, 1)));
		ct_semop(id, "2:+1");
		pthread_join(t, NULL);
		printf("thread: [2:-1] = %d\n", thr_r);
		ct_sempids("th", id);
		ct_child_exit(0);
	}
	ct_wait(w);

	printf("== a sleeper killed by SIGKILL\n");
	ct_setall(id, "0 0 0");
	w1 = waiter("w1", id, "0:-1", -1);
	ct_blocked(w1, id, 0, GETNCNT, 1);
	w2 = waiter("w2", id, "0:-1", -1);
	ct_blocked(w2, id, 0, GETNCNT, 2);
	w3 = waiter("w3", id, "0:-1", -1);
	ct_blocked(w3, id, 0, GETNCNT, 3);
	w4 = waiter("w4", id, "0:-1 1:-1", -1);
	ct_blocked(w4, id, 0, GETNCNT, 4);
	kill(w2, SIGKILL);
	ct_wait_result(w2, "[0:-1]");
	ct_cnts("w2 killed", id);
	kill(w4, SIGKILL);
	ct_wait_result(w4, "[0:-1 1:-1]");
	ct_cnts("w4 killed", id);
	ct_semop(id, "0:+1");
	ct_wait_result(w1, "[0:-1]");
	ct_semop(id, "0:+1");
	ct_wait_result(w3, "[0:-1]");
	ct_cnts("all done", id);
	ct_vals("all done", id);
	ct_sempids("all done", id);
	return 0;
}
