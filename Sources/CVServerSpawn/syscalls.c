/*
 * Syscall wrappers: the raw ones the spawn child needs (syscalls.h) and the public ones Swift calls
 * (vserver_spawn.h) because it cannot reach syscall(2), variadic functions or function-like macros.
 */
#define _GNU_SOURCE
#include "vserver_spawn.h"
#include "syscalls.h"

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <linux/openat2.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

long vs_sys_clone3(struct vs_clone_args *args)
{
    return syscall(SYS_clone3, args, sizeof *args);
}

int vs_sys_openat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve)
{
    struct open_how how = {.flags = flags, .mode = 0, .resolve = resolve};
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

int vs_sys_mount_setattr(int dirfd, const char *path, unsigned int flags, struct mount_attr *attr)
{
    return (int)syscall(SYS_mount_setattr, dirfd, path, flags, attr, sizeof *attr);
}

int vs_sys_open_tree(int dirfd, const char *path, unsigned int flags)
{
    return (int)syscall(SYS_open_tree, dirfd, path, flags);
}

int vs_sys_move_mount(int from_dirfd, const char *from_path, int to_dirfd, const char *to_path, unsigned int flags)
{
    return (int)syscall(SYS_move_mount, from_dirfd, from_path, to_dirfd, to_path, flags);
}

int vs_sys_pivot_root(const char *new_root, const char *put_old)
{
    return (int)syscall(SYS_pivot_root, new_root, put_old);
}

int vs_sys_close_range(unsigned int first, unsigned int last, unsigned int flags)
{
    return (int)syscall(SYS_close_range, first, last, flags);
}

int vs_sys_execveat(int dirfd, const char *path, const char *const *argv, const char *const *envp, int flags)
{
    return (int)syscall(SYS_execveat, dirfd, path, argv, envp, flags);
}

/* prlimit64 rather than setrlimit: 64-bit limits on every architecture, no glibc translation. */
int vs_sys_prlimit(int resource, uint64_t soft, uint64_t hard)
{
    struct {
        uint64_t soft, hard;
    } limit = {soft, hard};
    return (int)syscall(SYS_prlimit64, 0, resource, &limit, NULL);
}

int vs_setns(int fd, int nstype)
{
    return setns(fd, nstype);
}

int vs_pidfd_open(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

int vs_pidfd_send_signal(int pidfd, int signal)
{
    return (int)syscall(SYS_pidfd_send_signal, pidfd, signal, NULL, 0);
}

int vs_pidfd_wait_status(int pidfd, int nohang, int *how, int *status)
{
    siginfo_t info;
    int r;

    /* si_pid stays 0 when WNOHANG finds nothing: that is how "still running" shows. */
    memset(&info, 0, sizeof info);
    do {
        r = waitid(P_PIDFD, (id_t)pidfd, &info, WEXITED | (nohang ? WNOHANG : 0));
    } while (r < 0 && errno == EINTR);
    if (r < 0)
        return -1;
    *how = info.si_pid == 0 ? 0 : info.si_code;
    *status = info.si_pid == 0 ? 0 : info.si_status;
    return 0;
}

/* Linux 6.15's struct pidfd_info (linux/pidfd.h), spelled out: older headers do not have it. */
struct vs_pidfd_info {
    uint64_t mask, cgroupid;
    uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
    int32_t exit_code;
    uint32_t coredump_mask, spare;
};
#define VS_PIDFD_INFO_EXIT (1UL << 3)
#define VS_PIDFD_GET_INFO _IOWR(0xFF, 11, struct vs_pidfd_info)

int vs_pidfd_exit_info(int pidfd, int *how, int *status)
{
    struct vs_pidfd_info info;

    memset(&info, 0, sizeof info);
    info.mask = VS_PIDFD_INFO_EXIT;
    if (ioctl(pidfd, VS_PIDFD_GET_INFO, &info) < 0)
        return errno == ESRCH ? 0 : -1;
    if (!(info.mask & VS_PIDFD_INFO_EXIT))
        return 0;
    return vs_wait_status_how(info.exit_code, how, status) == 0 ? 1 : 0;
}

int vs_wait_status_how(int wait_status, int *how, int *status)
{
    if (WIFEXITED(wait_status)) {
        *how = VS_EXITED;
        *status = WEXITSTATUS(wait_status);
    } else if (WIFSIGNALED(wait_status)) {
        *how = WCOREDUMP(wait_status) ? VS_DUMPED : VS_KILLED;
        *status = WTERMSIG(wait_status);
    } else {
        return -1;
    }
    return 0;
}

int vs_pidfd_wait(int pidfd, int nohang, int *exited, int *exit_code)
{
    int how, status;

    if (vs_pidfd_wait_status(pidfd, nohang, &how, &status) < 0)
        return -1;
    *exited = how != 0;
    *exit_code = how == 0 ? 0 : how == CLD_EXITED ? status : 128 + status;
    return 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int vs_sealed_memfd_copy(const char *path, const char *name)
{
    char buf[65536];
    int src, memfd, saved;
    ssize_t n;

    src = open(path, O_RDONLY | O_CLOEXEC);
    if (src < 0)
        return -1;
    /* Since 6.3 a memfd without MFD_EXEC may be made non-executable by vm.memfd_noexec (and the kernel warns);
     * older kernels reject the unknown flag, and their memfds are always executable. */
    memfd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if (memfd < 0 && errno == EINVAL)
        memfd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (memfd < 0)
        goto fail;
    for (;;) {
        n = read(src, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto fail;
        if (n == 0)
            break;
        if (write_all(memfd, buf, (size_t)n) < 0)
            goto fail;
    }
    /* Exec of a memfd is fine with this (writable) fd open: memfd_create does not count as a writer, while a
     * reopen of it for writing would (ETXTBSY), and the seals make every write fail. */
    if (fcntl(memfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
        goto fail;
    close(src);
    return memfd;

fail:
    saved = errno;
    if (memfd >= 0)
        close(memfd);
    close(src);
    errno = saved;
    return -1;
}

int vs_cap_last_cap(void)
{
    char buf[16];
    ssize_t n;
    int fd, value = 0;

    fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    do {
        n = read(fd, buf, sizeof buf - 1);
    } while (n < 0 && errno == EINTR);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    if (buf[0] < '0' || buf[0] > '9') {
        errno = EINVAL;
        return -1;
    }
    for (char *p = buf; *p >= '0' && *p <= '9'; p++)
        value = value * 10 + (*p - '0');
    return value;
}

int vs_open(const char *path, int flags, mode_t mode)
{
    return open(path, flags, mode);
}

int vs_fcntl(int fd, int cmd, int arg)
{
    return fcntl(fd, cmd, arg);
}

int vs_ioctl(int fd, unsigned long request, void *arg)
{
    return ioctl(fd, request, arg);
}

int vs_pty_peer(int master)
{
    return ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
}

int vs_wait_status_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

int vs_sigrtmin(void)
{
    return SIGRTMIN;
}

int vs_sigrtmax(void)
{
    return SIGRTMAX;
}

int vs_pipe2(int fds[2], int flags)
{
    return pipe2(fds, flags);
}

_Static_assert(VS_O_PATH == O_PATH, "VS_O_PATH is O_PATH");

int vs_open_in_root(int root_fd, const char *path, int flags)
{
    if (flags & O_CREAT) {
        errno = EINVAL;
        return -1;
    }
    return vs_sys_openat2(root_fd, path, (uint64_t)(flags | O_CLOEXEC), RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

int vs_signalfd(const sigset_t *mask)
{
    return signalfd(-1, mask, SFD_CLOEXEC | SFD_NONBLOCK);
}

int vs_signalfd_next(int fd)
{
    struct signalfd_siginfo info;
    ssize_t r;

    do {
        r = read(fd, &info, sizeof info);
    } while (r < 0 && errno == EINTR);
    if (r < 0 && errno == EAGAIN)
        return 0;
    if (r != (ssize_t)sizeof info)
        return -1;
    return (int)info.ssi_signo;
}

int vs_epoll_create(void)
{
    return epoll_create1(EPOLL_CLOEXEC);
}

int vs_epoll_add_oneshot(int epfd, int fd)
{
    struct epoll_event event = {.events = EPOLLIN | EPOLLONESHOT, .data.fd = fd};

    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event);
}

int vs_epoll_add(int epfd, int fd)
{
    struct epoll_event event = {.events = EPOLLIN, .data.fd = fd};

    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event);
}

int vs_epoll_remove(int epfd, int fd)
{
    return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
}

int vs_epoll_wait(int epfd, int *ready_fds, int max, int timeout_ms)
{
    struct epoll_event events[64];
    int count;

    if (max > 64)
        max = 64;
    count = epoll_wait(epfd, events, max, timeout_ms);
    for (int i = 0; i < count; i++)
        ready_fds[i] = events[i].data.fd;
    return count;
}
