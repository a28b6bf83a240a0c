/*
 * shm_preload_fakes.c - another preload library that fakes uids, gids and
 * time and blocks /proc opens (libfakeids.so) must not change what the IPC
 * namespace sees: segments are owned by the real effective ids, times are
 * real, and attach counts stay exact across fork and SIGKILL (which need
 * /proc for process identity inside a box).
 * The program re-executes itself with libfakeids.so appended to LD_PRELOAD.
 */
#include "common.h"

static long real_now(void)
{
	struct timespec ts;
	syscall(SYS_clock_gettime, CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

int main(int argc, char **argv)
{
	if (!getenv("FAKEIDS_ACTIVE")) {
		char lib[4096], self[4096];
		ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
		if (n < 0)
			ct_fatal("readlink");
		self[n] = 0;
		snprintf(lib, sizeof lib, "%.*s/libfakeids.so", (int)(strrchr(self, '/') - self), self);
		const char *old = getenv("LD_PRELOAD");
		char preload[8192];
		snprintf(preload, sizeof preload, "%s%s%s", old ? old : "", old ? ":" : "", lib);
		setenv("LD_PRELOAD", preload, 1);
		setenv("FAKEIDS_ACTIVE", "1", 1);
		execv(self, argv);
		ct_fatal("execv");
	}
	(void)argc;
	ct_init();
	printf("libc says euid=%d egid=%d time=%ld\n", (int)geteuid(), (int)getegid(), (long)time(NULL));
	long t0 = real_now();
	int id = T_ID(shmget(0x4242, 8192, IPC_CREAT | IPC_EXCL | 0600));
	struct shmid_ds ds;
	T_INT(shmctl(id, IPC_STAT, &ds));
	printf("uid is real euid: %s, gid is real egid: %s\n", yes(ds.shm_perm.uid == (uid_t)syscall(SYS_geteuid)),
	       yes(ds.shm_perm.gid == (gid_t)syscall(SYS_getegid)));
	printf("ctime is real time: %s\n", yes(ds.shm_ctime >= t0 && ds.shm_ctime <= real_now() + 1));
	char *p = shmat(id, NULL, 0);
	if (p == (void *)-1)
		ct_fatal("shmat");
	int fds[2];
	if (pipe(fds))
		ct_fatal("pipe");
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		close(fds[0]);
		strcpy(p, "from child");
		if (write(fds[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	char b;
	if (read(fds[0], &b, 1) != 1)
		ct_fatal("read");
	T_INT(shmctl(id, IPC_STAT, &ds));
	printf("with child: nattch=%lu data=%s\n", (unsigned long)ds.shm_nattch, p);
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
	T_INT(shmctl(id, IPC_STAT, &ds));
	printf("after SIGKILL: nattch=%lu\n", (unsigned long)ds.shm_nattch);
	T_INT(shmdt(p));
	T_INT(shmctl(id, IPC_RMID, NULL));
	return 0;
}
