/*
 * shm_efault.c - bad pointers give EFAULT, and the program's own faults and
 * fault handlers behave as without a box. (In a box, copies to and from the
 * caller's memory run under the shim's SIGSEGV/SIGBUS guard; see
 * shared-state/src/usercopy.rs.)
 *   - IPC_STAT into heap, unmapped, read-only and NULL-adjacent memory
 *   - semop with operations in unmapped memory (also only their last two
 *     bytes), IPC_SET from it; the same and operations at a page's end once
 *     the set takes single operations without its lock
 *   - after those, the SIGSEGV disposition still reads as SIG_DFL
 *   - a child's own wild write dies by SIGSEGV; a SIGSEGV sent by kill
 *     kills; a SIGBUS from a truncated file mapping kills by SIGBUS
 *   - with a handler of the program's installed, a bad pointer still gives
 *     EFAULT and the handler never runs; the handler then catches the
 *     program's own fault
 *   - with SIGSEGV and SIGBUS blocked, a bad pointer gives EFAULT
 */
#include "common.h"
#include <setjmp.h>
#include <sys/sem.h>

static sigjmp_buf jump;
static volatile sig_atomic_t handled;
static void on_segv(int sig)
{
	(void)sig;
	handled++;
	siglongjmp(jump, 1);
}

static void child_status(const char *what, pid_t pid)
{
	int st;
	waitpid(pid, &st, 0);
	if (WIFSIGNALED(st))
		printf("%s: killed by %s\n", what, strsignal(WTERMSIG(st)));
	else
		printf("%s: exit %d\n", what, WEXITSTATUS(st));
}

int main(void)
{
	ct_init();
	int id = T_ID(shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600));
	int sem = T_ID(semget(IPC_PRIVATE, 1, IPC_CREAT | 0600));
	struct shmid_ds *heap = malloc(sizeof *heap);
	/* a read-only page followed by a hole */
	char *ro = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *gone = ro + 4096;
	munmap(gone, 4096);

	T_INT(shmctl(id, IPC_STAT, heap));
	printf("heap IPC_STAT size %zu\n", heap->shm_segsz);
	T_INT(shmctl(id, IPC_STAT, (struct shmid_ds *)gone));
	T_INT(shmctl(id, IPC_STAT, (struct shmid_ds *)ro));
	T_INT(shmctl(id, IPC_STAT, (struct shmid_ds *)16));
	T_INT(shmctl(id, IPC_SET, (struct shmid_ds *)gone));
	T_INT(semop(sem, (struct sembuf *)gone, 1));
	/* an operation whose last bytes (sem_flg) lie in the hole */
	T_INT(semop(sem, (struct sembuf *)(ro + 4096 - 4), 1));
	/* The same once the set takes single operations without its lock (after
	 * a run of them), where a sembuf is read in one 8-byte load unless its
	 * page ends within those 8 bytes. */
	struct sembuf up = { 0, 1, 0 }, down = { 0, -1, 0 };
	for (int i = 0; i < 40; i++)
		if (semop(sem, &up, 1) || semop(sem, &down, 1))
			perror("semop");
	T_INT(semop(sem, (struct sembuf *)gone, 1));
	T_INT(semop(sem, (struct sembuf *)(ro + 4096 - 4), 1));
	/* wait-for-zero operations (the page is zeros) ending 0 and 2 bytes
	 * before the hole */
	T_INT(semop(sem, (struct sembuf *)(ro + 4096 - 6), 1));
	T_INT(semop(sem, (struct sembuf *)(ro + 4096 - 8), 1));
	/* a copy that starts in good memory and runs into a hole */
	T_INT(shmctl(id, IPC_STAT, (struct shmid_ds *)(ro + 4096 - 8)));

	struct sigaction old;
	sigaction(SIGSEGV, NULL, &old);
	printf("SIGSEGV disposition reads as default: %s\n", old.sa_handler == SIG_DFL ? "yes" : "no");
	sigaction(SIGBUS, NULL, &old);
	printf("SIGBUS disposition reads as default: %s\n", old.sa_handler == SIG_DFL ? "yes" : "no");

	struct rlimit no_core = { 0, 0 };
	setrlimit(RLIMIT_CORE, &no_core);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		*(volatile int *)gone = 1;
		_exit(0);
	}
	child_status("wild write", pid);
	pid = fork();
	if (pid == 0) {
		kill(getpid(), SIGSEGV);
		_exit(0);
	}
	child_status("SIGSEGV by kill", pid);
	pid = fork();
	if (pid == 0) {
		FILE *f = tmpfile();
		ftruncate(fileno(f), 4096);
		volatile char *p = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fileno(f), 0);
		ftruncate(fileno(f), 0);
		(void)p[0];
		_exit(0);
	}
	child_status("read past a truncated file", pid);
	pid = fork();
	if (pid == 0) {
		sigset_t all;
		sigfillset(&all);
		sigprocmask(SIG_BLOCK, &all, NULL);
		T_INT(shmctl(id, IPC_STAT, (struct shmid_ds *)gone));
		T_INT(shmctl(id, IPC_STAT, heap));
		_exit(0);
	}
	child_status("signals blocked", pid);

	signal(SIGSEGV, on_segv);
	T_INT(shmctl(id, IPC_STAT, (struct shmid_ds *)gone));
	T_INT(semop(sem, (struct sembuf *)gone, 1));
	T_INT(shmctl(id, IPC_STAT, heap));
	printf("own handler ran %d times\n", handled);
	if (sigsetjmp(jump, 1) == 0)
		*(volatile int *)gone = 1;
	printf("own handler ran %d times after a wild write\n", handled);

	T_INT(shmctl(id, IPC_RMID, NULL));
	T_INT(semctl(sem, 0, IPC_RMID));
	return 0;
}
