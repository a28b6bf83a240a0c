/*
 * tool_fastpath.c - the calls that must make no system call inside a box.
 * Between the markers "fastpath-begin" and "fastpath-end" (written with
 * write(2), which strace shows), it does IPC_STAT into stack, static and
 * heap buffers (all common: the stack is checked by address, the others
 * are copied under the shim's fault guard), reads/writes through an
 * attachment, uncontended semop P and V, with and without SEM_UNDO, with
 * operations on the stack and on the heap, and msgsnd/msgrcv with no one
 * waiting (messages on the stack and on the heap), IPC_STAT of a queue,
 * and semctl with no one waiting: SETVAL (one that clears a SEM_UNDO
 * adjustment, one with none to clear), GETVAL, GETPID, IPC_STAT, GETALL
 * into a stack array and SETALL from a heap array. After the end marker,
 * a bad pointer must still give EFAULT (the guard catches it; its signal
 * delivery would show in the trace, so that is checked outside).
 * scripts/fastpath.sh runs it under strace in a box and fails if any
 * system call appears between the markers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>

static struct shmid_ds static_ds;

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

int main(void)
{
	struct shmid_ds *heap_ds = malloc(sizeof *heap_ds);
	struct sembuf *heap_ops = malloc(2 * sizeof *heap_ops);
	unsigned short *heap_vals = calloc(2, sizeof *heap_vals);
	int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	char *p = shmat(id, NULL, 0);
	if (id < 0 || p == (void *)-1) {
		perror("setup");
		return 1;
	}
	struct shmid_ds warm;
	shmctl(id, IPC_STAT, &warm); /* first call may read credentials */
	shmctl(id, IPC_STAT, heap_ds); /* first guarded copy installs the guard */
	int sem = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
	struct sembuf warm_undo[2] = { { 1, 1, SEM_UNDO }, { 1, -1, SEM_UNDO } };
	if (sem < 0 || semop(sem, warm_undo, 2)) { /* first SEM_UNDO call registers */
		perror("semaphore setup");
		return 1;
	}
	union semun zero = { .val = 0 }, all = { .array = heap_vals };
	if (semctl(sem, 0, SETVAL, zero) || semctl(sem, 0, SETALL, all)) { /* first ones make the set's journal */
		perror("semctl setup");
		return 1;
	}
	int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	struct qmsg {
		long mtype;
		char text[64];
	} *heap_msg = calloc(1, sizeof *heap_msg);
	if (q < 0 || msgsnd(q, heap_msg, 0, IPC_NOWAIT) == 0) { /* mtype 0: EINVAL, warms up */
		perror("queue setup");
		return 1;
	}
	pid_t self = getpid();
	write(1, "fastpath-begin\n", 15);
	unsigned long sum = 0;
	for (int i = 0; i < 100; i++) {
		struct shmid_ds ds;
		if (shmctl(id, IPC_STAT, &ds) != 0)
			return 2;
		sum += ds.shm_nattch;
		if (shmctl(id, IPC_STAT, &static_ds) != 0 || shmctl(id, IPC_STAT, heap_ds) != 0)
			return 2;
		heap_ops[0] = (struct sembuf){ 0, 1, 0 };
		heap_ops[1] = (struct sembuf){ 0, -1, SEM_UNDO };
		if (semop(sem, heap_ops, 2))
			return 4;
		struct qmsg m = { 1 + i % 3, "hello" };
		*heap_msg = m;
		struct msqid_ds qds;
		if (msgsnd(q, &m, sizeof m.text, 0) || msgsnd(q, heap_msg, 10, IPC_NOWAIT) ||
		    msgrcv(q, heap_msg, sizeof m.text, 0, 0) != sizeof m.text ||
		    msgrcv(q, &m, sizeof m.text, -3, IPC_NOWAIT) != 10 || msgctl(q, IPC_STAT, &qds) ||
		    qds.msg_qnum != 0)
			return 6;
		p[i] = (char)i;
		struct sembuf v = { 0, 1, 0 }, pp = { 0, -1, 0 };
		struct sembuf vu = { 1, 1, SEM_UNDO }, pu = { 1, -1, SEM_UNDO };
		if (semop(sem, &v, 1) || semop(sem, &pp, 1) || semop(sem, &vu, 1) || semop(sem, &pu, 1))
			return 4;
		union semun arg = { .val = 3 };
		struct semid_ds sds;
		unsigned short vals[2];
		if (semop(sem, &vu, 1) || semctl(sem, 1, SETVAL, arg) || semctl(sem, 1, GETVAL) != 3 ||
		    semctl(sem, 1, SETVAL, zero) || semctl(sem, 1, GETPID) != self)
			return 7;
		arg.buf = &sds;
		if (semctl(sem, 0, IPC_STAT, arg) || sds.sem_nsems != 2)
			return 7;
		arg.array = vals;
		heap_vals[0] = i & 1;
		if (semctl(sem, 0, GETALL, arg) || vals[0] != 0 || vals[1] != 0 || semctl(sem, 0, SETALL, all) ||
		    semctl(sem, 0, GETVAL) != (i & 1) || semctl(sem, 0, SETVAL, zero))
			return 7;
	}
	write(1, "fastpath-end\n", 13);
	if (shmctl(id, IPC_STAT, (struct shmid_ds *)8) != -1 || errno != EFAULT) {
		printf("IPC_STAT into a bad pointer did not give EFAULT\n");
		return 5;
	}
	printf("nattch sum %lu\n", sum);
	shmdt(p);
	shmctl(id, IPC_RMID, NULL);
	semctl(sem, 0, IPC_RMID);
	msgctl(q, IPC_RMID, NULL);
	return sum == 100 ? 0 : 3;
}
