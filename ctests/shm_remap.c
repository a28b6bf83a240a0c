/*
 * shm_remap.c - calls that reach a segment's pages by file offset through
 * an attachment's mapping: remap_file_pages(2), mremap(2) and
 * madvise(MADV_REMOVE). On Linux offsets count from the segment's start and
 * pages past its size raise SIGBUS; nothing reaches another segment.
 *   - remap_file_pages: a page shows the segment page asked for (another
 *     attachment's view unchanged), page offset 0 is the segment's first
 *     page; the libc function and syscall() alike
 *   - Linux's EINVAL cases: prot != 0, size 0, page offset wrapping, past
 *     the attachment, unmapped memory, a private mapping; other flags
 *     than MAP_NONBLOCK are ignored
 *   - pages past the segment raise SIGBUS; the segment next to it in the
 *     box's file is never seen
 *   - shmdt after a remap of the first page leaves that page mapped
 *   - a whole attachment of a removed segment remapped: its last mapping
 *     went, so the segment is destroyed and the call fails (EINVAL), the
 *     range unmapped; a part of it remapped succeeds
 *   - mremap: an attachment moved, grown past its segment (SIGBUS past
 *     it), shrunk, duplicated (old size 0: counted, detachable), moved onto
 *     a fixed address, grown in place with and without room, copied with
 *     MREMAP_DONTUNMAP, a part of it grown
 *   - madvise(MADV_REMOVE) zeroes the segment's pages for every attacher;
 *     EACCES on a read-only attachment
 * shm_nattch is printed only where an attachment is whole (a box counts
 * attachments, Linux mappings: see README, Known deviations).
 */
#include "common.h"
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>

/* The signal that touching `p` raises in a child, 0 for none. */
static int touch(volatile char *p)
{
	pid_t c = fork();
	if (c < 0)
		ct_fatal("fork");
	if (c == 0) {
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		char x = *p;
		(void)x;
		_exit(0);
	}
	int st;
	if (waitpid(c, &st, 0) != c)
		ct_fatal("waitpid");
	return WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}

static const char *sig(int s)
{
	return s == SIGBUS ? "SIGBUS" : s == SIGSEGV ? "SIGSEGV" : s == 0 ? "none" : "other";
}

/* A segment of `pages` pages, page i filled with 'A' + i (+ `base`). */
static int segment(int pages, char base, char **at)
{
	int id = T_ID(shmget(IPC_PRIVATE, pages * ct_page, IPC_CREAT | 0600));
	char *p = T_AT(shmat(id, NULL, 0));
	for (int i = 0; i < pages; i++)
		memset(p + i * ct_page, base + i, ct_page);
	*at = p;
	return id;
}

static void show_pages(const char *label, const char *p, int pages)
{
	printf("%s:", label);
	for (int i = 0; i < pages; i++)
		printf(" %c", p[i * ct_page]);
	printf("\n");
}

/* A free range of `pages` pages followed by an unmapped guard. */
static char *free_range(int pages)
{
	char *p = mmap(NULL, (pages + 1) * ct_page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		ct_fatal("mmap");
	munmap(p, (pages + 1) * ct_page);
	return p;
}

static void remap_file_pages_cases(void)
{
	printf("== remap_file_pages\n");
	char *next_seg;
	/* Made first, so that in a box its data lies right after the one below. */
	char *a;
	int id = segment(3, 'A', &a);
	int next_id = segment(2, 'X', &next_seg);
	char *b = T_AT(shmat(id, NULL, SHM_RDONLY));
	T_INT(remap_file_pages(a, ct_page, 0, 2, 0));
	show_pages("a after page 0 <- 2", a, 3);
	show_pages("b", b, 3);
	T_INT(remap_file_pages(a, ct_page, 0, 0, 0));
	show_pages("a after page 0 <- 0", a, 3);
	T_INT(syscall(SYS_remap_file_pages, a + ct_page, ct_page, 0, 2, 0));
	show_pages("a after syscall page 1 <- 2", a, 3);
	T_INT(remap_file_pages(a, 3 * ct_page, 0, 0, 0));
	show_pages("a whole <- 0", a, 3);
	printf("nattch %ld\n", ct_nattch(id));

	T_INT(remap_file_pages(a, ct_page, PROT_READ, 0, 0));
	T_INT(remap_file_pages(a, 0, 0, 0, 0));
	T_INT(remap_file_pages(a, ct_page, 0, ~0UL, 0));
	T_INT(remap_file_pages(a, 4 * ct_page, 0, 0, 0));
	T_INT(remap_file_pages(a + ct_page + 1, ct_page, 0, 0, MAP_NONBLOCK));
	show_pages("a after unaligned page 1 <- 0", a, 3);
	T_INT(remap_file_pages(a + ct_page, ct_page, 0, 1, MAP_PRIVATE | MAP_FIXED));
	show_pages("a after flags ignored", a, 3);
	char *anon = mmap(NULL, ct_page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	T_INT(remap_file_pages(anon, ct_page, 0, 0, 0));
	munmap(anon, ct_page);
	char *hole = free_range(1);
	T_INT(remap_file_pages(hole, ct_page, 0, 0, 0));

	printf("-- past the segment\n");
	for (unsigned long off = 3; off <= 5; off++) {
		T_INT(remap_file_pages(a + 2 * ct_page, ct_page, 0, off, 0));
		printf("page offset %lu: touching it raises %s\n", off, sig(touch(a + 2 * ct_page)));
	}
	T_INT(remap_file_pages(a + ct_page, 2 * ct_page, 0, 2, 0));
	printf("pages 1-2 <- 2-3: page 1 %c, page 2 raises %s\n", a[ct_page], sig(touch(a + 2 * ct_page)));
	show_pages("the next segment", next_seg, 2);

	printf("-- shmdt after a remap of the first page\n");
	T_INT(remap_file_pages(a, 3 * ct_page, 0, 0, 0));
	T_INT(remap_file_pages(a, ct_page, 0, 1, 0));
	T_INT(shmdt(a));
	printf("page 0 after shmdt: %s, page 1: %s\n", sig(touch(a)), sig(touch(a + ct_page)));
	munmap(a, ct_page);
	T_INT(shmdt(b));
	printf("nattch %ld\n", ct_nattch(id));

	printf("-- a removed segment\n");
	T_INT(shmctl(id, IPC_RMID, NULL));
	id = segment(2, 'A', &a);
	T_INT(shmctl(id, IPC_RMID, NULL));
	T_INT(remap_file_pages(a + ct_page, ct_page, 0, 0, 0));
	show_pages("a after page 1 <- 0", a, 2);
	T_INT(remap_file_pages(a, 2 * ct_page, 0, 0, 0));
	struct shmid_ds ds;
	T_INT(shmctl(id, IPC_STAT, &ds));
	printf("touching it raises %s\n", sig(touch(a)));
	/* A program that loops until the call fails ends. */
	int rounds = 0;
	while (remap_file_pages(a, ct_page, 0, 0, 0) == 0 && rounds < 100)
		rounds++;
	printf("loop ended after %d rounds\n", rounds);

	id = segment(2, 'A', &a);
	b = T_AT(shmat(id, NULL, 0));
	T_INT(shmctl(id, IPC_RMID, NULL));
	T_INT(remap_file_pages(a, 2 * ct_page, 0, 0, 0));
	printf("nattch %ld\n", ct_nattch(id));
	T_INT(shmdt(a));
	T_INT(shmdt(b));
	T_INT(shmctl(id, IPC_STAT, &ds));
	T_INT(shmdt(next_seg));
	T_INT(shmctl(next_id, IPC_RMID, NULL));
}

static void mremap_cases(void)
{
	printf("== mremap\n");
	char *a, *next_seg;
	int id = segment(2, 'A', &a);
	int next_id = segment(2, 'X', &next_seg);
	char *n = T_AT(mremap(a, 2 * ct_page, 6 * ct_page, MREMAP_MAYMOVE));
	show_pages("grown", n, 2);
	printf("nattch %ld; page 2 raises %s, page 5 raises %s\n", ct_nattch(id), sig(touch(n + 2 * ct_page)),
	       sig(touch(n + 5 * ct_page)));
	T_INT(shmdt(a));
	char *d = T_AT(mremap(n, 0, 2 * ct_page, MREMAP_MAYMOVE));
	show_pages("duplicate", d, 2);
	printf("nattch %ld\n", ct_nattch(id));
	T_AT(mremap(n, 0, 2 * ct_page, 0));
	T_AT((void *)syscall(SYS_mremap, n, 6 * ct_page, ct_page, 0, 0));
	printf("nattch %ld\n", ct_nattch(id));
	T_INT(shmdt(n));
	printf("after shmdt: %s\n", sig(touch(n)));
	T_INT(shmdt(d));
	printf("nattch %ld\n", ct_nattch(id));

	printf("-- moved onto a fixed address\n");
	a = T_AT(shmat(id, NULL, 0));
	char *target = free_range(3);
	char *m = T_AT(mremap(a, 2 * ct_page, 2 * ct_page, MREMAP_MAYMOVE | MREMAP_FIXED, target));
	printf("at the target: %s\n", yes(m == target));
	show_pages("moved", m, 2);
	T_INT(shmdt(a));
	printf("nattch %ld\n", ct_nattch(id));
	printf("-- grown in place\n");
	char *g = T_AT(mremap(m, 2 * ct_page, 3 * ct_page, 0));
	printf("in place: %s; page 1 %c; page 2 raises %s\n", yes(g == m), m[ct_page], sig(touch(m + 2 * ct_page)));
	char *blocker = mmap(m + 3 * ct_page, ct_page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (blocker == MAP_FAILED)
		ct_fatal("mmap blocker");
	T_AT(mremap(m, 3 * ct_page, 5 * ct_page, 0));
	printf("page 1 still %c; page 3 raises %s\n", m[ct_page], sig(touch(m + 3 * ct_page)));
	g = T_AT(mremap(m, 3 * ct_page, 5 * ct_page, MREMAP_MAYMOVE));
	printf("moved: %s; page 0 %c\n", yes(g != m), g[0]);
	munmap(blocker, ct_page);
	T_INT(shmdt(g));
	printf("nattch %ld\n", ct_nattch(id));

	printf("-- MREMAP_DONTUNMAP\n");
	a = T_AT(shmat(id, NULL, 0));
	T_AT(mremap(a, 2 * ct_page, 3 * ct_page, MREMAP_MAYMOVE | MREMAP_DONTUNMAP));
	char *c = T_AT(mremap(a, 2 * ct_page, 2 * ct_page, MREMAP_MAYMOVE | MREMAP_DONTUNMAP));
	show_pages("copy", c, 2);
	show_pages("original", a, 2);
	printf("nattch %ld\n", ct_nattch(id));
	T_INT(shmdt(c));
	printf("nattch %ld\n", ct_nattch(id));

	printf("-- a part grown\n");
	char *p = T_AT(mremap(a + ct_page, ct_page, 3 * ct_page, MREMAP_MAYMOVE));
	printf("page 0 %c; page 1 raises %s; page 2 raises %s\n", p[0], sig(touch(p + ct_page)), sig(touch(p + 2 * ct_page)));
	show_pages("the next segment", next_seg, 2);
	T_INT(shmdt(a));
	munmap(p, 3 * ct_page);
	T_INT(shmctl(id, IPC_RMID, NULL));
	T_INT(shmdt(next_seg));
	T_INT(shmctl(next_id, IPC_RMID, NULL));
}

static void madvise_cases(void)
{
	printf("== madvise(MADV_REMOVE)\n");
	char *a, *next_seg;
	int id = segment(3, 'A', &a);
	int next_id = segment(1, 'X', &next_seg);
	char *b = T_AT(shmat(id, NULL, 0));
	char *r = T_AT(shmat(id, NULL, SHM_RDONLY));
	T_INT(madvise(a + ct_page, 2 * ct_page, MADV_REMOVE));
	printf("a: %c %d %d; b: %c %d %d\n", a[0], a[ct_page], a[2 * ct_page], b[0], b[ct_page], b[2 * ct_page]);
	T_INT(madvise(r, ct_page, MADV_REMOVE));
	printf("page 0 still %c\n", b[0]);
	show_pages("the next segment", next_seg, 1);
	T_INT(shmctl(id, IPC_RMID, NULL));
	T_INT(shmctl(next_id, IPC_RMID, NULL));
}

int main(void)
{
	ct_init();
	remap_file_pages_cases();
	mremap_cases();
	madvise_cases();
	return 0;
}
