/*
 * CVServerSpawn: the only code that runs between clone and exec (docs/ARCHITECTURE.md §4, §7), plus thin wrappers for
 * the syscalls Swift cannot reach (variadic syscall(2), clone3, pidfd_*, openat2, ...).
 *
 * Swift builds one plain `struct vs_spawn_config`; everything the child needs is prepared before clone, so
 * the child only makes syscalls (no malloc, no locks: the daemon is multi-threaded).
 */
#ifndef VSERVER_SPAWN_H
#define VSERVER_SPAWN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CLONE_NEWNET and CLONE_NEWUSER for extra_clone_flags: glibc hides them from Swift (they need _GNU_SOURCE). */
enum { VS_CLONE_NEWNET = 0x40000000, VS_CLONE_NEWUSER = 0x10000000 };

/* With VS_CLONE_NEWUSER: ids 0..VS_ID_MAP_SIZE-1 inside are id_map_base.. outside. */
enum { VS_ID_MAP_SIZE = 65536 };

/* One extra mount from [[mount]] or fstab, applied inside the root before /proc, /sys and /dev. */
struct vs_mount {
    const char *source;   /* host path for bind mounts; device or fs name ("tmpfs", "none") otherwise */
    const char *target;   /* absolute path inside the vserver, resolved with RESOLVE_IN_ROOT */
    const char *fstype;   /* NULL for bind mounts */
    unsigned long flags;  /* MS_* flags: MS_BIND (+MS_REC for rbind), MS_RDONLY, MS_NOSUID, ... */
    const char *data;     /* fs-specific option string ("size=16m,mode=1777") or NULL */
};

/* setrlimit(resource, {soft, hard}); RLIM_INFINITY is UINT64_MAX. */
struct vs_rlimit {
    int resource;
    uint64_t soft;
    uint64_t hard;
};

/* [security] seccomp (seccomp.c): the default filter, or only its kexec denial. */
enum { VS_SECCOMP_DEFAULT = 0, VS_SECCOMP_UNCONFINED = 1 };

/* What the guest gets on /sys/fs/cgroup: nothing, or cgroup2 of its own cgroup namespace (its cgroup is "/"). */
enum { VS_CGROUP_NONE = 0, VS_CGROUP_READ_ONLY = 1, VS_CGROUP_WRITABLE = 2 };

struct vs_spawn_config {
    const char *root;                   /* absolute host path of the vserver root; never "/" */
    const char *hostname;               /* UTS nodename, or NULL to keep the host's */
    const char *domainname;             /* UTS (NIS) domain name, or NULL to leave it "(none)" */
    int extra_clone_flags;              /* VS_CLONE_NEWNET (private network), VS_CLONE_NEWUSER (user = true) */
    uint32_t id_map_base;               /* with VS_CLONE_NEWUSER: host uid and gid of root inside */
    int idmap;                          /* with VS_CLONE_NEWUSER: the root and the bind sources are mounted through
                                           an idmapped mount of the guest's user namespace, so that the tree's own ids
                                           0..65535 are the guest's (vs_spawned.idmap_error says when that failed) */
    const struct vs_mount *mounts;
    size_t mount_count;
    size_t proc_mount_count;            /* the last ones of mounts go over its /proc once that is mounted (lxcfs) */
    int mount_run;                      /* tmpfs on /run and /run/lock (what systemd and sysvinit expect there) */
    int cgroup_fd;                      /* >= 0: the directory of the guest's own cgroup (cgroup2): PID 1 is cloned
                                           into it (CLONE_INTO_CGROUP), so it and all it forks start there */
    int cgroup_mount;                   /* VS_CGROUP_*: mounted after the cgroup namespace was made, before exec */
    const char *timezone_file;          /* host zoneinfo file bound read-only on /etc/localtime, or NULL */
    const struct vs_rlimit *rlimits;
    size_t rlimit_count;
    uint64_t keep_capabilities;         /* bit n set: capability n stays in the bounding set */
    int exec_fd;                        /* >= 0: execveat(exec_fd, "", AT_EMPTY_PATH) (the stub init memfd), with
                                           every signal still blocked (it waits for them with sigwaitinfo) */
    const char *const *argv;            /* NULL-terminated; argv[0] is the path inside when exec_fd < 0 */
    const char *const *envp;            /* NULL-terminated */
    int tty_count;                      /* besides the console pty: /dev/tty1..N (at most VS_MAX_TTYS) are ptys of its
                                           devpts too, for gettys; their masters come back in vs_spawned.tty_fds */
    int seccomp;                        /* VS_SECCOMP_*: the filter PID 1 gets (with a new session keyring) */
    int nesting;                        /* with VS_CLONE_NEWUSER: 1 leaves the guest's mounts unlocked (container
                                           runtimes inside mount a proc), 0 locks them (lock_mounts in spawn_child.c) */
    const int *legacy_tasks_fds;        /* `tasks` of the guest's cgroups in the v1 hierarchies (a hybrid host: its
                                           limits), to which the child writes "0" first thing: it moves itself, one
                                           thread, which the kernel does without the global lock a move by PID takes
                                           (an RCU grace period, ~8 ms), and before it can fork */
    size_t legacy_tasks_count;          /* at most VS_MAX_LEGACY_CGROUPS */
    int time_namespace;                 /* 1: a time namespace whose boot and monotonic clocks start at zero */
    int null_console;                   /* 1 (console = "none"): /dev/console and PID 1's stdout and stderr are
                                           /dev/null, no pty is made (tty_count is 0 then) and none comes back */
};

enum { VS_MAX_TTYS = 12, VS_MAX_LEGACY_CGROUPS = 8 };

/*
 * What failed, where, and errno: "mount proc" + "/vservers/web/proc" + ENOENT, read as
 * "mount proc on /vservers/web/proc: No such file or directory". path is a host path (root + path inside) or
 * empty for steps without one ("setrlimit nofile", "drop capability 21"): then read as "step: strerror".
 */
struct vs_error {
    char step[64];
    char path[4096];
    int err;
};

struct vs_spawned {
    pid_t pid;        /* host PID of the vserver's PID 1 */
    int pidfd;        /* CLOEXEC pidfd of it */
    int console_fd;   /* with a pty console: the CLOEXEC master of the pty on the guest's /dev/console and PID 1's
                         stdout and stderr, which the caller reads (nobody else holds it); else -1 */
    int tty_fds[VS_MAX_TTYS]; /* the masters of /dev/tty1..tty_count */
    int tty_count;
    int idmap_error;  /* 0, or the errno of the idmapped mount of the root that failed (config->idmap): the plain
                         bind was used instead */
    int console_error; /* 0, or ENOSPC: the host had no pty left for a pty console (kernel.pty.max), and the guest's
                          console and PID 1's stdout and stderr are /dev/null (console_fd is -1) */
};

/*
 * Clones PID 1 of a vserver (new mount, pid, uts, ipc namespaces [+ net] [+ user]) and sets it up as
 * docs/ARCHITECTURE.md §4 step 3 describes, then execs. Returns 0 once the exec succeeded; returns -1 with *error
 * filled when any step failed, after reaping the child (nothing is left behind: its namespaces die with it). A child
 * killed from outside before its exec also reads as success: the caller sees it exit on the pidfd.
 */
int vs_spawn(const struct vs_spawn_config *config, struct vs_spawned *out, struct vs_error *error);

/*
 * vs_spawn in two phases, for a caller that must act on PID 1 before it runs anything of the guest (move it
 * into a systemd scope: once it has forked, its children would stay behind). vs_spawn_hold clones and starts
 * the setup like vs_spawn, but the child waits right before its exec until vs_spawn_release; the caller may
 * act on pending->pid meanwhile (setup goes on concurrently). vs_spawn_release lets it exec (with cgroup_mount in
 * place of config->cgroup_mount: whether it got a cgroup of its own is known only then) and then reports
 * exactly what vs_spawn would (0, or -1 with *error after reaping the child). Every vs_spawn_hold that
 * returned 0 needs one vs_spawn_release. A child not released within VS_SPAWN_HOLD_TIMEOUT_MS, or whose
 * daemon died, exits without running anything.
 */
struct vs_spawn_pending {
    const struct vs_spawn_config *config; /* must stay valid until vs_spawn_release or vs_spawn_abort */
    pid_t pid;        /* host PID of the held PID 1 */
    int pidfd;
    int error_fd;     /* read end of the error pipe */
    int channel_fd;   /* our end of the socket to the child: id maps, idmapped mounts and release go there, the
                         console master comes back */
    int idmap_error;
};
enum { VS_SPAWN_HOLD_TIMEOUT_MS = 60000 };
int vs_spawn_hold(const struct vs_spawn_config *config, struct vs_spawn_pending *pending, struct vs_error *error);
int vs_spawn_release(struct vs_spawn_pending *pending, int cgroup_mount, struct vs_spawned *out,
                     struct vs_error *error);
/* Instead of vs_spawn_release: the held child exits without running anything of the guest and is reaped. */
int vs_spawn_abort(struct vs_spawn_pending *pending);

/*
 * New ptys for the console and /dev/tty1..tty_count of a running guest (its PID 1 behind pidfd; userns: it has a user
 * namespace), made in its own devpts and mounted over the old ones in its mount namespace: for a vserverd that
 * re-adopts a guest whose console masters died with the previous vserverd. masters gets the console's master, then
 * the ttys'. 0, or -1 with *error.
 */
int vs_console_attach(int pidfd, int userns, int tty_count, int *masters, struct vs_error *error);

/*
 * posix_spawn of a hook script: own process group, all signals default and unblocked, stdin /dev/null,
 * stdout and stderr on output_fd, cwd as given, no other fd inherited. Returns the pid, or -1 with errno set.
 */
pid_t vs_spawn_hook(const char *path, const char *const *argv, const char *const *envp, const char *cwd,
                    int output_fd);

/* A command to run inside a running vserver (docs/ARCHITECTURE.md §6 enter/exec). */
struct vs_join_config {
    pid_t pid;                          /* host PID of the vserver's PID 1 */
    uint64_t start_time;                /* its start time as the daemon recorded it (field 22 of /proc/PID/stat) */
    uint64_t keep_capabilities;         /* the vserver's bounding set: bit n set, capability n stays */
    const char *const *argv;            /* NULL-terminated, passed as is; argv[0] is looked up in envp's PATH
                                           unless it contains a '/' */
    const char *const *envp;            /* NULL-terminated: the command's whole environment */
    const char *cgroup;                 /* a cgroup directory (v1 or v2) the command joins before anything else,
                                           or NULL */
    int terminal_fd;                    /* >= 0: a terminal of the caller. The command gets a new pty of the
                                           vserver's own devpts as controlling terminal, with this terminal's settings
                                           and size, on the fds terminal_stdio names; vs_join_relay connects the two.
                                           No guest process ever holds the caller's terminal (its /proc/PID/fd would
                                           give it the admin's keystrokes, TIOCSTI) */
    int stdin_fd, stdout_fd, stderr_fd; /* fds 0, 1, 2 of the command unless they are the pty's; -1 keeps the
                                           caller's */
    int terminal_stdio;                 /* with terminal_fd: bit n set, fd n of the command is the pty's slave */
    int terminal_input;                 /* with terminal_fd: it is the caller's stdin; vs_join_relay puts it in raw
                                           mode and sends what is typed to the pty */
    int seccomp;                        /* VS_SECCOMP_*: the vserver's (with a new session keyring) */
    const char *const *legacy_cgroups;  /* PID 1's cgroups of the v1 hierarchies (a hybrid host), joined too so that
                                           the command counts against the vserver's limits */
    size_t legacy_cgroup_count;         /* at most VS_MAX_LEGACY_CGROUPS */
};

struct vs_joined {
    pid_t pid;        /* host PID of the command */
    int pidfd;        /* CLOEXEC pidfd of it */
    int master_fd;    /* with terminal_fd: the pty master (non-blocking), else -1 */
    int terminal_fd;  /* config->terminal_fd */
    int terminal_input; /* config->terminal_input (with a terminal_fd) */
};

/*
 * Starts a command inside a running vserver, from a (root) client process: pidfd of PID 1, its rlimits, start
 * time check (a recycled PID is never joined), PR_SET_DUMPABLE 0 (nothing inside may ptrace or read this process,
 * runc CVE-2016-9962), clone into its pid namespace; the child takes PID 1's rlimits, moves into config->cgroup,
 * joins the vserver's other namespaces with setns(pidfd), checks that / is the vserver's root, setsid, drops the
 * bounding set to keep_capabilities, closes every fd but 0-2, joins a new session keyring, installs the vserver's
 * seccomp filter and execs. Returns 0 once the exec succeeded; then
 * the caller's SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2 (and SIGWINCH without a terminal) go to the
 * command's process group until vs_join_wait/vs_join_relay; signals the caller ignores stay ignored by it.
 * Returns -1 with *error when any step failed (an exec failure has step "exec" and path argv[0]), after reaping
 * the child.
 */
int vs_join(const struct vs_join_config *config, struct vs_joined *out, struct vs_error *error);

/* Waits for the command (EINTR-safe), ends the signal forwarding, closes the fds: its exit status, or 128 +
 * the signal that killed it. */
int vs_join_wait(struct vs_joined *joined);

/*
 * With a terminal: puts the caller's terminal in raw mode and relays it <-> the pty master (only pty -> out_fd without
 * terminal_input; out_fd -1: drained, not shown) until the command has exited and its output is drained (a leftover
 * process holding the pty gets 100 ms), resizing the pty on SIGWINCH. Meanwhile SIGHUP and SIGTERM hang the session
 * up (SIGHUP to the command and the pty's foreground job, as a closed ssh connection would) and the other forwarded
 * signals go to that job. Restores the terminal settings, ends the signal forwarding and closes the fds on every
 * path, then returns like vs_join_wait. Terminal output goes to out_fd (the caller's fd 1 or 2).
 */
int vs_join_relay(struct vs_joined *joined, int out_fd);

/* Syscall wrappers: return what the syscall returns (-1 with errno on failure). */
int vs_pidfd_open(pid_t pid);
int vs_setns(int fd, int nstype);
int vs_pidfd_send_signal(int pidfd, int signal);
/* waitid(P_PIDFD, pidfd, WEXITED | (nohang ? WNOHANG : 0)), retried on EINTR: 0 and *exited = 0 when still
 * running; otherwise *exited = 1 and *exit_code is the exit status or 128 + signal number. -1/ECHILD when the
 * process is not our child (a re-adopted vserver: wait for the pidfd to become readable instead). */
int vs_pidfd_wait(int pidfd, int nohang, int *exited, int *exit_code);
/* The same, keeping how it ended: *how is 0 while it runs, else the siginfo si_code (VS_EXITED: *status is the exit
 * status; VS_KILLED or VS_DUMPED: *status is the signal). */
enum { VS_EXITED = 1, VS_KILLED = 2, VS_DUMPED = 3 };
int vs_pidfd_wait_status(int pidfd, int nohang, int *how, int *status);
/* How the process behind pidfd ended when it is not our child, once its parent has reaped it (PIDFD_GET_INFO with
 * PIDFD_INFO_EXIT, Linux 6.15): 1 with *how and *status as above, 0 while it is not known yet, -1 with errno when the
 * kernel cannot tell (EINVAL, ENOTTY: older than 6.15). */
int vs_pidfd_exit_info(int pidfd, int *how, int *status);
/* A waitpid(2) status as *how (VS_EXITED, VS_KILLED, VS_DUMPED) and *status; -1 for a stopped or continued one. */
int vs_wait_status_how(int wait_status, int *how, int *status);

/* Copies the file at path into a CLOEXEC memfd sealed against any change (F_SEAL_WRITE|SHRINK|GROW|SEAL), ready
 * for execveat(fd, "", AT_EMPTY_PATH). Never reopen it for writing: exec of it then fails with ETXTBSY. */
int vs_sealed_memfd_copy(const char *path, const char *name);

/* The highest capability number the running kernel knows (/proc/sys/kernel/cap_last_cap). */
int vs_cap_last_cap(void);

/* Small helpers for what Swift cannot call or see (variadic functions, function-like macros). */
int vs_open(const char *path, int flags, mode_t mode);          /* open(2) with a mode (O_CREAT) */
int vs_fcntl(int fd, int cmd, int arg);                         /* fcntl(2) with an int argument */
int vs_ioctl(int fd, unsigned long request, void *arg);         /* ioctl(2) with a pointer argument */
int vs_wait_status_code(int status);                            /* waitpid status: exit code, 128 + signal, or -1 */
int vs_sigrtmin(void);                                          /* SIGRTMIN (a function call in glibc) */
int vs_sigrtmax(void);                                          /* SIGRTMAX */
int vs_pipe2(int fds[2], int flags);                            /* pipe2(2): hidden behind _GNU_SOURCE */
int vs_pty_peer(int master);                                    /* TIOCGPTPEER: the slave, O_RDWR|O_NOCTTY|O_CLOEXEC */

/* O_PATH, which glibc hides from Swift (it needs _GNU_SOURCE). */
enum { VS_O_PATH = 010000000 };

/* openat2(root_fd, path, flags | O_CLOEXEC) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS: path as the guest would
 * resolve it ("/", ".." and absolute symlinks stay inside root_fd: a guest's root, /proc/PID/root, a tree that came
 * from elsewhere), so that a symlink never leads vserverd out of it. No O_CREAT. */
int vs_open_in_root(int root_fd, const char *path, int flags);

/* signalfd for signals the caller blocked (sys/signalfd.h is not in Swift's Glibc module). */
int vs_signalfd(const sigset_t *mask);                          /* signalfd(-1, mask, SFD_CLOEXEC | SFD_NONBLOCK) */
int vs_signalfd_next(int fd);                                   /* the next signal read from it; 0 when none */

/* epoll for the daemon's process watcher (sys/epoll.h is not in Swift's Glibc module). */
int vs_epoll_create(void);                                      /* epoll_create1(EPOLL_CLOEXEC) */
int vs_epoll_add_oneshot(int epfd, int fd);                     /* EPOLLIN | EPOLLONESHOT, data = fd */
int vs_epoll_add(int epfd, int fd);                             /* EPOLLIN, level-triggered, data = fd */
int vs_epoll_remove(int epfd, int fd);
int vs_epoll_wait(int epfd, int *ready_fds, int max, int timeout_ms); /* the fds that became ready */

#ifdef __cplusplus
}
#endif

#endif
