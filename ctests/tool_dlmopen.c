/*
 * tool_dlmopen.c - for scripts/cli.sh: link maps of their own.
 *   tool_dlmopen LIB     loads LIB with dlmopen into a new link map, twice
 *                        (LM_ID_NEWLM each time), then with dlopen, and
 *                        prints whether each load worked (a box says once
 *                        on stderr that such a link map is not boxed);
 *   tool_dlmopen --call  loads libc.so.6 into a new link map and makes a
 *                        queue with its msgget, then an invalid msgctl and
 *                        the queue's removal with its msgctl, printing the
 *                        results and that libc's errno (under --strict the
 *                        box answers them).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>

static int call(void)
{
	void *libc = dlmopen(LM_ID_NEWLM, "libc.so.6", RTLD_NOW);
	if (!libc) {
		printf("%s\n", dlerror());
		return 1;
	}
	int (*get)(int, int) = (int (*)(int, int))dlsym(libc, "msgget");
	int (*ctl)(int, int, void *) = (int (*)(int, int, void *))dlsym(libc, "msgctl");
	int *(*errno_of)(void) = (int *(*)(void))dlsym(libc, "__errno_location");
	int q = get(IPC_PRIVATE, IPC_CREAT | 0600);
	printf("msgget %d\n", q);
	int bad = ctl(123456, IPC_RMID, NULL);
	printf("msgctl of a bad id %d errno %d\n", bad, *errno_of());
	printf("msgctl IPC_RMID %d\n", ctl(q, IPC_RMID, NULL));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	if (!strcmp(argv[1], "--call"))
		return call();
	for (int i = 0; i < 2; i++)
		printf("%s ", dlmopen(LM_ID_NEWLM, argv[1], RTLD_NOW) ? "dlmopen-loaded" : dlerror());
	printf("%s\n", dlopen(argv[1], RTLD_NOW) ? "dlopen-loaded" : dlerror());
	return 0;
}
