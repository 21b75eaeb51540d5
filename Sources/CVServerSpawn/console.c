/*
 * vs_console_attach: new console and tty ptys for a running guest whose old ones went away with the vserverd that
 * held their masters (one that was killed or restarted). Without them systemd retries every console message for a
 * second (a hung-up tty reads as "being hung up") and gettys fail.
 *
 * A forked child joins the guest's user namespace (as its root) and mount namespace, which setns allows only a
 * single-threaded process, makes each pty in the guest's own devpts and mounts its slave over /dev/console and
 * /dev/ttyN, on top of the dead one. Only syscalls between fork and exit: the daemon is multi-threaded.
 */
#define _GNU_SOURCE
#include "vserver_spawn.h"
#include "child.h"
#include "syscalls.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Child: a new pty over /dev/NAME of the mount namespace it is in, in place of the old one; returns the master. */
static int remount_pty(int devfd, int procfd, const char *name, struct vs_error *error)
{
    char path[32] = "/dev/";
    int master, slave, tree, target;

    /* The old pty's node was deleted with it, and nothing can be mounted on a deleted one: its bind goes first,
     * which shows the file it was bound on again. */
    append_str(path, sizeof path, name);
    if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL)
        return vs_set_error(error, "unmount the old pty on ", path, path, errno);

    /* The guest's own /dev, which its root may have changed: checked to be devpts' ptmx before it is opened. */
    master = vs_child_open_ptmx(devfd, "pts/ptmx", RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, procfd, O_NONBLOCK);
    if (master < 0)
        return vs_set_error(error, "open", NULL, "/dev/pts/ptmx", errno);
    if (vs_child_pty_slave(master, &slave) < 0)
        return vs_set_error(error, "open pty for ", path, "/dev/pts/ptmx", errno);
    /* A detached bind of the slave (the guest's /proc/self does not know this process, so no /proc/self/fd path). */
    tree = vs_sys_open_tree(slave, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    if (tree < 0)
        return vs_set_error(error, "clone pty for ", path, "/dev/pts", errno);
    target = openat(devfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (target < 0)
        return vs_set_error(error, "open", NULL, path, errno);
    if (vs_sys_move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return vs_set_error(error, "mount pty on ", path, path, errno);
    close(target);
    close(tree);
    close(slave);
    return master;
}

static _Noreturn void child_main(int pidfd, int userns, int tty_count, int channel, int error_fd)
{
    int masters[1 + VS_MAX_TTYS], devfd, procfd, count = tty_count < VS_MAX_TTYS ? tty_count : VS_MAX_TTYS;
    struct vs_error e;

    /* The host's /proc, for reopening the checked ptmx: the guest's /proc does not know this process. */
    procfd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (procfd < 0) {
        vs_set_error(&e, "open", NULL, "/proc", errno);
        vs_child_report(error_fd, &e);
    }
    /* Its root, so that the ptys belong to the guest's root; then its mounts, with its root as "/". */
    if (vs_setns(pidfd, (userns ? CLONE_NEWUSER : 0) | CLONE_NEWNS) < 0) {
        vs_set_error(&e, "join the guest's namespaces", NULL, NULL, errno);
        vs_child_report(error_fd, &e);
    }
    if (userns && vs_child_become_root(&e) < 0)
        vs_child_report(error_fd, &e);
    devfd = open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (devfd < 0) {
        vs_set_error(&e, "open", NULL, "/dev", errno);
        vs_child_report(error_fd, &e);
    }
    for (int i = 0; i <= count; i++) {
        char name[16] = "console";

        if (i > 0)
            vs_tty_name(name, i);
        masters[i] = remount_pty(devfd, procfd, name, &e);
        if (masters[i] < 0)
            vs_child_report(error_fd, &e);
    }
    if (vs_send_fds(channel, "", 1, masters, (size_t)count + 1) < 0) {
        vs_set_error(&e, "send console to vserverd", NULL, NULL, errno);
        vs_child_report(error_fd, &e);
    }
    _exit(0);
}

int vs_console_attach(int pidfd, int userns, int tty_count, int *masters, struct vs_error *error)
{
    struct vs_error record;
    int channel[2], error_pipe[2], status, count = tty_count < VS_MAX_TTYS ? tty_count : VS_MAX_TTYS;
    size_t nfds;
    ssize_t got;
    char byte;
    pid_t pid;

    memset(error, 0, sizeof *error);
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel) < 0)
        return vs_set_error(error, "create channel", NULL, "", errno);
    if (pipe2(error_pipe, O_CLOEXEC) < 0) {
        vs_set_error(error, "create error pipe", NULL, "", errno);
        close(channel[0]);
        close(channel[1]);
        return -1;
    }
    pid = fork();
    if (pid == 0)
        child_main(pidfd, userns, tty_count, channel[1], error_pipe[1]);
    close(channel[1]);
    close(error_pipe[1]);
    if (pid < 0) {
        vs_set_error(error, "fork", NULL, "", errno);
        close(channel[0]);
        close(error_pipe[0]);
        return -1;
    }
    got = vs_read_error(error_pipe[0], &record);
    close(error_pipe[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (got != 0) {
        if (got == (ssize_t)sizeof record)
            *error = record;
        else
            vs_set_error(error, "read error pipe", NULL, "", got < 0 ? errno : EIO);
        close(channel[0]);
        errno = error->err;
        return -1;
    }
    got = vs_receive_fds(channel[0], &byte, 1, masters, (size_t)count + 1, &nfds, MSG_DONTWAIT);
    close(channel[0]);
    if (got != 1 || nfds != (size_t)count + 1) {
        for (size_t i = 0; i < nfds; i++)
            close(masters[i]);
        return vs_set_error(error, "receive console", NULL, "", got < 0 ? errno : EBADMSG);
    }
    return 0;
}
