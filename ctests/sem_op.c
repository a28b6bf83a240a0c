/*
 * sem_op.c - semop(2)/semtimedop(2) semantics that need no second
 * process:
 *   - sem_op > 0 adds, < 0 subtracts, 0 waits for zero (succeeds at once
 *     when the value is 0); a successful op sets sempid of every
 *     semaphore it names (wait-for-zero ones included), nothing else
 *   - IPC_NOWAIT: an op that would block fails with EAGAIN; the flag
 *     only matters on the operation that blocks
 *   - all-or-nothing: when a later operation would block or fail,
 *     earlier ones of the same call are not applied (values, sempid
 *     and SEM_UNDO adjustments unchanged)
 *   - the errors come from the first operation (in list order) that
 *     cannot proceed: ERANGE (result above SEMVMX 32767) vs EAGAIN
 *     depends on which comes first
 *   - several operations on the same semaphore are applied in order
 *     ([0:+1 0:0] blocks, [0:-1 0:+1] on 0 blocks, [0:+1 0:-1] on 0 is
 *     fine, an intermediate value above 32767 is ERANGE)
 *   - SEM_UNDO adjustment range: a semadj outside -32768..32767 -> ERANGE
 *   - values up to exactly 32767; sem_op -32768 and +32767
 *   - semtimedop with NULL timeout behaves as semop; a zero timeout on
 *     an op that can proceed succeeds; on one that cannot -> EAGAIN
 *   - unknown sem_flg bits are ignored
 *   - nsops up to SEMOPM (500) operations in one call
 */
#include "common.h"

int main(void)
{
	ct_init();
	int id = T_ID(semget(IPC_PRIVATE, 4, IPC_CREAT | 0600));

	printf("== basic\n");
	ct_semop(id, "0:+1");
	ct_semop(id, "0:+2 1:+5");
	ct_vals("after V", id);
	ct_sempids("after V", id);
	ct_semop(id, "0:-3");
	ct_semop(id, "1:-2:n");
	ct_vals("after P", id);
	ct_semop(id, "0:0");
	ct_semop(id, "2:0:n 3:0");
	ct_sempids("after zero ops", id);
	ct_semop(id, "1:0:n");
	ct_semop(id, "1:-4:n");
	ct_vals("after EAGAIN", id);
	ct_semop(id, "1:-3:n");
	ct_semop(id, "1:0:n");
	ct_vals("values", id);
	ct_semop(id, "0:0:x 1:+1:x");
	ct_vals("unknown flag bit", id);
	ct_semop(id, "1:-1");

	printf("== all-or-nothing\n");
	ct_setall(id, "5 1 0 7");
	ct_sempids("after SETALL", id);
	ct_semop(id, "0:-1 1:-1 2:-1:n");
	ct_vals("not applied", id);
	ct_semop(id, "0:+3 3:0:n");
	ct_vals("not applied", id);
	ct_semop(id, "0:-5 1:+1 3:-8:n 2:+1");
	ct_vals("not applied", id);
	ct_semop(id, "0:-1:u 1:+2:u 2:-1:n");
	ct_vals("not applied", id);
	ct_semop(id, "0:-5 1:-1 2:0 3:-7");
	ct_vals("all applied", id);
	ct_semop(id, "0:+5 1:+1 3:+7");
	ct_sempids("after ops", id);

	printf("== which error: the first op that cannot proceed\n");
	ct_setall(id, "32767 0 32760 1");
	ct_semop(id, "0:+1");
	ct_semop(id, "0:+1:n");
	ct_semop(id, "2:+8");
	ct_semop(id, "2:+7");
	ct_semop(id, "2:-7");
	ct_semop(id, "0:+1 1:-1:n");
	ct_semop(id, "1:-1:n 0:+1");
	ct_semop(id, "3:0:n 0:+1");
	ct_semop(id, "0:+1 3:0:n");
	ct_semop(id, "1:+1 0:+1");
	ct_vals("unchanged", id);
	ct_semop(id, "0:-32767");
	ct_semop(id, "0:+32767");
	ct_semop(id, "0:-32768:n");
	ct_semop(id, "0:+32767 0:-32767");
	ct_vals("values", id);

	printf("== the IPC_NOWAIT of the blocking op counts\n");
	ct_setall(id, "1 0 0 0");
	ct_semop(id, "0:-1:n 1:-1:n");
	ct_semop(id, "0:-1 1:-1:n");
	ct_semop(id, "0:0:n 0:-1");
	ct_vals("unchanged", id);

	printf("== same semaphore several times: applied in order\n");
	ct_setall(id, "0 0 0 0");
	ct_semop(id, "0:+1 0:0:n");
	ct_semop(id, "0:-1:n 0:+1");
	ct_semop(id, "0:+1 0:-1");
	ct_vals("values", id);
	ct_semop(id, "0:0 0:+1");
	ct_semop(id, "0:-1 0:0");
	ct_semop(id, "0:+2 0:-1 0:+3 0:-4");
	ct_vals("values", id);
	ct_semop(id, "1:+32767 1:-1");
	ct_semop(id, "1:+2 1:-2");
	ct_semop(id, "1:-2 1:+3");
	ct_semop(id, "1:-5");
	ct_vals("values", id);
	ct_semop(id, "2:+5 2:-3 3:+1 2:-3:n");
	ct_vals("not applied", id);
	ct_semop(id, "0:+1 64:+1");
	ct_semop(id, "1:-1 1:-1 1:-1 1:-1");
	ct_vals("values", id);

	printf("== SEM_UNDO adjustment range (-32768..32767)\n");
	ct_setall(id, "0 32767 0 0");
	ct_semop(id, "0:+32767:u");
	ct_semop(id, "0:-32767");
	ct_semop(id, "0:+1:u");
	ct_semop(id, "0:+1:u");
	ct_vals("adj of sem 0 is -32768", id);
	ct_semop(id, "0:-1:u");
	ct_semop(id, "0:+2:u");
	ct_vals("values", id);
	ct_semop(id, "1:-32767:u");
	ct_semop(id, "1:+32767");
	ct_semop(id, "1:-1:u");
	ct_vals("values", id);
	ct_semop(id, "1:-1");
	ct_semop(id, "1:+1:u 1:-2:u");
	ct_semop(id, "2:+1 1:-1:u");
	ct_vals("values", id);
	/* SETALL clears the adjustments, so this process's exit changes nothing */
	ct_setall(id, "0 0 0 0");

	printf("== semtimedop\n");
	ct_semtimedop(id, "0:+2", -1);
	ct_semtimedop(id, "0:-1", 0);
	ct_semtimedop(id, "0:-2", 0);
	ct_semtimedop(id, "0:0", 0);
	ct_semtimedop(id, "0:-1 1:0", 10);
	ct_semtimedop(id, "0:0", 20);
	ct_semtimedop(id, "0:0:n", 1000);
	ct_vals("values", id);

	printf("== %d operations in one call\n", 500);
	{
		static struct sembuf many[501];
		for (int i = 0; i < 501; i++) {
			many[i].sem_num = i % 4;
			many[i].sem_op = 1;
			many[i].sem_flg = 0;
		}
		T_INT(semop(id, many, 500));
		ct_vals("after 500 x +1", id);
		T_INT(semop(id, many, 501));
		for (int i = 0; i < 500; i++)
			many[i].sem_op = -1;
		many[499].sem_flg = IPC_NOWAIT;
		many[499].sem_op = -200;
		T_INT(semop(id, many, 500));
		ct_vals("not applied", id);
		many[499].sem_op = -1;
		T_INT(semop(id, many, 500));
		ct_vals("after 500 x -1", id);
	}

	printf("== otime set by semop, IPC_STAT\n");
	ct_semstat("final", id);
	return 0;
}
