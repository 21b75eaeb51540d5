import CVServerSpawn
import Glibc
import VServerConfig
import VServerProtocol

/// Running a command inside a running vserver (`exec`, `enter`; docs/ARCHITECTURE.md §6): the daemon says where the
/// vserver is (`Join`), the C shim joins and execs, here in vserverctl (root only, like nsenter).
enum Join {
    /// vserverctl itself failed (not running, no daemon, a join step): 125, as env, chroot and timeout do, so it
    /// is not mistaken for the command's own status. 126: found but cannot run; 127: not found (as shells).
    static let failureStatus: Int32 = 125
    static let cannotRunStatus: Int32 = 126
    static let notFoundStatus: Int32 = 127

    /// What the daemon knows about the running vserver; checks root first, the daemon checks again.
    static func info(_ name: String, _ manager: ManagerClient) throws(CommandFailure) -> VServerJoinInfo {
        guard geteuid() == 0 else { throw CommandFailure("entering a vserver needs root", exitStatus: failureStatus) }
        do { return try manager.joinInfo(name) } catch {
            var failure = CommandFailure(error)
            failure.exitStatus = failureStatus
            throw failure
        }
    }

    /// The vserver's environment (what its init got), plus the caller's TERM: the terminal is the caller's.
    static func environment(_ info: VServerJoinInfo, term: String? = getenv("TERM").map { String(cString: $0) })
        -> [String]
    {
        var variables = info.environment
        if let term { variables["TERM"] = term }
        return variables.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
    }

    /// Where fds 0-2 of the command come from: -1 keeps the caller's; with `terminal` >= 0 those in
    /// `terminalStdio` (bit n: fd n) are a pty of the guest's devpts instead, relayed to the caller's terminal.
    struct Streams {
        var stdin: Int32 = -1
        var stdout: Int32 = -1
        var stderr: Int32 = -1
        var terminal: Int32 = -1
        var terminalStdio: Int32 = 0
        /// Where the pty's output goes: the caller's fd 1 or 2, whichever is a terminal; -1 none.
        var terminalOutput: Int32 = -1

        /// The caller's fds 0-2, with each one that is a terminal replaced by the pty: a guest process that opens the
        /// command's /proc/PID/fd/N never reaches the caller's terminal (its keystrokes, TIOCSTI), as LXC's attach
        /// does since CVE-2022-47952. Files and pipes pass through as they are.
        static func caller() -> Streams {
            var streams = Streams()
            for fd: Int32 in 0...2 where isatty(fd) != 0 {
                if streams.terminal < 0 { streams.terminal = fd }
                if fd > 0 && streams.terminalOutput < 0 { streams.terminalOutput = fd }
                streams.terminalStdio |= 1 << fd
            }
            return streams
        }
    }

    /// Starts `command` inside; returns once it was exec'd.
    static func start(_ command: [String], _ info: VServerJoinInfo, _ streams: Streams = Streams())
        throws(CommandFailure) -> vs_joined
    {
        var joined = vs_joined()
        var failure = vs_error()
        let arena = CStringArena()
        let argv = arena.nullTerminated(command)
        let envp = arena.nullTerminated(environment(info))
        // An unknown policy from a newer daemon gets the stricter default.
        let seccomp = VServerConfig.SeccompPolicy(rawValue: info.seccomp ?? "") ?? .default
        let legacyCgroups = info.legacyCgroups.map { Optional(arena.copy($0)) }
        let result = argv.withUnsafeBufferPointer { argv in
            envp.withUnsafeBufferPointer { envp in
              legacyCgroups.withUnsafeBufferPointer { legacyCgroups in
                var config = vs_join_config(
                    pid: info.pid, start_time: info.startTime, keep_capabilities: info.capabilities,
                    argv: argv.baseAddress, envp: envp.baseAddress, cgroup: info.cgroup.map(arena.copy),
                    terminal_fd: streams.terminal, stdin_fd: streams.stdin, stdout_fd: streams.stdout,
                    stderr_fd: streams.stderr, terminal_stdio: streams.terminalStdio,
                    terminal_input: streams.terminal == 0 ? 1 : 0, seccomp: seccomp.spawnValue,
                    legacy_cgroups: legacyCgroups.baseAddress, legacy_cgroup_count: legacyCgroups.count)
                return vs_join(&config, &joined, &failure)
              }
            }
        }
        guard result == 0 else { throw CommandFailure(joinFailure: failure) }
        return joined
    }

    /// Waits for a started command (relaying its pty to the caller's terminal when it has one, its output to
    /// `terminalOutput`): its exit status, or 128 + the signal that killed it.
    static func wait(_ joined: inout vs_joined, terminalOutput: Int32 = 1) throws(CommandFailure) -> Int32 {
        let status = joined.master_fd >= 0 ? vs_join_relay(&joined, terminalOutput) : vs_join_wait(&joined)
        guard status >= 0 else {
            throw CommandFailure("waitid: \(String(cString: strerror(errno)))", exitStatus: failureStatus)
        }
        return status
    }

    /// `exec NAME -- COMMAND` and `enter`: runs the command (given what the daemon said about the vserver) with
    /// fds 0-2 passed through, but those that are terminals on a pty relayed to the caller's terminal, and returns
    /// its status.
    static func run(_ name: String, _ manager: ManagerClient, verb: String, _ command: (VServerJoinInfo) -> [String])
        -> Int32
    {
        do throws(CommandFailure) {
            let info = try info(name, manager)
            let streams = Streams.caller()
            var joined = try start(command(info), info, streams)
            return try wait(&joined, terminalOutput: streams.terminalOutput)
        } catch {
            printError("\(verb) \(name)", error)
            return error.exitStatus
        }
    }
}

extension CommandFailure {
    /// A failed join as one line: "nosuchcmd: No such file or directory" (127) for the exec, like a shell;
    /// "not running" when PID 1 went away meanwhile; otherwise the step, its path and the errno text (125).
    init(joinFailure error: vs_error) {
        let failure = SpawnFailure(error)
        if failure.step == "exec" {
            let notFound = failure.errno == ENOENT || failure.errno == ENOTDIR
            self.init("\(failure.path): \(failure.message)",
                      exitStatus: notFound ? Join.notFoundStatus : Join.cannotRunStatus)
        } else if failure.errno == ESRCH && (failure.step == "pidfd_open" || failure.step == "check start time of") {
            self.init("not running (its PID 1 has just ended)", exitStatus: Join.failureStatus)
        } else {
            self.init(failure.description, exitStatus: Join.failureStatus)
        }
    }
}
