/*
 * tool_bench_churn.c - the cost of objects made and removed in bulk, over
 * and over: each cycle makes COUNT queues (a 64-byte message in each) and
 * COUNT semaphore sets of 2, then removes them all. In a box every cycle
 * gives the tables' top and the heap's free blocks back and faults them
 * in again on the next (see README, Benchmarks). Prints
 * "churn ns per object" (one queue and one set made, used and removed).
 * Usage: tool_bench_churn [COUNT [CYCLES]]   (default 1000 50)
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <time.h>

int main(int argc, char **argv)
{
	int count = argc > 1 ? atoi(argv[1]) : 1000, cycles = argc > 2 ? atoi(argv[2]) : 50;
	int *queues = calloc(count, sizeof *queues), *sets = calloc(count, sizeof *sets);
	struct {
		long type;
		char text[64];
	} m = { 1, "x" };
	struct timespec start, end;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (int c = 0; c < cycles; c++) {
		for (int i = 0; i < count; i++) {
			queues[i] = msgget(IPC_PRIVATE, 0600);
			sets[i] = semget(IPC_PRIVATE, 2, 0600);
			if (queues[i] < 0 || sets[i] < 0 || msgsnd(queues[i], &m, sizeof m.text, 0)) {
				perror("msgget/semget/msgsnd");
				return 1;
			}
		}
		for (int i = 0; i < count; i++) {
			msgctl(queues[i], IPC_RMID, NULL);
			semctl(sets[i], 0, IPC_RMID);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	double ns = (end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec);
	printf("churn %.0f ns per object\n", ns / ((double)cycles * count));
	return 0;
}
