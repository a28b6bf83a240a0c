/*
 * shm_reach_cleanenv.c - a process of the box that was exec'd with an
 * EMPTY environment (like `env -i prog`, or a daemon that scrubs its
 * environment) still reaches the box's namespace: it finds the keyed
 * segment created by its parent and writes into it.  Variants:
 *   - execve() with envp = { NULL }
 *   - execve() with an environment that has only PATH=/usr/bin:/bin
 *   - clearenv() then /bin/sh -c "exec prog" (the shell builds a new env)
 * Kept apart from shm_reach.c because an LD_PRELOAD-based box loses
 * its hook when the environment is dropped.
 */
#include "common.h"

#define KEY 0x5252

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
	snprintf(p + 64 * (1 + (tag[0] - 'a')), 64, "ack-%s", tag);
	return 0;
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
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n < 0)
		ct_fatal("readlink");
	self[n] = 0;

	int id = T_ID(shmget(KEY, ct_page, IPC_CREAT | IPC_EXCL | 0666));
	char *p = T_AT(shmat(id, NULL, 0));
	strcpy(p, "hello clean env");

	printf("== execve with an empty environment\n");
	if ((c = ct_fork("child-a")) == 0) {
		char *args[] = { "shm_reach_cleanenv", "--find", "a", NULL };
		char *envp[] = { NULL };
		fflush(stdout);
		execve(self, args, envp);
		ct_fatal("execve");
	}
	ct_wait(c);
	show_ack(p, 'a');

	printf("== execve with only PATH\n");
	if ((c = ct_fork("child-b")) == 0) {
		char *args[] = { "shm_reach_cleanenv", "--find", "b", NULL };
		char *envp[] = { "PATH=/usr/bin:/bin", NULL };
		fflush(stdout);
		execve(self, args, envp);
		ct_fatal("execve");
	}
	ct_wait(c);
	show_ack(p, 'b');

	printf("== clearenv, then /bin/sh -c exec\n");
	if ((c = ct_fork("child-c")) == 0) {
		char cmd[4200];
		snprintf(cmd, sizeof cmd, "exec '%s' --find c", self);
		clearenv();
		fflush(stdout);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		ct_fatal("execl");
	}
	ct_wait(c);
	show_ack(p, 'c');
	ct_stat("final", id);
	return 0;
}
