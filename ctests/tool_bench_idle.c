/*
 * tool_bench_idle.c - how the cost of a call depends on the number of idle
 * processes in the box; run by scripts/bench.sh once against the kernel and
 * once in a box. Prints "<name> <ns per call>".
 * For each N in 0 64 256 1024 (or the list argv[2...]), the parent creates a
 * semaphore set of 2 (IPC_PRIVATE), a 4096-byte shm segment and a message
 * queue, then forks N children (no exec). Each child does one semop +1 with
 * SEM_UNDO on semaphore 1 and one shmat of the segment, says it is ready on
 * a pipe, and then sleeps blocked reading another pipe (idle: no CPU) until
 * the parent closes it. With all N children idle, the parent times:
 *   pv_idleN        uncontended P then V on semaphore 0, per semop
 *   pv_undo_idleN   the same with SEM_UNDO
 *   stat_idleN      shmctl(IPC_STAT) of the segment, per call
 *   msg_idleN       msgsnd of a 64-byte message then msgrcv of it, per pair
 *   setval_idleN    semctl(SETVAL) of semaphore 0, per call (in the kernel,
 *                   SETVAL clears the adjustment of that semaphore in every
 *                   undo structure of the set, so it grows with N there too)
 * then releases the children, waits for them, removes the objects, and
 * moves on to the next N.
 * With n = argv[1] (default 100000), each figure is the median of 5 batches
 * of n/5 P+V pairs, calls or send+receive pairs, one batch of each
 * benchmark per round (a slow spell of the machine then spoils one batch of
 * several benchmarks, not all the batches of one).
 * A child is killed when the parent dies (a timeout, ^C); if the parent
 * fails, it removes the objects it created.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BATCHES 5
#define SMALL 64
#define MAX_CHILDREN 100000

static int sem_id = -1, shm_id = -1, msg_id = -1; /* removed by die() */

struct message {
	long mtype;
	char mtext[SMALL];
};

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void remove_objects(void)
{
	if (sem_id >= 0)
		semctl(sem_id, 0, IPC_RMID);
	if (shm_id >= 0)
		shmctl(shm_id, IPC_RMID, NULL);
	if (msg_id >= 0)
		msgctl(msg_id, IPC_RMID, NULL);
	sem_id = shm_id = msg_id = -1;
}

static void die(const char *what)
{
	perror(what);
	remove_objects();
	exit(1);
}

/* Semaphore 0: P then V, n times; ns per semop. */
static double pv(long n, short flags)
{
	struct sembuf p = { 0, -1, flags }, v = { 0, 1, flags };
	if (semop(sem_id, &v, 1))
		die("semop");
	double t0 = now_ns();
	for (long i = 0; i < n; i++)
		if (semop(sem_id, &p, 1) || semop(sem_id, &v, 1))
			die("semop");
	double per_op = (now_ns() - t0) / (2.0 * n);
	if (semop(sem_id, &p, 1))
		die("semop");
	return per_op;
}

static double pv_plain(long n)
{
	return pv(n, 0);
}

static double pv_undo(long n)
{
	return pv(n, SEM_UNDO);
}

static double shm_stat(long n)
{
	struct shmid_ds ds;
	double t0 = now_ns();
	for (long i = 0; i < n; i++)
		if (shmctl(shm_id, IPC_STAT, &ds))
			die("shmctl IPC_STAT");
	return (now_ns() - t0) / n;
}

static double msg(long n)
{
	struct message m;
	memset(&m, 'm', sizeof m);
	double t0 = now_ns();
	for (long i = 0; i < n; i++) {
		m.mtype = 1;
		if (msgsnd(msg_id, &m, SMALL, 0))
			die("msgsnd");
		ssize_t got = msgrcv(msg_id, &m, SMALL, 0, IPC_NOWAIT);
		if (got != SMALL || m.mtype != 1) {
			if (got >= 0) {
				fprintf(stderr, "msgrcv: got %zd bytes of type %ld\n", got, m.mtype);
				errno = EPROTO;
			}
			die("msgrcv");
		}
	}
	return (now_ns() - t0) / n;
}

static double setval(long n)
{
	double t0 = now_ns();
	for (long i = 0; i < n; i++)
		if (semctl(sem_id, 0, SETVAL, 0))
			die("semctl SETVAL");
	return (now_ns() - t0) / n;
}

static const struct bench {
	const char *name;
	double (*batch)(long);
} benches[] = {
	{ "pv", pv_plain },
	{ "pv_undo", pv_undo },
	{ "stat", shm_stat },
	{ "msg", msg },
	{ "setval", setval },
};
#define NBENCH (sizeof benches / sizeof benches[0])

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* A child: holds an undo entry on semaphore 1 and an attachment of the
 * segment, says so, then sleeps until the parent closes `release`. */
static void child(int ready, int release, pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
		_exit(1);
	struct sembuf up = { 1, 1, SEM_UNDO };
	if (semop(sem_id, &up, 1)) {
		perror("child semop");
		_exit(1);
	}
	if (shmat(shm_id, NULL, 0) == (void *)-1) {
		perror("child shmat");
		_exit(1);
	}
	char c = 'r';
	if (write(ready, &c, 1) != 1) {
		perror("child write");
		_exit(1);
	}
	close(ready);
	ssize_t got;
	while ((got = read(release, &c, 1)) != 0)
		if (got < 0 && errno != EINTR) {
			perror("child read");
			_exit(1);
		}
	_exit(0);
}

static void measure(long idle, long per_batch)
{
	sem_id = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
	if (sem_id < 0)
		die("semget");
	shm_id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	if (shm_id < 0)
		die("shmget");
	msg_id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	if (msg_id < 0)
		die("msgget");

	int ready[2], release[2];
	if (pipe(ready) || pipe(release))
		die("pipe");
	pid_t *pids = calloc(idle ? idle : 1, sizeof *pids);
	if (!pids)
		die("calloc");
	fflush(stdout);
	pid_t parent = getpid();
	for (long c = 0; c < idle; c++) {
		pids[c] = fork();
		if (pids[c] < 0) {
			/* The children started so far die on EOF of release. */
			int saved = errno;
			close(release[1]);
			errno = saved;
			die("fork");
		}
		if (pids[c] == 0) {
			close(ready[0]);
			close(release[1]);
			child(ready[1], release[0], parent);
		}
	}
	close(ready[1]);
	close(release[0]);
	/* All N ready: N bytes, then EOF once every child has closed its end. */
	long got_ready = 0;
	char buf[256];
	for (;;) {
		ssize_t got = read(ready[0], buf, sizeof buf);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			die("read");
		if (got == 0)
			break;
		got_ready += got;
	}
	close(ready[0]);
	if (got_ready != idle) {
		fprintf(stderr, "%ld of %ld children ready\n", got_ready, idle);
		close(release[1]);
		errno = ECHILD;
		die("children");
	}
	if (semctl(sem_id, 1, GETVAL) != idle) {
		fprintf(stderr, "semaphore 1 is %d, not %ld\n", semctl(sem_id, 1, GETVAL), idle);
		close(release[1]);
		errno = EPROTO;
		die("children");
	}

	double values[NBENCH][BATCHES];
	for (int round = 0; round < BATCHES; round++)
		for (size_t b = 0; b < NBENCH; b++)
			values[b][round] = benches[b].batch(per_batch);

	close(release[1]);
	int failed = 0;
	for (long c = 0; c < idle; c++) {
		int status;
		if (waitpid(pids[c], &status, 0) != pids[c])
			die("waitpid");
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "child %ld failed (status %#x)\n", c, status);
			failed = 1;
		}
	}
	free(pids);
	if (failed) {
		errno = ECHILD;
		die("children");
	}
	/* The children's undo entries were applied when they exited. */
	if (semctl(sem_id, 1, GETVAL) != 0) {
		fprintf(stderr, "semaphore 1 is %d after the children exited\n", semctl(sem_id, 1, GETVAL));
		errno = EPROTO;
		die("undo");
	}
	struct shmid_ds ds;
	if (shmctl(shm_id, IPC_STAT, &ds))
		die("shmctl IPC_STAT");
	if (ds.shm_nattch != 0) {
		fprintf(stderr, "segment still has %lu attachments\n", (unsigned long)ds.shm_nattch);
		errno = EPROTO;
		die("shmat");
	}
	if (semctl(sem_id, 0, IPC_RMID) || shmctl(shm_id, IPC_RMID, NULL) || msgctl(msg_id, IPC_RMID, NULL))
		die("IPC_RMID");
	sem_id = shm_id = msg_id = -1;

	for (size_t b = 0; b < NBENCH; b++) {
		qsort(values[b], BATCHES, sizeof values[b][0], by_value);
		printf("%s_idle%ld %.1f\n", benches[b].name, idle, values[b][BATCHES / 2]);
	}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100000;
	if (n < BATCHES) {
		fprintf(stderr, "usage: %s [iterations >= %d [N...]]\n", argv[0], BATCHES);
		return 2;
	}
	static const long defaults[] = { 0, 64, 256, 1024 };
	int count = argc > 2 ? argc - 2 : (int)(sizeof defaults / sizeof defaults[0]);
	for (int i = 0; i < count; i++) {
		long idle = argc > 2 ? atol(argv[2 + i]) : defaults[i];
		if (idle < 0 || idle > MAX_CHILDREN) {
			fprintf(stderr, "%s: idle process count %ld out of range 0..%d\n", argv[0], idle, MAX_CHILDREN);
			return 2;
		}
		measure(idle, n / BATCHES);
	}
	return 0;
}
