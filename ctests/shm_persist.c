/*
 * shm_persist.c - segments outlive their creator:
 *   - a child creates a keyed segment, writes, detaches nothing, exits;
 *     the parent finds it by key and reads the data; cpid/lpid name the
 *     dead child, nattch is 0
 *   - a grandchild creates a segment and both generations exit
 *   - a child creates an IPC_PRIVATE segment and passes only the id
 *     through a pipe; the parent attaches by id
 *   - a child that execs (this binary with --create) creates the segment
 *     in the new image
 *   - a process that attaches, writes and exits without shmdt: the data
 *     stays for the next attacher
 */
#include "common.h"

#define K1 0x6001
#define K2 0x6002
#define K3 0x6003

static int create_mode(const char *msg)
{
	ct_init();
	int id = shmget(K3, ct_page, IPC_CREAT | IPC_EXCL | 0644);
	if (id < 0) {
		printf("exec'd creator: shmget failed %s\n", ct_errname(errno));
		return 1;
	}
	char *p = shmat(id, NULL, 0);
	strcpy(p, msg);
	printf("exec'd creator: created and wrote\n");
	return 0; /* exit without shmdt */
}

int main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[1], "--create") == 0)
		return create_mode(argv[2]);
	ct_init();
	pid_t c;
	struct ct_chan ch = ct_chan();

	printf("== keyed segment created by a child\n");
	if ((c = ct_fork("child1")) == 0) {
		int id = T_ID(shmget(K1, ct_page, IPC_CREAT | IPC_EXCL | 0600));
		char *p = T_AT(shmat(id, NULL, 0));
		strcpy(p, "made by child1");
		ct_child_exit(0);
	}
	ct_wait(c);
	int id = T_ID(shmget(K1, 0, 0));
	ct_stat("found", id);
	char *p = T_AT(shmat(id, NULL, 0));
	printf("reads: %s\n", p);
	T_INT(shmdt(p));

	printf("== created by a grandchild\n");
	if ((c = ct_fork("child2")) == 0) {
		pid_t g = ct_fork("grandchild");
		if (g == 0) {
			int gid = T_ID(shmget(K2, 3 * ct_page, IPC_CREAT | IPC_EXCL | 0666));
			char *gp = shmat(gid, NULL, 0);
			strcpy(gp + 2 * ct_page, "made by grandchild");
			ct_child_exit(0);
		}
		ct_wait(g);
		if (write(ch.wr, &g, sizeof g) != sizeof g)
			ct_fatal("write");
		ct_child_exit(0);
	}
	ct_wait(c);
	{
		pid_t g;
		if (read(ch.rd, &g, sizeof g) != sizeof g)
			ct_fatal("read");
		ct_pid_register(g, "grandchild");
	}
	id = T_ID(shmget(K2, 0, 0));
	ct_stat("found", id);
	p = T_AT(shmat(id, NULL, SHM_RDONLY));
	printf("reads: %s\n", p + 2 * ct_page);
	T_INT(shmdt(p));

	printf("== IPC_PRIVATE segment, id passed through a pipe\n");
	if ((c = ct_fork("child3")) == 0) {
		int pid_ = T_ID(shmget(IPC_PRIVATE, ct_page, IPC_CREAT | 0600));
		char *pp = shmat(pid_, NULL, 0);
		strcpy(pp, "private from child3");
		shmdt(pp);
		if (write(ch.wr, &pid_, sizeof pid_) != sizeof pid_)
			ct_fatal("write");
		ct_child_exit(0);
	}
	ct_wait(c);
	if (read(ch.rd, &id, sizeof id) != sizeof id)
		ct_fatal("read");
	printf("received %s\n", idn(id));
	ct_stat("private", id);
	p = T_AT(shmat(id, NULL, 0));
	printf("reads: %s\n", p);
	T_INT(shmdt(p));

	printf("== created after exec\n");
	if ((c = ct_fork("child4")) == 0) {
		fflush(stdout);
		execl("/proc/self/exe", argv[0], "--create", "made after exec", (char *)NULL);
		ct_fatal("execl");
	}
	ct_wait(c);
	id = T_ID(shmget(K3, 0, 0));
	ct_stat("found", id);
	p = T_AT(shmat(id, NULL, 0));
	printf("reads: %s\n", p);
	T_INT(shmdt(p));
	return 0;
}
