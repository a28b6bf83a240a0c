/*
 * shm_get.c - shmget(2) semantics (no permission checks, no limits):
 *   - IPC_PRIVATE always creates a new segment, with or without IPC_CREAT
 *     and IPC_EXCL
 *   - IPC_CREAT creates, a second IPC_CREAT returns the same id
 *   - IPC_EXCL on an existing key -> EEXIST (checked before the size)
 *   - IPC_EXCL without IPC_CREAT on a missing key -> ENOENT
 *   - missing key without IPC_CREAT -> ENOENT
 *   - mode: only the low 9 bits of shmflg are stored
 *   - size 0 for a new segment -> EINVAL (SHMMIN is 1)
 *   - existing key: larger size -> EINVAL, smaller or 0 -> same id
 *   - segsz is stored unrounded; the mapping is rounded up to pages
 *   - IPC_RMID + shmget(IPC_CREAT) of the same key -> a new, different id
 *   - initial IPC_STAT of a fresh segment (nattch 0, lpid 0, atime 0...)
 */
#include "common.h"

#define K1 0x1234
#define K2 0x2345
#define K3 0x3456
#define K4 0x4567
#define K5 0x5678

int main(void)
{
	ct_init();
	int id;

	printf("== IPC_PRIVATE\n");
	int p1 = T_ID(shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600));
	T_ID(shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600));
	T_ID(shmget(IPC_PRIVATE, 4096, 0600));
	T_ID(shmget(IPC_PRIVATE, 4096, IPC_CREAT | IPC_EXCL | 0600));
	T_ID(shmget(IPC_PRIVATE, 4096, IPC_EXCL));
	ct_stat("private", p1);

	printf("== keyed create / lookup\n");
	T_ID(shmget(K1, 4096, 0600));
	T_ID(shmget(K1, 4096, IPC_EXCL | 0600));
	T_ID(shmget(K1, 0, 0));
	int k1 = T_ID(shmget(K1, 8192, IPC_CREAT | 0640));
	T_ID(shmget(K1, 8192, IPC_CREAT | 0640));
	T_ID(shmget(K1, 8192, IPC_CREAT | IPC_EXCL | 0640));
	T_ID(shmget(K1, 0, IPC_CREAT | IPC_EXCL));
	T_ID(shmget(K1, 99999, IPC_CREAT | IPC_EXCL));
	ct_stat("k1", k1);

	printf("== existing key, other sizes\n");
	T_ID(shmget(K1, 8193, 0));
	T_ID(shmget(K1, 8193, IPC_CREAT));
	T_ID(shmget(K1, 1UL << 40, 0));
	T_ID(shmget(K1, 8192, 0));
	T_ID(shmget(K1, 4096, 0));
	T_ID(shmget(K1, 1, 0));
	T_ID(shmget(K1, 0, 0));
	T_ID(shmget(K1, 0, IPC_CREAT));
	T_ID(shmget(K1, 0, IPC_CREAT | 0777));
	ct_stat("k1 after lookups", k1);

	printf("== size 0 for a new segment\n");
	T_ID(shmget(K2, 0, IPC_CREAT | 0600));
	T_ID(shmget(IPC_PRIVATE, 0, IPC_CREAT | 0600));
	T_ID(shmget(K2, 0, 0));

	printf("== sizes that are not page multiples\n");
	id = T_ID(shmget(K2, 1, IPC_CREAT | 0600));
	ct_stat("size1", id);
	id = T_ID(shmget(K3, 5000, IPC_CREAT | 0600));
	ct_stat("size5000", id);
	{
		char *p = T_AT(shmat(id, NULL, 0));
		if (p != (void *)-1) {
			/* the attach covers whole pages: the last byte of the
			 * second page is usable */
			p[0] = 'a';
			p[4999] = 'b';
			p[2 * ct_page - 1] = 'c';
			printf("bytes: %c %c %c\n", p[0], p[4999], p[2 * ct_page - 1]);
			T_INT(shmdt(p));
		}
	}

	printf("== mode bits\n");
	id = T_ID(shmget(K4, 4096, IPC_CREAT | 0777));
	{
		struct shmid_ds ds;
		shmctl(id, IPC_STAT, &ds);
		ct_print_perm_mode("IPC_CREAT|0777", &ds);
		id = T_ID(shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0));
		shmctl(id, IPC_STAT, &ds);
		ct_print_perm_mode("IPC_CREAT|0", &ds);
		id = T_ID(shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0123));
		shmctl(id, IPC_STAT, &ds);
		ct_print_perm_mode("IPC_CREAT|0123", &ds);
		id = T_ID(shmget(K5, 4096, IPC_CREAT | SHM_NORESERVE | 0644));
		shmctl(id, IPC_STAT, &ds);
		ct_print_perm_mode("IPC_CREAT|SHM_NORESERVE|0644", &ds);
		id = T_ID(shmget(IPC_PRIVATE, 4096, IPC_CREAT | IPC_EXCL | 0604));
		shmctl(id, IPC_STAT, &ds);
		ct_print_perm_mode("IPC_CREAT|IPC_EXCL|0604", &ds);
		id = T_ID(shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0x01000000 | 0640));
		shmctl(id, IPC_STAT, &ds);
		ct_print_perm_mode("IPC_CREAT|0x01000000|0640", &ds);
	}

	printf("== remove and recreate the same key\n");
	T_INT(shmctl(k1, IPC_RMID, NULL));
	T_ID(shmget(K1, 0, 0));
	ct_stat("old k1", k1);
	int k1b = T_ID(shmget(K1, 4096, IPC_CREAT | 0600));
	printf("new id differs from old: %s\n", yes(k1b != k1));
	ct_stat("new k1", k1b);
	T_ID(shmget(K1, 0, 0));
	return 0;
}
