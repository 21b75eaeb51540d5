import CVServerSpawn
import Glibc

/// SIGINT, SIGTERM and SIGHUP held back while a command does work it must undo when interrupted (`vserverctl
/// build`): blocked, and read from a signalfd where the work can stop cleanly, so that a second Ctrl-C cannot cut
/// the clean-up short. A signal the process was started with ignored (`nohup`) stays ignored. Children get every
/// signal unblocked again (`vs_spawn_hook`). For a single-threaded process: the mask is the calling thread's.
public final class Interruption {
    public static let defaultSignals = [SIGINT, SIGTERM, SIGHUP]
    private static let ignored = unsafeBitCast(SIG_IGN, to: Int.self)

    /// Readable when a signal is pending.
    package let fd: Int32
    private var previousMask = sigset_t()
    /// The first signal that arrived, once `check` or `pending` saw it.
    package private(set) var signal: Int32?

    public init(signals: [Int32] = defaultSignals) throws(SystemError) {
        var mask = sigset_t()
        sigemptyset(&mask)
        for number in signals {
            var action = sigaction()
            if sigaction(number, nil, &action) == 0 && unsafeBitCast(action.__sigaction_handler.sa_handler,
                                                                      to: Int.self) == Self.ignored { continue }
            sigaddset(&mask, number)
        }
        guard sigprocmask(SIG_BLOCK, &mask, &previousMask) == 0 else { throw SystemError("sigprocmask") }
        fd = vs_signalfd(&mask)
        guard fd >= 0 else {
            let error = SystemError("signalfd")
            sigprocmask(SIG_SETMASK, &previousMask, nil)
            throw error
        }
    }

    deinit {
        // Signals that came after the first are dropped: the command ends as the first one asked.
        while vs_signalfd_next(fd) > 0 {}
        close(fd)
        sigprocmask(SIG_SETMASK, &previousMask, nil)
    }

    /// The signal that interrupted the work, if one arrived by now (without waiting).
    package var pending: Int32? {
        if signal == nil {
            let next = vs_signalfd_next(fd)
            if next > 0 { signal = next }
        }
        return signal
    }
}
