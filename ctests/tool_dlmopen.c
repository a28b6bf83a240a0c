/*
 * tool_dlmopen.c - loads library argv[1] with dlmopen into a new link map,
 * twice (LM_ID_NEWLM each time), then with dlopen, printing whether each
 * load worked; scripts/cli.sh checks that a box says once on stderr that
 * such a link map is not boxed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	for (int i = 0; i < 2; i++)
		printf("%s ", dlmopen(LM_ID_NEWLM, argv[1], RTLD_NOW) ? "dlmopen-loaded" : dlerror());
	printf("%s\n", dlopen(argv[1], RTLD_NOW) ? "dlopen-loaded" : dlerror());
	return 0;
}
