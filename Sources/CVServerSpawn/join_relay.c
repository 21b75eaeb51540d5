/*
 * vs_join's parent after the exec: the caller's signals forwarded to the command, the wait for it, and with a
 * terminal the relay between the caller's terminal and the command's pty (vs_join_relay). C because the forwarding
 * is a signal handler, which vs_join installs right at its clone and which reads what the relay sets (the pty
 * master, the SIGWINCH pipe): state only async-signal-safe code may touch.
 */
#define _GNU_SOURCE
#include "join_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* ---- Signal forwarding (one join at a time per process) ---- */

static const int forwarded_signals[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH};
#define FORWARDED_COUNT (sizeof forwarded_signals / sizeof forwarded_signals[0])

static volatile sig_atomic_t forward_target; /* PID and process group of the command; 0: none */
static volatile sig_atomic_t relay_master = -1; /* during a relay: the pty master */
static volatile sig_atomic_t winch_fd = -1;  /* during a relay SIGWINCH resizes the pty: a byte here says so */
static struct sigaction saved_actions[FORWARDED_COUNT];
static int installed[FORWARDED_COUNT];
static sigset_t saved_mask;

/*
 * Without a pty the command's process group gets the signal (Ctrl-C reaches us, the terminal's foreground
 * group, not the command in its own session). During a relay the pty's foreground job gets it, as if typed;
 * SIGHUP and SIGTERM hang up the session instead (SIGHUP to the shell and the job), like a closed ssh connection:
 * an interactive shell ignores SIGTERM.
 */
static void forward_signal(int sig)
{
    int saved = errno;
    pid_t target = (pid_t)forward_target;

    if (sig == SIGWINCH && winch_fd >= 0) {
        char byte = 0;

        (void)!write(winch_fd, &byte, 1);
    } else if (relay_master >= 0) {
        if (sig == SIGHUP || sig == SIGTERM) {
            sig = SIGHUP;
            if (target > 0)
                kill(-target, SIGHUP);
        }
        ioctl(relay_master, TIOCSIG, sig);
    } else if (target > 0 && kill(-target, sig) < 0) {
        /* Not a group leader yet (it calls setsid first thing): the signal waits, blocked, until its exec. */
        kill(target, sig);
    }
    errno = saved;
}

/* Every signal, until the child has reset its handlers (no handler of ours may run on its stack and in our
 * memory) and we know its PID (vs_join_install_forwarding). */
void vs_join_block_signals(void)
{
    sigset_t all;

    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &saved_mask);
}

/*
 * A signal the caller ignores (nohup) stays ignored here and is not forwarded. One it merely inherited blocked
 * (a test runner's thread, some daemons) is unblocked meanwhile: blocked, it could neither end us nor reach the
 * command.
 */
void vs_join_install_forwarding(pid_t pid)
{
    struct sigaction action;
    sigset_t mask = saved_mask;

    memset(&action, 0, sizeof action);
    action.sa_handler = forward_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    forward_target = pid;
    for (size_t i = 0; i < FORWARDED_COUNT; i++) {
        installed[i] = 0;
        if (sigaction(forwarded_signals[i], NULL, &saved_actions[i]) < 0)
            continue;
        if (forwarded_signals[i] != SIGWINCH && saved_actions[i].sa_handler == SIG_IGN)
            continue;
        installed[i] = sigaction(forwarded_signals[i], &action, NULL) == 0;
        if (installed[i])
            sigdelset(&mask, forwarded_signals[i]);
    }
    sigprocmask(SIG_SETMASK, &mask, NULL);
}

/* The caller's handlers and mask again; a signal it had blocked stays pending for it. */
void vs_join_uninstall_forwarding(void)
{
    sigset_t all;

    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    forward_target = 0;
    for (size_t i = 0; i < FORWARDED_COUNT; i++)
        if (installed[i])
            sigaction(forwarded_signals[i], &saved_actions[i], NULL);
    sigprocmask(SIG_SETMASK, &saved_mask, NULL);
}

void vs_join_restore_mask(void)
{
    sigprocmask(SIG_SETMASK, &saved_mask, NULL);
}

int vs_join_wait(struct vs_joined *joined)
{
    siginfo_t info;
    int r, code;

    /* WNOWAIT first: while the command is a zombie its PID (and process group id) cannot be reused, so a signal
     * forwarded until vs_join_uninstall_forwarding never reaches a stranger. */
    memset(&info, 0, sizeof info);
    do
        r = waitid(P_PIDFD, (id_t)joined->pidfd, &info, WEXITED | WNOWAIT);
    while (r < 0 && errno == EINTR);
    vs_join_uninstall_forwarding();
    if (r == 0)
        code = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
    else
        code = -1;
    vs_reap(joined->pidfd, 0);
    joined->pidfd = -1;
    if (joined->master_fd >= 0) {
        close(joined->master_fd);
        joined->master_fd = -1;
    }
    return code;
}

/* ---- The terminal relay ---- */

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Moves what is left after writing n bytes to the front. */
static void consume(char *buf, size_t *len, size_t n)
{
    memmove(buf, buf + n, *len - n);
    *len -= n;
}

static int transient(int err)
{
    return err == EINTR || err == EAGAIN || err == EWOULDBLOCK;
}

/* Once the command has exited: how long a pty that stays open (a process left in the background holds it) may
 * stay quiet, and how long it may keep talking, before we stop relaying. */
enum { DRAIN_IDLE_MS = 100, DRAIN_MAX_MS = 1000 };

int vs_join_relay(struct vs_joined *joined, int out_fd)
{
    const int term = joined->terminal_fd, master = joined->master_fd;
    char input[4096], output[16384];
    size_t input_len = 0, output_len = 0;
    /* Keystrokes only from the caller's stdin; output nowhere (but drained) without a terminal to show it. */
    int reading_term = joined->terminal_input, master_open = 1, output_ok = out_fd >= 0, exited = 0;
    long long exited_at = 0;
    struct termios saved, raw;
    struct sigaction ignore, saved_pipe;
    struct winsize size;
    int have_saved, winch[2] = {-1, -1};

    /* A vanished reader of out_fd must end the relay with the terminal restored, not kill us. */
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ignore, &saved_pipe);
    if (pipe2(winch, O_CLOEXEC | O_NONBLOCK) == 0)
        winch_fd = winch[1];
    relay_master = master;
    have_saved = reading_term && tcgetattr(term, &saved) == 0;
    if (have_saved) {
        raw = saved;
        cfmakeraw(&raw);
        tcsetattr(term, TCSADRAIN, &raw);
    }

    for (;;) {
        struct pollfd fds[5];
        int timeout = -1, ready;
        short master_events = (short)((output_len < sizeof output ? POLLIN : 0) | (input_len > 0 ? POLLOUT : 0));

        if (exited) {
            long long left = exited_at + DRAIN_MAX_MS - now_ms();

            if (left <= 0 || !master_open)
                break;
            timeout = left < DRAIN_IDLE_MS ? (int)left : DRAIN_IDLE_MS;
        }
        fds[0] = (struct pollfd){.fd = reading_term && input_len < sizeof input ? term : -1, .events = POLLIN};
        fds[1] = (struct pollfd){.fd = master_open && master_events ? master : -1, .events = master_events};
        fds[2] = (struct pollfd){.fd = output_len > 0 ? out_fd : -1, .events = POLLOUT};
        fds[3] = (struct pollfd){.fd = winch[0], .events = POLLIN};
        fds[4] = (struct pollfd){.fd = exited ? -1 : joined->pidfd, .events = POLLIN};
        ready = poll(fds, 5, timeout);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            break;  /* quiet for DRAIN_IDLE_MS after the exit (or poll failed) */

        if (fds[3].revents & POLLIN) {
            char bytes[64];

            while (read(winch[0], bytes, sizeof bytes) > 0)
                ;
            if (ioctl(term, TIOCGWINSZ, &size) == 0)
                ioctl(master, TIOCSWINSZ, &size);
        }
        if (fds[4].revents & POLLIN) {
            exited = 1;
            exited_at = now_ms();
        }
        if (fds[0].revents) {
            ssize_t n = read(term, input + input_len, sizeof input - input_len);

            if (n > 0)
                input_len += (size_t)n;
            else if (n == 0 || !transient(errno))
                reading_term = 0;
        }
        if (fds[1].revents & POLLOUT) {
            ssize_t n = write(master, input, input_len);

            if (n > 0)
                consume(input, &input_len, (size_t)n);
            else if (n < 0 && !transient(errno))
                input_len = 0;
        }
        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR) && output_len < sizeof output) {
            ssize_t n = read(master, output + output_len, sizeof output - output_len);

            /* EIO: every slave fd is closed, and everything written to them has been read. */
            if (n > 0)
                output_len += (size_t)n;
            else if (n == 0 || !transient(errno))
                master_open = 0;
        }
        if (fds[2].revents) {
            ssize_t n = write(out_fd, output, output_len);

            if (n > 0)
                consume(output, &output_len, (size_t)n);
            else if (n < 0 && !transient(errno))
                output_ok = 0;
        }
        if (!output_ok)
            output_len = 0;  /* nobody reads it: keep draining the pty so the command does not block */
        if (!master_open) {
            input_len = 0;
            reading_term = 0;
        }
    }
    while (output_ok && output_len > 0) {
        ssize_t n = write(out_fd, output, output_len);

        if (n > 0)
            consume(output, &output_len, (size_t)n);
        else if (n < 0 && errno == EINTR)
            continue;
        else
            break;
    }

    if (have_saved)
        tcsetattr(term, TCSADRAIN, &saved);
    relay_master = -1;
    winch_fd = -1;
    if (winch[0] >= 0) {
        close(winch[0]);
        close(winch[1]);
    }
    sigaction(SIGPIPE, &saved_pipe, NULL);
    return vs_join_wait(joined);
}
