/*
 * Hook scripts run on the host (docs/ARCHITECTURE.md §5). posix_spawn rather than fork: glibc implements it with
 * CLONE_VM|CLONE_VFORK, which is safe in the multi-threaded daemon and reports exec errors to the caller. C because
 * the chdir and closefrom file actions need _GNU_SOURCE, which Swift's Glibc module does not define, and glibc's
 * internal signals can only be set in a sigset_t by hand.
 */
#define _GNU_SOURCE
#include "vserver_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>

/*
 * sigfillset leaves out glibc's internal signals (32, 33) and sigaddset refuses them, but posix_spawn sets every
 * handled signal outside the "default" set to SIG_IGN in the child, and ignored signals survive exec: without
 * this, hooks (and all they start) would run with 32 and 33 ignored. Sets the bits in the sigset_t directly.
 */
static void add_internal_signals(sigset_t *set)
{
    unsigned long *words = (unsigned long *)(void *)set;
    const size_t bits = 8 * sizeof words[0];

    for (int sig = 32; sig < SIGRTMIN; sig++)
        words[(size_t)(sig - 1) / bits] |= 1UL << ((size_t)(sig - 1) % bits);
}

pid_t vs_spawn_hook(const char *path, const char *const *argv, const char *const *envp, const char *cwd,
                    int output_fd)
{
    posix_spawnattr_t attr;
    posix_spawn_file_actions_t actions;
    sigset_t all, none;
    pid_t pid = -1;
    int err;

    err = posix_spawnattr_init(&attr);
    if (err != 0) {
        errno = err;
        return -1;
    }
    err = posix_spawn_file_actions_init(&actions);
    if (err != 0) {
        posix_spawnattr_destroy(&attr);
        errno = err;
        return -1;
    }

    /* Own process group: a timed-out hook is killed with everything it started (kill(-pgid)). The daemon
     * ignores or blocks signals that the script must see as usual. */
    sigfillset(&all);
    add_internal_signals(&all);
    sigemptyset(&none);
    err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    if (err == 0)
        err = posix_spawnattr_setpgroup(&attr, 0);
    if (err == 0)
        err = posix_spawnattr_setsigdefault(&attr, &all);
    if (err == 0)
        err = posix_spawnattr_setsigmask(&attr, &none);

    /* Output first, so an output_fd of 0 is duplicated before fd 0 becomes /dev/null. */
    if (err == 0 && output_fd >= 0) {
        err = posix_spawn_file_actions_adddup2(&actions, output_fd, 1);
        if (err == 0)
            err = posix_spawn_file_actions_adddup2(&actions, output_fd, 2);
    } else if (err == 0) {
        err = posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
        if (err == 0)
            err = posix_spawn_file_actions_adddup2(&actions, 1, 2);
    }
    if (err == 0)
        err = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (err == 0 && cwd != NULL)
        err = posix_spawn_file_actions_addchdir_np(&actions, cwd);
    /* The daemon opens its fds CLOEXEC, but a library it links might not: no host fd reaches a hook. */
    if (err == 0)
        err = posix_spawn_file_actions_addclosefrom_np(&actions, 3);

    if (err == 0)
        err = posix_spawn(&pid, path, &actions, &attr, (char *const *)argv, (char *const *)envp);

    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (err != 0) {
        errno = err;
        return -1;
    }
    return pid;
}
