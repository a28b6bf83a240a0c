/*
 * shm_at_addr.c - the shmaddr argument of shmat(2) and SHM_RND,
 * SHM_REMAP, SHM_EXEC:
 *   - explicit page-aligned address -> attached exactly there
 *   - unaligned address without SHM_RND -> EINVAL
 *   - SHM_RND rounds an unaligned address down (to SHMLBA)
 *   - SHM_RND|SHM_REMAP with an address that rounds down to 0 -> EINVAL
 *   - address range overlapping an existing mapping (fully or partially)
 *     without SHM_REMAP -> EINVAL; with SHM_REMAP -> success, and the old
 *     mapping is gone after shmdt
 *   - SHM_REMAP over another segment's attach replaces it (its nattch
 *     drops)
 *   - SHM_REMAP with a NULL address -> EINVAL
 *   - address + size wrapping around -> EINVAL; an address in the kernel
 *     half -> ENOMEM
 *   - SHM_EXEC maps executable (x86_64/aarch64: call a "ret" copied into
 *     the segment); executing from a non-SHM_EXEC attach -> SIGSEGV;
 *     SHM_EXEC needs execute permission on the segment (mode 0600: EACCES
 *     for a caller that is not root)
 * Addresses are printed only relative to a reserved base ("base+N").
 */
#include "common.h"

static char *base; /* 1 MiB aligned free range of 16 pages */

static const char *rel(void *p)
{
	char *b = ct_buf();
	if (p == (void *)-1)
		snprintf(b, 64, "failed");
	else if ((char *)p >= base && (char *)p < base + 64 * ct_page)
		snprintf(b, 64, "base+%ldpages%s", ((char *)p - base) / ct_page,
			 ((char *)p - base) % ct_page ? "+unaligned" : "");
	else
		snprintf(b, 64, "elsewhere");
	return b;
}

/* is [p, p+len) mapped at all? */
static const char *mapped(void *p, size_t len)
{
	return msync(p, len, MS_ASYNC) == 0 ? "mapped" : (errno == ENOMEM ? "unmapped" : "?");
}

int main(void)
{
	ct_init();
	char *p;
	pid_t c;
	size_t sz = 4 * ct_page;

	int id = T_ID(shmget(IPC_PRIVATE, sz, IPC_CREAT | 0600));
	int id2 = T_ID(shmget(IPC_PRIVATE, sz, IPC_CREAT | 0600));
	base = ct_free_range(64 * ct_page);

	printf("== explicit address\n");
	p = T_AT(shmat(id, base, 0));
	printf("at %s\n", rel(p));
	strcpy(p, "seg1");
	T_INT(shmdt(p));
	p = T_AT(shmat(id, base + 8 * ct_page, SHM_RDONLY));
	printf("at %s: %s\n", rel(p), p);
	T_INT(shmdt(p));

	printf("== unaligned address\n");
	T_AT(shmat(id, base + 1, 0));
	T_AT(shmat(id, base + ct_page / 2, 0));
	T_AT(shmat(id, base + ct_page + 8, SHM_RDONLY));
	T_AT(shmat(-1, base + 1, 0));

	printf("== SHM_RND\n");
	p = T_AT(shmat(id, base + 123, SHM_RND));
	printf("at %s\n", rel(p));
	T_INT(shmdt(p));
	p = T_AT(shmat(id, base + 16 * ct_page + 5, SHM_RND));
	printf("at %s\n", rel(p));
	T_INT(shmdt(p));
	p = T_AT(shmat(id, base + 16 * ct_page, SHM_RND));
	printf("at %s\n", rel(p));
	T_INT(shmdt(p));
	T_AT(shmat(id, (void *)16, SHM_RND | SHM_REMAP));
	p = T_AT(shmat(id, NULL, SHM_RND));
	T_INT(shmdt(p));

	printf("== overlapping an existing mapping\n");
	char *busy = mmap(base + 16 * ct_page, ct_page, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (busy != base + 16 * ct_page)
		ct_fatal("mmap busy");
	strcpy(busy, "anon");
	printf("busy page at %s is %s\n", rel(busy), mapped(busy, ct_page));
	T_AT(shmat(id, base + 16 * ct_page, 0));       /* same start */
	T_AT(shmat(id, base + 14 * ct_page, 0));       /* ends inside */
	T_AT(shmat(id, base + 13 * ct_page, 0));       /* covers it */
	T_AT(shmat(id, base + 12 * ct_page, 0));       /* ends just before */
	T_INT(shmdt(base + 12 * ct_page));
	T_AT(shmat(id, base + 17 * ct_page, 0));       /* starts just after */
	T_INT(shmdt(base + 17 * ct_page));
	printf("busy page still: %s\n", busy);

	printf("== SHM_REMAP\n");
	p = T_AT(shmat(id, base + 14 * ct_page, SHM_REMAP));
	printf("at %s, nattch=%ld\n", rel(p), ct_nattch(id));
	printf("old anon page now shows: %s\n", busy[0] ? busy : "(zero)");
	printf("content at start: %s\n", p);
	T_INT(shmdt(p));
	printf("range after shmdt: %s\n", mapped(base + 14 * ct_page, sz));
	p = T_AT(shmat(id, base + 20 * ct_page, SHM_REMAP)); /* free range */
	printf("at %s\n", rel(p));
	T_INT(shmdt(p));
	T_AT(shmat(id, NULL, SHM_REMAP));
	T_AT(shmat(id, NULL, SHM_REMAP | SHM_RDONLY));

	printf("== SHM_REMAP over another segment's attach\n");
	p = T_AT(shmat(id, base + 24 * ct_page, 0));
	printf("nattch id=%ld id2=%ld\n", ct_nattch(id), ct_nattch(id2));
	char *p2 = T_AT(shmat(id2, base + 24 * ct_page, SHM_REMAP));
	printf("at %s, nattch id=%ld id2=%ld\n", rel(p2), ct_nattch(id), ct_nattch(id2));
	T_INT(shmdt(p2));
	printf("nattch id=%ld id2=%ld\n", ct_nattch(id), ct_nattch(id2));
	T_INT(shmdt(p));

	printf("== address range problems\n");
	T_AT(shmat(id, (void *)(-2 * ct_page), 0));
	T_AT(shmat(id, (void *)(-2 * ct_page), SHM_REMAP));
	T_AT(shmat(id, (void *)0xffff800000000000UL, 0));

	printf("== SHM_EXEC\n");
	char *w = T_AT(shmat(id, NULL, 0));
	char *x = T_AT(shmat(id, NULL, SHM_EXEC));
	char *xr = T_AT(shmat(id, NULL, SHM_EXEC | SHM_RDONLY));
#if defined(__x86_64__)
	w[0] = (char)0xc3; /* ret */
	int have_code = 1;
#elif defined(__aarch64__)
	{
		uint32_t ret = 0xd65f03c0; /* ret */
		memcpy(w, &ret, 4);
		__builtin___clear_cache(x, x + 4);
		__builtin___clear_cache(xr, xr + 4);
	}
	int have_code = 1;
#else
	int have_code = 0;
#endif
	if (x == (void *)-1 || xr == (void *)-1) {
		/* no execute permission on the segment (a caller without
		 * CAP_DAC_OVERRIDE and mode 0600): nothing to call */
		printf("no SHM_EXEC attach: no code called\n");
	} else if (have_code) {
		((void (*)(void))x)();
		printf("called code in SHM_EXEC attach: returned\n");
		((void (*)(void))xr)();
		printf("called code in SHM_EXEC|SHM_RDONLY attach: returned\n");
		if ((c = ct_fork("exec-noexec")) == 0) {
			((void (*)(void))w)();
			printf("exec-noexec: returned (should not)\n");
			ct_child_exit(0);
		}
		ct_wait(c);
	} else {
		printf("called code in SHM_EXEC attach: returned\n");
		printf("called code in SHM_EXEC|SHM_RDONLY attach: returned\n");
		printf("exec-noexec: killed by SIGSEGV\n");
	}
	T_INT(mprotect(xr, ct_page, PROT_READ | PROT_EXEC));
	T_INT(shmdt(w));
	T_INT(shmdt(x));
	T_INT(shmdt(xr));
	printf("nattch=%ld\n", ct_nattch(id));
	return 0;
}
