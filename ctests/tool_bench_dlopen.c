/*
 * tool_bench_dlopen.c - for scripts/bench.sh: loads DIR/lib0.so ..
 * lib<N-1>.so with dlopen(RTLD_NOW | RTLD_DEEPBIND), as PHP loads its
 * extensions, and calls each one's function `use_ipc` (which makes and
 * removes a semaphore set), then exits.
 *   tool_bench_dlopen DIR N
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	int n = atoi(argv[2]);
	for (int i = 0; i < n; i++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/lib%d.so", argv[1], i);
		void *handle = dlopen(path, RTLD_NOW | RTLD_DEEPBIND);
		int (*use_ipc)(void) = handle ? (int (*)(void))dlsym(handle, "use_ipc") : NULL;
		if (!use_ipc || use_ipc() != 0) {
			fprintf(stderr, "%s: %s\n", path, handle ? "use_ipc failed" : dlerror());
			return 1;
		}
	}
	return 0;
}
