/*
 * vs_join: runs a command inside a running vserver from vserverctl (docs/ARCHITECTURE.md §6 enter/exec, §7).
 *
 * The caller stays in the host's namespaces: it only points its pid_ns_for_children at the vserver (setns of
 * CLONE_NEWPID affects children only) for the one clone, so `exec --all` can join one vserver after the other
 * and /proc stays the host's. The child joins the other namespaces itself (it shares no fs struct, so it may
 * join a mount namespace), then runs like the spawn child: only syscalls until exec, failures as one
 * struct vs_error over a CLOEXEC pipe.
 *
 * The clone is posix_spawn's: CLONE_VM|CLONE_VFORK on a stack of its own. Copying the page tables of a 30 MB
 * static client and taking copy-on-write faults until the exec cost more than everything else the join does;
 * the child only makes syscalls on its own stack and locals, and we wait (VFORK) until it has exec'd or exited.
 * Not shared: fd table, fs (root, cwd), signal handlers, credentials; the mm is, with its dumpable flag.
 *
 * This file is the parent up to the clone; the child is join_child.c, and what follows the exec (signal forwarding,
 * the wait, the terminal relay) join_relay.c.
 */
#define _GNU_SOURCE
#include "join_internal.h"
#include "syscalls.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

/* The child's stack: exec_command's candidate path (join_child.c) and the error record are the big items on it. */
enum { CHILD_STACK_SIZE = 256 * 1024 };

/* Field 22 of /proc/PID/stat, read through the /proc/PID directory fd (which stays with that one process). */
static int read_start_time(int procfd, uint64_t *start_time)
{
    char buf[4096];
    const char *p;
    ssize_t n;
    int fd, field;

    fd = openat(procfd, "stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    do
        n = read(fd, buf, sizeof buf - 1);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    /* The command name (field 2) may hold spaces and ')': fields after the last ')' are plain. */
    p = strrchr(buf, ')');
    if (p == NULL) {
        errno = EINVAL;
        return -1;
    }
    for (field = 2; field < 22 && *p != '\0'; p++)
        if (*p == ' ')
            field++;
    if (field != 22 || *p < '0' || *p > '9') {
        errno = EINVAL;
        return -1;
    }
    *start_time = 0;
    for (; *p >= '0' && *p <= '9'; p++)
        *start_time = *start_time * 10 + (uint64_t)(*p - '0');
    return 0;
}

/*
 * A new pty from the vserver's own devpts (docs/ARCHITECTURE.md §6): the guest never gets a host terminal fd
 * (TIOCSTI). ptmx is resolved inside its root (a guest symlink cannot lead out) and must be devpts' ptmx before it is
 * opened (vs_child_open_ptmx: not a FIFO, file or other device planted there), and the slave is opened from the master
 * (TIOCGPTPEER), not by path.
 */
static int open_pty(const struct vs_join_config *config, int rootfd, int *master_out, int *slave_out,
                    char pts_path[32], struct vs_error *error)
{
    char ptmx_path[64];
    struct termios settings;
    struct winsize size;
    unsigned int number;
    int master, slave;

    vs_proc_path(ptmx_path, config->pid, "root/dev/pts/ptmx");
    master = vs_child_open_ptmx(rootfd, "/dev/pts/ptmx", RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, -1, O_NONBLOCK);
    if (master < 0)
        return vs_set_error(error, errno == ENOTTY ? "check pty master" : "open", NULL, ptmx_path, errno);
    if (vs_child_pty_slave(master, &slave) < 0) {
        int err = errno;

        close(master);
        return vs_set_error(error, "open pty master", NULL, ptmx_path, err);
    }
    if (ioctl(master, TIOCGPTN, &number) < 0) {
        int err = errno;

        close(slave);
        close(master);
        return vs_set_error(error, "open pty master", NULL, ptmx_path, err);
    }
    pts_path[0] = '\0';
    append_str(pts_path, 32, "/dev/pts/");
    format_uint(pts_path + strlen(pts_path), number);
    /* The command starts with the caller's terminal settings and size, as under script(1) or ssh. */
    if (tcgetattr(config->terminal_fd, &settings) < 0 || tcsetattr(slave, TCSANOW, &settings) < 0) {
        int err = errno;

        close(slave);
        close(master);
        return vs_set_error(error, "copy terminal settings to", NULL, pts_path, err);
    }
    if (ioctl(config->terminal_fd, TIOCGWINSZ, &size) == 0)
        ioctl(slave, TIOCSWINSZ, &size);
    *master_out = master;
    *slave_out = slave;
    return 0;
}

/* Fills *error for a failed step on a file of PID 1's /proc directory ("/proc/42/stat"); returns -1. */
static int proc_file_error(struct vs_error *error, const char *step, pid_t pid, const char *file, int err)
{
    char path[64];

    vs_proc_path(path, pid, file);
    return vs_set_error(error, step, NULL, path, err);
}

/* FILE of a cgroup directory, opened into *fd for the child to write "0" to: cgroup.procs (cgroup2), or `tasks` of a
 * v1 hierarchy, where a thread that moves itself alone is moved without the global lock (an RCU grace period) that
 * moving a whole process takes. Returns -1 with *error filled. */
static int open_cgroup_file(const char *cgroup, const char *file, int *fd, struct vs_error *error)
{
    char procs[PATH_MAX] = "";

    if (append_str(procs, sizeof procs, cgroup) < 0 || append_str(procs, sizeof procs, file) < 0)
        return vs_set_error(error, "open", NULL, cgroup, ENAMETOOLONG);
    *fd = open(procs, O_WRONLY | O_CLOEXEC);
    return *fd < 0 ? vs_set_error(error, "open", NULL, procs, errno) : 0;
}

int vs_join(const struct vs_join_config *config, struct vs_joined *out, struct vs_error *error)
{
    struct join_child child;
    struct vs_error record;
    char *stack = MAP_FAILED;
    uint64_t start_time;
    int procfd = -1, self_pidfd = -1, master = -1, pipe_fds[2] = {-1, -1}, child_pidfd = -1;
    int start_err = 0, clone_errno, failed = 1;
    ssize_t got;
    long pid;

    memset(out, 0, sizeof *out);
    out->pidfd = out->master_fd = -1;
    out->terminal_fd = config->terminal_fd;
    out->terminal_input = config->terminal_fd >= 0 && config->terminal_input;
    memset(error, 0, sizeof *error);
    memset(&child, 0, sizeof child);
    child.config = config;
    child.target_pidfd = child.rootfd = child.slave_fd = child.error_fd = child.cgroup_fd = -1;
    for (size_t i = 0; i < VS_MAX_LEGACY_CGROUPS; i++)
        child.legacy_cgroup_fds[i] = -1;
    if (config->argv == NULL || config->argv[0] == NULL || config->envp == NULL || config->pid <= 0 ||
        config->legacy_cgroup_count > VS_MAX_LEGACY_CGROUPS)
        return vs_set_error(error, "check arguments", NULL, "", EINVAL);
    vs_proc_path(child.proc_path, config->pid, NULL);

    child.last_cap = vs_cap_last_cap();
    if (child.last_cap < 0)
        return vs_set_error(error, "read", NULL, "/proc/sys/kernel/cap_last_cap", errno);

    /* pidfd first, then the start time: if they match, the pidfd is PID 1 of the vserver, not a recycled PID. */
    child.target_pidfd = vs_pidfd_open(config->pid);
    if (child.target_pidfd < 0) {
        vs_set_error(error, "pidfd_open", NULL, child.proc_path, errno);
        goto out;
    }
    procfd = open(child.proc_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (procfd < 0) {
        vs_set_error(error, "open", NULL, child.proc_path, errno);
        goto out;
    }
    /* Read by PID, so before the start time check: afterwards they are known to be PID 1's. */
    for (int resource = 0; resource < RLIM_NLIMITS; resource++) {
        if (prlimit(config->pid, resource, NULL, &child.limits[resource]) < 0) {
            proc_file_error(error, "read", config->pid, "limits", errno);
            goto out;
        }
    }
    /* Another start time is another process; the directory of one that ended reads as ESRCH or ENOENT. */
    if (read_start_time(procfd, &start_time) < 0)
        start_err = errno == ENOENT ? ESRCH : errno;
    else if (start_time != config->start_time)
        start_err = ESRCH;
    if (start_err != 0) {
        proc_file_error(error, "check start time of", config->pid, "stat", start_err);
        goto out;
    }
    {
        struct stat theirs, ours;

        /* Through the /proc/PID directory checked above; a namespace we cannot stat is not joined blindly. */
        if (fstatat(procfd, "ns/user", &theirs, 0) < 0 || stat("/proc/self/ns/user", &ours) < 0) {
            proc_file_error(error, "stat", config->pid, "ns/user", errno);
            goto out;
        }
        child.own_user_namespace = theirs.st_dev != ours.st_dev || theirs.st_ino != ours.st_ino;
        /* A time namespace of its own ([namespaces] time) is joined too: its uptime, not the host's. The host's is
         * never "joined": with a user namespace that would need a capability over the host's. */
        if (fstatat(procfd, "ns/time", &theirs, 0) < 0 || stat("/proc/self/ns/time", &ours) < 0) {
            proc_file_error(error, "stat", config->pid, "ns/time", errno);
            goto out;
        }
        child.own_time_namespace = theirs.st_dev != ours.st_dev || theirs.st_ino != ours.st_ino;
    }
    vs_filter_build(&child.filter, config->seccomp, child.own_user_namespace);
    child.rootfd = openat(procfd, "root", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (child.rootfd < 0) {
        proc_file_error(error, "open", config->pid, "root", errno);
        goto out;
    }
    if (config->terminal_fd >= 0 &&
        open_pty(config, child.rootfd, &master, &child.slave_fd, child.pts_path, error) < 0)
        goto out;
    if (config->cgroup != NULL && open_cgroup_file(config->cgroup, "/cgroup.procs", &child.cgroup_fd, error) < 0)
        goto out;
    for (size_t i = 0; i < config->legacy_cgroup_count; i++)
        if (open_cgroup_file(config->legacy_cgroups[i], "/tasks", &child.legacy_cgroup_fds[i], error) < 0)
            goto out;

    /* From here until its exec the child is in the vserver's pid namespace and visible there: not dumpable, so
     * root inside (without CAP_SYS_PTRACE) can neither ptrace it nor open its /proc/PID/fd or mem. */
    if (prctl(PR_SET_DUMPABLE, 0UL, 0UL, 0UL, 0UL) < 0) {
        vs_set_error(error, "prctl PR_SET_DUMPABLE", NULL, "", errno);
        goto out;
    }
    self_pidfd = vs_pidfd_open(getpid());
    if (self_pidfd < 0) {
        vs_set_error(error, "pidfd_open", NULL, "/proc/self", errno);
        goto out;
    }
    if (setns(child.target_pidfd, CLONE_NEWPID) < 0) {
        proc_file_error(error, "setns", config->pid, "ns/pid", errno);
        goto out;
    }
    if (pipe2(pipe_fds, O_CLOEXEC) < 0) {
        vs_set_error(error, "create error pipe", NULL, "", errno);
        setns(self_pidfd, CLONE_NEWPID);
        goto out;
    }
    child.error_fd = pipe_fds[1];

    stack = mmap(NULL, CHILD_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        vs_set_error(error, "mmap child stack", NULL, "", errno);
        setns(self_pidfd, CLONE_NEWPID);
        goto out;
    }
    vs_join_block_signals();
    /* The stack grows down on every architecture Linux runs this on but parisc. */
    /* A time namespace is entered only by a process with memory of its own (setns: EUSERS otherwise): then the
     * child gets a copy of ours, as after fork, which for vserverctl is small. */
    pid = clone(vs_join_child_main, stack + CHILD_STACK_SIZE,
                (child.own_time_namespace ? 0 : CLONE_VM) | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &child,
                &child_pidfd);
    clone_errno = errno;
    /* Back to our own pid namespace for children: nothing else of ours is to start inside. Cannot fail (our
     * own namespace is always allowed), and if it did, the next join's setns sets it anyway. */
    setns(self_pidfd, CLONE_NEWPID);
    if (pid > 0)
        vs_join_install_forwarding((pid_t)pid);
    else
        vs_join_restore_mask();
    close(pipe_fds[1]);
    pipe_fds[1] = -1;
    if (pid < 0) {
        vs_set_error(error, "clone", NULL, child.proc_path, clone_errno);
        goto out;
    }

    got = vs_read_error(pipe_fds[0], &record);
    if (got == 0) {
        out->pid = (pid_t)pid;
        out->pidfd = child_pidfd;
        out->master_fd = master;
        master = -1;
        failed = 0;
        goto out;
    }
    if (got == (ssize_t)sizeof record) {
        *error = record;
    } else {
        /* A torn record cannot come from our child; make sure it is gone before reaping it. */
        vs_set_error(error, "read error pipe", NULL, "", got < 0 ? errno : EIO);
        vs_pidfd_send_signal(child_pidfd, SIGKILL);
    }
    vs_join_uninstall_forwarding();
    vs_reap(child_pidfd, 0);

out:
    {
        int saved = errno;

        if (stack != MAP_FAILED)
            munmap(stack, CHILD_STACK_SIZE);
        if (pipe_fds[0] >= 0)
            close(pipe_fds[0]);
        if (master >= 0)
            close(master);
        if (child.slave_fd >= 0)
            close(child.slave_fd);
        if (child.cgroup_fd >= 0)
            close(child.cgroup_fd);
        for (size_t i = 0; i < VS_MAX_LEGACY_CGROUPS; i++)
            if (child.legacy_cgroup_fds[i] >= 0)
                close(child.legacy_cgroup_fds[i]);
        if (child.rootfd >= 0)
            close(child.rootfd);
        if (procfd >= 0)
            close(procfd);
        if (self_pidfd >= 0)
            close(self_pidfd);
        if (child.target_pidfd >= 0)
            close(child.target_pidfd);
        errno = saved;
    }
    return failed ? -1 : 0;
}
