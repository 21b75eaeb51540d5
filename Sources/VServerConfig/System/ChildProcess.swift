import CVServerSpawn
import Glibc

/// A program run on the host in a process group of its own (`vs_spawn_hook`: stdin /dev/null, every signal at
/// its default, no other fd inherited) with stdout and stderr on one pipe, watched through a pidfd: hook scripts
/// and the builders of `vserverctl build`. A child still running when this goes away is killed with its group.
package final class ChildProcess {
    /// Its PID, which is also its process group.
    package let pid: pid_t
    private let pidfd: Int32
    private let output: Int32
    private var outputOpen = true
    private var exited = false
    /// When it exits, what it left running in its process group is killed (hooks: as systemd does for the
    /// processes an `ExecStartPre=` leaves behind).
    package var killsGroupOnExit = false
    /// Whether its process group still had processes when it exited (`killsGroupOnExit`: they were killed).
    package private(set) var leftProcessesInGroup = false

    /// What ended a `wait`.
    package enum Event: Equatable {
        /// It exited: the exit status, or 128 + the signal that killed it.
        case exited(Int)
        case deadlinePassed
        /// The extra fd given to `wait` became readable.
        case readable
    }

    /// Spawns `arguments[0]` (an absolute path) with `environment` (`NAME=value`) in `directory` (nil: ours).
    package init(arguments: [String], environment: [String], directory: String?) throws(SystemError) {
        var pipeFDs: [Int32] = [-1, -1]
        guard vs_pipe2(&pipeFDs, O_CLOEXEC | O_NONBLOCK) == 0 else { throw SystemError("pipe2") }
        let (readEnd, writeEnd) = (pipeFDs[0], pipeFDs[1])
        let arena = CStringArena()
        let argv = arena.nullTerminated(arguments)
        let envp = arena.nullTerminated(environment)
        let (pid, spawnErrno) = withExtendedLifetime(arena) {
            (vs_spawn_hook(arguments[0], argv, envp, directory, writeEnd), errno)
        }
        close(writeEnd)
        guard pid > 0 else {
            close(readEnd)
            throw SystemError("exec", path: arguments[0], errno: spawnErrno)
        }
        let pidfd = vs_pidfd_open(pid)
        guard pidfd >= 0 else {
            let error = SystemError("pidfd_open", path: arguments[0])
            kill(-pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            close(readEnd)
            throw error
        }
        self.pid = pid
        self.pidfd = pidfd
        output = readEnd
    }

    deinit {
        if !exited {
            signalGroup(SIGKILL)
            var code: Int32 = 0
            var done: Int32 = 0
            vs_pidfd_wait(pidfd, 0, &done, &code)
        }
        close(pidfd)
        close(output)
    }

    /// Sends `signal` to its whole process group: what it started goes too.
    package func signalGroup(_ signal: Int32) {
        kill(-pid, signal)
    }

    /// Hands its output to `lines` until it exits (then reaps it), `deadline` passes, or `extra` (when >= 0)
    /// becomes readable, whichever comes first.
    package func wait(until deadline: ContinuousClock.Instant? = nil, orReadable extra: Int32 = -1,
                      lines: inout LineCollector) throws(SystemError) -> Event
    {
        let clock = ContinuousClock()
        while true {
            var polled = [pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0),
                          pollfd(fd: outputOpen ? output : -1, events: Int16(POLLIN), revents: 0),
                          pollfd(fd: extra, events: Int16(POLLIN), revents: 0)]
            let timeout = deadline.map { max(0, Self.milliseconds($0 - clock.now)) } ?? -1
            let ready = poll(&polled, nfds_t(polled.count), Int32(clamping: timeout))
            if ready < 0 && errno != EINTR { throw SystemError("poll", path: "output of PID \(pid)") }
            if outputOpen && polled[1].revents != 0 { outputOpen = lines.drain(output) }
            if polled[0].revents != 0 {
                var done: Int32 = 0
                var code: Int32 = 0
                // Before the reap, while its PID (a zombie's) names its group and nothing else: what it left there
                // is stopped, so that it is still there after the reap, holding the group's number, to be killed.
                if killsGroupOnExit { signalGroup(SIGSTOP) }
                guard vs_pidfd_wait(pidfd, 0, &done, &code) == 0 else {
                    throw SystemError("waitid", path: "PID \(pid)")
                }
                exited = true
                if killsGroupOnExit && kill(-pid, 0) == 0 {
                    leftProcessesInGroup = true
                    signalGroup(SIGKILL)
                }
                // What it wrote before exiting is in the pipe; descendants still holding it open don't count.
                if outputOpen { _ = lines.drain(output) }
                lines.flush()
                return .exited(Int(code))
            }
            if extra >= 0 && polled[2].revents != 0 { return .readable }
            if let deadline, clock.now >= deadline { return .deadlinePassed }
        }
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000) + 1
    }
}
