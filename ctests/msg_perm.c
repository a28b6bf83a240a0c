/*
 * msg_perm.c - access checks of msgget, msgsnd, msgrcv and msgctl against
 * the effective uid/gid, supplementary groups and capabilities
 * (ipc/util.c ipcperms, ipcctl_obtain_check):
 *   - msgget(key, 0) requests nothing and always succeeds; otherwise the
 *     permission bits of msgflg are requested; exactly one class
 *     (owner/creator, then group, then other) is checked
 *   - msgsnd needs write permission, msgrcv (also MSG_COPY) and
 *     IPC_STAT/MSG_STAT need read permission
 *   - IPC_SET and IPC_RMID: allowed to the owner (uid), the creator
 *     (cuid) and CAP_SYS_ADMIN, EPERM for anyone else, whatever the mode
 *   - IPC_SET raising msg_qbytes above MSGMNB needs CAP_SYS_RESOURCE
 *     (EPERM); lowering, or raising up to MSGMNB, is allowed to the owner
 *   - root with CAP_IPC_OWNER bypasses the mode bits; root without it is
 *     refused like anyone else (but is still the owner/creator); root
 *     with CAP_IPC_OWNER but without CAP_SYS_ADMIN may send and receive
 *     on any queue but not IPC_SET/IPC_RMID one it does not own; root
 *     with CAP_SYS_ADMIN but without CAP_IPC_OWNER the other way round
 *   - order of checks: msgget EEXIST before EACCES; msgsnd EINVAL (size,
 *     type) and EFAULT (body) before EACCES, EACCES before EAGAIN (full
 *     queue); msgrcv EINVAL (size, MSG_COPY flags) and EFAULT (MSG_COPY
 *     buffer) before EACCES, EACCES before ENOMSG and E2BIG; IPC_SET: the
 *     owner EPERM before an invalid uid's EINVAL, the qbytes EPERM before
 *     it too
 *   - a queue created by an unprivileged user is owned by it; its creator
 *     may still IPC_SET it after giving it away
 */
#include "common.h"

#define KA 0x4a00 /* root 0600 */
#define KB 0x4b00 /* root 0644 */
#define KC 0x4c00 /* root 0000 */
#define KD 0x4d00 /* root, gid 65534, 0060 */
#define KE 0x4e00 /* root, gid 65534, 0606: group class wins */
#define KF 0x4f00 /* uid 65534 (cuid 0), 0066: owner class wins */
#define KG 0x5a00 /* root, gid 4242, 0060 */
#define KR 0x5b00 /* root 0444 */
#define KW 0x5c00 /* root 0222 */
#define KN 0x5d00 /* created by nobody, 0600 */
#define KFULL 0x5e00 /* root 0600, full (qbytes 1, one message) */
#define KX 0x5f00 /* root 0666, removed by probes */

#define NQ 9
static int ids[NQ];
static struct msqid_ds dss[NQ];
static const char *names[NQ] = { "a(0600)",	    "b(0644)",	      "c(0000)",
				 "d(g65534 0060)", "e(g65534 0606)", "f(u65534 0066)",
				 "g(g4242 0060)",  "r(0444)",	      "w(0222)" };
static int full;

static int mk(key_t key, int mode)
{
	int id = msgget(key, IPC_CREAT | IPC_EXCL | mode);
	if (id < 0)
		ct_fatal("msgget");
	return id;
}

static void set_owner(int id, uid_t uid, gid_t gid)
{
	struct msqid_ds ds;
	if (msgctl(id, IPC_STAT, &ds) != 0)
		ct_fatal("IPC_STAT");
	ds.msg_perm.uid = uid;
	ds.msg_perm.gid = gid;
	if (msgctl(id, IPC_SET, &ds) != 0)
		ct_fatal("IPC_SET");
}

static const char *rs(long r)
{
	return r < 0 ? ct_errname(errno) : "ok";
}

/* drop one capability (effective and permitted) */
static void drop_cap(int cap)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) != 0)
		ct_fatal("capget");
	d[cap / 32].effective &= ~(1u << (cap % 32));
	d[cap / 32].permitted &= ~(1u << (cap % 32));
	d[cap / 32].inheritable &= ~(1u << (cap % 32));
	if (capset(&h, d) != 0)
		ct_fatal("capset");
}

/* one line of results for a queue; the queue is empty before and after
 * (unless only sending is allowed: the parent drains it) */
static void probe(const char *name, int k)
{
	struct ct_msg m;
	struct msqid_ds ds;
	int id = ids[k];
	printf("%s:", name);
	printf(" rcv-empty=%s", rs(ct_rcv_q(id, &m, 100, 0, IPC_NOWAIT)));
	printf(" snd=%s", rs(ct_snd_q(id, 1, "probe", IPC_NOWAIT)));
	printf(" copy=%s", rs(ct_rcv_q(id, &m, 100, 0, IPC_NOWAIT | MSG_COPY)));
	printf(" rcv=%s", rs(ct_rcv_q(id, &m, 100, 0, IPC_NOWAIT)));
	printf(" IPC_STAT=%s", rs(msgctl(id, IPC_STAT, &ds)));
	ds = dss[k];
	printf(" IPC_SET=%s\n", rs(msgctl(id, IPC_SET, &ds)));
}

static void order(void)
{
	struct ct_msg m;
	printf("order (a, full):");
	printf(" snd(type 0)=%s", rs(ct_snd_q(ids[0], 0, "x", IPC_NOWAIT)));
	printf(" snd(9000 bytes)=%s", rs(ct_sndn_q(ids[0], 1, 9000, IPC_NOWAIT)));
	printf(" snd(NULL)=%s", rs(msgsnd(ids[0], NULL, 1, IPC_NOWAIT)));
	{
		/* mtype readable, body on an unmapped page */
		char *p = mmap(NULL, 2 * ct_page, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			ct_fatal("mmap");
		munmap(p + ct_page, ct_page);
		long *mt = (long *)(p + ct_page - sizeof(long));
		*mt = 1;
		printf(" snd(body unmapped)=%s", rs(msgsnd(ids[0], mt, 1, IPC_NOWAIT)));
		munmap(p, ct_page);
	}
	printf(" snd(full queue)=%s", rs(ct_snd_q(full, 1, "x", IPC_NOWAIT)));
	printf(" rcv(msgsz -1)=%s", rs(msgrcv(ids[0], &m, (size_t)-1, 0, IPC_NOWAIT)));
	printf(" rcv(COPY without NOWAIT)=%s", rs(msgrcv(ids[0], &m, 100, 0, MSG_COPY)));
	printf(" rcv(COPY NULL)=%s", rs(msgrcv(ids[0], NULL, 100, 0, MSG_COPY | IPC_NOWAIT)));
	printf(" rcv(too small)=%s", rs(ct_rcv_q(full, &m, 0, 0, IPC_NOWAIT)));
	printf(" rcv(other type)=%s\n", rs(ct_rcv_q(full, &m, 100, 7, IPC_NOWAIT)));
}

static void probe_all(void)
{
	printf("-- msgget\n");
	T_ID(msgget(KA, 0));
	T_ID(msgget(KA, 0400));
	T_ID(msgget(KA, 0600));
	T_ID(msgget(KA, 0004));
	T_ID(msgget(KA, IPC_CREAT | 0600));
	T_ID(msgget(KA, IPC_CREAT | IPC_EXCL | 0600));
	T_ID(msgget(KB, 0400));
	T_ID(msgget(KB, 0444));
	T_ID(msgget(KB, 0200));
	T_ID(msgget(KB, 0002));
	T_ID(msgget(KC, 0));
	T_ID(msgget(KC, 0100));
	T_ID(msgget(KD, 0600));
	T_ID(msgget(KD, 0060));
	T_ID(msgget(KE, 0006));
	T_ID(msgget(KE, 0060));
	T_ID(msgget(KF, 0006));
	T_ID(msgget(KF, 0600));
	T_ID(msgget(KG, 0060));
	T_ID(msgget(KR, 0444));
	T_ID(msgget(KR, 0222));
	T_ID(msgget(KW, 0222));
	T_ID(msgget(KW, 0444));
	printf("-- operations\n");
	for (int i = 0; i < NQ; i++)
		probe(names[i], i);
	order();
}

/* empty every queue (messages left by probers that could send but not
 * receive) */
static void drain(void)
{
	struct ct_msg m;
	int n = 0;
	for (int i = 0; i < NQ; i++)
		while (ct_rcv_q(ids[i], &m, 100, 0, IPC_NOWAIT) >= 0)
			n++;
	printf("drained %d message(s)\n", n);
}

/* IPC_SET of one queue with changed uid/gid/mode/qbytes */
static void try_set(const char *what, int id, uid_t uid, gid_t gid, unsigned mode,
		    unsigned long qbytes)
{
	struct msqid_ds ds;
	memset(&ds, 0, sizeof ds);
	ds.msg_perm.uid = uid;
	ds.msg_perm.gid = gid;
	ds.msg_perm.mode = mode;
	ds.msg_qbytes = qbytes;
	errno = 0;
	int r = msgctl(id, IPC_SET, &ds);
	printf("IPC_SET(%s: uid=%d gid=%d mode=%#o qbytes=%lu) = %s\n", what, (int)uid, (int)gid,
	       mode, qbytes, rs(r));
}

static void caps(void)
{
	printf("CAP_IPC_OWNER: %s CAP_SYS_ADMIN: %s CAP_SYS_RESOURCE: %s\n",
	       yes(ct_has_cap(CAP_IPC_OWNER)), yes(ct_has_cap(CAP_SYS_ADMIN)),
	       yes(ct_has_cap(CAP_SYS_RESOURCE)));
}

int main(void)
{
	ct_init();
	pid_t p;

	ids[0] = mk(KA, 0600);
	ids[1] = mk(KB, 0644);
	ids[2] = mk(KC, 0000);
	ids[3] = mk(KD, 0060);
	set_owner(ids[3], 0, NOBODY);
	ids[4] = mk(KE, 0606);
	set_owner(ids[4], 0, NOBODY);
	ids[5] = mk(KF, 0066);
	set_owner(ids[5], NOBODY, 0);
	ids[6] = mk(KG, 0060);
	set_owner(ids[6], 0, 4242);
	ids[7] = mk(KR, 0444);
	ids[8] = mk(KW, 0222);
	for (int i = 0; i < NQ; i++) {
		if (msgctl(ids[i], IPC_STAT, &dss[i]) != 0)
			ct_fatal("IPC_STAT");
		printf("%s=%s%s", names[i], idn(ids[i]), i == NQ - 1 ? "\n" : " ");
	}
	full = mk(KFULL, 0600);
	ct_setqbytes(full, 1);
	ct_snd(full, 1, "x", 0);

	printf("== root with all capabilities (of this environment)\n");
	caps();
	probe_all();
	drain();

	printf("== nobody (uid/gid 65534, no caps)\n");
	if ((p = ct_fork("nobody")) == 0) {
		ct_become(NOBODY, NOBODY);
		caps();
		probe_all();
		printf("-- own queue\n");
		int n = T_ID(msgget(KN, IPC_CREAT | 0600));
		ct_msgstat("own", n);
		ct_snd(n, 1, "mine", 0);
		ct_rcv(n, 100, 0, 0);
		try_set("own", n, NOBODY, NOBODY, 0600, 100);
		try_set("own", n, NOBODY, NOBODY, 0600, CT_MSGMNB);
		try_set("own", n, NOBODY, NOBODY, 0600, CT_MSGMNB + 1);
		try_set("own", n, NOBODY, NOBODY, 0600, 1000000);
		try_set("own", n, (uid_t)-1, NOBODY, 0600, 100);
		try_set("own", n, (uid_t)-1, NOBODY, 0600, CT_MSGMNB + 1);
		try_set("own", n, NOBODY, NOBODY, 0400, 100);
		ct_snd(n, 1, "read-only now", IPC_NOWAIT);
		try_set("own", n, 4242, 4242, 0640, 200);
		ct_msgstat("given away", n);
		try_set("own, given away, still its creator", n, 4242, 4242, 0600, 300);
		printf("-- others' queues\n");
		try_set("a", ids[0], NOBODY, NOBODY, 0666, CT_MSGMNB);
		try_set("a, invalid uid", ids[0], (uid_t)-1, NOBODY, 0666, CT_MSGMNB);
		try_set("f (owned by nobody, created by root)", ids[5], NOBODY, 0, 0066, 100);
		try_set("f", ids[5], NOBODY, 0, 0066, CT_MSGMNB);
		T_INT(msgctl(ids[0], IPC_RMID, NULL));
		ct_child_exit(0);
	}
	ct_wait(p);
	drain();
	int n = T_ID(msgget(KN, 0));
	ct_msgstat("created by nobody", n);

	printf("== grpuser (uid/gid 65534, groups {4242}, no caps)\n");
	if ((p = ct_fork("grpuser")) == 0) {
		gid_t grp = 4242;
		if (setgroups(1, &grp) || setresgid(NOBODY, NOBODY, NOBODY) ||
		    setresuid(NOBODY, NOBODY, NOBODY))
			ct_fatal("creds");
		ct_capset_none();
		T_ID(msgget(KG, 0060));
		T_ID(msgget(KG, 0006));
		probe(names[6], 6);
		probe(names[3], 3);
		ct_child_exit(0);
	}
	ct_wait(p);
	drain();

	printf("== rootnocap (uid 0 without any capability)\n");
	if ((p = ct_fork("rootnocap")) == 0) {
		ct_root_nocaps();
		caps();
		probe_all();
		printf("-- queue created by nobody, given to 4242\n");
		T_ID(msgget(KN, 0600));
		T_ID(msgget(KN, 0));
		try_set("created by nobody", n, 0, 0, 0666, 100);
		T_INT(msgctl(n, IPC_RMID, NULL));
		try_set("a (own)", ids[0], 0, 0, 0600, CT_MSGMNB + 1);
		ct_child_exit(0);
	}
	ct_wait(p);
	drain();

	printf("== root without CAP_IPC_OWNER (keeps CAP_SYS_ADMIN)\n");
	if ((p = ct_fork("noipcowner")) == 0) {
		drop_cap(CAP_IPC_OWNER);
		caps();
		probe_all();
		try_set("created by nobody", n, 4242, 4242, 0600, 300);
		ct_child_exit(0);
	}
	ct_wait(p);
	drain();

	printf("== root without CAP_SYS_ADMIN (keeps CAP_IPC_OWNER)\n");
	if ((p = ct_fork("nosysadmin")) == 0) {
		drop_cap(CAP_SYS_ADMIN);
		caps();
		probe_all();
		ct_snd(n, 1, "to nobody's queue", 0);
		ct_rcv(n, 100, 0, 0);
		try_set("created by nobody", n, 4242, 4242, 0600, 300);
		T_INT(msgctl(n, IPC_RMID, NULL));
		ct_child_exit(0);
	}
	ct_wait(p);
	drain();

	printf("== euidonly (ruid 0, euid 65534)\n");
	if ((p = ct_fork("euidonly")) == 0) {
		if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
		    setresuid(0, NOBODY, 0))
			ct_fatal("creds");
		caps();
		probe(names[0], 0);
		probe(names[5], 5);
		ct_child_exit(0);
	}
	ct_wait(p);
	drain();

	printf("== IPC_RMID by the owner, the creator and CAP_SYS_ADMIN\n");
	{
		int x = T_ID(msgget(KX, IPC_CREAT | 0666));
		set_owner(x, NOBODY, NOBODY);
		if ((p = ct_fork("rootnocap2")) == 0) {
			ct_root_nocaps();
			T_INT(msgctl(x, IPC_RMID, NULL)); /* creator */
			ct_child_exit(0);
		}
		ct_wait(p);
		x = T_ID(msgget(KX, IPC_CREAT | 0666));
		set_owner(x, NOBODY, NOBODY);
		if ((p = ct_fork("nobody2")) == 0) {
			ct_become(NOBODY, NOBODY);
			T_INT(msgctl(x, IPC_RMID, NULL)); /* owner */
			ct_child_exit(0);
		}
		ct_wait(p);
		x = T_ID(msgget(KX, IPC_CREAT | 0666));
		if ((p = ct_fork("nobody3")) == 0) {
			ct_become(NOBODY, NOBODY);
			T_INT(msgctl(x, IPC_RMID, NULL)); /* neither */
			ct_child_exit(0);
		}
		ct_wait(p);
		T_INT(msgctl(n, IPC_RMID, NULL)); /* CAP_SYS_ADMIN */
		T_INT(msgctl(x, IPC_RMID, NULL));
	}

	printf("== final state\n");
	for (int i = 0; i < NQ; i++)
		ct_msgstat(names[i], ids[i]);
	return 0;
}
