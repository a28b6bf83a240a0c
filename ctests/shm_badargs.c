/*
 * shm_badargs.c - invalid arguments of every call get the kernel's errno:
 *   - shmget: negative sizes (huge size_t), unknown flag bits (ignored),
 *     key -1 is an ordinary key
 *   - shmat: bad ids (INT_MAX, INT_MIN, -1), unknown flag bits (ignored),
 *     all flag bits at once, unaligned addresses
 *   - shmdt: NULL, (void*)1, (void*)-1, the last page, an address in the
 *     kernel half
 *   - shmctl: bad ids, bad cmds (99, -1, INT_MAX, INT_MIN, 4..10, 16,
 *     cmd|IPC_64 on 64-bit), bad buffers: NULL, (void*)1, an unmapped
 *     page, a read-only page for IPC_STAT, a PROT_NONE page for IPC_SET,
 *     a buffer straddling into an unmapped page; ignored buffers of
 *     IPC_RMID / SHM_LOCK / SHM_UNLOCK; order of EINVAL vs EFAULT
 */
#include "common.h"
#include <limits.h>

int main(void)
{
	ct_init();
	struct shmid_ds ds;
	struct shminfo si;
	struct shm_info sinfo;

	printf("== shmget\n");
	T_ID(shmget(IPC_PRIVATE, (size_t)-1, IPC_CREAT | 0600));
	T_ID(shmget(IPC_PRIVATE, (size_t)-4096, IPC_CREAT | 0600));
	T_ID(shmget(IPC_PRIVATE, (size_t)LONG_MAX + 1, IPC_CREAT | 0600));
	T_ID(shmget(IPC_PRIVATE, (size_t)INT_MIN, IPC_CREAT | 0600));
	int id = T_ID(shmget(-1, 2 * ct_page, IPC_CREAT | 0600));
	ct_stat("key -1", id);
	T_ID(shmget(-1, 0, 0));
	T_ID(shmget(INT_MIN, 0, 0));
	int id2 = T_ID(shmget(IPC_PRIVATE, ct_page, IPC_CREAT | 0600 | 0x10000000));
	ct_stat("flag 0x10000000", id2);
	T_ID(shmget(IPC_PRIVATE, ct_page, IPC_CREAT | 0600 | 0x00800000));
	T_ID(shmget(-1, 0, 0x7fff0000 & ~SHM_HUGETLB));

	printf("== shmat\n");
	T_AT(shmat(INT_MAX, NULL, 0));
	T_AT(shmat(INT_MIN, NULL, 0));
	T_AT(shmat(-1, NULL, SHM_RDONLY));
	T_AT(shmat(-1, (void *)1, 0));
	T_AT(shmat(id, (void *)1, 0));
	T_AT(shmat(id, NULL, -1));
	T_AT(shmat(id, NULL, SHM_RND | SHM_REMAP));
	void *p = T_AT(shmat(id, NULL, 0x01000000));
	T_INT(shmdt(p));
	p = T_AT(shmat(id, NULL, 0x7f000000 & ~SHM_REMAP));
	T_INT(shmdt(p));

	printf("== shmdt\n");
	T_INT(shmdt(NULL));
	T_INT(shmdt((void *)1));
	T_INT(shmdt((void *)-1));
	T_INT(shmdt((void *)(-ct_page)));
	T_INT(shmdt((void *)0xffff800000000000UL));
	T_INT(shmdt((void *)(uintptr_t)ct_page));

	printf("== shmctl: ids and cmds\n");
	T_INT(shmctl(INT_MAX, IPC_STAT, &ds));
	T_INT(shmctl(INT_MIN, IPC_STAT, &ds));
	T_INT(shmctl(-1, IPC_STAT, &ds));
	T_INT(shmctl(INT_MAX, IPC_RMID, NULL));
	T_INT(shmctl(INT_MAX, SHM_LOCK, NULL));
	T_INT(shmctl(id, 99, &ds));
	T_INT(shmctl(id, -1, &ds));
	T_INT(shmctl(id, INT_MAX, &ds));
	T_INT(shmctl(id, INT_MIN, &ds));
	for (int cmd = 4; cmd <= 10; cmd++) {
		errno = 0;
		int r = shmctl(id, cmd, &ds);
		printf("shmctl(id, %d, &ds) = %d %s\n", cmd, r, r ? ct_errname(errno) : "");
	}
	T_INT(shmctl(id, 16, &ds));
	/* IPC_64 (0x100) is not a flag on 64-bit ABIs: these are unknown
	 * cmds.  A throwaway segment keeps a wrong success from affecting
	 * the rest of the test. */
	int victim = T_ID(shmget(IPC_PRIVATE, ct_page, IPC_CREAT | 0600));
	T_INT(shmctl(victim, IPC_STAT | 0x100, &ds));
	T_INT(shmctl(victim, IPC_SET | 0x100, &ds));
	T_INT(shmctl(victim, IPC_RMID | 0x100, NULL));
	T_INT(shmctl(0, IPC_INFO | 0x100, (struct shmid_ds *)&si));
	ct_stat("victim", victim);
	T_INT(shmctl(-1, 99, NULL));

	printf("== shmctl: buffers\n");
	char *ro = mmap(NULL, 2 * ct_page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *none = mmap(NULL, ct_page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *edge = mmap(NULL, 2 * ct_page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(edge + ct_page, ct_page);
	struct shmid_ds *straddle = (struct shmid_ds *)(edge + ct_page - 16);
	char *hole = ct_free_range(ct_page);
	T_INT(shmctl(id, IPC_STAT, NULL));
	T_INT(shmctl(id, IPC_STAT, (struct shmid_ds *)1));
	T_INT(shmctl(id, IPC_STAT, (struct shmid_ds *)-1));
	T_INT(shmctl(id, IPC_STAT, (struct shmid_ds *)hole));
	T_INT(shmctl(id, IPC_STAT, (struct shmid_ds *)ro));
	T_INT(shmctl(id, IPC_STAT, (struct shmid_ds *)none));
	T_INT(shmctl(id, IPC_STAT, straddle));
	T_INT(shmctl(id, IPC_SET, NULL));
	T_INT(shmctl(id, IPC_SET, (struct shmid_ds *)1));
	T_INT(shmctl(id, IPC_SET, (struct shmid_ds *)hole));
	T_INT(shmctl(id, IPC_SET, (struct shmid_ds *)none));
	T_INT(shmctl(id, IPC_SET, straddle));
	T_INT(shmctl(id, IPC_SET, (struct shmid_ds *)ro)); /* readable zeroes: uid 0 gid 0 mode 0 */
	ct_stat("after IPC_SET from zero page", id);
	T_INT(shmctl(0, IPC_INFO, (struct shmid_ds *)hole));
	T_INT(shmctl(0, IPC_INFO, (struct shmid_ds *)ro));
	T_INT(shmctl(0, SHM_INFO, (struct shmid_ds *)1));
	T_INT(shmctl(0, SHM_INFO, (struct shmid_ds *)ro));
	T_INT(shmctl(0, SHM_INFO, (struct shmid_ds *)none));
	printf("-- order of checks\n");
	T_INT(shmctl(INT_MAX, IPC_STAT, NULL));
	T_INT(shmctl(INT_MAX, IPC_SET, NULL));
	T_INT(shmctl(INT_MAX, IPC_SET, (struct shmid_ds *)1));
	T_INT(shmctl(-1, IPC_SET, NULL));
	T_INT(shmctl(-1, IPC_INFO, NULL));
	T_INT(shmctl(id, 99, NULL));
	T_INT(shmctl(INT_MAX, 99, NULL));
	printf("-- ignored buffers\n");
	T_INT(shmctl(id, SHM_LOCK, (struct shmid_ds *)1));
	T_INT(shmctl(id, SHM_UNLOCK, (struct shmid_ds *)hole));
	T_INT(shmctl(id2, IPC_RMID, (struct shmid_ds *)1));
	T_INT(shmctl(id2, IPC_STAT, &ds));
	T_INT(shmctl(id, IPC_RMID, (struct shmid_ds *)hole));
	T_INT(shmctl(id, IPC_STAT, &ds));
	(void)sinfo;
	return 0;
}
