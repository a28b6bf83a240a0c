/*
 * tool_rawsys.c - msgget(IPC_PRIVATE) by a raw system call instruction,
 * past libc and any preloaded library (for scripts/cli.sh: under
 * `ipcbox run --strict` it must fail with ENOSYS). Prints "ENOSYS",
 * "created" (and removes the queue again, through the same path) or
 * "error N".
 */
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/syscall.h>

static long raw3(long nr, long a, long b, long c)
{
	long ret;
#if defined(__x86_64__)
	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
	ret = x0;
#else
#error "x86_64 and aarch64 only"
#endif
	return ret;
}

int main(void)
{
	long id = raw3(SYS_msgget, IPC_PRIVATE, IPC_CREAT | 0600, 0);
	if (id == -38) {
		puts("ENOSYS");
	} else if (id >= 0) {
		raw3(SYS_msgctl, id, IPC_RMID, 0);
		puts("created");
	} else {
		printf("error %ld\n", -id);
	}
	return 0;
}
