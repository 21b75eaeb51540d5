/*
 * The spawn child's file system, between clone and exec: host paths opened without symlinks, paths inside the root
 * resolved (and created) beneath it, mount attributes, the root's own mount, the [[mount]] and fstab entries, /run
 * and the timezone. Every target is opened with openat2 beneath the root, so a guest's symlink cannot lead a mount
 * out of it (docs/ARCHITECTURE.md §7). C because it runs in the child of vs_spawn: only syscalls (spawn.c says why).
 */
#define _GNU_SOURCE
#include "spawn_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- Host paths ---- */

/*
 * A host path the config names (the root, a bind source), opened O_PATH without following any symlink on the way
 * (docs/ARCHITECTURE.md §7). It is resolved again at every start, and a directory on the way may be writable by a
 * guest (a source inside another vserver's tree): a symlink planted there would mount whatever it points to, the
 * host's "/" included. ELOOP names such a path; the admin writes the real one.
 */
int vs_open_host_path(const char *path, int flags)
{
    return vs_sys_openat2(AT_FDCWD, path, (uint64_t)(flags | O_PATH | O_CLOEXEC), RESOLVE_NO_SYMLINKS);
}

/* ---- Resolving inside the root ---- */

int vs_open_beneath(int rootfd, const char *path, uint64_t flags)
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
int vs_open_or_create(int rootfd, const char *path, enum create_kind create)
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

        fd = vs_open_beneath(rootfd, buf, 0);
        if (fd >= 0 || errno != ENOENT || create == CREATE_NONE)
            return fd;

        parent = vs_open_beneath(rootfd, "/", O_DIRECTORY);
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
            fd = vs_open_beneath(rootfd, buf, 0);
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
                fd = vs_open_beneath(rootfd, buf, 0);
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
void vs_mount_attr_from_flags(unsigned long flags, struct mount_attr *attr)
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
void vs_set_mount_attr(const struct child *c, const char *inside, struct mount_attr *attr, int recursive,
                       const char *step_a, const char *step_b)
{
    int fd;

    if (attr->attr_set == 0 && attr->attr_clr == 0 && attr->propagation == 0)
        return;
    fd = vs_open_beneath(c->rootfd, inside, 0);
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

/* Mounts a fresh filesystem on a directory inside the root, creating the directory if it is missing. */
void vs_mount_fresh(const struct child *c, const char *inside, const char *fstype, unsigned long flags,
                    const char *data, const char *step)
{
    char target[VS_FD_PATH_SIZE];
    int fd = vs_open_or_create(c->rootfd, inside, CREATE_DIR);

    if (fd < 0)
        fail_in_root(c, "resolve mount target", NULL, inside, errno);
    vs_fd_path(target, fd);
    if (mount(fstype, target, fstype, flags, data) < 0)
        fail_in_root(c, step, NULL, inside, errno);
    close(fd);
}

/* Binds the object behind source_fd onto the one behind target_fd (both opened in this mount namespace). */
void vs_bind_fds(const struct child *c, int source_fd, int target_fd, const char *step, const char *inside)
{
    char source[VS_FD_PATH_SIZE], target[VS_FD_PATH_SIZE];

    vs_fd_path(source, source_fd);
    vs_fd_path(target, target_fd);
    if (mount(source, target, NULL, MS_BIND, NULL) < 0)
        fail_in_root(c, step, NULL, inside, errno);
}

/* ---- The root, the [[mount]] entries, /run and the timezone ---- */

/*
 * The guest's root as a mount point (pivot_root needs one): a recursive copy of it (or its idmapped copy from the
 * parent) attached onto the directory, which is opened once, without symlinks; everything after goes through the
 * copy's fd, never the path again.
 */
void vs_mount_root(struct child *c)
{
    const char *root = c->config->root;
    struct mount_attr attr;
    int dir, tree = c->idmapped_root;

    dir = vs_open_host_path(root, O_DIRECTORY);
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
 * The sources of the bind mounts, opened while this is still the host's root (with a user namespace, the vserver's
 * root may not search their directories: a 0700 temp dir, util-vserver's 0700 /vservers barrier), in the child's
 * mount namespace: bind mount refuses a source from another namespace (EINVAL). An idmapped copy from the parent is
 * detached, and may be attached anywhere.
 */
void vs_open_bind_sources(struct child *c)
{
    for (size_t i = 0; i < c->config->mount_count && i < MAX_IDMAPPED_BINDS; i++) {
        const struct vs_mount *m = &c->config->mounts[i];

        if (!(m->flags & MS_BIND) || c->bind_sources[i] >= 0)
            continue;
        c->bind_sources[i] = vs_open_host_path(m->source, 0);
        if (c->bind_sources[i] < 0)
            fail_at(c, "open bind source", NULL, m->source, errno);
    }
}

/* One [[mount]] or fstab entry; index is its place in config->mounts. */
void vs_apply_mount(const struct child *c, size_t index)
{
    const struct vs_mount *m = &c->config->mounts[index];
    int ahead = index < MAX_IDMAPPED_BINDS, idmapped = ahead && c->bind_is_tree[index];
    enum create_kind create = CREATE_DIR;
    char source[VS_FD_PATH_SIZE], target[VS_FD_PATH_SIZE];
    struct mount_attr attr;
    int source_fd = -1, target_fd;

    vs_mount_attr_from_flags(m->flags, &attr);
    if (m->flags & MS_BIND) {
        struct stat st;

        /* Knowing its type tells whether the target must be a directory or a file. */
        source_fd = ahead ? c->bind_sources[index] : vs_open_host_path(m->source, 0);
        if (source_fd < 0 || fstat(source_fd, &st) < 0)
            fail_at(c, "open bind source", NULL, m->source, errno);
        if (!S_ISDIR(st.st_mode))
            create = CREATE_FILE;
    }
    target_fd = vs_open_or_create(c->rootfd, m->target, create);
    if (target_fd < 0)
        fail_in_root(c, "resolve mount target", NULL, m->target, errno);
    vs_fd_path(target, target_fd);

    if (idmapped) {
        if (attach_tree(source_fd, target_fd) < 0)
            fail_in_root(c, "attach idmapped bind mount", NULL, m->target, errno);
        close(source_fd);
        /* As for the root: the copy may be a shared peer of the host's mount; it must only receive. */
        if (attr.propagation == 0)
            attr.propagation = MS_SLAVE;
    } else if (m->flags & MS_BIND) {
        vs_fd_path(source, source_fd);
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
    vs_set_mount_attr(c, m->target, &attr, (m->flags & MS_REC) != 0, "set mount options", NULL);
}

/* /run and /run/lock as systemd's container interface asks (and Debian's initscripts, which mount them when they
 * are not yet): fresh tmpfs, as nspawn mounts them. */
void vs_mount_run(const struct child *c)
{
    vs_mount_fresh(c, "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=20%,nr_inodes=800k", "mount /run");
    vs_mount_fresh(c, "/run/lock", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=5120k",
                   "mount /run/lock");
}

/* The host's zoneinfo file on /etc/localtime, read-only. */
void vs_bind_timezone(const struct child *c)
{
    struct mount_attr attr;
    int source_fd, fd;

    if (c->config->timezone_file == NULL)
        return;
    source_fd = open(c->config->timezone_file, O_PATH | O_CLOEXEC);
    if (source_fd < 0)
        fail_at(c, "open timezone file", NULL, c->config->timezone_file, errno);
    /* A guest without /etc has no use for /etc/localtime; do not invent one. */
    fd = vs_open_beneath(c->rootfd, "/etc", O_DIRECTORY);
    if (fd < 0 && errno == ENOENT) {
        close(source_fd);
        return;
    }
    if (fd < 0)
        fail_in_root(c, "resolve mount target", NULL, "/etc", errno);
    close(fd);
    /* Follows a guest's /etc/localtime symlink within the root, like every other target. */
    fd = vs_open_or_create(c->rootfd, "/etc/localtime", CREATE_FILE);
    if (fd < 0)
        fail_in_root(c, "resolve mount target", NULL, "/etc/localtime", errno);
    vs_bind_fds(c, source_fd, fd, "bind timezone", "/etc/localtime");
    close(fd);
    close(source_fd);
    vs_mount_attr_from_flags(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, &attr);
    vs_set_mount_attr(c, "/etc/localtime", &attr, 0, "make read-only /etc/localtime", NULL);
}
