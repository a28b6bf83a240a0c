/*
 * libfakeids.c - a hostile neighbour preload library for shm_preload_fakes.
 * It lies about identities and time (geteuid/getuid/getegid/getgid give
 * 4242/4343, time and clock_gettime give 1000 s) and makes every libc open of
 * a /proc path fail with EACCES. ipcbox must see through all of it: its own
 * work uses direct system calls.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

uid_t geteuid(void) { return 4242; }
uid_t getuid(void) { return 4242; }
gid_t getegid(void) { return 4343; }
gid_t getgid(void) { return 4343; }
time_t time(time_t *t)
{
	if (t)
		*t = 1000;
	return 1000;
}
int clock_gettime(clockid_t clk, struct timespec *ts)
{
	(void)clk;
	ts->tv_sec = 1000;
	ts->tv_nsec = 0;
	return 0;
}

static int is_proc(const char *path) { return path && strncmp(path, "/proc", 5) == 0; }

#define OPEN_WRAPPER(name, ...)                                                       \
	int name(const char *path, int flags, ...)                                    \
	{                                                                             \
		mode_t mode = 0;                                                      \
		if (flags & (O_CREAT | O_TMPFILE)) {                                  \
			va_list ap;                                                   \
			va_start(ap, flags);                                          \
			mode = va_arg(ap, mode_t);                                    \
			va_end(ap);                                                   \
		}                                                                     \
		if (is_proc(path)) {                                                  \
			errno = EACCES;                                               \
			return -1;                                                    \
		}                                                                     \
		int (*real)(const char *, int, ...) = dlsym(RTLD_NEXT, #name);        \
		return real(path, flags, mode);                                       \
	}
OPEN_WRAPPER(open)
OPEN_WRAPPER(open64)

int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (is_proc(path)) {
		errno = EACCES;
		return -1;
	}
	int (*real)(int, const char *, int, ...) = dlsym(RTLD_NEXT, "openat");
	return real(dirfd, path, flags, mode);
}

FILE *fopen(const char *path, const char *mode)
{
	if (is_proc(path)) {
		errno = EACCES;
		return NULL;
	}
	FILE *(*real)(const char *, const char *) = dlsym(RTLD_NEXT, "fopen");
	return real(path, mode);
}
