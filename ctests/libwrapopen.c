/*
 * libwrapopen.c - a well-behaved neighbour preload library for
 * coexist_preload: it wraps open, openat, fopen, write and syscall (as
 * tracing and sandboxing libraries do), counts the calls it sees and passes
 * each on to the next definition (RTLD_NEXT), whichever library that is.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/types.h>
#include <unistd.h>

static unsigned long seen_open, seen_fopen, seen_write, seen_syscall;

unsigned long wrapopen_seen(int what)
{
	switch (what) {
	case 0: return seen_open;
	case 1: return seen_fopen;
	case 2: return seen_write;
	default: return seen_syscall;
	}
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = va_arg(ap, mode_t);
	va_end(ap);
	seen_open++;
	int (*next)(const char *, int, ...) = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
	return next(path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = va_arg(ap, mode_t);
	va_end(ap);
	seen_open++;
	int (*next)(int, const char *, int, ...) = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, "openat");
	return next(dirfd, path, flags, mode);
}

FILE *fopen(const char *path, const char *mode)
{
	seen_fopen++;
	FILE *(*next)(const char *, const char *) = (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, "fopen");
	return next(path, mode);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	seen_write++;
	ssize_t (*next)(int, const void *, size_t) = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	return next(fd, buf, n);
}

long syscall(long nr, ...)
{
	va_list ap;
	va_start(ap, nr);
	long a[6];
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	seen_syscall++;
	long (*next)(long, ...) = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	return next(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
