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
 */
#define _GNU_SOURCE
#include "vserver_spawn.h"
#include "child.h"
#include "syscalls.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* Joined by the child; pid comes from the parent's setns. The user namespace only when the vserver has its own
 * (joining one's own is EINVAL); not time (vservers share the host's clocks). A namespace the vserver shares with
 * the host (net = "host", cgroup) is joined as well: that is a no-op. */
#define JOIN_NAMESPACES (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP)

/* The same PATH the vserver's init gets when its config has none (Spawner.baseEnvironment). */
static const char default_path[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/* ---- Signal forwarding (one join at a time per process) ---- */

static const int forwarded_signals[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH};
#define FORWARDED_COUNT (sizeof forwarded_signals / sizeof forwarded_signals[0])

static volatile sig_atomic_t forward_target; /* PID and process group of the command; 0: none */
static volatile sig_atomic_t relay_master = -1; /* during a relay: the pty master */
static volatile sig_atomic_t winch_fd = -1;  /* during a relay SIGWINCH resizes the pty: a byte here says so */
static struct sigaction saved_actions[FORWARDED_COUNT];
static int installed[FORWARDED_COUNT];
static sigset_t saved_mask;

/*
 * Without a pty the command's process group gets the signal (Ctrl-C reaches us, the terminal's foreground
 * group, not the command in its own session). During a relay the pty's foreground job gets it, as if typed;
 * SIGHUP and SIGTERM hang up the session instead (SIGHUP to the shell and the job), like a closed ssh connection:
 * an interactive shell ignores SIGTERM.
 */
static void forward_signal(int sig)
{
    int saved = errno;
    pid_t target = (pid_t)forward_target;

    if (sig == SIGWINCH && winch_fd >= 0) {
        char byte = 0;

        (void)!write(winch_fd, &byte, 1);
    } else if (relay_master >= 0) {
        if (sig == SIGHUP || sig == SIGTERM) {
            sig = SIGHUP;
            if (target > 0)
                kill(-target, SIGHUP);
        }
        ioctl(relay_master, TIOCSIG, sig);
    } else if (target > 0 && kill(-target, sig) < 0) {
        /* Not a group leader yet (it calls setsid first thing): the signal waits, blocked, until its exec. */
        kill(target, sig);
    }
    errno = saved;
}

/* Every signal, until the child has reset its handlers (no handler of ours may run on its stack and in our
 * memory) and we know its PID (install_forwarding). */
static void block_signals(void)
{
    sigset_t all;

    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &saved_mask);
}

/*
 * A signal the caller ignores (nohup) stays ignored here and is not forwarded. One it merely inherited blocked
 * (a test runner's thread, some daemons) is unblocked meanwhile: blocked, it could neither end us nor reach the
 * command.
 */
static void install_forwarding(pid_t pid)
{
    struct sigaction action;
    sigset_t mask = saved_mask;

    memset(&action, 0, sizeof action);
    action.sa_handler = forward_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    forward_target = pid;
    for (size_t i = 0; i < FORWARDED_COUNT; i++) {
        installed[i] = 0;
        if (sigaction(forwarded_signals[i], NULL, &saved_actions[i]) < 0)
            continue;
        if (forwarded_signals[i] != SIGWINCH && saved_actions[i].sa_handler == SIG_IGN)
            continue;
        installed[i] = sigaction(forwarded_signals[i], &action, NULL) == 0;
        if (installed[i])
            sigdelset(&mask, forwarded_signals[i]);
    }
    sigprocmask(SIG_SETMASK, &mask, NULL);
}

/* The caller's handlers and mask again; a signal it had blocked stays pending for it. */
static void uninstall_forwarding(void)
{
    sigset_t all;

    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    forward_target = 0;
    for (size_t i = 0; i < FORWARDED_COUNT; i++)
        if (installed[i])
            sigaction(forwarded_signals[i], &saved_actions[i], NULL);
    sigprocmask(SIG_SETMASK, &saved_mask, NULL);
}

/* ---- The child ---- */

/* exec_command's candidate path and the error record are the big items on it. */
enum { CHILD_STACK_SIZE = 256 * 1024 };

struct join_child {
    const struct vs_join_config *config;
    int error_fd;
    int target_pidfd;      /* pidfd of the vserver's PID 1 */
    int rootfd;            /* its /proc/PID/root */
    int cgroup_fd;         /* cgroup.procs of config->cgroup, or -1 */
    int pids_cgroup_fd;    /* tasks of config->pids_cgroup, or -1 */
    int slave_fd;          /* with a terminal: the pty slave, else -1 */
    int last_cap;
    int own_user_namespace; /* the vserver has a user namespace (user = true): join it, become its root */
    struct rlimit limits[RLIM_NLIMITS]; /* PID 1's: the vserver's [limits], not the caller's */
    struct vs_filter filter;   /* the vserver's seccomp program, assembled before the clone */
    char proc_path[32];    /* "/proc/PID" of PID 1, for errors */
    char pts_path[32];     /* "/dev/pts/N" as the command sees it */
};

static _Noreturn void child_fail(const struct join_child *c, const char *step, const char *path_a,
                                 const char *path_b, int err)
{
    struct vs_error e;

    vs_set_error(&e, step, NULL, path_a, err);
    append_str(e.path, sizeof e.path, path_b);
    vs_child_report(c->error_fd, &e);
}

/* fds 0-2 from the config (or the caller's), moved above 2 first so that none is overwritten before use. */
static void setup_stdio(const struct join_child *c)
{
    int fds[3] = {c->config->stdin_fd, c->config->stdout_fd, c->config->stderr_fd};

    if (c->slave_fd >= 0) {
        /* setsid made this a session leader without a controlling terminal: the pty becomes it. */
        if (ioctl(c->slave_fd, TIOCSCTTY, 0) < 0)
            child_fail(c, "make controlling terminal", c->pts_path, NULL, errno);
        for (int i = 0; i < 3; i++)
            if (c->config->terminal_stdio & (1 << i))
                fds[i] = c->slave_fd;
    }
    for (int i = 0; i < 3; i++) {
        if (fds[i] >= 0 && fds[i] < 3) {
            fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
            if (fds[i] < 0)
                child_fail(c, "dup stdio", NULL, NULL, errno);
        }
    }
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0 && dup2(fds[i], i) < 0)
            child_fail(c, "dup stdio", NULL, NULL, errno);
}

/*
 * execvpe, but with the PATH of the command's environment (glibc's takes the caller's) and without allocation.
 * Like a shell: a file found but not executable anywhere is EACCES, nothing found ENOENT.
 */
static _Noreturn void exec_command(const struct join_child *c)
{
    const char *const *argv = c->config->argv;
    const char *const *envp = c->config->envp;
    const char *file = argv[0];
    const char *path = default_path;
    char candidate[PATH_MAX];
    int denied = 0;

    if (file[0] == '\0')
        child_fail(c, "exec", file, NULL, ENOENT);
    if (strchr(file, '/') != NULL) {
        execve(file, (char *const *)argv, (char *const *)envp);
        child_fail(c, "exec", file, NULL, errno);
    }
    for (const char *const *e = envp; *e != NULL; e++)
        if (strncmp(*e, "PATH=", 5) == 0)
            path = *e + 5;
    for (const char *p = path;; p++) {
        const char *end = strchrnul(p, ':');

        candidate[0] = '\0';
        /* An empty element is the current directory, which is /. */
        if (append(candidate, sizeof candidate, p, (size_t)(end - p)) == 0 &&
            append_str(candidate, sizeof candidate, "/") == 0 && append_str(candidate, sizeof candidate, file) == 0) {
            execve(candidate, (char *const *)argv, (char *const *)envp);
            switch (errno) {
            case EACCES:
                denied = 1;
                break;
            case ENOENT:
            case ENOTDIR:
            case ESTALE:
            case ENODEV:
            case ETIMEDOUT:
            case ENAMETOOLONG:
            case ELOOP:
                break;
            default:
                /* Found, but it cannot run (ENOEXEC, E2BIG, ...): the search ends here, as execvp's does. */
                child_fail(c, "exec", file, NULL, errno);
            }
        }
        if (*end == '\0')
            break;
        p = end;
    }
    child_fail(c, "exec", file, NULL, denied ? EACCES : ENOENT);
}

static int child_main(void *arg)
{
    const struct join_child *c = arg;
    struct stat want, now;
    struct vs_error e;
    sigset_t none;

    /* Every signal is blocked (vs_join did that before the clone) until right before exec. */
    if (vs_child_reset_signals() < 0)
        child_fail(c, "reset signals", NULL, NULL, errno);
    if (setsid() < 0)
        child_fail(c, "setsid", NULL, NULL, errno);
    /* Before the namespaces: a hard limit above the caller's needs CAP_SYS_RESOURCE, which we still have. */
    for (int resource = 0; resource < RLIM_NLIMITS; resource++)
        if (setrlimit(resource, &c->limits[resource]) < 0)
            child_fail(c, "setrlimit", c->proc_path, "/limits", errno);
    /* "0" is the writing process, in cgroup v1 and v2 alike. */
    if (c->cgroup_fd >= 0 && write(c->cgroup_fd, "0", 1) != 1)
        child_fail(c, "join cgroup", c->config->cgroup, NULL, errno);
    if (c->pids_cgroup_fd >= 0 && write(c->pids_cgroup_fd, "0", 1) != 1)
        child_fail(c, "join cgroup", c->config->pids_cgroup, NULL, errno);
    if (setns(c->target_pidfd, JOIN_NAMESPACES | (c->own_user_namespace ? CLONE_NEWUSER : 0)) < 0)
        child_fail(c, "setns", c->proc_path, "/ns", errno);
    /* In the vserver's user namespace the host's root is nobody: become its root, as its init is. */
    if (c->own_user_namespace && vs_child_become_root(&e) < 0)
        vs_child_report(c->error_fd, &e);

    /* setns moved / and the cwd to the root of the vserver's mount namespace: the root it pivoted to. Should
     * PID 1 have gone on to chroot, its processes see that root: take it from /proc/PID/root. */
    if (fstat(c->rootfd, &want) < 0)
        child_fail(c, "stat", c->proc_path, "/root", errno);
    if (stat("/", &now) < 0)
        child_fail(c, "stat", "/", NULL, errno);
    if (now.st_dev != want.st_dev || now.st_ino != want.st_ino) {
        if (fchdir(c->rootfd) < 0 || chroot(".") < 0)
            child_fail(c, "chroot", c->proc_path, "/root", errno);
    }
    if (chdir("/") < 0)
        child_fail(c, "chdir", "/", NULL, errno);

    setup_stdio(c);
    if (vs_child_drop_capabilities(c->config->keep_capabilities, c->last_cap, &e) < 0)
        vs_child_report(c->error_fd, &e);
    /* Every fd but 0-2 closes at exec (CVE-2024-21626): the pidfd, the root, the pty master, the caller's. */
    if (vs_sys_close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        child_fail(c, "close fds", NULL, NULL, errno);
    /* As PID 1 got them: a session keyring of its own (not the caller's) and the vserver's seccomp filter. */
    if (vs_child_confine(&c->filter, &e) < 0)
        vs_child_report(c->error_fd, &e);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    exec_command(c);
}

/* ---- The parent ---- */

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
static int open_pty(const struct vs_join_config *config, int rootfd, const char *proc_path, int *master_out,
                    int *slave_out, char pts_path[32], struct vs_error *error)
{
    char ptmx_path[64] = "";
    struct termios settings;
    struct winsize size;
    unsigned int number;
    int master, slave;

    append_str(ptmx_path, sizeof ptmx_path, proc_path);
    append_str(ptmx_path, sizeof ptmx_path, "/root/dev/pts/ptmx");
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

/* Reaps the child after a failure. */
static void reap(int pidfd)
{
    siginfo_t info;

    while (waitid(P_PIDFD, (id_t)pidfd, &info, WEXITED) < 0 && errno == EINTR)
        ;
}

/* Fills *error for a failed step on a file of PID 1's /proc directory ("/proc/42" + "/stat"); returns -1. */
static int proc_file_error(struct vs_error *error, const char *step, const char *proc_path, const char *file, int err)
{
    char path[64] = "";

    append_str(path, sizeof path, proc_path);
    append_str(path, sizeof path, file);
    return vs_set_error(error, step, NULL, path, err);
}

/* Opens CGROUP/cgroup.procs for writing into *fd, which the child writes "0" to; returns -1 with *error filled. */
/* FILE of a cgroup directory, opened for the child to write "0" to: cgroup.procs (cgroup2), or `tasks` of a v1
 * hierarchy, where a thread that moves itself alone is moved without the global lock (an RCU grace period) that
 * moving a whole process takes. */
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
    child.pids_cgroup_fd = -1;
    if (config->argv == NULL || config->argv[0] == NULL || config->envp == NULL || config->pid <= 0)
        return vs_set_error(error, "check arguments", NULL, "", EINVAL);
    append_str(child.proc_path, sizeof child.proc_path, "/proc/");
    format_uint(child.proc_path + strlen(child.proc_path), (unsigned int)config->pid);

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
            proc_file_error(error, "read", child.proc_path, "/limits", errno);
            goto out;
        }
    }
    /* Another start time is another process; the directory of one that ended reads as ESRCH or ENOENT. */
    if (read_start_time(procfd, &start_time) < 0)
        start_err = errno == ENOENT ? ESRCH : errno;
    else if (start_time != config->start_time)
        start_err = ESRCH;
    if (start_err != 0) {
        proc_file_error(error, "check start time of", child.proc_path, "/stat", start_err);
        goto out;
    }
    {
        struct stat theirs, ours;

        /* Through the /proc/PID directory checked above; a namespace we cannot stat is not joined blindly. */
        if (fstatat(procfd, "ns/user", &theirs, 0) < 0 || stat("/proc/self/ns/user", &ours) < 0) {
            proc_file_error(error, "stat", child.proc_path, "/ns/user", errno);
            goto out;
        }
        child.own_user_namespace = theirs.st_dev != ours.st_dev || theirs.st_ino != ours.st_ino;
    }
    vs_filter_build(&child.filter, config->seccomp, child.own_user_namespace);
    child.rootfd = openat(procfd, "root", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (child.rootfd < 0) {
        proc_file_error(error, "open", child.proc_path, "/root", errno);
        goto out;
    }
    if (config->terminal_fd >= 0 &&
        open_pty(config, child.rootfd, child.proc_path, &master, &child.slave_fd, child.pts_path, error) < 0)
        goto out;
    if (config->cgroup != NULL && open_cgroup_file(config->cgroup, "/cgroup.procs", &child.cgroup_fd, error) < 0)
        goto out;
    if (config->pids_cgroup != NULL &&
        open_cgroup_file(config->pids_cgroup, "/tasks", &child.pids_cgroup_fd, error) < 0)
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
        proc_file_error(error, "setns", child.proc_path, "/ns/pid", errno);
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
    block_signals();
    /* The stack grows down on every architecture Linux runs this on but parisc. */
    pid = clone(child_main, stack + CHILD_STACK_SIZE, CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &child,
                &child_pidfd);
    clone_errno = errno;
    /* Back to our own pid namespace for children: nothing else of ours is to start inside. Cannot fail (our
     * own namespace is always allowed), and if it did, the next join's setns sets it anyway. */
    setns(self_pidfd, CLONE_NEWPID);
    if (pid > 0)
        install_forwarding((pid_t)pid);
    else
        sigprocmask(SIG_SETMASK, &saved_mask, NULL);
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
    uninstall_forwarding();
    reap(child_pidfd);
    close(child_pidfd);

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
        if (child.pids_cgroup_fd >= 0)
            close(child.pids_cgroup_fd);
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

int vs_join_wait(struct vs_joined *joined)
{
    siginfo_t info;
    int r, code;

    /* WNOWAIT first: while the command is a zombie its PID (and process group id) cannot be reused, so a signal
     * forwarded until uninstall_forwarding never reaches a stranger. */
    memset(&info, 0, sizeof info);
    do
        r = waitid(P_PIDFD, (id_t)joined->pidfd, &info, WEXITED | WNOWAIT);
    while (r < 0 && errno == EINTR);
    uninstall_forwarding();
    if (r == 0)
        code = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
    else
        code = -1;
    reap(joined->pidfd);
    close(joined->pidfd);
    joined->pidfd = -1;
    if (joined->master_fd >= 0) {
        close(joined->master_fd);
        joined->master_fd = -1;
    }
    return code;
}

/* ---- The terminal relay ---- */

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Moves what is left after writing n bytes to the front. */
static void consume(char *buf, size_t *len, size_t n)
{
    memmove(buf, buf + n, *len - n);
    *len -= n;
}

static int transient(int err)
{
    return err == EINTR || err == EAGAIN || err == EWOULDBLOCK;
}

/* Once the command has exited: how long a pty that stays open (a process left in the background holds it) may
 * stay quiet, and how long it may keep talking, before we stop relaying. */
enum { DRAIN_IDLE_MS = 100, DRAIN_MAX_MS = 1000 };

int vs_join_relay(struct vs_joined *joined, int out_fd)
{
    const int term = joined->terminal_fd, master = joined->master_fd;
    char input[4096], output[16384];
    size_t input_len = 0, output_len = 0;
    /* Keystrokes only from the caller's stdin; output nowhere (but drained) without a terminal to show it. */
    int reading_term = joined->terminal_input, master_open = 1, output_ok = out_fd >= 0, exited = 0;
    long long exited_at = 0;
    struct termios saved, raw;
    struct sigaction ignore, saved_pipe;
    struct winsize size;
    int have_saved, winch[2] = {-1, -1};

    /* A vanished reader of out_fd must end the relay with the terminal restored, not kill us. */
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ignore, &saved_pipe);
    if (pipe2(winch, O_CLOEXEC | O_NONBLOCK) == 0)
        winch_fd = winch[1];
    relay_master = master;
    have_saved = reading_term && tcgetattr(term, &saved) == 0;
    if (have_saved) {
        raw = saved;
        cfmakeraw(&raw);
        tcsetattr(term, TCSADRAIN, &raw);
    }

    for (;;) {
        struct pollfd fds[5];
        int timeout = -1, ready;
        short master_events = (short)((output_len < sizeof output ? POLLIN : 0) | (input_len > 0 ? POLLOUT : 0));

        if (exited) {
            long long left = exited_at + DRAIN_MAX_MS - now_ms();

            if (left <= 0 || !master_open)
                break;
            timeout = left < DRAIN_IDLE_MS ? (int)left : DRAIN_IDLE_MS;
        }
        fds[0] = (struct pollfd){.fd = reading_term && input_len < sizeof input ? term : -1, .events = POLLIN};
        fds[1] = (struct pollfd){.fd = master_open && master_events ? master : -1, .events = master_events};
        fds[2] = (struct pollfd){.fd = output_len > 0 ? out_fd : -1, .events = POLLOUT};
        fds[3] = (struct pollfd){.fd = winch[0], .events = POLLIN};
        fds[4] = (struct pollfd){.fd = exited ? -1 : joined->pidfd, .events = POLLIN};
        ready = poll(fds, 5, timeout);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            break;  /* quiet for DRAIN_IDLE_MS after the exit (or poll failed) */

        if (fds[3].revents & POLLIN) {
            char bytes[64];

            while (read(winch[0], bytes, sizeof bytes) > 0)
                ;
            if (ioctl(term, TIOCGWINSZ, &size) == 0)
                ioctl(master, TIOCSWINSZ, &size);
        }
        if (fds[4].revents & POLLIN) {
            exited = 1;
            exited_at = now_ms();
        }
        if (fds[0].revents) {
            ssize_t n = read(term, input + input_len, sizeof input - input_len);

            if (n > 0)
                input_len += (size_t)n;
            else if (n == 0 || !transient(errno))
                reading_term = 0;
        }
        if (fds[1].revents & POLLOUT) {
            ssize_t n = write(master, input, input_len);

            if (n > 0)
                consume(input, &input_len, (size_t)n);
            else if (n < 0 && !transient(errno))
                input_len = 0;
        }
        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR) && output_len < sizeof output) {
            ssize_t n = read(master, output + output_len, sizeof output - output_len);

            /* EIO: every slave fd is closed, and everything written to them has been read. */
            if (n > 0)
                output_len += (size_t)n;
            else if (n == 0 || !transient(errno))
                master_open = 0;
        }
        if (fds[2].revents) {
            ssize_t n = write(out_fd, output, output_len);

            if (n > 0)
                consume(output, &output_len, (size_t)n);
            else if (n < 0 && !transient(errno))
                output_ok = 0;
        }
        if (!output_ok)
            output_len = 0;  /* nobody reads it: keep draining the pty so the command does not block */
        if (!master_open) {
            input_len = 0;
            reading_term = 0;
        }
    }
    while (output_ok && output_len > 0) {
        ssize_t n = write(out_fd, output, output_len);

        if (n > 0)
            consume(output, &output_len, (size_t)n);
        else if (n < 0 && errno == EINTR)
            continue;
        else
            break;
    }

    if (have_saved)
        tcsetattr(term, TCSADRAIN, &saved);
    relay_master = -1;
    winch_fd = -1;
    if (winch[0] >= 0) {
        close(winch[0]);
        close(winch[1]);
    }
    sigaction(SIGPIPE, &saved_pipe, NULL);
    return vs_join_wait(joined);
}
