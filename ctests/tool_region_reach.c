/*
 * tool_region_reach.c - tries to reach a box's region file through /proc:
 * /proc/self/map_files/ of an attachment (open and fopen: on Linux, as
 * root, the segment's own file) and /proc/self/fd/N of every memfd the
 * process holds. Prints one line per try: "opened, segment data: yes|no"
 * or the errno name. Used by scripts/isolation.sh, in a box (every try
 * must fail with EACCES) and on the kernel (map_files opens the segment).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/shm.h>
#include <unistd.h>

static const char *result(int fd)
{
	if (fd < 0)
		return errno == EACCES ? "EACCES" : errno == EPERM ? "EPERM" : strerror(errno);
	char c = 0;
	int n = pread(fd, &c, 1, 0);
	close(fd);
	return n == 1 && c == 'S' ? "opened, segment data: yes" : "opened, segment data: no";
}

int main(void)
{
	int id = shmget(IPC_PRIVATE, 8192, IPC_CREAT | 0600);
	char *p = shmat(id, NULL, 0);
	if (id < 0 || p == (void *)-1) {
		perror("shm");
		return 2;
	}
	memset(p, 'S', 8192);
	char path[128];
	snprintf(path, sizeof path, "/proc/self/map_files/%lx-%lx", (unsigned long)p, (unsigned long)p + 8192);
	printf("open map_files: %s\n", result(open(path, O_RDWR)));
	FILE *f = fopen(path, "r");
	printf("fopen map_files: %s\n", f ? (fclose(f), "opened") : errno == EACCES ? "EACCES" : strerror(errno));
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int memfds = 0;
	while (d && (e = readdir(d))) {
		char link[300], target[256];
		snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(link, target, sizeof target - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		if (!strstr(target, "memfd:"))
			continue;
		memfds++;
		printf("open fd of a memfd: %s\n", result(open(link, O_RDONLY)));
	}
	if (d)
		closedir(d);
	printf("memfds: %d\n", memfds);
	shmdt(p);
	shmctl(id, IPC_RMID, NULL);
	return 0;
}
