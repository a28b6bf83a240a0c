/*
 * tool_bench_sem.c - semaphore micro-benchmarks, run by scripts/bench.sh once
 * against the kernel and once in a box. Prints "<name> <ns per operation>".
 *   pv          uncontended P then V (two semop calls), per call
 *   pv_undo     the same with SEM_UNDO
 *   four_ops    one semop of 4 operations (+1 on four semaphores, then -1)
 *   ping_pong   two processes handing a token back and forth, per hand-off
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/sem.h>
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

static void pv(int id, long n, short flags, const char *name)
{
	struct sembuf p = { 0, -1, flags }, v = { 0, 1, flags };
	if (semop(id, &v, 1))
		die("semop");
	double t0 = now_ns();
	for (long i = 0; i < n; i++)
		if (semop(id, &p, 1) || semop(id, &v, 1))
			die("semop");
	printf("%s %.1f\n", name, (now_ns() - t0) / (2.0 * n));
	if (semop(id, &p, 1))
		die("semop");
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	int id = semget(IPC_PRIVATE, 4, IPC_CREAT | 0600);
	if (id < 0)
		die("semget");
	pv(id, n, 0, "pv");
	pv(id, n, SEM_UNDO, "pv_undo");

	struct sembuf up[4] = { { 0, 1, 0 }, { 1, 1, 0 }, { 2, 1, 0 }, { 3, 1, 0 } };
	struct sembuf down[4] = { { 0, -1, 0 }, { 1, -1, 0 }, { 2, -1, 0 }, { 3, -1, 0 } };
	double t0 = now_ns();
	for (long i = 0; i < n; i++)
		if (semop(id, up, 4) || semop(id, down, 4))
			die("semop");
	printf("four_ops %.1f\n", (now_ns() - t0) / (2.0 * n));

	long rounds = n / 10;
	struct sembuf give0 = { 0, 1, 0 }, take0 = { 0, -1, 0 }, give1 = { 1, 1, 0 }, take1 = { 1, -1, 0 };
	fflush(stdout);
	pid_t child = fork();
	if (child == 0) {
		for (long i = 0; i < rounds; i++)
			if (semop(id, &take0, 1) || semop(id, &give1, 1))
				die("semop");
		_exit(0);
	}
	t0 = now_ns();
	for (long i = 0; i < rounds; i++)
		if (semop(id, &give0, 1) || semop(id, &take1, 1))
			die("semop");
	double elapsed = now_ns() - t0;
	waitpid(child, NULL, 0);
	printf("ping_pong %.1f\n", elapsed / (2.0 * rounds));
	semctl(id, 0, IPC_RMID);
	return 0;
}
