/*
 * shm_ctl_info.c - shmctl(2) IPC_INFO, SHM_INFO, SHM_STAT, SHM_STAT_ANY:
 *   - IPC_INFO fills struct shminfo with the limits (a fresh namespace
 *     has the kernel defaults) and ignores the id (any id >= 0)
 *   - SHM_INFO fills struct shm_info: used_ids and shm_tot (pages) exact,
 *     shm_rss only as relations
 *   - the return value of IPC_INFO/SHM_INFO is the highest used index
 *     (0 when there is none): checked by relations only, as the man page
 *     specifies them: SHM_STAT_ANY(maxidx) succeeds, every index above it
 *     fails with EINVAL, and scanning 0..maxidx finds exactly the existing
 *     segments; IPC_INFO and SHM_INFO agree
 *   - SHM_STAT/SHM_STAT_ANY(index) return the id and the same data as
 *     IPC_STAT; unused or negative index -> EINVAL
 *   - SHM_STAT without read permission -> EACCES, SHM_STAT_ANY succeeds
 *   - NULL buffers -> EFAULT; negative id with IPC_INFO -> EINVAL
 */
#include "common.h"
#include <limits.h>

static struct shminfo si;
static struct shm_info sinfo;

static int stat_one(int i, int cmd)
{
	struct shmid_ds ds;
	return shmctl(i, cmd, &ds);
}

static void scan(const char *label, int maxidx, int cmd)
{
	ct_stat_scan(label, maxidx, cmd, cmd == SHM_STAT_ANY, stat_one);
}

static int info(const char *label)
{
	memset(&si, 0, sizeof si);
	memset(&sinfo, 0, sizeof sinfo);
	int r1 = shmctl(0, IPC_INFO, (struct shmid_ds *)&si);
	int r2 = shmctl(0, SHM_INFO, (struct shmid_ds *)&sinfo);
	printf("%s: IPC_INFO and SHM_INFO return the same index: %s%s\n", label,
	       yes(r1 == r2), r1 < 0 ? " (failed)" : "");
	return r1;
}

static int same(const struct shmid_ds *a, const struct shmid_ds *b)
{
	return a->shm_perm.__key == b->shm_perm.__key && a->shm_perm.uid == b->shm_perm.uid &&
	       a->shm_perm.gid == b->shm_perm.gid && a->shm_perm.cuid == b->shm_perm.cuid &&
	       a->shm_perm.cgid == b->shm_perm.cgid && a->shm_perm.mode == b->shm_perm.mode &&
	       a->shm_segsz == b->shm_segsz && a->shm_atime == b->shm_atime &&
	       a->shm_dtime == b->shm_dtime && a->shm_ctime == b->shm_ctime &&
	       a->shm_cpid == b->shm_cpid && a->shm_lpid == b->shm_lpid &&
	       a->shm_nattch == b->shm_nattch;
}

/* find the index of id by scanning with SHM_STAT_ANY */
static int index_of(int id, int maxidx)
{
	for (int i = 0; i <= maxidx; i++) {
		struct shmid_ds ds;
		if (shmctl(i, SHM_STAT_ANY, &ds) == id)
			return i;
	}
	return -1;
}

int main(void)
{
	ct_init();
	struct shmid_ds ds, ds2;
	int maxidx;
	pid_t c;

	printf("== empty namespace\n");
	T_INT(shmctl(0, IPC_INFO, (struct shmid_ds *)&si));
	ct_print_shminfo("IPC_INFO", &si);
	T_INT(shmctl(0, SHM_INFO, (struct shmid_ds *)&sinfo));
	ct_print_shm_info("SHM_INFO", &sinfo, 0);
	T_INT(shmctl(0, SHM_STAT, &ds));
	T_INT(shmctl(0, SHM_STAT_ANY, &ds));
	T_INT(shmctl(1, SHM_STAT_ANY, &ds));
	T_INT(shmctl(12345, IPC_INFO, (struct shmid_ds *)&si));
	T_INT(shmctl(INT_MAX, SHM_INFO, (struct shmid_ds *)&sinfo));
	T_INT(shmctl(-1, IPC_INFO, (struct shmid_ds *)&si));
	T_INT(shmctl(-1, SHM_INFO, (struct shmid_ds *)&sinfo));
	T_INT(shmctl(0, IPC_INFO, NULL));
	T_INT(shmctl(0, SHM_INFO, NULL));
	T_INT(shmctl(0, IPC_INFO, (struct shmid_ds *)1));

	printf("== three segments\n");
	int a = T_ID(shmget(IPC_PRIVATE, 2 * ct_page, IPC_CREAT | 0600));
	int b = T_ID(shmget(0x5000, 1, IPC_CREAT | 0644));
	int cc = T_ID(shmget(IPC_PRIVATE, 3 * ct_page, IPC_CREAT | 0000));
	char *p = shmat(a, NULL, 0);
	p[0] = 1;
	p[ct_page] = 1;
	maxidx = info("3 segs");
	ct_print_shminfo("IPC_INFO", &si);
	ct_print_shm_info("SHM_INFO", &sinfo, 2);
	scan("SHM_STAT_ANY scan", maxidx, SHM_STAT_ANY);
	scan("SHM_STAT scan", maxidx, SHM_STAT);

	printf("== SHM_STAT data equals IPC_STAT data\n");
	int ids[3] = { a, b, cc };
	for (int k = 0; k < 3; k++) {
		int idx = index_of(ids[k], maxidx);
		printf("%s: index found: %s, <= maxidx: %s\n", idn(ids[k]), yes(idx >= 0),
		       yes(idx <= maxidx));
		memset(&ds, 0x11, sizeof ds);
		memset(&ds2, 0x22, sizeof ds2);
		int r = shmctl(idx, SHM_STAT, &ds);
		printf("SHM_STAT(index) = %s\n", r < 0 ? ct_errname(errno) : idn(r));
		shmctl(ids[k], IPC_STAT, &ds2);
		printf("same as IPC_STAT: %s\n", yes(same(&ds, &ds2)));
		memset(&ds, 0x33, sizeof ds);
		r = shmctl(idx, SHM_STAT_ANY, &ds);
		printf("SHM_STAT_ANY(index) = %s\n", r < 0 ? ct_errname(errno) : idn(r));
		printf("same as IPC_STAT: %s\n", yes(same(&ds, &ds2)));
		ct_print_ds("SHM_STAT_ANY", &ds);
	}

	printf("== unused / invalid indices\n");
	T_INT(shmctl(maxidx + 1, SHM_STAT, &ds));
	T_INT(shmctl(maxidx + 1, SHM_STAT_ANY, &ds));
	T_INT(shmctl(-1, SHM_STAT, &ds));
	T_INT(shmctl(-1, SHM_STAT_ANY, &ds));
	T_INT(shmctl(INT_MAX, SHM_STAT, &ds));
	T_INT(shmctl((int)si.shmmni, SHM_STAT_ANY, &ds));
	{
		int idx = index_of(a, maxidx);
		errno = 0;
		int r = shmctl(idx, SHM_STAT, NULL);
		printf("SHM_STAT(index of a, NULL) = %d %s\n", r, ct_errname(errno));
		r = shmctl(idx, SHM_STAT_ANY, (struct shmid_ds *)1);
		printf("SHM_STAT_ANY(index of a, (void*)1) = %d %s\n", r, ct_errname(errno));
		r = shmctl(maxidx + 1, SHM_STAT, NULL);
		printf("SHM_STAT(unused index, NULL) = %d %s\n", r, ct_errname(errno));
	}

	printf("== permissions: nobody\n");
	if ((c = ct_fork("nobody")) == 0) {
		ct_become(NOBODY, NOBODY);
		scan("nobody SHM_STAT scan", maxidx, SHM_STAT);
		scan("nobody SHM_STAT_ANY scan", maxidx, SHM_STAT_ANY);
		for (int k = 0; k < 3; k++) {
			int idx = index_of(ids[k], maxidx);
			errno = 0;
			int r = shmctl(idx, SHM_STAT, &ds);
			printf("SHM_STAT(index of %s) = %s\n", idn(ids[k]),
			       r < 0 ? ct_errname(errno) : idn(r));
			r = shmctl(idx, SHM_STAT_ANY, &ds);
			printf("SHM_STAT_ANY(index of %s) = %s\n", idn(ids[k]),
			       r < 0 ? ct_errname(errno) : idn(r));
		}
		int r0 = shmctl(0, IPC_INFO, (struct shmid_ds *)&si);
		printf("nobody IPC_INFO returns maxidx: %s\n", yes(r0 == maxidx));
		ct_print_shminfo("nobody IPC_INFO", &si);
		int r = shmctl(0, SHM_INFO, (struct shmid_ds *)&sinfo);
		printf("nobody SHM_INFO returns maxidx: %s\n", yes(r == maxidx));
		ct_print_shm_info("nobody SHM_INFO", &sinfo, 2);
		ct_child_exit(0);
	}
	ct_wait(c);

	printf("== after removing segments\n");
	T_INT(shmctl(b, IPC_RMID, NULL));
	maxidx = info("2 segs");
	ct_print_shm_info("SHM_INFO", &sinfo, 2);
	scan("SHM_STAT_ANY scan", maxidx, SHM_STAT_ANY);
	T_INT(shmctl(cc, IPC_RMID, NULL));
	maxidx = info("1 seg");
	ct_print_shm_info("SHM_INFO", &sinfo, 2);
	scan("SHM_STAT_ANY scan", maxidx, SHM_STAT_ANY);
	int d = T_ID(shmget(IPC_PRIVATE, 10 * ct_page, IPC_CREAT | 0600));
	maxidx = info("2 segs");
	ct_print_shm_info("SHM_INFO", &sinfo, 2);
	scan("SHM_STAT_ANY scan", maxidx, SHM_STAT_ANY);
	shmdt(p);
	T_INT(shmctl(a, IPC_RMID, NULL));
	T_INT(shmctl(d, IPC_RMID, NULL));
	maxidx = info("0 segs");
	printf("IPC_INFO returns %d\n", maxidx);
	ct_print_shm_info("SHM_INFO", &sinfo, 0);
	scan("SHM_STAT_ANY scan", maxidx, SHM_STAT_ANY);
	return 0;
}
