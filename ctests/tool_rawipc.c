/*
 * tool_rawipc.c - every System V IPC call made by system call instructions
 * of the program's own (as a language runtime makes them), past libc and
 * any preloaded library: each facility, errors, a semop that blocks until
 * another process wakes it, one that a signal interrupts (EINTR), one that
 * times out, and a SIGSYS handler of the program's own. scripts/cli.sh
 * compares its transcript on the kernel (a fresh IPC namespace) with the
 * one under `ipcbox run --strict`, where each call traps and the box
 * answers it.
 */
#include "common.h"
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>

static long raw6(long nr, long a, long b, long c, long d, long e, long f)
{
	long ret;
#if defined(__x86_64__)
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;
	register long x5 __asm__("x5") = f;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
	ret = x0;
#else
#error "x86_64 and aarch64 only"
#endif
	if (ret < 0 && ret > -4096) {
		errno = (int)-ret;
		return -1;
	}
	return ret;
}

#define RAW(nr, ...) raw_args(nr, __VA_ARGS__, 0, 0, 0, 0, 0, 0)
#define raw_args(nr, a, b, c, d, e, f, ...) raw6(nr, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

static volatile sig_atomic_t alarms, own_sigsys;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static void on_sigsys(int sig)
{
	(void)sig;
	own_sigsys++;
}

int main(void)
{
	ct_init();
	/* Message queues. */
	int q = T_ID((int)RAW(SYS_msgget, IPC_PRIVATE, IPC_CREAT | 0600));
	struct {
		long mtype;
		char text[16];
	} m = { 7, "raw" };
	T_INT(RAW(SYS_msgsnd, q, &m, 4, 0));
	memset(&m, 0, sizeof m);
	T_INT(RAW(SYS_msgrcv, q, &m, sizeof m.text, 0, IPC_NOWAIT));
	printf("received type %ld text %s\n", m.mtype, m.text);
	T_INT(RAW(SYS_msgrcv, q, &m, sizeof m.text, 0, IPC_NOWAIT));
	struct msqid_ds mds;
	T_INT(RAW(SYS_msgctl, q, IPC_STAT, &mds));
	printf("qnum %lu mode %o\n", (unsigned long)mds.msg_qnum, mds.msg_perm.mode & 0777);
	T_INT(RAW(SYS_msgctl, q, IPC_STAT, (void *)16));
	T_INT(RAW(SYS_msgctl, q, IPC_RMID, NULL));
	T_INT(RAW(SYS_msgctl, q, IPC_RMID, NULL));

	/* Shared memory. */
	int shm = T_ID((int)RAW(SYS_shmget, IPC_PRIVATE, 8192, IPC_CREAT | 0600));
	char *at = (char *)RAW(SYS_shmat, shm, NULL, 0);
	printf("shmat %s\n", at == (char *)-1 ? ct_errname(errno) : "attached");
	strcpy(at, "in the segment");
	struct shmid_ds sds;
	T_INT(RAW(SYS_shmctl, shm, IPC_STAT, &sds));
	printf("nattch %lu segsz %zu\n", (unsigned long)sds.shm_nattch, sds.shm_segsz);
	char *again = (char *)RAW(SYS_shmat, shm, NULL, SHM_RDONLY);
	printf("second attachment reads \"%s\"\n", again == (char *)-1 ? ct_errname(errno) : again);
	T_INT(RAW(SYS_shmdt, again));
	T_INT(RAW(SYS_shmdt, at));
	T_INT(RAW(SYS_shmdt, at));
	T_INT(RAW(SYS_shmctl, shm, IPC_RMID, NULL));
	T_INT(RAW(SYS_shmget, IPC_PRIVATE, 0, IPC_CREAT | 0600));

	/* Semaphores. */
	int sem = T_ID((int)RAW(SYS_semget, IPC_PRIVATE, 2, IPC_CREAT | 0600));
	T_INT(RAW(SYS_semctl, sem, 0, SETVAL, 1));
	struct sembuf down = { 0, -1, SEM_UNDO }, up = { 0, 1, 0 }, two[2] = { { 0, 1, 0 }, { 1, 1, 0 } };
	T_INT(RAW(SYS_semop, sem, &down, 1));
	T_INT(RAW(SYS_semop, sem, two, 2));
	T_INT(RAW(SYS_semctl, sem, 1, GETVAL));
	T_INT(RAW(SYS_semop, sem, &down, 1));
	struct timespec short_wait = { 0, 50 * 1000 * 1000 };
	T_INT(RAW(SYS_semtimedop, sem, &down, 1, &short_wait));
	T_INT(RAW(SYS_semop, sem, &down, 0));
	T_INT(RAW(SYS_semop, -1, &down, 1));

	/* A semop that blocks until another process gives the unit back. */
	fflush(stdout);
	pid_t child = fork();
	if (child == 0) {
		usleep(100 * 1000);
		_exit(RAW(SYS_semop, sem, &up, 1) == 0 ? 0 : 1);
	}
	T_INT(RAW(SYS_semop, sem, &down, 1));
	int status;
	waitpid(child, &status, 0);
	printf("the waker exited with %d\n", WEXITSTATUS(status));

	/* A semop that a signal handler interrupts. */
	struct sigaction sa = { 0 };
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval timer = { { 0, 0 }, { 0, 100 * 1000 } };
	setitimer(ITIMER_REAL, &timer, NULL);
	T_INT(RAW(SYS_semop, sem, &down, 1));
	printf("alarms %d\n", (int)alarms);

	/* The program's own SIGSYS handler, and what sigaction says of it. */
	struct sigaction own = { 0 }, seen = { 0 };
	own.sa_handler = on_sigsys;
	T_INT(sigaction(SIGSYS, &own, NULL));
	T_INT(sigaction(SIGSYS, NULL, &seen));
	printf("sigaction reports the program's handler: %s\n", seen.sa_handler == on_sigsys ? "yes" : "no");
	raise(SIGSYS);
	printf("own SIGSYS handler ran %d times\n", (int)own_sigsys);
	T_INT(RAW(SYS_semctl, sem, 0, GETVAL));
	printf("own SIGSYS handler ran %d times after a raw semctl\n", (int)own_sigsys);
	T_INT(RAW(SYS_semctl, sem, 0, IPC_RMID));
	T_INT(RAW(SYS_semctl, sem, 0, IPC_RMID));
	return 0;
}
