/*
 * Raw syscalls that glibc 2.36 does not wrap (or wraps only in newer versions), shared by the spawn child and
 * the public wrappers. Each is one syscall(2): async-signal-safe, so the child of clone3 may use them.
 */
#ifndef VS_SYSCALLS_H
#define VS_SYSCALLS_H

#include <stdint.h>
#include <sys/mount.h>

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

#ifndef RESOLVE_NO_MAGICLINKS
#define RESOLVE_NO_MAGICLINKS 0x02
#endif
#ifndef RESOLVE_NO_SYMLINKS
#define RESOLVE_NO_SYMLINKS 0x04
#endif
#ifndef RESOLVE_BENEATH
#define RESOLVE_BENEATH 0x08
#endif
#ifndef RESOLVE_IN_ROOT
#define RESOLVE_IN_ROOT 0x10
#endif

#define VS_CLONE_INTO_CGROUP 0x200000000ULL

/* The kernel's struct clone_args (linux/sched.h), spelled out because that header clashes with glibc's. */
struct vs_clone_args {
    uint64_t flags;
    uint64_t pidfd;
    uint64_t child_tid;
    uint64_t parent_tid;
    uint64_t exit_signal;
    uint64_t stack;
    uint64_t stack_size;
    uint64_t tls;
    uint64_t set_tid;
    uint64_t set_tid_size;
    uint64_t cgroup;
};

long vs_sys_clone3(struct vs_clone_args *args);
/* openat2 with O_PATH semantics for mount targets: resolve is RESOLVE_* flags. */
int vs_sys_openat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve);
int vs_sys_mount_setattr(int dirfd, const char *path, unsigned int flags, struct mount_attr *attr);
/* A detached copy of the mount (tree) at path, for mount_setattr (idmapping) and move_mount. */
int vs_sys_open_tree(int dirfd, const char *path, unsigned int flags);
int vs_sys_move_mount(int from_dirfd, const char *from_path, int to_dirfd, const char *to_path, unsigned int flags);
int vs_sys_pivot_root(const char *new_root, const char *put_old);
int vs_sys_close_range(unsigned int first, unsigned int last, unsigned int flags);
int vs_sys_execveat(int dirfd, const char *path, const char *const *argv, const char *const *envp, int flags);
int vs_sys_prlimit(int resource, uint64_t soft, uint64_t hard);

#endif
