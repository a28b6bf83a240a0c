/*
 * sem_limits.c - limits of a fresh namespace:
 *   - SEMMSL 32000 semaphores per set (32001 -> EINVAL), SEMOPM 500
 *     operations per call (501 -> E2BIG), SEMVMX 32767
 *   - SEMMNI exhaustion: create 1-semaphore sets until ENOSPC; the count
 *     equals semmni (32000); SEM_INFO then reports semusz == semmni and
 *     the highest index >= semmni-1; keyed creation also gets ENOSPC
 *     (an existing key is still found, a missing key without IPC_CREAT
 *     is still ENOENT, nsems 0 still EINVAL); after removing one set, one
 *     more fits; after removing all, semusz 0
 *   - SEMMNS (1024000000 semaphores in all sets) cannot be reached with
 *     the default limits: semmni * semmsl == semmns, so it is only
 *     checked arithmetically (reaching it would need writing
 *     /proc/sys/kernel/sem, which is outside the emulated API)
 */
#include "common.h"

static int ids[40000];

int main(void)
{
	ct_init();
	struct seminfo si;

	printf("== limits\n");
	T_INT(semctl(0, 0, IPC_INFO, SU_INFO(&si)));
	ct_print_seminfo("IPC_INFO", &si);
	printf("semmni * semmsl <= semmns: %s\n",
	       yes((long long)si.semmni * si.semmsl <= (long long)si.semmns));
	T_ID(semget(IPC_PRIVATE, si.semmsl + 1, IPC_CREAT | 0600));
	int big = T_ID(semget(IPC_PRIVATE, si.semmsl, IPC_CREAT | 0600));
	{
		static struct sembuf ops[501];
		for (int i = 0; i < 501; i++) {
			ops[i].sem_num = (unsigned short)(i * 63);
			ops[i].sem_op = 1;
			ops[i].sem_flg = 0;
		}
		T_INT(semop(big, ops, si.semopm));
		T_INT(semop(big, ops, si.semopm + 1));
		T_INT(semctl(big, 31500, GETVAL));
		T_INT(semctl(big, 31999, SETVAL, SU_VAL(si.semvmx)));
		T_INT(semctl(big, 31999, GETVAL));
		ct_semop(big, "31999:+1:n");
	}
	T_INT(semctl(big, 0, IPC_RMID));

	printf("== SEMMNI exhaustion\n");
	int keyed = T_ID(semget(0x7002, 3, IPC_CREAT | 0600));
	int n = 1, err = 0;
	for (;;) {
		int id = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
		if (id < 0) {
			err = errno;
			break;
		}
		if (n >= (int)(sizeof ids / sizeof ids[0]))
			break;
		ids[n++] = id;
	}
	ids[0] = keyed;
	printf("sets before failure: %d (== semmni: %s), error %s\n", n, yes(n == si.semmni),
	       ct_errname(err));
	struct seminfo sinfo;
	int maxidx = semctl(0, 0, SEM_INFO, SU_INFO(&sinfo));
	{
		struct semid_ds ds;
		printf("SEM_INFO: maxidx >= semmni-1: %s, SEM_STAT_ANY(maxidx) ok: %s, "
		       "semusz=%d semaem=%d\n",
		       yes(maxidx >= si.semmni - 1),
		       yes(semctl(maxidx, 0, SEM_STAT_ANY, SU_BUF(&ds)) >= 0), sinfo.semusz,
		       sinfo.semaem);
		printf("IPC_INFO returns the same: %s\n",
		       yes(semctl(0, 0, IPC_INFO, SU_INFO(&si)) == maxidx));
	}
	T_ID(semget(IPC_PRIVATE, 1, IPC_CREAT | 0600));
	T_ID(semget(0x7003, 1, IPC_CREAT | 0600));
	T_ID(semget(0x7003, 1, 0600));
	T_ID(semget(0x7002, 3, 0600));
	T_ID(semget(0x7002, 3, IPC_CREAT | 0600));
	T_ID(semget(0x7002, 3, IPC_CREAT | IPC_EXCL | 0600));
	T_ID(semget(IPC_PRIVATE, 0, IPC_CREAT | 0600));
	T_ID(semget(IPC_PRIVATE, si.semmsl + 1, IPC_CREAT | 0600));
	ct_semop(keyed, "2:+1");
	T_INT(semctl(ids[n / 2], 0, IPC_RMID));
	int one = T_ID(semget(0x7003, 1, IPC_CREAT | 0600));
	T_ID(semget(IPC_PRIVATE, 1, IPC_CREAT | 0600));
	int removed = 0, failed = 0;
	for (int i = 0; i < n; i++) {
		if (i == n / 2)
			continue;
		if (semctl(ids[i], 0, IPC_RMID) == 0)
			removed++;
		else
			failed++;
	}
	printf("removed %d, failed %d\n", removed, failed);
	T_INT(semctl(one, 0, IPC_RMID));
	maxidx = semctl(0, 0, SEM_INFO, SU_INFO(&sinfo));
	printf("SEM_INFO returns %d, semusz=%d semaem=%d\n", maxidx, sinfo.semusz, sinfo.semaem);
	T_ID(semget(IPC_PRIVATE, 1, IPC_CREAT | 0600));
	return 0;
}
