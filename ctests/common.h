/*
 * common.h - shared helpers for the ipcbox C conformance tests.
 *
 * Every test is run twice: once against the kernel (`unshare --ipc PROG`)
 * and once inside a box (`ipcbox run -- nokernel PROG`), and the two
 * stdout transcripts must be byte-identical.  So nothing that differs
 * between two runs may ever be printed raw:
 *
 *   ids        -> "id1", "id2", ... in order of first appearance (idn())
 *   errno      -> its name, "EINVAL" (strerrorname_np)
 *   pids       -> registered names: "main", "child1", ... or "0" (pidn())
 *   times      -> "0", "set", or "M<k>" = "happened between mark k and
 *                 mark k+1" (see ct_mark())
 *   addresses  -> relations printed by the test itself
 *
 * The T_* macros run one call, capture errno immediately and print
 * "<source text of the call> = <normalized result>".
 *
 * Output is line buffered and every helper that forks flushes first, so
 * the transcript order is decided only by the pipe/waitpid handshakes of
 * the test, never by the scheduler.
 *
 * Only pipes and waitpid are used for synchronisation (never SysV sems or
 * message queues).
 */
#ifndef IPCBOX_CTEST_COMMON_H
#define IPCBOX_CTEST_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CT_UNUSED __attribute__((unused))

/* The unprivileged user/group used by permission tests ("nobody"). */
#define NOBODY 65534

static long ct_page; /* page size */

/* ------------------------------------------------------------------ */
/* fatal errors of the test harness itself (not of the API under test) */

static void CT_UNUSED ct_fatal(const char *what)
{
	int e = errno;
	printf("FATAL: %s: %s\n", what, e ? strerrorname_np(e) : "?");
	fflush(stdout);
	_exit(99);
}

/* small rotating string buffers so helpers can be used several times in
 * one printf */
static char *ct_buf(void)
{
	static char bufs[16][64];
	static int n;
	return bufs[n++ % 16];
}

static const char *ct_errname(int e)
{
	const char *s = e ? strerrorname_np(e) : NULL;
	if (s)
		return s;
	char *b = ct_buf();
	snprintf(b, 64, "errno=%d", e);
	return b;
}

static const char CT_UNUSED *yes(int b)
{
	return b ? "yes" : "no";
}

/* ------------------------------------------------------------------ */
/* id normalisation */

#define CT_MAXIDS 8192
static int ct_ids[CT_MAXIDS];
static int ct_nids;

/* "idN" for id; -1 prints as "-1" */
static const char CT_UNUSED *idn(int id)
{
	char *b = ct_buf();
	if (id < 0) {
		snprintf(b, 64, "%d", id);
		return b;
	}
	int i;
	for (i = 0; i < ct_nids; i++)
		if (ct_ids[i] == id)
			break;
	if (i == ct_nids) {
		if (ct_nids == CT_MAXIDS)
			ct_fatal("too many ids");
		ct_ids[ct_nids++] = id;
	}
	snprintf(b, 64, "id%d", i + 1);
	return b;
}

/* ------------------------------------------------------------------ */
/* pid normalisation */

#define CT_MAXPIDS 64
static struct {
	pid_t pid;
	char name[24];
} ct_pids[CT_MAXPIDS];
static int ct_npids;

static void CT_UNUSED ct_pid_register(pid_t pid, const char *name)
{
	for (int i = 0; i < ct_npids; i++)
		if (ct_pids[i].pid == pid) {
			snprintf(ct_pids[i].name, sizeof ct_pids[i].name, "%s", name);
			return;
		}
	if (ct_npids == CT_MAXPIDS)
		ct_fatal("too many pids");
	ct_pids[ct_npids].pid = pid;
	snprintf(ct_pids[ct_npids].name, sizeof ct_pids[ct_npids].name, "%s", name);
	ct_npids++;
}

static const char CT_UNUSED *pidn(pid_t pid)
{
	if (pid == 0)
		return "0";
	for (int i = 0; i < ct_npids; i++)
		if (ct_pids[i].pid == pid)
			return ct_pids[i].name;
	return "unknown-pid";
}

/* ------------------------------------------------------------------ */
/* time normalisation
 *
 * ct_mark() waits until the (coarse, kernel-visible) wall clock second
 * changes and records the new second as mark k.  Everything that happened
 * before the call has a timestamp < mark k, everything after has a
 * timestamp >= mark k, so a timestamp t prints as "M<k>" where k is the
 * last mark <= t: deterministic, at the cost of <= 1s per mark.
 * Without any mark a time prints as "0" or "set".
 */
#define CT_MAXMARKS 32
static time_t ct_marks[CT_MAXMARKS];
static int ct_nmarks;

static time_t ct_now_fine(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

static time_t ct_now_coarse(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return ts.tv_sec;
}

static int CT_UNUSED ct_mark(void)
{
	if (ct_nmarks == CT_MAXMARKS)
		ct_fatal("too many marks");
	/* the fine clock may be ahead of the coarse one by a tick: take the
	 * max, then wait until both clocks are past it */
	time_t t = ct_now_fine();
	if (ct_now_coarse() > t)
		t = ct_now_coarse();
	while (ct_now_coarse() <= t || ct_now_fine() <= t)
		usleep(5000);
	ct_marks[ct_nmarks] = ct_now_coarse();
	printf("-- mark M%d\n", ct_nmarks);
	return ct_nmarks++;
}

static const char CT_UNUSED *tn(time_t t)
{
	if (t == 0)
		return "0";
	if (ct_nmarks == 0)
		return "set";
	char *b = ct_buf();
	if (t < ct_marks[0]) {
		snprintf(b, 64, "<M0");
		return b;
	}
	int k = 0;
	for (int i = 0; i < ct_nmarks; i++)
		if (ct_marks[i] <= t)
			k = i;
	snprintf(b, 64, "M%d", k);
	return b;
}

/* ------------------------------------------------------------------ */
/* init */

static void CT_UNUSED ct_init(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	ct_page = sysconf(_SC_PAGESIZE);
	ct_pid_register(getpid(), "main");
	/* never leave core files behind from the SIGSEGV tests */
	struct rlimit rl = { 0, 0 };
	setrlimit(RLIMIT_CORE, &rl);
}

/* ------------------------------------------------------------------ */
/* result printing.  Each macro evaluates the call once, captures errno
 * right after it and prints "<call source> = <result>". */

static int CT_UNUSED ct_show_id(const char *src, int r, int e)
{
	if (r == -1)
		printf("%s = -1 %s\n", src, ct_errname(e));
	else if (r < 0)
		printf("%s = %d (negative!)\n", src, r);
	else
		printf("%s = %s\n", src, idn(r));
	return r;
}

static long CT_UNUSED ct_show_int(const char *src, long r, int e)
{
	if (r == -1)
		printf("%s = -1 %s\n", src, ct_errname(e));
	else
		printf("%s = %ld\n", src, r);
	return r;
}

static void CT_UNUSED *ct_show_addr(const char *src, void *p, int e)
{
	if (p == (void *)-1)
		printf("%s = (void*)-1 %s\n", src, ct_errname(e));
	else if ((uintptr_t)p % ct_page)
		printf("%s = addr (NOT page aligned)\n", src);
	else
		printf("%s = addr\n", src);
	return p;
}

/* shmget-like: prints idN or -1 ERRNO */
#define T_ID(call) ({ errno = 0; int r__ = (call); int e__ = errno; \
	ct_show_id(#call, r__, e__); errno = e__; r__; })
/* plain int result, printed raw (0, -1 ERRNO, index...) */
#define T_INT(call) ({ errno = 0; long r__ = (call); int e__ = errno; \
	ct_show_int(#call, r__, e__); errno = e__; (int)r__; })
/* shmat-like: prints "addr" or (void*)-1 ERRNO */
#define T_AT(call) ({ errno = 0; void *r__ = (call); int e__ = errno; \
	ct_show_addr(#call, r__, e__); errno = e__; r__; })

/* ------------------------------------------------------------------ */
/* struct printing */

static void CT_UNUSED ct_print_perm_mode(const char *label, const struct shmid_ds *ds)
{
	printf("%s: mode=%#o\n", label, (unsigned)ds->shm_perm.mode);
}

/* Print every public field of shmid_ds, normalized. */
static void CT_UNUSED ct_print_ds(const char *label, const struct shmid_ds *ds)
{
	printf("%s: key=0x%x uid=%u gid=%u cuid=%u cgid=%u mode=%#o segsz=%zu nattch=%lu\n",
	       label, (unsigned)ds->shm_perm.__key, (unsigned)ds->shm_perm.uid,
	       (unsigned)ds->shm_perm.gid, (unsigned)ds->shm_perm.cuid,
	       (unsigned)ds->shm_perm.cgid, (unsigned)ds->shm_perm.mode,
	       (size_t)ds->shm_segsz, (unsigned long)ds->shm_nattch);
	printf("%s: cpid=%s lpid=%s atime=%s dtime=%s ctime=%s\n", label,
	       pidn(ds->shm_cpid), pidn(ds->shm_lpid), tn(ds->shm_atime),
	       tn(ds->shm_dtime), tn(ds->shm_ctime));
}

/* IPC_STAT + print; prints the error instead if IPC_STAT fails */
static int CT_UNUSED ct_stat(const char *label, int id)
{
	struct shmid_ds ds;
	memset(&ds, 0x5a, sizeof ds);
	errno = 0;
	int r = shmctl(id, IPC_STAT, &ds);
	if (r != 0) {
		printf("%s: IPC_STAT(%s) = %d %s\n", label, idn(id), r, ct_errname(errno));
		return r;
	}
	ct_print_ds(label, &ds);
	return 0;
}

/* just nattch (for compact transcripts) */
static long CT_UNUSED ct_nattch(int id)
{
	struct shmid_ds ds;
	if (shmctl(id, IPC_STAT, &ds) != 0)
		return -1000 - errno;
	return (long)ds.shm_nattch;
}

static void CT_UNUSED ct_print_shminfo(const char *label, const struct shminfo *i)
{
	printf("%s: shmmax=%lu shmmin=%lu shmmni=%lu shmseg=%lu shmall=%lu\n", label,
	       (unsigned long)i->shmmax, (unsigned long)i->shmmin,
	       (unsigned long)i->shmmni, (unsigned long)i->shmseg,
	       (unsigned long)i->shmall);
}

/* used_ids and shm_tot are exact; rss/swp only as relations */
static void CT_UNUSED ct_print_shm_info(const char *label, const struct shm_info *i,
					unsigned long min_rss_pages)
{
	printf("%s: used_ids=%d shm_tot=%lu rss>=%lu:%s rss+swp<=tot:%s "
	       "swap_attempts=%lu swap_successes=%lu\n",
	       label, i->used_ids, (unsigned long)i->shm_tot, min_rss_pages,
	       yes(i->shm_rss >= min_rss_pages),
	       yes(i->shm_rss + i->shm_swp <= i->shm_tot),
	       (unsigned long)i->swap_attempts, (unsigned long)i->swap_successes);
}

/* ------------------------------------------------------------------ */
/* processes */

static int ct_nchildren;

/* fork and give the child a name in the pid registry of both sides */
static pid_t CT_UNUSED ct_fork(const char *name)
{
	fflush(stdout);
	fflush(stderr);
	pid_t p = fork();
	if (p < 0)
		ct_fatal("fork");
	if (p == 0) {
		ct_pid_register(getpid(), name);
	} else {
		ct_pid_register(p, name);
		ct_nchildren++;
	}
	return p;
}

static void CT_UNUSED ct_child_exit(int code)
{
	fflush(stdout);
	fflush(stderr);
	_exit(code);
}

static const char *ct_status_str(int st)
{
	char *b = ct_buf();
	if (WIFEXITED(st))
		snprintf(b, 64, "exited %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(b, 64, "killed by SIG%s", sigabbrev_np(WTERMSIG(st)));
	else
		snprintf(b, 64, "status 0x%x", st);
	return b;
}

/* waitpid and print "<name>: exited 0" / "<name>: killed by SIGSEGV" */
static int CT_UNUSED ct_wait(pid_t p)
{
	int st;
	pid_t r;
	do
		r = waitpid(p, &st, 0);
	while (r < 0 && errno == EINTR);
	if (r != p)
		ct_fatal("waitpid");
	printf("%s: %s\n", pidn(p), ct_status_str(st));
	return st;
}

/* one-directional handshake channel over a pipe */
struct ct_chan {
	int rd, wr;
};

static struct ct_chan CT_UNUSED ct_chan(void)
{
	int fd[2];
	if (pipe(fd) != 0)
		ct_fatal("pipe");
	struct ct_chan c = { fd[0], fd[1] };
	return c;
}

/* send one token (flushes stdout first so output ordering follows the
 * handshake) */
static void CT_UNUSED ct_post(struct ct_chan c)
{
	fflush(stdout);
	char x = 'x';
	if (write(c.wr, &x, 1) != 1)
		ct_fatal("ct_post");
}

static void CT_UNUSED ct_waitfor(struct ct_chan c)
{
	char x;
	ssize_t n;
	do
		n = read(c.rd, &x, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		ct_fatal("ct_waitfor");
}

/* ------------------------------------------------------------------ */
/* credentials */

/* glibc's capset (no header declares it). Tests change capabilities
 * through libc, as programs do (libcap calls it too), so that a box sees the
 * change (README: credentials are re-read after the libc calls that change
 * them). */
extern int capset(cap_user_header_t header, const cap_user_data_t data);

static void CT_UNUSED ct_capset_none(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof d);
	if (capset(&h, d) != 0)
		ct_fatal("capset");
}

/* Does the current process hold capability cap in its effective set? */
static int CT_UNUSED ct_has_cap(int cap)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) != 0)
		ct_fatal("capget");
	return (d[cap / 32].effective >> (cap % 32)) & 1;
}

/* become uid/gid (real, effective, saved), no supplementary groups, and
 * drop every capability explicitly */
static void CT_UNUSED ct_become(uid_t uid, gid_t gid)
{
	if (setgroups(0, NULL) != 0)
		ct_fatal("setgroups");
	if (setresgid(gid, gid, gid) != 0)
		ct_fatal("setresgid");
	if (setresuid(uid, uid, uid) != 0)
		ct_fatal("setresuid");
	ct_capset_none();
}

/* stay root (uid 0) but drop every capability (CAP_IPC_OWNER,
 * CAP_SYS_ADMIN, CAP_IPC_LOCK, ...) */
static void CT_UNUSED ct_root_nocaps(void)
{
	if (setgroups(0, NULL) != 0)
		ct_fatal("setgroups");
	ct_capset_none();
}

/* ------------------------------------------------------------------ */
/* misc */

/* Find an address range that is free, so the caller can attach at an
 * explicit address (or use it as "an address where nothing is mapped").
 * The range is taken far below the area where mmap(NULL, ...) places
 * mappings (top-down from below the stack), so that nothing the process
 * or a preloaded library maps later on its own lands in it.  Each call
 * returns a different 1 MiB aligned range. */
#define CT_ALIGN (1UL << 20) /* >= SHMLBA on every architecture */
static void CT_UNUSED *ct_free_range(size_t len)
{
	static unsigned n;
	size_t span = (len + CT_ALIGN - 1) & ~(CT_ALIGN - 1);
	for (; n < 64; n++) {
		char *want = (char *)(0x100000000000UL + (uintptr_t)n * 0x10000000UL);
		char *p = mmap(want, span, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p == MAP_FAILED)
			continue;
		munmap(p, span);
		if (p == want) {
			n++;
			return p;
		}
	}
	/* small address space: take whatever the kernel gives */
	size_t big = span + CT_ALIGN;
	char *p = mmap(NULL, big, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		ct_fatal("mmap");
	munmap(p, big);
	return (void *)(((uintptr_t)p + CT_ALIGN - 1) & ~(CT_ALIGN - 1));
}

/* ------------------------------------------------------------------ */
/* System V semaphores
 *
 * glibc does not define union semun: the caller must (man 2 semctl).
 * The 4th argument of semctl() is passed as this union by value.
 */
#include <sys/sem.h>

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
	struct seminfo *__buf;
};

#define SU_VAL(v) ((union semun){ .val = (v) })
#define SU_BUF(p) ((union semun){ .buf = (p) })
#define SU_ARR(p) ((union semun){ .array = (p) })
#define SU_INFO(p) ((union semun){ .__buf = (p) })

#define CT_MAXSOPS 600

/* a call whose non-negative result is not deterministic (an index, a
 * pid): prints "<call> = >=0" or "<call> = -1 ERRNO" */
#define T_NN(call) ({ errno = 0; long r__ = (call); int e__ = errno; \
	if (r__ >= 0) printf("%s = >=0\n", #call); \
	else printf("%s = %ld %s\n", #call, r__, ct_errname(e__)); \
	errno = e__; (int)r__; })

/* Parse an operation list "NUM:OP[:FLAGS] ..." into sops; FLAGS letters:
 * n = IPC_NOWAIT, u = SEM_UNDO, x = 0x4000 (an unknown flag bit).
 * Returns the number of operations. */
static int CT_UNUSED ct_sops(const char *spec, struct sembuf *sops)
{
	int n = 0;
	const char *s = spec;
	while (*s) {
		while (*s == ' ')
			s++;
		if (!*s)
			break;
		if (n == CT_MAXSOPS)
			ct_fatal("too many sops");
		char *e;
		long num = strtol(s, &e, 10);
		if (*e != ':')
			ct_fatal("bad sop spec");
		long op = strtol(e + 1, &e, 10);
		short flg = 0;
		if (*e == ':') {
			for (e++; *e && *e != ' '; e++) {
				if (*e == 'n')
					flg |= IPC_NOWAIT;
				else if (*e == 'u')
					flg |= SEM_UNDO;
				else if (*e == 'x')
					flg |= 0x4000;
				else
					ct_fatal("bad sop flag");
			}
		}
		sops[n].sem_num = (unsigned short)num;
		sops[n].sem_op = (short)op;
		sops[n].sem_flg = flg;
		n++;
		s = e;
	}
	return n;
}

/* semop with an operation list given as text; quiet (for children) */
static int CT_UNUSED ct_semop_q(int id, const char *spec)
{
	struct sembuf sops[CT_MAXSOPS];
	int n = ct_sops(spec, sops);
	return semop(id, sops, n);
}

/* semtimedop with a timeout in milliseconds (ms < 0: NULL timeout); quiet */
static int CT_UNUSED ct_semtimedop_q(int id, const char *spec, long ms)
{
	struct sembuf sops[CT_MAXSOPS];
	int n = ct_sops(spec, sops);
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	return semtimedop(id, sops, n, ms < 0 ? NULL : &ts);
}

static void CT_UNUSED ct_show_semres(const char *src, int r, int e)
{
	if (r == -1)
		printf("%s = -1 %s\n", src, ct_errname(e));
	else
		printf("%s = %d\n", src, r);
}

/* prints "semop(id1, [0:-1 1:+1:u]) = 0" */
static int CT_UNUSED ct_semop(int id, const char *spec)
{
	char src[256];
	snprintf(src, sizeof src, "semop(%s, [%s])", idn(id), spec);
	errno = 0;
	int r = ct_semop_q(id, spec);
	int e = errno;
	ct_show_semres(src, r, e);
	errno = e;
	return r;
}

/* prints "semtimedop(id1, [0:-1], 50ms) = -1 EAGAIN" */
static int CT_UNUSED ct_semtimedop(int id, const char *spec, long ms)
{
	char src[256];
	if (ms < 0)
		snprintf(src, sizeof src, "semtimedop(%s, [%s], NULL)", idn(id), spec);
	else
		snprintf(src, sizeof src, "semtimedop(%s, [%s], %ldms)", idn(id), spec, ms);
	errno = 0;
	int r = ct_semtimedop_q(id, spec, ms);
	int e = errno;
	ct_show_semres(src, r, e);
	errno = e;
	return r;
}

/* SETALL from a text list of values "5 1 0 7"; prints
 * "SETALL(id1, [5 1 0 7]) = 0" */
static int CT_UNUSED ct_setall(int id, const char *vals)
{
	unsigned short v[CT_MAXSOPS];
	int n = 0;
	const char *s = vals;
	char *e;
	while (n < CT_MAXSOPS) {
		long x = strtol(s, &e, 10);
		if (e == s)
			break;
		v[n++] = (unsigned short)x;
		s = e;
	}
	errno = 0;
	int r = semctl(id, 0, SETALL, SU_ARR(v));
	int err = errno;
	char src[256];
	snprintf(src, sizeof src, "SETALL(%s, [%s])", idn(id), vals);
	ct_show_semres(src, r, err);
	errno = err;
	return r;
}

/* SETVAL, printed as "SETVAL(id1, 0, 5) = 0" */
static int CT_UNUSED ct_setval(int id, int semnum, int val)
{
	errno = 0;
	int r = semctl(id, semnum, SETVAL, SU_VAL(val));
	int err = errno;
	char src[128];
	snprintf(src, sizeof src, "SETVAL(%s, %d, %d)", idn(id), semnum, val);
	ct_show_semres(src, r, err);
	errno = err;
	return r;
}

/* Print every public field of semid_ds, normalized. */
static void CT_UNUSED ct_print_semds(const char *label, const struct semid_ds *ds)
{
	printf("%s: key=0x%x uid=%u gid=%u cuid=%u cgid=%u mode=%#o nsems=%lu otime=%s "
	       "ctime=%s\n",
	       label, (unsigned)ds->sem_perm.__key, (unsigned)ds->sem_perm.uid,
	       (unsigned)ds->sem_perm.gid, (unsigned)ds->sem_perm.cuid,
	       (unsigned)ds->sem_perm.cgid, (unsigned)ds->sem_perm.mode,
	       (unsigned long)ds->sem_nsems, tn(ds->sem_otime), tn(ds->sem_ctime));
}

/* semctl IPC_STAT + print; prints the error instead if it fails */
static int CT_UNUSED ct_semstat(const char *label, int id)
{
	struct semid_ds ds;
	memset(&ds, 0x5a, sizeof ds);
	errno = 0;
	int r = semctl(id, 0, IPC_STAT, SU_BUF(&ds));
	if (r != 0) {
		printf("%s: IPC_STAT(%s) = %d %s\n", label, idn(id), r, ct_errname(errno));
		return r;
	}
	ct_print_semds(label, &ds);
	return 0;
}

/* number of semaphores of a set (IPC_STAT), -1 on error */
static int CT_UNUSED ct_nsems(int id)
{
	struct semid_ds ds;
	if (semctl(id, 0, IPC_STAT, SU_BUF(&ds)) != 0)
		return -1;
	return (int)ds.sem_nsems;
}

/* "label: vals=[1 0 3]" via GETALL (at most 64 printed) */
static void CT_UNUSED ct_vals(const char *label, int id)
{
	unsigned short v[CT_MAXSOPS];
	errno = 0;
	int n = ct_nsems(id);
	if (n < 0 || n > CT_MAXSOPS || semctl(id, 0, GETALL, SU_ARR(v)) != 0) {
		printf("%s: GETALL(%s) failed: %s\n", label, idn(id), ct_errname(errno));
		return;
	}
	printf("%s: vals=[", label);
	for (int i = 0; i < n && i < 64; i++)
		printf("%s%u", i ? " " : "", v[i]);
	printf("%s]\n", n > 64 ? " ..." : "");
}

/* "label: ncnt=[0 1] zcnt=[0 0]" */
static void CT_UNUSED ct_cnts(const char *label, int id)
{
	int n = ct_nsems(id);
	if (n < 0) {
		printf("%s: IPC_STAT(%s) failed: %s\n", label, idn(id), ct_errname(errno));
		return;
	}
	printf("%s: ncnt=[", label);
	for (int i = 0; i < n && i < 64; i++)
		printf("%s%d", i ? " " : "", semctl(id, i, GETNCNT));
	printf("] zcnt=[");
	for (int i = 0; i < n && i < 64; i++)
		printf("%s%d", i ? " " : "", semctl(id, i, GETZCNT));
	printf("]\n");
}

/* "label: sempid=[main child1 0]" (GETPID of every semaphore) */
static void CT_UNUSED ct_sempids(const char *label, int id)
{
	int n = ct_nsems(id);
	if (n < 0) {
		printf("%s: IPC_STAT(%s) failed: %s\n", label, idn(id), ct_errname(errno));
		return;
	}
	printf("%s: sempid=[", label);
	for (int i = 0; i < n && i < 64; i++) {
		errno = 0;
		int p = semctl(id, i, GETPID);
		printf("%s%s", i ? " " : "", p < 0 ? ct_errname(errno) : pidn(p));
	}
	printf("]\n");
}

static void CT_UNUSED ct_print_seminfo(const char *label, const struct seminfo *i)
{
	printf("%s: semmap=%d semmni=%d semmns=%d semmnu=%d semmsl=%d semopm=%d semume=%d "
	       "semusz=%d semvmx=%d semaem=%d\n",
	       label, i->semmap, i->semmni, i->semmns, i->semmnu, i->semmsl, i->semopm,
	       i->semume, i->semusz, i->semvmx, i->semaem);
}

/* state letter of /proc/PID/stat ('?' if unreadable) */
static char CT_UNUSED ct_proc_state(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return '?';
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return '?';
	return p[2];
}

/* Wait (up to 5 s) until semctl(id, semnum, cmd) == want (cmd is GETNCNT
 * or GETZCNT) and, if pid > 0, process pid sleeps (state 'S').  Returns 1
 * when both hold, 0 on timeout, at once if semctl fails or the process
 * has exited. */
static int CT_UNUSED ct_wait_cnt(pid_t pid, int id, int semnum, int cmd, int want)
{
	for (int i = 0; i < 5000; i++) {
		int n = semctl(id, semnum, cmd);
		char st = pid > 0 ? ct_proc_state(pid) : 'S';
		if (n == want && st == 'S')
			return 1;
		/* give up at once when it cannot happen any more */
		if (n < 0 || st == 'Z' || st == '?')
			return 0;
		usleep(1000);
	}
	return 0;
}

/* as ct_wait_cnt, printing "<name> blocked: yes" (or the counts if not) */
static int CT_UNUSED ct_blocked(pid_t pid, int id, int semnum, int cmd, int want)
{
	int ok = ct_wait_cnt(pid, id, semnum, cmd, want);
	if (ok)
		printf("%s blocked: yes\n", pid > 0 ? pidn(pid) : "waiters");
	else
		printf("%s blocked: NO (%s(%d)=%d, state %c)\n", pid > 0 ? pidn(pid) : "waiters",
		       cmd == GETNCNT ? "GETNCNT" : "GETZCNT", semnum, semctl(id, semnum, cmd),
		       pid > 0 ? ct_proc_state(pid) : '-');
	return ok;
}

/* A child reports the result of one call through its exit status:
 * 0 -> returned 0, errno value -> returned -1 with that errno, 250 ->
 * any other return value. */
static void CT_UNUSED ct_child_result(int r, int e)
{
	fflush(stdout);
	fflush(stderr);
	_exit(r == 0 ? 0 : (r == -1 && e > 0 && e < 250) ? e : 250);
}

/* waitpid a child that used ct_child_result; prints
 * "<name>: <what> = 0" / "= -1 EIDRM" / "killed by SIGKILL" */
static int CT_UNUSED ct_wait_result(pid_t p, const char *what)
{
	int st;
	pid_t r;
	do
		r = waitpid(p, &st, 0);
	while (r < 0 && errno == EINTR);
	if (r != p)
		ct_fatal("waitpid");
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		printf("%s: %s = 0\n", pidn(p), what);
	else if (WIFEXITED(st) && WEXITSTATUS(st) < 250)
		printf("%s: %s = -1 %s\n", pidn(p), what, ct_errname(WEXITSTATUS(st)));
	else
		printf("%s: %s: %s\n", pidn(p), what, ct_status_str(st));
	return st;
}

/* Has child p terminated (without reaping it)? */
static int CT_UNUSED ct_exited(pid_t p)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	if (waitid(P_PID, p, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
		return -1;
	return si.si_pid == p;
}

/* ------------------------------------------------------------------ */
/* System V message queues
 *
 * Messages are sent either as text (ct_snd: strlen(text) bytes) or as N
 * bytes of a fill pattern that depends on the type (ct_sndn: byte i is
 * 'a' + (mtype + i) % 26), so that a received body can be printed and
 * checked: short printable bodies print quoted, longer ones as
 * "<fill N>" (N bytes of the pattern of their own type, e.g. a truncated
 * one) or "<N bytes fnv 0x...>".
 */
#include <sys/ioctl.h>
#include <sys/msg.h>

#define CT_MSGMAX 8192 /* MSGMAX of a fresh namespace */
#define CT_MSGMNB 16384 /* MSGMNB: default msg_qbytes */

struct ct_msg {
	long mtype;
	char mtext[CT_MSGMAX + 256];
};

static void CT_UNUSED ct_fill(char *p, size_t len, long seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (char)('a' + (char)(((unsigned long)seed + i) % 26));
}

/* A 64-bit mixer (murmur3's finaliser): pseudo-random values from seeds. */
static uint64_t CT_UNUSED ct_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static uint32_t CT_UNUSED ct_fnv(const void *p, size_t n)
{
	const unsigned char *c = p;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 16777619u;
	}
	return h;
}

/* msgflg as text: "0", "IPC_NOWAIT|MSG_NOERROR"; in hex if it has other bits */
static const char CT_UNUSED *ct_msgflg(int f)
{
	static const struct {
		int bit;
		const char *name;
	} names[] = { { IPC_NOWAIT, "IPC_NOWAIT" }, { MSG_NOERROR, "MSG_NOERROR" },
		      { MSG_EXCEPT, "MSG_EXCEPT" }, { MSG_COPY, "MSG_COPY" },
		      { IPC_CREAT, "IPC_CREAT" }, { IPC_EXCL, "IPC_EXCL" } };
	char *b = ct_buf();
	int known = 0;
	for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
		known |= names[i].bit;
	if (f == 0 || (f & ~known)) {
		snprintf(b, 64, f ? "%#x" : "0", (unsigned)f);
		return b;
	}
	b[0] = 0;
	for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
		if (f & names[i].bit)
			snprintf(b + strlen(b), 64 - strlen(b), "%s%s", b[0] ? "|" : "",
				 names[i].name);
	return b;
}

/* a message body for printing (see above) */
static const char CT_UNUSED *ct_body(const char *p, size_t n, long mtype)
{
	char *b = ct_buf();
	int printable = n <= 32;
	for (size_t i = 0; printable && i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7e || p[i] == '"' || p[i] == '\\')
			printable = 0;
	if (printable) {
		snprintf(b, 64, "\"%.*s\"", (int)n, p);
		return b;
	}
	int fill = 1;
	for (size_t i = 0; fill && i < n; i++)
		if (p[i] != (char)('a' + (char)(((unsigned long)mtype + i) % 26)))
			fill = 0;
	if (fill)
		snprintf(b, 64, "<fill %zu>", n);
	else
		snprintf(b, 64, "<%zu bytes fnv %#x>", n, (unsigned)ct_fnv(p, n));
	return b;
}

/* msgsnd of strlen(text) bytes; quiet */
static int CT_UNUSED ct_snd_q(int id, long mtype, const char *text, int flg)
{
	static struct ct_msg m;
	size_t n = strlen(text);
	if (n > sizeof m.mtext)
		ct_fatal("ct_snd_q: text too long");
	m.mtype = mtype;
	memcpy(m.mtext, text, n);
	return msgsnd(id, &m, n, flg);
}

/* msgsnd of len bytes of the fill pattern of mtype; quiet */
static int CT_UNUSED ct_sndn_q(int id, long mtype, size_t len, int flg)
{
	static struct ct_msg m;
	m.mtype = mtype;
	ct_fill(m.mtext, len < sizeof m.mtext ? len : sizeof m.mtext, mtype);
	return msgsnd(id, &m, len, flg);
}

static void ct_show_snd(const char *src, int r, int e)
{
	if (r == 0)
		printf("%s = 0\n", src);
	else if (r == -1)
		printf("%s = -1 %s\n", src, ct_errname(e));
	else
		printf("%s = %d (unexpected)\n", src, r);
}

/* prints "msgsnd(id1, 2, "hello", IPC_NOWAIT) = 0" */
static int CT_UNUSED ct_snd(int id, long mtype, const char *text, int flg)
{
	char src[160];
	snprintf(src, sizeof src, "msgsnd(%s, %ld, %s, %s)", idn(id), mtype,
		 ct_body(text, strlen(text), mtype), ct_msgflg(flg));
	errno = 0;
	int r = ct_snd_q(id, mtype, text, flg);
	int e = errno;
	ct_show_snd(src, r, e);
	errno = e;
	return r;
}

/* prints "msgsnd(id1, 2, <100 bytes>, 0) = 0" */
static int CT_UNUSED ct_sndn(int id, long mtype, size_t len, int flg)
{
	char src[160];
	snprintf(src, sizeof src, "msgsnd(%s, %ld, <%zu bytes>, %s)", idn(id), mtype, len,
		 ct_msgflg(flg));
	errno = 0;
	int r = ct_sndn_q(id, mtype, len, flg);
	int e = errno;
	ct_show_snd(src, r, e);
	errno = e;
	return r;
}

/* The result of a msgrcv as text: "-1 ENOMSG" or "5: type 2 "hello"";
 * the bytes of m->mtext past the result must still hold the 0x5a that
 * ct_rcv_q put there. */
static const char CT_UNUSED *ct_rcv_str(long r, int e, const struct ct_msg *m)
{
	static char b[4][192];
	static int k;
	char *s = b[k++ % 4];
	if (r < 0) {
		snprintf(s, 192, "%ld %s", r, ct_errname(e));
		return s;
	}
	if ((size_t)r > sizeof m->mtext) {
		snprintf(s, 192, "%ld (more than the buffer!)", r);
		return s;
	}
	int clean = 1;
	for (size_t i = r; i < sizeof m->mtext; i++)
		if (m->mtext[i] != 0x5a)
			clean = 0;
	snprintf(s, 192, "%ld: type %ld %s%s", r, m->mtype, ct_body(m->mtext, r, m->mtype),
		 clean ? "" : " (bytes past the message changed!)");
	return s;
}

/* msgrcv into *m (filled with 0x5a first); quiet */
static long CT_UNUSED ct_rcv_q(int id, struct ct_msg *m, size_t bufsz, long msgtyp, int flg)
{
	memset(m, 0x5a, sizeof *m);
	return msgrcv(id, m, bufsz, msgtyp, flg);
}

static struct ct_msg ct_rmsg; /* the message of the last ct_rcv() */

/* prints "msgrcv(id1, 100, 2, IPC_NOWAIT) = 5: type 2 "hello"" */
static long CT_UNUSED ct_rcv(int id, size_t bufsz, long msgtyp, int flg)
{
	char src[160];
	snprintf(src, sizeof src, "msgrcv(%s, %zu, %ld, %s)", idn(id), bufsz, msgtyp,
		 ct_msgflg(flg));
	errno = 0;
	long r = ct_rcv_q(id, &ct_rmsg, bufsz, msgtyp, flg);
	int e = errno;
	printf("%s = %s\n", src, ct_rcv_str(r, e, &ct_rmsg));
	errno = e;
	return r;
}

/* Print every public field of msqid_ds, normalized. */
static void CT_UNUSED ct_print_msqds(const char *label, const struct msqid_ds *ds)
{
	printf("%s: key=0x%x uid=%u gid=%u cuid=%u cgid=%u mode=%#o qnum=%lu cbytes=%lu "
	       "qbytes=%lu\n",
	       label, (unsigned)ds->msg_perm.__key, (unsigned)ds->msg_perm.uid,
	       (unsigned)ds->msg_perm.gid, (unsigned)ds->msg_perm.cuid,
	       (unsigned)ds->msg_perm.cgid, (unsigned)ds->msg_perm.mode,
	       (unsigned long)ds->msg_qnum, (unsigned long)ds->msg_cbytes,
	       (unsigned long)ds->msg_qbytes);
	printf("%s: lspid=%s lrpid=%s stime=%s rtime=%s ctime=%s\n", label, pidn(ds->msg_lspid),
	       pidn(ds->msg_lrpid), tn(ds->msg_stime), tn(ds->msg_rtime), tn(ds->msg_ctime));
}

/* msgctl IPC_STAT + print; prints the error instead if it fails */
static int CT_UNUSED ct_msgstat(const char *label, int id)
{
	struct msqid_ds ds;
	memset(&ds, 0x5a, sizeof ds);
	errno = 0;
	int r = msgctl(id, IPC_STAT, &ds);
	if (r != 0) {
		printf("%s: IPC_STAT(%s) = %d %s\n", label, idn(id), r, ct_errname(errno));
		return r;
	}
	ct_print_msqds(label, &ds);
	return 0;
}

/* compact: "label: qnum=1 cbytes=5 lspid=main lrpid=0" */
static void CT_UNUSED ct_q(const char *label, int id)
{
	struct msqid_ds ds;
	errno = 0;
	if (msgctl(id, IPC_STAT, &ds) != 0) {
		printf("%s: IPC_STAT(%s) = -1 %s\n", label, idn(id), ct_errname(errno));
		return;
	}
	printf("%s: qnum=%lu cbytes=%lu lspid=%s lrpid=%s\n", label, (unsigned long)ds.msg_qnum,
	       (unsigned long)ds.msg_cbytes, pidn(ds.msg_lspid), pidn(ds.msg_lrpid));
}

/* IPC_SET of msg_qbytes only (other fields as they are); prints
 * "IPC_SET(id1, qbytes=10) = 0" */
static int CT_UNUSED ct_setqbytes(int id, unsigned long qbytes)
{
	struct msqid_ds ds;
	errno = 0;
	int r = msgctl(id, IPC_STAT, &ds);
	if (r == 0) {
		ds.msg_qbytes = qbytes;
		r = msgctl(id, IPC_SET, &ds);
	}
	int e = errno;
	char src[96];
	snprintf(src, sizeof src, "IPC_SET(%s, qbytes=%lu)", idn(id), qbytes);
	ct_show_snd(src, r, e);
	errno = e;
	return r;
}

static void CT_UNUSED ct_print_msginfo(const char *label, const struct msginfo *i)
{
	printf("%s: msgpool=%d msgmap=%d msgmax=%d msgmnb=%d msgmni=%d msgssz=%d msgtql=%d "
	       "msgseg=%u\n",
	       label, i->msgpool, i->msgmap, i->msgmax, i->msgmnb, i->msgmni, i->msgssz,
	       i->msgtql, (unsigned)i->msgseg);
}

/* state letter of /proc/PID/task/TID/stat (tid 0: /proc/PID/stat) */
static char CT_UNUSED ct_task_state(pid_t pid, pid_t tid)
{
	if (tid == 0)
		return ct_proc_state(pid);
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return '?';
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return '?';
	return p[2];
}

/* Wait (up to 5 s) until a task sleeps: state 'S' in 5 polls in a row,
 * 2 ms apart (a waiter in a box may spin for up to 20 us first).  Only
 * /proc is read meanwhile (no IPC call that could contend with the
 * sleeper).  Message queues have no waiter count, so the caller must
 * make sure the task has nothing else to sleep on before its msgsnd or
 * msgrcv (children are forked straight into the call).  Returns 1, or
 * 0 on timeout or at once if the task has exited. */
static int CT_UNUSED ct_wait_asleep(pid_t pid, pid_t tid)
{
	int run = 0;
	for (int i = 0; i < 2500; i++) {
		char st = ct_task_state(pid, tid);
		if (st == 'Z' || st == 'X' || st == '?')
			return 0;
		run = st == 'S' ? run + 1 : 0;
		if (run >= 5)
			return 1;
		usleep(2000);
	}
	return 0;
}

/* as ct_wait_asleep, printing "<name> blocked: yes" (or the state) */
static int CT_UNUSED ct_asleep(pid_t pid)
{
	int ok = ct_wait_asleep(pid, 0);
	if (ok)
		printf("%s blocked: yes\n", pidn(pid));
	else
		printf("%s blocked: NO (state %c)\n", pidn(pid), ct_proc_state(pid));
	return ok;
}

/* Children that make one msgrcv or msgsnd call and send the result back
 * through a pipe, so the parent prints it where the transcript needs it.
 * ct_kid_setup (if set) runs in the child before the call (e.g. to
 * install a signal handler); ct_extra travels back with the result
 * (e.g. a handler count). */
struct ct_kid {
	pid_t pid;
	int fd;
	int rcv;
	char src[128];
};

struct ct_kidres {
	long r;
	int e;
	long extra;
	struct ct_msg m;
};

static void (*ct_kid_setup)(void);
static volatile long ct_extra;
static struct ct_kidres ct_kres; /* the result read by the last ct_kid_done */

static void ct_kid_send(int fd, long r, int e, const struct ct_msg *m)
{
	static struct ct_kidres res;
	res.r = r;
	res.e = e;
	res.extra = ct_extra;
	if (m)
		res.m = *m;
	else
		memset(&res.m, 0x5a, sizeof res.m);
	const char *p = (const char *)&res;
	size_t left = sizeof res;
	while (left) {
		ssize_t n = write(fd, p, left);
		if (n <= 0)
			ct_fatal("ct_kid_send");
		p += n;
		left -= n;
	}
	ct_child_exit(0);
}

static struct ct_kid ct_kid_fork(const char *name, int rcv)
{
	struct ct_kid k;
	int fd[2];
	if (pipe(fd) != 0)
		ct_fatal("pipe");
	k.rcv = rcv;
	k.pid = ct_fork(name);
	if (k.pid == 0) {
		close(fd[0]);
		k.fd = fd[1];
		if (ct_kid_setup)
			ct_kid_setup();
		return k;
	}
	close(fd[1]);
	k.fd = fd[0];
	return k;
}

/* a child sleeping (or not) in msgrcv(id, bufsz, msgtyp, flg) */
static struct ct_kid CT_UNUSED ct_rcv_kid(const char *name, int id, size_t bufsz, long msgtyp,
					  int flg)
{
	char src[128];
	snprintf(src, sizeof src, "msgrcv(%s, %zu, %ld, %s)", idn(id), bufsz, msgtyp,
		 ct_msgflg(flg));
	struct ct_kid k = ct_kid_fork(name, 1);
	if (k.pid == 0) {
		static struct ct_msg m;
		errno = 0;
		long r = ct_rcv_q(id, &m, bufsz, msgtyp, flg);
		ct_kid_send(k.fd, r, errno, &m);
	}
	snprintf(k.src, sizeof k.src, "%s", src);
	return k;
}

/* a child sleeping (or not) in msgsnd of len bytes of the fill pattern */
static struct ct_kid CT_UNUSED ct_snd_kid(const char *name, int id, long mtype, size_t len,
					  int flg)
{
	char src[128];
	snprintf(src, sizeof src, "msgsnd(%s, %ld, <%zu bytes>, %s)", idn(id), mtype, len,
		 ct_msgflg(flg));
	struct ct_kid k = ct_kid_fork(name, 0);
	if (k.pid == 0) {
		errno = 0;
		int r = ct_sndn_q(id, mtype, len, flg);
		ct_kid_send(k.fd, r, errno, NULL);
	}
	snprintf(k.src, sizeof k.src, "%s", src);
	return k;
}

/* wait for the child's result and exit, print
 * "<name>: msgrcv(id1, 100, 0, 0) = 5: type 1 "hello"" (or how the child
 * ended if it sent nothing, e.g. "killed by SIGKILL"); returns the
 * result, or NULL */
static struct ct_kidres CT_UNUSED *ct_kid_done(struct ct_kid *k)
{
	size_t got = 0;
	char *p = (char *)&ct_kres;
	while (got < sizeof ct_kres) {
		ssize_t n = read(k->fd, p + got, sizeof ct_kres - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += n;
	}
	close(k->fd);
	int st;
	pid_t r;
	do
		r = waitpid(k->pid, &st, 0);
	while (r < 0 && errno == EINTR);
	if (r != k->pid)
		ct_fatal("waitpid");
	if (got != sizeof ct_kres) {
		printf("%s: %s: %s\n", pidn(k->pid), k->src, ct_status_str(st));
		return NULL;
	}
	if (k->rcv)
		printf("%s: %s = %s\n", pidn(k->pid), k->src,
		       ct_rcv_str(ct_kres.r, ct_kres.e, &ct_kres.m));
	else if (ct_kres.r == -1)
		printf("%s: %s = -1 %s\n", pidn(k->pid), k->src, ct_errname(ct_kres.e));
	else
		printf("%s: %s = %ld\n", pidn(k->pid), k->src, ct_kres.r);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		printf("%s: %s\n", pidn(k->pid), ct_status_str(st));
	return &ct_kres;
}

/* Has the child finished its call (its result is ready to be read)?
 * Waits up to ms milliseconds. */
static int CT_UNUSED ct_kid_ready(struct ct_kid *k, int ms)
{
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int n = 0;
		if (ioctl(k->fd, FIONREAD, &n) == 0 && n > 0)
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 >= ms)
			return 0;
		usleep(1000);
	}
}

/* prints "<name> still blocked: yes" if the child has no result after
 * 50 ms and sleeps */
static int CT_UNUSED ct_still_blocked(struct ct_kid *k)
{
	int ok = !ct_kid_ready(k, 50) && ct_wait_asleep(k->pid, 0);
	printf("%s still blocked: %s\n", pidn(k->pid), yes(ok));
	return ok;
}

/* ------------------------------------------------------------------ */
/* *_STAT / *_STAT_ANY scans (shared by the *_ctl_info tests) */

/* One facility's *_STAT or *_STAT_ANY call on index i: the id, or -1. */
typedef int (*ct_stat_fn)(int index, int cmd);

#define CT_STAT_SCAN_ABOVE 64 /* indices scanned above maxidx */

/* Scans indices 0..maxidx+CT_STAT_SCAN_ABOVE with `stat` and prints the
 * normalized ids found (sorted by name: idn() numbers ids by first
 * appearance) and how they relate to maxidx; for the *_STAT_ANY command
 * (`any`) also whether maxidx itself holds an entry (for *_STAT, which
 * index is readable depends on the allocation order). */
static void CT_UNUSED ct_stat_scan(const char *label, int maxidx, int cmd, int any, ct_stat_fn stat)
{
	int found[CT_MAXIDS];
	int n = 0, above = 0, at_max = 0;
	for (int i = 0; i <= maxidx + CT_STAT_SCAN_ABOVE; i++) {
		int r = stat(i, cmd);
		if (r < 0)
			continue;
		if (i > maxidx)
			above++;
		if (i == maxidx)
			at_max = 1;
		const char *nm = idn(r);
		found[n++] = atoi(nm + 2);
	}
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (found[j] < found[i]) {
				int t = found[i];
				found[i] = found[j];
				found[j] = t;
			}
	printf("%s: found", label);
	for (int i = 0; i < n; i++)
		printf(" id%d", found[i]);
	if (any)
		printf("%s; entry at maxidx: %s; entries above maxidx: %d\n", n ? "" : " none",
		       yes(at_max), above);
	else
		printf("%s; entries above maxidx: %d\n", n ? "" : " none", above);
}

#endif
