<?php
// php_sysv.php - PHP's sysvsem, sysvshm and sysvmsg extensions (which PHP
// loads with RTLD_DEEPBIND), one process and a second PHP process started
// from it, printing what each call returns. scripts/clients.sh runs it on
// the kernel and in a box and compares the transcripts.
//   php php_sysv.php          the first process (starts the second)
//   php php_sysv.php second   the second process
const SEM_KEY = 0x5e4a;
const SHM_KEY = 0x5e4b;
const MSG_KEY = 0x5e4c;

function show($label, $value) {
    echo $label, ' = ', var_export($value, true), "\n";
}

if (($argv[1] ?? '') === 'second') {
    $sem = sem_get(SEM_KEY, 1, 0600, true);
    show('second: sem_get', $sem !== false);
    show('second: sem_acquire without waiting, held by the first', sem_acquire($sem, true));
    $shm = shm_attach(SHM_KEY, 10000, 0600);
    show('second: shm_get_var 1', shm_get_var($shm, 1));
    show('second: shm_has_var 2', shm_has_var($shm, 2));
    show('second: shm_put_var 2', shm_put_var($shm, 2, ['from' => 'second', 'n' => 7]));
    $queue = msg_get_queue(MSG_KEY, 0600);
    show('second: msg_receive', msg_receive($queue, 1, $type, 1024, $message, true, MSG_IPC_NOWAIT, $error));
    show('second: message', [$type, $message]);
    show('second: msg_send type 2', msg_send($queue, 2, ['reply' => 'to first']));
    shm_detach($shm);
    exit(3);
}

show('msg_queue_exists before', msg_queue_exists(MSG_KEY));
$sem = sem_get(SEM_KEY, 1, 0600, true);
show('sem_get', $sem !== false);
show('sem_acquire', sem_acquire($sem));
$shm = shm_attach(SHM_KEY, 10000, 0600);
show('shm_attach', $shm !== false);
show('shm_put_var 1', shm_put_var($shm, 1, 'hello from the first'));
$queue = msg_get_queue(MSG_KEY, 0600);
show('msg_send type 1', msg_send($queue, 1, 'a message for the second'));
$stat = msg_stat_queue($queue);
show('msg_stat_queue', [$stat['msg_qnum'], $stat['msg_perm.mode'], $stat['msg_qbytes']]);

exec(escapeshellarg(PHP_BINARY) . ' ' . escapeshellarg(__FILE__) . ' second', $lines, $status);
echo implode("\n", $lines), "\n";
show('second exited with', $status);

show('msg_receive type 2', msg_receive($queue, 2, $type, 1024, $message, true, MSG_IPC_NOWAIT, $error));
show('message', [$type, $message]);
show('msg_receive from the empty queue', msg_receive($queue, 0, $type, 1024, $message, true, MSG_IPC_NOWAIT, $error));
show('error', $error === MSG_ENOMSG ? 'ENOMSG' : $error);
show('shm_get_var 2', shm_get_var($shm, 2));
show('shm_remove_var 1', shm_remove_var($shm, 1));
show('shm_has_var 1', shm_has_var($shm, 1));
show('sem_release', sem_release($sem));
show('sem_remove', sem_remove($sem));
show('shm_remove', shm_remove($shm));
show('msg_remove_queue', msg_remove_queue($queue));
show('msg_queue_exists after', msg_queue_exists(MSG_KEY));
