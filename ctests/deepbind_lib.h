/*
 * deepbind_lib.h - the body of the libraries of deepbind.c (libdeep_*.c),
 * each of which defines PREFIX first: calls of the three facilities, and of
 * syscall() with a SysV number, made from inside a library that the test
 * loads with RTLD_DEEPBIND, where the library's own dependencies (libc)
 * come before the program's global scope.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define FN(name) CAT(PREFIX, name)

static int result(long r)
{
	return r < 0 ? -errno : (int)r;
}

/*
 * Makes five objects with keys base .. base + 4 (a set, a queue, a segment,
 * a set through syscall(), a queue through a pointer from dlsym) and stores
 * their ids, or -errno, in ids[0..4].
 */
int FN(make)(int base, int *ids)
{
	ids[0] = result(semget(base, 1, IPC_CREAT | 0600));
	ids[1] = result(msgget(base + 1, IPC_CREAT | 0600));
	ids[2] = result(shmget(base + 2, 4096, IPC_CREAT | 0600));
	ids[3] = result(syscall(SYS_semget, base + 3, 2, IPC_CREAT | 0600));
	int (*get_queue)(key_t, int) = (int (*)(key_t, int))dlsym(RTLD_NEXT, "msgget");
	ids[4] = get_queue ? result(get_queue(base + 4, IPC_CREAT | 0600)) : -ENOENT;
	return 0;
}

/*
 * Loads library `path` with `flags` from inside this library and calls its
 * function `name` (a make of the above) with base and ids; -1 if it cannot.
 */
int FN(load_and_make)(const char *path, int flags, const char *name, int base, int *ids)
{
	void *handle = dlopen(path, flags);
	if (!handle)
		return -1;
	int (*make)(int, int *) = (int (*)(int, int *))dlsym(handle, name);
	return make ? make(base, ids) : -1;
}
