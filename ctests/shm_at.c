/*
 * shm_at.c - shmat(2) basics and memory sharing:
 *   - a fresh segment reads as zeroes; the address is page aligned
 *   - two attaches in one process alias the same memory at different
 *     addresses
 *   - a forked child (inherited attach) writes, the parent reads the data
 *     after waitpid
 *   - a child with its own attach writes, the parent reads while the child
 *     is still alive, and the child sees the parent's reply
 *   - two children attached concurrently ping-pong through the segment
 *     (pipes only for the handshake)
 *   - data survives when nobody is attached (detach all, re-attach)
 *   - SHM_RDONLY: reading works, writing kills the process with SIGSEGV,
 *     mprotect(PROT_WRITE) on it fails with EACCES
 *   - invalid ids: -1, INT_MAX, a removed id, an id never handed out
 */
#include "common.h"
#include <limits.h>

static int all_zero(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

int main(void)
{
	ct_init();
	pid_t c, c2;
	size_t sz = 2 * ct_page;

	int id = T_ID(shmget(IPC_PRIVATE, sz, IPC_CREAT | 0600));
	char *p = T_AT(shmat(id, NULL, 0));
	if (p == (void *)-1)
		return 1;
	printf("fresh segment all zero: %s\n", yes(all_zero(p, sz)));
	strcpy(p, "parent-hello");

	printf("== second attach in the same process\n");
	char *q = T_AT(shmat(id, NULL, 0));
	printf("different address: %s\n", yes(q != p));
	printf("q sees: %s\n", q);
	strcpy(q + 64, "via-q");
	printf("p sees: %s\n", p + 64);
	T_INT(shmdt(q));

	printf("== inherited attach: child writes, parent reads after waitpid\n");
	if ((c = ct_fork("child1")) == 0) {
		printf("child1 sees: %s\n", p);
		strcpy(p + 100, "child1-was-here");
		p[sz - 1] = 'Z';
		ct_child_exit(0);
	}
	ct_wait(c);
	printf("parent sees: %s, last byte %c\n", p + 100, p[sz - 1]);

	printf("== own attach in a live child\n");
	struct ct_chan to_parent = ct_chan(), to_child = ct_chan();
	if ((c = ct_fork("child2")) == 0) {
		char *r = T_AT(shmat(id, NULL, 0));
		strcpy(r + 200, "child2-live");
		ct_post(to_parent);
		ct_waitfor(to_child);
		printf("child2 sees reply: %s\n", r + 300);
		ct_child_exit(0);
	}
	ct_waitfor(to_parent);
	printf("parent sees while child2 alive: %s\n", p + 200);
	strcpy(p + 300, "parent-reply");
	ct_post(to_child);
	ct_wait(c);

	printf("== two children attached concurrently\n");
	struct ct_chan a2b = ct_chan(), b2a = ct_chan(), ready = ct_chan();
	if ((c = ct_fork("childA")) == 0) {
		char *r = shmat(id, NULL, 0);
		ct_waitfor(ready); /* B is attached */
		strcpy(r + 400, "ping");
		printf("childA wrote ping\n");
		ct_post(a2b);
		ct_waitfor(b2a);
		printf("childA sees: %s\n", r + 500);
		ct_child_exit(0);
	}
	if ((c2 = ct_fork("childB")) == 0) {
		char *r = shmat(id, NULL, 0);
		ct_post(ready);
		ct_waitfor(a2b);
		printf("childB sees: %s\n", r + 400);
		strcpy(r + 500, "pong");
		ct_post(b2a);
		ct_child_exit(0);
	}
	ct_wait(c);
	ct_wait(c2);

	printf("== data survives with no attachment\n");
	T_INT(shmdt(p));
	printf("nattch=%ld\n", ct_nattch(id));
	p = T_AT(shmat(id, NULL, 0));
	printf("after re-attach: %s / %s / %s / %s / %s\n", p, p + 100, p + 200, p + 400, p + 500);

	printf("== SHM_RDONLY\n");
	char *ro = T_AT(shmat(id, NULL, SHM_RDONLY));
	printf("read through read-only attach: %s\n", ro);
	T_INT(mprotect(ro, ct_page, PROT_READ | PROT_WRITE));
	T_INT(mprotect(ro, ct_page, PROT_READ));
	if ((c = ct_fork("rdonly-writer")) == 0) {
		printf("rdonly-writer: writing\n");
		fflush(stdout);
		ro[0] = 'X';
		printf("rdonly-writer: write did not fault\n");
		ct_child_exit(0);
	}
	ct_wait(c);
	printf("first byte unchanged: %s\n", yes(p[0] == 'p'));
	T_INT(shmdt(ro));

	printf("== invalid ids\n");
	T_AT(shmat(-1, NULL, 0));
	T_AT(shmat(INT_MIN, NULL, 0));
	T_AT(shmat(INT_MAX, NULL, 0));
	T_AT(shmat(12345678, NULL, 0));
	int gone = T_ID(shmget(IPC_PRIVATE, ct_page, IPC_CREAT | 0600));
	T_INT(shmctl(gone, IPC_RMID, NULL));
	T_AT(shmat(gone, NULL, 0));
	T_AT(shmat(gone, NULL, SHM_RDONLY));
	T_INT(shmdt(p));
	return 0;
}
