/*
 * sem_perm.c - access checks (EACCES) of semget, semop, semtimedop and
 * semctl against the effective uid/gid, supplementary groups and
 * capabilities (ipc/util.c ipcperms):
 *   - semget(key, 0, 0) requests nothing and always succeeds; otherwise
 *     the permission bits of semflg are requested; exactly one class
 *     (owner/creator, then group, then other) is checked
 *   - semop needs alter (write) permission when any sem_op != 0, read
 *     permission when all are 0: a wait-for-zero combined with an
 *     altering op needs only write permission
 *   - semctl GETVAL/GETPID/GETNCNT/GETZCNT/GETALL/IPC_STAT need read,
 *     SETVAL/SETALL need write
 *   - root with CAP_IPC_OWNER bypasses all of it; root without it is
 *     refused like anyone else (but is still the owner/creator)
 *   - order of checks: semget EINVAL (nsems) and EEXIST before EACCES;
 *     semop EFBIG before EACCES; GETVAL: EACCES before the semnum EINVAL;
 *     SETVAL: ERANGE, then semnum EINVAL, then EACCES; SETALL/GETALL/
 *     IPC_STAT: EACCES before EFAULT/ERANGE
 *   - a set created by an unprivileged user is owned by it
 */
#include "common.h"

#define KA 0x1a00 /* root 0600 */
#define KB 0x1b00 /* root 0644 */
#define KC 0x1c00 /* root 0000 */
#define KD 0x1d00 /* root, gid 65534, 0060 */
#define KE 0x1e00 /* root, gid 65534, 0606: group class wins */
#define KF 0x1f00 /* uid 65534 (cuid 0), 0066: owner class wins */
#define KG 0x2a00 /* root, gid 4242, 0060 */
#define KR 0x2b00 /* root 0444 */
#define KW 0x2c00 /* root 0222 */
#define KN 0x2d00 /* created by nobody, 0600 */
#define KO 0x2e00 /* created by nobody, 0400 */

static int mk(key_t key, int mode)
{
	int id = semget(key, 2, IPC_CREAT | IPC_EXCL | mode);
	if (id < 0)
		ct_fatal("semget");
	return id;
}

static void set_owner(int id, uid_t uid, gid_t gid)
{
	struct semid_ds ds;
	if (semctl(id, 0, IPC_STAT, SU_BUF(&ds)) != 0)
		ct_fatal("IPC_STAT");
	ds.sem_perm.uid = uid;
	ds.sem_perm.gid = gid;
	if (semctl(id, 0, IPC_SET, SU_BUF(&ds)) != 0)
		ct_fatal("IPC_SET");
}

static const char *rs(int r)
{
	return r < 0 ? ct_errname(errno) : "ok";
}

/* one line of results for a set; every probe leaves the values at 0 */
static void probe(const char *name, int id)
{
	struct semid_ds ds;
	unsigned short arr[2] = { 0, 0 };
	printf("%s:", name);
	printf(" alter=%s", rs(ct_semop_q(id, "0:+1 0:-1")));
	printf(" zero=%s", rs(ct_semop_q(id, "0:0:n")));
	printf(" zero+alter=%s", rs(ct_semop_q(id, "1:0:n 0:+1 0:-1")));
	printf(" undo=%s", rs(ct_semop_q(id, "0:+1:u 0:-1:u")));
	printf(" timed-zero=%s", rs(ct_semtimedop_q(id, "1:0", 0)));
	printf(" GETVAL=%s", rs(semctl(id, 0, GETVAL)));
	printf(" GETPID=%s", rs(semctl(id, 0, GETPID)));
	printf(" GETNCNT=%s", rs(semctl(id, 0, GETNCNT)));
	printf(" GETZCNT=%s", rs(semctl(id, 0, GETZCNT)));
	printf(" GETALL=%s", rs(semctl(id, 0, GETALL, SU_ARR(arr))));
	printf(" IPC_STAT=%s", rs(semctl(id, 0, IPC_STAT, SU_BUF(&ds))));
	printf(" SETVAL=%s", rs(semctl(id, 1, SETVAL, SU_VAL(0))));
	printf(" SETALL=%s\n", rs(semctl(id, 0, SETALL, SU_ARR(arr))));
}

static void order(const char *name, int id)
{
	printf("%s order:", name);
	printf(" semop[5:+1]=%s", rs(ct_semop_q(id, "5:+1")));
	printf(" semop[5:0]=%s", rs(ct_semop_q(id, "5:0")));
	printf(" GETVAL(semnum 9)=%s", rs(semctl(id, 9, GETVAL)));
	printf(" GETNCNT(semnum -1)=%s", rs(semctl(id, -1, GETNCNT)));
	printf(" SETVAL(semnum 9)=%s", rs(semctl(id, 9, SETVAL, SU_VAL(0))));
	printf(" SETVAL(-1)=%s", rs(semctl(id, 0, SETVAL, SU_VAL(-1))));
	printf(" SETALL(NULL)=%s", rs(semctl(id, 0, SETALL, SU_ARR(NULL))));
	unsigned short bad[2] = { 40000, 0 };
	printf(" SETALL(40000)=%s", rs(semctl(id, 0, SETALL, SU_ARR(bad))));
	printf(" GETALL(NULL)=%s", rs(semctl(id, 0, GETALL, SU_ARR(NULL))));
	printf(" IPC_STAT(NULL)=%s\n", rs(semctl(id, 0, IPC_STAT, SU_BUF(NULL))));
}

static int ids[9];
static const char *names[9] = { "a(0600)", "b(0644)", "c(0000)", "d(g65534 0060)", "e(g65534 0606)",
				"f(u65534 0066)", "g(g4242 0060)", "r(0444)", "w(0222)" };

static void probe_all(void)
{
	printf("-- semget\n");
	T_ID(semget(KA, 0, 0));
	T_ID(semget(KA, 0, 0400));
	T_ID(semget(KA, 0, 0600));
	T_ID(semget(KA, 0, 0004));
	T_ID(semget(KA, 2, IPC_CREAT | 0600));
	T_ID(semget(KA, 2, IPC_CREAT | IPC_EXCL | 0600));
	T_ID(semget(KA, 3, 0600));
	T_ID(semget(KB, 0, 0400));
	T_ID(semget(KB, 0, 0444));
	T_ID(semget(KB, 0, 0200));
	T_ID(semget(KB, 0, 0002));
	T_ID(semget(KC, 0, 0));
	T_ID(semget(KC, 0, 0100));
	T_ID(semget(KD, 0, 0600));
	T_ID(semget(KD, 0, 0060));
	T_ID(semget(KE, 0, 0006));
	T_ID(semget(KE, 0, 0060));
	T_ID(semget(KF, 0, 0006));
	T_ID(semget(KF, 0, 0600));
	T_ID(semget(KG, 0, 0060));
	T_ID(semget(KR, 0, 0444));
	T_ID(semget(KR, 0, 0222));
	T_ID(semget(KW, 0, 0222));
	T_ID(semget(KW, 0, 0444));
	printf("-- operations\n");
	for (int i = 0; i < 9; i++)
		probe(names[i], ids[i]);
	order(names[0], ids[0]);
	order(names[7], ids[7]);
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
	for (int i = 0; i < 9; i++)
		printf("%s=%s%s", names[i], idn(ids[i]), i == 8 ? "\n" : " ");

	printf("== root with all capabilities\n");
	printf("CAP_IPC_OWNER: %s\n", yes(ct_has_cap(CAP_IPC_OWNER)));
	probe_all();

	printf("== nobody (uid/gid 65534, no caps)\n");
	if ((p = ct_fork("nobody")) == 0) {
		ct_become(NOBODY, NOBODY);
		printf("CAP_IPC_OWNER: %s\n", yes(ct_has_cap(CAP_IPC_OWNER)));
		probe_all();
		printf("-- own sets\n");
		int n = T_ID(semget(KN, 2, IPC_CREAT | 0600));
		ct_semstat("own", n);
		probe("own 0600", n);
		int o = T_ID(semget(KO, 2, IPC_CREAT | 0400));
		probe("own 0400", o);
		ct_child_exit(0);
	}
	ct_wait(p);
	int n = T_ID(semget(KN, 0, 0));
	ct_semstat("created by nobody", n);

	printf("== grpuser (uid/gid 65534, groups {4242}, no caps)\n");
	if ((p = ct_fork("grpuser")) == 0) {
		gid_t grp = 4242;
		if (setgroups(1, &grp) || setresgid(NOBODY, NOBODY, NOBODY) ||
		    setresuid(NOBODY, NOBODY, NOBODY))
			ct_fatal("creds");
		ct_capset_none();
		T_ID(semget(KG, 0, 0060));
		T_ID(semget(KG, 0, 0006));
		probe(names[6], ids[6]);
		probe(names[3], ids[3]);
		ct_child_exit(0);
	}
	ct_wait(p);

	printf("== rootnocap (uid 0 without any capability)\n");
	if ((p = ct_fork("rootnocap")) == 0) {
		ct_root_nocaps();
		printf("CAP_IPC_OWNER: %s\n", yes(ct_has_cap(CAP_IPC_OWNER)));
		probe_all();
		printf("-- set owned by nobody\n");
		T_ID(semget(KN, 0, 0600));
		T_ID(semget(KN, 0, 0));
		probe("created by nobody", n);
		ct_child_exit(0);
	}
	ct_wait(p);

	printf("== euidonly (ruid 0, euid 65534)\n");
	if ((p = ct_fork("euidonly")) == 0) {
		if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
		    setresuid(0, NOBODY, 0))
			ct_fatal("creds");
		printf("CAP_IPC_OWNER: %s\n", yes(ct_has_cap(CAP_IPC_OWNER)));
		probe(names[0], ids[0]);
		probe("created by nobody", n);
		ct_child_exit(0);
	}
	ct_wait(p);

	printf("== values are all 0 again\n");
	for (int i = 0; i < 9; i++)
		ct_vals(names[i], ids[i]);
	ct_vals("created by nobody", n);
	return 0;
}
