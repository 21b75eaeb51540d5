/*
 * vs_join's child, between clone and exec: PID 1's rlimits, the cgroups, the vserver's namespaces (setns) and root,
 * the pty as controlling terminal, the capability drop, the confinement and the exec of the command, looked up in
 * the PATH of its own environment. C because it runs in our memory (CLONE_VM, join.c says why) on a stack of its own,
 * before exec: only syscalls, and failures as one struct vs_error over the error pipe.
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
#include <sys/stat.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#include <unistd.h>

/* Joined by the child; pid comes from the parent's setns. The user namespace only when the vserver has its own
 * (joining one's own is EINVAL); not time (vservers share the host's clocks). A namespace the vserver shares with
 * the host (net = "host", cgroup) is joined as well: that is a no-op. */
#define JOIN_NAMESPACES (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP)

/* The same PATH the vserver's init gets when its config has none (Spawner.baseEnvironment). */
static const char default_path[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

static _Noreturn void child_fail(const struct join_child *c, const char *step, const char *path_a,
                                 const char *path_b, int err)
{
    vs_child_fail(c->error_fd, step, NULL, path_a, path_a == NULL ? 0 : strlen(path_a), path_b, err);
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

int vs_join_child_main(void *arg)
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
    for (size_t i = 0; i < c->config->legacy_cgroup_count; i++)
        if (write(c->legacy_cgroup_fds[i], "0", 1) != 1)
            child_fail(c, "join cgroup", c->config->legacy_cgroups[i], NULL, errno);
    if (setns(c->target_pidfd, JOIN_NAMESPACES | (c->own_user_namespace ? CLONE_NEWUSER : 0) |
                                   (c->own_time_namespace ? CLONE_NEWTIME : 0)) < 0)
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
