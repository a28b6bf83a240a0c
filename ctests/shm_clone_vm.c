/*
 * shm_clone_vm.c - attachments belong to the address space (mm), not to
 * the process that made them:
 *   - a clone(CLONE_VM) child (a separate process sharing the parent's
 *     memory, no CLONE_THREAD) attaches a segment and exits: the attach
 *     stays (nattch unchanged by the exit), the parent reads through the
 *     child's address and shmdt's it
 *   - a clone(CLONE_VM) child detaches an attach the parent made: the
 *     parent's mapping is gone
 *   - a thread attaches, then exits: the attach stays
 * (A vfork() child calling shmat is left out: only _exit/exec are defined
 * in a vfork child.)
 */
#include "common.h"
#include <pthread.h>
#include <sched.h>

static int seg;
static char *child_addr;
static int child_err;

static int attach_fn(void *arg)
{
	(void)arg;
	child_addr = shmat(seg, NULL, 0);
	if (child_addr == (void *)-1)
		child_err = errno;
	else
		strcpy(child_addr, "written by clone child");
	return 0;
}

static char *to_detach;
static int detach_rc;

static int detach_fn(void *arg)
{
	(void)arg;
	detach_rc = shmdt(to_detach);
	return 0;
}

static const char *mapped(void *p)
{
	return msync(p, ct_page, MS_ASYNC) == 0 ? "mapped" : (errno == ENOMEM ? "unmapped" : "?");
}

static pid_t clone_vm(int (*fn)(void *), const char *name)
{
	static char stack[2][64 * 1024] __attribute__((aligned(16)));
	static int n;
	fflush(stdout);
	pid_t c = clone(fn, stack[n++ % 2] + sizeof stack[0], CLONE_VM | SIGCHLD, NULL);
	if (c < 0)
		ct_fatal("clone");
	ct_pid_register(c, name);
	return c;
}

static void *thread_fn(void *arg)
{
	(void)arg;
	return shmat(seg, NULL, 0);
}

int main(void)
{
	ct_init();
	seg = T_ID(shmget(IPC_PRIVATE, ct_page, IPC_CREAT | 0600));

	printf("== clone(CLONE_VM) child attaches and exits\n");
	ct_mark();
	pid_t c = clone_vm(attach_fn, "clonechild");
	ct_wait(c);
	printf("child attached: %s\n", child_addr == (void *)-1 ? ct_errname(child_err) : "yes");
	ct_stat("after clone child exit", seg);
	printf("parent reads through child's address: %s\n", child_addr);
	ct_mark();
	T_INT(shmdt(child_addr));
	ct_stat("after parent shmdt", seg);

	printf("== clone(CLONE_VM) child detaches the parent's attach\n");
	to_detach = T_AT(shmat(seg, NULL, 0));
	c = clone_vm(detach_fn, "clonechild2");
	ct_wait(c);
	printf("child shmdt returned %d\n", detach_rc);
	printf("parent's address now: %s, nattch=%ld\n", mapped(to_detach), ct_nattch(seg));
	T_INT(shmdt(to_detach));

	printf("== thread attaches and exits\n");
	pthread_t th;
	void *tp;
	pthread_create(&th, NULL, thread_fn, NULL);
	pthread_join(th, &tp);
	printf("nattch after thread exit: %ld, address %s\n", ct_nattch(seg), mapped(tp));
	T_INT(shmdt(tp));
	printf("nattch=%ld\n", ct_nattch(seg));
	return 0;
}
