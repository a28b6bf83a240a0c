/*
 * sem_order.c - the order in which sleepers are served (ipc/sem.c:
 * "FIFO ordering for semop() operations (just FIFO, not starvation
 * protection)"):
 *   - sleepers on the same semaphore are served in the order they went to
 *     sleep; one V of +2 completes the first two -1 sleepers
 *   - no head-of-line blocking: a sleeper that cannot proceed is skipped
 *     and a later one that can is served (a -2 sleeper first, a -1
 *     sleeper second: a +1 completes the second)
 *   - the first sleeper in FIFO order that can proceed is served first,
 *     even if that leaves a later one unable to proceed
 *   - a new semop that can proceed at once does not queue behind
 *     sleepers (barging)
 *   - multi-operation sleepers take part in the same FIFO order
 *   - starvation: a sleeper waiting for 2 units while 3 other processes
 *     keep taking and giving back 1 unit each (with short pauses) gets
 *     through within a bounded time; only that it did is printed. It needs
 *     two units free at once, which takes chance: measured here, up to
 *     1.3 s on the kernel and 3 s in a box over a few runs, a geometric
 *     tail, so the bound is 30 s (5 s failed about one run in 15).
 * Sleepers report their result through their exit status.
 */
#include "common.h"

static pid_t sleeper(const char *name, int id, const char *spec)
{
	pid_t p = ct_fork(name);
	if (p == 0) {
		int r = ct_semop_q(id, spec);
		ct_child_result(r, errno);
	}
	return p;
}

static void still(pid_t p)
{
	printf("%s still sleeping: %s\n", pidn(p), yes(ct_exited(p) == 0));
}

struct shared {
	volatile int stop;
	volatile int passes[3];
};

int main(void)
{
	ct_init();
	pid_t a, b, c, d;
	int id = T_ID(semget(IPC_PRIVATE, 2, IPC_CREAT | 0600));

	printf("== FIFO among equal sleepers\n");
	a = sleeper("a", id, "0:-1");
	ct_blocked(a, id, 0, GETNCNT, 1);
	b = sleeper("b", id, "0:-1");
	ct_blocked(b, id, 0, GETNCNT, 2);
	c = sleeper("c", id, "0:-1");
	ct_blocked(c, id, 0, GETNCNT, 3);
	d = sleeper("d", id, "0:-1");
	ct_blocked(d, id, 0, GETNCNT, 4);
	ct_semop(id, "0:+1");
	ct_wait_result(a, "[0:-1]");
	still(b);
	still(c);
	still(d);
	ct_semop(id, "0:+2");
	ct_wait_result(b, "[0:-1]");
	ct_wait_result(c, "[0:-1]");
	still(d);
	ct_cnts("one left", id);
	ct_semop(id, "0:+1");
	ct_wait_result(d, "[0:-1]");

	printf("== a sleeper that cannot proceed is skipped\n");
	a = sleeper("big", id, "0:-2");
	ct_blocked(a, id, 0, GETNCNT, 1);
	b = sleeper("small", id, "0:-1");
	ct_blocked(b, id, 0, GETNCNT, 2);
	ct_semop(id, "0:+1");
	ct_wait_result(b, "[0:-1]");
	still(a);
	ct_semop(id, "0:+1");
	still(a);
	ct_vals("value 1, big still sleeping", id);
	ct_semop(id, "0:+1");
	ct_wait_result(a, "[0:-2]");
	ct_vals("after", id);

	printf("== the first one that can proceed is served first\n");
	a = sleeper("small", id, "0:-1");
	ct_blocked(a, id, 0, GETNCNT, 1);
	b = sleeper("big", id, "0:-2");
	ct_blocked(b, id, 0, GETNCNT, 2);
	ct_semop(id, "0:+2");
	ct_wait_result(a, "[0:-1]");
	still(b);
	ct_vals("value 1 left", id);
	printf("-- barging: a new op that can proceed does not wait\n");
	ct_semop(id, "0:-1:n");
	ct_semop(id, "0:+1");
	still(b);
	ct_semop(id, "0:+1");
	ct_wait_result(b, "[0:-2]");

	printf("== multi-operation sleepers in the same FIFO\n");
	ct_setall(id, "0 1");
	a = sleeper("m1", id, "0:-1 1:-1");
	ct_blocked(a, id, 0, GETNCNT, 1);
	b = sleeper("s1", id, "0:-1");
	ct_blocked(b, id, 0, GETNCNT, 2);
	ct_semop(id, "0:+1");
	ct_wait_result(a, "[0:-1 1:-1]");
	still(b);
	ct_semop(id, "0:+1");
	ct_wait_result(b, "[0:-1]");
	ct_setall(id, "0 1");
	a = sleeper("s2", id, "0:-1");
	ct_blocked(a, id, 0, GETNCNT, 1);
	b = sleeper("m2", id, "0:-1 1:-1");
	ct_blocked(b, id, 0, GETNCNT, 2);
	ct_semop(id, "0:+1");
	ct_wait_result(a, "[0:-1]");
	still(b);
	ct_semop(id, "0:+1");
	ct_wait_result(b, "[0:-1 1:-1]");
	ct_vals("after", id);

	printf("== no starvation of a 2-unit sleeper\n");
	struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		ct_fatal("mmap");
	ct_setall(id, "2 0");
	pid_t wk[3];
	for (int i = 0; i < 3; i++) {
		char nm[16];
		snprintf(nm, sizeof nm, "worker%d", i + 1);
		if ((wk[i] = ct_fork(nm)) == 0) {
			struct sembuf p1 = { 0, -1, 0 }, v1 = { 0, 1, 0 };
			while (!sh->stop) {
				if (semop(id, &p1, 1) != 0)
					ct_child_result(-1, errno);
				sh->passes[i]++;
				usleep(300);
				if (semop(id, &v1, 1) != 0)
					ct_child_result(-1, errno);
				usleep(100);
			}
			ct_child_result(0, 0);
		}
	}
	/* let the workers get going */
	for (int k = 0; k < 5000 && (!sh->passes[0] || !sh->passes[1] || !sh->passes[2]); k++)
		usleep(1000);
	int before[3] = { sh->passes[0], sh->passes[1], sh->passes[2] };
	if ((a = ct_fork("big")) == 0) {
		int r = ct_semtimedop_q(id, "0:-2", 30000);
		int e = errno;
		if (r == 0)
			ct_semop_q(id, "0:+2");
		ct_child_result(r, e);
	}
	ct_wait_result(a, "timed [0:-2] 30s");
	printf("workers passed before: %s\n",
	       yes(before[0] > 0 && before[1] > 0 && before[2] > 0));
	sh->stop = 1;
	for (int i = 0; i < 3; i++)
		ct_wait_result(wk[i], "loop");
	ct_vals("after", id);
	ct_cnts("after", id);
	return 0;
}
