/*
 * shm_at_zero.c - shmat with SHM_RND and an address below SHMLBA, which
 * rounds down to 0: Linux then maps at address 0 (MAP_FIXED), which
 * vm.mmap_min_addr allows only with CAP_SYS_RAWIO:
 *   - root: attached at address 0 (nattch 1; the page reads back what was
 *     written through a normal attachment); shmdt(0) detaches it
 *   - without CAP_SYS_RAWIO (nobody, and root without capabilities): EPERM
 *   - an address that rounds to a page at or above vm.mmap_min_addr is
 *     attached there by anyone
 *   - read-only alike
 *   - with SHM_REMAP added: EINVAL (rounds to 0)
 * Run as root.
 */
#include "common.h"

/* Reads the byte at `p` without the compiler assuming anything of address 0. */
static int peek(const volatile char *p)
{
	__asm__ volatile("" : "+r"(p));
	return *p;
}

static void attempts(const char *who, int id, long min_addr)
{
	printf("== %s\n", who);
	char *p = T_AT(shmat(id, (void *)0x64, SHM_RND));
	if (p != (void *)-1) {
		printf("at address 0: %s\n", p == NULL ? "yes" : "no");
		printf("nattch %ld, byte %d\n", ct_nattch(id), peek(p));
		T_INT(shmdt(p));
		printf("nattch %ld\n", ct_nattch(id));
	}
	p = T_AT(shmat(id, (void *)0x64, SHM_RND | SHM_RDONLY));
	if (p != (void *)-1)
		T_INT(shmdt(p));
	T_AT(shmat(id, (void *)0x64, SHM_RND | SHM_REMAP));
	char *at_min = (char *)min_addr + 0x10 * ct_page;
	p = T_AT(shmat(id, at_min + 0x64, SHM_RND));
	if (p != (void *)-1) {
		printf("at the rounded address: %s\n", p == at_min ? "yes" : "no");
		T_INT(shmdt(p));
	}
}

int main(void)
{
	ct_init();
	FILE *f = fopen("/proc/sys/vm/mmap_min_addr", "r");
	long min_addr = 0;
	if (!f || fscanf(f, "%ld", &min_addr) != 1)
		ct_fatal("mmap_min_addr");
	fclose(f);
	int id = T_ID(shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0666));
	char *normal = T_AT(shmat(id, NULL, 0));
	normal[0] = 42;
	attempts("root", id, min_addr);

	pid_t p = ct_fork("nobody");
	if (p == 0) {
		ct_become(NOBODY, NOBODY);
		attempts("nobody", id, min_addr);
		ct_child_exit(0);
	}
	ct_wait(p);
	p = ct_fork("nocaps");
	if (p == 0) {
		ct_root_nocaps();
		attempts("root without capabilities", id, min_addr);
		ct_child_exit(0);
	}
	ct_wait(p);
	T_INT(shmdt(normal));
	T_INT(shmctl(id, IPC_RMID, NULL));
	return 0;
}
