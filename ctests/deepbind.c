/*
 * deepbind.c - System V IPC calls made from libraries loaded with
 * RTLD_DEEPBIND (as PHP loads its extensions): with RTLD_NOW and with
 * RTLD_LAZY, from the program and from a second library that the program
 * loaded with RTLD_DEEPBIND itself. Every object a library makes (through
 * the wrappers, syscall(), and a pointer from dlsym) must be the one the
 * program then finds by its key: the same namespace.
 */
#include "common.h"
#include <dlfcn.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>

static const char *what[5] = { "semget", "msgget", "shmget", "syscall(SYS_semget)", "msgget from dlsym" };

static void report(const char *label, int base, const int *ids)
{
	for (int i = 0; i < 5; i++) {
		if (ids[i] < 0) {
			printf("%s: %s(%#x) in the library = -1 %s\n", label, what[i], base + i, ct_errname(-ids[i]));
			continue;
		}
		printf("%s: %s(%#x) in the library = %s\n", label, what[i], base + i, idn(ids[i]));
		int found;
		switch (i) {
		case 0:
		case 3:
			found = semget(base + i, 0, 0);
			break;
		case 2:
			found = shmget(base + i, 0, 0);
			break;
		default:
			found = msgget(base + i, 0);
		}
		printf("%s:   the program finds key %#x as %s\n", label, base + i, found < 0 ? ct_errname(errno) : idn(found));
	}
}

static void remove_all(int base, const int *ids)
{
	for (int i = 0; i < 5; i++) {
		if (ids[i] < 0)
			continue;
		int r = i == 0 || i == 3 ? semctl(ids[i], 0, IPC_RMID) : i == 2 ? shmctl(ids[i], IPC_RMID, NULL) : msgctl(ids[i], IPC_RMID, NULL);
		printf("remove %s (key %#x) = %d %s\n", idn(ids[i]), base + i, r, r ? ct_errname(errno) : "");
	}
}

static void direct(const char *path, int flags, const char *label, const char *make_name, int base)
{
	int ids[5] = { -ENOENT, -ENOENT, -ENOENT, -ENOENT, -ENOENT };
	void *handle = dlopen(path, flags);
	if (!handle) {
		printf("%s: dlopen failed: %s\n", label, dlerror());
		return;
	}
	int (*make)(int, int *) = (int (*)(int, int *))dlsym(handle, make_name);
	if (!make) {
		printf("%s: no %s\n", label, make_name);
		return;
	}
	make(base, ids);
	report(label, base, ids);
	remove_all(base, ids);
}

int main(void)
{
	ct_init();
	direct("./libdeep_now.so", RTLD_NOW | RTLD_DEEPBIND, "now+deepbind", "deep_now_make", 0x1000);
	direct("./libdeep_lazy.so", RTLD_LAZY | RTLD_DEEPBIND, "lazy+deepbind", "deep_lazy_make", 0x2000);

	/* A library loaded with RTLD_DEEPBIND loads another the same way. */
	int ids[5] = { -ENOENT, -ENOENT, -ENOENT, -ENOENT, -ENOENT };
	void *outer = dlopen("./libdeep_outer.so", RTLD_NOW | RTLD_DEEPBIND);
	int (*load_and_make)(const char *, int, const char *, int, int *) =
		outer ? (int (*)(const char *, int, const char *, int, int *))dlsym(outer, "deep_outer_load_and_make") : NULL;
	if (!load_and_make) {
		printf("outer library: %s\n", dlerror());
		return 1;
	}
	int r = load_and_make("./libdeep_inner.so", RTLD_LAZY | RTLD_DEEPBIND, "deep_inner_make", 0x3000, ids);
	printf("inner library loaded by the outer = %d\n", r);
	report("inner", 0x3000, ids);
	remove_all(0x3000, ids);
	int (*outer_make)(int, int *) = (int (*)(int, int *))dlsym(outer, "deep_outer_make");
	outer_make(0x4000, ids);
	report("outer", 0x4000, ids);
	remove_all(0x4000, ids);
	return 0;
}
