/*
 * vserverd-init: PID 1 of a vserver configured with `command = [...]` or `init-style = "sysv"`
 * (docs/ARCHITECTURE.md §3, §7).
 *
 *     vserverd-init -- COMMAND [ARG...]
 *     vserverd-init --runlevels START STOP
 *
 * With COMMAND: runs it as its only direct child, reaps every process that ends up orphaned in the pid namespace,
 * forwards the signals a service expects to COMMAND, and exits with COMMAND's status (128 + signal when it
 * was killed), which ends the vserver.
 *
 * With --runlevels (util-vserver's "sysv" init style): runs `/etc/init.d/rc START` as sysvinit would (RUNLEVEL,
 * PREVLEVEL set), reaps every orphan, and on SIGTERM, SIGINT or SIGPWR (vserverctl stop) runs `/etc/init.d/rc
 * STOP`, waits for it and exits 0. The services the rc scripts start are the guest's; no getty, no inittab.
 *
 * Statically linked and executed from a sealed memfd, so it needs nothing from the guest.
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

static void reset_signals(const sigset_t *none)
{
    struct sigaction dfl;

    /* Inherited ignored signals would survive exec; the mask would too. */
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL);  /* EINVAL for glibc's internal signals is fine */
    sigprocmask(SIG_SETMASK, none, NULL);
}

static _Noreturn void run_command(char **argv, const sigset_t *none)
{
    reset_signals(none);
    /* Its own session: a shell started as COMMAND can take the console as controlling terminal. */
    setsid();
    execvp(argv[0], argv);
    fprintf(stderr, "vserverd-init: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* The next of the (blocked) signals in set. */
static int next_signal(const sigset_t *set)
{
    siginfo_t info;
    int sig;

    while ((sig = sigwaitinfo(set, &info)) < 0)
        ;  /* EINTR */
    return sig;
}

/* /etc/init.d/rc LEVEL in a child, with the environment sysvinit gives it. */
static pid_t run_rc(const char *level, const char *previous, const sigset_t *none)
{
    pid_t pid = fork();

    if (pid != 0) {
        if (pid < 0)
            fprintf(stderr, "vserverd-init: fork: %s\n", strerror(errno));
        return pid;
    }
    reset_signals(none);
    setsid();
    setenv("RUNLEVEL", level, 1);
    setenv("PREVLEVEL", previous, 1);
    setenv("CONSOLE", "/dev/console", 1);
    execl("/etc/init.d/rc", "/etc/init.d/rc", level, (char *)NULL);
    fprintf(stderr, "vserverd-init: exec /etc/init.d/rc: %s\n", strerror(errno));
    _exit(127);
}

static void report(const char *what, const char *level, int status)
{
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        fprintf(stderr, "vserverd-init: %s %s exited with status %d\n", what, level, WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        fprintf(stderr, "vserverd-init: %s %s was killed by signal %d\n", what, level, WTERMSIG(status));
}

/* util-vserver's sysv style: the guest's rc scripts at start and at stop, nothing else of sysvinit. */
static int runlevels(const char *start, const char *stop, const sigset_t *all, const sigset_t *none)
{
    pid_t starting = run_rc(start, "N", none), stopping = 0;

    for (;;) {
        int sig = next_signal(all);

        if (sig == SIGCHLD) {
            pid_t pid;
            int status;

            while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
                if (pid == starting)
                    report("/etc/init.d/rc", start, status);
                if (pid != stopping)
                    continue;
                report("/etc/init.d/rc", stop, status);
                return 0;
            }
        } else if ((sig == SIGTERM || sig == SIGINT || sig == SIGPWR) && stopping == 0) {
            stopping = run_rc(stop, start, none);
            if (stopping < 0)
                return 1;
        }
    }
}

int main(int argc, char **argv)
{
    sigset_t all, none;
    pid_t child;

    if (!(argc >= 3 && strcmp(argv[1], "--") == 0) && !(argc == 4 && strcmp(argv[1], "--runlevels") == 0)) {
        fputs("usage: vserverd-init -- COMMAND [ARG...]\n       vserverd-init --runlevels START STOP\n", stderr);
        return 2;
    }

    /* Blocked signals are queued even for a namespace's PID 1 (which the kernel otherwise spares from signals
     * it has no handler for), so sigwaitinfo sees all of them and no handler is needed. */
    sigfillset(&all);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &all, NULL);
    if (strcmp(argv[1], "--runlevels") == 0)
        return runlevels(argv[2], argv[3], &all, &none);

    child = fork();
    if (child < 0) {
        fprintf(stderr, "vserverd-init: fork: %s\n", strerror(errno));
        return 1;
    }
    if (child == 0)
        run_command(argv + 2, &none);

    for (;;) {
        int sig = next_signal(&all);

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
