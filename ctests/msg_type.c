/*
 * msg_type.c - message selection by msgrcv's msgtyp:
 *   - msgtyp 0: the first message
 *   - msgtyp > 0: the first message of exactly that type; none -> ENOMSG
 *     (IPC_NOWAIT), the others stay in place; FIFO within a type
 *   - msgtyp > 0 with MSG_EXCEPT: the first message of any other type;
 *     MSG_EXCEPT with msgtyp 0 is the same as msgtyp 0, and with
 *     msgtyp < 0 the same as without it
 *   - msgtyp < 0: the first message of the lowest type <= |msgtyp|
 *     (among several of that type, the oldest); LONG_MIN (whose |x| does
 *     not exist) and -LONG_MAX select the lowest type of all
 *   - types up to LONG_MAX; msgtyp LONG_MAX
 *   - the selected message is what counts for E2BIG: a too-long selected
 *     message gives E2BIG even if a later matching message would fit
 * Each case fills the queue with the same list, receives with IPC_NOWAIT
 * until ENOMSG and then empties the queue, printing everything.
 */
#include "common.h"
#include <limits.h>

static int id;

/* types of the standard list; bodies are "<type>.<n>" */
static const long list[] = { 3, 1, 2, 1, 5, 2, 4, 3, 1 };
#define NLIST (sizeof list / sizeof list[0])

static void fill(void)
{
	for (unsigned i = 0; i < NLIST; i++) {
		char t[32];
		snprintf(t, sizeof t, "%ld.%u", list[i], i);
		if (ct_snd_q(id, list[i], t, IPC_NOWAIT) != 0)
			ct_fatal("msgsnd");
	}
}

/* print the remaining messages in order and empty the queue */
static void rest(void)
{
	struct ct_msg m;
	printf("  rest:");
	long n;
	while ((n = ct_rcv_q(id, &m, sizeof m.mtext, 0, IPC_NOWAIT)) >= 0)
		printf(" %.*s", (int)n, m.mtext);
	printf("%s\n", errno == ENOMSG ? "" : " (error!)");
}

/* receive with msgtyp/flg until it fails */
static void drain(long msgtyp, int flg)
{
	fill();
	printf("msgtyp %ld, %s:", msgtyp, ct_msgflg(flg));
	struct ct_msg m;
	long n;
	while ((n = ct_rcv_q(id, &m, sizeof m.mtext, msgtyp, flg | IPC_NOWAIT)) >= 0)
		printf(" %.*s", (int)n, m.mtext);
	printf(" then %s\n", ct_errname(errno));
	rest();
}

int main(void)
{
	ct_init();
	id = T_ID(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
	printf("list (type.position):");
	for (unsigned i = 0; i < NLIST; i++)
		printf(" %ld.%u", list[i], i);
	printf("\n");

	printf("== msgtyp 0\n");
	drain(0, 0);
	printf("== msgtyp > 0\n");
	drain(1, 0);
	drain(2, 0);
	drain(3, 0);
	drain(4, 0);
	drain(6, 0);
	drain(LONG_MAX, 0);
	printf("== MSG_EXCEPT\n");
	drain(1, MSG_EXCEPT);
	drain(3, MSG_EXCEPT);
	drain(6, MSG_EXCEPT);
	drain(0, MSG_EXCEPT);
	drain(-2, MSG_EXCEPT);
	printf("== msgtyp < 0\n");
	drain(-1, 0);
	drain(-2, 0);
	drain(-3, 0);
	drain(-4, 0);
	drain(-5, 0);
	drain(-100, 0);
	drain(-LONG_MAX, 0);
	drain(LONG_MIN, 0);
	printf("== one receive each, then the rest\n");
	long sel[] = { 0, 2, -3, 5, -1, LONG_MIN };
	int fl[] = { 0, 0, 0, MSG_EXCEPT, 0, 0 };
	for (unsigned k = 0; k < sizeof sel / sizeof sel[0]; k++) {
		fill();
		printf("msgtyp %ld, %s:", sel[k], ct_msgflg(fl[k]));
		struct ct_msg m;
		long n = ct_rcv_q(id, &m, sizeof m.mtext, sel[k], fl[k] | IPC_NOWAIT);
		printf(" %s\n", ct_rcv_str(n, errno, &m));
		rest();
	}

	printf("== extreme types\n");
	ct_snd(id, LONG_MAX, "max", 0);
	ct_snd(id, LONG_MAX - 1, "max-1", 0);
	ct_snd(id, 1, "one", 0);
	ct_rcv(id, 100, LONG_MAX, IPC_NOWAIT);
	ct_rcv(id, 100, LONG_MAX, IPC_NOWAIT);
	ct_rcv(id, 100, 1, MSG_EXCEPT | IPC_NOWAIT);
	ct_rcv(id, 100, LONG_MIN, IPC_NOWAIT);
	ct_rcv(id, 100, LONG_MIN, IPC_NOWAIT);
	ct_snd(id, LONG_MAX, "max", 0);
	ct_rcv(id, 100, -(LONG_MAX - 1), IPC_NOWAIT);
	ct_rcv(id, 100, -LONG_MAX, IPC_NOWAIT);

	printf("== E2BIG is decided on the selected message\n");
	ct_snd(id, 2, "a long body", 0);
	ct_snd(id, 1, "a longer body", 0);
	ct_snd(id, 1, "short", 0);
	ct_snd(id, 2, "tiny", 0);
	ct_rcv(id, 6, 0, IPC_NOWAIT);
	ct_rcv(id, 6, 1, IPC_NOWAIT);
	ct_rcv(id, 6, -2, IPC_NOWAIT);
	ct_rcv(id, 6, 1, MSG_EXCEPT | IPC_NOWAIT);
	ct_rcv(id, 6, 2, IPC_NOWAIT);
	ct_q("nothing taken", id);
	ct_rcv(id, 6, -2, IPC_NOWAIT | MSG_NOERROR);
	ct_rcv(id, 6, 2, IPC_NOWAIT | MSG_NOERROR);
	rest();
	return 0;
}
