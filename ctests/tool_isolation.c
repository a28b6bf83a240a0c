/*
 * tool_isolation.c - helper of scripts/isolation.sh (not a differential
 * test: ctest.sh builds it but does not run it).
 *
 *   tool_isolation DIR NAME OTHER[,OTHER...]
 *
 * Creates the segment, the semaphore set and the message queue with key
 * 0x1234 using IPC_CREAT|IPC_EXCL (must succeed), writes the marker
 * "marker-NAME" into the segment and as a message, sets the semaphore to a
 * value of its own, creates DIR/NAME.ready and waits (up to 30 s) for
 * DIR/OTHER.ready of every other instance, i.e. until they have created
 * THEIR objects with the same key.  Then it checks that key 0x1234 still
 * resolves to its own objects and that they still hold its own marker and
 * value, signals DIR/NAME.checked, waits for DIR/OTHER.checked, removes its
 * objects and prints "NAME: OK" (exit 0) or "NAME: FAIL ..." (exit 1).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
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

/* Waits for DIR/WHO.WHAT of each name in the comma-separated `others`. */
static int wait_for(const char *dir, const char *others, const char *what)
{
	char names[4096];
	snprintf(names, sizeof names, "%s", others);
	for (char *save, *who = strtok_r(names, ",", &save); who; who = strtok_r(NULL, ",", &save)) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%s.%s", dir, who, what);
		int i = 0;
		while (access(path, F_OK) != 0 && i++ < 3000)
			usleep(10000);
		if (i > 3000)
			return -1;
	}
	return 0;
}

struct marker_msg {
	long mtype;
	char text[64];
};

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
	int sem = semget(KEY, 1, IPC_CREAT | IPC_EXCL | 0600);
	int queue = msgget(KEY, IPC_CREAT | IPC_EXCL | 0600);
	int value = 1 + (int)(strlen(name) * 31 + name[strlen(name) - 1]) % 30000;
	struct marker_msg m = { 1, "" };
	snprintf(m.text, sizeof m.text, "%s", marker);
	if (sem < 0)
		failf("semget(0x1234, IPC_CREAT|IPC_EXCL)", errno);
	else if (semctl(sem, 0, SETVAL, value))
		failf("SETVAL", errno);
	if (queue < 0)
		failf("msgget(0x1234, IPC_CREAT|IPC_EXCL)", errno);
	else if (msgsnd(queue, &m, sizeof m.text, 0))
		failf("msgsnd", errno);
	touch(dir, name, "ready");

	if (wait_for(dir, other, "ready") != 0)
		failf("another box never became ready (no rendezvous)", 0);
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
	if (semget(KEY, 0, 0) != sem || semctl(sem, 0, GETVAL) != value)
		failf("key 0x1234 no longer names my semaphore set, or its value changed", 0);
	struct marker_msg got;
	if (msgget(KEY, 0) != queue || msgrcv(queue, &got, sizeof got.text, 0, IPC_NOWAIT) != sizeof got.text ||
	    strcmp(got.text, marker) != 0)
		failf("key 0x1234 no longer names my queue, or it did not hold my message", 0);
	else
		printf("%s: its semaphore and message are its own\n", name);

	touch(dir, name, "checked");
	if (wait_for(dir, other, "checked") != 0)
		failf("another box never finished checking", 0);

	shmdt(p);
	if (shmctl(id, IPC_RMID, NULL) != 0)
		failf("IPC_RMID", errno);
	if (semctl(sem, 0, IPC_RMID) != 0 || msgctl(queue, IPC_RMID, NULL) != 0)
		failf("IPC_RMID of the set or the queue", errno);
	if (!bad)
		printf("%s: OK\n", name);
	return bad;
}
