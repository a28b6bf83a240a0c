/*
 * tool_ended.c - a process that has seen another end finds its SEM_UNDO
 * applied and its attachment dropped at once, as on Linux, which undoes
 * both in the exiting process before its parent can wait for it and before
 * its descriptors close. One line per way of seeing the end:
 * "<how>: semaphore <v>, nattch <n>" (0 and 0 on Linux).
 *   - a parent's wait, waitpid, waitid, wait3 and wait4 (the child is
 *     killed, so that only the wait can tell a box of its end);
 *   - the end of a pipe the child held (no wait yet), after the child's
 *     exit(), _exit() or _Exit().
 * With --stop-supervisor (in a box only) the box's supervisor, this
 * process's parent, is stopped meanwhile, so that only the wait calls and
 * the exiting process itself can have told the box (scripts/cli.sh).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

static int semid, shmid;

/* A child that adds 1 with SEM_UNDO, attaches the segment, closes `keep`
 * (-1 for none) and ends as `how` says. */
static pid_t child(const char *how, int keep)
{
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		if (keep >= 0)
			close(keep);
		struct sembuf up = { 0, 1, SEM_UNDO };
		if (semop(semid, &up, 1) || shmat(shmid, NULL, 0) == (void *)-1)
			_exit(1);
		if (strcmp(how, "_exit") == 0)
			_exit(0);
		if (strcmp(how, "_Exit") == 0)
			_Exit(0);
		if (strcmp(how, "kill") == 0)
			raise(SIGKILL);
		exit(0);
	}
	return c;
}

static void report(const char *how)
{
	struct shmid_ds ds;
	shmctl(shmid, IPC_STAT, &ds);
	printf("%s: semaphore %d, nattch %lu\n", how, semctl(semid, 0, GETVAL), (unsigned long)ds.shm_nattch);
}

/* The end of a child seen by the end of a pipe it held, then waited for. */
static void by_pipe(const char *how)
{
	int p[2];
	if (pipe(p))
		exit(3);
	pid_t c = child(how, p[0]);
	close(p[1]);
	char x;
	while (read(p[0], &x, 1) > 0)
		;
	close(p[0]);
	char line[64];
	snprintf(line, sizeof line, "pipe end after %s", how);
	report(line);
	waitpid(c, NULL, 0);
}

int main(int argc, char **argv)
{
	int stop = argc > 1 && strcmp(argv[1], "--stop-supervisor") == 0;
	semid = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	shmid = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	if (stop)
		kill(getppid(), SIGSTOP);
	int status;
	struct rusage usage;
	siginfo_t info;
	child("kill", -1);
	wait(&status);
	report("wait");
	waitpid(child("kill", -1), &status, 0);
	report("waitpid");
	waitid(P_PID, child("kill", -1), &info, WEXITED);
	report("waitid");
	child("kill", -1);
	wait3(&status, 0, &usage);
	report("wait3");
	wait4(child("kill", -1), NULL, 0, &usage);
	report("wait4");
	by_pipe("exit");
	by_pipe("_exit");
	by_pipe("_Exit");
	if (stop)
		kill(getppid(), SIGCONT);
	semctl(semid, 0, IPC_RMID);
	shmctl(shmid, IPC_RMID, NULL);
	return 0;
}
