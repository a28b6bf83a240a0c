/*
 * sem_exec_noshim.c - a process holding a SEM_UNDO adjustment runs a
 * program without the shim (a raw execve with an empty environment, as a
 * static binary would), which later exits:
 *   - while it runs, its adjustment is still pending and the others' calls
 *     work;
 *   - the moment its parent has reaped it, its adjustment is applied, as
 *     Linux applies it at exit: GETVAL shows it and a P that the dead
 *     process's unit would have allowed fails with EAGAIN.
 */
#include "common.h"
#include <sys/sem.h>

int main(void)
{
	ct_init();
	int sem = T_ID(semget(IPC_PRIVATE, 1, IPC_CREAT | 0600));
	int ready[2], go[2];
	if (pipe(ready) || pipe(go))
		ct_fatal("pipe");
	fflush(stdout);
	pid_t child = fork();
	if (child < 0)
		ct_fatal("fork");
	if (child == 0) {
		struct sembuf up = { 0, 1, SEM_UNDO };
		if (semop(sem, &up, 1))
			_exit(1);
		/* head reads one byte from `go` (our stdin), then exits. */
		dup2(go[0], 0);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		close(ready[0]);
		fcntl(ready[1], F_SETFD, FD_CLOEXEC);
		char *argv[] = { "head", "-c", "1", NULL }, *envp[] = { NULL };
		syscall(SYS_execve, "/usr/bin/head", argv, envp);
		_exit(2);
	}
	close(ready[1]);
	close(go[0]);
	char byte;
	if (read(ready[0], &byte, 1) != 0) /* EOF once the exec closed it */
		ct_fatal("exec");
	struct sembuf v = { 0, 1, 0 }, p = { 0, -1, 0 }, p_nowait = { 0, -1, IPC_NOWAIT };
	T_INT(semctl(sem, 0, GETVAL));
	T_INT(semop(sem, &v, 1));
	T_INT(semop(sem, &p, 1));
	if (write(go[1], "x", 1) != 1)
		ct_fatal("write");
	int status;
	if (waitpid(child, &status, 0) != child)
		ct_fatal("waitpid");
	printf("child exited with status %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	T_INT(semctl(sem, 0, GETVAL));
	T_INT(semop(sem, &p_nowait, 1));
	T_INT(semctl(sem, 0, IPC_RMID));
	return 0;
}
