/*
 * shm_ctl.c - shmctl(2) IPC_STAT, IPC_SET, IPC_RMID and generic errors:
 *   - IPC_STAT returns every field; it changes nothing
 *   - IPC_SET changes uid, gid and only the low 9 mode bits (SHM_DEST /
 *     SHM_LOCKED / other high bits in the request are ignored, a set
 *     SHM_LOCKED bit is kept), ignores all other fields (segsz, times,
 *     pids, nattch, key, cuid, cgid) and updates ctime (even with
 *     unchanged values)
 *   - IPC_SET with an invalid uid or gid (-1) -> EINVAL
 *   - IPC_SET / IPC_RMID: allowed to the owner, the creator and
 *     CAP_SYS_ADMIN; anyone else -> EPERM (before the EINVAL of an
 *     invalid uid); root without CAP_SYS_ADMIN is only an ordinary user
 *   - the new owner can IPC_SET (even give the segment away) and IPC_RMID
 *   - IPC_RMID ignores its buf argument
 *   - NULL buf: IPC_STAT -> EFAULT (EINVAL for a bad id: lookup first),
 *     IPC_SET -> EFAULT (even for a bad id: copy first)
 *   - invalid cmd -> EINVAL; negative id -> EINVAL
 */
#include "common.h"

#define KEY 0x4242

static void do_set(int id, uid_t uid, gid_t gid, unsigned mode)
{
	struct shmid_ds ds;
	memset(&ds, 0, sizeof ds);
	shmctl(id, IPC_STAT, &ds);
	ds.shm_perm.uid = uid;
	ds.shm_perm.gid = gid;
	ds.shm_perm.mode = mode;
	errno = 0;
	int r = shmctl(id, IPC_SET, &ds);
	if (r)
		printf("IPC_SET(%s, uid=%d gid=%d mode=%#o) = -1 %s\n", idn(id), (int)uid,
		       (int)gid, mode, ct_errname(errno));
	else
		printf("IPC_SET(%s, uid=%d gid=%d mode=%#o) = 0\n", idn(id), (int)uid, (int)gid,
		       mode);
}

int main(void)
{
	ct_init();
	struct shmid_ds ds;
	pid_t c;

	ct_mark();
	int id = T_ID(shmget(KEY, 3 * ct_page + 10, IPC_CREAT | 0640));
	char *p = shmat(id, NULL, 0);
	shmdt(p);

	printf("== IPC_STAT\n");
	memset(&ds, 0x77, sizeof ds);
	T_INT(shmctl(id, IPC_STAT, &ds));
	ct_print_ds("stat", &ds);
	ct_mark();
	T_INT(shmctl(id, IPC_STAT, &ds));
	ct_print_ds("stat again", &ds);

	printf("== IPC_SET\n");
	memset(&ds, 0, sizeof ds);
	T_INT(shmctl(id, IPC_STAT, &ds));
	ds.shm_perm.uid = NOBODY;
	ds.shm_perm.gid = 4242;
	ds.shm_perm.mode = 0604 | SHM_DEST | SHM_LOCKED | 0170000;
	ds.shm_perm.cuid = 1234;
	ds.shm_perm.cgid = 1234;
	ds.shm_perm.__key = 0x9999;
	ds.shm_segsz = 1;
	ds.shm_atime = 1;
	ds.shm_dtime = 2;
	ds.shm_ctime = 3;
	ds.shm_cpid = 4;
	ds.shm_lpid = 5;
	ds.shm_nattch = 6;
	T_INT(shmctl(id, IPC_SET, &ds));
	ct_stat("after IPC_SET", id);
	ct_mark();
	T_INT(shmctl(id, IPC_STAT, &ds));
	T_INT(shmctl(id, IPC_SET, &ds));
	ct_stat("same values again", id);
	T_ID(shmget(KEY, 0, 0));

	printf("== invalid uid/gid\n");
	do_set(id, (uid_t)-1, 0, 0600);
	do_set(id, 0, (gid_t)-1, 0600);
	ct_stat("unchanged", id);

	printf("== IPC_SET keeps SHM_LOCKED\n");
	T_INT(shmctl(id, SHM_LOCK, NULL));
	do_set(id, NOBODY, 4242, 0666);
	ct_stat("locked", id);
	do_set(id, NOBODY, 4242, 0604);
	T_INT(shmctl(id, SHM_UNLOCK, NULL));
	ct_stat("unlocked", id);

	printf("== stranger (uid 4000) without capabilities\n");
	ct_mark();
	if ((c = ct_fork("stranger")) == 0) {
		ct_become(4000, 4000);
		do_set(id, 4000, 4000, 0666);
		do_set(id, (uid_t)-1, 4000, 0666);
		T_INT(shmctl(id, IPC_RMID, NULL));
		T_INT(shmctl(id, IPC_STAT, &ds));
		ct_child_exit(0);
	}
	ct_wait(c);
	ct_stat("after stranger", id);

	printf("== owner (uid 65534) without capabilities\n");
	if ((c = ct_fork("owner")) == 0) {
		ct_become(NOBODY, NOBODY);
		do_set(id, NOBODY, NOBODY, 0660);
		ct_stat("owner", id);
		do_set(id, (uid_t)-1, NOBODY, 0660);
		do_set(id, 4000, 4000, 0666); /* give it away */
		do_set(id, NOBODY, NOBODY, 0666);
		ct_stat("owner", id);
		ct_child_exit(0);
	}
	ct_wait(c);

	printf("== creator (uid 0) without capabilities, owner is 4000\n");
	if ((c = ct_fork("creator")) == 0) {
		ct_root_nocaps();
		printf("CAP_SYS_ADMIN: %s\n", yes(ct_has_cap(CAP_SYS_ADMIN)));
		do_set(id, 4000, 4000, 0600);
		ct_stat("creator", id);
		ct_child_exit(0);
	}
	ct_wait(c);

	printf("== root without capabilities, neither owner nor creator\n");
	int other;
	if ((c = ct_fork("maker")) == 0) {
		ct_become(4000, 4000);
		other = T_ID(shmget(KEY + 1, ct_page, IPC_CREAT | 0666));
		ct_child_exit(0);
	}
	ct_wait(c);
	other = T_ID(shmget(KEY + 1, 0, 0));
	ct_stat("other", other);
	if ((c = ct_fork("rootnocap")) == 0) {
		ct_root_nocaps();
		do_set(other, 0, 0, 0600);
		T_INT(shmctl(other, IPC_RMID, NULL));
		T_INT(shmctl(other, IPC_STAT, &ds));
		ct_child_exit(0);
	}
	ct_wait(c);
	printf("== root with CAP_SYS_ADMIN\n");
	do_set(other, 0, 0, 0600);
	ct_stat("other", other);

	printf("== IPC_RMID by the owner (not creator)\n");
	if ((c = ct_fork("nobody-rmid")) == 0) {
		ct_become(NOBODY, NOBODY);
		do_set(other, NOBODY, NOBODY, 0600);
		T_INT(shmctl(other, IPC_RMID, NULL));
		ct_child_exit(0);
	}
	ct_wait(c);
	do_set(other, NOBODY, NOBODY, 0600);
	if ((c = ct_fork("nobody-rmid2")) == 0) {
		ct_become(NOBODY, NOBODY);
		T_INT(shmctl(other, IPC_RMID, (struct shmid_ds *)1));
		T_INT(shmctl(other, IPC_RMID, NULL));
		ct_child_exit(0);
	}
	ct_wait(c);
	T_INT(shmctl(other, IPC_STAT, &ds));

	printf("== NULL / bad buffers\n");
	T_INT(shmctl(id, IPC_STAT, NULL));
	T_INT(shmctl(id, IPC_SET, NULL));
	T_INT(shmctl(12345678, IPC_STAT, NULL));
	T_INT(shmctl(12345678, IPC_SET, NULL));
	T_INT(shmctl(other, IPC_STAT, NULL));
	T_INT(shmctl(other, IPC_SET, NULL));
	T_INT(shmctl(-1, IPC_SET, NULL));

	printf("== invalid commands and ids\n");
	T_INT(shmctl(id, 99, &ds));
	T_INT(shmctl(id, -1, &ds));
	T_INT(shmctl(id, 4, &ds));
	T_INT(shmctl(id, 10, &ds));
	T_INT(shmctl(id, 16, &ds));
	T_INT(shmctl(id, IPC_STAT | 0x100, &ds));
	T_INT(shmctl(-1, IPC_STAT, &ds));
	T_INT(shmctl(-1, IPC_RMID, NULL));
	T_INT(shmctl(-1, 99, &ds));
	T_INT(shmctl(12345678, IPC_RMID, NULL));
	T_INT(shmctl(12345678, 99, &ds));
	ct_stat("final", id);
	T_INT(shmctl(id, IPC_RMID, NULL));
	T_INT(shmctl(id, IPC_RMID, NULL));
	T_INT(shmctl(id, IPC_STAT, &ds));
	T_ID(shmget(KEY, 0, 0));
	return 0;
}
