/*
 * tool_bench_sem.c - semaphore micro-benchmarks, run by scripts/bench.sh once
 * against the kernel and once in a box. Prints "<name> <ns per operation>".
 *   pv          uncontended P then V (two semop calls), per call
 *   pv_undo     the same with SEM_UNDO
 *   four_ops    one semop of 4 operations (+1 on four semaphores, then -1)
 *   ping_pong   two processes handing a token back and forth, per hand-off
 *   mutex4      four processes taking and giving one semaphore as a mutex
 *               (P and V with SEM_UNDO), more processes than the machine's
 *               two cores, for 2 seconds: wall time per P+V pair, all
 *               processes together (short runs swing by 10x, as convoys
 *               form and dissolve)
 *   mutex8      the same with eight processes
 *   mutex16     the same with sixteen processes
 *   mutex64     the same with sixty-four processes
 * Each mutex line runs for 2 seconds whatever n is (8 seconds for the four).
 * With n = argv[1] (default 1000000): ping_pong n/50 hand-off pairs; the
 * first three run as 5 batches of n/5 operations each, one batch of each
 * per round, and the median batch is printed (a single run moves by 30%
 * from one run to the next on a shared virtual machine).
 * With argv[1] = "mutex", only the mutex lines run: those for the process
 * counts given after it, or all four (repeating one line many times costs
 * 2 seconds a run instead of 10). With argv[1] = "ping_pong", only that
 * line runs, with n = argv[2].
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

#define BATCHES 5

static double pv(int id, long n, short flags)
{
	struct sembuf p = { 0, -1, flags }, v = { 0, 1, flags };
	if (semop(id, &v, 1))
		die("semop");
	double t0 = now_ns();
	for (long i = 0; i < n; i++)
		if (semop(id, &p, 1) || semop(id, &v, 1))
			die("semop");
	double per_op = (now_ns() - t0) / (2.0 * n);
	if (semop(id, &p, 1))
		die("semop");
	return per_op;
}

static double four_ops(int id, long n)
{
	struct sembuf up[4] = { { 0, 1, 0 }, { 1, 1, 0 }, { 2, 1, 0 }, { 3, 1, 0 } };
	struct sembuf down[4] = { { 0, -1, 0 }, { 1, -1, 0 }, { 2, -1, 0 }, { 3, -1, 0 } };
	double t0 = now_ns();
	for (long i = 0; i < n; i++)
		if (semop(id, up, 4) || semop(id, down, 4))
			die("semop");
	return (now_ns() - t0) / (2.0 * n);
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *samples)
{
	qsort(samples, BATCHES, sizeof *samples, by_value);
	return samples[BATCHES / 2];
}

/* `procs` processes take and give semaphore 2 of `id` as a mutex for 2 s;
 * wall time per P+V pair, all processes together. */
static double mutex(int id, int procs)
{
	if (semctl(id, 2, SETVAL, 1))
		die("semctl");
	long *done = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (done == MAP_FAILED)
		die("mmap");
	fflush(stdout);
	double t0 = now_ns(), until = t0 + 2e9;
	for (int p = 0; p < procs; p++) {
		pid_t child = fork();
		if (child < 0)
			die("fork");
		if (child == 0) {
			struct sembuf down = { 2, -1, SEM_UNDO }, up = { 2, 1, SEM_UNDO };
			long pairs = 0;
			do {
				for (int i = 0; i < 64; i++, pairs++)
					if (semop(id, &down, 1) || semop(id, &up, 1))
						die("semop");
			} while (now_ns() < until);
			done[p] = pairs;
			_exit(0);
		}
	}
	double pairs = 0;
	for (int p = 0; p < procs; p++)
		wait(NULL);
	for (int p = 0; p < procs; p++)
		pairs += done[p];
	munmap(done, 4096);
	return (now_ns() - t0) / pairs;
}

static void ping_pong(int id, long n)
{
	long rounds = n / 50;
	struct sembuf give0 = { 0, 1, 0 }, take0 = { 0, -1, 0 }, give1 = { 1, 1, 0 }, take1 = { 1, -1, 0 };
	fflush(stdout);
	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		for (long i = 0; i < rounds; i++)
			if (semop(id, &take0, 1) || semop(id, &give1, 1))
				die("semop");
		_exit(0);
	}
	double t0 = now_ns();
	for (long i = 0; i < rounds; i++)
		if (semop(id, &give0, 1) || semop(id, &take1, 1))
			die("semop");
	double elapsed = now_ns() - t0;
	waitpid(child, NULL, 0);
	printf("ping_pong %.1f\n", elapsed / (2.0 * rounds));
}

int main(int argc, char **argv)
{
	int id = semget(IPC_PRIVATE, 4, IPC_CREAT | 0600);
	if (id < 0)
		die("semget");
	if (argc > 1 && strcmp(argv[1], "mutex") == 0) {
		static const int all[] = { 4, 8, 16, 64 };
		for (int i = 0; i < (argc > 2 ? argc - 2 : 4); i++) {
			int procs = argc > 2 ? atoi(argv[i + 2]) : all[i];
			if (procs < 1) {
				fprintf(stderr, "bench_sem: bad process count %s\n", argv[i + 2]);
				exit(2);
			}
			printf("mutex%d %.1f\n", procs, mutex(id, procs));
		}
		semctl(id, 0, IPC_RMID);
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "ping_pong") == 0) {
		ping_pong(id, argc > 2 ? atol(argv[2]) : 1000000);
		semctl(id, 0, IPC_RMID);
		return 0;
	}
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	double plain[BATCHES], undo[BATCHES], four[BATCHES];
	for (int b = 0; b < BATCHES; b++) {
		plain[b] = pv(id, n / BATCHES, 0);
		undo[b] = pv(id, n / BATCHES, SEM_UNDO);
		four[b] = four_ops(id, n / BATCHES);
	}
	printf("pv %.1f\n", median(plain));
	printf("pv_undo %.1f\n", median(undo));
	printf("four_ops %.1f\n", median(four));

	ping_pong(id, n);

	printf("mutex4 %.1f\n", mutex(id, 4));
	printf("mutex8 %.1f\n", mutex(id, 8));
	printf("mutex16 %.1f\n", mutex(id, 16));
	printf("mutex64 %.1f\n", mutex(id, 64));
	semctl(id, 0, IPC_RMID);
	return 0;
}
