/*
 * sem_ctl_info.c - semctl(2) IPC_INFO, SEM_INFO, SEM_STAT, SEM_STAT_ANY:
 *   - IPC_INFO fills struct seminfo with the limits of a fresh namespace
 *     (semmni 32000, semmsl 32000, semmns 1024000000, semopm 500, semvmx
 *     32767, ...) and semusz=SEMUSZ (20), semaem=SEMAEM (32767); SEM_INFO
 *     the same limits but semusz = number of sets, semaem = number of
 *     semaphores in all sets; both ignore the id (any id >= 0) and the
 *     semnum
 *   - the return value of IPC_INFO/SEM_INFO is the highest used index (0
 *     when there is none): checked by relations only: SEM_STAT_ANY(maxidx)
 *     succeeds, every index above it fails with EINVAL, and scanning
 *     0..maxidx finds exactly the existing sets; IPC_INFO and SEM_INFO
 *     agree
 *   - SEM_STAT/SEM_STAT_ANY(index) return the full id and the same data as
 *     IPC_STAT; unused or negative index -> EINVAL; only the low 15 bits
 *     of the index argument count (index + k*32768 and the full id itself
 *     find the same set: ipcid_to_idx)
 *   - SEM_STAT without read permission -> EACCES, SEM_STAT_ANY succeeds
 *   - NULL buffers -> EFAULT (an unused index is EINVAL first); negative
 *     id with IPC_INFO -> EINVAL
 */
#include "common.h"
#include <limits.h>

static struct seminfo si, sinfo;

static int stat_one(int i, int cmd)
{
	struct semid_ds ds;
	return semctl(i, 0, cmd, SU_BUF(&ds));
}

static void scan(const char *label, int maxidx, int cmd)
{
	ct_stat_scan(label, maxidx, cmd, cmd == SEM_STAT_ANY, stat_one);
}

static int info(const char *label)
{
	memset(&si, 0, sizeof si);
	memset(&sinfo, 0, sizeof sinfo);
	int r1 = semctl(0, 0, IPC_INFO, SU_INFO(&si));
	int r2 = semctl(0, 0, SEM_INFO, SU_INFO(&sinfo));
	printf("%s: IPC_INFO and SEM_INFO return the same index: %s%s\n", label, yes(r1 == r2),
	       r1 < 0 ? " (failed)" : "");
	printf("%s: SEM_INFO semusz=%d semaem=%d\n", label, sinfo.semusz, sinfo.semaem);
	return r1;
}

static int same(const struct semid_ds *a, const struct semid_ds *b)
{
	return a->sem_perm.__key == b->sem_perm.__key && a->sem_perm.uid == b->sem_perm.uid &&
	       a->sem_perm.gid == b->sem_perm.gid && a->sem_perm.cuid == b->sem_perm.cuid &&
	       a->sem_perm.cgid == b->sem_perm.cgid && a->sem_perm.mode == b->sem_perm.mode &&
	       a->sem_otime == b->sem_otime && a->sem_ctime == b->sem_ctime &&
	       a->sem_nsems == b->sem_nsems;
}

static int index_of(int id, int maxidx)
{
	for (int i = 0; i <= maxidx; i++) {
		struct semid_ds ds;
		if (semctl(i, 0, SEM_STAT_ANY, SU_BUF(&ds)) == id)
			return i;
	}
	return -1;
}

int main(void)
{
	ct_init();
	struct semid_ds ds, ds2;
	int maxidx;
	pid_t c;

	printf("== empty namespace\n");
	T_INT(semctl(0, 0, IPC_INFO, SU_INFO(&si)));
	ct_print_seminfo("IPC_INFO", &si);
	T_INT(semctl(0, 0, SEM_INFO, SU_INFO(&sinfo)));
	ct_print_seminfo("SEM_INFO", &sinfo);
	T_INT(semctl(0, 0, SEM_STAT, SU_BUF(&ds)));
	T_INT(semctl(0, 0, SEM_STAT_ANY, SU_BUF(&ds)));
	T_INT(semctl(1, 0, SEM_STAT_ANY, SU_BUF(&ds)));
	T_INT(semctl(12345, 7, IPC_INFO, SU_INFO(&si)));
	T_INT(semctl(INT_MAX, -1, SEM_INFO, SU_INFO(&sinfo)));
	T_INT(semctl(-1, 0, IPC_INFO, SU_INFO(&si)));
	T_INT(semctl(-1, 0, SEM_INFO, SU_INFO(&sinfo)));
	T_INT(semctl(0, 0, IPC_INFO, SU_INFO(NULL)));
	T_INT(semctl(0, 0, SEM_INFO, SU_INFO(NULL)));

	printf("== three sets\n");
	int a = T_ID(semget(IPC_PRIVATE, 2, IPC_CREAT | 0600));
	int b = T_ID(semget(0x5000, 5, IPC_CREAT | 0644));
	int cc = T_ID(semget(IPC_PRIVATE, 1, IPC_CREAT | 0000));
	ct_semop(a, "0:+3 1:+1");
	maxidx = info("3 sets");
	ct_print_seminfo("IPC_INFO", &si);
	ct_print_seminfo("SEM_INFO", &sinfo);
	scan("SEM_STAT_ANY scan", maxidx, SEM_STAT_ANY);
	scan("SEM_STAT scan", maxidx, SEM_STAT);

	printf("== SEM_STAT data equals IPC_STAT data\n");
	int ids[3] = { a, b, cc };
	for (int k = 0; k < 3; k++) {
		int idx = index_of(ids[k], maxidx);
		printf("%s: index found: %s, <= maxidx: %s\n", idn(ids[k]), yes(idx >= 0),
		       yes(idx <= maxidx));
		memset(&ds, 0x11, sizeof ds);
		memset(&ds2, 0x22, sizeof ds2);
		int r = semctl(idx, 0, SEM_STAT, SU_BUF(&ds));
		printf("SEM_STAT(index) = %s\n", r < 0 ? ct_errname(errno) : idn(r));
		semctl(ids[k], 0, IPC_STAT, SU_BUF(&ds2));
		printf("same as IPC_STAT: %s\n", yes(same(&ds, &ds2)));
		memset(&ds, 0x33, sizeof ds);
		r = semctl(idx, 0, SEM_STAT_ANY, SU_BUF(&ds));
		printf("SEM_STAT_ANY(index) = %s\n", r < 0 ? ct_errname(errno) : idn(r));
		printf("same as IPC_STAT: %s\n", yes(same(&ds, &ds2)));
		ct_print_semds("SEM_STAT_ANY", &ds);
	}

	printf("== unused / invalid indices\n");
	T_INT(semctl(maxidx + 1, 0, SEM_STAT, SU_BUF(&ds)));
	T_INT(semctl(maxidx + 1, 0, SEM_STAT_ANY, SU_BUF(&ds)));
	T_INT(semctl(-1, 0, SEM_STAT, SU_BUF(&ds)));
	T_INT(semctl(-1, 0, SEM_STAT_ANY, SU_BUF(&ds)));
	T_INT(semctl(INT_MAX, 0, SEM_STAT, SU_BUF(&ds)));
	T_INT(semctl((int)si.semmni, 0, SEM_STAT_ANY, SU_BUF(&ds)));
	{
		int idx = index_of(a, maxidx);
		errno = 0;
		int r = semctl(idx, 0, SEM_STAT, SU_BUF(NULL));
		printf("SEM_STAT(index of a, NULL) = %d %s\n", r, ct_errname(errno));
		r = semctl(idx, 0, SEM_STAT_ANY, SU_BUF((struct semid_ds *)1));
		printf("SEM_STAT_ANY(index of a, (void*)1) = %d %s\n", r, ct_errname(errno));
		r = semctl(maxidx + 1, 0, SEM_STAT, SU_BUF(NULL));
		printf("SEM_STAT(unused index, NULL) = %d %s\n", r, ct_errname(errno));
		/* only the low 15 bits of the "index" are used (ipcid_to_idx) */
		r = semctl(idx + 32768, 0, SEM_STAT, SU_BUF(&ds));
		printf("SEM_STAT(index of a + 32768) = %s\n", r < 0 ? ct_errname(errno) : idn(r));
		r = semctl(idx + 5 * 32768, 0, SEM_STAT_ANY, SU_BUF(&ds));
		printf("SEM_STAT_ANY(index of a + 5*32768) = %s\n", r < 0 ? ct_errname(errno) : idn(r));
		r = semctl(a, 0, SEM_STAT, SU_BUF(&ds));
		printf("SEM_STAT(id of a) = %s\n", r < 0 ? ct_errname(errno) : idn(r));
	}

	printf("== permissions: nobody\n");
	if ((c = ct_fork("nobody")) == 0) {
		ct_become(NOBODY, NOBODY);
		scan("nobody SEM_STAT scan", maxidx, SEM_STAT);
		scan("nobody SEM_STAT_ANY scan", maxidx, SEM_STAT_ANY);
		for (int k = 0; k < 3; k++) {
			int idx = index_of(ids[k], maxidx);
			errno = 0;
			int r = semctl(idx, 0, SEM_STAT, SU_BUF(&ds));
			printf("SEM_STAT(index of %s) = %s\n", idn(ids[k]),
			       r < 0 ? ct_errname(errno) : idn(r));
			r = semctl(idx, 0, SEM_STAT_ANY, SU_BUF(&ds));
			printf("SEM_STAT_ANY(index of %s) = %s\n", idn(ids[k]),
			       r < 0 ? ct_errname(errno) : idn(r));
			T_INT(semctl(ids[k], 0, IPC_STAT, SU_BUF(&ds)));
		}
		int r0 = semctl(0, 0, IPC_INFO, SU_INFO(&si));
		printf("nobody IPC_INFO returns maxidx: %s\n", yes(r0 == maxidx));
		ct_print_seminfo("nobody IPC_INFO", &si);
		int r = semctl(0, 0, SEM_INFO, SU_INFO(&sinfo));
		printf("nobody SEM_INFO returns maxidx: %s\n", yes(r == maxidx));
		ct_print_seminfo("nobody SEM_INFO", &sinfo);
		ct_child_exit(0);
	}
	ct_wait(c);

	printf("== after removing sets\n");
	T_INT(semctl(b, 0, IPC_RMID));
	maxidx = info("2 sets");
	scan("SEM_STAT_ANY scan", maxidx, SEM_STAT_ANY);
	T_INT(semctl(cc, 0, IPC_RMID));
	maxidx = info("1 set");
	scan("SEM_STAT_ANY scan", maxidx, SEM_STAT_ANY);
	int d = T_ID(semget(IPC_PRIVATE, 100, IPC_CREAT | 0600));
	maxidx = info("2 sets");
	scan("SEM_STAT_ANY scan", maxidx, SEM_STAT_ANY);
	T_INT(semctl(a, 0, IPC_RMID));
	T_INT(semctl(d, 0, IPC_RMID));
	maxidx = info("0 sets");
	printf("IPC_INFO returns %d\n", maxidx);
	scan("SEM_STAT_ANY scan", maxidx, SEM_STAT_ANY);
	return 0;
}
