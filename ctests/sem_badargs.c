/*
 * sem_badargs.c - invalid arguments of semop, semtimedop and semctl, and
 * the order in which Linux checks them (ipc/sem.c do_semtimedop,
 * ksys_semctl):
 *   semop/semtimedop (order of the checks as observed on Linux 6.x):
 *     1. (semtimedop) unreadable timeout pointer -> EFAULT, before
 *        everything else
 *     2. nsops > SEMOPM (500) -> E2BIG, even for a negative semid; nsops
 *        is an unsigned int in the kernel: the size_t argument is
 *        truncated to 32 bits
 *     3. nsops == 0 -> EINVAL
 *     4. unreadable sops -> EFAULT, even for a negative semid (sops in
 *        read-only memory are fine)
 *     5. semid < 0 -> EINVAL; (semtimedop) tv_sec < 0, tv_nsec < 0 or
 *        >= 1e9 -> EINVAL, even when the operation could proceed
 *     6. unknown / removed id -> EINVAL
 *     7. sem_num >= nsems (sem_num is unsigned short) -> EFBIG
 *   semctl:
 *     - semid < 0 -> EINVAL for every cmd (IPC_INFO/SEM_INFO included)
 *     - unknown cmd -> EINVAL
 *     - SETVAL: value < 0 or > 32767 -> ERANGE before the id is looked up
 *     - GETVAL/GETPID/GETNCNT/GETZCNT/SETVAL: semnum < 0 or >= nsems
 *       -> EINVAL; other cmds ignore semnum
 *     - SETALL: any value > 32767 -> ERANGE, nothing is applied
 *     - bad buffers -> EFAULT: IPC_STAT/GETALL/IPC_INFO/SEM_INFO write
 *       (a read-only buffer is EFAULT), IPC_SET/SETALL read (a read-only
 *       buffer is fine); an unknown id is EINVAL first, except for
 *       IPC_SET, which copies the buffer before the lookup
 *     - IPC_RMID and the GET* commands ignore the 4th argument
 */
#include "common.h"
#include <limits.h>

static struct sembuf one[1] = { { 0, 1, 0 } };
static struct sembuf minus[1] = { { 0, -1, IPC_NOWAIT } };

static void ts_call(const char *what, int id, struct sembuf *sops, size_t n,
		    const struct timespec *ts)
{
	errno = 0;
	int r = semtimedop(id, sops, n, ts);
	int e = errno;
	printf("semtimedop(%s) = %d%s%s\n", what, r, r ? " " : "", r ? ct_errname(e) : "");
}

int main(void)
{
	ct_init();
	int id = T_ID(semget(IPC_PRIVATE, 3, IPC_CREAT | 0600));
	int gone = T_ID(semget(IPC_PRIVATE, 3, IPC_CREAT | 0600));
	T_INT(semctl(gone, 0, IPC_RMID));
	long pg = ct_page;
	char *ro = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *none = mmap(NULL, pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *edge = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *hole = ct_free_range(pg);
	if (ro == MAP_FAILED || none == MAP_FAILED || edge == MAP_FAILED)
		ct_fatal("mmap");
	munmap(edge + pg, pg);
	/* read-only page holding one "+1 on sem 1" op and a zero timespec */
	struct sembuf rop = { 1, 1, 0 };
	memcpy(ro, &rop, sizeof rop);
	struct timespec zts = { 0, 0 };
	memcpy(ro + 64, &zts, sizeof zts);
	mprotect(ro, 2 * pg, PROT_READ);
	struct sembuf *rosops = (struct sembuf *)ro;
	struct timespec *rots = (struct timespec *)(ro + 64);
	/* two ops: the first readable, the second in the unmapped page */
	struct sembuf *straddle = (struct sembuf *)(edge + pg - sizeof(struct sembuf));
	straddle[0] = one[0];
	/* a timespec straddling into the unmapped page */
	struct timespec *tstrad = (struct timespec *)(edge + pg - 8);

	printf("== semop: nsops\n");
	T_INT(semop(id, one, 0));
	T_INT(semop(id, NULL, 0));
	T_INT(semop(INT_MAX, NULL, 0));
	T_INT(semop(-1, one, 1));
	T_INT(semop(-1, one, 501));
	T_INT(semop(id, one, 501));
	T_INT(semop(id, NULL, 501));
	T_INT(semop(INT_MAX, NULL, 501));
	T_INT(semop(id, NULL, (size_t)-1));
	T_INT(semop(id, NULL, 1UL << 32));
	T_INT(semop(id, NULL, (size_t)INT_MAX + 1));
	T_INT(semop(id, one, (1UL << 32) + 1));
	ct_vals("after nsops 2^32+1 (truncated to 1)", id);

	printf("== semop: sops pointer\n");
	T_INT(semop(id, NULL, 1));
	T_INT(semop(id, (struct sembuf *)1, 1));
	T_INT(semop(id, (struct sembuf *)hole, 1));
	T_INT(semop(id, (struct sembuf *)none, 1));
	T_INT(semop(id, straddle, 1));
	T_INT(semop(id, straddle, 2));
	T_INT(semop(INT_MAX, NULL, 1));
	T_INT(semop(-1, NULL, 1));
	T_INT(semop(INT_MIN, (struct sembuf *)hole, 1));
	T_INT(semop(-1, NULL, 0));
	T_INT(semop(gone, (struct sembuf *)hole, 1));
	T_INT(semop(id, rosops, 1));
	ct_vals("after ops from read-only memory", id);

	printf("== semop: ids and sem_num\n");
	T_INT(semop(INT_MAX, one, 1));
	T_INT(semop(INT_MIN, one, 1));
	T_INT(semop(gone, one, 1));
	T_INT(semop(id + 1, one, 1));
	T_INT(semop(id + 32768, one, 1));
	ct_semop(id, "3:+1");
	ct_semop(id, "65535:+1");
	ct_semop(id, "0:+1 1:+1 3:+1");
	ct_semop(id, "3:-1:n");
	ct_semop(id, "3:0");
	ct_semop(gone, "3:+1");
	ct_semop(gone, "0:+1");
	ct_vals("unchanged", id);

	printf("== semtimedop: timeout\n");
	struct timespec ok = { 0, 1000000 };
	struct timespec n1e9 = { 0, 1000000000L };
	struct timespec nneg = { 0, -1 };
	struct timespec sneg = { -1, 0 };
	struct timespec smin = { LONG_MIN, 0 };
	struct timespec big = { LONG_MAX, 999999999L };
	ts_call("id, one, 1, {0,1ms}", id, one, 1, &ok);
	ts_call("id, one, 1, {0,1e9}", id, one, 1, &n1e9);
	ts_call("id, one, 1, {0,-1}", id, one, 1, &nneg);
	ts_call("id, one, 1, {-1,0}", id, one, 1, &sneg);
	ts_call("id, one, 1, {LONG_MIN,0}", id, one, 1, &smin);
	ts_call("id, one, 1, {LONG_MAX,999999999}", id, one, 1, &big);
	ts_call("id, minus, 1, {0,1e9}", id, minus, 1, &n1e9);
	ts_call("id, one, 1, read-only {0,0}", id, one, 1, rots);
	ct_vals("after three +1", id);
	ts_call("id, one, 1, NULL", id, one, 1, NULL);
	ts_call("id, one, 1, (void*)1", id, one, 1, (struct timespec *)1);
	ts_call("id, one, 1, unmapped", id, one, 1, (struct timespec *)hole);
	ts_call("id, one, 1, PROT_NONE", id, one, 1, (struct timespec *)none);
	ts_call("id, one, 1, straddling", id, one, 1, tstrad);
	printf("-- order of checks\n");
	ts_call("id, one, 0, (void*)1", id, one, 0, (struct timespec *)1);
	ts_call("-1, one, 1, (void*)1", -1, one, 1, (struct timespec *)1);
	ts_call("id, one, 501, (void*)1", id, one, 501, (struct timespec *)1);
	ts_call("id, NULL, 1, (void*)1", id, NULL, 1, (struct timespec *)1);
	ts_call("id, one, 0, {0,1e9}", id, one, 0, &n1e9);
	ts_call("-1, one, 1, {0,1e9}", -1, one, 1, &n1e9);
	ts_call("id, one, 501, {0,1e9}", id, one, 501, &n1e9);
	ts_call("id, NULL, 1, {0,1e9}", id, NULL, 1, &n1e9);
	ts_call("-1, NULL, 1, {0,1ms}", -1, NULL, 1, &ok);
	ts_call("-1, NULL, 1, {0,1e9}", -1, NULL, 1, &n1e9);
	ts_call("-1, one, 501, {0,1ms}", -1, one, 501, &ok);
	ts_call("gone, one, 1, {0,1e9}", gone, one, 1, &n1e9);
	{
		struct sembuf far[1] = { { 7, 1, 0 } };
		ts_call("id, [7:+1], 1, {0,1e9}", id, far, 1, &n1e9);
		ts_call("id, [7:+1], 1, {0,1ms}", id, far, 1, &ok);
		ts_call("gone, [7:+1], 1, {0,1ms}", gone, far, 1, &ok);
	}
	ct_vals("values", id);

	printf("== semctl: ids and cmds\n");
	struct semid_ds ds;
	struct seminfo si;
	unsigned short arr[3] = { 1, 2, 3 };
	T_INT(semctl(-1, 0, IPC_INFO, SU_INFO(&si)));
	T_INT(semctl(-1, 0, SEM_INFO, SU_INFO(&si)));
	T_INT(semctl(INT_MIN, 0, IPC_INFO, SU_INFO(&si)));
	T_INT(semctl(-1, 0, IPC_STAT, SU_BUF(&ds)));
	T_INT(semctl(-1, 0, GETVAL));
	T_INT(semctl(-1, 0, IPC_RMID));
	T_INT(semctl(-1, 0, SETVAL, SU_VAL(1)));
	T_INT(semctl(-1, 0, 99));
	T_INT(semctl(INT_MAX, 0, IPC_STAT, SU_BUF(&ds)));
	T_INT(semctl(INT_MAX, 0, GETVAL));
	T_INT(semctl(INT_MAX, 0, GETALL, SU_ARR(arr)));
	T_INT(semctl(INT_MAX, 0, SETALL, SU_ARR(arr)));
	T_INT(semctl(INT_MAX, 0, SETVAL, SU_VAL(1)));
	T_INT(semctl(INT_MAX, 0, IPC_RMID));
	T_INT(semctl(INT_MAX, 0, IPC_SET, SU_BUF(&ds)));
	T_INT(semctl(gone, 0, GETVAL));
	T_INT(semctl(gone, 0, GETNCNT));
	T_INT(semctl(gone, 0, IPC_STAT, SU_BUF(&ds)));
	T_INT(semctl(gone, 0, IPC_RMID));
	T_INT(semctl(id, 0, 99));
	T_INT(semctl(id, 0, -1));
	T_INT(semctl(id, 0, INT_MAX));
	T_INT(semctl(id, 0, INT_MIN));
	for (int cmd = 4; cmd <= 10; cmd++) {
		errno = 0;
		int r = semctl(id, 0, cmd, SU_BUF(&ds));
		printf("semctl(id, 0, %d, &ds) = %d %s\n", cmd, r, r ? ct_errname(errno) : "");
	}
	T_INT(semctl(id, 0, 21, SU_BUF(&ds)));
	T_INT(semctl(id, 0, IPC_STAT | 0x100, SU_BUF(&ds)));
	T_INT(semctl(id, 0, GETVAL | 0x100));
	T_INT(semctl(INT_MAX, 0, 99));

	printf("== semctl: semnum\n");
	T_INT(semctl(id, -1, GETVAL));
	T_INT(semctl(id, 3, GETVAL));
	T_INT(semctl(id, INT_MIN, GETVAL));
	T_INT(semctl(id, 3, GETPID));
	T_INT(semctl(id, 3, GETNCNT));
	T_INT(semctl(id, -1, GETZCNT));
	T_INT(semctl(id, 3, SETVAL, SU_VAL(1)));
	T_INT(semctl(id, -1, SETVAL, SU_VAL(1)));
	T_INT(semctl(id, 2, GETVAL));
	T_INT(semctl(id, -1, IPC_STAT, SU_BUF(&ds)));
	T_INT(semctl(id, 1000, GETALL, SU_ARR(arr)));
	T_NN(semctl(id, INT_MAX, SEM_INFO, SU_INFO(&si)));

	printf("== semctl: SETVAL range\n");
	T_INT(semctl(id, 0, SETVAL, SU_VAL(32767)));
	T_INT(semctl(id, 0, SETVAL, SU_VAL(32768)));
	T_INT(semctl(id, 0, SETVAL, SU_VAL(-1)));
	T_INT(semctl(id, 0, SETVAL, SU_VAL(INT_MAX)));
	T_INT(semctl(id, 0, SETVAL, SU_VAL(INT_MIN)));
	T_INT(semctl(id, 0, SETVAL, SU_VAL(65536)));
	T_INT(semctl(id, 3, SETVAL, SU_VAL(-1)));
	T_INT(semctl(INT_MAX, 0, SETVAL, SU_VAL(-1)));
	T_INT(semctl(gone, 0, SETVAL, SU_VAL(40000)));
	T_INT(semctl(-1, 0, SETVAL, SU_VAL(40000)));
	T_INT(semctl(id, 0, SETVAL, SU_VAL(0)));
	ct_vals("values", id);

	printf("== semctl: SETALL range\n");
	ct_setall(id, "1 2 32767");
	ct_setall(id, "5 5 32768");
	ct_setall(id, "32768 5 5");
	ct_setall(id, "65535 0 0");
	ct_vals("unchanged", id);

	printf("== semctl: buffers\n");
	T_INT(semctl(id, 0, IPC_STAT, SU_BUF(NULL)));
	T_INT(semctl(id, 0, IPC_STAT, SU_BUF((struct semid_ds *)1)));
	T_INT(semctl(id, 0, IPC_STAT, SU_BUF((struct semid_ds *)hole)));
	T_INT(semctl(id, 0, IPC_STAT, SU_BUF((struct semid_ds *)ro)));
	T_INT(semctl(id, 0, IPC_STAT, SU_BUF((struct semid_ds *)(edge + pg - 16))));
	T_INT(semctl(INT_MAX, 0, IPC_STAT, SU_BUF(NULL)));
	T_INT(semctl(id, 0, IPC_SET, SU_BUF(NULL)));
	T_INT(semctl(id, 0, IPC_SET, SU_BUF((struct semid_ds *)none)));
	T_INT(semctl(id, 0, IPC_SET, SU_BUF((struct semid_ds *)(edge + pg - 16))));
	T_INT(semctl(INT_MAX, 0, IPC_SET, SU_BUF(NULL)));
	T_INT(semctl(gone, 0, IPC_SET, SU_BUF(NULL)));
	T_INT(semctl(-1, 0, IPC_SET, SU_BUF(NULL)));
	T_INT(semctl(id, 0, GETALL, SU_ARR(NULL)));
	T_INT(semctl(id, 0, GETALL, SU_ARR((unsigned short *)ro)));
	T_INT(semctl(id, 0, GETALL, SU_ARR((unsigned short *)(edge + pg - 2))));
	T_INT(semctl(id, 0, GETALL, SU_ARR((unsigned short *)(edge + pg - 6))));
	T_INT(semctl(INT_MAX, 0, GETALL, SU_ARR(NULL)));
	T_INT(semctl(id, 0, SETALL, SU_ARR(NULL)));
	T_INT(semctl(id, 0, SETALL, SU_ARR((unsigned short *)hole)));
	T_INT(semctl(id, 0, SETALL, SU_ARR((unsigned short *)(edge + pg - 4))));
	T_INT(semctl(INT_MAX, 0, SETALL, SU_ARR(NULL)));
	ct_vals("unchanged", id);
	/* ro holds the sembuf {1, 1, 0}: as unsigned shorts a valid SETALL source */
	T_INT(semctl(id, 0, SETALL, SU_ARR((unsigned short *)ro)));
	ct_vals("SETALL from read-only memory", id);
	T_NN(semctl(0, 0, IPC_INFO, SU_INFO(NULL)));
	T_NN(semctl(0, 0, IPC_INFO, SU_INFO((struct seminfo *)ro)));
	T_NN(semctl(0, 0, SEM_INFO, SU_INFO((struct seminfo *)1)));
	printf("-- ignored 4th argument\n");
	T_INT(semctl(id, 0, GETVAL, SU_BUF((struct semid_ds *)1)));
	T_INT(semctl(id, 1, GETNCNT, SU_BUF(NULL)));
	T_NN(semctl(id, 2, GETPID, SU_BUF((struct semid_ds *)hole)));
	int victim = T_ID(semget(IPC_PRIVATE, 1, IPC_CREAT | 0600));
	T_INT(semctl(victim, 0, IPC_RMID, SU_BUF((struct semid_ds *)1)));
	T_INT(semctl(victim, 0, GETVAL));
	ct_semstat("final", id);
	return 0;
}
