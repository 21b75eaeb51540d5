/*
 * vs_spawn: clone3 into new namespaces, build the vserver's mounts, pivot_root and exec its PID 1
 * (DESIGN.md §4 step 3, §7).
 *
 * The child is a fork of a multi-threaded process: another thread may have held the malloc or stdio lock at
 * clone time, so between clone3 and exec it only makes syscalls and uses memcpy/strlen-class helpers (all
 * async-signal-safe), with fixed-size buffers on its stack. Any failure is sent to the parent as one
 * struct vs_error over a CLOEXEC pipe; end-of-file on that pipe means the exec succeeded.
 */
#define _GNU_SOURCE
#include "vserver_spawn.h"
#include "child.h"
#include "syscalls.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

/* What open_in_root creates when the path is missing. */
enum create_kind { CREATE_NONE, CREATE_DIR, CREATE_FILE };

/* State of the child between clone and exec. */
struct child {
    const struct vs_spawn_config *config;
    int error_fd;       /* write end of the error pipe */
    int last_cap;       /* from the parent: reading /proc here would need buffers we do not want */
    size_t root_len;    /* config->root without trailing slashes, for host paths in errors */
    int rootfd;         /* O_PATH fd of the bind-mounted root: every target is resolved beneath it */
    int devnull_fd;     /* O_PATH fd of the new /dev/null, bound over masked files */
    int console_source; /* O_PATH fd of the console log to bind on /dev/console, or -1: /dev/null */
    int release_fd;     /* bytes from the parent: "id maps written" (user namespace), "go on to exec" (hold) */
    int hold;           /* vs_spawn_hold: wait for a byte on release_fd before exec */
};

/* Room for "/proc/self/fd/" and any int. */
#define FD_PATH_SIZE 32

/* "/proc/self/fd/N": how the child names an fd it opened safely, for mount(2) which only takes paths. While
 * the child still sees the host's /proc this resolves to exactly the object behind the fd. */
static void fd_path(char out[FD_PATH_SIZE], int fd)
{
    out[0] = '\0';
    append_str(out, FD_PATH_SIZE, "/proc/self/fd/");
    format_uint(out + strlen(out), (unsigned int)fd);
}

/* ---- Failure ---- */

/* Sends {step_a + step_b, path_a + path_b, err} to the parent and exits. */
static _Noreturn void fail(const struct child *c, const char *step_a, const char *step_b, const char *path_a,
                           size_t path_a_len, const char *path_b, int err)
{
    struct vs_error e;

    memset(&e, 0, sizeof e);
    append_str(e.step, sizeof e.step, step_a);
    append_str(e.step, sizeof e.step, step_b);
    if (path_a != NULL)
        append(e.path, sizeof e.path, path_a, path_a_len);
    append_str(e.path, sizeof e.path, path_b);
    e.err = err;
    vs_child_report(c->error_fd, &e);
}

/* A failure at a path inside the root, reported as the host sees it: "/vservers/web" + "/proc". */
static _Noreturn void fail_in_root(const struct child *c, const char *step_a, const char *step_b,
                                   const char *inside, int err)
{
    fail(c, step_a, step_b, c->config->root, c->root_len, inside, err);
}

/* A failure at a host path, or with path NULL at none. */
static _Noreturn void fail_at(const struct child *c, const char *step_a, const char *step_b, const char *path,
                              int err)
{
    fail(c, step_a, step_b, NULL, 0, path, err);
}

/* ---- Resolving inside the root ---- */

static int open_beneath(int rootfd, const char *path, uint64_t flags)
{
    /* RESOLVE_IN_ROOT: "/" and ".." stop at the root and absolute symlinks are taken relative to it, so a guest
     * symlink can never lead a mount out of the root (CVE-2021-30465). NO_MAGICLINKS: no /proc/PID/root jumps. */
    return vs_sys_openat2(rootfd, path, flags | O_PATH | O_CLOEXEC, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

/*
 * Opens path (O_PATH) inside the root. When it is missing and create says so, creates it component by
 * component: each missing name is made with mkdirat (or an empty file for the last one with CREATE_FILE) in
 * its already resolved parent, so nothing is ever created outside the root. A dangling symlink is followed
 * the way the kernel would (within the root) and what it points to is created instead.
 */
static int open_in_root(int rootfd, const char *path, enum create_kind create)
{
    char buf[PATH_MAX];
    char link[PATH_MAX];
    char next[PATH_MAX];
    int fd;

    buf[0] = '\0';
    if (append_str(buf, sizeof buf, path) < 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    /* Each round either opens the path or rewrites it through one dangling symlink; 40 is the kernel's limit
     * on symlinks per lookup. */
    for (int hops = 0; hops < 40; hops++) {
        size_t i = 0, len = strlen(buf);
        int parent, restart = 0;

        fd = open_beneath(rootfd, buf, 0);
        if (fd >= 0 || errno != ENOENT || create == CREATE_NONE)
            return fd;

        parent = open_beneath(rootfd, "/", O_DIRECTORY);
        if (parent < 0)
            return -1;
        while (!restart) {
            size_t start, end;
            char saved;
            int last, made;

            while (i < len && buf[i] == '/')
                i++;
            if (i == len)
                return parent;  /* every component exists after all (created concurrently) */
            start = i;
            while (i < len && buf[i] != '/')
                i++;
            end = i;
            last = 1;
            for (size_t j = end; j < len; j++)
                if (buf[j] != '/')
                    last = 0;

            /* Resolve the prefix up to this component from the root, never from the parent fd: a symlink
             * inside must be taken relative to the root, not to the directory it sits in. */
            saved = buf[end];
            buf[end] = '\0';
            fd = open_beneath(rootfd, buf, 0);
            if (fd < 0 && errno == ENOENT) {
                const char *name = buf + start;

                if (last && create == CREATE_FILE) {
                    made = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
                    if (made >= 0)
                        close(made);
                } else {
                    made = mkdirat(parent, name, 0755);
                }
                if (made < 0 && errno == EEXIST) {
                    ssize_t n = readlinkat(parent, name, link, sizeof link - 1);

                    if (n >= 0) {
                        /* A dangling symlink: continue with its target + the rest of the path. */
                        link[n] = '\0';
                        next[0] = '\0';
                        if (link[0] != '/')
                            append(next, sizeof next, buf, start);
                        buf[end] = saved;
                        if (append_str(next, sizeof next, link) < 0 ||
                            append_str(next, sizeof next, buf + end) < 0) {
                            close(parent);
                            errno = ENAMETOOLONG;
                            return -1;
                        }
                        memcpy(buf, next, strlen(next) + 1);
                        close(parent);
                        restart = 1;
                        continue;
                    }
                    /* Not a symlink: someone else created it; open it below like any existing name. */
                } else if (made < 0) {
                    int err = errno;
                    buf[end] = saved;
                    close(parent);
                    errno = err;
                    return -1;
                }
                fd = open_beneath(rootfd, buf, 0);
            }
            buf[end] = saved;
            close(parent);
            if (fd < 0)
                return -1;
            parent = fd;
        }
    }
    errno = ELOOP;
    return -1;
}

/* ---- Mounting ---- */

/* Mount attributes (for mount_setattr) equivalent to the per-mount MS_* flags, which a bind mount ignores. */
static void mount_attr_from_flags(unsigned long flags, struct mount_attr *attr)
{
    memset(attr, 0, sizeof *attr);
    if (flags & MS_RDONLY)
        attr->attr_set |= MOUNT_ATTR_RDONLY;
    if (flags & MS_NOSUID)
        attr->attr_set |= MOUNT_ATTR_NOSUID;
    if (flags & MS_NODEV)
        attr->attr_set |= MOUNT_ATTR_NODEV;
    if (flags & MS_NOEXEC)
        attr->attr_set |= MOUNT_ATTR_NOEXEC;
    if (flags & MS_NODIRATIME)
        attr->attr_set |= MOUNT_ATTR_NODIRATIME;
    /* The atime modes are one field: setting one means clearing the whole field first. */
    if (flags & MS_NOATIME) {
        attr->attr_set |= MOUNT_ATTR_NOATIME;
        attr->attr_clr |= MOUNT_ATTR__ATIME;
    } else if (flags & MS_STRICTATIME) {
        attr->attr_set |= MOUNT_ATTR_STRICTATIME;
        attr->attr_clr |= MOUNT_ATTR__ATIME;
    } else if (flags & MS_RELATIME) {
        attr->attr_set |= MOUNT_ATTR_RELATIME;
        attr->attr_clr |= MOUNT_ATTR__ATIME;
    }
    if (flags & MS_SHARED)
        attr->propagation = MS_SHARED;
    else if (flags & MS_SLAVE)
        attr->propagation = MS_SLAVE;
    else if (flags & MS_PRIVATE)
        attr->propagation = MS_PRIVATE;
    else if (flags & MS_UNBINDABLE)
        attr->propagation = MS_UNBINDABLE;
}

/*
 * Applies attr to the mount now on top of inside (re-resolved: the fd used to mount still points beneath the
 * new mount). mount_setattr rather than MS_REMOUNT|MS_BIND: with AT_RECURSIVE it makes every submount of an
 * rbind read-only too, and it leaves the flags it is not asked to change alone.
 */
static void set_mount_attr(const struct child *c, const char *inside, struct mount_attr *attr, int recursive,
                           const char *step_a, const char *step_b)
{
    int fd;

    if (attr->attr_set == 0 && attr->attr_clr == 0 && attr->propagation == 0)
        return;
    fd = open_beneath(c->rootfd, inside, 0);
    if (fd < 0)
        fail_in_root(c, "resolve mount target", NULL, inside, errno);
    if (vs_sys_mount_setattr(fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), attr) < 0)
        fail_in_root(c, step_a, step_b, inside, errno);
    close(fd);
}

/* One [[mount]] or fstab entry. */
static void apply_mount(const struct child *c, const struct vs_mount *m)
{
    enum create_kind create = CREATE_DIR;
    char source[FD_PATH_SIZE], target[FD_PATH_SIZE];
    struct mount_attr attr;
    int source_fd = -1, target_fd;

    mount_attr_from_flags(m->flags, &attr);
    if (m->flags & MS_BIND) {
        struct stat st;

        /* Opened here, in the child's mount namespace: bind mount refuses a source from another namespace
         * (EINVAL), and knowing its type tells whether the target must be a directory or a file. */
        source_fd = open(m->source, O_PATH | O_CLOEXEC);
        if (source_fd < 0 || fstat(source_fd, &st) < 0)
            fail_at(c, "open bind source", NULL, m->source, errno);
        if (!S_ISDIR(st.st_mode))
            create = CREATE_FILE;
    }
    target_fd = open_in_root(c->rootfd, m->target, create);
    if (target_fd < 0)
        fail_in_root(c, "resolve mount target", NULL, m->target, errno);
    fd_path(target, target_fd);

    if (m->flags & MS_BIND) {
        fd_path(source, source_fd);
        if (mount(source, target, NULL, MS_BIND | (m->flags & MS_REC), NULL) < 0)
            fail_in_root(c, "bind mount", NULL, m->target, errno);
        close(source_fd);
    } else {
        /* Propagation cannot be combined with creating a mount; it is set afterwards with the attributes. */
        unsigned long flags = m->flags & ~(unsigned long)(MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE | MS_REC);

        if (mount(m->source, target, m->fstype, flags, m->data) < 0)
            fail_in_root(c, "mount ", m->fstype, m->target, errno);
        attr.attr_set = 0;
        attr.attr_clr = 0;
    }
    close(target_fd);
    set_mount_attr(c, m->target, &attr, (m->flags & MS_REC) != 0, "set mount options", NULL);
}

/* Mounts a fresh filesystem on a directory inside the root, creating the directory if it is missing. */
static void mount_fresh(const struct child *c, const char *inside, const char *fstype, unsigned long flags,
                        const char *data, const char *step)
{
    char target[FD_PATH_SIZE];
    int fd = open_in_root(c->rootfd, inside, CREATE_DIR);

    if (fd < 0)
        fail_in_root(c, "resolve mount target", NULL, inside, errno);
    fd_path(target, fd);
    if (mount(fstype, target, fstype, flags, data) < 0)
        fail_in_root(c, step, NULL, inside, errno);
    close(fd);
}

/* Paths inside /proc a guest may read but not write: runc's readonlyPaths. */
static const char *const proc_readonly_paths[] = {"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"};

/* Paths hidden from the guest: runc's maskedPaths (files get /dev/null, directories an empty tmpfs). */
static const char *const masked_paths[] = {
    "/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/acpi", "/proc/scsi",
    "/sys/firmware",
};

static void mount_proc(const struct child *c)
{
    mount_fresh(c, "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, "mount proc");
    for (size_t i = 0; i < sizeof proc_readonly_paths / sizeof proc_readonly_paths[0]; i++) {
        const char *inside = proc_readonly_paths[i];
        char path[FD_PATH_SIZE];
        struct mount_attr attr;
        int fd = open_beneath(c->rootfd, inside, 0);

        if (fd < 0 && errno == ENOENT)
            continue;  /* not in this kernel's configuration */
        if (fd < 0)
            fail_in_root(c, "resolve mount target", NULL, inside, errno);
        fd_path(path, fd);
        if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
            fail_in_root(c, "bind read-only ", inside, inside, errno);
        close(fd);
        mount_attr_from_flags(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, &attr);
        set_mount_attr(c, inside, &attr, 1, "make read-only ", inside);
    }
}

/* Hides what the guest must not read; needs the new /dev/null, so it runs after mount_dev. */
static void mask_paths(const struct child *c)
{
    char null_path[FD_PATH_SIZE];

    fd_path(null_path, c->devnull_fd);
    for (size_t i = 0; i < sizeof masked_paths / sizeof masked_paths[0]; i++) {
        const char *inside = masked_paths[i];
        char path[FD_PATH_SIZE];
        struct stat st;
        int r, fd = open_beneath(c->rootfd, inside, 0);

        if (fd < 0 && errno == ENOENT)
            continue;
        if (fd < 0 || fstat(fd, &st) < 0)
            fail_in_root(c, "resolve mount target", NULL, inside, errno);
        fd_path(path, fd);
        if (S_ISDIR(st.st_mode))
            r = mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        else
            r = mount(null_path, path, NULL, MS_BIND, NULL);
        if (r < 0)
            fail_in_root(c, "mask ", inside, inside, errno);
        close(fd);
    }
}

/*
 * The source to bind on /dev/console. console_fd was opened in the daemon's mount namespace, and bind mount
 * refuses a source from another namespace (EINVAL), so /proc/self/fd/console_fd cannot be the source: reopen
 * its path here (in our copy of that namespace) and check it is the same file. Pipes and sockets have no
 * path and cannot be bound: the guest gets /dev/null as /dev/console then.
 */
static int open_console_source(struct child *c)
{
    char self[FD_PATH_SIZE];
    char link[PATH_MAX];
    struct stat want, got;
    ssize_t n;
    int fd;

    if (c->config->console_fd < 0)
        return -1;
    fd_path(self, c->config->console_fd);
    n = readlink(self, link, sizeof link - 1);
    if (n < 0)
        fail_at(c, "read console path", NULL, self, errno);
    link[n] = '\0';
    if (link[0] != '/')
        return -1;
    fd = open(link, O_PATH | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &got) < 0)
        fail_at(c, "reopen console", NULL, link, errno);
    if (fstat(c->config->console_fd, &want) < 0)
        fail_at(c, "reopen console", NULL, link, errno);
    if (got.st_dev != want.st_dev || got.st_ino != want.st_ino)
        fail_at(c, "reopen console", NULL, link, ESTALE);
    return fd;
}

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

/* Binds the object behind source_fd onto the one behind target_fd (both opened in this mount namespace). */
static void bind_fds(const struct child *c, int source_fd, int target_fd, const char *step, const char *inside)
{
    char source[FD_PATH_SIZE], target[FD_PATH_SIZE];

    fd_path(source, source_fd);
    fd_path(target, target_fd);
    if (mount(source, target, NULL, MS_BIND, NULL) < 0)
        fail_in_root(c, step, NULL, inside, errno);
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
    bind_fds(c, source_fd, fd, "bind host device", host);
    close(fd);
    close(source_fd);
}

/*
 * sysfs belongs to a network namespace: a user namespace may mount it only over a network namespace of its own.
 * With the host's network, the host's /sys is bound read-only instead (as LXC does); it shows no more than a
 * fresh sysfs of the host's network namespace would.
 */
static void mount_sys(const struct child *c)
{
    const unsigned long flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
    char target[FD_PATH_SIZE];
    struct mount_attr attr;
    int fd;

    if ((c->config->extra_clone_flags & VS_CLONE_NEWUSER) == 0 || (c->config->extra_clone_flags & VS_CLONE_NEWNET)) {
        mount_fresh(c, "/sys", "sysfs", flags, NULL, "mount sysfs");
        return;
    }
    fd = open_in_root(c->rootfd, "/sys", CREATE_DIR);
    if (fd < 0)
        fail_in_root(c, "resolve mount target", NULL, "/sys", errno);
    fd_path(target, fd);
    if (mount("/sys", target, NULL, MS_BIND | MS_REC, NULL) < 0)
        fail_in_root(c, "bind host /sys", NULL, "/sys", errno);
    close(fd);
    mount_attr_from_flags(flags, &attr);
    set_mount_attr(c, "/sys", &attr, 1, "make read-only /sys", NULL);
}

static void mount_dev(struct child *c)
{
    int devfd, fd, console_source;

    /* Not nodev: the device nodes below must work. A fresh tmpfs, so no host device node is reachable. */
    mount_fresh(c, "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k", "mount /dev");
    devfd = open_beneath(c->rootfd, "/dev", O_DIRECTORY);
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
    mount_fresh(c, "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5",
                "mount devpts");
    mount_fresh(c, "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=65536k", "mount /dev/shm");

    fd = openat(devfd, "console", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        fail_in_root(c, "create /dev/console", NULL, "/dev/console", errno);
    close(fd);
    console_source = c->console_source >= 0 ? c->console_source : c->devnull_fd;
    fd = open_in_dev(c, devfd, "console", 0);
    bind_fds(c, console_source, fd, "bind /dev/console", "/dev/console");
    close(fd);
    if (console_source != c->devnull_fd)
        close(console_source);
    close(devfd);
}

static void bind_timezone(const struct child *c)
{
    struct mount_attr attr;
    int source_fd, fd;

    if (c->config->timezone_file == NULL)
        return;
    source_fd = open(c->config->timezone_file, O_PATH | O_CLOEXEC);
    if (source_fd < 0)
        fail_at(c, "open timezone file", NULL, c->config->timezone_file, errno);
    /* A guest without /etc has no use for /etc/localtime; do not invent one. */
    fd = open_beneath(c->rootfd, "/etc", O_DIRECTORY);
    if (fd < 0 && errno == ENOENT) {
        close(source_fd);
        return;
    }
    if (fd < 0)
        fail_in_root(c, "resolve mount target", NULL, "/etc", errno);
    close(fd);
    /* Follows a guest's /etc/localtime symlink within the root, like every other target. */
    fd = open_in_root(c->rootfd, "/etc/localtime", CREATE_FILE);
    if (fd < 0)
        fail_in_root(c, "resolve mount target", NULL, "/etc/localtime", errno);
    bind_fds(c, source_fd, fd, "bind timezone", "/etc/localtime");
    close(fd);
    close(source_fd);
    mount_attr_from_flags(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, &attr);
    set_mount_attr(c, "/etc/localtime", &attr, 0, "make read-only /etc/localtime", NULL);
}

/* ---- After pivot_root ---- */

/* fd 0 is /dev/null, 1 and 2 the console (or /dev/null). Sources are first moved above 2 so that a console_fd
 * of 0, 1 or 2 is not overwritten before use, and dup2 onto a different fd clears CLOEXEC. */
static void setup_stdio(const struct child *c)
{
    int null_fd, out_fd;

    null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd >= 0 && null_fd < 3)
        null_fd = fcntl(null_fd, F_DUPFD_CLOEXEC, 3);
    if (null_fd < 0)
        fail_in_root(c, "open /dev/null", NULL, "/dev/null", errno);
    out_fd = null_fd;
    if (c->config->console_fd >= 0) {
        out_fd = c->config->console_fd < 3 ? fcntl(c->config->console_fd, F_DUPFD_CLOEXEC, 3) : c->config->console_fd;
        if (out_fd < 0)
            fail_at(c, "dup console", NULL, NULL, errno);
    }
    if (dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)
        fail_at(c, "dup stdio", NULL, NULL, errno);
}

static const char *const rlimit_names[] = {
    "cpu", "fsize", "data", "stack", "core", "rss", "nproc", "nofile",
    "memlock", "as", "locks", "sigpending", "msgqueue", "nice", "rtprio", "rttime",
};

static void set_rlimits(const struct child *c)
{
    for (size_t i = 0; i < c->config->rlimit_count; i++) {
        const struct vs_rlimit *r = &c->config->rlimits[i];

        if (vs_sys_prlimit(r->resource, r->soft, r->hard) < 0) {
            int err = errno;
            char number[12];
            const char *name = number;

            if (r->resource >= 0 && (size_t)r->resource < sizeof rlimit_names / sizeof rlimit_names[0])
                name = rlimit_names[r->resource];
            else
                format_uint(number, (unsigned int)r->resource);
            fail_at(c, "setrlimit ", name, NULL, err);
        }
    }
}

static void drop_capabilities(const struct child *c)
{
    struct vs_error e;

    if (vs_child_drop_capabilities(c->config->keep_capabilities, c->last_cap, &e) < 0)
        vs_child_report(c->error_fd, &e);
}

/* ---- The child ---- */

/*
 * vs_spawn_hold: everything is set up, nothing of the guest has run. One byte on release_fd lets it go on; end of
 * file means the daemon is gone, and nobody would manage this guest: give up quietly.
 */
static void wait_for_parent(const struct child *c, const char *step)
{
    struct pollfd pfd = {.fd = c->release_fd, .events = POLLIN};
    char byte;
    ssize_t n;
    int ready;

    do
        ready = poll(&pfd, 1, VS_SPAWN_HOLD_TIMEOUT_MS);
    while (ready < 0 && errno == EINTR);
    if (ready < 0)
        fail_at(c, step, NULL, NULL, errno);
    if (ready == 0)
        fail_at(c, step, NULL, NULL, ETIMEDOUT);
    do
        n = read(c->release_fd, &byte, 1);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        fail_at(c, step, NULL, NULL, errno);
    if (n == 0)
        fail_at(c, step, NULL, NULL, ECANCELED);
}

/*
 * user = true: the parent has written uid_map and gid_map (only it may map a range of the host's ids). Until now
 * this process was the unmapped host root; from here it is root of the new user namespace, with every capability
 * in it and none outside.
 */
static void become_root_inside(const struct child *c)
{
    struct vs_error e;

    wait_for_parent(c, "wait for id maps");
    if (vs_child_become_root(&e) < 0)
        vs_child_report(c->error_fd, &e);
}

static _Noreturn void child_main(struct child *c)
{
    const struct vs_spawn_config *config = c->config;
    sigset_t none;
    mode_t saved_umask;

    /* All signals are blocked (vs_spawn did that before clone3), so no daemon handler runs in this copy of the
     * daemon. Handlers and ignored signals go back to default; the mask is lifted right before exec. */
    if (vs_child_reset_signals() < 0)
        fail_at(c, "reset signals", NULL, NULL, errno);
    /* Modes of the nodes and directories made below are exact; the daemon's umask is restored for init. */
    saved_umask = umask(0);
    if (setsid() < 0)
        fail_at(c, "setsid", NULL, NULL, errno);

    /* Before anything else: no mount made from here on may propagate to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
        fail_at(c, "make / rslave", NULL, "/", errno);
    /* pivot_root needs the new root to be a mount point. */
    if (mount(config->root, config->root, NULL, MS_BIND | MS_REC, NULL) < 0)
        fail_at(c, "bind root", NULL, config->root, errno);
    c->rootfd = open(config->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (c->rootfd < 0)
        fail_at(c, "open root", NULL, config->root, errno);
    if (fchdir(c->rootfd) < 0)
        fail_at(c, "chdir root", NULL, config->root, errno);
    /* Host paths are opened while this is still the host's root: with a user namespace, the root of the vserver
     * may not search their directories (the test's 0700 temp dir, util-vserver's 0700 /vservers barrier). */
    c->console_source = open_console_source(c);

    for (size_t i = 0; i < config->mount_count; i++)
        apply_mount(c, &config->mounts[i]);
    /* Everything from here on is beneath rootfd, or in the world-readable /dev, /sys and zoneinfo of the host;
     * a tmpfs mounted in the user namespace takes new files only from ids mapped into it. */
    if (config->extra_clone_flags & VS_CLONE_NEWUSER)
        become_root_inside(c);
    mount_proc(c);
    mount_sys(c);
    mount_dev(c);
    mask_paths(c);
    bind_timezone(c);
    if (config->hostname != NULL && sethostname(config->hostname, strlen(config->hostname)) < 0)
        fail_at(c, "sethostname", NULL, config->hostname, errno);

    /* The old root is stacked on "." and detached at once: no host path stays reachable. */
    if (vs_sys_pivot_root(".", ".") < 0)
        fail_at(c, "pivot_root", NULL, config->root, errno);
    if (umount2(".", MNT_DETACH) < 0)
        fail_at(c, "detach old root", NULL, config->root, errno);
    if (chdir("/") < 0)
        fail_at(c, "chdir /", NULL, config->root, errno);

    setup_stdio(c);
    set_rlimits(c);
    drop_capabilities(c);
    /* Every fd but 0-2 closes at exec (CVE-2024-21626); the error pipe and exec_fd still work until then. */
    if (vs_sys_close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        fail_at(c, "close fds", NULL, NULL, errno);
    if (c->hold)
        wait_for_parent(c, "wait for release");
    /* A cgroup namespace rooted where PID 1 now is (its scope under systemd, after the release): the guest sees
     * its own cgroup as "/" and nothing of the host's cgroup paths. */
    if (unshare(CLONE_NEWCGROUP) < 0)
        fail_at(c, "unshare cgroup namespace", NULL, NULL, errno);
    umask(saved_umask);
    /*
     * The stub init keeps every signal blocked across its exec: it blocks them all first thing anyway, and a
     * blocked signal is queued even for a namespace's PID 1, while one that arrives unblocked before its main()
     * meets SIG_DFL and is dropped. A stop right after a start then lost its SIGTERM and waited stop-timeout.
     */
    if (config->exec_fd < 0) {
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
    }

    /* exec_fd is CLOEXEC: fine for a (static) ELF, which the kernel has fully opened before it closes fds. */
    if (config->exec_fd >= 0)
        vs_sys_execveat(config->exec_fd, "", config->argv, config->envp, AT_EMPTY_PATH);
    else
        execve(config->argv[0], (char *const *)config->argv, (char *const *)config->envp);
    fail_at(c, "exec", NULL, config->argv[0], errno);
}

/* ---- The parent ---- */

static int set_error(struct vs_error *error, const char *step, const char *path, int err)
{
    return vs_set_error(error, step, NULL, path, err);
}

static ssize_t read_error(int fd, struct vs_error *record)
{
    return vs_read_error(fd, record);
}

/* The child's stack when it shares our memory; it needs ~25 KiB (three PATH_MAX buffers, one struct vs_error). */
#define VFORK_STACK_SIZE (256 * 1024)

static int vfork_child_main(void *arg)
{
    child_main(arg);
}

/*
 * clone with CLONE_VM|CLONE_VFORK, as posix_spawn does: the child runs in our memory on its own stack and this
 * thread sleeps until the child has exec'd or exited. A plain fork copies the page tables of the whole daemon
 * and exec then tears the copy down again; that was a third of a start (~0.3 ms, growing with the daemon's
 * memory). Safe for the same reason child_main is safe after a fork: it only makes syscalls and writes to its
 * own stack and to *c, which this sleeping thread owns. Its errno is our thread's (shared TLS): callers read
 * errno only when this returns -1.
 */
static long clone_vfork(const struct vs_clone_args *args, struct child *c, int *pidfd)
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
    pid = clone(vfork_child_main, stack + page + VFORK_STACK_SIZE,
                (int)args->flags | CLONE_VM | CLONE_VFORK | (int)args->exit_signal, c, pidfd);
    err = errno;
    munmap(stack, VFORK_STACK_SIZE + (size_t)page);
    errno = err;
    return pid;
}

/*
 * uid_map and gid_map of the child's new user namespace: 0..VS_ID_MAP_SIZE-1 inside are base.. outside. Only a
 * process with CAP_SETUID/CAP_SETGID over the parent namespace may map a range of other ids: this one, not the
 * child. setgroups stays "allow": the child drops its supplementary groups itself. Then one byte lets the child
 * go on (it buffers across our close when the start is not held).
 */
static int write_id_maps(struct vs_spawn_pending *pending, uint32_t base, struct vs_error *error)
{
    static const char *const files[] = {"uid_map", "gid_map"};
    char line[64] = "0 ", number[12], path[64];

    format_uint(number, base);
    append_str(line, sizeof line, number);
    append_str(line, sizeof line, " ");
    format_uint(number, VS_ID_MAP_SIZE);
    append_str(line, sizeof line, number);
    append_str(line, sizeof line, "\n");
    for (size_t i = 0; i < 2; i++) {
        int fd;

        path[0] = '\0';
        append_str(path, sizeof path, "/proc/");
        format_uint(number, (unsigned int)pending->pid);
        append_str(path, sizeof path, number);
        append_str(path, sizeof path, "/");
        append_str(path, sizeof path, files[i]);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            return set_error(error, "open", path, errno);
        if (write(fd, line, strlen(line)) != (ssize_t)strlen(line)) {
            int err = errno;

            close(fd);
            return set_error(error, "write", path, err);
        }
        close(fd);
    }
    if (send(pending->release_fd, "", 1, MSG_NOSIGNAL) != 1)
        return set_error(error, "tell the child its id maps are written", "", errno);
    return 0;
}

/*
 * A held child may wait a while: it keeps only the fds it needs. Otherwise it would hold the daemon's ends of other
 * held starts' release sockets (their abort, or the daemon's death, would reach them only after this exec) and
 * whatever else the daemon had open at the clone.
 */
static void close_all_but_needed(const struct child *c)
{
    int keep[4] = {c->error_fd, c->release_fd, c->config->console_fd, c->config->exec_fd};
    unsigned int next = 3;

    /* Ascending order, so that the gaps between them can be closed as ranges. */
    for (int i = 1; i < 4; i++)
        for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
            int swap = keep[j];

            keep[j] = keep[j - 1];
            keep[j - 1] = swap;
        }
    for (int i = 0; i < 4; i++) {
        if (keep[i] < (int)next)
            continue;
        if ((unsigned int)keep[i] > next)
            vs_sys_close_range(next, (unsigned int)keep[i] - 1, 0);
        next = (unsigned int)keep[i] + 1;
    }
    vs_sys_close_range(next, ~0U, 0);
}

/* Clones the child; with hold it waits before its exec on a socket whose other end goes to pending->release_fd. */
static int spawn_begin(const struct vs_spawn_config *config, int hold, struct vs_spawn_pending *pending,
                       struct vs_error *error)
{
    struct vs_clone_args args;
    struct child child;
    sigset_t all, saved_mask;
    int pipe_fds[2], release_fds[2] = {-1, -1}, pidfd = -1, clone_errno, last_cap;
    /* The child waits for us: for its id maps (user namespace) and, when held, before its exec. */
    int userns = (config->extra_clone_flags & VS_CLONE_NEWUSER) != 0, talks = hold || userns;
    long pid;

    memset(error, 0, sizeof *error);
    if (config->root == NULL || config->root[0] != '/' || config->root[strspn(config->root, "/")] == '\0')
        return set_error(error, "check root", config->root, EINVAL);
    if (config->extra_clone_flags & ~(VS_CLONE_NEWNET | VS_CLONE_NEWUSER))
        return set_error(error, "check clone flags", "", EINVAL);
    if (config->argv == NULL || config->argv[0] == NULL || config->envp == NULL)
        return set_error(error, "check argv", "", EINVAL);
    last_cap = vs_cap_last_cap();
    if (last_cap < 0)
        return set_error(error, "read cap_last_cap", "/proc/sys/kernel/cap_last_cap", errno);
    if (pipe2(pipe_fds, O_CLOEXEC) < 0)
        return set_error(error, "create error pipe", "", errno);
    /* A socket, not a pipe: the release is sent with MSG_NOSIGNAL, so a child that died first costs no SIGPIPE. */
    if (talks && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, release_fds) < 0) {
        clone_errno = errno;
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        return set_error(error, "create release socket", "", clone_errno);
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
    child.console_source = -1;
    child.release_fd = release_fds[1];
    child.hold = hold;

    memset(&args, 0, sizeof args);
    args.flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_PIDFD |
                 (uint64_t)(unsigned int)config->extra_clone_flags;
    args.pidfd = (uint64_t)(uintptr_t)&pidfd;
    args.exit_signal = SIGCHLD;

    /* The child starts with every signal blocked: a daemon handler (a copy of it) must never run there. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved_mask);
    if (talks) {
        /* A child that waits for us while we go on needs memory of its own. */
        pid = vs_sys_clone3(&args);
        if (pid == 0) {
            /* Among them our copy of the daemon's end, which would keep the socket open: end of file (abort, a
             * dead daemon) must reach wait_for_release at once. */
            close_all_but_needed(&child);
            child_main(&child);
        }
    } else {
        pid = clone_vfork(&args, &child, &pidfd);
    }
    clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &saved_mask, NULL);
    close(pipe_fds[1]);
    if (talks)
        close(release_fds[1]);
    if (pid < 0) {
        close(pipe_fds[0]);
        if (talks)
            close(release_fds[0]);
        return set_error(error, "clone3", config->root, clone_errno);
    }
    pending->pid = (pid_t)pid;
    pending->pidfd = pidfd;
    pending->error_fd = pipe_fds[0];
    pending->release_fd = release_fds[0];
    if (userns && write_id_maps(pending, config->id_map_base, error) < 0) {
        /* Without maps the child never gets its byte: the end of file makes it give up. */
        vs_spawn_abort(pending);
        return -1;
    }
    if (!hold && talks) {
        close(pending->release_fd);
        pending->release_fd = -1;
    }
    return 0;
}

/* Waits for the child's exec (end of file on the error pipe) or its error record, and reaps it on failure. */
static int spawn_finish(struct vs_spawn_pending *pending, struct vs_spawned *out, struct vs_error *error)
{
    struct vs_error record;
    int pidfd = pending->pidfd;
    ssize_t got;

    got = read_error(pending->error_fd, &record);
    close(pending->error_fd);
    if (got == 0) {
        out->pid = pending->pid;
        out->pidfd = pidfd;
        return 0;
    }
    if (got == (ssize_t)sizeof record) {
        record.step[sizeof record.step - 1] = '\0';
        record.path[sizeof record.path - 1] = '\0';
        *error = record;
        errno = record.err;
    } else {
        /* A torn record cannot come from our child; make sure it is gone before reaping it. */
        set_error(error, "read error pipe", "", got < 0 ? errno : EIO);
        vs_pidfd_send_signal(pidfd, SIGKILL);
    }
    {
        siginfo_t info;
        int saved = errno;

        while (waitid(P_PIDFD, (id_t)pidfd, &info, WEXITED) < 0 && errno == EINTR)
            ;
        close(pidfd);
        errno = saved;
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
    int exited, code;

    /* End of file instead of the byte: the child exits without running anything; reap it. */
    close(pending->release_fd);
    pending->release_fd = -1;
    if (spawn_finish(pending, &ignored, &error) == 0) {
        /* Cannot happen (no exec without the byte); never leave a guest nobody knows of. */
        vs_pidfd_send_signal(ignored.pidfd, SIGKILL);
        vs_pidfd_wait(ignored.pidfd, 0, &exited, &code);
        close(ignored.pidfd);
    }
    return 0;
}

int vs_spawn_release(struct vs_spawn_pending *pending, struct vs_spawned *out, struct vs_error *error)
{
    memset(error, 0, sizeof *error);
    /* A child that failed during setup is no longer reading: its error record is what counts, not this send. */
    (void)send(pending->release_fd, "", 1, MSG_NOSIGNAL);
    close(pending->release_fd);
    pending->release_fd = -1;
    return spawn_finish(pending, out, error);
}
