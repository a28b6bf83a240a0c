/*
 * shm_reach.c - every process of the box reaches the same namespace:
 *   (a) a child closes every fd from 3 to 1023 with close(), then execs
 *       this binary (--find), which finds the keyed segment and reads it
 *   (a') the same without exec: close all fds, then use the API directly
 *   (b) the same with close_range(3, ~0U, 0), with and without exec
 *   (b') close_range(3, ~0U, CLOSE_RANGE_CLOEXEC), then exec
 *   (c) a daemon: double fork, setsid, the grandchild is reparented,
 *       chdir("/"), closes its fds, then attaches by key and writes
 *   (d) a child that drops root (uid/gid 65534, no groups) still uses the
 *       segment (mode 0666) and creates its own
 *   (e) exec through /bin/sh -c "exec ..."
 *   (f) posix_spawn (vfork-style clone) of this binary
 *   (g) a thread attaches, the main thread reads and detaches it
 * The finder processes write an acknowledgement into the segment, which
 * the main process prints after waiting for them.
 */
#include "common.h"
#include <pthread.h>
#include <spawn.h>

#define KEY 0x5151

extern char **environ;

static int find_mode(const char *tag)
{
	ct_init();
	int id = shmget(KEY, 0, 0);
	if (id < 0) {
		printf("find(%s): shmget failed %s\n", tag, ct_errname(errno));
		return 1;
	}
	char *p = shmat(id, NULL, 0);
	if (p == (void *)-1) {
		printf("find(%s): shmat failed %s\n", tag, ct_errname(errno));
		return 1;
	}
	printf("find(%s): reads: %s\n", tag, p);
	/* ack slot per tag letter */
	snprintf(p + 64 * (1 + (tag[0] - 'a')), 64, "ack-%s", tag);
	struct shmid_ds ds;
	if (shmctl(id, IPC_STAT, &ds) == 0)
		printf("find(%s): nattch>=2: %s\n", tag, yes(ds.shm_nattch >= 2));
	return 0;
}

static void close_loop(void)
{
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
}

static void do_exec(const char *tag)
{
	fflush(stdout);
	execl("/proc/self/exe", "shm_reach", "--find", tag, (char *)NULL);
	ct_fatal("execl");
}

static void direct_use(const char *tag)
{
	int id = shmget(KEY, 0, 0);
	printf("%s: shmget by key: %s\n", tag, id < 0 ? ct_errname(errno) : idn(id));
	char *p = shmat(id, NULL, 0);
	printf("%s: reads: %s\n", tag, p == (void *)-1 ? ct_errname(errno) : p);
	int n = shmget(IPC_PRIVATE, ct_page, IPC_CREAT | 0600);
	printf("%s: new segment: %s\n", tag, n < 0 ? ct_errname(errno) : "ok");
	printf("%s: IPC_RMID it: %s\n", tag, shmctl(n, IPC_RMID, NULL) == 0 ? "ok" : ct_errname(errno));
	printf("%s: shmdt: %s\n", tag, shmdt(p) == 0 ? "ok" : ct_errname(errno));
}

static void *thread_fn(void *arg)
{
	int id = *(int *)arg;
	char *p = shmat(id, NULL, 0);
	if (p != (void *)-1)
		strcpy(p + 64 * 9, "ack-thread");
	return p;
}

static void show_ack(char *p, char tag)
{
	printf("ack %c: %s\n", tag, p[64 * (1 + (tag - 'a'))] ? p + 64 * (1 + (tag - 'a')) : "(none)");
}

int main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[1], "--find") == 0)
		return find_mode(argv[2]);
	ct_init();
	pid_t c;
	int id = T_ID(shmget(KEY, ct_page, IPC_CREAT | IPC_EXCL | 0666));
	char *p = T_AT(shmat(id, NULL, 0));
	strcpy(p, "hello box");

	printf("== (a) close() loop, then exec\n");
	if ((c = ct_fork("child-a")) == 0) {
		close_loop();
		do_exec("a");
	}
	ct_wait(c);
	show_ack(p, 'a');

	printf("== (a') close() loop, no exec\n");
	if ((c = ct_fork("child-a2")) == 0) {
		close_loop();
		direct_use("child-a2");
		ct_child_exit(0);
	}
	ct_wait(c);

	printf("== (b) close_range, then exec\n");
	if ((c = ct_fork("child-b")) == 0) {
		if (close_range(3, ~0U, 0) != 0)
			ct_fatal("close_range");
		do_exec("b");
	}
	ct_wait(c);
	show_ack(p, 'b');
	if ((c = ct_fork("child-b2")) == 0) {
		if (close_range(3, ~0U, 0) != 0)
			ct_fatal("close_range");
		direct_use("child-b2");
		ct_child_exit(0);
	}
	ct_wait(c);

	printf("== (b') close_range CLOSE_RANGE_CLOEXEC, then exec\n");
	if ((c = ct_fork("child-c")) == 0) {
		if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
			ct_fatal("close_range");
		do_exec("c");
	}
	ct_wait(c);
	show_ack(p, 'c');

	printf("== (c) daemon (double fork)\n");
	{
		struct ct_chan ch = ct_chan();
		if ((c = ct_fork("child-d")) == 0) {
			pid_t parent = getpid();
			pid_t g = fork();
			if (g < 0)
				ct_fatal("fork");
			if (g == 0) {
				setsid();
				while (getppid() == parent)
					usleep(1000);
				printf("daemon: reparented away from child-d: %s\n",
				       yes(getppid() != parent));
				if (chdir("/") != 0)
					ct_fatal("chdir");
				umask(0);
				for (int fd = 3; fd < 1024; fd++)
					if (fd != ch.wr)
						close(fd);
				int did = shmget(KEY, 0, 0);
				char *dp = shmat(did, NULL, 0);
				if (dp == (void *)-1) {
					printf("daemon: shmat failed %s\n", ct_errname(errno));
				} else {
					printf("daemon: reads: %s\n", dp);
					strcpy(dp + 64 * 4, "ack-daemon");
				}
				ct_post(ch);
				ct_child_exit(0);
			}
			ct_child_exit(0);
		}
		/* the daemon prints after child-d is gone: print child-d's
		 * status only after the daemon has finished */
		int st;
		if (waitpid(c, &st, 0) != c)
			ct_fatal("waitpid");
		close(ch.wr);
		ct_waitfor(ch);
		printf("child-d: %s\n", ct_status_str(st));
		show_ack(p, 'd');
		close(ch.rd);
	}

	printf("== (d) child drops root\n");
	if ((c = ct_fork("child-e")) == 0) {
		if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
		    setresuid(NOBODY, NOBODY, NOBODY))
			ct_fatal("drop root");
		int eid = T_ID(shmget(KEY, 0, 0666));
		char *ep = T_AT(shmat(eid, NULL, 0));
		printf("child-e reads: %s\n", ep);
		strcpy(ep + 64 * 5, "ack-nobody");
		int own = T_ID(shmget(IPC_PRIVATE, ct_page, IPC_CREAT | 0600));
		ct_stat("own", own);
		T_INT(shmctl(own, IPC_RMID, NULL));
		T_INT(shmdt(ep));
		ct_child_exit(0);
	}
	ct_wait(c);
	show_ack(p, 'e');

	printf("== (e) exec through /bin/sh\n");
	if ((c = ct_fork("child-f")) == 0) {
		char cmd[4200];
		char self[4096];
		ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
		if (n < 0)
			ct_fatal("readlink");
		self[n] = 0;
		snprintf(cmd, sizeof cmd, "exec '%s' --find f", self);
		fflush(stdout);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		ct_fatal("execl sh");
	}
	ct_wait(c);
	show_ack(p, 'f');

	printf("== (f) posix_spawn\n");
	{
		char *args[] = { "shm_reach", "--find", "g", NULL };
		pid_t sp;
		fflush(stdout);
		int r = posix_spawn(&sp, "/proc/self/exe", NULL, NULL, args, environ);
		if (r != 0) {
			errno = r;
			ct_fatal("posix_spawn");
		}
		ct_pid_register(sp, "spawned");
		ct_wait(sp);
		show_ack(p, 'g');
	}

	printf("== (g) thread\n");
	{
		pthread_t th;
		void *tp;
		pthread_create(&th, NULL, thread_fn, &id);
		pthread_join(th, &tp);
		printf("thread attached: %s, nattch=%ld\n", yes(tp != (void *)-1), ct_nattch(id));
		printf("main thread reads through it: %s\n", (char *)tp + 64 * 9);
		T_INT(shmdt(tp));
		printf("nattch=%ld\n", ct_nattch(id));
	}
	ct_stat("final", id);
	return 0;
}
