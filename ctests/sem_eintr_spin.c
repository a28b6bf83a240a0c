/*
 * sem_eintr_spin.c - a signal handler that runs the moment a waiter is
 * seen queued (GETNCNT, or msg_qnum/the receiver count of a queue) still
 * interrupts it with EINTR, with SA_RESTART and without: the first
 * microseconds of a blocking semop are no different from the rest of its
 * sleep. Many rounds, each sending the signal as soon as the parent sees
 * the waiter (GETNCNT, GETZCNT). Message queues wait the same way
 * (shared-state's wait.rs) but show no count of their waiters to time
 * the signal by.
 */
#include "common.h"
#include <poll.h>
#include <sys/sem.h>

#define ROUNDS 50

static volatile sig_atomic_t handled;

static void handler(int sig)
{
	(void)sig;
	handled++;
}

static void install(int restart)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sa.sa_flags = restart ? SA_RESTART : 0;
	if (sigaction(SIGUSR1, &sa, NULL) != 0)
		ct_fatal("sigaction");
}

/* A child blocks `rounds` times in `wait_once`; the parent signals it each
 * time `queued` shows it waiting. The child exits with the number of
 * rounds that ended in EINTR with the handler run. */
/* Reads the child's next byte; a child still waiting after half a second (its EINTR
 * lost) is let go by `release` first, so that a failure ends. */
static char next_byte(int fd, void (*release)(int), int id)
{
	struct pollfd p = { fd, POLLIN, 0 };
	if (poll(&p, 1, 500) == 0)
		release(id);
	char c;
	if (read(fd, &c, 1) != 1)
		ct_fatal("read");
	return c;
}

static void rounds(const char *what, int restart, int (*wait_once)(int), int (*queued)(int), void (*release)(int),
		   int id)
{
	int ready[2];
	if (pipe(ready) != 0)
		ct_fatal("pipe");
	fflush(stdout);
	pid_t c = fork();
	if (c < 0)
		ct_fatal("fork");
	if (c == 0) {
		install(restart);
		int interrupted = 0;
		for (int i = 0; i < ROUNDS; i++) {
			handled = 0;
			if (write(ready[1], "r", 1) != 1)
				_exit(255);
			int r = wait_once(id);
			if (r < 0 && errno == EINTR && handled == 1)
				interrupted++;
		}
		if (write(ready[1], "e", 1) != 1)
			_exit(255);
		_exit(interrupted);
	}
	close(ready[1]);
	for (int i = 0; i < ROUNDS; i++) {
		next_byte(ready[0], release, id);
		while (queued(id) < 1)
			;
		kill(c, SIGUSR1);
	}
	next_byte(ready[0], release, id);
	int status;
	waitpid(c, &status, 0);
	close(ready[0]);
	printf("%s%s: %d of %d interrupted\n", what, restart ? " (SA_RESTART)" : "",
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1, ROUNDS);
}

static int sem_down(int id)
{
	struct sembuf down = { 0, -1, 0 };
	return semop(id, &down, 1);
}
static void sem_up(int id)
{
	struct sembuf up = { 0, 1, 0 };
	semop(id, &up, 1);
}
static int sem_waiting(int id)
{
	return semctl(id, 0, GETNCNT);
}

static int sem_zero(int id)
{
	struct sembuf zero = { 1, 0, 0 };
	return semop(id, &zero, 1);
}
static void zero_and_back(int id)
{
	semctl(id, 1, SETVAL, 0);
	while (semctl(id, 1, GETZCNT) > 0)
		;
	semctl(id, 1, SETVAL, 1);
}
static int zero_waiting(int id)
{
	return semctl(id, 1, GETZCNT);
}

int main(void)
{
	ct_init();
	int sem = T_ID(semget(IPC_PRIVATE, 2, IPC_CREAT | 0600));
	rounds("semop", 0, sem_down, sem_waiting, sem_up, sem);
	rounds("semop", 1, sem_down, sem_waiting, sem_up, sem);
	T_INT(semctl(sem, 1, SETVAL, 1));
	rounds("semop waiting for zero", 0, sem_zero, zero_waiting, zero_and_back, sem);
	rounds("semop waiting for zero", 1, sem_zero, zero_waiting, zero_and_back, sem);
	T_INT(semctl(sem, 0, IPC_RMID));

	return 0;
}
