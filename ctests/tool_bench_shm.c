/*
 * tool_bench_shm.c - shared memory lifecycle timings, printed as
 * "name ns-per-iteration" lines (median of 5 batches), for scripts/bench.sh:
 *   lifecycle   shmget(IPC_PRIVATE, 64 KiB), shmat, touch every page,
 *               shmdt, shmctl(IPC_RMID) (as sysvbench's lifecycle line)
 *   create_rm   shmget + shmctl(IPC_RMID) of a 64 KiB segment
 *   attach_dt   shmat + shmdt of one existing segment
 *   stat        shmctl(IPC_STAT)
 *   proc_text   open, read and close /proc/sysvipc/shm (10 segments)
 * Usage: tool_bench_shm [ITERATIONS]
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/shm.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#define SIZE (64 * 1024)

static long long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

static void fail(const char *what)
{
	perror(what);
	exit(1);
}

static void lifecycle(void)
{
	int id = shmget(IPC_PRIVATE, SIZE, IPC_CREAT | 0600);
	if (id < 0)
		fail("shmget");
	volatile char *p = shmat(id, NULL, 0);
	if (p == (void *)-1)
		fail("shmat");
	for (int i = 0; i < SIZE; i += 4096)
		p[i] = 1;
	if (shmdt((void *)p) || shmctl(id, IPC_RMID, NULL))
		fail("shmdt/IPC_RMID");
}

static void create_rm(void)
{
	int id = shmget(IPC_PRIVATE, SIZE, IPC_CREAT | 0600);
	if (id < 0 || shmctl(id, IPC_RMID, NULL))
		fail("shmget/IPC_RMID");
}

static int existing;

static void attach_dt(void)
{
	void *p = shmat(existing, NULL, 0);
	if (p == (void *)-1 || shmdt(p))
		fail("shmat/shmdt");
}

static void stat_once(void)
{
	struct shmid_ds ds;
	if (shmctl(existing, IPC_STAT, &ds))
		fail("IPC_STAT");
}

static void proc_text(void)
{
	char buf[65536];
	int fd = open("/proc/sysvipc/shm", O_RDONLY);
	if (fd < 0)
		fail("open /proc/sysvipc/shm");
	while (read(fd, buf, sizeof buf) > 0)
		;
	close(fd);
}

static void measure(const char *name, void (*op)(void), long iterations)
{
	long long t[5];
	for (int b = 0; b < 5; b++) {
		long long t0 = now_ns();
		for (long i = 0; i < iterations; i++)
			op();
		t[b] = (now_ns() - t0) / iterations;
	}
	qsort(t, 5, sizeof t[0], cmp);
	printf("%s %lld\n", name, t[2]);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 20000;
	existing = shmget(IPC_PRIVATE, SIZE, IPC_CREAT | 0600);
	if (existing < 0)
		fail("shmget");
	measure("lifecycle", lifecycle, n);
	measure("create_rm", create_rm, n);
	measure("attach_dt", attach_dt, n);
	measure("stat", stat_once, n * 10);
	int more[9];
	for (int i = 0; i < 9; i++)
		more[i] = shmget(IPC_PRIVATE, SIZE, IPC_CREAT | 0600);
	measure("proc_text", proc_text, n / 10);
	for (int i = 0; i < 9; i++)
		shmctl(more[i], IPC_RMID, NULL);
	shmctl(existing, IPC_RMID, NULL);
	return 0;
}
