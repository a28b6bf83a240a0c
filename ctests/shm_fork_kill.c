/*
 * shm_fork_kill.c - shm_nattch stays exact when a process that holds an
 * attachment is SIGKILLed at a random moment while it forks in a loop
 * (its children exit at once), round after round:
 *   - each round: a process attaches, then forks and reaps children as
 *     fast as it can; the test kills it after a random 0-3 ms; once it
 *     and every child it made are gone, nattch is back to 0;
 *   - half the rounds kill the whole process group at once, so a child
 *     may die in the middle of its own fork, together with its parent;
 *   - afterwards a segment removed while such a forker is attached is
 *     destroyed with its last attacher (IPC_STAT then fails with EINVAL).
 * The transcript names the count of rounds whose nattch did not return to
 * 0 within 10 s (0 on Linux).
 */
#include "common.h"

#define ROUNDS 200

/* Forks and reaps children forever; each child exits at once. */
static void fork_forever(void)
{
	for (;;) {
		pid_t c = fork();
		if (c == 0)
			_exit(0);
		if (c > 0)
			waitpid(c, NULL, 0);
	}
}

static unsigned long nattch_of(int id)
{
	struct shmid_ds ds;
	if (shmctl(id, IPC_STAT, &ds) != 0)
		return (unsigned long)-1;
	return ds.shm_nattch;
}

/* Whether nattch of `id` reaches 0 within 10 s. */
static int drains(int id)
{
	for (int i = 0; i < 10000; i++) {
		if (nattch_of(id) == 0)
			return 1;
		usleep(1000);
	}
	return 0;
}

/* A forker in a process group of its own, attached to `id`; returns once
 * it has attached (reported on a pipe). */
static pid_t start_forker(int id)
{
	int ready[2];
	if (pipe(ready) != 0)
		exit(3);
	fflush(stdout);
	pid_t p = fork();
	if (p == 0) {
		setpgid(0, 0);
		close(ready[0]);
		if (shmat(id, NULL, 0) == (void *)-1)
			_exit(4);
		if (write(ready[1], "x", 1) != 1)
			_exit(5);
		fork_forever();
	}
	close(ready[1]);
	char x;
	if (read(ready[0], &x, 1) != 1)
		exit(6);
	close(ready[0]);
	return p;
}

int main(void)
{
	ct_init();
	srand(12345);
	int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	printf("shmget = %s\n", id >= 0 ? "ok" : "failed");
	int stuck = 0;
	for (int round = 0; round < ROUNDS; round++) {
		pid_t p = start_forker(id);
		usleep(rand() % 3000);
		if (round % 2)
			kill(-p, SIGKILL);
		else
			kill(p, SIGKILL);
		waitpid(p, NULL, 0);
		/* Orphaned children of a forker killed alone exit by themselves;
		 * a group kill takes them too. */
		kill(-p, SIGKILL);
		if (!drains(id))
			stuck++;
	}
	printf("%d rounds: nattch not back to 0 in %d\n", ROUNDS, stuck);

	pid_t p = start_forker(id);
	T_INT(shmctl(id, IPC_RMID, NULL));
	printf("nattch while the forker lives: %s\n", nattch_of(id) >= 1 ? ">= 1" : "0");
	usleep(2000);
	kill(-p, SIGKILL);
	waitpid(p, NULL, 0);
	int gone = 0;
	for (int i = 0; i < 10000 && !gone; i++) {
		struct shmid_ds ds;
		gone = shmctl(id, IPC_STAT, &ds) != 0 && errno == EINVAL;
		if (!gone)
			usleep(1000);
	}
	printf("removed segment destroyed with its last attacher: %s\n", gone ? "yes" : "no");
	return 0;
}
