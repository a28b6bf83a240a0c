/*
 * sem_stopcont.c - a sleeper in semop stopped by SIGSTOP and continued by
 * SIGCONT, with no handler. Linux takes it off the queue while it is
 * stopped (a V meanwhile is not given to it) and fails its semop with EINTR
 * after the continue. A box cannot see the stop (futex waits restart
 * transparently), so this test is listed in ctests/known-deviations and in
 * the README. Split from sem_eintr.c, which covers the other signal cases.
 */
#include "common.h"

int main(void)
{
	ct_init();
	pid_t p;
	int id = T_ID(semget(IPC_PRIVATE, 2, IPC_CREAT | 0600));
	ct_setall(id, "0 1");

	printf("== SIGSTOP and SIGCONT, no handler\n");
	if ((p = ct_fork("c12")) == 0) {
		int r = ct_semop_q(id, "0:-1");
		ct_child_result(r, errno);
	}
	ct_blocked(p, id, 0, GETNCNT, 1);
	{
		int st;
		kill(p, SIGSTOP);
		if (waitpid(p, &st, WUNTRACED) != p)
			ct_fatal("waitpid");
		printf("c12 stopped: %s\n", yes(WIFSTOPPED(st)));
	}
	ct_cnts("c12 stopped", id);
	ct_semop(id, "0:+1");
	ct_vals("V while stopped", id);
	kill(p, SIGCONT);
	ct_wait_result(p, "0:-1");
	ct_vals("after", id);
	ct_semop(id, "0:-1:n");

	return 0;
}
