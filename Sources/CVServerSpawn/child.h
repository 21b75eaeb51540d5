/*
 * What the children of vs_spawn and vs_join share between clone and exec: string work without allocation, the
 * error record sent to the parent, signal reset and the capability drop; and the parent's side of that record
 * (reading it, reaping a child that failed). Only syscalls and memcpy-class helpers (async-signal-safe): the parent
 * may have been multi-threaded at clone time. Private to CVServerSpawn: it is not in include/, so Swift never sees it.
 */
#ifndef VS_CHILD_H
#define VS_CHILD_H

#include "vserver_spawn.h"

#include <linux/filter.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

/* Appends src to dst (NUL-terminated, capacity cap); returns -1 when it had to truncate. */
static inline int append(char *dst, size_t cap, const char *src, size_t src_len)
{
    size_t len = strlen(dst);
    size_t room = cap - 1 - len;
    size_t n = src_len < room ? src_len : room;

    memcpy(dst + len, src, n);
    dst[len + n] = '\0';
    return n < src_len ? -1 : 0;
}

static inline int append_str(char *dst, size_t cap, const char *src)
{
    return src == NULL ? 0 : append(dst, cap, src, strlen(src));
}

/* Decimal digits of value into out (at least 12 bytes). */
static inline void format_uint(char *out, unsigned int value)
{
    char digits[12];
    int n = 0;

    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    for (int i = 0; i < n; i++)
        out[i] = digits[n - 1 - i];
    out[n] = '\0';
}

/* Room for "/proc/self/fd/" and any int. */
enum { VS_FD_PATH_SIZE = 32 };

/* "/proc/self/fd/N": how the child names an fd it opened safely, for mount(2) which only takes paths. While
 * the child still sees the host's /proc this resolves to exactly the object behind the fd. */
static inline void vs_fd_path(char out[VS_FD_PATH_SIZE], int fd)
{
    out[0] = '\0';
    append_str(out, VS_FD_PATH_SIZE, "/proc/self/fd/");
    format_uint(out + strlen(out), (unsigned int)fd);
}

/* "/proc/PID/NAME" into out (64 bytes); "/proc/PID" with name NULL. */
static inline void vs_proc_path(char out[64], pid_t pid, const char *name)
{
    char number[12];

    out[0] = '\0';
    append_str(out, 64, "/proc/");
    format_uint(number, (unsigned int)pid);
    append_str(out, 64, number);
    if (name != NULL) {
        append_str(out, 64, "/");
        append_str(out, 64, name);
    }
}

/* Fills *error with {step_a + step_b, path, err}, sets errno to err and returns -1. */
int vs_set_error(struct vs_error *error, const char *step_a, const char *step_b, const char *path, int err);

/* Child: writes the record to the parent's error pipe and _exit(127)s. The pipe holds 64 KiB and only this child
 * writes to it, so the record arrives whole even though it is larger than PIPE_BUF. */
_Noreturn void vs_child_report(int error_fd, const struct vs_error *error);

/* Child: sends {step_a + step_b, path_a (its first path_a_len bytes) + path_b, err} to the parent (vs_child_report)
 * and exits. NULL parts are empty. */
_Noreturn void vs_child_fail(int error_fd, const char *step_a, const char *step_b, const char *path_a,
                             size_t path_a_len, const char *path_b, int err);

/* Parent: reads the child's error record: 0 bytes (the exec happened), a whole record, or -1/short on failure. */
ssize_t vs_read_error(int fd, struct vs_error *record);

/* Parent: kills (when kill) and reaps a child that will not become a guest or a command, and closes its pidfd;
 * errno is kept. */
void vs_reap(int pidfd, int kill);

/* Child: every handler back to SIG_DFL (and ignored signals too: they would survive exec). */
int vs_child_reset_signals(void);

/*
 * Child: cuts the bounding set to keep (bit n = capability n, up to last_cap), clears the ambient set and cuts
 * the inheritable set to keep. -1 with *error ("drop capability 21", errno) on failure.
 */
int vs_child_drop_capabilities(uint64_t keep, int last_cap, struct vs_error *error);

/* Child, in a vserver's user namespace (its maps written): becomes its root, uid and gid 0 without supplementary
 * groups. The host's root is nobody there until then. Returns -1 with *error on failure. */
int vs_child_become_root(struct vs_error *error);

/*
 * Child or parent: a new pty master from the ptmx at path beneath dirfd (resolve: RESOLVE_* flags), opened with
 * flags | O_RDWR | O_NOCTTY | O_CLOEXEC. Before anything opens it, an O_PATH fd of it must show devpts' ptmx: the
 * character device 5:2 on a devpts file system. A guest that controls its /dev could plant a FIFO there (whose open
 * wakes a writer, or hangs), a file, or another device whose open does something. That very inode is then opened
 * through "self/fd/N" of proc_dirfd, a host /proc (-1: "/proc/self/fd/N"). The master, or -1 with errno (ENOTTY: not
 * a ptmx).
 */
int vs_child_open_ptmx(int dirfd, const char *path, uint64_t resolve, int proc_dirfd, int flags);

/* Child: the pty of master (from vs_child_open_ptmx): unlocks it and opens its slave from the master (TIOCGPTPEER,
 * never by path; O_RDWR | O_NOCTTY | O_CLOEXEC). 0 and *slave, or -1 with errno; master stays open either way. */
int vs_child_pty_slave(int master, int *slave);

/* Child or parent: one message over a SOCK_SEQPACKET channel, payload (at least one byte) with fds attached (at
 * most VS_MAX_CHANNEL_FDS, none with nfds 0). 0, or -1 with errno. */
enum { VS_MAX_CHANNEL_FDS = 253 };
int vs_send_fds(int channel, const void *payload, size_t size, const int *fds, size_t nfds);

/* Child or parent: one message from the channel into payload (at most size bytes) and the fds attached to it (at
 * most max_fds, received CLOEXEC) into fds, their number in *nfds. flags are recvmsg's (MSG_DONTWAIT). The number of
 * payload bytes (0: end of file), or -1 with errno: EMSGSIZE when payload or fds did not fit (fds that came are
 * closed). */
ssize_t vs_receive_fds(int channel, void *payload, size_t size, int *fds, size_t max_fds, size_t *nfds, int flags);

/* Child: "tty" + n ("tty1") into name (16 bytes). */
void vs_tty_name(char name[16], int n);

/* A guest's seccomp program (seccomp.c says what it denies and why), assembled before clone: the child only loads
 * it. */
enum { VS_FILTER_MAX = 192 };
struct vs_filter {
    unsigned short len;
    struct sock_filter insns[VS_FILTER_MAX];
};

/* Parent: the program for policy (VS_SECCOMP_*) of a guest with (userns != 0) or without a user namespace of its
 * own. */
void vs_filter_build(struct vs_filter *filter, int policy, int userns);

/* Child, right before exec: joins a new anonymous session keyring and installs filter. -1 with *error. */
int vs_child_confine(const struct vs_filter *filter, struct vs_error *error);

#endif
