/*
 * The spawn child's /dev: a fresh tmpfs with the basic device nodes (made, or bound from the host in a user
 * namespace), its own devpts and /dev/shm, and the console and tty ptys whose masters go to the parent. C because it
 * runs in the child of vs_spawn, between clone and exec: only syscalls (spawn.c says why).
 */
#define _GNU_SOURCE
#include "spawn_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static const struct {
    const char *name;
    unsigned int major, minor;
} dev_nodes[] = {
    {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
};

static const struct {
    const char *name, *target;
} dev_links[] = {
    {"fd", "/proc/self/fd"},         {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
    {"stderr", "/proc/self/fd/2"},   {"ptmx", "pts/ptmx"},
};

/* Opens a name in the new /dev; nobody else can reach that tmpfs yet, so plain openat is enough. */
static int open_in_dev(const struct child *c, int devfd, const char *name, int flags)
{
    int fd = openat(devfd, name, flags | O_PATH | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0)
        fail_in_root(c, "open /dev/", name, "/dev", errno);
    return fd;
}

/*
 * In a user namespace mknod is refused: the host's node is bound onto an empty file instead, as LXC does. The
 * source is checked to be the expected character device, so nothing else can be bound there.
 */
static void bind_host_device(const struct child *c, int devfd, const char *name, dev_t dev)
{
    char host[32] = "/dev/";
    struct stat st;
    int source_fd, fd;

    append_str(host, sizeof host, name);
    source_fd = open(host, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (source_fd < 0)
        fail_at(c, "open host device", NULL, host, errno);
    if (fstat(source_fd, &st) < 0)
        fail_at(c, "stat host device", NULL, host, errno);
    if (!S_ISCHR(st.st_mode) || st.st_rdev != dev)
        fail_at(c, "check host device", NULL, host, ENODEV);
    fd = openat(devfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0)
        fail_in_root(c, "create /dev/", name, "/dev", errno);
    close(fd);
    fd = open_in_dev(c, devfd, name, 0);
    vs_bind_fds(c, source_fd, fd, "bind host device", host);
    close(fd);
    close(source_fd);
}

static int open_ptmx(int devfd)
{
    return vs_child_open_ptmx(devfd, "pts/ptmx", RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, -1, 0);
}

/* A new pty of the guest's devpts (master, from open_ptmx) with its slave bound on /dev/NAME (an empty file made for
 * it); returns the master, and the slave in *slave. */
static int bind_pty(const struct child *c, int devfd, int master, const char *name, int *slave)
{
    int fd;

    if (master < 0)
        fail_in_root(c, "open ", "/dev/pts/ptmx", "/dev/pts/ptmx", errno);
    if (vs_child_pty_slave(master, slave) < 0)
        fail_in_root(c, "open pty for /dev/", name, "/dev/pts/ptmx", errno);
    fd = openat(devfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        fail_in_root(c, "create /dev/", name, "/dev", errno);
    close(fd);
    fd = open_in_dev(c, devfd, name, 0);
    vs_bind_fds(c, *slave, fd, "bind pty on /dev/", name);
    close(fd);
    return master;
}

/*
 * /dev/console as /dev/null, when no pty could be had. Never a host file: bound there, the guest's root (CAP_FOWNER)
 * could chmod 4755 the host's inode through it.
 */
static void bind_null_console(struct child *c, int devfd)
{
    int fd = openat(devfd, "console", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

    if (fd < 0)
        fail_in_root(c, "create /dev/console", NULL, "/dev/console", errno);
    close(fd);
    fd = open_in_dev(c, devfd, "console", 0);
    vs_bind_fds(c, c->devnull_fd, fd, "bind /dev/console", "/dev/console");
    close(fd);
}

/* The console's pty, or -1 when the host has none left (ENOSPC: kernel.pty.max; devpts instances of containers get
 * that minus kernel.pty.reserve); any other failure fails the start. */
static int new_console_pty(struct child *c, int devfd)
{
    int master = open_ptmx(devfd);

    if (master < 0 && errno == ENOSPC)
        return -1;
    return bind_pty(c, devfd, master, "console", &c->console_slave);
}

/*
 * The console and ttys as ptys of the guest's own devpts: their masters go to the parent, which copies the console
 * into the console log, and PID 1's stdout and stderr are the console's slave. A tty, because systemd writes nothing
 * to a /dev/console that is not one and console-getty needs one, and gettys need their ttys; from the guest's
 * devpts, so that no guest process ever holds a terminal of the host.
 */
static void open_console_ptys(struct child *c, int devfd)
{
    int masters[1 + VS_MAX_TTYS], count = c->config->tty_count;

    if (count > VS_MAX_TTYS)
        count = VS_MAX_TTYS;
    masters[0] = c->config->null_console ? -1 : new_console_pty(c, devfd);
    if (masters[0] < 0) {
        /* No pty left on the host (kernel.pty.max): the guest runs with /dev/null as console and stdout; the empty
         * message tells the parent, which logs it. */
        bind_null_console(c, devfd);
        if (vs_send_fds(c->channel, "", 1, NULL, 0) < 0)
            fail_at(c, "send console to vserverd", NULL, NULL, errno);
        return;
    }
    for (int i = 1; i <= count; i++) {
        char name[16];
        int slave;

        vs_tty_name(name, i);
        masters[i] = bind_pty(c, devfd, open_ptmx(devfd), name, &slave);
        /* The bind keeps the node; the parent's master keeps the pty. */
        close(slave);
    }
    if (vs_send_fds(c->channel, "", 1, masters, (size_t)count + 1) < 0)
        fail_at(c, "send console to vserverd", NULL, NULL, errno);
    for (int i = 0; i <= count; i++)
        close(masters[i]);
}

void vs_mount_dev(struct child *c)
{
    int devfd;

    /* Not nodev: the device nodes below must work. A fresh tmpfs, so no host device node is reachable. */
    vs_mount_fresh(c, "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k", "mount /dev");
    devfd = vs_open_beneath(c->rootfd, "/dev", O_DIRECTORY);
    if (devfd < 0)
        fail_in_root(c, "resolve mount target", NULL, "/dev", errno);

    for (size_t i = 0; i < sizeof dev_nodes / sizeof dev_nodes[0]; i++) {
        dev_t dev = makedev(dev_nodes[i].major, dev_nodes[i].minor);

        if (c->config->extra_clone_flags & VS_CLONE_NEWUSER)
            bind_host_device(c, devfd, dev_nodes[i].name, dev);
        else if (mknodat(devfd, dev_nodes[i].name, S_IFCHR | 0666, dev) < 0)
            fail_in_root(c, "mknod /dev/", dev_nodes[i].name, "/dev", errno);
    }
    for (size_t i = 0; i < sizeof dev_links / sizeof dev_links[0]; i++)
        if (symlinkat(dev_links[i].target, devfd, dev_links[i].name) < 0)
            fail_in_root(c, "symlink /dev/", dev_links[i].name, "/dev", errno);
    c->devnull_fd = open_in_dev(c, devfd, "null", 0);

    /* newinstance: the guest's ptys are its own, not the host's /dev/pts. */
    vs_mount_fresh(c, "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5",
                   "mount devpts");
    vs_mount_fresh(c, "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=65536k", "mount /dev/shm");

    open_console_ptys(c, devfd);
    close(devfd);
}

