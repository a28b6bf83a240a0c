/*
 * msg_badargs.c - invalid arguments of msgsnd, msgrcv and msgctl, and the
 * order in which Linux checks them (ipc/msg.c ksys_msgsnd/do_msgsnd,
 * do_msgrcv, ksys_msgctl):
 *   msgsnd:
 *     1. the mtype is read first: unreadable msgp -> EFAULT, before
 *        everything else (even a negative id or msgsz > MSGMAX)
 *     2. msgsz > MSGMAX (8192), msgsz "negative" (size_t -1), or msqid < 0
 *        -> EINVAL
 *     3. mtype < 1 -> EINVAL
 *     4. unreadable body (msgsz bytes after the mtype) -> EFAULT, even for
 *        an unknown id; msgsz 0 reads no body; a body in read-only memory
 *        is fine
 *     5. unknown, removed or stale (id + 32768) id -> EINVAL
 *   msgrcv:
 *     1. msqid < 0 or msgsz "negative" -> EINVAL
 *     2. (MSG_COPY checks, see msg_copy.c)
 *     3. unknown/removed id -> EINVAL; then ENOMSG/E2BIG (the buffer is
 *        not touched when nothing is received)
 *     4. the message is taken off the queue BEFORE it is copied out: with
 *        an unwritable buffer (NULL, read-only, mtext unwritable) msgrcv
 *        fails with EFAULT and the message is lost (qnum drops, lrpid is
 *        set); the mtype is written when only the mtext is unwritable;
 *        the same for a message handed to a sleeping receiver
 *     5. unknown msgflg bits are ignored
 *   msgctl:
 *     - msqid < 0 -> EINVAL for every cmd; unknown cmd -> EINVAL (cmd 4..10,
 *       14, negative, INT_MAX, IPC_STAT|0x100)
 *     - IPC_STAT/MSG_STAT/IPC_INFO/MSG_INFO write their buffer: NULL,
 *       unmapped or read-only -> EFAULT (an unknown id is EINVAL first,
 *       except for IPC_INFO/MSG_INFO, which take any id >= 0)
 *     - IPC_SET reads its buffer before the id is looked up: a bad buffer
 *       is EFAULT even for an unknown id; a read-only buffer is fine
 *     - IPC_RMID ignores the buffer argument
 */
#include "common.h"
#include <limits.h>

static int id;

int main(void)
{
	ct_init();
	id = T_ID(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
	int gone = T_ID(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
	T_INT(msgctl(gone, IPC_RMID, NULL));
	long pg = ct_page;
	char *ro = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *none = mmap(NULL, pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *edge = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *edge2 = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *hole = ct_free_range(pg);
	if (ro == MAP_FAILED || none == MAP_FAILED || edge == MAP_FAILED || edge2 == MAP_FAILED)
		ct_fatal("mmap");
	munmap(edge + pg, pg);
	munmap(edge2 + pg, pg);
	/* read-only page holding a message of type 3, "readonly" */
	{
		struct ct_msg *m = (struct ct_msg *)ro;
		m->mtype = 3;
		memcpy(m->mtext, "readonly", 8);
		mprotect(ro, pg, PROT_READ);
	}
	struct ct_msg *rom = (struct ct_msg *)ro;
	/* a message whose mtype is the last long of a page: mtext unmapped */
	struct ct_msg *tail = (struct ct_msg *)(edge + pg - sizeof(long));
	tail->mtype = 2;
	/* a message whose body straddles into the unmapped page */
	struct ct_msg *strad = (struct ct_msg *)(edge2 + pg - sizeof(long) - 4);
	strad->mtype = 4;
	memcpy(strad->mtext, "abcd", 4);
	struct ct_msg good = { 1, "good" };
	struct ct_msg zero = { 0, "zero" };

	printf("== msgsnd: order of checks\n");
	T_INT(msgsnd(id, NULL, 1, 0));
	T_INT(msgsnd(-1, NULL, 1, 0));
	T_INT(msgsnd(id, NULL, 9000, 0));
	T_INT(msgsnd(gone, (void *)1, 1, 0));
	T_INT(msgsnd(id, hole, 1, 0));
	T_INT(msgsnd(id, none, 0, 0));
	T_INT(msgsnd(id, &good, 8193, 0));
	T_INT(msgsnd(id, &good, (size_t)-1, 0));
	T_INT(msgsnd(id, &good, (size_t)LONG_MAX + 1, 0));
	T_INT(msgsnd(-1, &good, 1, 0));
	T_INT(msgsnd(INT_MIN, &good, 1, 0));
	T_INT(msgsnd(-1, &zero, 1, 0));
	T_INT(msgsnd(id, &zero, 9000, 0));
	T_INT(msgsnd(id, &zero, 1, 0));
	T_INT(msgsnd(gone, &zero, 1, 0));
	T_INT(msgsnd(gone, tail, 1, 0));
	T_INT(msgsnd(INT_MAX, tail, 1, 0));
	T_INT(msgsnd(id, tail, 1, 0));
	T_INT(msgsnd(id, strad, 5, 0));
	T_INT(msgsnd(gone, &good, 4, 0));
	T_INT(msgsnd(INT_MAX, &good, 4, 0));
	T_INT(msgsnd(id + 32768, &good, 4, 0));
	ct_q("nothing queued", id);
	printf("-- valid ones\n");
	T_INT(msgsnd(id, tail, 0, 0));
	T_INT(msgsnd(id, strad, 4, 0));
	T_INT(msgsnd(id, rom, 8, 0));
	ct_q("three queued", id);
	ct_rcv(id, 100, 0, 0);
	ct_rcv(id, 100, 0, 0);
	ct_rcv(id, 100, 0, 0);

	printf("== msgrcv: arguments\n");
	struct ct_msg m;
	T_INT(msgrcv(-1, &m, 100, 0, IPC_NOWAIT));
	T_INT(msgrcv(-1, NULL, (size_t)-1, 0, IPC_NOWAIT));
	T_INT(msgrcv(id, &m, (size_t)-1, 0, IPC_NOWAIT));
	T_INT(msgrcv(id, &m, (size_t)LONG_MAX + 1, 0, IPC_NOWAIT));
	T_INT(msgrcv(INT_MIN, &m, 100, 0, IPC_NOWAIT));
	T_INT(msgrcv(INT_MAX, &m, 100, 0, IPC_NOWAIT));
	T_INT(msgrcv(gone, &m, 100, 0, IPC_NOWAIT));
	T_INT(msgrcv(gone, NULL, 100, 0, IPC_NOWAIT));
	T_INT(msgrcv(id + 32768, &m, 100, 0, IPC_NOWAIT));
	T_INT(msgrcv(id, NULL, 100, 0, IPC_NOWAIT));
	T_INT(msgrcv(id, hole, 100, 0, IPC_NOWAIT));
	T_INT(msgrcv(id, ro, 100, 0, IPC_NOWAIT));
	ct_snd(id, 9, "xyz", 0);
	T_INT(msgrcv(id, NULL, 2, 0, IPC_NOWAIT));
	T_INT(msgrcv(id, NULL, 100, 1, IPC_NOWAIT));
	T_INT(msgrcv(id, ro, 100, 8, IPC_NOWAIT));
	ct_q("still queued", id);
	ct_rcv(id, 100, 0, IPC_NOWAIT | 0x7f000000);
	ct_snd(id, 9, "xyz", 0);
	ct_rcv(id, 100, 9, -1 & ~(MSG_COPY | MSG_EXCEPT));

	printf("== msgrcv: the message is lost when the copy-out fails\n");
	ct_snd(id, 5, "lost in NULL", 0);
	ct_snd(id, 6, "lost in read-only memory", 0);
	ct_snd(id, 7, "mtext unwritable", 0);
	ct_snd(id, 8, "", 0);
	ct_snd(id, 9, "kept", 0);
	ct_q("5 queued", id);
	pid_t c;
	if ((c = ct_fork("child1")) == 0) {
		T_INT(msgrcv(id, NULL, 100, 0, IPC_NOWAIT));
		ct_child_exit(0);
	}
	ct_wait(c);
	ct_q("child1's receive failed", id);
	T_INT(msgrcv(id, ro, 100, 0, IPC_NOWAIT));
	ct_q("main's receive failed", id);
	tail->mtype = 0;
	T_INT(msgrcv(id, tail, 100, 0, 0));
	printf("mtype written: %ld\n", tail->mtype);
	T_INT(msgrcv(id, NULL, 0, 0, 0));
	ct_q("one left", id);
	ct_rcv(id, 100, 0, IPC_NOWAIT);
	printf("-- a message handed to a sleeping receiver with a bad buffer\n");
	if ((c = ct_fork("r1")) == 0) {
		long r = msgrcv(id, NULL, 100, 0, 0);
		ct_child_result(r, errno);
	}
	ct_asleep(c);
	ct_snd(id, 1, "handed over and lost", 0);
	ct_wait_result(c, "msgrcv(id, NULL, 100, 0, 0)");
	ct_q("nothing queued", id);

	printf("== msgctl: ids and cmds\n");
	struct msqid_ds ds;
	struct msginfo mi;
	T_INT(msgctl(-1, IPC_STAT, &ds));
	T_INT(msgctl(-1, IPC_SET, &ds));
	T_INT(msgctl(-1, IPC_RMID, NULL));
	T_INT(msgctl(-1, IPC_INFO, (struct msqid_ds *)&mi));
	T_INT(msgctl(INT_MIN, MSG_INFO, (struct msqid_ds *)&mi));
	T_INT(msgctl(-1, 99, &ds));
	T_INT(msgctl(INT_MAX, IPC_STAT, &ds));
	T_INT(msgctl(INT_MAX, IPC_SET, &ds));
	T_INT(msgctl(INT_MAX, IPC_RMID, NULL));
	T_INT(msgctl(gone, IPC_STAT, &ds));
	T_INT(msgctl(gone, IPC_RMID, NULL));
	T_INT(msgctl(id + 32768, IPC_STAT, &ds));
	T_INT(msgctl(id, -1, &ds));
	T_INT(msgctl(id, INT_MIN, &ds));
	T_INT(msgctl(id, INT_MAX, &ds));
	for (int cmd = 4; cmd <= 10; cmd++) {
		errno = 0;
		int r = msgctl(id, cmd, &ds);
		printf("msgctl(id, %d, &ds) = %d %s\n", cmd, r, r ? ct_errname(errno) : "");
	}
	T_INT(msgctl(id, 14, &ds));
	T_INT(msgctl(id, IPC_STAT | 0x100, &ds));
	T_INT(msgctl(id, IPC_RMID | 0x100, NULL));
	T_INT(msgctl(INT_MAX, 99, NULL));

	printf("== msgctl: buffers\n");
	struct msqid_ds *rods = (struct msqid_ds *)ro;
	struct msqid_ds *strads = (struct msqid_ds *)(edge + pg - 16);
	T_INT(msgctl(id, IPC_STAT, NULL));
	T_INT(msgctl(id, IPC_STAT, (struct msqid_ds *)1));
	T_INT(msgctl(id, IPC_STAT, (struct msqid_ds *)hole));
	T_INT(msgctl(id, IPC_STAT, (struct msqid_ds *)none));
	T_INT(msgctl(id, IPC_STAT, rods));
	T_INT(msgctl(id, IPC_STAT, strads));
	T_INT(msgctl(gone, IPC_STAT, NULL));
	T_INT(msgctl(INT_MAX, IPC_STAT, NULL));
	T_INT(msgctl(id, IPC_SET, NULL));
	T_INT(msgctl(id, IPC_SET, (struct msqid_ds *)hole));
	T_INT(msgctl(id, IPC_SET, strads));
	T_INT(msgctl(gone, IPC_SET, NULL));
	T_INT(msgctl(INT_MAX, IPC_SET, (struct msqid_ds *)none));
	T_INT(msgctl(0, IPC_INFO, NULL));
	T_INT(msgctl(0, IPC_INFO, (struct msqid_ds *)ro));
	T_INT(msgctl(12345, MSG_INFO, (struct msqid_ds *)hole));
	T_INT(msgctl(-1, MSG_INFO, NULL));
	{
		/* IPC_SET from a read-only buffer: mode 0640, qbytes 1000 */
		struct msqid_ds want;
		if (msgctl(id, IPC_STAT, &want) != 0)
			ct_fatal("IPC_STAT");
		want.msg_perm.mode = 0640;
		want.msg_qbytes = 1000;
		char *p = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			ct_fatal("mmap");
		memcpy(p, &want, sizeof want);
		mprotect(p, pg, PROT_READ);
		T_INT(msgctl(id, IPC_SET, (struct msqid_ds *)p));
	}
	ct_msgstat("after IPC_SET from read-only memory", id);
	T_INT(msgctl(id, IPC_RMID, (struct msqid_ds *)hole));
	T_INT(msgctl(id, IPC_STAT, &ds));
	return 0;
}
