/*
 * msg_ctl.c - msgctl(2) IPC_STAT, IPC_SET, IPC_RMID, and the times and
 * pids of a queue at each step:
 *   - after msgget: ctime set, stime/rtime 0, lspid/lrpid 0
 *   - msgsnd sets stime and lspid (the sender), nothing else; msgrcv sets
 *     rtime and lrpid; IPC_SET sets ctime
 *   - failed calls change nothing: msgsnd EAGAIN/EINVAL, msgrcv
 *     ENOMSG/E2BIG, MSG_COPY, IPC_STAT
 *   - a sender that slept: stime is when its message went in (after the
 *     receive that made room), lspid the sender
 *   - a message handed directly to a sleeping receiver: stime, lspid
 *     (the sender), rtime and lrpid (the receiver) are all set at the
 *     send, qnum/cbytes stay 0
 *   - IPC_SET takes uid, gid, the low 9 bits of mode and msg_qbytes from
 *     the buffer and ignores every other field (key, cuid, cgid, times,
 *     qnum, cbytes, pids); uid or gid -1 -> EINVAL and nothing changes;
 *     qbytes 0 is allowed; raising qbytes above MSGMNB needs
 *     CAP_SYS_RESOURCE (EPERM without it, even for root: the transcript
 *     says whether this environment grants it; with it, any value up to
 *     ULONG_MAX is taken)
 *   - IPC_RMID discards queued messages and ignores its buffer argument;
 *     the id is then EINVAL for everything
 * Times are printed as "M<k>": happened between mark k and mark k+1
 * ("<M0": before the first mark).
 */
#include "common.h"
#include <limits.h>

static int set_fields(int id, uid_t uid, gid_t gid, unsigned mode, unsigned long qbytes)
{
	struct msqid_ds ds;
	if (msgctl(id, IPC_STAT, &ds) != 0)
		ct_fatal("IPC_STAT");
	ds.msg_perm.uid = uid;
	ds.msg_perm.gid = gid;
	ds.msg_perm.mode = mode;
	ds.msg_qbytes = qbytes;
	errno = 0;
	int r = msgctl(id, IPC_SET, &ds);
	printf("IPC_SET(%s, uid=%d gid=%d mode=%#o qbytes=%lu) = %d%s%s\n", idn(id), (int)uid,
	       (int)gid, mode, qbytes, r, r ? " " : "", r ? ct_errname(errno) : "");
	return r;
}

int main(void)
{
	ct_init();
	pid_t c;
	struct ct_kid k;

	printf("== create\n");
	int id = T_ID(msgget(0x3c71, IPC_CREAT | 0640));
	ct_msgstat("created", id);

	printf("== send (child1)\n");
	ct_mark();
	if ((c = ct_fork("child1")) == 0) {
		ct_snd(id, 1, "hello", 0);
		ct_sndn(id, 2, 300, 0);
		ct_child_exit(0);
	}
	ct_wait(c);
	ct_msgstat("sent", id);

	printf("== receive (main), failed calls (child2), IPC_SET (main)\n");
	ct_mark();
	ct_rcv(id, 100, 0, 0);
	ct_msgstat("received", id);
	if ((c = ct_fork("child2")) == 0) {
		ct_rcv(id, 100, 0, IPC_NOWAIT);
		ct_rcv(id, 100, 1, IPC_NOWAIT);
		ct_rcv(id, 100, 0, IPC_NOWAIT | MSG_COPY);
		ct_sndn(id, 3, 100000, 0);
		ct_snd(id, 0, "bad type", 0);
		ct_setqbytes(id, 300);
		ct_snd(id, 3, "full", IPC_NOWAIT);
		struct msqid_ds ds;
		T_INT(msgctl(id, IPC_STAT, &ds));
		ct_child_exit(0);
	}
	ct_wait(c);
	ct_msgstat("after the failed calls of child2 (and its IPC_SET)", id);

	printf("== a sender that slept\n");
	k = ct_snd_kid("s1", id, 4, 10, 0);
	ct_asleep(k.pid);
	ct_mark();
	ct_rcv(id, 1000, 0, 0);
	ct_kid_done(&k);
	ct_msgstat("s1's message went in", id);
	ct_rcv(id, 1000, 0, 0);

	printf("== a message handed to a sleeping receiver\n");
	k = ct_rcv_kid("r1", id, 100, 0, 0);
	ct_asleep(k.pid);
	ct_mark();
	if ((c = ct_fork("child3")) == 0) {
		ct_snd(id, 5, "handed over", 0);
		ct_child_exit(0);
	}
	ct_wait(c);
	ct_kid_done(&k);
	ct_msgstat("handed over", id);

	printf("== IPC_SET fields\n");
	{
		struct msqid_ds ds;
		if (msgctl(id, IPC_STAT, &ds) != 0)
			ct_fatal("IPC_STAT");
		ds.msg_perm.__key = 0x1234;
		ds.msg_perm.cuid = 4242;
		ds.msg_perm.cgid = 4242;
		ds.msg_perm.uid = 1000;
		ds.msg_perm.gid = 2000;
		ds.msg_perm.mode = 07777;
		ds.msg_stime = 1;
		ds.msg_rtime = 2;
		ds.msg_ctime = 3;
		ds.msg_qnum = 77;
		ds.msg_cbytes = 88;
		ds.msg_qbytes = 12345;
		ds.msg_lspid = 1;
		ds.msg_lrpid = 1;
		T_INT(msgctl(id, IPC_SET, &ds));
		ct_msgstat("after IPC_SET of every field", id);
	}
	set_fields(id, (uid_t)-1, 0, 0600, 100);
	set_fields(id, 0, (gid_t)-1, 0600, 100);
	ct_msgstat("unchanged", id);
	set_fields(id, 0, 0, 0, 0);
	ct_msgstat("mode 0, qbytes 0", id);
	ct_snd(id, 1, "", IPC_NOWAIT);
	set_fields(id, 0, 0, 0600, CT_MSGMNB);
	printf("-- above MSGMNB (needs CAP_SYS_RESOURCE, which this environment may lack)\n");
	printf("CAP_SYS_RESOURCE: %s\n", yes(ct_has_cap(CAP_SYS_RESOURCE)));
	set_fields(id, 0, 0, 0600, CT_MSGMNB + 1);
	set_fields(id, 0, 0, 0600, 100000);
	set_fields(id, 0, 0, 0600, ULONG_MAX);
	ct_msgstat("qbytes", id);
	ct_sndn(id, 1, 8192, IPC_NOWAIT);
	ct_sndn(id, 1, 8192, IPC_NOWAIT);
	ct_sndn(id, 1, 8192, IPC_NOWAIT);
	ct_q("three messages of 8192 bytes?", id);
	set_fields(id, 0, 0, 0600, CT_MSGMNB);
	ct_snd(id, 1, "", IPC_NOWAIT);
	ct_sndn(id, 1, 1, IPC_NOWAIT);
	ct_q("after lowering qbytes", id);

	printf("== IPC_RMID\n");
	T_INT(msgctl(id, IPC_RMID, (struct msqid_ds *)1));
	T_INT(msgctl(id, IPC_RMID, NULL));
	T_INT(msgctl(id, IPC_STAT, &(struct msqid_ds){ 0 }));
	T_INT(msgctl(id, IPC_SET, &(struct msqid_ds){ 0 }));
	ct_snd(id, 1, "x", IPC_NOWAIT);
	ct_rcv(id, 100, 0, IPC_NOWAIT);
	ct_rcv(id, 100, 0, IPC_NOWAIT | MSG_COPY);
	T_ID(msgget(0x3c71, 0));
	return 0;
}
