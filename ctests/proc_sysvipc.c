/*
 * proc_sysvipc.c - /proc/sysvipc/{shm,sem,msg} and the IPC sysctls of
 * /proc/sys/kernel, as a program inside the namespace reads and writes them:
 *   - each sysvipc file after creating objects of every kind (attached and
 *     resident, removed while attached, operated on, with messages sent and
 *     received): the header line raw, then each row with ids, pids and
 *     times normalized and, to pin the exact layout, the column at which
 *     each field ends (fields are right-aligned to fixed widths)
 *   - read through open()+read(), fopen()+fgets() and openat()
 *   - the seven sysctls read; writes through open()+write() (also after
 *     dup2 to another descriptor) change the namespace's limits and are
 *     read back; msgmni = number of queues makes the next msgget fail with
 *     ENOSPC; an out of range or non-numeric value fails the write with
 *     EINVAL and changes nothing; for sem, an out of range SEMMNI fails
 *     the write but the other three values are taken
 *   - a value written through stdio (fprintf) is taken when the stream is
 *     closed, and a refused one makes fclose fail with EINVAL
 *   - /proc/sysvipc files cannot be written
 * Every limit is put back at the end.
 */
#include "common.h"
#include <fcntl.h>
#include <sys/msg.h>
#include <sys/sem.h>

static const char *sysctls[] = { "shmmax", "shmall", "shmmni", "sem", "msgmax", "msgmnb", "msgmni" };
static char saved[7][128];

/* One field of a row, normalized: pids by name, times by mark, ids by idn. */
static const char *field(const char *file, int column, const char *token)
{
	long long v = atoll(token);
	int is_pid = 0, is_time = 0, is_id = column == 1;
	if (!strcmp(file, "shm")) {
		is_pid = column == 4 || column == 5;
		is_time = column >= 11 && column <= 13;
	} else if (!strcmp(file, "sem")) {
		is_time = column == 8 || column == 9;
	} else {
		is_pid = column == 5 || column == 6;
		is_time = column >= 11 && column <= 13;
	}
	if (is_pid)
		return pidn((pid_t)v);
	if (is_time)
		return tn((time_t)v);
	if (is_id)
		return idn((int)v);
	return token;
}

static void show_text(const char *file, char *text)
{
	char *save = NULL;
	int line = 0;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save), line++) {
		if (line == 0) {
			printf("  header |%s|\n", l);
			continue;
		}
		printf("  row:");
		char ends[512] = "";
		int column = 0;
		for (char *p = l; *p;) {
			while (*p == ' ')
				p++;
			if (!*p)
				break;
			char token[64];
			int n = 0;
			while (p[n] && p[n] != ' ' && n < 63) {
				token[n] = p[n];
				n++;
			}
			token[n] = 0;
			p += n;
			printf(" %s", field(file, column, token));
			snprintf(ends + strlen(ends), sizeof ends - strlen(ends), " %ld", (long)(p - l));
			column++;
		}
		printf("\n  ends:%s\n", ends);
	}
}

static void read_with_open(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		ct_fatal(path);
	size_t got = 0;
	ssize_t n;
	while (got < size - 1 && (n = read(fd, buf + got, size - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = 0;
	close(fd);
}

static void show_with_open(const char *file)
{
	char path[64], buf[8192];
	snprintf(path, sizeof path, "/proc/sysvipc/%s", file);
	read_with_open(path, buf, sizeof buf);
	printf("%s (open):\n", path);
	show_text(file, buf);
}

static void show_with_fopen(const char *file)
{
	char path[64], buf[8192] = "", line[1024];
	snprintf(path, sizeof path, "/proc/sysvipc/%s", file);
	FILE *f = fopen(path, "r");
	if (!f)
		ct_fatal(path);
	while (fgets(line, sizeof line, f))
		strncat(buf, line, sizeof buf - strlen(buf) - 1);
	fclose(f);
	printf("%s (fopen):\n", path);
	show_text(file, buf);
}

static void show_with_openat(const char *file)
{
	char path[64], buf[8192];
	snprintf(path, sizeof path, "/proc/sysvipc/%s", file);
	int fd = openat(AT_FDCWD, path, O_RDONLY);
	if (fd < 0)
		ct_fatal(path);
	ssize_t n = read(fd, buf, sizeof buf - 1);
	buf[n < 0 ? 0 : n] = 0;
	close(fd);
	printf("%s (openat):\n", path);
	show_text(file, buf);
}

static void read_sysctl(const char *name, char *out, size_t size)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/sys/kernel/%s", name);
	read_with_open(path, out, size);
}

static void show_sysctl(const char *name)
{
	char value[128];
	read_sysctl(name, value, sizeof value);
	printf("%s = |%s|\n", name, value);
}

/* Writes `text` to a sysctl as `echo text > file` does; prints the outcome. */
static void write_sysctl(const char *name, const char *text, int through_dup2)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/sys/kernel/%s", name);
	int fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0) {
		printf("open %s for writing: %s\n", name, ct_errname(errno));
		return;
	}
	int target = fd;
	if (through_dup2) {
		target = dup2(fd, 40);
		close(fd);
	}
	errno = 0;
	ssize_t n = write(target, text, strlen(text));
	int e = errno;
	close(target);
	printf("write %s <- \"%.*s\"%s = %s\n", name, (int)strcspn(text, "\n"), text, through_dup2 ? " (after dup2)" : "",
	       n < 0 ? ct_errname(e) : (n == (ssize_t)strlen(text) ? "all" : "short"));
}

int main(void)
{
	ct_init();
	for (int i = 0; i < 7; i++)
		read_sysctl(sysctls[i], saved[i], sizeof saved[i]);

	/* objects of every kind */
	int shm1 = T_ID(shmget(0x1234, 5000, IPC_CREAT | 0640));
	int shm2 = T_ID(shmget(IPC_PRIVATE, 100, IPC_CREAT | 0600));
	int shm3 = T_ID(shmget(0x4321, 3 * ct_page, IPC_CREAT | 0666));
	char *p1 = shmat(shm1, NULL, 0);
	char *p3 = shmat(shm3, NULL, 0);
	if (p1 == (void *)-1 || p3 == (void *)-1)
		ct_fatal("shmat");
	memset(p1, 1, 5000);
	p3[0] = 1;
	T_INT(shmctl(shm3, IPC_RMID, NULL));
	(void)shm2;

	int sem1 = T_ID(semget(0x99, 3, IPC_CREAT | 0600));
	int sem2 = T_ID(semget(IPC_PRIVATE, 1, IPC_CREAT | 0644));
	ct_mark();
	struct sembuf up = { 1, 1, 0 };
	T_INT(semop(sem1, &up, 1));
	(void)sem2;

	int q1 = T_ID(msgget(IPC_PRIVATE, IPC_CREAT | 0666));
	int q2 = T_ID(msgget(0x777, IPC_CREAT | 0620));
	struct {
		long mtype;
		char text[64];
	} m = { 1, "hello" };
	T_INT(msgsnd(q1, &m, 10, 0));
	T_INT(msgsnd(q2, &m, 20, 0));
	T_INT(msgsnd(q2, &m, 30, 0));
	T_INT(msgrcv(q2, &m, sizeof m.text, 0, 0));
	ct_mark();

	show_with_open("shm");
	show_with_fopen("sem");
	show_with_openat("msg");
	show_with_fopen("shm");
	show_with_open("msg");

	errno = 0;
	int wfd = open("/proc/sysvipc/shm", O_WRONLY);
	printf("open /proc/sysvipc/shm for writing: %s\n", wfd >= 0 ? "opened" : ct_errname(errno));
	if (wfd >= 0) {
		errno = 0;
		ssize_t n = write(wfd, "x\n", 2);
		printf("  write: %s\n", n < 0 ? ct_errname(errno) : "written");
		close(wfd);
	}

	for (int i = 0; i < 7; i++)
		show_sysctl(sysctls[i]);

	/* msgmni: two queues exist; a limit of two refuses a third */
	write_sysctl("msgmni", "2\n", 0);
	show_sysctl("msgmni");
	T_ID(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
	write_sysctl("msgmni", "3\n", 1);
	show_sysctl("msgmni");
	int q3 = T_ID(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
	write_sysctl("msgmni", "40000\n", 0);
	write_sysctl("msgmni", "-1\n", 0);
	write_sysctl("msgmni", "many\n", 0);
	show_sysctl("msgmni");

	/* msgmax: a message above it is refused */
	write_sysctl("msgmax", "16\n", 0);
	m.mtype = 1;
	T_INT(msgsnd(q3, &m, 17, IPC_NOWAIT));
	T_INT(msgsnd(q3, &m, 16, IPC_NOWAIT));

	/* sem: four values; SEMOPM limits a semop; a bad SEMMNI fails alone */
	write_sysctl("sem", "250 32000 2 128\n", 0);
	show_sysctl("sem");
	struct sembuf three[3] = { { 0, 1, 0 }, { 1, 1, 0 }, { 2, 1, 0 } };
	T_INT(semop(sem1, three, 3));
	write_sysctl("sem", "251 32001 3 99999\n", 0);
	show_sysctl("sem");
	T_INT(semop(sem1, three, 3));
	write_sysctl("sem", "300\n", 0);
	show_sysctl("sem");

	/* through stdio: the value is taken at fclose, or refused there */
	FILE *sf = fopen("/proc/sys/kernel/msgmnb", "w");
	if (!sf)
		ct_fatal("fopen msgmnb");
	fprintf(sf, "%d\n", 12345);
	errno = 0;
	int closed = fclose(sf);
	printf("fprintf msgmnb 12345, fclose = %s\n", closed == 0 ? "0" : ct_errname(errno));
	show_sysctl("msgmnb");
	sf = fopen("/proc/sys/kernel/msgmnb", "w");
	if (!sf)
		ct_fatal("fopen msgmnb");
	fprintf(sf, "-5\n");
	errno = 0;
	closed = fclose(sf);
	printf("fprintf msgmnb -5, fclose = %s\n", closed == 0 ? "0" : ct_errname(errno));
	show_sysctl("msgmnb");

	/* shmmax: a bigger segment is refused */
	write_sysctl("shmmax", "8192\n", 0);
	show_sysctl("shmmax");
	T_ID(shmget(IPC_PRIVATE, 8193, IPC_CREAT | 0600));
	T_ID(shmget(IPC_PRIVATE, 8192, IPC_CREAT | 0600));
	write_sysctl("shmmni", "1\n", 0);
	show_sysctl("shmmni");

	for (int i = 0; i < 7; i++)
		write_sysctl(sysctls[i], saved[i], 0);
	for (int i = 0; i < 7; i++)
		show_sysctl(sysctls[i]);
	return 0;
}
