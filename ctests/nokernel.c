/*
 * nokernel.c - run a program with the kernel's System V IPC switched off.
 *
 *   nokernel PROG ARGS...
 *
 * Sets PR_SET_NO_NEW_PRIVS and installs a seccomp BPF filter (raw, no
 * libseccomp) that makes every System V IPC system call fail with ENOSYS:
 * shmget, shmat, shmdt, shmctl, semget, semop, semtimedop, semctl,
 * msgget, msgsnd, msgrcv, msgctl (and the multiplexed ipc(2) and the
 * time64 variants where the architecture has them).  Then it execvp's
 * PROG.  The filter is inherited by every descendant and cannot be
 * removed, so whatever answers a SysV IPC call below this wrapper is not
 * the kernel: under ipcbox this proves the box answered.
 *
 * The filter checks seccomp_data.arch: only the native ABI is allowed
 * through (x86_64 or aarch64, numbers from <sys/syscall.h>); x32 system
 * calls on x86_64 and every call through a foreign ABI (i386 int 0x80,
 * arm32 compat) fail with ENOSYS as well, so the kernel's compat IPC
 * entry points cannot be reached either.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#define X32_BIT 0x40000000U
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#else
#error "nokernel: unsupported architecture (x86_64 and aarch64 only)"
#endif

#define DENY BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA))
#define ALLOW BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

static const unsigned blocked[] = {
	__NR_shmget,
	__NR_shmat,
	__NR_shmdt,
	__NR_shmctl,
	__NR_semget,
	__NR_semop,
	__NR_semtimedop,
	__NR_semctl,
	__NR_msgget,
	__NR_msgsnd,
	__NR_msgrcv,
	__NR_msgctl,
#ifdef __NR_ipc
	__NR_ipc,
#endif
#ifdef __NR_semtimedop_time64
	__NR_semtimedop_time64,
#endif
};
#define NBLOCKED (sizeof blocked / sizeof blocked[0])

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PROG [ARGS...]\n", argv[0]);
		return 2;
	}

	struct sock_filter f[8 + 2 * NBLOCKED];
	unsigned n = 0;
	/* foreign ABI -> ENOSYS for everything */
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					      offsetof(struct seccomp_data, arch));
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0);
	f[n++] = (struct sock_filter)DENY;
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					      offsetof(struct seccomp_data, nr));
#ifdef X32_BIT
	/* x32 system calls (nr | 0x40000000) -> ENOSYS */
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_BIT, 0, 1);
	f[n++] = (struct sock_filter)DENY;
#endif
	for (unsigned i = 0; i < NBLOCKED; i++) {
		f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, blocked[i], 0, 1);
		f[n++] = (struct sock_filter)DENY;
	}
	f[n++] = (struct sock_filter)ALLOW;

	struct sock_fprog prog = { .len = (unsigned short)n, .filter = f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		perror("nokernel: PR_SET_NO_NEW_PRIVS");
		return 126;
	}
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
		perror("nokernel: seccomp");
		return 126;
	}
	execvp(argv[1], argv + 1);
	fprintf(stderr, "nokernel: exec %s: %s\n", argv[1], strerror(errno));
	return 127;
}
