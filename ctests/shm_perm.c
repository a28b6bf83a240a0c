/*
 * shm_perm.c - access checks (EACCES) of shmget, shmat and IPC_STAT
 * against the effective uid/gid, supplementary groups and capabilities.
 *
 * The main process is root with all capabilities and creates segments
 * with various owners/modes.  Children then probe them as:
 *   - "nobody": uid/gid 65534, no supplementary groups, no capabilities
 *   - "grpuser": uid/gid 65534 with supplementary group 4242, no caps
 *   - "rootnocap": uid 0 but with every capability dropped (no
 *     CAP_IPC_OWNER), so only the mode bits count
 *   - "euidonly": real uid 0, effective uid 65534 (effective caps are
 *     cleared by the kernel on that transition)
 * Covered rules:
 *   - shmget(key, 0, 0) requests no permission and always succeeds
 *   - the requested mode is the permission bits of shmflg; exactly one
 *     class (owner/creator, then group, then other) is checked
 *   - root with CAP_IPC_OWNER bypasses everything, root without it is
 *     refused like anyone else (but is still the owner/creator)
 *   - EEXIST and the size EINVAL are reported before EACCES
 *   - shmat needs r (SHM_RDONLY) or rw, plus x for SHM_EXEC
 *   - shmat: address alignment EINVAL comes before the permission
 *     check, EACCES before the overlapping-address EINVAL
 *   - IPC_STAT needs read permission
 *   - a segment created by an unprivileged user is owned by it
 */
#include "common.h"

#define KA 0xa000 /* root 0600 */
#define KB 0xb000 /* root 0644 */
#define KC 0xc000 /* root 0000 */
#define KD 0xd000 /* root, gid 65534, 0060 */
#define KE 0xe000 /* root, gid 65534, 0606: group class wins */
#define KF 0xf000 /* uid 65534 (cuid 0), 0066: owner class wins */
#define KG 0x1a000 /* root, gid 4242, 0060 */
#define KX 0x1b000 /* root 0755 */
#define KW 0x1c000 /* root 0444 */
#define KN 0x1d000 /* created by nobody, 0600 */
#define KR 0x1e000 /* created by nobody, 0400 */

static int mk(key_t key, int mode)
{
	int id = shmget(key, ct_page, IPC_CREAT | IPC_EXCL | mode);
	if (id < 0)
		ct_fatal("shmget");
	return id;
}

static void set_owner(int id, uid_t uid, gid_t gid)
{
	struct shmid_ds ds;
	if (shmctl(id, IPC_STAT, &ds) != 0)
		ct_fatal("IPC_STAT");
	ds.shm_perm.uid = uid;
	ds.shm_perm.gid = gid;
	if (shmctl(id, IPC_SET, &ds) != 0)
		ct_fatal("IPC_SET");
}

/* try an attach, report, detach again */
static void try_at(const char *what, int id, int flg)
{
	errno = 0;
	void *p = shmat(id, NULL, flg);
	int e = errno;
	if (p == (void *)-1) {
		printf("shmat(%s, NULL, %s) = (void*)-1 %s\n", idn(id), what, ct_errname(e));
	} else {
		printf("shmat(%s, NULL, %s) = addr\n", idn(id), what);
		shmdt(p);
	}
}

static void try_stat(int id)
{
	struct shmid_ds ds;
	errno = 0;
	int r = shmctl(id, IPC_STAT, &ds);
	if (r)
		printf("shmctl(%s, IPC_STAT) = -1 %s\n", idn(id), ct_errname(errno));
	else
		printf("shmctl(%s, IPC_STAT) = 0\n", idn(id));
}

static void probe_all(int a, int b, int c, int d, int e, int f, int g, int x, int w)
{
	printf("-- shmget\n");
	T_ID(shmget(KA, 0, 0));
	T_ID(shmget(KA, 0, 0400));
	T_ID(shmget(KA, 0, 0600));
	T_ID(shmget(KA, 0, 0004));
	T_ID(shmget(KA, 0, IPC_CREAT | 0600));
	T_ID(shmget(KA, 0, IPC_CREAT | IPC_EXCL | 0600));
	T_ID(shmget(KA, 2 * ct_page, 0600));
	T_ID(shmget(KB, 0, 0400));
	T_ID(shmget(KB, 0, 0444));
	T_ID(shmget(KB, 0, 0004));
	T_ID(shmget(KB, 0, 0200));
	T_ID(shmget(KB, 0, 0600));
	T_ID(shmget(KB, 0, 0002));
	T_ID(shmget(KC, 0, 0));
	T_ID(shmget(KC, 0, 0400));
	T_ID(shmget(KC, 0, 0100));
	T_ID(shmget(KD, 0, 0600));
	T_ID(shmget(KD, 0, 0060));
	T_ID(shmget(KE, 0, 0006));
	T_ID(shmget(KE, 0, 0060));
	T_ID(shmget(KF, 0, 0006));
	T_ID(shmget(KF, 0, 0600));
	T_ID(shmget(KG, 0, 0060));
	T_ID(shmget(KX, 0, 0555));
	T_ID(shmget(KX, 0, 0777));
	printf("-- shmat\n");
	try_at("0", a, 0);
	try_at("SHM_RDONLY", a, SHM_RDONLY);
	try_at("0", b, 0);
	try_at("SHM_RDONLY", b, SHM_RDONLY);
	try_at("SHM_RDONLY|SHM_EXEC", b, SHM_RDONLY | SHM_EXEC);
	try_at("SHM_RDONLY", c, SHM_RDONLY);
	try_at("0", d, 0);
	try_at("SHM_RDONLY", e, SHM_RDONLY);
	try_at("SHM_RDONLY", f, SHM_RDONLY);
	try_at("0", g, 0);
	try_at("SHM_RDONLY|SHM_EXEC", x, SHM_RDONLY | SHM_EXEC);
	try_at("SHM_EXEC", x, SHM_EXEC);
	try_at("0", w, 0);
	try_at("SHM_RDONLY", w, SHM_RDONLY);
	{
		/* order of checks: alignment, then permission, then overlap */
		char *busy = mmap(NULL, ct_page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		T_AT(shmat(a, busy + 1, 0));
		T_AT(shmat(a, busy, 0));
		T_AT(shmat(b, busy, SHM_RDONLY));
		munmap(busy, ct_page);
	}
	printf("-- IPC_STAT\n");
	try_stat(a);
	try_stat(b);
	try_stat(c);
	try_stat(d);
	try_stat(e);
	try_stat(f);
	try_stat(w);
}

int main(void)
{
	ct_init();
	pid_t p;

	int a = mk(KA, 0600);
	int b = mk(KB, 0644);
	int c = mk(KC, 0000);
	int d = mk(KD, 0060);
	set_owner(d, 0, NOBODY);
	int e = mk(KE, 0606);
	set_owner(e, 0, NOBODY);
	int f = mk(KF, 0066);
	set_owner(f, NOBODY, 0);
	int g = mk(KG, 0060);
	set_owner(g, 0, 4242);
	int x = mk(KX, 0755);
	int w = mk(KW, 0444);
	/* name the ids in a fixed order */
	printf("a=%s ", idn(a));
	printf("b=%s ", idn(b));
	printf("c=%s ", idn(c));
	printf("d=%s ", idn(d));
	printf("e=%s ", idn(e));
	printf("f=%s ", idn(f));
	printf("g=%s ", idn(g));
	printf("x=%s ", idn(x));
	printf("w=%s\n", idn(w));
	ct_stat("f", f);

	printf("== root with all capabilities\n");
	printf("CAP_IPC_OWNER: %s\n", yes(ct_has_cap(CAP_IPC_OWNER)));
	probe_all(a, b, c, d, e, f, g, x, w);

	printf("== nobody (uid/gid 65534, no caps)\n");
	if ((p = ct_fork("nobody")) == 0) {
		ct_become(NOBODY, NOBODY);
		printf("CAP_IPC_OWNER: %s\n", yes(ct_has_cap(CAP_IPC_OWNER)));
		probe_all(a, b, c, d, e, f, g, x, w);
		printf("-- own segments\n");
		int n = T_ID(shmget(KN, ct_page, IPC_CREAT | 0600));
		ct_stat("own", n);
		T_ID(shmget(KN, 0, 0600));
		int r = T_ID(shmget(KR, ct_page, IPC_CREAT | 0400));
		try_at("0", r, 0);
		try_at("SHM_RDONLY", r, SHM_RDONLY);
		try_stat(r);
		ct_child_exit(0);
	}
	ct_wait(p);

	int n = T_ID(shmget(KN, 0, 0));
	ct_stat("created by nobody", n);

	printf("== grpuser (uid/gid 65534, groups {4242}, no caps)\n");
	if ((p = ct_fork("grpuser")) == 0) {
		gid_t grp = 4242;
		if (setgroups(1, &grp) || setresgid(NOBODY, NOBODY, NOBODY) ||
		    setresuid(NOBODY, NOBODY, NOBODY))
			ct_fatal("creds");
		ct_capset_none();
		T_ID(shmget(KG, 0, 0060));
		T_ID(shmget(KG, 0, 0006));
		try_at("0", g, 0);
		T_ID(shmget(KD, 0, 0060));
		T_ID(shmget(KA, 0, 0004));
		ct_child_exit(0);
	}
	ct_wait(p);

	printf("== rootnocap (uid 0 without any capability)\n");
	if ((p = ct_fork("rootnocap")) == 0) {
		ct_root_nocaps();
		printf("CAP_IPC_OWNER: %s\n", yes(ct_has_cap(CAP_IPC_OWNER)));
		probe_all(a, b, c, d, e, f, g, x, w);
		printf("-- segment owned by nobody\n");
		T_ID(shmget(KN, 0, 0600));
		T_ID(shmget(KN, 0, 0));
		try_at("SHM_RDONLY", n, SHM_RDONLY);
		ct_child_exit(0);
	}
	ct_wait(p);

	printf("== euidonly (ruid 0, euid 65534)\n");
	if ((p = ct_fork("euidonly")) == 0) {
		if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
		    setresuid(0, NOBODY, 0))
			ct_fatal("creds");
		printf("CAP_IPC_OWNER: %s\n", yes(ct_has_cap(CAP_IPC_OWNER)));
		T_ID(shmget(KA, 0, 0600));
		T_ID(shmget(KN, 0, 0600));
		try_at("0", a, 0);
		try_at("0", n, 0);
		ct_child_exit(0);
	}
	ct_wait(p);

	printf("== root with caps again\n");
	T_ID(shmget(KN, 0, 0600));
	try_at("0", n, 0);
	T_ID(shmget(KC, 0, 0777));
	try_at("SHM_EXEC", c, SHM_EXEC);
	return 0;
}
