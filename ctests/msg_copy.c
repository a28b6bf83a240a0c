/*
 * msg_copy.c - msgrcv(2) with MSG_COPY (Linux >= 3.8 with
 * CONFIG_CHECKPOINT_RESTORE, which the kernels this runs on have; the
 * first line says whether the kernel supports it):
 *   - MSG_COPY|IPC_NOWAIT copies the message at position msgtyp (0 =
 *     the first) whatever its type, without removing it: qnum, cbytes,
 *     lrpid and rtime do not change (copies made by a child, after a
 *     mark)
 *   - a position past the end, or a negative one -> ENOMSG; an empty
 *     queue -> ENOMSG
 *   - without IPC_NOWAIT, or with MSG_EXCEPT -> EINVAL, before the id is
 *     looked up (a removed id gives EINVAL either way; a negative id
 *     EINVAL)
 *   - too small a buffer -> E2BIG; with MSG_NOERROR the kernel does not
 *     truncate a copy: EINVAL (copy_msg refuses a message larger than
 *     the copy buffer)
 *   - the copy buffer is first read from the caller (prepare_copy loads
 *     min(msgsz, MSGMAX) bytes from msgp): an unreadable buffer ->
 *     EFAULT even for an unknown id; msgsz 0 with a NULL buffer reads
 *     nothing: E2BIG for a longer message, ENOMSG past the end, and for
 *     a zero-length message the copy-out of the mtype fails (EFAULT); a
 *     read-only buffer passes the load and fails with EFAULT on the copy
 *     out, the message is still there
 *   - msgsz larger than MSGMAX is fine (the message is at most MSGMAX)
 *   - MSG_COPY does not wake or disturb anything: a normal receive then
 *     takes the first message
 *   - positions follow the queue's order as it changes (after receives
 *     from the middle)
 */
#include "common.h"
#include <limits.h>

static int id;

static void copy(long idx, size_t bufsz, int flg)
{
	ct_rcv(id, bufsz, idx, flg | MSG_COPY);
}

int main(void)
{
	ct_init();
	pid_t c;
	id = T_ID(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
	int gone = T_ID(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
	T_INT(msgctl(gone, IPC_RMID, NULL));

	{
		struct ct_msg m;
		errno = 0;
		long r = ct_rcv_q(id, &m, 100, 0, MSG_COPY | IPC_NOWAIT);
		printf("MSG_COPY supported: %s\n", yes(r == -1 && errno == ENOMSG));
	}

	printf("== copies by position\n");
	ct_snd(id, 5, "five", 0);
	ct_snd(id, 1, "one", 0);
	ct_snd(id, 3, "three", 0);
	ct_snd(id, 1, "one again", 0);
	ct_rcv(id, 100, 0, IPC_NOWAIT);
	ct_snd(id, 5, "five", 0);
	ct_mark();
	ct_msgstat("before", id);
	if ((c = ct_fork("child1")) == 0) {
		copy(0, 100, IPC_NOWAIT);
		copy(1, 100, IPC_NOWAIT);
		copy(2, 100, IPC_NOWAIT);
		copy(3, 100, IPC_NOWAIT);
		copy(4, 100, IPC_NOWAIT);
		copy(1000, 100, IPC_NOWAIT);
		copy(LONG_MAX, 100, IPC_NOWAIT);
		copy(-1, 100, IPC_NOWAIT);
		copy(LONG_MIN, 100, IPC_NOWAIT);
		copy(2, 100, IPC_NOWAIT);
		ct_child_exit(0);
	}
	ct_wait(c);
	ct_msgstat("after copies by child1 (unchanged)", id);

	printf("== flags\n");
	copy(0, 100, 0);
	copy(0, 100, MSG_EXCEPT | IPC_NOWAIT);
	copy(0, 100, MSG_EXCEPT);
	copy(1, 100, IPC_NOWAIT | MSG_NOERROR);
	ct_rcv(gone, 100, 0, MSG_COPY);
	ct_rcv(gone, 100, 0, MSG_COPY | IPC_NOWAIT);
	ct_rcv(gone, 100, 0, MSG_COPY | MSG_EXCEPT | IPC_NOWAIT);
	ct_rcv(-1, 100, 0, MSG_COPY);
	ct_rcv(-1, 100, 0, MSG_COPY | IPC_NOWAIT);
	T_INT(msgrcv(id, &ct_rmsg, -1, 0, MSG_COPY));
	T_INT(msgrcv(id, &ct_rmsg, -1, 0, MSG_COPY | IPC_NOWAIT));

	printf("== buffer size\n");
	copy(2, 5, IPC_NOWAIT);
	copy(2, 4, IPC_NOWAIT);
	copy(2, 4, IPC_NOWAIT | MSG_NOERROR);
	copy(2, 0, IPC_NOWAIT | MSG_NOERROR);
	copy(2, 100000, IPC_NOWAIT);
	copy(2, 8192, IPC_NOWAIT);
	ct_sndn(id, 9, 8192, 0);
	copy(4, 8191, IPC_NOWAIT);
	copy(4, 8192, IPC_NOWAIT);
	copy(4, 8193, IPC_NOWAIT);
	copy(4, 8191, IPC_NOWAIT | MSG_NOERROR);
	ct_rcv(id, 10000, 9, IPC_NOWAIT);
	ct_snd(id, 7, "", 0);
	copy(4, 0, IPC_NOWAIT);
	ct_rcv(id, 0, 7, IPC_NOWAIT);

	printf("== bad buffers\n");
	{
		char *ro = mmap(NULL, ct_page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		char *hole = ct_free_range(ct_page);
		if (ro == MAP_FAILED)
			ct_fatal("mmap");
		T_INT(msgrcv(id, NULL, 100, 0, MSG_COPY | IPC_NOWAIT));
		T_INT(msgrcv(id, hole, 100, 0, MSG_COPY | IPC_NOWAIT));
		T_INT(msgrcv(gone, NULL, 100, 0, MSG_COPY | IPC_NOWAIT));
		T_INT(msgrcv(INT_MAX, NULL, 100, 0, MSG_COPY | IPC_NOWAIT));
		T_INT(msgrcv(id, NULL, 100, 0, MSG_COPY));
		T_INT(msgrcv(-1, NULL, 100, 0, MSG_COPY | IPC_NOWAIT));
		T_INT(msgrcv(id, NULL, 0, 0, MSG_COPY | IPC_NOWAIT));
		T_INT(msgrcv(id, NULL, 0, 99, MSG_COPY | IPC_NOWAIT));
		T_INT(msgrcv(id, ro, 100, 0, MSG_COPY | IPC_NOWAIT));
		T_INT(msgrcv(id, ro, 100, 99, MSG_COPY | IPC_NOWAIT));
		ct_snd(id, 7, "", 0);
		T_INT(msgrcv(id, NULL, 0, 4, MSG_COPY | IPC_NOWAIT));
		T_INT(msgrcv(id, ro, 0, 4, MSG_COPY | IPC_NOWAIT));
		ct_rcv(id, 0, 7, IPC_NOWAIT);
		ct_msgstat("after bad buffers (unchanged)", id);
	}

	printf("== the queue changes under the positions\n");
	ct_rcv(id, 100, 3, IPC_NOWAIT);
	copy(0, 100, IPC_NOWAIT);
	copy(1, 100, IPC_NOWAIT);
	copy(2, 100, IPC_NOWAIT);
	copy(3, 100, IPC_NOWAIT);
	ct_snd(id, 2, "two", 0);
	copy(3, 100, IPC_NOWAIT);
	ct_rcv(id, 100, 0, IPC_NOWAIT);
	copy(0, 100, IPC_NOWAIT);
	ct_rcv(id, 100, -10, IPC_NOWAIT);
	ct_rcv(id, 100, -10, IPC_NOWAIT);
	ct_rcv(id, 100, -10, IPC_NOWAIT);
	copy(0, 100, IPC_NOWAIT);
	ct_msgstat("final", id);
	return 0;
}
