/*
 * coexist_preload.c - another preload library that wraps open, openat,
 * fopen, write and syscall (libwrapopen.so) must not change what the
 * program sees, whichever comes first in LD_PRELOAD: the program re-executes
 * itself with libwrapopen.so first, then last, and each time reads
 * /proc/sysvipc/msg (open and fopen), sets and reads a sysctl, and makes
 * SysV calls through the functions and through syscall(); the neighbour
 * must have seen its share of the calls each time.
 */
#include "common.h"
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/msg.h>
#include <sys/syscall.h>

static void reexec(char **argv, const char *stage, int wrap_first)
{
	char lib[4096], self[4096], preload[8192] = "";
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n < 0)
		ct_fatal("readlink");
	self[n] = 0;
	snprintf(lib, sizeof lib, "%.*s/libwrapopen.so", (int)(strrchr(self, '/') - self), self);
	const char *old = getenv("COEXIST_OLD_PRELOAD");
	if (!old) {
		old = getenv("LD_PRELOAD") ? getenv("LD_PRELOAD") : "";
		setenv("COEXIST_OLD_PRELOAD", old, 1);
	}
	if (wrap_first)
		snprintf(preload, sizeof preload, "%s%s%s", lib, *old ? ":" : "", old);
	else
		snprintf(preload, sizeof preload, "%s%s%s", old, *old ? ":" : "", lib);
	setenv("LD_PRELOAD", preload, 1);
	setenv("COEXIST_STAGE", stage, 1);
	fflush(stdout);
	execv(self, argv);
	ct_fatal("execv");
}

static int data_lines(const char *text)
{
	int lines = 0;
	for (const char *p = text; *p; p++)
		lines += *p == '\n';
	return lines - 1;
}

static void checks(void)
{
	int q = T_ID(msgget(0x6060, IPC_CREAT | 0600));
	char buf[4096];
	int fd = open("/proc/sysvipc/msg", O_RDONLY);
	ssize_t n = read(fd, buf, sizeof buf - 1);
	buf[n < 0 ? 0 : n] = 0;
	close(fd);
	printf("open: queues listed %d, ours there %s\n", data_lines(buf), yes(strstr(buf, " 24672 ") != NULL));
	FILE *f = fopen("/proc/sysvipc/msg", "r");
	size_t got = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
	buf[got] = 0;
	if (f)
		fclose(f);
	printf("fopen: queues listed %d\n", data_lines(buf));
	fd = open("/proc/sys/kernel/msgmni", O_WRONLY | O_TRUNC);
	printf("write msgmni: %s\n", yes(write(fd, "77\n", 3) == 3));
	close(fd);
	fd = open("/proc/sys/kernel/msgmni", O_RDONLY);
	n = read(fd, buf, sizeof buf - 1);
	buf[n < 0 ? 0 : n] = 0;
	close(fd);
	printf("msgmni reads %s", buf);
	fd = open("/proc/sys/kernel/msgmni", O_WRONLY | O_TRUNC);
	printf("write msgmni back: %s\n", yes(write(fd, "32000\n", 6) == 6));
	close(fd);
	T_ID((int)syscall(SYS_msgget, 0x6060, 0));
	T_INT(syscall(SYS_msgctl, q, IPC_RMID, NULL));
	T_INT(msgctl(q, IPC_RMID, NULL));
	unsigned long (*seen)(int) = (unsigned long (*)(int))dlsym(RTLD_DEFAULT, "wrapopen_seen");
	if (!seen)
		ct_fatal("libwrapopen.so is not loaded");
	/* What ipcbox does not answer itself reaches the neighbour in either
	 * order (what it answers cannot, when it comes first). */
	int fd2 = open("/dev/null", O_RDONLY);
	close(fd2);
	printf("getpid through syscall: %s\n", yes(syscall(SYS_getpid) == getpid()));
	printf("the neighbour saw opens %s, syscalls %s\n", yes(seen(0) > 0), yes(seen(3) > 0));
}

int main(int argc, char **argv)
{
	const char *stage = getenv("COEXIST_STAGE");
	(void)argc;
	if (!stage)
		reexec(argv, "first", 1);
	ct_init();
	printf("-- libwrapopen.so %s in LD_PRELOAD\n", stage);
	checks();
	if (!strcmp(stage, "first"))
		reexec(argv, "last", 0);
	return 0;
}
