/*
 * msg_stopcont.c - a receiver sleeping in msgrcv that is stopped
 * (SIGSTOP) and continued (SIGCONT), with no handler.  Unlike semop
 * (EINTR, see sem_stopcont.c), msgrcv returns ERESTARTNOHAND, so with no
 * handler to run the call is restarted transparently after the continue:
 * the receiver gets its message and no error.  But Linux takes it off the
 * queue's receiver list while it is stopped: a message sent meanwhile is
 * queued (qnum 1, lrpid unchanged), not handed over, and the restarted
 * call then takes it from the queue.  A sleeping sender that is stopped
 * and continued likewise completes once there is room.
 * Kept apart from msg_eintr.c because a box may not see the stop.
 */
#include "common.h"

static void stop(pid_t p)
{
	int st;
	kill(p, SIGSTOP);
	if (waitpid(p, &st, WUNTRACED) != p)
		ct_fatal("waitpid");
	printf("%s stopped: %s\n", pidn(p), yes(WIFSTOPPED(st)));
}

int main(void)
{
	ct_init();
	int id = T_ID(msgget(IPC_PRIVATE, IPC_CREAT | 0600));

	printf("== receiver\n");
	struct ct_kid k = ct_rcv_kid("r1", id, 100, 0, 0);
	ct_asleep(k.pid);
	stop(k.pid);
	ct_snd(id, 1, "sent while stopped", 0);
	ct_q("r1 stopped", id);
	kill(k.pid, SIGCONT);
	ct_kid_done(&k);
	ct_q("after", id);

	printf("== sender\n");
	ct_setqbytes(id, 4);
	ct_snd(id, 1, "full", 0);
	k = ct_snd_kid("s1", id, 2, 3, 0);
	ct_asleep(k.pid);
	stop(k.pid);
	ct_rcv(id, 100, 0, 0);
	ct_q("s1 stopped", id);
	kill(k.pid, SIGCONT);
	ct_kid_done(&k);
	ct_q("after", id);
	ct_rcv(id, 100, 0, 0);
	return 0;
}
