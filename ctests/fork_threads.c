/*
 * fork_threads.c - fork from a multithreaded process while its other
 * threads are inside SysV calls; only yes/no lines print.
 *
 * Three threads loop on semop (with and without SEM_UNDO), msgsnd/msgrcv
 * and shmat/shmdt while the main thread forks 200 children one after the
 * other.  Each child, at once, does a semop pair, sends and takes a message
 * of its own type, attaches and detaches the segment, and exits 0: none
 * may hang or fail (a lock the fork caught held by another thread must not
 * wedge the child).  Afterwards the semaphores are back to their values,
 * the queue is empty and the segment has no attachment.
 */
#include "common.h"
#include <pthread.h>
#include <sys/msg.h>
#include <sys/sem.h>

#define CHILDREN 200

static int semid, qid, shmid;
static volatile int stop;
static volatile long thread_failures;

struct small_msg {
	long mtype;
	char text[32];
};

static void *churn(void *arg)
{
	long which = (long)arg;
	struct small_msg m = { 1, "churn" };
	while (!stop) {
		if (which == 0) {
			struct sembuf p = { 0, -1, SEM_UNDO }, v = { 0, 1, SEM_UNDO };
			if (semop(semid, &p, 1) || semop(semid, &v, 1))
				thread_failures++;
			struct sembuf p1 = { 1, -1, 0 }, v1 = { 1, 1, 0 };
			if (semop(semid, &p1, 1) || semop(semid, &v1, 1))
				thread_failures++;
		} else if (which == 1) {
			m.mtype = 1;
			if (msgsnd(qid, &m, sizeof m.text, 0) || msgrcv(qid, &m, sizeof m.text, 1, 0) < 0)
				thread_failures++;
		} else {
			void *at = shmat(shmid, NULL, 0);
			if (at == (void *)-1 || shmdt(at))
				thread_failures++;
		}
	}
	return NULL;
}

static int child(int n)
{
	struct sembuf p = { 0, -1, SEM_UNDO }, v = { 0, 1, SEM_UNDO };
	if (semop(semid, &p, 1) || semop(semid, &v, 1))
		return 1;
	struct small_msg m = { 2 + n, "child" };
	if (msgsnd(qid, &m, sizeof m.text, 0) || msgrcv(qid, &m, sizeof m.text, 2 + n, 0) < 0)
		return 2;
	void *at = shmat(shmid, NULL, 0);
	if (at == (void *)-1 || shmdt(at))
		return 3;
	return 0;
}

int main(void)
{
	ct_init();
	semid = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
	qid = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	shmid = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	if (semid < 0 || qid < 0 || shmid < 0)
		ct_fatal("get");
	unsigned short values[2] = { 1, 1 };
	if (semctl(semid, 0, SETALL, values))
		ct_fatal("SETALL");
	fflush(stdout);
	pthread_t threads[3];
	for (long i = 0; i < 3; i++)
		if (pthread_create(&threads[i], NULL, churn, (void *)i))
			ct_fatal("pthread_create");
	int failed = 0;
	for (int n = 0; n < CHILDREN; n++) {
		pid_t pid = fork();
		if (pid < 0)
			ct_fatal("fork");
		if (pid == 0)
			_exit(child(n));
		int status;
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed++;
	}
	stop = 1;
	for (int i = 0; i < 3; i++)
		pthread_join(threads[i], NULL);
	printf("every child forked beside busy threads did its calls and exited: %s\n", failed == 0 ? "yes" : "no");
	printf("no call of the busy threads failed: %s\n", thread_failures == 0 ? "yes" : "no");
	if (semctl(semid, 0, GETALL, values))
		ct_fatal("GETALL");
	printf("semaphores back to 1: %s\n", values[0] == 1 && values[1] == 1 ? "yes" : "no");
	struct msqid_ds q;
	struct shmid_ds s;
	T_INT(msgctl(qid, IPC_STAT, &q));
	printf("queue empty: %s\n", q.msg_qnum == 0 ? "yes" : "no");
	T_INT(shmctl(shmid, IPC_STAT, &s));
	printf("no attachment left: %s\n", s.shm_nattch == 0 ? "yes" : "no");
	T_INT(semctl(semid, 0, IPC_RMID));
	T_INT(msgctl(qid, IPC_RMID, NULL));
	T_INT(shmctl(shmid, IPC_RMID, NULL));
	return 0;
}
