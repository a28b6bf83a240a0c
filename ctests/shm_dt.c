/*
 * shm_dt.c - shmdt(2):
 *   - NULL, an unaligned address, an address inside an attach but not at
 *     its start, an anonymous mapping, a never-mapped address -> EINVAL,
 *     and the attach stays intact
 *   - shmdt of the start detaches: the range is unmapped afterwards
 *     (touching it kills a child with SIGSEGV)
 *   - double shmdt -> EINVAL the second time
 *   - with two attaches of one segment, detaching one keeps the other
 *   - a child detaching its inherited attach does not affect the parent
 *   - after shmdt, an anonymous mapping placed at the same address is not
 *     an attach (EINVAL)
 *   - shmdt of a SHM_RDONLY attach
 */
#include "common.h"

static const char *mapped(void *p, size_t len)
{
	return msync(p, len, MS_ASYNC) == 0 ? "mapped" : (errno == ENOMEM ? "unmapped" : "?");
}

int main(void)
{
	ct_init();
	pid_t c;
	size_t sz = 4 * ct_page;
	int id = T_ID(shmget(IPC_PRIVATE, sz, IPC_CREAT | 0600));
	char *p = T_AT(shmat(id, NULL, 0));
	strcpy(p, "data");
	strcpy(p + ct_page, "page2");

	printf("== addresses that are not attach starts\n");
	T_INT(shmdt(NULL));
	T_INT(shmdt(p + 1));
	T_INT(shmdt(p + ct_page / 2));
	T_INT(shmdt(p + ct_page));
	T_INT(shmdt(p + 3 * ct_page));
	T_INT(shmdt(p + sz));
	T_INT(shmdt(p - ct_page));
	char *anon = mmap(NULL, ct_page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	T_INT(shmdt(anon));
	int stackvar = 0;
	T_INT(shmdt((void *)((uintptr_t)&stackvar & ~(uintptr_t)(ct_page - 1))));
	T_INT(shmdt((void *)((uintptr_t)main & ~(uintptr_t)(ct_page - 1))));
	char *hole = ct_free_range(ct_page);
	T_INT(shmdt(hole));
	printf("nattch=%ld, still readable: %s %s\n", ct_nattch(id), p, p + ct_page);

	printf("== detach and double detach\n");
	T_INT(shmdt(p));
	printf("range after shmdt: %s\n", mapped(p, sz));
	printf("nattch=%ld\n", ct_nattch(id));
	T_INT(shmdt(p));
	if ((c = ct_fork("toucher")) == 0) {
		printf("toucher: reading detached address\n");
		fflush(stdout);
		volatile char x = p[0];
		(void)x;
		printf("toucher: read did not fault\n");
		ct_child_exit(0);
	}
	ct_wait(c);

	printf("== two attaches, detach one\n");
	char *a = T_AT(shmat(id, NULL, 0));
	char *b = T_AT(shmat(id, NULL, SHM_RDONLY));
	printf("nattch=%ld\n", ct_nattch(id));
	T_INT(shmdt(a));
	printf("nattch=%ld, other attach reads: %s\n", ct_nattch(id), b);
	T_INT(shmdt(a));
	T_INT(shmdt(b));
	T_INT(shmdt(b));
	printf("nattch=%ld\n", ct_nattch(id));

	printf("== child detaches its inherited attach\n");
	a = T_AT(shmat(id, NULL, 0));
	if ((c = ct_fork("child1")) == 0) {
		printf("child1: nattch=%ld\n", ct_nattch(id));
		T_INT(shmdt(a));
		printf("child1: nattch=%ld\n", ct_nattch(id));
		T_INT(shmdt(a));
		ct_child_exit(0);
	}
	ct_wait(c);
	printf("parent: nattch=%ld, still reads: %s\n", ct_nattch(id), a);

	printf("== anonymous mapping at a former attach address\n");
	T_INT(shmdt(a));
	char *m = mmap(a, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	printf("mmap at the old address: %s\n", yes(m == a));
	T_INT(shmdt(a));
	munmap(m, sz);

	printf("== shmdt of an attach at an explicit address\n");
	a = T_AT(shmat(id, hole, 0));
	printf("at requested: %s\n", yes(a == hole));
	T_INT(shmdt(hole));
	printf("nattch=%ld\n", ct_nattch(id));
	return 0;
}
