/*
 * shm_rmid_forced.c - the kernel.shm_rmid_forced sysctl (Linux's
 * shm_may_destroy, shm_destroy_orphaned, exit_shm):
 *   - 0 (the default): a segment outlives its creator and its last detach
 *   - set to 1: segments nothing is attached to whose creator has ended are
 *     destroyed at once; those of a living creator stay
 *   - while 1: a detach that leaves no attachment destroys the segment,
 *     whoever created it
 *   - while 1: a creator's end (exit, or SIGKILL) destroys what it made that
 *     nothing is attached to; an attached one lives until its last detach
 *   - 2 and -1 are refused
 * Run as root in a fresh IPC namespace (or a box).
 */
#include "common.h"

static void set_forced(const char *text)
{
	int fd = open("/proc/sys/kernel/shm_rmid_forced", O_WRONLY | O_TRUNC);
	if (fd < 0)
		ct_fatal("open shm_rmid_forced");
	errno = 0;
	ssize_t n = write(fd, text, strlen(text));
	printf("shm_rmid_forced <- %s: %s\n", text, n < 0 ? ct_errname(errno) : "ok");
	close(fd);
}

static void exists(const char *name, int id)
{
	struct shmid_ds ds;
	int r = shmctl(id, IPC_STAT, &ds);
	printf("%s: %s\n", name, r == 0 ? "exists" : ct_errname(errno));
}

/* A child that creates a segment, sends its id, then exits or is killed. */
static int made_by_child(const char *name, int killed)
{
	int fds[2];
	if (pipe(fds) != 0)
		ct_fatal("pipe");
	pid_t p = ct_fork(name);
	if (p == 0) {
		int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
		if (write(fds[1], &id, sizeof id) != sizeof id)
			_exit(1);
		if (killed)
			raise(SIGKILL);
		ct_child_exit(0);
	}
	close(fds[1]);
	int id = -1;
	if (read(fds[0], &id, sizeof id) != sizeof id)
		ct_fatal("read");
	close(fds[0]);
	ct_wait(p);
	return id;
}

int main(void)
{
	ct_init();
	printf("== 0\n");
	int orphan = made_by_child("creator1", 0);
	exists("orphan", orphan);
	int own = T_ID(shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600));
	void *p = T_AT(shmat(own, NULL, 0));
	T_INT(shmdt(p));
	exists("own, detached", own);

	printf("== set to 1\n");
	set_forced("1");
	exists("orphan", orphan);
	exists("own, detached", own);
	p = T_AT(shmat(own, NULL, 0));
	T_INT(shmdt(p));
	exists("own, detached again", own);

	printf("== creators ending while 1\n");
	int made = made_by_child("creator2", 0);
	exists("made by an exited child", made);
	made = made_by_child("creator3", 1);
	exists("made by a killed child", made);

	int fds[2], back[2];
	if (pipe(fds) != 0 || pipe(back) != 0)
		ct_fatal("pipe");
	pid_t c = ct_fork("creator4");
	if (c == 0) {
		int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
		if (write(fds[1], &id, sizeof id) != sizeof id)
			_exit(1);
		char go;
		if (read(back[0], &go, 1) != 1)
			_exit(1);
		ct_child_exit(0);
	}
	int held = -1;
	if (read(fds[0], &held, sizeof held) != sizeof held)
		ct_fatal("read");
	p = T_AT(shmat(held, NULL, 0));
	if (write(back[1], "g", 1) != 1)
		ct_fatal("write");
	ct_wait(c);
	exists("attached, creator ended", held);
	T_INT(shmdt(p));
	exists("after the last detach", held);

	printf("== values refused\n");
	set_forced("2");
	set_forced("-1");
	set_forced("0");
	int kept = made_by_child("creator5", 0);
	exists("made while 0", kept);
	T_INT(shmctl(kept, IPC_RMID, NULL));
	return 0;
}
