/*
 * tool_bench_memory.c - what a process and its box hold in memory, printed
 * as "name value" lines for scripts/bench.sh:
 *   idle_vmsize_kib, idle_vmrss_kib   after one SysV call (a semget)
 *   idle_region_kib                   the box region's allocated memory
 *                                     (the memfd named by IPCBOX_FD; "-"
 *                                     outside a box)
 *   churn_*                           the same after COUNT segments (one
 *                                     touched page each), COUNT queues
 *                                     holding a message each and COUNT
 *                                     semaphore sets were made, then all
 *                                     removed
 *   peak_region_kib                   the region while they all existed
 * Usage: tool_bench_memory [COUNT]   (default 10000; run as root in a
 * fresh IPC namespace or a box: it raises shmmni there)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>

static long status_kib(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long value = -1;
	size_t n = strlen(field);
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, field, n) && line[n] == ':')
			value = atol(line + n + 1);
	if (f)
		fclose(f);
	return value;
}

static void region_kib(const char *name)
{
	const char *fd = getenv("IPCBOX_FD");
	struct stat st;
	if (fd && fstat(atoi(fd), &st) == 0)
		printf("%s %lld\n", name, (long long)st.st_blocks / 2);
	else
		printf("%s -\n", name);
}

static void report(const char *when)
{
	char name[64];
	snprintf(name, sizeof name, "%s_vmsize_kib", when);
	printf("%s %ld\n", name, status_kib("VmSize"));
	snprintf(name, sizeof name, "%s_vmrss_kib", when);
	printf("%s %ld\n", name, status_kib("VmRSS"));
	snprintf(name, sizeof name, "%s_region_kib", when);
	region_kib(name);
}

int main(int argc, char **argv)
{
	int count = argc > 1 ? atoi(argv[1]) : 10000;
	/* Linux's default SHMMNI is 4096: raised (as root) for the churn. */
	FILE *mni = fopen("/proc/sys/kernel/shmmni", "w");
	if (mni) {
		fprintf(mni, "%d\n", count + 16);
		fclose(mni);
	}
	int probe = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	if (probe < 0) {
		perror("semget");
		return 1;
	}
	semctl(probe, 0, IPC_RMID);
	report("idle");
	int *shm = calloc(count, sizeof *shm), *msg = calloc(count, sizeof *msg), *sem = calloc(count, sizeof *sem);
	struct {
		long type;
		char text[64];
	} m = { 1, "x" };
	for (int i = 0; i < count; i++) {
		shm[i] = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
		char *p = shmat(shm[i], NULL, 0);
		if (shm[i] < 0 || p == (void *)-1) {
			perror("shm");
			return 1;
		}
		p[0] = 1;
		shmdt(p);
		msg[i] = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
		sem[i] = semget(IPC_PRIVATE, 8, IPC_CREAT | 0600);
		if (msg[i] < 0 || sem[i] < 0 || msgsnd(msg[i], &m, sizeof m.text, 0)) {
			perror("msg/sem");
			return 1;
		}
	}
	region_kib("peak_region_kib");
	for (int i = 0; i < count; i++) {
		shmctl(shm[i], IPC_RMID, NULL);
		msgctl(msg[i], IPC_RMID, NULL);
		semctl(sem[i], 0, IPC_RMID);
	}
	report("churn");
	return 0;
}
