/*
 * vs_spawn: clone3 into new namespaces, build the vserver's mounts, pivot_root and exec its PID 1
 * (docs/ARCHITECTURE.md §4 step 3, §7).
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
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

/* What open_in_root creates when the path is missing. */
enum create_kind { CREATE_NONE, CREATE_DIR, CREATE_FILE };

/* At most this many bind sources are opened ahead, and idmapped (one SCM_RIGHTS message carries 253 fds, one is the
 * root's); later ones are opened when they are mounted. */
#define MAX_IDMAPPED_BINDS 250

/* State of the child between clone and exec. */
struct child {
    const struct vs_spawn_config *config;
    int error_fd;       /* write end of the error pipe */
    int last_cap;       /* from the parent: reading /proc here would need buffers we do not want */
    size_t root_len;    /* config->root without trailing slashes, for host paths in errors */
    int rootfd;         /* O_PATH fd of the bind-mounted root: every target is resolved beneath it */
    int devnull_fd;     /* O_PATH fd of the new /dev/null, bound over masked files */
    int console_slave;  /* the slave of the console pty: /dev/console, stdout and stderr of PID 1 (pty mode) */
    int channel;        /* socket to the parent: id maps (+ idmapped mounts), release in; console master out */
    int hold;           /* vs_spawn_hold: wait for a byte on the channel before exec */
    int cgroup_mount;   /* VS_CGROUP_*: config->cgroup_mount, or what the release said */
    int idmapped_root;  /* idmapped detached copy of the root from the parent, or -1: plain bind */
    int bind_sources[MAX_IDMAPPED_BINDS];  /* the source of config->mounts[i] (a bind mount), or -1 */
    char bind_is_tree[MAX_IDMAPPED_BINDS]; /* ... an idmapped detached copy from the parent, not an O_PATH fd */
    struct vs_filter filter; /* the seccomp program, assembled by the parent */
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

/* ---- Host paths ---- */

/*
 * A host path the config names (the root, a bind source), opened O_PATH without following any symlink on the way
 * (docs/ARCHITECTURE.md §7). It is resolved again at every start, and a directory on the way may be writable by a
 * guest (a source inside another vserver's tree): a symlink planted there would mount whatever it points to, the
 * host's "/" included. ELOOP names such a path; the admin writes the real one.
 */
static int open_host_path(const char *path, int flags)
{
    return vs_sys_openat2(AT_FDCWD, path, (uint64_t)(flags | O_PATH | O_CLOEXEC), RESOLVE_NO_SYMLINKS);
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

/* Attaches a detached mount (open_tree) onto the object behind target_fd. */
static int attach_tree(int tree_fd, int target_fd)
{
    return vs_sys_move_mount(tree_fd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
}

/*
 * The sources of the bind mounts, opened while this is still the host's root (with a user namespace, the vserver's
 * root may not search their directories: a 0700 temp dir, util-vserver's 0700 /vservers barrier), in the child's
 * mount namespace: bind mount refuses a source from another namespace (EINVAL). An idmapped copy from the parent is
 * detached, and may be attached anywhere.
 */
static void open_bind_sources(struct child *c)
{
    for (size_t i = 0; i < c->config->mount_count && i < MAX_IDMAPPED_BINDS; i++) {
        const struct vs_mount *m = &c->config->mounts[i];

        if (!(m->flags & MS_BIND) || c->bind_sources[i] >= 0)
            continue;
        c->bind_sources[i] = open_host_path(m->source, 0);
        if (c->bind_sources[i] < 0)
            fail_at(c, "open bind source", NULL, m->source, errno);
    }
}

/* One [[mount]] or fstab entry; index is its place in config->mounts. */
static void apply_mount(const struct child *c, size_t index)
{
    const struct vs_mount *m = &c->config->mounts[index];
    int ahead = index < MAX_IDMAPPED_BINDS, idmapped = ahead && c->bind_is_tree[index];
    enum create_kind create = CREATE_DIR;
    char source[FD_PATH_SIZE], target[FD_PATH_SIZE];
    struct mount_attr attr;
    int source_fd = -1, target_fd;

    mount_attr_from_flags(m->flags, &attr);
    if (m->flags & MS_BIND) {
        struct stat st;

        /* Knowing its type tells whether the target must be a directory or a file. */
        source_fd = ahead ? c->bind_sources[index] : open_host_path(m->source, 0);
        if (source_fd < 0 || fstat(source_fd, &st) < 0)
            fail_at(c, "open bind source", NULL, m->source, errno);
        if (!S_ISDIR(st.st_mode))
            create = CREATE_FILE;
    }
    target_fd = open_in_root(c->rootfd, m->target, create);
    if (target_fd < 0)
        fail_in_root(c, "resolve mount target", NULL, m->target, errno);
    fd_path(target, target_fd);

    if (idmapped) {
        if (attach_tree(source_fd, target_fd) < 0)
            fail_in_root(c, "attach idmapped bind mount", NULL, m->target, errno);
        close(source_fd);
        /* As for the root: the copy may be a shared peer of the host's mount; it must only receive. */
        if (attr.propagation == 0)
            attr.propagation = MS_SLAVE;
    } else if (m->flags & MS_BIND) {
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
static const char *const proc_readonly_paths[] = {
    "/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs",
};

/* Paths hidden from the guest: runc's maskedPaths (files get /dev/null, directories an empty tmpfs); what this
 * kernel does not have is skipped. */
static const char *const masked_paths[] = {
    "/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/latency_stats",
    "/proc/acpi", "/proc/asound", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
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
    bind_fds(c, *slave, fd, "bind pty on /dev/", name);
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
    bind_fds(c, c->devnull_fd, fd, "bind /dev/console", "/dev/console");
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
    masters[0] = new_console_pty(c, devfd);
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

static void mount_dev(struct child *c)
{
    int devfd;

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

    open_console_ptys(c, devfd);
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

/* fd 0 is /dev/null, 1 and 2 the console's pty (or /dev/null). Sources are first moved above 2 so that none is
 * overwritten before use, and dup2 onto a different fd clears CLOEXEC. */
static void setup_stdio(const struct child *c)
{
    int null_fd, out_fd = c->console_slave;

    null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd >= 0 && null_fd < 3)
        null_fd = fcntl(null_fd, F_DUPFD_CLOEXEC, 3);
    if (null_fd < 0)
        fail_in_root(c, "open /dev/null", NULL, "/dev/null", errno);
    if (out_fd < 0)
        out_fd = null_fd;  /* no pty was left for the console */
    if (out_fd < 3)
        out_fd = fcntl(out_fd, F_DUPFD_CLOEXEC, 3);
    if (out_fd < 0)
        fail_at(c, "dup console", NULL, NULL, errno);
    if (dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)
        fail_at(c, "dup stdio", NULL, NULL, errno);
}

/* /run and /run/lock as systemd's container interface asks (and Debian's initscripts, which mount them when they
 * are not yet): fresh tmpfs, as nspawn mounts them. */
static void mount_run(const struct child *c)
{
    mount_fresh(c, "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=20%,nr_inodes=800k", "mount /run");
    mount_fresh(c, "/run/lock", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=5120k",
                "mount /run/lock");
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

/* A session keyring of its own and the seccomp filter (seccomp.c), last: nothing of the setup may meet the filter. */
static void confine(const struct child *c)
{
    struct vs_error e;

    if (vs_child_confine(&c->filter, &e) < 0)
        vs_child_report(c->error_fd, &e);
}

/* ---- The child ---- */

/*
 * Waits for one message from the parent on the channel (a byte, or more with fds attached). End of file means the
 * daemon is gone (or aborted the start), and nobody would manage this guest: give up quietly. Returns the number
 * of payload bytes; *nfds the fds received (CLOEXEC) into fds.
 */
static size_t receive_from_parent(const struct child *c, const char *step, char *payload, size_t size, int *fds,
                                  size_t max_fds, size_t *nfds)
{
    struct pollfd pfd = {.fd = c->channel, .events = POLLIN};
    ssize_t n;
    int ready;

    do
        ready = poll(&pfd, 1, VS_SPAWN_HOLD_TIMEOUT_MS);
    while (ready < 0 && errno == EINTR);
    if (ready < 0)
        fail_at(c, step, NULL, NULL, errno);
    if (ready == 0)
        fail_at(c, step, NULL, NULL, ETIMEDOUT);
    n = vs_receive_fds(c->channel, payload, size, fds, max_fds, nfds, 0);
    if (n < 0)
        fail_at(c, step, NULL, NULL, errno);
    if (n == 0)
        fail_at(c, step, NULL, NULL, ECANCELED);
    return (size_t)n;
}

/*
 * user = true: the parent has written uid_map and gid_map (only it may map a range of the host's ids) and, with
 * idmap, made the idmapped copies of the root and the bind sources (only it has CAP_SYS_ADMIN over their file
 * systems). payload[0] says whether the root's copy is attached, payload[1 + i] whether bind mount i's is; the fds
 * come in that order.
 */
static void receive_id_maps(struct child *c)
{
    char payload[1 + MAX_IDMAPPED_BINDS];
    int fds[1 + MAX_IDMAPPED_BINDS];
    size_t n, nfds, next = 0;

    n = receive_from_parent(c, "wait for id maps", payload, sizeof payload, fds, 1 + MAX_IDMAPPED_BINDS, &nfds);
    for (size_t i = 0; i < n; i++) {
        int fd = -1;

        if (payload[i] && next < nfds)
            fd = fds[next++];
        if (i == 0) {
            c->idmapped_root = fd;
        } else if (i - 1 < c->config->mount_count && fd >= 0) {
            c->bind_sources[i - 1] = fd;
            c->bind_is_tree[i - 1] = 1;
        }
    }
}

/* vs_spawn_hold: everything is set up, nothing of the guest has run; one byte lets it go on, and says what to mount on
 * /sys/fs/cgroup (VS_CGROUP_*). */
static void wait_for_release(struct child *c)
{
    char byte;
    size_t nfds;

    receive_from_parent(c, "wait for release", &byte, 1, NULL, 0, &nfds);
    c->cgroup_mount = byte;
}

/* From the host's root, unmapped until now, to root of the new user namespace: every capability in it and none
 * outside. */
static void become_root_inside(const struct child *c)
{
    struct vs_error e;

    if (vs_child_become_root(&e) < 0)
        vs_child_report(c->error_fd, &e);
}

/*
 * The guest's root as a mount point (pivot_root needs one): a recursive copy of it (or its idmapped copy from the
 * parent) attached onto the directory, which is opened once, without symlinks; everything after goes through the
 * copy's fd, never the path again.
 */
static void mount_root(struct child *c)
{
    const char *root = c->config->root;
    struct mount_attr attr;
    int dir, tree = c->idmapped_root;

    dir = open_host_path(root, O_DIRECTORY);
    if (dir < 0)
        fail_at(c, "open root", NULL, root, errno);
    if (tree < 0) {
        tree = vs_sys_open_tree(dir, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
        if (tree < 0)
            fail_at(c, "bind root", NULL, root, errno);
    }
    if (attach_tree(tree, dir) < 0)
        fail_at(c, c->idmapped_root >= 0 ? "attach idmapped root" : "bind root", NULL, root, errno);
    close(dir);
    /* An idmapped copy kept the propagation of the host's mount: shared on a host whose mounts systemd made shared.
     * Like the rest of this namespace it must only receive: no mount below it may reach the host, and pivot_root
     * refuses a shared root. */
    memset(&attr, 0, sizeof attr);
    attr.propagation = MS_SLAVE;
    if (vs_sys_mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr) < 0)
        fail_at(c, "make root rslave", NULL, root, errno);
    /* The fd of the copy is the root of the mount now attached: every target is resolved beneath it. */
    c->rootfd = tree;
    if (fchdir(c->rootfd) < 0)
        fail_at(c, "chdir root", NULL, root, errno);
}

/*
 * After the release (under systemd PID 1 is in its scope by then): a cgroup namespace rooted where PID 1 is, so
 * that the guest sees its own cgroup as "/" and nothing of the host's cgroup paths, and its cgroup2 mounted there
 * for an init that manages cgroups (systemd). The old /sys/fs/cgroup (the host's, when /sys is bound) is covered.
 */
static void enter_cgroup_namespace(const struct child *c)
{
    unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RELATIME;

    if (unshare(CLONE_NEWCGROUP) < 0)
        fail_at(c, "unshare cgroup namespace", NULL, NULL, errno);
    if (c->cgroup_mount == VS_CGROUP_NONE)
        return;
    if (c->cgroup_mount == VS_CGROUP_READ_ONLY)
        flags |= MS_RDONLY;
    if (mount("cgroup2", "/sys/fs/cgroup", "cgroup2", flags, NULL) < 0)
        fail_in_root(c, "mount cgroup2", NULL, "/sys/fs/cgroup", errno);
}

/* "/dev/console" for 0, "/dev/ttyN" for N. */
static void console_path(char out[32], int n)
{
    char name[16] = "console";

    if (n > 0)
        vs_tty_name(name, n);
    out[0] = '\0';
    append_str(out, 32, "/dev/");
    append_str(out, 32, name);
}

/*
 * The console and ttys stay out of the lock: vs_console_attach replaces their binds when a new vserverd gives the
 * guest new ptys, and under each is only the empty file made for it. Detached copies of their binds are taken out of
 * the namespace before it is copied (trees[n], -1 for a tty that has none) and put back into the copy after.
 */
static void detach_consoles(const struct child *c, int trees[1 + VS_MAX_TTYS], int count)
{
    for (int n = 0; n <= count; n++) {
        char path[32];

        console_path(path, n);
        trees[n] = vs_sys_open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
        if (trees[n] < 0 && errno == ENOENT && n > 0)
            continue;  /* no pty was left for this tty */
        if (trees[n] < 0)
            fail_in_root(c, "copy the bind of ", path, path, errno);
        if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
            fail_in_root(c, "unmount ", path, path, errno);
    }
}

static void attach_consoles(const struct child *c, const int trees[1 + VS_MAX_TTYS], int count)
{
    for (int n = 0; n <= count; n++) {
        char path[32];

        if (trees[n] < 0)
            continue;
        console_path(path, n);
        if (vs_sys_move_mount(trees[n], "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) < 0)
            fail_in_root(c, "bind again ", path, path, errno);
        close(trees[n]);
    }
}

/*
 * user = true: the guest's root has CAP_SYS_ADMIN over a mount namespace its own user namespace owns, so it could
 * unmount a mask, remount /proc/sys read-write or mount a proc without masks. The kernel locks every mount but the
 * top one (MNT_LOCKED: no umount, no move; MNT_LOCK_READONLY ...) when it copies a mount namespace into one owned by
 * another user namespace, and copies keep the locks. So a helper is cloned into a user namespace of its own (a child
 * of the guest's, owned by the guest's root, who has every capability in it) with a copy of this mount namespace:
 * PID 1 moves into that copy, which setns makes its root and cwd, and the helper is killed. Nothing holds the old
 * namespace after that: the guest has no unlocked copy to go back to. The helper runs no code but pause(); a plain
 * fork, as PID 1 itself is one (a guest with a user namespace never takes the vfork path, see spawn_begin).
 */
static void lock_mounts(const struct child *c)
{
    static const char step[] = "lock the guest's mounts";
    struct vs_clone_args args;
    int trees[1 + VS_MAX_TTYS], pidfd = -1, err = 0, status;
    int ttys = c->config->tty_count < VS_MAX_TTYS ? c->config->tty_count : VS_MAX_TTYS;
    long pid;

    detach_consoles(c, trees, ttys);
    memset(&args, 0, sizeof args);
    args.flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_PIDFD;
    args.pidfd = (uint64_t)(uintptr_t)&pidfd;
    /* No SIGCHLD: it would still be pending, blocked, when init starts. */
    args.exit_signal = 0;
    /* setns by pidfd needs ptrace access to the helper. Its memory (a copy of ours) is the initial user
     * namespace's, and not dumpable since we became root inside: only a dumpable copy lets us in. It is made
     * dumpable here and we are not any more right after; nothing of the guest runs yet that could trace either. */
    if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
        fail_at(c, step, ": prctl", NULL, errno);
    pid = vs_sys_clone3(&args);
    if (pid == 0) {
        /* Every signal is blocked: only the SIGKILL below ends this. Nothing else, not even the prctl below: made
         * non-dumpable before our setns, it would refuse it. */
        for (;;)
            pause();
    }
    err = errno;
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (pid < 0)
        fail_at(c, step, ": clone3", NULL, err);
    err = setns(pidfd, CLONE_NEWNS) < 0 ? errno : 0;
    kill((pid_t)pid, SIGKILL);
    while (waitpid((pid_t)pid, &status, __WALL) < 0 && errno == EINTR)
        ;
    close(pidfd);
    if (err != 0)
        fail_at(c, step, ": setns", NULL, err);
    /* setns made the copy's root our root and cwd; "/" is the guest's root, as after pivot_root. */
    if (chdir("/") < 0)
        fail_at(c, "chdir /", NULL, c->config->root, errno);
    attach_consoles(c, trees, ttys);
}

static _Noreturn void child_main(struct child *c)
{
    const struct vs_spawn_config *config = c->config;
    int userns = (config->extra_clone_flags & VS_CLONE_NEWUSER) != 0;
    sigset_t none;
    mode_t saved_umask;

    /* Its pids limit before anything else: nothing it forks later escapes it (CLONE_INTO_CGROUP reaches cgroup2
     * only). */
    if (config->pids_tasks_fd >= 0 && write(config->pids_tasks_fd, "0", 1) != 1)
        fail_at(c, "join the pids cgroup", NULL, NULL, errno);
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
    if (userns)
        receive_id_maps(c);
    mount_root(c);
    /* Host paths (bind sources) are opened while this is still the host's root: with a user
     * namespace, the root of the vserver may not search their directories (a 0700 temp dir, util-vserver's 0700
     * /vservers barrier). */
    open_bind_sources(c);
    /* Everything from here on is beneath rootfd, or in the world-readable /dev, /sys and zoneinfo of the host.
     * Made as root inside: a tmpfs mounted in the user namespace takes new files only from ids mapped into it, and
     * an idmapped root only from ids its mapping has (a missing mount target is made as the guest's root). */
    if (userns)
        become_root_inside(c);
    for (size_t i = 0; i < config->mount_count; i++)
        apply_mount(c, i);
    mount_proc(c);
    mount_sys(c);
    if (config->mount_run)
        mount_run(c);
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
    if (userns && !config->nesting)
        lock_mounts(c);

    setup_stdio(c);
    set_rlimits(c);
    drop_capabilities(c);
    /* Every fd but 0-2 closes at exec (CVE-2024-21626); the error pipe and exec_fd still work until then. */
    if (vs_sys_close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        fail_at(c, "close fds", NULL, NULL, errno);
    if (c->hold)
        wait_for_release(c);
    enter_cgroup_namespace(c);
    confine(c);
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

/* clone3.S */
long vs_clone3_call(struct vs_clone_args *args, size_t size, int (*fn)(void *), void *arg);

/*
 * clone3 with CLONE_VM|CLONE_VFORK, as posix_spawn does: the child runs in our memory on its own stack and this
 * thread sleeps until the child has exec'd or exited. A plain fork copies the page tables of the whole daemon
 * and exec then tears the copy down again; that was a third of a start (~0.3 ms, growing with the daemon's
 * memory). clone3 rather than glibc's clone(): CLONE_INTO_CGROUP starts the child in its cgroup, where moving it
 * there afterwards would wait for an RCU grace period (the cgroup's migration lock), milliseconds of every start.
 * Safe for the same reason child_main is safe after a fork: it only makes syscalls and writes to its own stack and
 * to *c, which this sleeping thread owns. Its errno is our thread's (shared TLS): callers read errno only when this
 * returns -1.
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

/* "/proc/PID/NAME" into out (64 bytes). */
static void proc_path(char out[64], pid_t pid, const char *name)
{
    char number[12];

    out[0] = '\0';
    append_str(out, 64, "/proc/");
    format_uint(number, (unsigned int)pid);
    append_str(out, 64, number);
    append_str(out, 64, "/");
    append_str(out, 64, name);
}

/*
 * uid_map and gid_map of the child's new user namespace: 0..VS_ID_MAP_SIZE-1 inside are base.. outside. Only a
 * process with CAP_SETUID/CAP_SETGID over the parent namespace may map a range of other ids: this one, not the
 * child. setgroups stays "allow": the child drops its supplementary groups itself.
 */
static int write_id_maps(const struct vs_spawn_pending *pending, uint32_t base, struct vs_error *error)
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

        proc_path(path, pending->pid, files[i]);
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
    return 0;
}

/*
 * A detached copy of the mount tree at path, idmapped with the user namespace behind userns_fd: a file the tree
 * gives to uid N shows as the namespace's N, and what the namespace's N creates lands on disk as N. Only a process
 * with CAP_SYS_ADMIN over the file system may make one: this one, not the child. path is opened without symlinks, as
 * the child would. -1 with errno (EINVAL: the file system cannot be idmapped; ELOOP: a symlink on the way).
 */
static int idmapped_tree(const char *path, int recursive, int userns_fd)
{
    struct mount_attr attr;
    int tree, err, dir = open_host_path(path, 0);

    if (dir < 0)
        return -1;
    tree = vs_sys_open_tree(dir, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH |
                                         (recursive ? AT_RECURSIVE : 0));
    err = errno;
    close(dir);
    errno = err;
    if (tree < 0)
        return -1;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = MOUNT_ATTR_IDMAP;
    attr.userns_fd = (uint64_t)userns_fd;
    if (vs_sys_mount_setattr(tree, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr) < 0) {
        err = errno;
        close(tree);
        errno = err;
        return -1;
    }
    return tree;
}

/*
 * With idmap: the root and each bind source idmapped with the child's user namespace (receive_id_maps says how they
 * travel). A root that cannot be idmapped is bound plainly, and pending->idmap_error says why; so is a bind source
 * (a file system the guest then sees with the host's ids, as before idmapped mounts).
 */
static int send_id_maps(const struct vs_spawn_config *config, struct vs_spawn_pending *pending,
                        struct vs_error *error)
{
    char payload[1 + MAX_IDMAPPED_BINDS], path[64];
    int fds[1 + MAX_IDMAPPED_BINDS];
    size_t size = 1, nfds = 0;
    int userns_fd = -1, r;

    memset(payload, 0, sizeof payload);
    if (config->idmap) {
        proc_path(path, pending->pid, "ns/user");
        userns_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (userns_fd < 0)
            return set_error(error, "open", path, errno);
        fds[nfds] = idmapped_tree(config->root, 1, userns_fd);
        if (fds[nfds] >= 0) {
            payload[0] = 1;
            nfds++;
        } else {
            pending->idmap_error = errno;
        }
        if (pending->idmap_error == 0)
            size = 1 + (config->mount_count < MAX_IDMAPPED_BINDS ? config->mount_count : MAX_IDMAPPED_BINDS);
        for (size_t i = 0; i + 1 < size; i++) {
            const struct vs_mount *m = &config->mounts[i];

            if (!(m->flags & MS_BIND))
                continue;
            fds[nfds] = idmapped_tree(m->source, (m->flags & MS_REC) != 0, userns_fd);
            if (fds[nfds] >= 0) {
                payload[1 + i] = 1;
                nfds++;
            }
        }
        close(userns_fd);
    }
    r = vs_send_fds(pending->channel_fd, payload, size, fds, nfds);
    if (r < 0)
        set_error(error, "send id maps to the child", "", errno);
    for (size_t i = 0; i < nfds; i++)
        close(fds[i]);
    return r;
}

/*
 * A held child may wait a while: it keeps only the fds it needs. Otherwise it would hold the daemon's ends of other
 * held starts' channels (their abort, or the daemon's death, would reach them only after this exec) and whatever
 * else the daemon had open at the clone.
 */
static void close_all_but_needed(const struct child *c)
{
    int keep[4] = {c->error_fd, c->channel, c->config->exec_fd, c->config->pids_tasks_fd};
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

/* Clones the child; with hold it waits before its exec for a byte on the channel (pending->channel_fd). */
static int spawn_begin(const struct vs_spawn_config *config, int hold, struct vs_spawn_pending *pending,
                       struct vs_error *error)
{
    struct vs_clone_args args;
    struct child child;
    sigset_t all, saved_mask;
    int pipe_fds[2], channel_fds[2], pidfd = -1, clone_errno, last_cap;
    /* The child waits for us: for its id maps (user namespace) and, when held, before its exec. */
    int userns = (config->extra_clone_flags & VS_CLONE_NEWUSER) != 0, waits = hold || userns;
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
    /* A socket, not a pipe: messages are sent with MSG_NOSIGNAL, so a child that died first costs no SIGPIPE; fds
     * travel both ways; SEQPACKET keeps each message whole. */
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel_fds) < 0) {
        clone_errno = errno;
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        return set_error(error, "create channel", "", clone_errno);
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
            close_all_but_needed(&child);
            child_main(&child);
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
        return set_error(error, "clone3", config->root, clone_errno);
    }
    pending->config = config;
    pending->pid = (pid_t)pid;
    pending->pidfd = pidfd;
    pending->error_fd = pipe_fds[0];
    pending->channel_fd = channel_fds[0];
    pending->idmap_error = 0;
    if (userns &&
        (write_id_maps(pending, config->id_map_base, error) < 0 || send_id_maps(config, pending, error) < 0)) {
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

/* Kills (when kill) and reaps a child that will not become a guest; errno is kept. */
static void reap(int pidfd, int kill)
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

/* Waits for the child's exec (end of file on the error pipe) or its error record, and reaps it on failure. */
static int spawn_finish(struct vs_spawn_pending *pending, struct vs_spawned *out, struct vs_error *error)
{
    const struct vs_spawn_config *config = pending->config;
    struct vs_error record;
    int pidfd = pending->pidfd;
    ssize_t got;

    got = read_error(pending->error_fd, &record);
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
            set_error(error, "receive console", "", errno);
            reap(pidfd, 1);
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
        record.step[sizeof record.step - 1] = '\0';
        record.path[sizeof record.path - 1] = '\0';
        *error = record;
        errno = record.err;
        reap(pidfd, 0);
    } else {
        /* A torn record cannot come from our child; make sure it is gone before reaping it. */
        set_error(error, "read error pipe", "", got < 0 ? errno : EIO);
        reap(pidfd, 1);
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
        reap(ignored.pidfd, 1);
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
