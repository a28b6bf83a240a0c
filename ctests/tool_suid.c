/*
 * tool_suid.c - for scripts/cli.sh, installed setuid root and run by an
 * unprivileged user under `ipcbox run --strict`: prints its effective uid,
 * the loader's secure-execution flag, whether the box's library is mapped,
 * and what msgget(IPC_PRIVATE) returns (0: the box's first queue).
 */
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/msg.h>
#include <unistd.h>

int main(void)
{
	FILE *maps = fopen("/proc/self/maps", "r");
	char line[512];
	int shim = 0;
	while (maps && fgets(line, sizeof line, maps))
		if (strstr(line, "libipcbox"))
			shim = 1;
	printf("euid %d secure %lu shim %d msgget %d\n", (int)geteuid(), getauxval(AT_SECURE), shim,
	       msgget(IPC_PRIVATE, 0600));
	return 0;
}
