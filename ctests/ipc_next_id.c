/*
 * ipc_next_id.c - the checkpoint/restore sysctls msg_next_id, sem_next_id
 * and shm_next_id, and the other IPC sysctls a box must keep to itself:
 *   - each reads -1 until written; writing N makes the next object of its
 *     kind get id N (index N & 0x7fff, sequence N >> 15), after which it
 *     reads -1 again
 *   - when index N & 0x7fff is taken, the lowest free index above it is
 *     used, with N's sequence
 *   - a creation that fails before an id is given (bad arguments) leaves
 *     the value set; an existing key found by a get leaves it set too
 *   - the next allocation without a value goes on from where the usual
 *     allocation was
 *   - values outside 0..INT_MAX and text that is no number: EINVAL
 *   - as nobody: every write is refused; as root without capabilities,
 *     writes to the next_id files only (they need CAP_CHECKPOINT_RESTORE
 *     or CAP_SYS_ADMIN)
 *   - shm_rmid_forced and auto_msgmni: their values and the values they refuse
 * The ids are printed raw: they are what the test is about.
 * Run as root, in a fresh IPC namespace (or a box).
 */
#include "common.h"
#include <limits.h>
#include <sys/msg.h>
#include <sys/sem.h>

static void show(const char *name)
{
	char path[64], value[64] = "";
	snprintf(path, sizeof path, "/proc/sys/kernel/%s", name);
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		printf("open %s: %s\n", name, ct_errname(errno));
		return;
	}
	ssize_t n = read(fd, value, sizeof value - 1);
	close(fd);
	value[n > 0 ? n : 0] = 0;
	value[strcspn(value, "\n")] = 0;
	printf("%s = %s\n", name, value);
}

static void set(const char *name, const char *text)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/sys/kernel/%s", name);
	int fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0) {
		printf("open %s for writing: %s\n", name, ct_errname(errno));
		return;
	}
	errno = 0;
	ssize_t n = write(fd, text, strlen(text));
	int e = errno;
	close(fd);
	printf("write %s <- %s = %s\n", name, text, n < 0 ? ct_errname(e) : "ok");
}

static int new_queue(void)
{
	return msgget(IPC_PRIVATE, IPC_CREAT | 0600);
}
static int new_set(void)
{
	return semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
}
static int new_segment(void)
{
	return shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
}

static void kind(const char *name, int (*make)(void))
{
	printf("== %s\n", name);
	show(name);
	int first = make(), second = make();
	printf("usual ids: %d %d\n", first, second);
	set(name, "7");
	show(name);
	printf("made: %d\n", make());
	show(name);
	printf("then: %d\n", make());
	char text[32];
	snprintf(text, sizeof text, "%d", (3 << 15) + 20);
	set(name, text);
	printf("made: %d\n", make());
	/* index 1 is taken (second): the next free index above it */
	snprintf(text, sizeof text, "%d", (5 << 15) + 1);
	set(name, text);
	printf("made: %d\n", make());
	snprintf(text, sizeof text, "%d", INT_MAX);
	set(name, text);
	printf("made: %d\n", make());
	printf("then: %d\n", make());
	set(name, "-1");
	set(name, "2147483648");
	set(name, "x");
	set(name, "0");
	show(name);
	printf("made: %d\n", make());
}

int main(void)
{
	ct_init();
	kind("msg_next_id", new_queue);
	kind("sem_next_id", new_set);
	kind("shm_next_id", new_segment);

	printf("== a failed creation keeps the value\n");
	set("sem_next_id", "100");
	T_ID(semget(IPC_PRIVATE, 100000, IPC_CREAT | 0600));
	show("sem_next_id");
	int keyed = semget(0x1234, 1, IPC_CREAT | 0600);
	printf("keyed: %d\n", keyed);
	set("sem_next_id", "101");
	printf("found again: %d\n", semget(0x1234, 1, IPC_CREAT | 0600) == keyed);
	show("sem_next_id");
	printf("made: %d\n", new_set());

	printf("== other sysctls\n");
	show("shm_rmid_forced");
	set("shm_rmid_forced", "2");
	set("shm_rmid_forced", "0");
	show("auto_msgmni");
	set("auto_msgmni", "2");
	set("auto_msgmni", "0");
	show("auto_msgmni");

	pid_t p = ct_fork("nobody");
	if (p == 0) {
		ct_become(NOBODY, NOBODY);
		printf("== nobody\n");
		show("msg_next_id");
		set("msg_next_id", "9");
		set("shm_rmid_forced", "0");
		set("auto_msgmni", "0");
		set("msgmni", "10");
		ct_child_exit(0);
	}
	ct_wait(p);

	p = ct_fork("nocaps");
	if (p == 0) {
		ct_root_nocaps();
		printf("== root without capabilities\n");
		set("msg_next_id", "9");
		show("msg_next_id");
		set("msgmni", "32000");
		set("shm_rmid_forced", "0");
		ct_child_exit(0);
	}
	ct_wait(p);
	return 0;
}
