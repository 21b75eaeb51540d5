/*
 * The spawn child's kernel file systems: /proc with runc's read-only and masked paths, /sys (a fresh sysfs, or the
 * host's read-only), and after the release the cgroup namespace with its cgroup2. C because it runs in the child of
 * vs_spawn, between clone and exec: only syscalls (spawn.c says why).
 */
#define _GNU_SOURCE
#include "spawn_internal.h"

#include <errno.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

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

void vs_mount_proc(const struct child *c)
{
    vs_mount_fresh(c, "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, "mount proc");
    for (size_t i = 0; i < sizeof proc_readonly_paths / sizeof proc_readonly_paths[0]; i++) {
        const char *inside = proc_readonly_paths[i];
        char path[VS_FD_PATH_SIZE];
        struct mount_attr attr;
        int fd = vs_open_beneath(c->rootfd, inside, 0);

        if (fd < 0 && errno == ENOENT)
            continue;  /* not in this kernel's configuration */
        if (fd < 0)
            fail_in_root(c, "resolve mount target", NULL, inside, errno);
        vs_fd_path(path, fd);
        if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
            fail_in_root(c, "bind read-only ", inside, inside, errno);
        close(fd);
        vs_mount_attr_from_flags(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, &attr);
        vs_set_mount_attr(c, inside, &attr, 1, "make read-only ", inside);
    }
}

/* Hides what the guest must not read; needs the new /dev/null, so it runs after vs_mount_dev. */
void vs_mask_paths(const struct child *c)
{
    char null_path[VS_FD_PATH_SIZE];

    vs_fd_path(null_path, c->devnull_fd);
    for (size_t i = 0; i < sizeof masked_paths / sizeof masked_paths[0]; i++) {
        const char *inside = masked_paths[i];
        char path[VS_FD_PATH_SIZE];
        struct stat st;
        int r, fd = vs_open_beneath(c->rootfd, inside, 0);

        if (fd < 0 && errno == ENOENT)
            continue;
        if (fd < 0 || fstat(fd, &st) < 0)
            fail_in_root(c, "resolve mount target", NULL, inside, errno);
        vs_fd_path(path, fd);
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
 * sysfs belongs to a network namespace: a user namespace may mount it only over a network namespace of its own.
 * With the host's network, the host's /sys is bound read-only instead (as LXC does); it shows no more than a
 * fresh sysfs of the host's network namespace would.
 */
void vs_mount_sys(const struct child *c)
{
    const unsigned long flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
    char target[VS_FD_PATH_SIZE];
    struct mount_attr attr;
    int fd;

    if ((c->config->extra_clone_flags & VS_CLONE_NEWUSER) == 0 || (c->config->extra_clone_flags & VS_CLONE_NEWNET)) {
        vs_mount_fresh(c, "/sys", "sysfs", flags, NULL, "mount sysfs");
        return;
    }
    fd = vs_open_or_create(c->rootfd, "/sys", CREATE_DIR);
    if (fd < 0)
        fail_in_root(c, "resolve mount target", NULL, "/sys", errno);
    vs_fd_path(target, fd);
    if (mount("/sys", target, NULL, MS_BIND | MS_REC, NULL) < 0)
        fail_in_root(c, "bind host /sys", NULL, "/sys", errno);
    close(fd);
    vs_mount_attr_from_flags(flags, &attr);
    vs_set_mount_attr(c, "/sys", &attr, 1, "make read-only /sys", NULL);
}

/*
 * After the release (under systemd PID 1 is in its scope by then): a cgroup namespace rooted where PID 1 is, so
 * that the guest sees its own cgroup as "/" and nothing of the host's cgroup paths, and its cgroup2 mounted there
 * for an init that manages cgroups (systemd). The old /sys/fs/cgroup (the host's, when /sys is bound) is covered.
 */
void vs_enter_cgroup_namespace(const struct child *c)
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
