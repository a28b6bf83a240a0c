/*
 * shm_hugetlb.c - shmget with SHM_HUGETLB, Linux's newseg order of checks:
 *   - size checks (EINVAL) come before anything about huge pages
 *   - a huge page size the kernel does not have (SHM_HUGE_SHIFT bits) ->
 *     EINVAL, before the permission check
 *   - permission (can_do_hugetlb_shm): CAP_IPC_LOCK, or membership of the
 *     group in /proc/sys/vm/hugetlb_shm_group (0 by default, so the root
 *     group passes); otherwise EPERM, for root without capabilities too
 *   - allowed, without SHM_NORESERVE: the huge page pool must hold the
 *     segment (this machine reserves no huge pages: ENOMEM); with
 *     SHM_NORESERVE nothing is reserved and the segment is made (never
 *     touched here: a fault with an empty pool is SIGBUS on Linux)
 *   - an existing key is found whatever SHM_HUGETLB says
 * Run as root with an empty huge page pool (nr_hugepages 0), the default.
 */
#include "common.h"

#ifndef SHM_HUGE_SHIFT
#define SHM_HUGE_SHIFT 26
#endif

#define HUGE_2MB (21 << SHM_HUGE_SHIFT)
#define HUGE_BOGUS (13 << SHM_HUGE_SHIFT) /* 8 KiB pages: no such size */

static void attempts(const char *who)
{
	printf("== %s\n", who);
	T_ID(shmget(IPC_PRIVATE, 2 << 20, IPC_CREAT | SHM_HUGETLB | 0600));
	T_ID(shmget(IPC_PRIVATE, 2 << 20, IPC_CREAT | SHM_HUGETLB | HUGE_2MB | 0600));
	T_ID(shmget(IPC_PRIVATE, 2 << 20, IPC_CREAT | SHM_HUGETLB | HUGE_BOGUS | 0600));
	T_ID(shmget(IPC_PRIVATE, 0, IPC_CREAT | SHM_HUGETLB | 0600));
	T_ID(shmget(IPC_PRIVATE, (size_t)-1, IPC_CREAT | SHM_HUGETLB | 0600));
	int id = T_ID(shmget(IPC_PRIVATE, 3 << 20, IPC_CREAT | SHM_HUGETLB | SHM_NORESERVE | 0600));
	if (id >= 0) {
		ct_stat("noreserve", id);
		T_INT(shmctl(id, IPC_RMID, NULL));
	}
}

int main(void)
{
	ct_init();
	attempts("root");

	printf("== an existing key\n");
	int plain = T_ID(shmget(0x4857, 4096, IPC_CREAT | 0666));
	T_ID(shmget(0x4857, 4096, SHM_HUGETLB | 0600));

	pid_t p = ct_fork("nobody");
	if (p == 0) {
		ct_become(NOBODY, NOBODY);
		attempts("nobody");
		T_ID(shmget(0x4857, 4096, SHM_HUGETLB | 0600));
		ct_child_exit(0);
	}
	ct_wait(p);

	p = ct_fork("nocaps");
	if (p == 0) {
		/* group 0 is hugetlb_shm_group: allowed without CAP_IPC_LOCK */
		ct_root_nocaps();
		attempts("root group, no capabilities");
		ct_child_exit(0);
	}
	ct_wait(p);

	p = ct_fork("nobody0");
	if (p == 0) {
		gid_t root_group = 0;
		if (setgroups(1, &root_group) != 0)
			ct_fatal("setgroups");
		if (setresgid(NOBODY, NOBODY, NOBODY) != 0 || setresuid(NOBODY, NOBODY, NOBODY) != 0)
			ct_fatal("setres*id");
		attempts("nobody with supplementary group 0");
		ct_child_exit(0);
	}
	ct_wait(p);
	T_INT(shmctl(plain, IPC_RMID, NULL));
	return 0;
}
