/*
 * vserverd-init: PID 1 of a vserver configured with `command = [...]` (DESIGN.md §3, §7).
 *
 *     vserverd-init -- COMMAND [ARG...]
 *
 * Runs COMMAND as its only direct child, reaps every process that ends up orphaned in the pid namespace,
 * forwards the signals a service expects to COMMAND, and exits with COMMAND's status (128 + signal when it
 * was killed), which ends the vserver. Statically linked and executed from a sealed memfd, so it needs
 * nothing from the guest.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Signals meant for the service rather than for init. */
static int forwarded(int sig)
{
    switch (sig) {
    case SIGTERM:
    case SIGINT:
    case SIGHUP:
    case SIGQUIT:
    case SIGUSR1:
    case SIGUSR2:
    case SIGWINCH:
    case SIGCONT:
        return 1;
    default:
        return sig >= SIGRTMIN && sig <= SIGRTMAX;
    }
}

static _Noreturn void run_command(char **argv, const sigset_t *none)
{
    struct sigaction dfl;

    /* Inherited ignored signals would survive exec; the mask would too. */
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL);  /* EINVAL for glibc's internal signals is fine */
    sigprocmask(SIG_SETMASK, none, NULL);
    /* Its own session: a shell started as COMMAND can take the console as controlling terminal. */
    setsid();
    execvp(argv[0], argv);
    fprintf(stderr, "vserverd-init: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

int main(int argc, char **argv)
{
    sigset_t all, none;
    pid_t child;

    if (argc < 3 || strcmp(argv[1], "--") != 0) {
        fputs("usage: vserverd-init -- COMMAND [ARG...]\n", stderr);
        return 2;
    }

    /* Blocked signals are queued even for a namespace's PID 1 (which the kernel otherwise spares from signals
     * it has no handler for), so sigwaitinfo sees all of them and no handler is needed. */
    sigfillset(&all);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &all, NULL);

    child = fork();
    if (child < 0) {
        fprintf(stderr, "vserverd-init: fork: %s\n", strerror(errno));
        return 1;
    }
    if (child == 0)
        run_command(argv + 2, &none);

    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&all, &info);

        if (sig < 0)
            continue;  /* EINTR */
        if (sig == SIGCHLD) {
            pid_t pid;
            int status;

            /* PID 1 inherits every orphan of the namespace: reaping them all is its job. */
            while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
                if (pid != child)
                    continue;
                if (WIFEXITED(status))
                    return WEXITSTATUS(status);
                return 128 + WTERMSIG(status);
            }
        } else if (forwarded(sig)) {
            kill(child, sig);
        }
    }
}
