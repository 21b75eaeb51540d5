/*
 * What the files of vs_spawn share (spawn.c and idmap.c in the parent; spawn_child.c and rootfs_*.c in the child
 * between clone and exec): the child's state and the steps one file calls in another. Private to CVServerSpawn: it
 * is not in include/, so Swift never sees it. C for the reason spawn.c gives: the child may only make syscalls.
 */
#ifndef VS_SPAWN_INTERNAL_H
#define VS_SPAWN_INTERNAL_H

#include "vserver_spawn.h"
#include "child.h"
#include "syscalls.h"

#include <stddef.h>
#include <stdint.h>

/* What vs_open_or_create creates when the path is missing. */
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

/* ---- Failure (child): sends the record to the parent and exits ---- */

/* A failure at a path inside the root, reported as the host sees it: "/vservers/web" + "/proc". */
static inline _Noreturn void fail_in_root(const struct child *c, const char *step_a, const char *step_b,
                                          const char *inside, int err)
{
    vs_child_fail(c->error_fd, step_a, step_b, c->config->root, c->root_len, inside, err);
}

/* A failure at a host path, or with path NULL at none. */
static inline _Noreturn void fail_at(const struct child *c, const char *step_a, const char *step_b, const char *path,
                                     int err)
{
    vs_child_fail(c->error_fd, step_a, step_b, NULL, 0, path, err);
}

/* ---- The child's main sequence and fds (spawn_child.c) ---- */

_Noreturn void vs_spawn_child_main(struct child *c);
void vs_close_all_but_needed(const struct child *c);

/* ---- Host paths, resolving inside the root, mounting (rootfs_mount.c) ---- */

int vs_open_host_path(const char *path, int flags);
int vs_open_beneath(int rootfd, const char *path, uint64_t flags);
int vs_open_or_create(int rootfd, const char *path, enum create_kind create);
void vs_mount_attr_from_flags(unsigned long flags, struct mount_attr *attr);
void vs_set_mount_attr(const struct child *c, const char *inside, struct mount_attr *attr, int recursive,
                       const char *step_a, const char *step_b);
void vs_mount_fresh(const struct child *c, const char *inside, const char *fstype, unsigned long flags,
                    const char *data, const char *step);
void vs_bind_fds(const struct child *c, int source_fd, int target_fd, const char *step, const char *inside);
void vs_mount_root(struct child *c);
void vs_open_bind_sources(struct child *c);
void vs_apply_mount(const struct child *c, size_t index);
void vs_mount_run(const struct child *c);
void vs_bind_timezone(const struct child *c);

/* ---- /proc, /sys, masks, the cgroup namespace (rootfs_kernel.c) ---- */

void vs_mount_proc(const struct child *c);
void vs_mount_sys(const struct child *c);
void vs_mask_paths(const struct child *c);
void vs_enter_cgroup_namespace(const struct child *c);

/* ---- /dev and the console ptys (rootfs_dev.c) ---- */

void vs_mount_dev(struct child *c);

/* ---- The parent's side of a user namespace (idmap.c) ---- */

int vs_write_id_maps(const struct vs_spawn_pending *pending, uint32_t base, struct vs_error *error);
int vs_send_id_maps(const struct vs_spawn_config *config, struct vs_spawn_pending *pending, struct vs_error *error);

#endif
