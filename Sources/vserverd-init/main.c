/*
 * vserverd-init: PID 1 of a vserver configured with `command = [...]`, `init-style = "sysv"` or `"rc"`
 * (docs/ARCHITECTURE.md §3, §7).
 *
 *     vserverd-init -- COMMAND [ARG...]
 *     vserverd-init --runlevels START STOP KILL-SEQUENCE
 *     vserverd-init --rc KILL-SEQUENCE N START-COMMAND(N words) [STOP-COMMAND...]
 *
 * With COMMAND: runs it as its only direct child, reaps every process that ends up orphaned in the pid namespace,
 * forwards the signals a service expects to COMMAND, and exits with COMMAND's status (128 + signal when it
 * was killed), which ends the vserver.
 *
 * With --runlevels (util-vserver's "sysv" init style): runs `/etc/init.d/rc START` (or /etc/rc.d/rc) as sysvinit
 * would (RUNLEVEL, PREVLEVEL set), reaps every orphan, and on SIGTERM, SIGINT or SIGPWR (vserverctl stop) runs
 * `/etc/init.d/rc STOP`, waits for it, sends the kill sequence ("15 5 9": SIGTERM, up to 5 s, SIGKILL) to every
 * process left and exits 0. The services the rc scripts start are the guest's; no getty, no inittab.
 *
 * With --rc (util-vserver's gentoo and arch styles, cmd.start/cmd.stop): the same with the START and STOP commands
 * given (an empty STOP command: only the kill sequence), without RUNLEVEL.
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
#include <time.h>
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

/* A boot command in a child, with the environment sysvinit gives rc when runlevel is set. */
static pid_t run_boot(char **argv, const char *runlevel, const char *previous, const sigset_t *none)
{
    pid_t pid = fork();

    if (pid != 0) {
        if (pid < 0)
            fprintf(stderr, "vserverd-init: fork: %s\n", strerror(errno));
        return pid;
    }
    reset_signals(none);
    setsid();
    if (runlevel != NULL) {
        setenv("RUNLEVEL", runlevel, 1);
        setenv("PREVLEVEL", previous, 1);
    }
    setenv("CONSOLE", "/dev/console", 1);
    execvp(argv[0], argv);
    fprintf(stderr, "vserverd-init: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

static void report(char **argv, int status)
{
    const char *argument = argv[1] != NULL ? argv[1] : "";

    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        fprintf(stderr, "vserverd-init: %s %s exited with status %d\n", argv[0], argument, WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        fprintf(stderr, "vserverd-init: %s %s was killed by signal %d\n", argv[0], argument, WTERMSIG(status));
}

/* Reaps until no process but this one is left in the namespace (1) or `seconds` have passed (0). */
static int wait_for_the_rest(int seconds)
{
    struct timespec deadline, now, left;
    sigset_t child;

    sigemptyset(&child);
    sigaddset(&child, SIGCHLD);
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += seconds;
    for (;;) {
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        /* From a namespace's PID 1, kill(-1) reaches every other process in it; ESRCH: none is left. */
        if (kill(-1, 0) < 0 && errno == ESRCH)
            return 1;
        clock_gettime(CLOCK_MONOTONIC, &now);
        left.tv_sec = deadline.tv_sec - now.tv_sec;
        left.tv_nsec = deadline.tv_nsec - now.tv_nsec;
        if (left.tv_nsec < 0) {
            left.tv_sec--;
            left.tv_nsec += 1000000000L;
        }
        if (left.tv_sec < 0)
            return 0;
        sigtimedwait(&child, NULL, &left);  /* a child ended, the time is up, or EINTR: look again */
    }
}

/* util-vserver's killseq, "SIGNAL [SECONDS SIGNAL]...": what the processes left after the stop command get. */
static void kill_the_rest(const char *sequence)
{
    char *copy = strdup(sequence), *save = NULL, *word;
    int index = 0;

    for (word = strtok_r(copy, " ", &save); word != NULL; word = strtok_r(NULL, " ", &save), index++) {
        if (index % 2 == 0) {
            if (kill(-1, atoi(word)) < 0 && errno == ESRCH)
                break;
        } else if (wait_for_the_rest(atoi(word))) {
            break;
        }
    }
    free(copy);
}

/* The rc styles: the guest's boot command at start, its stop command at a stop request (SIGTERM, SIGINT, SIGPWR),
 * then the kill sequence for whatever is left; every orphan is reaped meanwhile. runlevel/stop_level: sysv's. */
static int boot_scripts(char **start, char **stop, const char *runlevel, const char *stop_level,
                        const char *kill_sequence, const sigset_t *all, const sigset_t *none)
{
    pid_t starting = run_boot(start, runlevel, "N", none), stopping = 0;

    for (;;) {
        int sig = next_signal(all);

        if (sig == SIGCHLD) {
            pid_t pid;
            int status;

            while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
                if (pid == starting)
                    report(start, status);
                if (pid != stopping)
                    continue;
                report(stop, status);
                kill_the_rest(kill_sequence);
                return 0;
            }
        } else if ((sig == SIGTERM || sig == SIGINT || sig == SIGPWR) && stopping == 0) {
            if (stop[0] == NULL) {
                kill_the_rest(kill_sequence);
                return 0;
            }
            stopping = run_boot(stop, stop_level, runlevel, none);
            if (stopping < 0)
                return 1;
        }
    }
}

/* util-vserver's sysv style: /etc/init.d/rc (or /etc/rc.d/rc) START at start and STOP at stop. */
static int runlevels(char *start, char *stop, const char *kill_sequence, const sigset_t *all, const sigset_t *none)
{
    char *rc = access("/etc/init.d/rc", X_OK) != 0 && access("/etc/rc.d/rc", X_OK) == 0
        ? "/etc/rc.d/rc" : "/etc/init.d/rc";
    char *start_argv[] = { rc, start, NULL }, *stop_argv[] = { rc, stop, NULL };

    return boot_scripts(start_argv, stop_argv, start, stop, kill_sequence, all, none);
}

static int usage(void)
{
    fputs("usage: vserverd-init -- COMMAND [ARG...]\n"
          "       vserverd-init --runlevels START STOP KILL-SEQUENCE\n"
          "       vserverd-init --rc KILL-SEQUENCE N START-COMMAND(N words) [STOP-COMMAND...]\n", stderr);
    return 2;
}

int main(int argc, char **argv)
{
    sigset_t all, none;
    pid_t child;
    int start_words = argc >= 5 && strcmp(argv[1], "--rc") == 0 ? atoi(argv[3]) : 0;

    if (!(argc >= 3 && strcmp(argv[1], "--") == 0) && !(argc == 5 && strcmp(argv[1], "--runlevels") == 0)
        && !(start_words >= 1 && start_words <= argc - 4))
        return usage();

    /* Blocked signals are queued even for a namespace's PID 1 (which the kernel otherwise spares from signals
     * it has no handler for), so sigwaitinfo sees all of them and no handler is needed. */
    sigfillset(&all);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &all, NULL);
    if (strcmp(argv[1], "--runlevels") == 0)
        return runlevels(argv[2], argv[3], argv[4], &all, &none);
    if (strcmp(argv[1], "--rc") == 0) {
        /* The stop command is the rest of argv (NULL-terminated); the start command needs its own NULL. */
        char *start_command[start_words + 1];

        memcpy(start_command, argv + 4, sizeof(char *) * start_words);
        start_command[start_words] = NULL;
        return boot_scripts(start_command, argv + 4 + start_words, NULL, NULL, argv[2], &all, &none);
    }

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
