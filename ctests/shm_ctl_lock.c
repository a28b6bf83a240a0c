/*
 * shm_ctl_lock.c - shmctl(2) SHM_LOCK / SHM_UNLOCK:
 *   - the SHM_LOCKED mode bit (02000) is set/cleared; both are
 *     idempotent; ctime is not changed
 *   - root with CAP_IPC_LOCK may lock any segment, even with
 *     RLIMIT_MEMLOCK 0
 *   - without CAP_IPC_LOCK: a caller that is neither owner nor creator
 *     gets EPERM for both commands (whatever the mode bits)
 *   - the owner with RLIMIT_MEMLOCK 0 gets EPERM for SHM_LOCK but may
 *     SHM_UNLOCK
 *   - the owner with a small RLIMIT_MEMLOCK may lock a segment that
 *     fits, a larger one -> ENOMEM; the locked amount is cumulative
 *     and is given back by SHM_UNLOCK
 *   - the creator (cuid) that is no longer the owner may lock
 *   - invalid and negative ids -> EINVAL; the buf argument is ignored
 */
#include "common.h"

static void mode_of(const char *label, int id)
{
	struct shmid_ds ds;
	if (shmctl(id, IPC_STAT, &ds) != 0) {
		printf("%s: IPC_STAT failed %s\n", label, ct_errname(errno));
		return;
	}
	printf("%s: mode=%#o ctime=%s\n", label, (unsigned)ds.shm_perm.mode, tn(ds.shm_ctime));
}

static void memlock(rlim_t soft, rlim_t hard)
{
	struct rlimit rl = { soft, hard };
	if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0)
		ct_fatal("setrlimit");
}

int main(void)
{
	ct_init();
	pid_t c;
	ct_mark();
	int a = T_ID(shmget(IPC_PRIVATE, 4 * ct_page, IPC_CREAT | 0666));
	ct_mark();

	printf("== root with CAP_IPC_LOCK\n");
	mode_of("initial", a);
	T_INT(shmctl(a, SHM_LOCK, NULL));
	mode_of("locked", a);
	T_INT(shmctl(a, SHM_LOCK, NULL));
	mode_of("locked twice", a);
	T_INT(shmctl(a, SHM_UNLOCK, NULL));
	mode_of("unlocked", a);
	T_INT(shmctl(a, SHM_UNLOCK, NULL));
	mode_of("unlocked twice", a);
	T_INT(shmctl(a, SHM_LOCK, (struct shmid_ds *)1));
	T_INT(shmctl(a, SHM_UNLOCK, (struct shmid_ds *)1));
	struct rlimit orig;
	getrlimit(RLIMIT_MEMLOCK, &orig);
	memlock(0, orig.rlim_max);
	T_INT(shmctl(a, SHM_LOCK, NULL));
	mode_of("locked with RLIMIT_MEMLOCK 0", a);
	memlock(orig.rlim_cur, orig.rlim_max);
	T_INT(shmctl(12345678, SHM_LOCK, NULL));
	T_INT(shmctl(-1, SHM_LOCK, NULL));
	T_INT(shmctl(12345678, SHM_UNLOCK, NULL));
	T_INT(shmctl(-1, SHM_UNLOCK, NULL));

	printf("== nobody, neither owner nor creator (segment mode 0666)\n");
	if ((c = ct_fork("stranger")) == 0) {
		ct_become(NOBODY, NOBODY);
		T_INT(shmctl(a, SHM_UNLOCK, NULL));
		T_INT(shmctl(a, SHM_LOCK, NULL));
		ct_child_exit(0);
	}
	ct_wait(c);
	T_INT(shmctl(a, SHM_UNLOCK, NULL));
	if ((c = ct_fork("stranger2")) == 0) {
		ct_become(NOBODY, NOBODY);
		T_INT(shmctl(a, SHM_LOCK, NULL));
		ct_child_exit(0);
	}
	ct_wait(c);
	mode_of("after strangers", a);

	printf("== nobody as owner, RLIMIT_MEMLOCK 16 pages\n");
	struct ct_chan made = ct_chan(), go = ct_chan();
	int own, big, small;
	if ((c = ct_fork("owner")) == 0) {
		memlock(16 * ct_page, 16 * ct_page);
		ct_become(NOBODY, NOBODY);
		own = T_ID(shmget(IPC_PRIVATE, 4 * ct_page, IPC_CREAT | 0600));
		big = T_ID(shmget(IPC_PRIVATE, 17 * ct_page, IPC_CREAT | 0600));
		small = T_ID(shmget(IPC_PRIVATE, 12 * ct_page + 1, IPC_CREAT | 0600));
		T_INT(shmctl(big, SHM_LOCK, NULL));
		mode_of("big", big);
		T_INT(shmctl(own, SHM_LOCK, NULL));
		mode_of("own", own);
		T_INT(shmctl(own, SHM_LOCK, NULL));
		T_INT(shmctl(small, SHM_LOCK, NULL)); /* 4 + 13 pages > 16 */
		mode_of("small", small);
		T_INT(shmctl(own, SHM_UNLOCK, NULL));
		T_INT(shmctl(small, SHM_LOCK, NULL)); /* 13 pages */
		mode_of("small", small);
		T_INT(shmctl(own, SHM_LOCK, NULL)); /* 13 + 4 > 16 */
		T_INT(shmctl(small, SHM_UNLOCK, NULL));
		T_INT(shmctl(own, SHM_LOCK, NULL));
		printf("-- RLIMIT_MEMLOCK soft limit 0\n");
		memlock(0, 16 * ct_page);
		T_INT(shmctl(own, SHM_UNLOCK, NULL));
		T_INT(shmctl(own, SHM_LOCK, NULL));
		T_INT(shmctl(small, SHM_LOCK, NULL));
		mode_of("own", own);
		T_INT(shmctl(own, SHM_UNLOCK, NULL));
		T_INT(shmctl(big, IPC_RMID, NULL));
		T_INT(shmctl(small, IPC_RMID, NULL));
		if (write(made.wr, &own, sizeof own) != sizeof own)
			ct_fatal("write");
		ct_waitfor(go);
		ct_child_exit(0);
	}
	if (read(made.rd, &own, sizeof own) != sizeof own)
		ct_fatal("read");
	printf("parent got %s\n", idn(own));
	ct_post(go);
	ct_wait(c);

	printf("== root without capabilities\n");
	if ((c = ct_fork("rootnocap")) == 0) {
		ct_root_nocaps();
		memlock(16 * ct_page, 16 * ct_page);
		printf("CAP_IPC_LOCK: %s\n", yes(ct_has_cap(CAP_IPC_LOCK)));
		T_INT(shmctl(own, SHM_LOCK, NULL)); /* owned by nobody */
		T_INT(shmctl(own, SHM_UNLOCK, NULL));
		T_INT(shmctl(a, SHM_LOCK, NULL)); /* created by root */
		mode_of("a", a);
		T_INT(shmctl(a, SHM_UNLOCK, NULL));
		memlock(0, 0);
		T_INT(shmctl(a, SHM_LOCK, NULL));
		T_INT(shmctl(a, SHM_UNLOCK, NULL));
		ct_child_exit(0);
	}
	ct_wait(c);

	printf("== creator that is no longer the owner\n");
	{
		struct shmid_ds ds;
		shmctl(a, IPC_STAT, &ds);
		ds.shm_perm.uid = NOBODY;
		T_INT(shmctl(a, IPC_SET, &ds));
	}
	if ((c = ct_fork("creator")) == 0) {
		ct_root_nocaps();
		memlock(16 * ct_page, 16 * ct_page);
		T_INT(shmctl(a, SHM_LOCK, NULL));
		mode_of("a", a);
		T_INT(shmctl(a, SHM_UNLOCK, NULL));
		ct_child_exit(0);
	}
	ct_wait(c);
	if ((c = ct_fork("newowner")) == 0) {
		memlock(16 * ct_page, 16 * ct_page);
		ct_become(NOBODY, NOBODY);
		T_INT(shmctl(a, SHM_LOCK, NULL));
		mode_of("a", a);
		ct_child_exit(0);
	}
	ct_wait(c);
	mode_of("a after newowner exited", a);
	T_INT(shmctl(a, SHM_UNLOCK, NULL));
	mode_of("final", a);
	return 0;
}
