/*
 * Between clone and exec, shared by vs_spawn (PID 1 of a vserver), vs_join (a command inside a running one) and
 * vs_console_attach: the error record (and the parent's side of it), signal reset, the capability drop, ptys and fds
 * over a socket. C because it runs in a child cloned from the multi-threaded daemon, before exec: only syscalls.
 */
#define _GNU_SOURCE
#include "child.h"
#include "syscalls.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* The one place a struct vs_error is filled: {step_a + step_b, path_a (path_a_len bytes) + path_b, err}. */
static void fill_error(struct vs_error *error, const char *step_a, const char *step_b, const char *path_a,
                       size_t path_a_len, const char *path_b, int err)
{
    memset(error, 0, sizeof *error);
    append_str(error->step, sizeof error->step, step_a);
    append_str(error->step, sizeof error->step, step_b);
    if (path_a != NULL)
        append(error->path, sizeof error->path, path_a, path_a_len);
    append_str(error->path, sizeof error->path, path_b);
    error->err = err;
}

int vs_set_error(struct vs_error *error, const char *step_a, const char *step_b, const char *path, int err)
{
    fill_error(error, step_a, step_b, NULL, 0, path, err);
    errno = err;
    return -1;
}

_Noreturn void vs_child_report(int error_fd, const struct vs_error *error)
{
    const char *p = (const char *)error;
    size_t left = sizeof *error;

    while (left > 0) {
        ssize_t n = write(error_fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        p += n;
        left -= (size_t)n;
    }
    _exit(127);
}

_Noreturn void vs_child_fail(int error_fd, const char *step_a, const char *step_b, const char *path_a,
                             size_t path_a_len, const char *path_b, int err)
{
    struct vs_error e;

    fill_error(&e, step_a, step_b, path_a, path_a_len, path_b, err);
    vs_child_report(error_fd, &e);
}

ssize_t vs_read_error(int fd, struct vs_error *record)
{
    size_t got = 0;

    while (got < sizeof *record) {
        ssize_t n = read(fd, (char *)record + got, sizeof *record - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (got == sizeof *record) {
        record->step[sizeof record->step - 1] = '\0';
        record->path[sizeof record->path - 1] = '\0';
    }
    return (ssize_t)got;
}

void vs_reap(int pidfd, int kill)
{
    siginfo_t info;
    int saved = errno;

    if (kill)
        vs_pidfd_send_signal(pidfd, SIGKILL);
    while (waitid(P_PIDFD, (id_t)pidfd, &info, WEXITED) < 0 && errno == EINTR)
        ;
    close(pidfd);
    errno = saved;
}

int vs_child_reset_signals(void)
{
    struct sigaction dfl;
    /* The kernel's struct sigaction, all zero: SIG_DFL, no flags, empty mask, whatever its layout. */
    unsigned long kernel_dfl[4] = {0, 0, 0, 0};

    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP)
            continue;
        if (sig >= 32 && sig < SIGRTMIN) {
            /* glibc refuses its internal signals (32, 33). Their handlers go at exec anyway, but inherited
             * SIG_IGN would survive it: reset them with the raw syscall. */
            if (syscall(SYS_rt_sigaction, sig, kernel_dfl, NULL, (size_t)8) < 0)
                return -1;
            continue;
        }
        if (sigaction(sig, &dfl, NULL) < 0)
            return -1;
    }
    return 0;
}

/*
 * The bounding set is an allowlist (docs/ARCHITECTURE.md §7). Root's exec also keeps
 * (inheritable & file inheritable), so the inheritable set is cut to the same caps, and ambient caps are cleared.
 * no_new_privs stays off: guests need their setuid binaries.
 */
int vs_child_drop_capabilities(uint64_t keep, int last_cap, struct vs_error *error)
{
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

    for (int cap = 0; cap <= last_cap; cap++) {
        if (cap < 64 && (keep & ((uint64_t)1 << cap)))
            continue;
        if (prctl(PR_CAPBSET_DROP, (unsigned long)cap, 0UL, 0UL, 0UL) < 0) {
            char number[12];

            format_uint(number, (unsigned int)cap);
            return vs_set_error(error, "drop capability ", number, NULL, errno);
        }
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0UL, 0UL, 0UL) < 0)
        return vs_set_error(error, "clear ambient capabilities", NULL, NULL, errno);
    if (syscall(SYS_capget, &header, data) < 0)
        return vs_set_error(error, "read capabilities", NULL, NULL, errno);
    data[0].inheritable &= (uint32_t)keep;
    data[1].inheritable &= (uint32_t)(keep >> 32);
    if (syscall(SYS_capset, &header, data) < 0)
        return vs_set_error(error, "clear inheritable capabilities", NULL, NULL, errno);
    return 0;
}

/* Raw syscalls, not glibc's wrappers: those set the ids of every thread of the process, signalling each thread on
 * glibc's list, and a child cloned from the multi-threaded daemon inherits that list but none of the threads. One
 * that was being created at clone time made the child wait for it forever (a futex in __nptl_setxid), and the start
 * with it. The child has one thread: setting its own ids is all it needs. */
int vs_child_become_root(struct vs_error *error)
{
    if (syscall(SYS_setresgid, 0, 0, 0) < 0)
        return vs_set_error(error, "setresgid 0", NULL, "", errno);
    if (syscall(SYS_setgroups, 0, NULL) < 0)
        return vs_set_error(error, "setgroups", NULL, "", errno);
    if (syscall(SYS_setresuid, 0, 0, 0) < 0)
        return vs_set_error(error, "setresuid 0", NULL, "", errno);
    return 0;
}

int vs_child_open_ptmx(int dirfd, const char *path, uint64_t resolve, int proc_dirfd, int flags)
{
    char self[VS_FD_PATH_SIZE];
    struct stat st;
    struct statfs fs;
    int pathfd, master, err;

    pathfd = vs_sys_openat2(dirfd, path, O_PATH | O_CLOEXEC, resolve);
    if (pathfd < 0)
        return -1;
    if (fstat(pathfd, &st) < 0 || fstatfs(pathfd, &fs) < 0) {
        err = errno;
        close(pathfd);
        errno = err;
        return -1;
    }
    if (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(5, 2) || fs.f_type != DEVPTS_SUPER_MAGIC) {
        close(pathfd);
        errno = ENOTTY;
        return -1;
    }
    /* "/proc/self/fd/N", or "self/fd/N" beneath proc_dirfd. */
    vs_fd_path(self, pathfd);
    if (proc_dirfd < 0)
        master = openat(AT_FDCWD, self, flags | O_RDWR | O_NOCTTY | O_CLOEXEC);
    else
        master = openat(proc_dirfd, self + strlen("/proc/"), flags | O_RDWR | O_NOCTTY | O_CLOEXEC);
    err = errno;
    close(pathfd);
    errno = err;
    return master;
}

int vs_child_pty_slave(int master, int *slave)
{
    int unlock = 0;

    if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
        return -1;
    *slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    return *slave < 0 ? -1 : 0;
}

void vs_tty_name(char name[16], int n)
{
    memcpy(name, "tty", 4);
    format_uint(name + 3, (unsigned int)n);
}

int vs_send_fds(int channel, const void *payload, size_t size, const int *fds, size_t nfds)
{
    char control[CMSG_SPACE(sizeof(int) * VS_MAX_CHANNEL_FDS)];
    struct iovec iov = {.iov_base = (void *)payload, .iov_len = size};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    struct cmsghdr *cmsg;

    if (nfds > VS_MAX_CHANNEL_FDS) {
        errno = E2BIG;
        return -1;
    }
    if (nfds > 0) {
        memset(control, 0, sizeof control);
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nfds);
    }
    return sendmsg(channel, &msg, MSG_NOSIGNAL) == (ssize_t)size ? 0 : -1;
}

ssize_t vs_receive_fds(int channel, void *payload, size_t size, int *fds, size_t max_fds, size_t *nfds, int flags)
{
    char control[CMSG_SPACE(sizeof(int) * VS_MAX_CHANNEL_FDS)];
    struct iovec iov = {.iov_base = payload, .iov_len = size};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    int too_many = 0;
    ssize_t n;

    *nfds = 0;
    do
        n = recvmsg(channel, &msg, flags | MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        size_t count;

        if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
            continue;
        count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int fd;

            memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof fd);
            if (*nfds < max_fds)
                fds[(*nfds)++] = fd;
            else {
                close(fd);
                too_many = 1;
            }
        }
    }
    if (too_many || (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC))) {
        for (size_t i = 0; i < *nfds; i++)
            close(fds[i]);
        *nfds = 0;
        errno = EMSGSIZE;
        return -1;
    }
    return n;
}
