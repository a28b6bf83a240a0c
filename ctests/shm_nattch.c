/*
 * shm_nattch.c - exact shm_nattch, shm_lpid, shm_cpid, shm_atime,
 * shm_dtime (and unchanged shm_ctime) through a segment's life:
 *   - creation: nattch 0, lpid 0, atime 0, dtime 0, cpid creator
 *   - shmat: +1, lpid = attacher, atime updated
 *   - second attach in the same process: +1; shmdt: -1, dtime updated
 *   - fork: the child inherits the attach; the parent sees +1 as soon as
 *     fork() returns (lpid = the parent, atime updated); the child sees
 *     the same count
 *   - child exit: -1, lpid = the exiting child, dtime updated
 *   - child exec: its attachments are dropped; the exec'd image (this
 *     binary with --report) observes the count WITHOUT its pre-exec
 *     attachments, lpid = itself
 *   - child killed by SIGKILL while attached: after waitpid the parent
 *     sees its attachments dropped, lpid = the killed child
 *   - a child shmdt'ing its inherited attach then exiting
 *   - IPC_STAT itself changes nothing
 * Times are printed as "M<k>": happened between mark k and mark k+1.
 */
#include "common.h"

#define KEY 0x7a7a

/* exec'd mode: argv = --report id mainpid selfname nmarks marks... */
static int report(int argc, char **argv)
{
	ct_init();
	if (argc < 6)
		return 2;
	int id = atoi(argv[2]);
	ct_pid_register(atoi(argv[3]), "main");
	ct_pid_register(getpid(), argv[4]);
	ct_nmarks = atoi(argv[5]);
	for (int i = 0; i < ct_nmarks && 6 + i < argc; i++)
		ct_marks[i] = atol(argv[6 + i]);
	idn(id); /* it is id1 in the parent too */
	ct_stat("exec'd image", id);
	char *p = shmat(id, NULL, SHM_RDONLY);
	printf("exec'd image attached again, reads: %s\n", p == (void *)-1 ? "(failed)" : p);
	ct_stat("exec'd image", id);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--report") == 0)
		return report(argc, argv);
	ct_init();
	pid_t c;
	struct ct_chan go = ct_chan(), done = ct_chan();

	ct_mark();
	int id = T_ID(shmget(KEY, ct_page, IPC_CREAT | 0600));
	ct_stat("created", id);
	ct_stat("stat again", id);

	ct_mark();
	char *p = T_AT(shmat(id, NULL, 0));
	strcpy(p, "shared");
	ct_stat("attached", id);

	ct_mark();
	char *q = T_AT(shmat(id, NULL, SHM_RDONLY));
	ct_stat("attached twice", id);
	ct_mark();
	T_INT(shmdt(q));
	ct_stat("detached one", id);

	printf("== fork\n");
	ct_mark();
	if ((c = ct_fork("child1")) == 0) {
		ct_waitfor(go);
		ct_stat("child1 sees", id);
		ct_post(done);
		ct_waitfor(go);
		ct_child_exit(0);
	}
	ct_stat("right after fork", id);
	ct_post(go);
	ct_waitfor(done);
	ct_mark();
	ct_post(go); /* child1 exits */
	ct_wait(c);
	ct_stat("after child1 exit", id);

	printf("== exec\n");
	ct_mark();
	if ((c = ct_fork("child2")) == 0) {
		char *own = shmat(id, NULL, 0);
		ct_stat("child2 before exec", id);
		(void)own;
		char *args[64];
		char bufs[40][32];
		int n = 0;
		args[n++] = argv[0];
		args[n++] = "--report";
		snprintf(bufs[0], 32, "%d", id);
		args[n++] = bufs[0];
		snprintf(bufs[1], 32, "%d", (int)getppid());
		args[n++] = bufs[1];
		args[n++] = "child2";
		snprintf(bufs[2], 32, "%d", ct_nmarks);
		args[n++] = bufs[2];
		for (int i = 0; i < ct_nmarks; i++) {
			snprintf(bufs[3 + i], 32, "%ld", (long)ct_marks[i]);
			args[n++] = bufs[3 + i];
		}
		args[n] = NULL;
		fflush(stdout);
		execv("/proc/self/exe", args);
		ct_fatal("execv");
	}
	ct_wait(c);
	ct_stat("after child2 exit", id);

	printf("== SIGKILL while attached\n");
	ct_mark();
	if ((c = ct_fork("child3")) == 0) {
		char *own = shmat(id, NULL, 0);
		own[100] = 'k';
		ct_stat("child3 attached", id);
		ct_post(done);
		for (;;)
			pause();
	}
	ct_waitfor(done);
	ct_stat("child3 alive", id);
	ct_mark();
	kill(c, SIGKILL);
	ct_wait(c);
	ct_stat("after SIGKILL", id);
	printf("data written by child3: %c\n", p[100]);

	printf("== child detaches its inherited attach, then exits\n");
	ct_mark();
	if ((c = ct_fork("child4")) == 0) {
		T_INT(shmdt(p));
		ct_stat("child4 detached", id);
		ct_post(done);
		ct_waitfor(go);
		ct_child_exit(0);
	}
	ct_waitfor(done);
	ct_mark();
	ct_post(go);
	ct_wait(c);
	ct_stat("after child4 exit", id);

	printf("== last detach\n");
	ct_mark();
	T_INT(shmdt(p));
	ct_stat("all detached", id);
	return 0;
}
