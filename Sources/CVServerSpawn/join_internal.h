/*
 * What the files of vs_join share: join.c (the parent up to the clone), join_child.c (the child up to the exec) and
 * join_relay.c (the parent after the exec: signal forwarding, the wait, the terminal relay). Private to CVServerSpawn:
 * it is not in include/, so Swift never sees it.
 */
#ifndef VS_JOIN_INTERNAL_H
#define VS_JOIN_INTERNAL_H

#include "vserver_spawn.h"
#include "child.h"

#include <sys/resource.h>

/* What the child needs, all prepared by the parent before the clone. */
struct join_child {
    const struct vs_join_config *config;
    int error_fd;
    int target_pidfd;      /* pidfd of the vserver's PID 1 */
    int rootfd;            /* its /proc/PID/root */
    int cgroup_fd;         /* cgroup.procs of config->cgroup, or -1 */
    int legacy_cgroup_fds[VS_MAX_LEGACY_CGROUPS]; /* tasks of each of config->legacy_cgroups, or -1 */
    int slave_fd;          /* with a terminal: the pty slave, else -1 */
    int last_cap;
    int own_user_namespace; /* the vserver has a user namespace (user = true): join it, become its root */
    int own_time_namespace; /* the vserver has a time namespace ([namespaces] time = true): join it */
    struct rlimit limits[RLIM_NLIMITS]; /* PID 1's: the vserver's [limits], not the caller's */
    struct vs_filter filter;   /* the vserver's seccomp program, assembled before the clone */
    char proc_path[64];    /* "/proc/PID" of PID 1, for errors */
    char pts_path[32];     /* "/dev/pts/N" as the command sees it */
};

/* join_child.c: the child, started by clone(2) on a stack of its own; it never returns (exec or _exit). */
int vs_join_child_main(void *arg);

/* join_relay.c: the caller's signals, forwarded to the command (one join at a time per process). */
void vs_join_block_signals(void);
void vs_join_install_forwarding(pid_t pid);
/* No command to forward to (the clone failed): the caller's mask again. */
void vs_join_restore_mask(void);
void vs_join_uninstall_forwarding(void);

#endif
