/*
 * The spawn child's main sequence, between clone3 and exec: the parent's messages (id maps, release), the mounts
 * (rootfs_*.c), pivot_root and the lock on the guest's mounts, then stdio, rlimits, the capability drop, the
 * confinement and the exec of PID 1 (docs/ARCHITECTURE.md §4 step 3). C because it runs in a child of the
 * multi-threaded daemon: only syscalls until exec (spawn.c says why).
 */
#define _GNU_SOURCE
#include "spawn_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/* ---- The parent's messages ---- */

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

/* ---- Locking the guest's mounts ---- */

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
 * fork, as PID 1 itself is one (a guest with a user namespace never takes the vfork path, see spawn_begin in
 * spawn.c).
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

/* ---- From clone to exec ---- */

/*
 * Right after a full clone3 (spawn_begin). A held child may wait a while: it keeps only the fds it needs. Otherwise
 * it would hold the daemon's ends of other held starts' channels (their abort, or the daemon's death, would reach
 * them only after this exec) and whatever else the daemon had open at the clone.
 */
void vs_close_all_but_needed(const struct child *c)
{
    int keep[3 + VS_MAX_LEGACY_CGROUPS] = {c->error_fd, c->channel, c->config->exec_fd};
    int count = 3;
    unsigned int next = 3;

    for (size_t i = 0; i < c->config->legacy_tasks_count && i < VS_MAX_LEGACY_CGROUPS; i++)
        keep[count++] = c->config->legacy_tasks_fds[i];
    /* Ascending order, so that the gaps between them can be closed as ranges. */
    for (int i = 1; i < count; i++)
        for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
            int swap = keep[j];

            keep[j] = keep[j - 1];
            keep[j - 1] = swap;
        }
    for (int i = 0; i < count; i++) {
        if (keep[i] < (int)next)
            continue;
        if ((unsigned int)keep[i] > next)
            vs_sys_close_range(next, (unsigned int)keep[i] - 1, 0);
        next = (unsigned int)keep[i] + 1;
    }
    vs_sys_close_range(next, ~0U, 0);
}

/*
 * [namespaces] time: a time namespace whose boot and monotonic clocks start at zero, so that /proc/uptime, uptime(1)
 * and top inside count from the guest's start, not the host's boot (util-vserver's virt_uptime). Offsets can be set
 * only before a process is in it, so it is made for children (unshare), given its offsets through the host's /proc
 * (still there), and then entered by this process itself, which is single-threaded as setns wants.
 */
static void enter_time_namespace(const struct child *c)
{
    struct timespec boot, monotonic;
    char offsets[96];
    int fd, length;

    if (unshare(CLONE_NEWTIME) < 0)
        fail_at(c, "unshare the time namespace", NULL, NULL, errno);
    if (clock_gettime(CLOCK_BOOTTIME, &boot) < 0 || clock_gettime(CLOCK_MONOTONIC, &monotonic) < 0)
        fail_at(c, "clock_gettime", NULL, NULL, errno);
    /* Whole seconds back: a clock may not go below zero, and these stay a fraction of a second above it. */
    length = snprintf(offsets, sizeof offsets, "monotonic %lld 0\nboottime %lld 0\n",
                      -(long long)monotonic.tv_sec, -(long long)boot.tv_sec);
    fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, offsets, (size_t)length) != length)
        fail_at(c, "write the time offsets", NULL, "/proc/self/timens_offsets", errno);
    close(fd);
    fd = open("/proc/self/ns/time_for_children", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWTIME) < 0)
        fail_at(c, "enter the time namespace", NULL, "/proc/self/ns/time_for_children", errno);
    close(fd);
}

_Noreturn void vs_spawn_child_main(struct child *c)
{
    const struct vs_spawn_config *config = c->config;
    int userns = (config->extra_clone_flags & VS_CLONE_NEWUSER) != 0;
    sigset_t none;
    mode_t saved_umask;

    /* Its v1 limits before anything else: nothing it forks later escapes them (CLONE_INTO_CGROUP reaches cgroup2
     * only). */
    for (size_t i = 0; i < config->legacy_tasks_count; i++)
        if (write(config->legacy_tasks_fds[i], "0", 1) != 1)
            fail_at(c, "join the v1 cgroups", NULL, NULL, errno);
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
    if (config->time_namespace)
        enter_time_namespace(c);
    vs_mount_root(c);
    /* Host paths (bind sources) are opened while this is still the host's root: with a user
     * namespace, the root of the vserver may not search their directories (a 0700 temp dir, util-vserver's 0700
     * /vservers barrier). */
    vs_open_bind_sources(c);
    /* Everything from here on is beneath rootfd, or in the world-readable /dev, /sys and zoneinfo of the host.
     * Made as root inside: a tmpfs mounted in the user namespace takes new files only from ids mapped into it, and
     * an idmapped root only from ids its mapping has (a missing mount target is made as the guest's root). */
    if (userns)
        become_root_inside(c);
    for (size_t i = 0; i + config->proc_mount_count < config->mount_count; i++)
        vs_apply_mount(c, i);
    vs_mount_proc(c);
    for (size_t i = config->mount_count - config->proc_mount_count; i < config->mount_count; i++)
        vs_apply_mount(c, i);
    vs_mount_sys(c);
    if (config->mount_run)
        vs_mount_run(c);
    vs_mount_dev(c);
    vs_mask_paths(c);
    vs_bind_timezone(c);
    if (config->hostname != NULL && sethostname(config->hostname, strlen(config->hostname)) < 0)
        fail_at(c, "sethostname", NULL, config->hostname, errno);
    if (config->domainname != NULL && setdomainname(config->domainname, strlen(config->domainname)) < 0)
        fail_at(c, "setdomainname", NULL, config->domainname, errno);

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
    vs_enter_cgroup_namespace(c);
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
