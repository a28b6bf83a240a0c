/*
 * msg_get.c - msgget(2):
 *   - IPC_PRIVATE always creates a new queue (with or without IPC_CREAT,
 *     even with IPC_EXCL); a new queue is empty: qnum 0, cbytes 0,
 *     qbytes = MSGMNB (16384), lspid/lrpid 0, stime/rtime 0, ctime set;
 *     cuid/uid and cgid/gid of the creator, key as given, mode = the low
 *     9 bits of msgflg (the other bits, S_ISVTX, IPC_NOWAIT... are
 *     ignored)
 *   - keyed: IPC_CREAT creates or finds, IPC_CREAT|IPC_EXCL on an
 *     existing key -> EEXIST, no IPC_CREAT on a missing key -> ENOENT
 *     (IPC_EXCL alone changes nothing)
 *   - the mode given when looking up an existing key is not applied
 *   - after IPC_RMID the key is free again and a new, different id is
 *     returned; the old id is EINVAL
 *   - key -1 and INT_MIN are ordinary keys
 *   - a queue is found from another process (child) with the same key
 * Permission checks are in msg_perm.c, MSGMNI in msg_limits.c.
 */
#include "common.h"
#include <limits.h>

#define KEY 0x3e40

int main(void)
{
	ct_init();
	pid_t c;

	printf("== IPC_PRIVATE\n");
	ct_mark();
	int a = T_ID(msgget(IPC_PRIVATE, IPC_CREAT | 0640));
	ct_msgstat("a", a);
	int b = T_ID(msgget(IPC_PRIVATE, IPC_CREAT | 0640));
	printf("second private queue differs: %s\n", yes(a != b));
	int d = T_ID(msgget(IPC_PRIVATE, 0600));
	ct_msgstat("no IPC_CREAT", d);
	int e = T_ID(msgget(IPC_PRIVATE, IPC_CREAT | IPC_EXCL | 0600));
	printf("all different: %s\n", yes(a != d && b != d && d != e && a != e && b != e));
	int f = T_ID(msgget(IPC_PRIVATE, 0));
	ct_msgstat("mode 0", f);

	printf("== mode bits\n");
	int m1 = T_ID(msgget(IPC_PRIVATE, 0777));
	ct_msgstat("0777", m1);
	int m2 = T_ID(msgget(IPC_PRIVATE, 07777));
	ct_msgstat("07777", m2);
	int m3 = T_ID(msgget(IPC_PRIVATE, IPC_CREAT | IPC_NOWAIT | S_ISVTX | 0421));
	ct_msgstat("IPC_NOWAIT|S_ISVTX|0421", m3);
	int m4 = T_ID(msgget(IPC_PRIVATE, 0x7fff0000 | 0055));
	ct_msgstat("high bits|0055", m4);

	printf("== keyed\n");
	T_ID(msgget(KEY, 0600));
	T_ID(msgget(KEY, IPC_EXCL | 0600));
	T_ID(msgget(KEY, 0));
	int k = T_ID(msgget(KEY, IPC_CREAT | 0640));
	ct_msgstat("keyed", k);
	T_ID(msgget(KEY, IPC_CREAT | 0640));
	T_ID(msgget(KEY, IPC_CREAT | 0600));
	T_ID(msgget(KEY, 0));
	T_ID(msgget(KEY, 0600));
	T_ID(msgget(KEY, IPC_EXCL | 0600));
	T_ID(msgget(KEY, IPC_CREAT | IPC_EXCL | 0600));
	T_ID(msgget(KEY, IPC_CREAT | IPC_EXCL));
	T_ID(msgget(KEY, IPC_CREAT | 0777));
	ct_msgstat("mode unchanged by lookups", k);
	T_ID(msgget(KEY + 1, 0));
	T_ID(msgget(KEY + 1, IPC_EXCL));

	printf("== the same key from a child\n");
	ct_snd(k, 7, "from main", 0);
	if ((c = ct_fork("child1")) == 0) {
		int kk = T_ID(msgget(KEY, 0));
		printf("child sees the same id: %s\n", yes(kk == k));
		ct_rcv(kk, 100, 0, IPC_NOWAIT);
		ct_snd(kk, 8, "from child", 0);
		int n = T_ID(msgget(KEY + 2, IPC_CREAT | 0600));
		ct_msgstat("created by child", n);
		ct_child_exit(0);
	}
	ct_wait(c);
	ct_rcv(k, 100, 0, IPC_NOWAIT);
	int n = T_ID(msgget(KEY + 2, 0));
	ct_msgstat("created by child, seen by main", n);

	printf("== odd keys\n");
	int km = T_ID(msgget(-1, IPC_CREAT | 0600));
	T_ID(msgget(-1, 0));
	int kmin = T_ID(msgget(INT_MIN, IPC_CREAT | 0600));
	T_ID(msgget(INT_MIN, IPC_CREAT | IPC_EXCL | 0600));
	T_ID(msgget(INT_MAX, 0));
	ct_msgstat("key -1", km);
	ct_msgstat("key INT_MIN", kmin);

	printf("== after IPC_RMID\n");
	ct_snd(k, 1, "lost", 0);
	T_INT(msgctl(k, IPC_RMID, NULL));
	T_ID(msgget(KEY, 0));
	T_INT(msgctl(k, IPC_STAT, &(struct msqid_ds){ 0 }));
	T_INT(ct_snd_q(k, 1, "x", IPC_NOWAIT));
	int k2 = T_ID(msgget(KEY, IPC_CREAT | 0600));
	printf("new id differs from the removed one: %s\n", yes(k2 != k));
	ct_msgstat("recreated", k2);
	ct_rcv(k2, 100, 0, IPC_NOWAIT);
	T_INT(msgctl(a, IPC_RMID, NULL));
	int a2 = T_ID(msgget(IPC_PRIVATE, 0600));
	printf("new private id differs from the removed one: %s\n", yes(a2 != a));
	return 0;
}
