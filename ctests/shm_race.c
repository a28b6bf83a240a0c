/*
 * shm_race.c - concurrent use from several processes; only outcomes that
 * the semantics make deterministic are printed:
 *   - 6 processes race IPC_CREAT|IPC_EXCL on the same 100 keys: each key
 *     has exactly one winner, all others get EEXIST, and afterwards every
 *     key resolves to the winner's id
 *   - 6 processes race plain IPC_CREAT on 100 new keys: all get the same
 *     id per key, and exactly 100 segments exist
 *   - 6 processes attach one segment 50 times each and stay attached:
 *     nattch is exactly 300; after they detach in parallel it is 0
 *   - 6 processes attach and detach in a tight loop (incrementing a byte
 *     each time): nattch ends at 0 and all 1800 increments are in the
 *     memory
 *   - IPC_RMID while 6 processes are attaching/detaching in a loop: every
 *     shmat either succeeds or fails with EINVAL (or EIDRM, which Linux
 *     returns when the removal lands between lookup and lock); after they
 *     exit the id is gone
 * Processes are released together through a pipe (close of the write
 * end) and report their results through pipes.
 */
#include "common.h"

#define NPROC 6
#define NKEYS 100
#define KBASE 0x100000
#define KBASE2 0x200000

struct result {
	int ids[NKEYS];
	int errs[NKEYS];
	int bad;
	int einval;
	int ok;
};

static int gate[2];
static int child_index; /* 0..NPROC-1 in the racing children */

static void open_gate(void)
{
	if (pipe(gate) != 0)
		ct_fatal("pipe");
}

static void wait_gate(void)
{
	char x;
	close(gate[1]);
	if (read(gate[0], &x, 1) != 0)
		ct_fatal("gate");
}

static void release(void)
{
	close(gate[0]);
	close(gate[1]);
}

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

/* run fn in NPROC children released at once; collect their results */
static void race(const char *what, void (*fn)(int, struct result *), int arg, struct result *res)
{
	int out[NPROC][2];
	pid_t pids[NPROC];
	open_gate();
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
			wait_gate();
			fn(arg, &r);
			send_result(out[i][1], &r);
			_exit(0);
		}
		close(out[i][1]);
	}
	release();
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
		r->ids[k] = shmget(KBASE + k, ct_page, IPC_CREAT | IPC_EXCL | 0600);
		r->errs[k] = r->ids[k] < 0 ? errno : 0;
	}
}

static void creat_fn(int arg, struct result *r)
{
	(void)arg;
	for (int k = 0; k < NKEYS; k++) {
		r->ids[k] = shmget(KBASE2 + k, ct_page, IPC_CREAT | 0600);
		r->errs[k] = r->ids[k] < 0 ? errno : 0;
	}
}

static struct ct_chan attached, go_detach;

static void hold_fn(int id, struct result *r)
{
	void *p[50];
	for (int i = 0; i < 50; i++) {
		p[i] = shmat(id, NULL, 0);
		if (p[i] == (void *)-1)
			r->bad++;
	}
	ct_post(attached);
	ct_waitfor(go_detach);
	for (int i = 0; i < 50; i++)
		if (p[i] != (void *)-1 && shmdt(p[i]) != 0)
			r->bad++;
}

static void churn_fn(int id, struct result *r)
{
	for (int i = 0; i < 300; i++) {
		char *p = shmat(id, NULL, 0);
		if (p == (void *)-1) {
			r->bad++;
			continue;
		}
		p[child_index * 300 + i]++; /* own bytes: no lost updates */
		if (shmdt(p) != 0)
			r->bad++;
	}
}

static struct ct_chan started;

static void rmid_fn(int id, struct result *r)
{
	for (int i = 0; i < 300; i++) {
		if (i == 1)
			ct_post(started); /* the parent removes the id now */
		char *p = shmat(id, NULL, 0);
		if (p == (void *)-1) {
			/* EIDRM: removed between lookup and lock (Linux) */
			if (errno == EINVAL || errno == EIDRM)
				r->einval++;
			else
				r->bad++;
			continue;
		}
		r->ok++;
		if (shmdt(p) != 0)
			r->bad++;
	}
}

int main(void)
{
	ct_init();
	static struct result res[NPROC];

	printf("== IPC_CREAT|IPC_EXCL race on %d keys\n", NKEYS);
	race("excl", excl_fn, 0, res);
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
		if (wid >= 0 && shmget(KBASE + k, 0, 0) == wid)
			resolves++;
	}
	printf("keys with exactly one winner: %d/%d, losers all EEXIST: %s, key resolves to winner: %d/%d\n",
	       one_winner, NKEYS, yes(others_eexist), resolves, NKEYS);

	printf("== IPC_CREAT race on %d keys\n", NKEYS);
	race("creat", creat_fn, 0, res);
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
	struct shm_info si;
	shmctl(0, SHM_INFO, (struct shmid_ds *)&si);
	printf("keys where all processes got the same id: %d/%d, errors: %d, used_ids=%d\n", agree,
	       NKEYS, errors, si.used_ids);

	printf("== %d processes x 50 attaches held\n", NPROC);
	int id = T_ID(shmget(IPC_PRIVATE, ct_page, IPC_CREAT | 0600));
	attached = ct_chan();
	go_detach = ct_chan();
	{
		/* race() blocks until results arrive, so run it in a helper */
		fflush(stdout);
		pid_t h = fork();
		if (h < 0)
			ct_fatal("fork");
		if (h == 0) {
			race("hold", hold_fn, id, res);
			int bad = 0;
			for (int i = 0; i < NPROC; i++)
				bad += res[i].bad;
			printf("hold: failed calls: %d\n", bad);
			ct_child_exit(0);
		}
		for (int i = 0; i < NPROC; i++)
			ct_waitfor(attached);
		printf("nattch with everybody attached: %ld\n", ct_nattch(id));
		for (int i = 0; i < NPROC; i++)
			ct_post(go_detach);
		int st;
		waitpid(h, &st, 0);
		printf("nattch after parallel detach: %ld\n", ct_nattch(id));
	}

	printf("== attach/detach churn\n");
	{
		fflush(stdout);
		pid_t h = fork();
		if (h < 0)
			ct_fatal("fork");
		if (h == 0) {
			race("churn", churn_fn, id, res);
			int bad = 0;
			for (int i = 0; i < NPROC; i++)
				bad += res[i].bad;
			printf("churn: failed calls: %d\n", bad);
			ct_child_exit(0);
		}
		/* no bound is checked while they run: Linux itself counts an
		 * attach in progress twice for a moment (do_shmat) */
		int st;
		waitpid(h, &st, 0);
		printf("nattch after churn: %ld\n", ct_nattch(id));
		unsigned char *mine = shmat(id, NULL, 0);
		int sum = 0;
		for (int i = 0; i < 4096; i++)
			sum += mine[i];
		printf("increments visible: %d\n", sum);
		shmdt(mine);
	}

	printf("== IPC_RMID during churn\n");
	{
		int rid = T_ID(shmget(IPC_PRIVATE, ct_page, IPC_CREAT | 0600));
		started = ct_chan();
		fflush(stdout);
		pid_t h = fork();
		if (h < 0)
			ct_fatal("fork");
		if (h == 0) {
			race("rmid", rmid_fn, rid, res);
			int bad = 0, ok = 0, einval = 0;
			for (int i = 0; i < NPROC; i++) {
				bad += res[i].bad;
				ok += res[i].ok;
				einval += res[i].einval;
			}
			printf("rmid: every shmat either succeeded or failed with EINVAL/EIDRM: %s, "
			       "total %d\n", yes(bad == 0), ok + einval);
			ct_child_exit(0);
		}
		for (int i = 0; i < NPROC; i++)
			ct_waitfor(started);
		errno = 0;
		int r = shmctl(rid, IPC_RMID, NULL);
		int e = errno;
		int st;
		waitpid(h, &st, 0);
		/* printed only now: the helper prints while the parent waits */
		ct_show_int("shmctl(rid, IPC_RMID, NULL) during churn", r, e);
		struct shmid_ds ds;
		T_INT(shmctl(rid, IPC_STAT, &ds));
	}
	return 0;
}
