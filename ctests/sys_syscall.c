/*
 * sys_syscall.c - System V IPC through libc's syscall(2) instead of the
 * wrappers: every call of the three facilities by its system call number
 * (semop and semtimedop too), with results, errors and effects as through
 * the wrappers; a number that is not SysV IPC still reaches the kernel.
 */
#include "common.h"
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/syscall.h>

int main(void)
{
	ct_init();
	int q = T_ID((int)syscall(SYS_msgget, IPC_PRIVATE, IPC_CREAT | 0600));
	struct {
		long mtype;
		char text[16];
	} m = { 3, "raw" };
	T_INT(syscall(SYS_msgsnd, q, &m, 4, 0));
	memset(&m, 0, sizeof m);
	T_INT(syscall(SYS_msgrcv, q, &m, sizeof m.text, 0, IPC_NOWAIT));
	printf("received type %ld text %s\n", m.mtype, m.text);
	T_INT(syscall(SYS_msgrcv, q, &m, sizeof m.text, 0, IPC_NOWAIT));
	struct msqid_ds mds;
	T_INT(syscall(SYS_msgctl, q, IPC_STAT, &mds));
	printf("qnum %lu mode %o\n", (unsigned long)mds.msg_qnum, mds.msg_perm.mode & 0777);
	T_INT(syscall(SYS_msgctl, q, IPC_RMID, NULL));
	T_INT(syscall(SYS_msgctl, q, IPC_STAT, &mds));

	int s = T_ID((int)syscall(SYS_semget, 0x5151, 2, IPC_CREAT | 0600));
	struct sembuf up = { 1, 5, 0 }, down = { 1, -6, IPC_NOWAIT };
	T_INT(syscall(SYS_semop, s, &up, 1));
	T_INT(syscall(SYS_semop, s, &down, 1));
	struct timespec ts = { 0, 1000000 };
	down.sem_flg = 0;
	T_INT(syscall(SYS_semtimedop, s, &down, 1, &ts));
	T_INT(syscall(SYS_semctl, s, 1, GETVAL, 0));
	T_INT(syscall(SYS_semctl, s, 0, SETVAL, 9));
	T_INT(syscall(SYS_semctl, s, 0, GETVAL, 0));
	T_INT(syscall(SYS_semget, 0x5151, 3, 0));
	T_INT(syscall(SYS_semctl, s, 0, IPC_RMID, 0));

	int shm = T_ID((int)syscall(SYS_shmget, IPC_PRIVATE, 4096, IPC_CREAT | 0600));
	char *p = (char *)syscall(SYS_shmat, shm, NULL, 0);
	printf("shmat: %s\n", p == (char *)-1 ? ct_errname(errno) : "attached");
	strcpy(p, "shared");
	char *again = shmat(shm, NULL, SHM_RDONLY);
	printf("seen through a second attachment: %s\n", again);
	struct shmid_ds sds;
	T_INT(syscall(SYS_shmctl, shm, IPC_STAT, &sds));
	printf("nattch %lu\n", (unsigned long)sds.shm_nattch);
	T_INT(syscall(SYS_shmdt, p));
	T_INT(syscall(SYS_shmdt, p));
	T_INT(shmdt(again));
	T_INT(syscall(SYS_shmctl, shm, IPC_RMID, NULL));
	T_INT(syscall(SYS_shmget, IPC_PRIVATE, 0, IPC_CREAT | 0600));

	printf("getpid through syscall matches: %s\n", yes(syscall(SYS_getpid) == getpid()));
	return 0;
}
