/*
 * sem_ctl.c - semctl(2) value commands, IPC_STAT, IPC_SET, IPC_RMID:
 *   - union semun passed by value as the 4th argument; commands without
 *     an argument (GETVAL, GETPID, GETNCNT, GETZCNT, IPC_RMID) called
 *     with only 3 arguments; SETVAL with a plain int 4th argument (what
 *     much real code does)
 *   - GETVAL/SETVAL/GETALL/SETALL; GETALL writes exactly nsems values
 *     (the rest of the buffer is untouched)
 *   - GETPID (sempid): 0 at creation, set by semop (every semaphore
 *     named in a successful call), by SETVAL (that semaphore) and by
 *     SETALL (all semaphores) to the caller; by the sleeper itself when
 *     a SETVAL completes its operation
 *   - sem_otime: 0 at creation, set by successful semop (wait-for-zero
 *     ones too), not by failed ones nor by semctl, except that a
 *     SETVAL/SETALL that completes a sleeping operation sets it
 *   - sem_ctime: set at creation and by IPC_SET, SETVAL and SETALL
 *     (successful ones only), not by semop, GET* or IPC_STAT
 *   - IPC_STAT returns every field; IPC_SET changes uid, gid and the low
 *     9 mode bits only, ignores every other field, updates ctime even
 *     with unchanged values; uid or gid -1 -> EINVAL
 *   - IPC_SET / IPC_RMID: allowed to the owner, the creator and
 *     CAP_SYS_ADMIN, EPERM for anyone else (before the EINVAL of an
 *     invalid uid); root without CAP_SYS_ADMIN is an ordinary user
 * Times are printed as "M<k>": happened between mark k and mark k+1.
 */
#include "common.h"

#define KEY 0x5ec7

static void do_set(int id, uid_t uid, gid_t gid, unsigned mode)
{
	struct semid_ds ds;
	memset(&ds, 0, sizeof ds);
	semctl(id, 0, IPC_STAT, SU_BUF(&ds));
	ds.sem_perm.uid = uid;
	ds.sem_perm.gid = gid;
	ds.sem_perm.mode = mode;
	errno = 0;
	int r = semctl(id, 0, IPC_SET, SU_BUF(&ds));
	if (r)
		printf("IPC_SET(%s, uid=%d gid=%d mode=%#o) = -1 %s\n", idn(id), (int)uid,
		       (int)gid, mode, ct_errname(errno));
	else
		printf("IPC_SET(%s, uid=%d gid=%d mode=%#o) = 0\n", idn(id), (int)uid, (int)gid,
		       mode);
}

int main(void)
{
	ct_init();
	struct semid_ds ds;
	pid_t c;

	ct_mark();
	int id = T_ID(semget(KEY, 3, IPC_CREAT | 0640));
	ct_semstat("created", id);

	printf("== value commands, 3 and 4 arguments\n");
	T_INT(semctl(id, 0, GETVAL));
	T_INT(semctl(id, 0, GETPID));
	T_INT(semctl(id, 0, GETNCNT));
	T_INT(semctl(id, 0, GETZCNT));
	T_INT(semctl(id, 0, SETVAL, SU_VAL(5)));
	T_INT(semctl(id, 1, SETVAL, 7));
	T_INT(semctl(id, 2, SETVAL, SU_VAL(32767)));
	T_INT(semctl(id, 0, GETVAL));
	T_INT(semctl(id, 1, GETVAL));
	T_INT(semctl(id, 2, GETVAL, SU_VAL(0)));
	ct_sempids("after SETVAL", id);
	{
		unsigned short buf[6];
		for (int i = 0; i < 6; i++)
			buf[i] = 0xaaaa;
		T_INT(semctl(id, 0, GETALL, SU_ARR(buf)));
		printf("GETALL buffer: %u %u %u %#x %#x %#x\n", buf[0], buf[1], buf[2], buf[3],
		       buf[4], buf[5]);
		unsigned short set[3] = { 1, 2, 3 };
		T_INT(semctl(id, 0, SETALL, SU_ARR(set)));
		ct_vals("after SETALL", id);
		unsigned short zero[3] = { 0, 0, 0 };
		T_INT(semctl(id, 0, SETALL, zero));
		ct_vals("after SETALL", id);
	}
	ct_semstat("nothing operated yet", id);

	printf("== times and sempid\n");
	ct_mark();
	ct_semop(id, "0:+1");
	ct_semstat("semop", id);
	ct_sempids("semop", id);
	T_INT(semctl(id, 0, GETVAL));
	T_INT(semctl(id, 0, IPC_STAT, SU_BUF(&ds)));
	ct_semstat("GETVAL and IPC_STAT change nothing", id);

	ct_mark();
	if ((c = ct_fork("c1")) == 0) {
		ct_setval(id, 1, 4);
		ct_child_exit(0);
	}
	ct_wait(c);
	ct_semop(id, "1:-5:n");
	ct_semop(id, "0:0:n");
	ct_semstat("SETVAL by c1, failed semops", id);
	ct_sempids("SETVAL by c1, failed semops", id);
	ct_vals("values", id);

	ct_mark();
	if ((c = ct_fork("c2")) == 0) {
		ct_setall(id, "1 0 0");
		ct_child_exit(0);
	}
	ct_wait(c);
	ct_sempids("SETALL by c2", id);
	ct_semop(id, "2:0");
	ct_semstat("SETALL by c2, wait-for-zero semop", id);
	ct_sempids("wait-for-zero semop", id);

	printf("== IPC_SET\n");
	ct_mark();
	memset(&ds, 0, sizeof ds);
	T_INT(semctl(id, 0, IPC_STAT, SU_BUF(&ds)));
	ds.sem_perm.uid = NOBODY;
	ds.sem_perm.gid = 4242;
	ds.sem_perm.mode = 0604 | 01000 | 0170000;
	ds.sem_perm.cuid = 1234;
	ds.sem_perm.cgid = 1234;
	ds.sem_perm.__key = 0x9999;
	ds.sem_nsems = 99;
	ds.sem_otime = 1;
	ds.sem_ctime = 2;
	T_INT(semctl(id, 0, IPC_SET, SU_BUF(&ds)));
	ct_semstat("after IPC_SET", id);
	T_ID(semget(KEY, 3, 0));
	ct_vals("values unchanged", id);

	ct_mark();
	do_set(id, (uid_t)-1, 0, 0600);
	do_set(id, 0, (gid_t)-1, 0600);
	ct_setval(id, 0, -1);
	ct_setall(id, "1 1 40000");
	ct_semstat("failed IPC_SET/SETVAL/SETALL", id);
	printf("-- a SETVAL that completes a sleeper sets sem_otime\n");
	if ((c = ct_fork("s1")) == 0) {
		int r = ct_semop_q(id, "1:-2");
		ct_child_result(r, errno);
	}
	ct_blocked(c, id, 1, GETNCNT, 1);
	ct_setval(id, 1, 2);
	ct_wait_result(c, "[1:-2]");
	ct_semstat("after SETVAL", id);
	ct_sempids("after SETVAL", id);
	T_INT(semctl(id, 0, IPC_STAT, SU_BUF(&ds)));
	T_INT(semctl(id, 0, IPC_SET, SU_BUF(&ds)));
	ct_semstat("same values again", id);

	printf("== stranger (uid 4000) without capabilities\n");
	if ((c = ct_fork("stranger")) == 0) {
		ct_become(4000, 4000);
		do_set(id, 4000, 4000, 0666);
		do_set(id, (uid_t)-1, 4000, 0666);
		T_INT(semctl(id, 0, IPC_RMID));
		T_INT(semctl(id, 0, GETVAL));
		ct_child_exit(0);
	}
	ct_wait(c);
	ct_semstat("after stranger", id);

	printf("== owner (uid 65534) without capabilities\n");
	if ((c = ct_fork("owner")) == 0) {
		ct_become(NOBODY, NOBODY);
		do_set(id, NOBODY, NOBODY, 0660);
		ct_semstat("owner", id);
		do_set(id, (uid_t)-1, NOBODY, 0660);
		do_set(id, 4000, 4000, 0666); /* give it away */
		do_set(id, NOBODY, NOBODY, 0666);
		ct_semstat("owner", id);
		ct_child_exit(0);
	}
	ct_wait(c);

	printf("== creator (uid 0) without capabilities, owner is 4000\n");
	if ((c = ct_fork("creator")) == 0) {
		ct_root_nocaps();
		printf("CAP_SYS_ADMIN: %s\n", yes(ct_has_cap(CAP_SYS_ADMIN)));
		do_set(id, 4000, 4000, 0600);
		ct_semstat("creator", id);
		ct_child_exit(0);
	}
	ct_wait(c);

	printf("== root without capabilities, neither owner nor creator\n");
	int other;
	if ((c = ct_fork("maker")) == 0) {
		ct_become(4000, 4000);
		T_ID(semget(KEY + 1, 1, IPC_CREAT | 0666));
		ct_child_exit(0);
	}
	ct_wait(c);
	other = T_ID(semget(KEY + 1, 0, 0));
	ct_semstat("other", other);
	if ((c = ct_fork("rootnocap")) == 0) {
		ct_root_nocaps();
		do_set(other, 0, 0, 0600);
		T_INT(semctl(other, 0, IPC_RMID));
		T_INT(semctl(other, 0, GETVAL));
		ct_child_exit(0);
	}
	ct_wait(c);
	printf("== root with CAP_SYS_ADMIN\n");
	do_set(other, 0, 0, 0600);
	ct_semstat("other", other);

	printf("== IPC_RMID by the owner (not creator), by the creator\n");
	do_set(other, NOBODY, NOBODY, 0600);
	if ((c = ct_fork("nobody-rmid")) == 0) {
		ct_become(NOBODY, NOBODY);
		T_INT(semctl(other, 0, IPC_RMID));
		ct_child_exit(0);
	}
	ct_wait(c);
	T_INT(semctl(other, 0, GETVAL));
	do_set(id, 4000, 4000, 0);
	if ((c = ct_fork("creator-rmid")) == 0) {
		ct_root_nocaps();
		T_INT(semctl(id, 0, GETVAL));
		T_INT(semctl(id, 0, IPC_RMID));
		ct_child_exit(0);
	}
	ct_wait(c);
	T_INT(semctl(id, 0, GETVAL));
	T_ID(semget(KEY, 0, 0));
	return 0;
}
