/*
 * tool_bench_join.c - the cost of starting a process while N others hold
 * box state: N children each make a SEM_UNDO semop (so each has a process
 * record) and sleep; then the parent times posix_spawn + waitpid of
 * /usr/bin/true (or argv[3]), in 5 batches of REPS, and prints the median
 * in microseconds: "join N us".
 * Usage: tool_bench_join N REPS [PROGRAM]
 */
#define _GNU_SOURCE
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: tool_bench_join N REPS [PROGRAM]\n");
		return 2;
	}
	int n = atoi(argv[1]), reps = atoi(argv[2]);
	char *program = argc > 3 ? argv[3] : "/usr/bin/true";
	int id = semget(IPC_PRIVATE, 1, 0600), ready[2];
	pid_t *idle = calloc(n + 1, sizeof(pid_t));
	if (id < 0 || !idle || pipe(ready) < 0) {
		perror("setup");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		idle[i] = fork();
		if (idle[i] == 0) {
			struct sembuf up = { 0, 1, SEM_UNDO };
			if (semop(id, &up, 1) < 0)
				_exit(1);
			if (write(ready[1], "x", 1) != 1)
				_exit(1);
			pause();
			_exit(0);
		}
		if (idle[i] < 0) {
			perror("fork");
			n = i;
			break;
		}
	}
	for (int i = 0; i < n; i++) {
		char c;
		if (read(ready[0], &c, 1) != 1) {
			perror("read");
			return 1;
		}
	}
	double batch[5];
	for (int b = 0; b < 5; b++) {
		double t0 = now_us();
		for (int i = 0; i < reps; i++) {
			pid_t pid;
			char *args[] = { program, NULL };
			if (posix_spawn(&pid, program, NULL, NULL, args, environ) != 0) {
				perror("posix_spawn");
				return 1;
			}
			waitpid(pid, NULL, 0);
		}
		batch[b] = (now_us() - t0) / reps;
	}
	qsort(batch, 5, sizeof batch[0], by_value);
	printf("join %d %.0f\n", n, batch[2]);
	for (int i = 0; i < n; i++)
		kill(idle[i], SIGKILL);
	for (int i = 0; i < n; i++)
		waitpid(idle[i], NULL, 0);
	semctl(id, 0, IPC_RMID);
	return 0;
}
