/*
 * shm_limits.c - size limits and segment count limit:
 *   - IPC_INFO limits of a fresh namespace (shmmax, shmmin, shmmni,
 *     shmseg, shmall)
 *   - size > shmmax -> EINVAL, also (size_t)-1; size == shmmax -> EINVAL
 *     too (larger than the biggest possible file)
 *   - 1 TiB without SHM_NORESERVE -> ENOMEM (overcommit check; on this
 *     machine memory+swap is far below 1 TiB), with SHM_NORESERVE it is
 *     created, can be attached and its last byte used; SHM_INFO counts
 *     its pages in shm_tot
 *   - SHMMNI exhaustion: create 1-byte segments until ENOSPC; the count
 *     equals shmmni, IPC_INFO then reports shmmni-1 as highest index,
 *     SHM_INFO used_ids == shmmni; keyed creation also gets ENOSPC; an
 *     existing key is still found; after removing one, one more fits;
 *     after removing all, used_ids 0
 */
#include "common.h"

static int ids[8192];

int main(void)
{
	ct_init();
	struct shminfo si;
	struct shm_info sinfo;

	printf("== limits\n");
	T_INT(shmctl(0, IPC_INFO, (struct shmid_ds *)&si));
	ct_print_shminfo("IPC_INFO", &si);
	/* on a 64-bit kernel, SHMMAX == SHMALL == ULONG_MAX - 2^24 */
	printf("shmmax == ULONG_MAX - (1<<24): %s\n", yes(si.shmmax == ~0UL - (1UL << 24)));

	printf("== too large\n");
	T_ID(shmget(IPC_PRIVATE, si.shmmax + 1, IPC_CREAT | 0600));
	T_ID(shmget(IPC_PRIVATE, (size_t)-1, IPC_CREAT | 0600));
	T_ID(shmget(IPC_PRIVATE, (size_t)-1, IPC_CREAT | SHM_NORESERVE | 0600));
	T_ID(shmget(0x7000, si.shmmax + 1, IPC_CREAT | 0600));
	T_ID(shmget(IPC_PRIVATE, si.shmmax, IPC_CREAT | 0600));
	T_ID(shmget(IPC_PRIVATE, si.shmmax, IPC_CREAT | SHM_NORESERVE | 0600));
	T_ID(shmget(IPC_PRIVATE, 1UL << 63, IPC_CREAT | SHM_NORESERVE | 0600));

	printf("== 1 TiB\n");
	T_ID(shmget(IPC_PRIVATE, 1UL << 40, IPC_CREAT | 0600));
	T_ID(shmget(0x7001, 1UL << 40, IPC_CREAT | 0600));
	T_ID(shmget(0x7001, 0, 0));
	int big = T_ID(shmget(0x7001, 1UL << 40, IPC_CREAT | SHM_NORESERVE | 0600));
	ct_stat("big", big);
	T_INT(shmctl(0, SHM_INFO, (struct shmid_ds *)&sinfo));
	ct_print_shm_info("SHM_INFO", &sinfo, 0);
	char *p = T_AT(shmat(big, NULL, 0));
	if (p != (void *)-1) {
		p[0] = 'a';
		p[(1UL << 40) - 1] = 'z';
		printf("first/last byte: %c %c\n", p[0], p[(1UL << 40) - 1]);
		T_INT(shmdt(p));
	}
	T_INT(shmctl(big, IPC_RMID, NULL));
	T_INT(shmctl(0, SHM_INFO, (struct shmid_ds *)&sinfo));
	ct_print_shm_info("SHM_INFO", &sinfo, 0);

	printf("== SHMMNI exhaustion\n");
	int keyed = T_ID(shmget(0x7002, 1, IPC_CREAT | 0600));
	int n = 1, err = 0;
	for (;;) {
		int id = shmget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
		if (id < 0) {
			err = errno;
			break;
		}
		if (n >= (int)(sizeof ids / sizeof ids[0]))
			break;
		ids[n++] = id;
	}
	ids[0] = keyed;
	printf("segments before failure: %d (== shmmni: %s), error %s\n", n,
	       yes(n == (int)si.shmmni), ct_errname(err));
	int maxidx = shmctl(0, SHM_INFO, (struct shmid_ds *)&sinfo);
	{
		/* the highest used index: at least shmmni-1 with shmmni entries
		 * in use, and it is in use */
		struct shmid_ds ds;
		printf("SHM_INFO: maxidx >= shmmni-1: %s, SHM_STAT_ANY(maxidx) ok: %s, "
		       "used_ids=%d shm_tot=%lu\n",
		       yes(maxidx >= (int)si.shmmni - 1), yes(shmctl(maxidx, SHM_STAT_ANY, &ds) >= 0),
		       sinfo.used_ids, (unsigned long)sinfo.shm_tot);
		printf("IPC_INFO returns the same: %s\n",
		       yes(shmctl(0, IPC_INFO, (struct shmid_ds *)&si) == maxidx));
	}
	T_ID(shmget(IPC_PRIVATE, 1, IPC_CREAT | 0600));
	T_ID(shmget(0x7003, 1, IPC_CREAT | 0600));
	T_ID(shmget(0x7003, 1, 0600));
	T_ID(shmget(0x7002, 1, 0600));
	T_ID(shmget(IPC_PRIVATE, 0, IPC_CREAT | 0600));
	T_ID(shmget(IPC_PRIVATE, si.shmmax + 1, IPC_CREAT | 0600));
	T_INT(shmctl(ids[n / 2], IPC_RMID, NULL));
	int one = T_ID(shmget(0x7003, 1, IPC_CREAT | 0600));
	T_ID(shmget(IPC_PRIVATE, 1, IPC_CREAT | 0600));
	int removed = 0, failed = 0;
	for (int i = 0; i < n; i++) {
		if (i == n / 2)
			continue;
		if (shmctl(ids[i], IPC_RMID, NULL) == 0)
			removed++;
		else
			failed++;
	}
	printf("removed %d, failed %d\n", removed, failed);
	T_INT(shmctl(one, IPC_RMID, NULL));
	maxidx = shmctl(0, SHM_INFO, (struct shmid_ds *)&sinfo);
	printf("SHM_INFO returns %d, used_ids=%d shm_tot=%lu\n", maxidx, sinfo.used_ids,
	       (unsigned long)sinfo.shm_tot);
	T_ID(shmget(IPC_PRIVATE, 1, IPC_CREAT | 0600));
	return 0;
}
