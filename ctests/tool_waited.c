/*
 * tool_waited.c - a parent that has seen its child end through wait,
 * waitpid, waitid, wait3 or wait4 finds the child's SEM_UNDO applied and
 * its attachment dropped at once, as on Linux. Prints one line per call:
 * "<call>: semaphore <v>, nattch <n>" (0 and 0 on Linux).
 * With --stop-supervisor (in a box only) the box's supervisor, this
 * process's parent, is stopped meanwhile, so that only the wait calls can
 * tell the box of the deaths (scripts/cli.sh).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

static int semid, shmid;

static pid_t child(void)
{
	pid_t c = fork();
	if (c == 0) {
		struct sembuf up = { 0, 1, SEM_UNDO };
		if (semop(semid, &up, 1) || shmat(shmid, NULL, 0) == (void *)-1)
			_exit(1);
		_exit(0);
	}
	return c;
}

static void report(const char *call)
{
	struct shmid_ds ds;
	shmctl(shmid, IPC_STAT, &ds);
	printf("%s: semaphore %d, nattch %lu\n", call, semctl(semid, 0, GETVAL), (unsigned long)ds.shm_nattch);
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
	child();
	wait(&status);
	report("wait");
	waitpid(child(), &status, 0);
	report("waitpid");
	pid_t c = child();
	waitid(P_PID, c, &info, WEXITED);
	report("waitid");
	child();
	wait3(&status, 0, &usage);
	report("wait3");
	wait4(child(), NULL, 0, &usage);
	report("wait4");
	if (stop)
		kill(getppid(), SIGCONT);
	semctl(semid, 0, IPC_RMID);
	shmctl(shmid, IPC_RMID, NULL);
	return 0;
}
