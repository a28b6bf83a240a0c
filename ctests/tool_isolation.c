/*
 * tool_isolation.c - helper of scripts/isolation.sh (not a differential
 * test: ctest.sh builds it but does not run it).
 *
 *   tool_isolation DIR NAME OTHER
 *
 * Creates the segment with key 0x1234 using IPC_CREAT|IPC_EXCL (must
 * succeed), writes the marker "marker-NAME" into it, creates DIR/NAME.ready
 * and waits (up to 30 s) for DIR/OTHER.ready, i.e. until the other
 * instance has created ITS segment with the same key and written its
 * marker.  Then it checks that key 0x1234 still resolves to its own
 * segment and that the memory still holds its own marker, signals
 * DIR/NAME.checked, waits for DIR/OTHER.checked, removes its segment and
 * prints "NAME: OK" (exit 0) or "NAME: FAIL ..." (exit 1).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KEY 0x1234

static const char *name;
static int bad;

static void failf(const char *what, int e)
{
	printf("%s: FAIL %s%s%s\n", name, what, e ? ": " : "", e ? strerrorname_np(e) : "");
	bad = 1;
}

static void touch(const char *dir, const char *who, const char *what)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s.%s", dir, who, what);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		failf("create rendezvous file", errno);
	else
		close(fd);
}

static int wait_for(const char *dir, const char *who, const char *what)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s.%s", dir, who, what);
	for (int i = 0; i < 3000; i++) {
		if (access(path, F_OK) == 0)
			return 0;
		usleep(10000);
	}
	return -1;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s DIR NAME OTHER\n", argv[0]);
		return 2;
	}
	const char *dir = argv[1], *other = argv[3];
	name = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);

	char marker[64];
	snprintf(marker, sizeof marker, "marker-%s", name);

	int id = shmget(KEY, 4096, IPC_CREAT | IPC_EXCL | 0600);
	if (id < 0) {
		failf("shmget(0x1234, IPC_CREAT|IPC_EXCL)", errno);
		touch(dir, name, "ready");
		touch(dir, name, "checked");
		return 1;
	}
	printf("%s: created key 0x1234 with IPC_EXCL\n", name);
	char *p = shmat(id, NULL, 0);
	if (p == (void *)-1) {
		failf("shmat", errno);
		touch(dir, name, "ready");
		touch(dir, name, "checked");
		return 1;
	}
	strcpy(p, marker);
	touch(dir, name, "ready");

	if (wait_for(dir, other, "ready") != 0)
		failf("the other box never became ready (no rendezvous)", 0);
	else
		printf("%s: rendezvous with %s\n", name, other);

	int again = shmget(KEY, 0, 0);
	if (again != id)
		failf("key 0x1234 no longer resolves to my segment", again < 0 ? errno : 0);
	if (strcmp(p, marker) != 0)
		failf("my marker was overwritten", 0);
	else
		printf("%s: still reads its own marker\n", name);
	struct shmid_ds ds;
	if (shmctl(id, IPC_STAT, &ds) != 0)
		failf("IPC_STAT", errno);
	else if (ds.shm_nattch != 1)
		failf("nattch is not 1 (someone else attached)", 0);

	touch(dir, name, "checked");
	if (wait_for(dir, other, "checked") != 0)
		failf("the other box never finished checking", 0);

	shmdt(p);
	if (shmctl(id, IPC_RMID, NULL) != 0)
		failf("IPC_RMID", errno);
	if (!bad)
		printf("%s: OK\n", name);
	return bad;
}
