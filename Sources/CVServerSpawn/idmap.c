/*
 * vs_spawn's parent side of a user namespace (user = true): the child's uid_map and gid_map, and with idmap the
 * idmapped copies of the root and the bind sources, sent to the child over its channel. The parent does this because
 * only it may: mapping a range of the host's ids needs CAP_SETUID over the parent namespace, an idmapped mount
 * CAP_SYS_ADMIN over the file system. C because it is one half of the child's protocol (receive_id_maps in
 * spawn_child.c).
 */
#define _GNU_SOURCE
#include "spawn_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

/*
 * uid_map and gid_map of the child's new user namespace: 0..VS_ID_MAP_SIZE-1 inside are base.. outside. Only a
 * process with CAP_SETUID/CAP_SETGID over the parent namespace may map a range of other ids: this one, not the
 * child. setgroups stays "allow": the child drops its supplementary groups itself.
 */
int vs_write_id_maps(const struct vs_spawn_pending *pending, uint32_t base, struct vs_error *error)
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

        vs_proc_path(path, pending->pid, files[i]);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            return vs_set_error(error, "open", NULL, path, errno);
        if (write(fd, line, strlen(line)) != (ssize_t)strlen(line)) {
            int err = errno;

            close(fd);
            return vs_set_error(error, "write", NULL, path, err);
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
    int tree, err, dir = vs_open_host_path(path, 0);

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
 * With idmap: the root and each bind source idmapped with the child's user namespace (receive_id_maps in
 * spawn_child.c says how they travel). A root that cannot be idmapped is bound plainly, and pending->idmap_error says
 * why; so is a bind source (a file system the guest then sees with the host's ids, as before idmapped mounts).
 */
int vs_send_id_maps(const struct vs_spawn_config *config, struct vs_spawn_pending *pending, struct vs_error *error)
{
    char payload[1 + MAX_IDMAPPED_BINDS], path[64];
    int fds[1 + MAX_IDMAPPED_BINDS];
    size_t size = 1, nfds = 0;
    int userns_fd = -1, r;

    memset(payload, 0, sizeof payload);
    if (config->idmap) {
        vs_proc_path(path, pending->pid, "ns/user");
        userns_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (userns_fd < 0)
            return vs_set_error(error, "open", NULL, path, errno);
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
        vs_set_error(error, "send id maps to the child", NULL, "", errno);
    for (size_t i = 0; i < nfds; i++)
        close(fds[i]);
    return r;
}
