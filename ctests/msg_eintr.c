/*
 * msg_eintr.c - signals and sleeping msgrcv/msgsnd:
 *   - a caught signal interrupts a sleeping msgrcv or msgsnd with EINTR,
 *     whether the handler was installed with or without SA_RESTART (the
 *     kernel returns ERESTARTNOHAND: never restarted after a handler ran,
 *     man 7 signal); the handler has run once when the call returns
 *   - the interrupted receiver is no longer waiting: a later message is
 *     queued (or handed to the next sleeping receiver); the interrupted
 *     sender sent nothing; nor is a receiver killed by a signal without a
 *     handler (SIGUSR1's default action)
 *   - an interval timer (SIGALRM, SA_RESTART) interrupts as well
 *   - signals that are ignored (SIG_IGN, or SIG_DFL with a default action
 *     of ignore: SIGWINCH, SIGCHLD) or blocked do not interrupt
 * SIGSTOP/SIGCONT is in msg_stopcont.c.
 */
#include "common.h"
#include <sys/time.h>

static int sa_flags;

static void handler(int sig)
{
	(void)sig;
	ct_extra++;
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

static void setup_usr1(void)
{
	install(SIGUSR1, sa_flags);
}

static void setup_timer(void)
{
	install(SIGALRM, SA_RESTART);
	struct itimerval it = { { 0, 0 }, { 0, 100000 } };
	setitimer(ITIMER_REAL, &it, NULL);
}

static void setup_ignore_block(void)
{
	signal(SIGUSR2, SIG_IGN);
	signal(SIGWINCH, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	install(SIGUSR1, 0);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

static void report(struct ct_kid *k)
{
	struct ct_kidres *res = ct_kid_done(k);
	if (res)
		printf("%s: handler ran %ld time(s)\n", pidn(k->pid), res->extra);
}

int main(void)
{
	ct_init();
	struct ct_kid k, k2;
	int id = T_ID(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
	int full = T_ID(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
	ct_setqbytes(full, 4);
	ct_snd(full, 1, "full", 0);

	for (int restart = 0; restart < 2; restart++) {
		sa_flags = restart ? SA_RESTART : 0;
		printf("== handler %s SA_RESTART\n", restart ? "with" : "without");
		ct_kid_setup = setup_usr1;
		k = ct_rcv_kid(restart ? "r2" : "r1", id, 100, 0, 0);
		ct_asleep(k.pid);
		kill(k.pid, SIGUSR1);
		report(&k);
		k = ct_snd_kid(restart ? "s2" : "s1", full, 2, 1, 0);
		ct_asleep(k.pid);
		kill(k.pid, SIGUSR1);
		report(&k);
		k = ct_rcv_kid(restart ? "r4" : "r3", id, 100, 5, MSG_EXCEPT | MSG_NOERROR);
		ct_asleep(k.pid);
		kill(k.pid, SIGUSR1);
		report(&k);
		ct_kid_setup = NULL;
		ct_q("receive queue", id);
		ct_q("full queue", full);
	}

	printf("== the interrupted receiver does not take a later message\n");
	sa_flags = SA_RESTART;
	ct_kid_setup = setup_usr1;
	k = ct_rcv_kid("r5", id, 100, 0, 0);
	ct_asleep(k.pid);
	k2 = ct_rcv_kid("r6", id, 100, 0, 0);
	ct_asleep(k2.pid);
	ct_kid_setup = NULL;
	kill(k.pid, SIGUSR1);
	report(&k);
	ct_snd(id, 1, "for r6", 0);
	report(&k2);
	k = ct_rcv_kid("r7", id, 100, 0, 0); /* no handler */
	ct_asleep(k.pid);
	kill(k.pid, SIGUSR1);
	ct_kid_done(&k);
	ct_snd(id, 1, "queued", 0);
	ct_q("queued", id);
	ct_rcv(id, 100, 0, IPC_NOWAIT);

	printf("== interval timer\n");
	ct_kid_setup = setup_timer;
	k = ct_rcv_kid("r8", id, 100, 0, 0);
	report(&k);
	k = ct_snd_kid("s3", full, 1, 1, 0);
	report(&k);
	ct_kid_setup = NULL;

	printf("== ignored and blocked signals do not interrupt\n");
	ct_kid_setup = setup_ignore_block;
	k = ct_rcv_kid("r9", id, 100, 0, 0);
	k2 = ct_snd_kid("s4", full, 1, 1, 0);
	ct_kid_setup = NULL;
	ct_asleep(k.pid);
	ct_asleep(k2.pid);
	pid_t both[2] = { k.pid, k2.pid };
	for (int i = 0; i < 2; i++) {
		kill(both[i], SIGUSR2);
		kill(both[i], SIGWINCH);
		kill(both[i], SIGCHLD);
		kill(both[i], SIGUSR1);
	}
	usleep(200000);
	ct_still_blocked(&k);
	ct_still_blocked(&k2);
	ct_snd(id, 1, "for r9", 0);
	report(&k);
	ct_rcv(full, 100, 0, 0);
	report(&k2);
	ct_q("receive queue", id);
	ct_q("full queue", full);
	return 0;
}
