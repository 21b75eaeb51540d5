/*
 * vs_spawn: clone3 into new namespaces, build the vserver's mounts, pivot_root and exec its PID 1
 * (docs/ARCHITECTURE.md §4 step 3, §7). This file is the parent's side: the clone, hold, release and abort, the pty
 * masters that come back, reaping a child that failed. The child runs spawn_child.c, which mounts with
 * rootfs_mount.c, rootfs_kernel.c and rootfs_dev.c; idmap.c gives it its id maps.
 *
 * The child is a fork of a multi-threaded process: another thread may have held the malloc or stdio lock at
 * clone time, so between clone3 and exec it only makes syscalls and uses memcpy/strlen-class helpers (all
 * async-signal-safe), with fixed-size buffers on its stack. Any failure is sent to the parent as one
 * struct vs_error over a CLOEXEC pipe; end-of-file on that pipe means the exec succeeded.
 */
#define _GNU_SOURCE
#include "spawn_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* The child's stack when it shares our memory; it needs ~25 KiB (three PATH_MAX buffers, one struct vs_error). */
#define VFORK_STACK_SIZE (256 * 1024)

static int vfork_child_main(void *arg)
{
    vs_spawn_child_main(arg);
}

/* clone3.S */
long vs_clone3_call(struct vs_clone_args *args, size_t size, int (*fn)(void *), void *arg);

/*
 * clone3 with CLONE_VM|CLONE_VFORK, as posix_spawn does: the child runs in our memory on its own stack and this
 * thread sleeps until the child has exec'd or exited. A plain fork copies the page tables of the whole daemon
 * and exec then tears the copy down again; that was a third of a start (~0.3 ms, growing with the daemon's
 * memory). clone3 rather than glibc's clone(): CLONE_INTO_CGROUP starts the child in its cgroup, where moving it
 * there afterwards would wait for an RCU grace period (the cgroup's migration lock), milliseconds of every start.
 * Safe for the same reason vs_spawn_child_main is safe after a fork: it only makes syscalls and writes to its own
 * stack and to *c, which this sleeping thread owns. Its errno is our thread's (shared TLS): callers read errno only
 * when this returns -1.
 */
static long clone_vfork(struct vs_clone_args *args, struct child *c)
{
    long page = sysconf(_SC_PAGESIZE);
    char *stack;
    long pid;
    int err;

    stack = mmap(NULL, VFORK_STACK_SIZE + (size_t)page, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        return -1;
    /* A guard page: an overflowing child must fault, not write into the daemon's memory. */
    if (mprotect(stack, (size_t)page, PROT_NONE) < 0) {
        err = errno;
        munmap(stack, VFORK_STACK_SIZE + (size_t)page);
        errno = err;
        return -1;
    }
    args->flags |= CLONE_VM | CLONE_VFORK;
    args->stack = (uint64_t)(uintptr_t)(stack + page);
    args->stack_size = VFORK_STACK_SIZE;
    pid = vs_clone3_call(args, sizeof *args, vfork_child_main, c);
    err = pid < 0 ? (int)-pid : 0;
    munmap(stack, VFORK_STACK_SIZE + (size_t)page);
    if (pid < 0) {
        errno = err;
        return -1;
    }
    return pid;
}

/* Clones the child; with hold it waits before its exec for a byte on the channel (pending->channel_fd). */
static int spawn_begin(const struct vs_spawn_config *config, int hold, struct vs_spawn_pending *pending,
                       struct vs_error *error)
{
    struct vs_clone_args args;
    struct child child;
    sigset_t all, saved_mask;
    int pipe_fds[2], channel_fds[2], pidfd = -1, clone_errno, last_cap;
    /* The child waits for us: for its id maps (user namespace) and, when held, before its exec. It needs memory of
     * its own for that, and to enter a time namespace (setns refuses a process that shares its memory: EUSERS). */
    int userns = (config->extra_clone_flags & VS_CLONE_NEWUSER) != 0;
    int waits = hold || userns || config->time_namespace;
    long pid;

    memset(error, 0, sizeof *error);
    if (config->root == NULL || config->root[0] != '/' || config->root[strspn(config->root, "/")] == '\0')
        return vs_set_error(error, "check root", NULL, config->root, EINVAL);
    if (config->extra_clone_flags & ~(VS_CLONE_NEWNET | VS_CLONE_NEWUSER))
        return vs_set_error(error, "check clone flags", NULL, "", EINVAL);
    if (config->argv == NULL || config->argv[0] == NULL || config->envp == NULL)
        return vs_set_error(error, "check argv", NULL, "", EINVAL);
    last_cap = vs_cap_last_cap();
    if (last_cap < 0)
        return vs_set_error(error, "read cap_last_cap", NULL, "/proc/sys/kernel/cap_last_cap", errno);
    if (pipe2(pipe_fds, O_CLOEXEC) < 0)
        return vs_set_error(error, "create error pipe", NULL, "", errno);
    /* A socket, not a pipe: messages are sent with MSG_NOSIGNAL, so a child that died first costs no SIGPIPE; fds
     * travel both ways; SEQPACKET keeps each message whole. */
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel_fds) < 0) {
        clone_errno = errno;
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        return vs_set_error(error, "create channel", NULL, "", clone_errno);
    }

    memset(&child, 0, sizeof child);
    child.config = config;
    child.error_fd = pipe_fds[1];
    child.last_cap = last_cap;
    child.root_len = strlen(config->root);
    while (child.root_len > 1 && config->root[child.root_len - 1] == '/')
        child.root_len--;
    child.rootfd = -1;
    child.devnull_fd = -1;
    child.console_slave = -1;
    child.channel = channel_fds[1];
    child.hold = hold;
    child.cgroup_mount = config->cgroup_mount;
    child.idmapped_root = -1;
    for (size_t i = 0; i < MAX_IDMAPPED_BINDS; i++)
        child.bind_sources[i] = -1;
    vs_filter_build(&child.filter, config->seccomp, userns);

    memset(&args, 0, sizeof args);
    args.flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_PIDFD |
                 (uint64_t)(unsigned int)config->extra_clone_flags;
    args.pidfd = (uint64_t)(uintptr_t)&pidfd;
    args.exit_signal = SIGCHLD;
    if (config->cgroup_fd >= 0) {
        /* Born in its own cgroup: it and all it forks start there. */
        args.flags |= VS_CLONE_INTO_CGROUP;
        args.cgroup = (uint64_t)config->cgroup_fd;
    }

    /* The child starts with every signal blocked: a daemon handler (a copy of it) must never run there. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved_mask);
    if (waits) {
        /* A child that waits for us while we go on needs memory of its own. */
        pid = vs_sys_clone3(&args);
        if (pid == 0) {
            /* Among them our copy of the daemon's end, which would keep the socket open: end of file (abort, a
             * dead daemon) must reach the child's wait at once. */
            vs_close_all_but_needed(&child);
            vs_spawn_child_main(&child);
        }
    } else {
        pid = clone_vfork(&args, &child);
    }
    clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &saved_mask, NULL);
    close(pipe_fds[1]);
    close(channel_fds[1]);
    if (pid < 0) {
        close(pipe_fds[0]);
        close(channel_fds[0]);
        return vs_set_error(error, "clone3", NULL, config->root, clone_errno);
    }
    pending->config = config;
    pending->pid = (pid_t)pid;
    pending->pidfd = pidfd;
    pending->error_fd = pipe_fds[0];
    pending->channel_fd = channel_fds[0];
    pending->idmap_error = 0;
    if (userns && (vs_write_id_maps(pending, config->id_map_base, error) < 0 ||
                   vs_send_id_maps(config, pending, error) < 0)) {
        /* Without its message the child never goes on: the end of file makes it give up. */
        vs_spawn_abort(pending);
        return -1;
    }
    return 0;
}

/* The pty masters the child sent before its exec (queued on the channel by then): console, then ttys. */
static int receive_ptys(int channel, struct vs_spawned *out, int tty_count)
{
    int fds[1 + VS_MAX_TTYS];
    size_t nfds;
    char byte;

    if (tty_count > VS_MAX_TTYS)
        tty_count = VS_MAX_TTYS;
    if (vs_receive_fds(channel, &byte, 1, fds, 1 + VS_MAX_TTYS, &nfds, MSG_DONTWAIT) != 1)
        return -1;
    if (nfds == 0) {
        /* The host had no pty left: the guest's console is /dev/null. */
        out->console_error = ENOSPC;
        return 0;
    }
    if (nfds != (size_t)tty_count + 1) {
        for (size_t i = 0; i < nfds; i++)
            close(fds[i]);
        errno = EBADMSG;
        return -1;
    }
    out->console_fd = fds[0];
    for (int i = 0; i < tty_count; i++)
        out->tty_fds[i] = fds[1 + i];
    out->tty_count = tty_count;
    return 0;
}

/* Waits for the child's exec (end of file on the error pipe) or its error record, and reaps it on failure. */
static int spawn_finish(struct vs_spawn_pending *pending, struct vs_spawned *out, struct vs_error *error)
{
    const struct vs_spawn_config *config = pending->config;
    struct vs_error record;
    int pidfd = pending->pidfd;
    ssize_t got;

    got = vs_read_error(pending->error_fd, &record);
    close(pending->error_fd);
    if (got == 0) {
        int received = 0;

        out->console_fd = -1;
        out->tty_count = 0;
        out->console_error = 0;
        received = receive_ptys(pending->channel_fd, out, config->tty_count);
        close(pending->channel_fd);
        pending->channel_fd = -1;
        if (received < 0) {
            /* It sends the masters before its exec; without them its console would be nobody's. */
            vs_set_error(error, "receive console", NULL, "", errno);
            vs_reap(pidfd, 1);
            return -1;
        }
        out->pid = pending->pid;
        out->pidfd = pidfd;
        out->idmap_error = pending->idmap_error;
        return 0;
    }
    if (pending->channel_fd >= 0) {
        close(pending->channel_fd);
        pending->channel_fd = -1;
    }
    if (got == (ssize_t)sizeof record) {
        /* vs_read_error has NUL-terminated it. */
        *error = record;
        errno = record.err;
        vs_reap(pidfd, 0);
    } else {
        /* A torn record cannot come from our child; make sure it is gone before reaping it. */
        vs_set_error(error, "read error pipe", NULL, "", got < 0 ? errno : EIO);
        vs_reap(pidfd, 1);
    }
    return -1;
}

int vs_spawn(const struct vs_spawn_config *config, struct vs_spawned *out, struct vs_error *error)
{
    struct vs_spawn_pending pending;

    if (spawn_begin(config, 0, &pending, error) < 0)
        return -1;
    return spawn_finish(&pending, out, error);
}

int vs_spawn_hold(const struct vs_spawn_config *config, struct vs_spawn_pending *pending, struct vs_error *error)
{
    return spawn_begin(config, 1, pending, error);
}

int vs_spawn_abort(struct vs_spawn_pending *pending)
{
    struct vs_spawned ignored;
    struct vs_error error;

    /* End of file instead of the byte: the child exits without running anything; reap it. */
    close(pending->channel_fd);
    pending->channel_fd = -1;
    if (spawn_finish(pending, &ignored, &error) == 0) {
        /* Cannot happen (no exec without the byte); never leave a guest nobody knows of. */
        if (ignored.console_fd >= 0)
            close(ignored.console_fd);
        for (int i = 0; i < ignored.tty_count; i++)
            close(ignored.tty_fds[i]);
        vs_reap(ignored.pidfd, 1);
    }
    return 0;
}

int vs_spawn_release(struct vs_spawn_pending *pending, int cgroup_mount, struct vs_spawned *out,
                     struct vs_error *error)
{
    char byte = (char)cgroup_mount;

    memset(error, 0, sizeof *error);
    /* A child that failed during setup is no longer reading: its error record is what counts, not this send. */
    (void)send(pending->channel_fd, &byte, 1, MSG_NOSIGNAL);
    return spawn_finish(pending, out, error);
}
