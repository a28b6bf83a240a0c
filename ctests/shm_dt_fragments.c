/*
 * shm_dt_fragments.c - attaches changed by mprotect()/munmap() afterwards
 * (Linux's shmdt "tries to be smart" about fragments, see ipc/shm.c):
 *   - munmap() of a whole attach instead of shmdt counts as a detach
 *     (nattch drops, dtime/lpid updated)
 *   - mprotect() of a middle page, then shmdt(start) removes all pieces
 *   - munmap() of the first page, then shmdt(start) still detaches the
 *     rest (returns 0); shmdt of the new first piece -> EINVAL
 *   - munmap() of a middle page, then shmdt(start) removes both pieces
 * Only the final nattch values are printed: Linux counts one attach per
 * VMA, so intermediate values after a split (3 after an mprotect of a
 * middle page) are an implementation detail not tested here.
 */
#include "common.h"

static const char *mapped(void *p, size_t len)
{
	return msync(p, len, MS_ASYNC) == 0 ? "mapped" : (errno == ENOMEM ? "unmapped" : "?");
}

/* is any page of [p, p+len) still mapped? */
static const char *any_mapped(char *p, size_t len)
{
	for (size_t o = 0; o < len; o += ct_page)
		if (msync(p + o, ct_page, MS_ASYNC) == 0)
			return "some pages mapped";
	return "all unmapped";
}

int main(void)
{
	ct_init();
	size_t sz = 4 * ct_page;
	int id = T_ID(shmget(IPC_PRIVATE, sz, IPC_CREAT | 0600));
	char *p;

	printf("== munmap of a whole attach\n");
	ct_mark();
	p = T_AT(shmat(id, NULL, 0));
	ct_stat("attached", id);
	ct_mark();
	T_INT(munmap(p, sz));
	ct_stat("after munmap", id);
	T_INT(shmdt(p));

	printf("== mprotect of a middle page, then shmdt\n");
	p = T_AT(shmat(id, NULL, 0));
	T_INT(mprotect(p + ct_page, ct_page, PROT_READ));
	p[0] = 'a';
	p[2 * ct_page] = 'c';
	T_INT(shmdt(p + ct_page));
	T_INT(shmdt(p + 2 * ct_page));
	T_INT(shmdt(p));
	printf("range: %s, nattch=%ld\n", any_mapped(p, sz), ct_nattch(id));
	T_INT(shmdt(p));

	printf("== munmap of the first page, then shmdt\n");
	p = T_AT(shmat(id, NULL, 0));
	T_INT(munmap(p, ct_page));
	printf("rest still mapped: %s, reads %c\n", mapped(p + ct_page, 3 * ct_page), p[2 * ct_page]);
	T_INT(shmdt(p + ct_page));
	T_INT(shmdt(p));
	printf("range: %s, nattch=%ld\n", any_mapped(p, sz), ct_nattch(id));

	printf("== munmap of a middle page, then shmdt\n");
	p = T_AT(shmat(id, NULL, 0));
	T_INT(munmap(p + ct_page, ct_page));
	T_INT(shmdt(p));
	printf("range: %s, nattch=%ld\n", any_mapped(p, sz), ct_nattch(id));

	printf("== munmap of the last pages only\n");
	p = T_AT(shmat(id, NULL, 0));
	T_INT(munmap(p + 2 * ct_page, 2 * ct_page));
	printf("nattch=%ld\n", ct_nattch(id));
	T_INT(shmdt(p));
	printf("range: %s, nattch=%ld\n", any_mapped(p, sz), ct_nattch(id));
	return 0;
}
