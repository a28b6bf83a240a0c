/*
 * shm_rmid.c - IPC_RMID while attached (deferred destruction):
 *   - IPC_RMID with nattch > 0 succeeds; IPC_STAT then shows the SHM_DEST
 *     mode bit (01000) and key 0 (IPC_PRIVATE)
 *   - the key is free again: shmget(key) without IPC_CREAT -> ENOENT,
 *     with IPC_CREAT|IPC_EXCL -> a new, different segment
 *   - the old id keeps working while attached: IPC_STAT, IPC_SET (the
 *     SHM_DEST bit is kept), a second IPC_RMID, shmat (new attach sees
 *     the old data), fork inherits it
 *   - SHM_INFO/SHM_STAT_ANY still count/list it
 *   - memory stays readable and writable until the last detach; after the
 *     last detach the id gives EINVAL everywhere and shm_tot drops
 *   - the last detach may be a child's exit or a SIGKILL
 *   - IPC_RMID with nattch 0 destroys at once
 */
#include "common.h"

#define KEY 0x3131

static int used_ids(unsigned long *tot)
{
	struct shm_info si;
	if (shmctl(0, SHM_INFO, (struct shmid_ds *)&si) < 0)
		return -1;
	if (tot)
		*tot = si.shm_tot;
	return si.used_ids;
}

static int listed(int id)
{
	struct shm_info si;
	int max = shmctl(0, SHM_INFO, (struct shmid_ds *)&si);
	for (int i = 0; i <= max; i++) {
		struct shmid_ds ds;
		if (shmctl(i, SHM_STAT_ANY, &ds) == id)
			return 1;
	}
	return 0;
}

int main(void)
{
	ct_init();
	pid_t c;
	unsigned long tot;
	struct shmid_ds ds;
	struct ct_chan go = ct_chan(), done = ct_chan();

	ct_mark();
	int id = T_ID(shmget(KEY, 2 * ct_page, IPC_CREAT | 0640));
	char *p = T_AT(shmat(id, NULL, 0));
	strcpy(p, "old data");
	ct_mark();
	T_INT(shmctl(id, IPC_RMID, NULL));
	ct_stat("removed, attached", id);

	printf("== the key is free\n");
	T_ID(shmget(KEY, 0, 0));
	T_ID(shmget(KEY, 0, IPC_CREAT | IPC_EXCL | 0600));
	int id2 = T_ID(shmget(KEY, ct_page, IPC_CREAT | IPC_EXCL | 0600));
	printf("new id differs: %s\n", yes(id2 != id));
	ct_stat("new", id2);
	T_ID(shmget(KEY, 0, 0));
	printf("used_ids=%d shm_tot=", used_ids(&tot));
	printf("%lu\n", tot);
	printf("old id listed by SHM_STAT_ANY: %s\n", yes(listed(id)));

	printf("== the old id still works\n");
	char *q = T_AT(shmat(id, NULL, 0));
	printf("second attach reads: %s\n", q);
	strcpy(q + 50, "written after rmid");
	printf("first attach reads: %s\n", p + 50);
	ct_stat("two attaches", id);
	memset(&ds, 0, sizeof ds);
	T_INT(shmctl(id, IPC_STAT, &ds));
	ds.shm_perm.mode = 0600;
	ds.shm_perm.gid = 4242;
	ct_mark();
	T_INT(shmctl(id, IPC_SET, &ds));
	ct_stat("after IPC_SET", id);
	T_INT(shmctl(id, IPC_RMID, NULL));
	ct_stat("after second IPC_RMID", id);
	T_INT(shmctl(id, SHM_LOCK, NULL));
	T_INT(shmctl(id, SHM_UNLOCK, NULL));

	printf("== fork inherits a removed segment\n");
	if ((c = ct_fork("child1")) == 0) {
		printf("child1 reads: %s\n", p);
		ct_stat("child1", id);
		char *r = T_AT(shmat(id, NULL, SHM_RDONLY));
		printf("child1 new attach reads: %s\n", r);
		ct_child_exit(0);
	}
	ct_wait(c);
	ct_stat("after child1", id);

	printf("== detach all but one\n");
	T_INT(shmdt(q));
	printf("still readable: %s\n", p);
	ct_stat("one attach left", id);

	printf("== last detach\n");
	ct_mark();
	T_INT(shmdt(p));
	T_INT(shmctl(id, IPC_STAT, &ds));
	T_AT(shmat(id, NULL, 0));
	T_INT(shmctl(id, IPC_RMID, NULL));
	T_INT(shmctl(id, IPC_SET, &ds));
	T_INT(shmctl(id, SHM_LOCK, NULL));
	printf("old id listed by SHM_STAT_ANY: %s\n", yes(listed(id)));
	printf("used_ids=%d shm_tot=", used_ids(&tot));
	printf("%lu\n", tot);

	printf("== last detach by child exit\n");
	int id3 = T_ID(shmget(IPC_PRIVATE, ct_page, IPC_CREAT | 0600));
	if ((c = ct_fork("child2")) == 0) {
		char *r = shmat(id3, NULL, 0);
		strcpy(r, "child2 data");
		ct_post(done);
		ct_waitfor(go);
		printf("child2 reads after rmid: %s\n", r);
		strcpy(r, "child2 wrote again");
		printf("child2 reads: %s\n", r);
		ct_child_exit(0);
	}
	ct_waitfor(done);
	T_INT(shmctl(id3, IPC_RMID, NULL));
	ct_stat("removed, child2 attached", id3);
	ct_post(go);
	ct_wait(c);
	T_INT(shmctl(id3, IPC_STAT, &ds));

	printf("== last detach by SIGKILL\n");
	int id4 = T_ID(shmget(IPC_PRIVATE, ct_page, IPC_CREAT | 0600));
	if ((c = ct_fork("child3")) == 0) {
		shmat(id4, NULL, 0);
		ct_post(done);
		for (;;)
			pause();
	}
	ct_waitfor(done);
	T_INT(shmctl(id4, IPC_RMID, NULL));
	ct_stat("removed, child3 attached", id4);
	kill(c, SIGKILL);
	ct_wait(c);
	T_INT(shmctl(id4, IPC_STAT, &ds));
	T_AT(shmat(id4, NULL, 0));

	printf("== IPC_RMID without attachments\n");
	int id5 = T_ID(shmget(KEY + 1, ct_page, IPC_CREAT | 0600));
	T_INT(shmctl(id5, IPC_RMID, NULL));
	T_INT(shmctl(id5, IPC_STAT, &ds));
	T_AT(shmat(id5, NULL, 0));
	T_ID(shmget(KEY + 1, 0, 0));
	printf("used_ids=%d shm_tot=", used_ids(&tot));
	printf("%lu\n", tot);
	ct_stat("new", id2);
	return 0;
}
