/*
 * sem_undo.c - SEM_UNDO adjustments (semadj):
 *   - applied when the process terminates: exit(), _exit(), SIGKILL;
 *     for positive and negative operations, mixed with non-undo ones,
 *     accumulated over several calls
 *   - kept across execve: applied at the final exit of the exec'd image
 *     (together with the image's own adjustments), not at the exec
 *   - a fork child starts with no adjustments; the parent's are applied
 *     only when the parent exits
 *   - threads share one set of adjustments, applied when the whole
 *     process exits, not when a thread exits
 *   - at exit the value is clamped to 0..32767 (ipc/sem.c exit_sem)
 *   - SETVAL clears the adjustment of that semaphore in every process,
 *     SETALL of all semaphores of the set (even when the value does not
 *     change); later SEM_UNDO operations start again from 0
 *   - the exit adjustment wakes sleepers that can now proceed (a holder
 *     killed by SIGKILL releases its semaphore)
 *   - a sleeping SEM_UNDO operation completed by another process's V is
 *     recorded for the sleeper
 *   - sempid is set to the exiting process only for semaphores whose
 *     adjustment is not 0; sem_otime is updated at the exit of a process
 *     that has an undo record for the set, even if its adjustments are
 *     all 0 (cancelled out, or cleared by SETALL), and even if its only
 *     SEM_UNDO call failed (EAGAIN): Linux allocates the record before
 *     trying the operation
 */
#include "common.h"
#include <pthread.h>

enum { HOW_EXIT, HOW__EXIT, HOW_KILL, HOW_RETURN };

struct holder {
	pid_t pid;
	struct ct_chan go, done;
	int how;
};

/* fork a child that runs the operation lists (separated by '|'), posts
 * done, waits for go and then terminates the requested way */
static struct holder holder(const char *name, int id, const char *specs, int how)
{
	struct holder h;
	h.go = ct_chan();
	h.done = ct_chan();
	h.how = how;
	h.pid = ct_fork(name);
	if (h.pid == 0) {
		char buf[256];
		snprintf(buf, sizeof buf, "%s", specs);
		for (char *s = strtok(buf, "|"); s; s = strtok(NULL, "|")) {
			errno = 0;
			int r = ct_semop_q(id, s);
			printf("%s: semop(%s, [%s]) = %d%s%s\n", name, idn(id), s, r, r ? " " : "",
			       r ? ct_errname(errno) : "");
		}
		ct_post(h.done);
		if (how == HOW_KILL)
			for (;;)
				pause();
		ct_waitfor(h.go);
		fflush(stdout);
		if (how == HOW__EXIT)
			_exit(0);
		exit(0);
	}
	ct_waitfor(h.done);
	return h;
}

static void finish(struct holder h)
{
	if (h.how == HOW_KILL)
		kill(h.pid, SIGKILL);
	else
		ct_post(h.go);
	ct_wait(h.pid);
	close(h.go.rd);
	close(h.go.wr);
	close(h.done.rd);
	close(h.done.wr);
}

/* exec'd mode: --exec id: report, add another adjustment, exit */
static int exec_mode(int argc, char **argv)
{
	ct_init();
	if (argc < 3)
		return 2;
	int id = atoi(argv[2]);
	idn(id);
	ct_vals("exec'd image sees", id);
	ct_semop(id, "0:+1:u");
	ct_vals("exec'd image", id);
	return 0;
}

static int thread_id;
static void *thread_fn(void *arg)
{
	(void)arg;
	ct_semop(thread_id, "2:+1:u 1:-1:u");
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--exec") == 0)
		return exec_mode(argc, argv);
	ct_init();
	struct holder h;
	pid_t p;
	int id = T_ID(semget(IPC_PRIVATE, 4, IPC_CREAT | 0600));

	printf("== exit(), _exit(), SIGKILL\n");
	h = holder("e1", id, "0:+1:u", HOW_EXIT);
	ct_vals("e1 alive", id);
	finish(h);
	ct_vals("e1 gone", id);
	ct_sempids("e1 gone", id);
	h = holder("e2", id, "0:+2:u", HOW__EXIT);
	ct_vals("e2 alive", id);
	finish(h);
	ct_vals("e2 gone", id);
	h = holder("e3", id, "0:+3:u", HOW_KILL);
	ct_vals("e3 alive", id);
	finish(h);
	ct_vals("e3 gone", id);
	ct_sempids("e3 gone", id);

	printf("== negative, mixed and accumulated adjustments\n");
	ct_setall(id, "5 5 0 0");
	h = holder("n1", id, "1:-2:u|0:+1:u 0:+1|0:+1:u|0:+1:u|0:-1:u|2:+4 2:-1:u", HOW_EXIT);
	ct_vals("n1 alive", id);
	finish(h);
	ct_vals("n1 gone", id);
	ct_sempids("n1 gone", id);

	printf("== exec keeps the adjustments\n");
	ct_setall(id, "0 0 0 0");
	if ((p = ct_fork("x1")) == 0) {
		ct_semop(id, "0:+1:u");
		ct_vals("x1 before exec", id);
		char ids[32];
		snprintf(ids, sizeof ids, "%d", id);
		fflush(stdout);
		execl("/proc/self/exe", argv[0], "--exec", ids, (char *)NULL);
		ct_fatal("execl");
	}
	ct_wait(p);
	ct_vals("x1 gone", id);

	printf("== a fork child starts without adjustments\n");
	if ((p = ct_fork("p1")) == 0) {
		ct_semop(id, "0:+1:u");
		pid_t c = ct_fork("p1child");
		if (c == 0) {
			ct_vals("p1child", id);
			ct_child_exit(0);
		}
		ct_wait(c);
		ct_vals("p1 after p1child exit", id);
		c = ct_fork("p1child2");
		if (c == 0) {
			ct_semop(id, "1:+2:u");
			ct_child_exit(0);
		}
		ct_wait(c);
		ct_vals("p1 after p1child2 exit", id);
		ct_sempids("p1 after p1child2 exit", id);
		ct_child_exit(0);
	}
	ct_wait(p);
	ct_vals("p1 gone", id);

	printf("== threads share the adjustments\n");
	ct_setall(id, "0 5 0 0");
	if ((p = ct_fork("t1")) == 0) {
		pthread_t t;
		thread_id = id;
		ct_semop(id, "2:+1:u");
		if (pthread_create(&t, NULL, thread_fn, NULL) != 0)
			ct_fatal("pthread_create");
		pthread_join(t, NULL);
		ct_vals("t1 after its thread exited", id);
		ct_sempids("t1 after its thread exited", id);
		ct_child_exit(0);
	}
	ct_wait(p);
	ct_vals("t1 gone", id);

	printf("== clamping at exit\n");
	ct_setall(id, "0 5 0 0");
	h = holder("k1", id, "0:+3:u", HOW_EXIT);
	ct_semop(id, "0:-2");
	finish(h);
	ct_vals("k1 gone: 1-3 clamped to 0", id);
	h = holder("k2", id, "1:-5:u", HOW_KILL);
	ct_semop(id, "1:+32765");
	finish(h);
	ct_vals("k2 gone: 32765+5 clamped to 32767", id);
	ct_setall(id, "0 3 3 0");
	h = holder("k3", id, "0:+2:u 1:+1:u 2:-3:u", HOW_EXIT);
	ct_semop(id, "0:-2 1:-4");
	ct_vals("k3 alive", id);
	finish(h);
	ct_vals("k3 gone", id);
	ct_sempids("k3 gone", id);

	printf("== SETVAL and SETALL clear adjustments\n");
	ct_setall(id, "0 0 0 0");
	h = holder("s1", id, "0:+2:u 1:+1:u", HOW_EXIT);
	struct holder h2 = holder("s2", id, "0:+3:u 2:+1:u", HOW_EXIT);
	ct_setval(id, 0, 10);
	finish(h2);
	ct_vals("s2 gone (sem 0 adj cleared)", id);
	finish(h);
	ct_vals("s1 gone (sem 0 adj cleared)", id);
	ct_setall(id, "0 0 0 0");
	h = holder("s3", id, "0:+2:u", HOW_EXIT);
	ct_setval(id, 0, 2);
	ct_semop(id, "3:+1");
	finish(h);
	ct_vals("s3 gone (SETVAL to the same value clears)", id);
	ct_setall(id, "0 0 0 0");
	h = holder("s4", id, "0:+2:u 1:+3:u 2:+1:u", HOW_KILL);
	ct_setall(id, "5 5 5 5");
	finish(h);
	ct_vals("s4 gone (all cleared by SETALL)", id);
	ct_setall(id, "0 0 0 0");
	if ((p = ct_fork("s5")) == 0) {
		ct_semop(id, "0:+2:u");
		ct_setval(id, 0, 10);
		ct_semop(id, "0:+1:u");
		ct_semop(id, "0:-4:u");
		ct_child_exit(0);
	}
	ct_wait(p);
	ct_vals("s5 gone (only the adjustments after SETVAL: -1+4)", id);

	printf("== the exit adjustment wakes sleepers\n");
	ct_setall(id, "0 0 0 1");
	h = holder("h1", id, "3:-1:u", HOW_KILL);
	if ((p = ct_fork("w1")) == 0) {
		int r = ct_semop_q(id, "3:-1");
		ct_child_result(r, errno);
	}
	ct_blocked(p, id, 3, GETNCNT, 1);
	finish(h);
	ct_wait_result(p, "[3:-1]");
	ct_vals("after", id);
	ct_sempids("after", id);
	h = holder("h2", id, "0:+1:u", HOW_EXIT);
	if ((p = ct_fork("z1")) == 0) {
		int r = ct_semop_q(id, "0:0 1:0 2:0 3:0");
		ct_child_result(r, errno);
	}
	ct_blocked(p, id, 0, GETZCNT, 1);
	finish(h);
	ct_wait_result(p, "[0:0 1:0 2:0 3:0]");

	printf("== a sleeping SEM_UNDO op completed by a V is recorded\n");
	ct_setall(id, "0 0 0 0");
	{
		struct ct_chan done = ct_chan(), go = ct_chan();
		if ((p = ct_fork("w2")) == 0) {
			int r = ct_semop_q(id, "3:-1:u");
			ct_post(done);
			ct_waitfor(go);
			printf("w2: [3:-1:u] = %d\n", r);
			ct_waitfor(go);
			ct_child_exit(0);
		}
		ct_blocked(p, id, 3, GETNCNT, 1);
		ct_semop(id, "3:+1");
		ct_waitfor(done);
		ct_vals("w2 holds", id);
		ct_post(go);
		ct_post(go);
		ct_wait(p);
		ct_vals("w2 gone", id);
	}

	printf("== sempid and sem_otime at exit\n");
	ct_mark();
	int id2 = T_ID(semget(IPC_PRIVATE, 2, IPC_CREAT | 0600));
	h = holder("q1", id2, "0:+1:u 1:+1:u|1:-1:u", HOW_EXIT);
	ct_semop(id2, "0:+1 1:+1");
	ct_sempids("q1 alive", id2);
	ct_semstat("q1 alive", id2);
	ct_mark();
	finish(h);
	ct_vals("q1 gone", id2);
	ct_sempids("q1 gone (only sem 0 had an adjustment)", id2);
	ct_semstat("q1 gone", id2);
	ct_mark();
	h = holder("q2", id2, "1:+1:u 1:-1:u", HOW_EXIT);
	ct_setall(id2, "7 7");
	ct_mark();
	finish(h);
	ct_semstat("q2 gone (adjustments 0 and cleared)", id2);
	ct_sempids("q2 gone", id2);
	printf("-- a SEM_UNDO op that failed (EAGAIN) still counts at exit\n");
	h = holder("q3", id2, "0:-100:un", HOW_EXIT);
	ct_mark();
	finish(h);
	ct_semstat("q3 gone", id2);
	ct_sempids("q3 gone", id2);
	ct_vals("q3 gone", id2);
	return 0;
}
