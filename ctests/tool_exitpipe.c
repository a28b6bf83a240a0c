/*
 * tool_exitpipe.c - a process that learns of a child's exit by the end of
 * a pipe the child held, not by waiting, finds the child's SEM_UNDO
 * applied and its attachment dropped at once, as on Linux (which undoes
 * both before it closes the exiting process's descriptors). One line per
 * way of exiting, exit(), _exit() and _Exit():
 * "<how>: semaphore <v>, nattch <n>" (0 and 0 on Linux).
 * With --stop-supervisor (in a box only) the box's supervisor, this
 * process's parent, is stopped meanwhile, so that only the exiting
 * process itself can have told the box (scripts/cli.sh).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

static int semid, shmid;

static void run(const char *how)
{
	int p[2];
	if (pipe(p))
		exit(3);
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		close(p[0]);
		struct sembuf up = { 0, 1, SEM_UNDO };
		if (semop(semid, &up, 1) || shmat(shmid, NULL, 0) == (void *)-1)
			_exit(1);
		if (strcmp(how, "_exit") == 0)
			_exit(0);
		if (strcmp(how, "_Exit") == 0)
			_Exit(0);
		exit(0);
	}
	close(p[1]);
	char x;
	while (read(p[0], &x, 1) > 0)
		;
	close(p[0]);
	struct shmid_ds ds;
	shmctl(shmid, IPC_STAT, &ds);
	printf("%s: semaphore %d, nattch %lu\n", how, semctl(semid, 0, GETVAL), (unsigned long)ds.shm_nattch);
	waitpid(c, NULL, 0);
}

int main(int argc, char **argv)
{
	int stop = argc > 1 && strcmp(argv[1], "--stop-supervisor") == 0;
	semid = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	shmid = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	if (stop)
		kill(getppid(), SIGSTOP);
	run("exit");
	run("_exit");
	run("_Exit");
	if (stop)
		kill(getppid(), SIGCONT);
	semctl(semid, 0, IPC_RMID);
	shmctl(shmid, IPC_RMID, NULL);
	return 0;
}
