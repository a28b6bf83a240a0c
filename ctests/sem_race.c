/*
 * sem_race.c - concurrent use of the set table from several processes;
 * only outcomes that the semantics make deterministic are printed:
 *   - 6 processes race IPC_CREAT|IPC_EXCL on the same 100 keys: each key
 *     has exactly one winner, all others get EEXIST, and afterwards every
 *     key resolves to the winner's id
 *   - 6 processes race plain IPC_CREAT on 100 new keys: all get the same
 *     id per key, and exactly 200 sets exist (SEM_INFO semusz)
 *   - 6 processes race IPC_CREAT on 100 keys with different nsems (1..6):
 *     the set is created with the size of whoever won; every process
 *     either gets the id or EINVAL (its nsems is larger than the winner's)
 *   - IPC_RMID while 6 processes operate on the set in a loop (some
 *     sleeping, some with IPC_NOWAIT, some with SEM_UNDO): every call
 *     returns 0, EAGAIN, EIDRM or EINVAL, every process finishes (sleepers
 *     are woken with EIDRM), nothing hangs
 * Processes are released together through a pipe (close of the write
 * end) and report their results through pipes.
 */
#include "common.h"

#define NPROC 6
#define NKEYS 100
#define KBASE 0x300000
#define KBASE2 0x400000
#define KBASE3 0x500000

struct result {
	int ids[NKEYS];
	int errs[NKEYS];
	int bad, bad_errno;
	int ok, eagain, gone;
};

static int gate[2];
static int child_index;

static void send_result(int fd, const struct result *r)
{
	if (write(fd, r, sizeof *r) != (ssize_t)sizeof *r)
		ct_fatal("write result");
}

static void recv_result(int fd, struct result *r)
{
	size_t got = 0;
	while (got < sizeof *r) {
		ssize_t n = read(fd, (char *)r + got, sizeof *r - got);
		if (n <= 0)
			ct_fatal("read result");
		got += n;
	}
}

/* run fn in NPROC children released at once; during() runs in the
 * parent after the release; collect their results */
static void race(const char *what, void (*fn)(int, struct result *), int arg, void (*during)(int),
		 struct result *res)
{
	int out[NPROC][2];
	pid_t pids[NPROC];
	if (pipe(gate) != 0)
		ct_fatal("pipe");
	fflush(stdout);
	for (int i = 0; i < NPROC; i++) {
		if (pipe(out[i]) != 0)
			ct_fatal("pipe");
		pids[i] = fork();
		if (pids[i] < 0)
			ct_fatal("fork");
		if (pids[i] == 0) {
			child_index = i;
			struct result r;
			memset(&r, 0, sizeof r);
			char x;
			close(gate[1]);
			if (read(gate[0], &x, 1) != 0)
				ct_fatal("gate");
			fn(arg, &r);
			send_result(out[i][1], &r);
			_exit(0);
		}
		close(out[i][1]);
	}
	close(gate[0]);
	close(gate[1]);
	if (during)
		during(arg);
	int allok = 1;
	for (int i = 0; i < NPROC; i++) {
		recv_result(out[i][0], &res[i]);
		close(out[i][0]);
		int st;
		waitpid(pids[i], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			allok = 0;
	}
	printf("%s: all %d processes exited 0: %s\n", what, NPROC, yes(allok));
}

static void excl_fn(int arg, struct result *r)
{
	(void)arg;
	for (int k = 0; k < NKEYS; k++) {
		r->ids[k] = semget(KBASE + k, 2, IPC_CREAT | IPC_EXCL | 0600);
		r->errs[k] = r->ids[k] < 0 ? errno : 0;
	}
}

static void creat_fn(int arg, struct result *r)
{
	(void)arg;
	for (int k = 0; k < NKEYS; k++) {
		r->ids[k] = semget(KBASE2 + k, 2, IPC_CREAT | 0600);
		r->errs[k] = r->ids[k] < 0 ? errno : 0;
	}
}

static void sizes_fn(int arg, struct result *r)
{
	(void)arg;
	for (int k = 0; k < NKEYS; k++) {
		r->ids[k] = semget(KBASE3 + k, child_index + 1, IPC_CREAT | 0600);
		r->errs[k] = r->ids[k] < 0 ? errno : 0;
	}
}

static void ops_fn(int id, struct result *r)
{
	static const char *specs[6] = { "0:-1", "0:+1", "0:-1:n 1:+1", "1:-1:u 0:+1:u", "0:0",
					"1:-2 0:+2" };
	for (int i = 0; i < 2000; i++) {
		int rr = ct_semop_q(id, specs[(child_index + i) % 6]);
		if (rr == 0)
			r->ok++;
		else if (errno == EAGAIN)
			r->eagain++;
		else if (errno == EIDRM || errno == EINVAL) {
			r->gone++;
			break;
		} else {
			r->bad++;
			r->bad_errno = errno;
		}
	}
}

static void remove_soon(int id)
{
	/* wait until some operation has completed (sem_otime set), then a
	 * little more */
	for (int i = 0; i < 5000; i++) {
		struct semid_ds ds;
		if (semctl(id, 0, IPC_STAT, SU_BUF(&ds)) == 0 && ds.sem_otime != 0)
			break;
		usleep(1000);
	}
	usleep(20000);
	errno = 0;
	int r = semctl(id, 0, IPC_RMID);
	if (r != 0)
		printf("IPC_RMID during the operations failed: %s\n", ct_errname(errno));
}

int main(void)
{
	ct_init();
	static struct result res[NPROC];

	printf("== IPC_CREAT|IPC_EXCL race on %d keys\n", NKEYS);
	race("excl", excl_fn, 0, NULL, res);
	int one_winner = 0, others_eexist = 1, resolves = 0;
	for (int k = 0; k < NKEYS; k++) {
		int winners = 0, wid = -1;
		for (int i = 0; i < NPROC; i++) {
			if (res[i].ids[k] >= 0) {
				winners++;
				wid = res[i].ids[k];
			} else if (res[i].errs[k] != EEXIST) {
				others_eexist = 0;
			}
		}
		if (winners == 1)
			one_winner++;
		if (wid >= 0 && semget(KBASE + k, 0, 0) == wid)
			resolves++;
	}
	printf("keys with exactly one winner: %d/%d, losers all EEXIST: %s, key resolves to "
	       "winner: %d/%d\n",
	       one_winner, NKEYS, yes(others_eexist), resolves, NKEYS);

	printf("== IPC_CREAT race on %d keys\n", NKEYS);
	race("creat", creat_fn, 0, NULL, res);
	int agree = 0, errors = 0;
	for (int k = 0; k < NKEYS; k++) {
		int same = 1;
		for (int i = 0; i < NPROC; i++) {
			if (res[i].ids[k] < 0)
				errors++;
			if (res[i].ids[k] != res[0].ids[k])
				same = 0;
		}
		agree += same;
	}
	struct seminfo si;
	semctl(0, 0, SEM_INFO, SU_INFO(&si));
	printf("keys where all processes got the same id: %d/%d, errors: %d, semusz=%d semaem=%d\n",
	       agree, NKEYS, errors, si.semusz, si.semaem);

	printf("== IPC_CREAT race with different nsems on %d keys\n", NKEYS);
	race("sizes", sizes_fn, 0, NULL, res);
	int consistent = 0;
	for (int k = 0; k < NKEYS; k++) {
		int id = semget(KBASE3 + k, 0, 0);
		int n = ct_nsems(id);
		int ok = id >= 0 && n >= 1 && n <= NPROC;
		for (int i = 0; i < NPROC && ok; i++) {
			if (i + 1 <= n)
				ok = res[i].ids[k] == id;
			else
				ok = res[i].ids[k] == -1 && res[i].errs[k] == EINVAL;
		}
		consistent += ok;
	}
	printf("keys where every result fits the winner's size: %d/%d\n", consistent, NKEYS);

	printf("== IPC_RMID while %d processes operate\n", NPROC);
	int id = T_ID(semget(IPC_PRIVATE, 2, IPC_CREAT | 0600));
	ct_setall(id, "1 1");
	race("ops", ops_fn, id, remove_soon, res);
	int bad = 0, bad_errno = 0, gone = 0, calls = 0;
	for (int i = 0; i < NPROC; i++) {
		bad += res[i].bad;
		if (res[i].bad)
			bad_errno = res[i].bad_errno;
		gone += res[i].gone;
		calls += res[i].ok + res[i].eagain;
	}
	printf("every call returned 0, EAGAIN, EIDRM or EINVAL: %s%s%s\n", yes(bad == 0),
	       bad ? " " : "", bad ? ct_errname(bad_errno) : "");
	printf("some calls completed before the removal: %s\n", yes(calls > 0));
	T_INT(semctl(id, 0, GETVAL));
	return 0;
}
