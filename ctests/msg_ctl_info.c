/*
 * msg_ctl_info.c - msgctl(2) IPC_INFO, MSG_INFO, MSG_STAT, MSG_STAT_ANY:
 *   - IPC_INFO fills struct msginfo with the limits of a fresh namespace
 *     (msgmax 8192, msgmnb 16384, msgmni 32000, msgssz 16, msgseg) and
 *     the constants msgpool=MSGPOOL, msgmap=MSGMAP, msgtql=MSGTQL; MSG_INFO
 *     the same limits but msgpool = number of queues, msgmap = number of
 *     queued messages, msgtql = their bytes, in the whole namespace;
 *     both ignore the id (any id >= 0)
 *   - MSG_INFO counts follow sends, receives (normal, truncated), MSG_COPY
 *     (no change), messages handed to a sleeping receiver (never
 *     counted) and IPC_RMID of a queue holding messages
 *   - the return value of IPC_INFO/MSG_INFO is the highest used index (0
 *     when there is none): checked by relations only: MSG_STAT_ANY(maxidx)
 *     succeeds, every index above it fails with EINVAL, and scanning
 *     0..maxidx finds exactly the existing queues
 *   - MSG_STAT/MSG_STAT_ANY(index) return the full id (printed through
 *     idn) and the same data as IPC_STAT; unused or negative index ->
 *     EINVAL; only the low 15 bits of the index count (index + k*32768
 *     and the full id itself find the same queue)
 *   - MSG_STAT without read permission -> EACCES, MSG_STAT_ANY succeeds
 *   - NULL buffers -> EFAULT (an unused index is EINVAL first); negative
 *     id -> EINVAL, even for IPC_INFO/MSG_INFO
 */
#include "common.h"
#include <limits.h>

static struct msginfo mi, minfo;

static int stat_one(int i, int cmd)
{
	struct msqid_ds ds;
	return msgctl(i, cmd, &ds);
}

static void scan(const char *label, int maxidx, int cmd)
{
	ct_stat_scan(label, maxidx, cmd, cmd == MSG_STAT_ANY, stat_one);
}

/* MSG_INFO counts */
static int counts(const char *label)
{
	memset(&minfo, 0, sizeof minfo);
	memset(&mi, 0, sizeof mi);
	int r1 = msgctl(0, IPC_INFO, (struct msqid_ds *)&mi);
	int r2 = msgctl(0, MSG_INFO, (struct msqid_ds *)&minfo);
	printf("%s: MSG_INFO queues=%d messages=%d bytes=%d%s\n", label, minfo.msgpool,
	       minfo.msgmap, minfo.msgtql,
	       r1 == r2 ? "" : " (IPC_INFO and MSG_INFO return different indices!)");
	return r2;
}

static int same(const struct msqid_ds *a, const struct msqid_ds *b)
{
	return a->msg_perm.__key == b->msg_perm.__key && a->msg_perm.uid == b->msg_perm.uid &&
	       a->msg_perm.gid == b->msg_perm.gid && a->msg_perm.cuid == b->msg_perm.cuid &&
	       a->msg_perm.cgid == b->msg_perm.cgid && a->msg_perm.mode == b->msg_perm.mode &&
	       a->msg_stime == b->msg_stime && a->msg_rtime == b->msg_rtime &&
	       a->msg_ctime == b->msg_ctime && a->msg_qnum == b->msg_qnum &&
	       a->msg_cbytes == b->msg_cbytes && a->msg_qbytes == b->msg_qbytes &&
	       a->msg_lspid == b->msg_lspid && a->msg_lrpid == b->msg_lrpid;
}

static int index_of(int id, int maxidx)
{
	for (int i = 0; i <= maxidx; i++) {
		struct msqid_ds ds;
		if (msgctl(i, MSG_STAT_ANY, &ds) == id)
			return i;
	}
	return -1;
}

int main(void)
{
	ct_init();
	struct msqid_ds ds, ds2;
	int maxidx;
	pid_t c;

	printf("== empty namespace\n");
	T_INT(msgctl(0, IPC_INFO, (struct msqid_ds *)&mi));
	ct_print_msginfo("IPC_INFO", &mi);
	T_INT(msgctl(0, MSG_INFO, (struct msqid_ds *)&minfo));
	ct_print_msginfo("MSG_INFO", &minfo);
	T_INT(msgctl(0, MSG_STAT, &ds));
	T_INT(msgctl(0, MSG_STAT_ANY, &ds));
	T_INT(msgctl(1, MSG_STAT_ANY, &ds));
	T_INT(msgctl(12345, IPC_INFO, (struct msqid_ds *)&mi));
	T_INT(msgctl(INT_MAX, MSG_INFO, (struct msqid_ds *)&minfo));
	T_INT(msgctl(-1, IPC_INFO, (struct msqid_ds *)&mi));
	T_INT(msgctl(-1, MSG_INFO, (struct msqid_ds *)&minfo));
	T_INT(msgctl(0, IPC_INFO, NULL));
	T_INT(msgctl(0, MSG_INFO, NULL));

	printf("== three queues\n");
	int a = T_ID(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
	int b = T_ID(msgget(0x5000, IPC_CREAT | 0644));
	int cc = T_ID(msgget(IPC_PRIVATE, IPC_CREAT | 0000));
	maxidx = counts("3 queues");
	ct_print_msginfo("IPC_INFO", &mi);
	ct_print_msginfo("MSG_INFO", &minfo);
	scan("MSG_STAT_ANY scan", maxidx, MSG_STAT_ANY);
	scan("MSG_STAT scan", maxidx, MSG_STAT);

	printf("== MSG_INFO counts messages and bytes\n");
	ct_snd(a, 1, "hello", 0);
	ct_sndn(a, 2, 1000, 0);
	ct_sndn(b, 3, 8192, 0);
	ct_snd(cc, 4, "", 0);
	counts("4 messages");
	ct_rcv(a, 100, 2, MSG_NOERROR);
	counts("after a truncated receive");
	ct_rcv(a, 100, 0, MSG_COPY | IPC_NOWAIT);
	counts("after MSG_COPY");
	ct_rcv(a, 100, 0, 0);
	counts("after a receive");
	{
		struct ct_kid k = ct_rcv_kid("r1", a, 100, 0, 0);
		ct_asleep(k.pid);
		ct_snd(a, 1, "handed over", 0);
		ct_kid_done(&k);
		counts("after a message handed to a receiver");
	}
	int d = T_ID(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
	ct_sndn(d, 1, 500, 0);
	ct_sndn(d, 1, 600, 0);
	counts("4 queues");
	T_INT(msgctl(d, IPC_RMID, NULL));
	counts("after IPC_RMID of a queue with 2 messages");

	printf("== MSG_STAT data equals IPC_STAT data\n");
	maxidx = counts("3 queues");
	int ids[3] = { a, b, cc };
	for (int k = 0; k < 3; k++) {
		int idx = index_of(ids[k], maxidx);
		printf("%s: index found: %s, <= maxidx: %s\n", idn(ids[k]), yes(idx >= 0),
		       yes(idx <= maxidx));
		memset(&ds, 0x11, sizeof ds);
		memset(&ds2, 0x22, sizeof ds2);
		int r = msgctl(idx, MSG_STAT, &ds);
		printf("MSG_STAT(index) = %s\n", r < 0 ? ct_errname(errno) : idn(r));
		msgctl(ids[k], IPC_STAT, &ds2);
		printf("same as IPC_STAT: %s\n", yes(same(&ds, &ds2)));
		memset(&ds, 0x33, sizeof ds);
		r = msgctl(idx, MSG_STAT_ANY, &ds);
		printf("MSG_STAT_ANY(index) = %s\n", r < 0 ? ct_errname(errno) : idn(r));
		printf("same as IPC_STAT: %s\n", yes(same(&ds, &ds2)));
		ct_print_msqds("MSG_STAT_ANY", &ds);
	}

	printf("== unused / invalid indices\n");
	T_INT(msgctl(maxidx + 1, MSG_STAT, &ds));
	T_INT(msgctl(maxidx + 1, MSG_STAT_ANY, &ds));
	T_INT(msgctl(-1, MSG_STAT, &ds));
	T_INT(msgctl(-1, MSG_STAT_ANY, &ds));
	T_INT(msgctl(INT_MAX, MSG_STAT, &ds));
	T_INT(msgctl(mi.msgmni, MSG_STAT_ANY, &ds));
	{
		int idx = index_of(a, maxidx);
		errno = 0;
		int r = msgctl(idx, MSG_STAT, NULL);
		printf("MSG_STAT(index of a, NULL) = %d %s\n", r, ct_errname(errno));
		r = msgctl(idx, MSG_STAT_ANY, (struct msqid_ds *)1);
		printf("MSG_STAT_ANY(index of a, (void*)1) = %d %s\n", r, ct_errname(errno));
		r = msgctl(maxidx + 1, MSG_STAT, NULL);
		printf("MSG_STAT(unused index, NULL) = %d %s\n", r, ct_errname(errno));
		/* only the low 15 bits of the "index" are used (ipcid_to_idx) */
		r = msgctl(idx + 32768, MSG_STAT, &ds);
		printf("MSG_STAT(index of a + 32768) = %s\n", r < 0 ? ct_errname(errno) : idn(r));
		r = msgctl(idx + 5 * 32768, MSG_STAT_ANY, &ds);
		printf("MSG_STAT_ANY(index of a + 5*32768) = %s\n",
		       r < 0 ? ct_errname(errno) : idn(r));
		r = msgctl(a, MSG_STAT, &ds);
		printf("MSG_STAT(id of a) = %s\n", r < 0 ? ct_errname(errno) : idn(r));
	}

	printf("== permissions: nobody\n");
	if ((c = ct_fork("nobody")) == 0) {
		ct_become(NOBODY, NOBODY);
		scan("nobody MSG_STAT scan", maxidx, MSG_STAT);
		scan("nobody MSG_STAT_ANY scan", maxidx, MSG_STAT_ANY);
		for (int k = 0; k < 3; k++) {
			int idx = index_of(ids[k], maxidx);
			errno = 0;
			int r = msgctl(idx, MSG_STAT, &ds);
			printf("MSG_STAT(index of %s) = %s\n", idn(ids[k]),
			       r < 0 ? ct_errname(errno) : idn(r));
			r = msgctl(idx, MSG_STAT_ANY, &ds);
			printf("MSG_STAT_ANY(index of %s) = %s\n", idn(ids[k]),
			       r < 0 ? ct_errname(errno) : idn(r));
			T_INT(msgctl(ids[k], IPC_STAT, &ds));
		}
		int r0 = msgctl(0, IPC_INFO, (struct msqid_ds *)&mi);
		printf("nobody IPC_INFO returns maxidx: %s\n", yes(r0 == maxidx));
		ct_print_msginfo("nobody IPC_INFO", &mi);
		int r = msgctl(0, MSG_INFO, (struct msqid_ds *)&minfo);
		printf("nobody MSG_INFO returns maxidx: %s\n", yes(r == maxidx));
		ct_print_msginfo("nobody MSG_INFO", &minfo);
		ct_child_exit(0);
	}
	ct_wait(c);

	printf("== after removing queues\n");
	T_INT(msgctl(b, IPC_RMID, NULL));
	maxidx = counts("2 queues");
	scan("MSG_STAT_ANY scan", maxidx, MSG_STAT_ANY);
	T_INT(msgctl(cc, IPC_RMID, NULL));
	maxidx = counts("1 queue");
	scan("MSG_STAT_ANY scan", maxidx, MSG_STAT_ANY);
	int e = T_ID(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
	maxidx = counts("2 queues");
	scan("MSG_STAT_ANY scan", maxidx, MSG_STAT_ANY);
	T_INT(msgctl(a, IPC_RMID, NULL));
	T_INT(msgctl(e, IPC_RMID, NULL));
	maxidx = counts("0 queues");
	printf("IPC_INFO returns %d\n", maxidx);
	scan("MSG_STAT_ANY scan", maxidx, MSG_STAT_ANY);
	return 0;
}
