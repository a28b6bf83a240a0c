/*
 * tool_bench_msg.c - message queue micro-benchmarks, run by scripts/bench.sh
 * once against the kernel and once in a box. Prints "<name> <value>".
 *   ping_pong     two processes, 64-byte messages on one queue: A sends type
 *                 1, B receives type 1 and answers type 2, A receives type 2;
 *                 ns per round trip (two hand-offs)
 *   stream_64     a producer process sends 64-byte messages to a consumer
 *                 process; messages per second (higher is better)
 *   stream_4k     the same with 4096-byte messages
 *   recv_by_type  one process, a queue holding 64 messages of types 1..64:
 *                 receive the message of a pseudo-random type and send it
 *                 back; ns per receive+send pair
 * With n = argv[1] (default 200000): ping_pong n/10 round trips, stream_64
 * 4n messages, stream_4k n/4 messages, recv_by_type 4n pairs, each run as 5
 * batches of a fifth (a new queue and a new child process each time), one
 * batch of each benchmark per round; the median batch is printed.
 * The queues keep the default limit (msg_qbytes = MSGMNB, 16384 bytes), so a
 * streaming producer blocks when the queue is full.
 * When it may run on two CPUs or more, the parent stays on one CPU and each
 * child on another: left to the scheduler, the two processes of a pair share
 * a CPU in some runs and not in others, and on a virtual machine a wake-up
 * across CPUs costs over ten times more, which made the two-process figures
 * vary by 30x between runs.
 * If one process of a pair fails, it removes the queue so that the other
 * one wakes up with EIDRM and fails too, rather than waiting forever; a
 * child is killed when the parent dies (a timeout, ^C).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SMALL 64
#define LARGE 4096
#define TYPES 64
#define BATCHES 5

struct message {
	long mtype;
	char mtext[LARGE];
};

static int queue = -1; /* removed by die() */
static int cpu_child = -1; /* the CPU of child processes, if pinned */

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void die(const char *what)
{
	perror(what);
	if (queue >= 0)
		msgctl(queue, IPC_RMID, NULL);
	exit(1);
}

static int new_queue(void)
{
	queue = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	if (queue < 0)
		die("msgget");
	return queue;
}

static void remove_queue(void)
{
	if (msgctl(queue, IPC_RMID, NULL))
		die("msgctl IPC_RMID");
	queue = -1;
}

static void put(struct message *m, size_t size, long type)
{
	m->mtype = type;
	while (msgsnd(queue, m, size, 0))
		if (errno != EINTR)
			die("msgsnd");
}

static void get(struct message *m, size_t size, long type)
{
	ssize_t got;
	while ((got = msgrcv(queue, m, size, type, 0)) < 0)
		if (errno != EINTR)
			die("msgrcv");
	if ((size_t)got != size || (type > 0 && m->mtype != type)) {
		fprintf(stderr, "msgrcv: got %zd bytes of type %ld\n", got, m->mtype);
		errno = EPROTO;
		die("msgrcv");
	}
}

static void pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set))
		die("sched_setaffinity");
}

/* Pins this process to its first allowed CPU and children to the second. */
static void pin_pairs(void)
{
	cpu_set_t set;
	int first = -1;
	if (sched_getaffinity(0, sizeof set, &set))
		return;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &set))
			continue;
		if (first < 0) {
			first = cpu;
		} else {
			pin(first);
			cpu_child = cpu;
			return;
		}
	}
}

/* Forks a child that runs body(rounds) and exits; returns its pid. */
static pid_t start_child(void (*body)(long), long rounds)
{
	fflush(stdout);
	pid_t parent = getpid();
	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
			_exit(1);
		if (cpu_child >= 0)
			pin(cpu_child);
		body(rounds);
		_exit(0);
	}
	return child;
}

static void wait_child(pid_t child)
{
	int status;
	if (waitpid(child, &status, 0) != child)
		die("waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "child failed (status %#x)\n", status);
		exit(1);
	}
}

static void pong(long rounds)
{
	struct message m;
	for (long i = 0; i < rounds; i++) {
		get(&m, SMALL, 1);
		put(&m, SMALL, 2);
	}
}

static double ping_pong(long rounds)
{
	struct message m;
	memset(&m, 'p', sizeof m);
	new_queue();
	pid_t child = start_child(pong, rounds + 1);
	/* One round trip untimed: the child is running once it has answered. */
	put(&m, SMALL, 1);
	get(&m, SMALL, 2);
	double t0 = now_ns();
	for (long i = 0; i < rounds; i++) {
		put(&m, SMALL, 1);
		get(&m, SMALL, 2);
	}
	double elapsed = now_ns() - t0;
	wait_child(child);
	remove_queue();
	return elapsed / rounds;
}

static size_t stream_size;

static void produce(long count)
{
	struct message m;
	memset(&m, 's', sizeof m);
	for (long i = 0; i < count; i++)
		put(&m, stream_size, 1);
}

static double stream(long count)
{
	struct message m;
	size_t size = stream_size;
	new_queue();
	pid_t child = start_child(produce, count + 1);
	/* The first message is untimed: the producer is running once it comes. */
	get(&m, size, 0);
	double t0 = now_ns();
	for (long i = 0; i < count; i++)
		get(&m, size, 0);
	double elapsed = now_ns() - t0;
	wait_child(child);
	remove_queue();
	return count / (elapsed / 1e9);
}

static double recv_by_type(long n)
{
	struct message m;
	memset(&m, 't', sizeof m);
	new_queue();
	for (long type = 1; type <= TYPES; type++)
		put(&m, SMALL, type);
	unsigned long x = 88172645463325252UL; /* xorshift64, fixed seed */
	double t0 = now_ns();
	for (long i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		long type = 1 + (long)(x % TYPES);
		get(&m, SMALL, type);
		put(&m, SMALL, type);
	}
	double elapsed = now_ns() - t0;
	struct msqid_ds ds;
	if (msgctl(queue, IPC_STAT, &ds))
		die("msgctl IPC_STAT");
	if (ds.msg_qnum != TYPES) {
		fprintf(stderr, "recv_by_type: %lu messages left, not %d\n", (unsigned long)ds.msg_qnum, TYPES);
		errno = EPROTO;
		die("recv_by_type");
	}
	remove_queue();
	return elapsed / n;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double stream_64(long count)
{
	stream_size = SMALL;
	return stream(count);
}

static double stream_4k(long count)
{
	stream_size = LARGE;
	return stream(count);
}

static const struct bench {
	const char *name;
	double (*batch)(long);
	long mul, div; /* iterations over all batches: n * mul / div */
	int decimals;
} benches[] = {
	{ "ping_pong", ping_pong, 1, 10, 1 },
	{ "stream_64", stream_64, 4, 1, 0 },
	{ "stream_4k", stream_4k, 1, 4, 0 },
	{ "recv_by_type", recv_by_type, 4, 1, 1 },
};
#define NBENCH (sizeof benches / sizeof benches[0])

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	if (n < 10 * BATCHES) {
		fprintf(stderr, "usage: %s [iterations >= %d]\n", argv[0], 10 * BATCHES);
		return 2;
	}
	pin_pairs();
	/* Round after round of one batch of each benchmark, so that a slow spell
	 * of the machine spoils one batch of several benchmarks, not all the
	 * batches of one. */
	double values[NBENCH][BATCHES];
	for (int round = 0; round < BATCHES; round++)
		for (size_t b = 0; b < NBENCH; b++)
			values[b][round] = benches[b].batch(n * benches[b].mul / benches[b].div / BATCHES);
	for (size_t b = 0; b < NBENCH; b++) {
		qsort(values[b], BATCHES, sizeof values[b][0], by_value);
		printf("%s %.*f\n", benches[b].name, benches[b].decimals, values[b][BATCHES / 2]);
	}
	return 0;
}
