/*
 * many_procs.c - 4096 processes hold state at once: each adds 1 to a
 * semaphore with SEM_UNDO, attaches a segment and sends one message, then
 * waits until all have; only yes/no lines and counts print.
 *   - with all of them alive: the semaphore is 4096, nattch 4096, the
 *     queue holds 4096 messages, and a call of the parent still works;
 *   - the parent receives every message;
 *   - once all have exited (released together): their SEM_UNDO is applied
 *     (the semaphore is 0 again) and nattch is 0;
 *   - the objects are removed and no call failed.
 */
#include "common.h"
#include <sys/msg.h>
#include <sys/sem.h>

#define PROCS 4096

struct one {
	long mtype;
	char mtext[1];
};

int main(void)
{
	ct_init();
	int semid = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	int shmid = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	int qid = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	printf("objects made: %s\n", semid >= 0 && shmid >= 0 && qid >= 0 ? "yes" : "no");
	struct msqid_ds q;
	if (msgctl(qid, IPC_STAT, &q) == 0) {
		q.msg_qbytes = PROCS * 2;
		msgctl(qid, IPC_SET, &q);
	}
	int ready[2], release[2];
	if (pipe(ready) || pipe(release))
		return 3;
	fflush(stdout);
	int failed_forks = 0;
	for (int i = 0; i < PROCS; i++) {
		pid_t c = fork();
		if (c < 0) {
			failed_forks++;
			continue;
		}
		if (c == 0) {
			close(ready[0]);
			close(release[1]);
			struct sembuf up = { 0, 1, SEM_UNDO };
			struct one m = { 1 + i % 8, { 'x' } };
			char ok = semop(semid, &up, 1) == 0 && shmat(shmid, NULL, 0) != (void *)-1 &&
					  msgsnd(qid, &m, 1, 0) == 0
				  ? 'y'
				  : 'n';
			if (write(ready[1], &ok, 1) != 1)
				_exit(4);
			char x;
			while (read(release[0], &x, 1) > 0)
				;
			_exit(0);
		}
	}
	close(ready[1]);
	close(release[0]);
	printf("forks failed: %d\n", failed_forks);
	int good = 0;
	for (int i = 0; i < PROCS - failed_forks; i++) {
		char ok;
		if (read(ready[0], &ok, 1) != 1)
			break;
		good += ok == 'y';
	}
	printf("processes whose calls all worked: %d\n", good);
	struct shmid_ds ds;
	printf("semaphore with all alive: %d\n", semctl(semid, 0, GETVAL));
	printf("nattch with all alive: %lu\n", shmctl(shmid, IPC_STAT, &ds) == 0 ? (unsigned long)ds.shm_nattch : 0UL);
	printf("messages queued: %lu\n", msgctl(qid, IPC_STAT, &q) == 0 ? (unsigned long)q.msg_qnum : 0UL);
	int received = 0;
	struct one m;
	while (msgrcv(qid, &m, 1, 0, IPC_NOWAIT) == 1)
		received++;
	printf("messages received: %d\n", received);
	close(release[1]);
	int exited = 0;
	while (wait(NULL) > 0)
		exited++;
	printf("children exited: %d\n", exited);
	printf("semaphore after all exited: %d\n", semctl(semid, 0, GETVAL));
	printf("nattch after all exited: %lu\n", shmctl(shmid, IPC_STAT, &ds) == 0 ? (unsigned long)ds.shm_nattch : 99UL);
	printf("removed: %s\n",
	       semctl(semid, 0, IPC_RMID) == 0 && shmctl(shmid, IPC_RMID, NULL) == 0 && msgctl(qid, IPC_RMID, NULL) == 0
		       ? "yes"
		       : "no");
	return 0;
}
