/*
 * sem_get.c - semget(2):
 *   - IPC_PRIVATE always creates a new set (even with IPC_EXCL, even
 *     without IPC_CREAT); a set is created with every value 0, sempid 0,
 *     otime 0, ctime set, cuid/uid and cgid/gid of the creator, key as
 *     given, mode = the low 9 bits of semflg (other bits ignored)
 *   - keyed: IPC_CREAT creates or finds, IPC_CREAT|IPC_EXCL on an
 *     existing key -> EEXIST, no IPC_CREAT on a missing key -> ENOENT
 *   - nsems: 0 for an existing set is fine; <= the set's size is fine;
 *     above it -> EINVAL (but IPC_CREAT|IPC_EXCL reports EEXIST first);
 *     nsems < 0 or > SEMMSL (32000) -> EINVAL before anything else
 *     (even for a missing key without IPC_CREAT, even with IPC_EXCL on
 *     an existing key); nsems 0 when creating -> EINVAL; nsems == SEMMSL
 *     is allowed
 *   - the mode used for the lookup of an existing key is not applied to
 *     the set (the set keeps its mode)
 *   - after IPC_RMID the key is free again and a new, different id is
 *     returned
 *   - key -1 and INT_MIN are ordinary keys
 */
#include "common.h"
#include <limits.h>

#define KEY 0x5e40

int main(void)
{
	ct_init();

	printf("== IPC_PRIVATE\n");
	ct_mark();
	int a = T_ID(semget(IPC_PRIVATE, 3, IPC_CREAT | 0640));
	ct_semstat("a", a);
	ct_vals("a", a);
	ct_sempids("a", a);
	ct_cnts("a", a);
	int b = T_ID(semget(IPC_PRIVATE, 3, IPC_CREAT | 0640));
	printf("second private set differs: %s\n", yes(a != b));
	int c = T_ID(semget(IPC_PRIVATE, 1, 0600));
	ct_semstat("no IPC_CREAT", c);
	int d = T_ID(semget(IPC_PRIVATE, 2, IPC_CREAT | IPC_EXCL | 0777));
	ct_semstat("IPC_EXCL", d);
	int e = T_ID(semget(IPC_PRIVATE, 1, IPC_CREAT | 07777));
	ct_semstat("07777", e);
	int f = T_ID(semget(IPC_PRIVATE, 1, IPC_CREAT | 0x7fff0000 | 0444));
	ct_semstat("high bits", f);
	T_ID(semget(IPC_PRIVATE, 0, IPC_CREAT | 0600));
	T_ID(semget(IPC_PRIVATE, 0, 0600));
	T_ID(semget(IPC_PRIVATE, -1, IPC_CREAT | 0600));
	T_ID(semget(IPC_PRIVATE, 32001, IPC_CREAT | 0600));
	T_ID(semget(IPC_PRIVATE, INT_MAX, IPC_CREAT | 0600));
	T_ID(semget(IPC_PRIVATE, INT_MIN, IPC_CREAT | 0600));
	int big = T_ID(semget(IPC_PRIVATE, 32000, IPC_CREAT | 0600));
	ct_semstat("32000", big);
	T_INT(semctl(big, 31999, GETVAL));
	T_INT(semctl(big, 32000, GETVAL));
	T_INT(semctl(big, 0, IPC_RMID));

	printf("== keyed\n");
	T_ID(semget(KEY, 2, 0600));
	T_ID(semget(KEY, 0, 0));
	ct_mark();
	int k = T_ID(semget(KEY, 4, IPC_CREAT | 0660));
	ct_semstat("k", k);
	T_ID(semget(KEY, 4, IPC_CREAT | 0660));
	T_ID(semget(KEY, 0, 0));
	T_ID(semget(KEY, 0, IPC_CREAT));
	T_ID(semget(KEY, 1, 0));
	T_ID(semget(KEY, 3, 0600));
	T_ID(semget(KEY, 4, 0));
	T_ID(semget(KEY, 5, 0));
	T_ID(semget(KEY, 5, IPC_CREAT | 0660));
	T_ID(semget(KEY, 4, IPC_CREAT | IPC_EXCL | 0660));
	T_ID(semget(KEY, 0, IPC_CREAT | IPC_EXCL | 0660));
	T_ID(semget(KEY, 5, IPC_CREAT | IPC_EXCL | 0660));
	T_ID(semget(KEY, 0, IPC_EXCL));
	T_ID(semget(KEY, -1, 0));
	T_ID(semget(KEY, -1, IPC_CREAT | IPC_EXCL | 0660));
	T_ID(semget(KEY, 32001, IPC_CREAT | IPC_EXCL | 0660));
	T_ID(semget(KEY, 32001, 0));
	T_ID(semget(KEY + 1, -1, 0));
	T_ID(semget(KEY + 1, 32001, 0));
	T_ID(semget(KEY + 1, 0, IPC_CREAT | 0600));
	T_ID(semget(KEY + 1, 0, IPC_CREAT | IPC_EXCL | 0600));
	T_ID(semget(KEY + 1, 0, 0));
	printf("-- lookup with another mode does not change the set\n");
	T_ID(semget(KEY, 2, IPC_CREAT | 0600));
	T_ID(semget(KEY, 2, IPC_CREAT | 0));
	ct_semstat("k", k);

	printf("== IPC_EXCL creation, then remove\n");
	int k2 = T_ID(semget(KEY + 2, 1, IPC_CREAT | IPC_EXCL | 0600));
	T_ID(semget(KEY + 2, 1, IPC_CREAT | IPC_EXCL | 0600));
	T_INT(semctl(k2, 0, IPC_RMID));
	T_ID(semget(KEY + 2, 1, 0600));
	int k3 = T_ID(semget(KEY + 2, 2, IPC_CREAT | IPC_EXCL | 0600));
	printf("new id differs from the removed one: %s\n", yes(k3 != k2));
	ct_semstat("k3", k3);
	T_INT(semctl(k2, 0, GETVAL));

	printf("== odd keys\n");
	int m1 = T_ID(semget(-1, 1, IPC_CREAT | 0600));
	ct_semstat("key -1", m1);
	T_ID(semget(-1, 0, 0));
	int mi = T_ID(semget(INT_MIN, 1, IPC_CREAT | 0600));
	ct_semstat("key INT_MIN", mi);
	T_ID(semget(INT_MIN, 1, IPC_CREAT | IPC_EXCL | 0600));

	printf("== every id is distinct\n");
	int all[] = { a, b, c, d, e, f, k, k3, m1, mi };
	int n = sizeof all / sizeof all[0], dup = 0;
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (all[i] == all[j])
				dup++;
	printf("duplicates: %d\n", dup);
	return 0;
}
