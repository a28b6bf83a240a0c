/* hello_msg: a client sends a request on a System V message queue with a
 * fixed key, and a server answers on the same queue with another type.
 * Run it in two boxes at once and neither sees the other's queue:
 *   target/release/ipcbox run -- ./hello_msg & target/release/ipcbox run -- ./hello_msg
 */
#include <stdio.h>
#include <string.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <unistd.h>

struct message {
	long mtype; /* 1: request, 2: answer */
	char text[80];
};

int main(void)
{
	int id = msgget(0x1234, IPC_CREAT | IPC_EXCL | 0600);
	if (id < 0) {
		perror("msgget(0x1234, IPC_CREAT|IPC_EXCL)");
		return 1;
	}
	pid_t server = fork();
	if (server == 0) {
		struct message m;
		if (msgrcv(id, &m, sizeof m.text, 1, 0) < 0)
			_exit(1);
		struct message answer = { 2, "" };
		snprintf(answer.text, sizeof answer.text, "hello, %.64s", m.text);
		_exit(msgsnd(id, &answer, strlen(answer.text) + 1, 0) == 0 ? 0 : 1);
	}
	struct message request = { 1, "client" };
	struct message answer;
	if (msgsnd(id, &request, strlen(request.text) + 1, 0) < 0 || msgrcv(id, &answer, sizeof answer.text, 2, 0) < 0) {
		perror("msgsnd/msgrcv");
		return 1;
	}
	int status;
	waitpid(server, &status, 0);
	struct msqid_ds ds;
	msgctl(id, IPC_STAT, &ds);
	printf("queue %d (key 0x%x, %lu messages left) answered: %s\n", id, ds.msg_perm.__key,
	       (unsigned long)ds.msg_qnum, answer.text);
	msgctl(id, IPC_RMID, NULL);
	return status == 0 ? 0 : 1;
}
