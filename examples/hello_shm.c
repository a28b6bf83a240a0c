/* hello_shm: a parent and its child share a System V segment with a fixed key.
 * Run it in two boxes at once and neither sees the other's segment:
 *   target/release/ipcbox run -- ./hello_shm & target/release/ipcbox run -- ./hello_shm
 */
#include <stdio.h>
#include <string.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	int id = shmget(0x1234, 4096, IPC_CREAT | IPC_EXCL | 0600);
	if (id < 0) {
		perror("shmget(0x1234, IPC_CREAT|IPC_EXCL)");
		return 1;
	}
	char *mem = shmat(id, NULL, 0);
	if (mem == (void *)-1) {
		perror("shmat");
		return 1;
	}
	pid_t child = fork();
	if (child == 0) {
		snprintf(mem, 4096, "hello from child %d", (int)getpid());
		_exit(0);
	}
	waitpid(child, NULL, 0);
	struct shmid_ds ds;
	shmctl(id, IPC_STAT, &ds);
	printf("segment %d (key 0x%x, %zu bytes, %lu attached) says: %s\n", id, ds.shm_perm.__key,
	       (size_t)ds.shm_segsz, (unsigned long)ds.shm_nattch, mem);
	shmdt(mem);
	shmctl(id, IPC_RMID, NULL);
	return 0;
}
