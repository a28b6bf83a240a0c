/*
 * sem_eintr.c - signals and sleeping semop/semtimedop:
 *   - a caught signal interrupts a sleeping semop with EINTR, whether the
 *     handler was installed with or without SA_RESTART (Linux never
 *     restarts semop/semtimedop, man 7 signal); the handler has run when
 *     semop returns; same for semtimedop with a long timeout, for
 *     wait-for-zero and for multi-operation lists
 *   - after EINTR nothing was applied (values, SEM_UNDO adjustments), the
 *     sleeper is no longer counted in GETNCNT/GETZCNT
 *   - a timer signal (setitimer) interrupts it as well
 *   - SIGSTOP + SIGCONT without any handler: semop returns EINTR after
 *     the continue, and while stopped the task is not a sleeper (a V
 *     meanwhile is not given to it)
 *   - signals that are ignored (SIG_IGN, or SIG_DFL with a default
 *     action of ignore such as SIGWINCH) or blocked do not interrupt
 */
#include "common.h"
#include <sys/time.h>

static volatile sig_atomic_t handled;

static void handler(int sig)
{
	(void)sig;
	handled++;
}

static const char *res(int r, int e)
{
	char *b = ct_buf();
	if (r == -1)
		snprintf(b, 64, "-1 %s", ct_errname(e));
	else
		snprintf(b, 64, "%d", r);
	return b;
}

static void install(int sig, int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) != 0)
		ct_fatal("sigaction");
}

/* a child installs a handler for SIGUSR1 (sa_flags), then sleeps in the
 * operation list (ms < 0: semop, else semtimedop with that timeout) and
 * prints the outcome */
static struct ct_chan print_ok;

/* let the child print its report (only after the parent printed its own
 * lines, so the transcript order does not depend on the scheduler) */
static void report(pid_t p, const char *what)
{
	ct_post(print_ok);
	ct_wait_result(p, what);
}

static pid_t sleeper(const char *name, int id, const char *spec, long ms, int flags)
{
	pid_t p = ct_fork(name);
	if (p == 0) {
		install(SIGUSR1, flags);
		errno = 0;
		int r = ms < 0 ? ct_semop_q(id, spec) : ct_semtimedop_q(id, spec, ms);
		int e = errno;
		ct_waitfor(print_ok);
		printf("%s: [%s] = %s, handler ran %d time(s)\n", name, spec, res(r, e),
		       (int)handled);
		ct_child_result(r, e);
	}
	return p;
}

static void case_kill(const char *name, int id, const char *spec, long ms, int flags, int semnum,
		      int cnt)
{
	pid_t p = sleeper(name, id, spec, ms, flags);
	ct_blocked(p, id, semnum, cnt, 1);
	kill(p, SIGUSR1);
	report(p, spec);
	ct_cnts("after", id);
	ct_vals("after", id);
}

int main(void)
{
	ct_init();
	pid_t p;
	print_ok = ct_chan();
	int id = T_ID(semget(IPC_PRIVATE, 2, IPC_CREAT | 0600));
	ct_setall(id, "0 1");

	printf("== handler without SA_RESTART\n");
	case_kill("c1", id, "0:-1", -1, 0, 0, GETNCNT);
	printf("== handler with SA_RESTART\n");
	case_kill("c2", id, "0:-1", -1, SA_RESTART, 0, GETNCNT);
	printf("== semtimedop (10 s timeout), without and with SA_RESTART\n");
	case_kill("c3", id, "0:-1", 10000, 0, 0, GETNCNT);
	case_kill("c4", id, "0:-1", 10000, SA_RESTART, 0, GETNCNT);
	printf("== wait for zero\n");
	case_kill("c5", id, "1:0", -1, SA_RESTART, 1, GETZCNT);
	case_kill("c6", id, "1:0", 10000, 0, 1, GETZCNT);
	printf("== a list with SEM_UNDO: nothing applied, nothing to undo\n");
	case_kill("c7", id, "1:-1:u 0:+5:u 0:-9:u", -1, SA_RESTART, 0, GETNCNT);
	case_kill("c8", id, "1:+3:u 1:0", -1, 0, 1, GETZCNT);

	printf("== the interrupted sleeper does not take a later V\n");
	{
		pid_t a = sleeper("c9", id, "0:-1", -1, 0);
		ct_blocked(a, id, 0, GETNCNT, 1);
		pid_t b = sleeper("c10", id, "0:-1", -1, 0);
		ct_blocked(b, id, 0, GETNCNT, 2);
		kill(a, SIGUSR1);
		report(a, "0:-1");
		ct_cnts("c10 still sleeping", id);
		ct_semop(id, "0:+1");
		report(b, "0:-1");
		ct_vals("after", id);
	}

	printf("== interval timer\n");
	if ((p = ct_fork("c11")) == 0) {
		install(SIGALRM, SA_RESTART);
		struct itimerval it = { { 0, 0 }, { 0, 100000 } };
		setitimer(ITIMER_REAL, &it, NULL);
		errno = 0;
		int r = ct_semop_q(id, "0:-1");
		ct_waitfor(print_ok);
		printf("c11: [0:-1] = %s, handler ran %d time(s)\n", res(r, errno), (int)handled);
		ct_child_result(r, errno);
	}
	report(p, "0:-1 with a 100ms timer");

	printf("== ignored and blocked signals do not interrupt\n");
	if ((p = ct_fork("c13")) == 0) {
		signal(SIGUSR2, SIG_IGN);
		signal(SIGWINCH, SIG_DFL);
		install(SIGUSR1, 0);
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigprocmask(SIG_BLOCK, &set, NULL);
		errno = 0;
		int r = ct_semop_q(id, "0:-1");
		int e = errno;
		ct_waitfor(print_ok);
		printf("c13: [0:-1] = %s, handler ran %d time(s)\n", res(r, e), (int)handled);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		printf("c13: after unblocking, handler ran %d time(s)\n", (int)handled);
		ct_child_result(r, e);
	}
	ct_blocked(p, id, 0, GETNCNT, 1);
	kill(p, SIGUSR2);
	kill(p, SIGWINCH);
	kill(p, SIGCHLD);
	kill(p, SIGUSR1);
	usleep(200000);
	printf("c13 still sleeping: %s\n", yes(ct_wait_cnt(p, id, 0, GETNCNT, 1)));
	ct_semop(id, "0:+1");
	report(p, "0:-1");
	ct_vals("final", id);
	ct_cnts("final", id);
	return 0;
}
