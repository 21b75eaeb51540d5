import CVServerSpawn
import Glibc
import Logging

/// The four moments a vserver's scripts run at (util-vserver's names).
public enum HookFlavour: String, Sendable, CaseIterable {
    case preStart = "pre-start"
    case postStart = "post-start"
    case preStop = "pre-stop"
    case postStop = "post-stop"

    /// PID 1 of the guest exists during these, so scripts get VSERVER_PID.
    var hasGuestPID: Bool { self == .postStart || self == .preStop }
}

/// Runs hook scripts as DESIGN.md §5 says: global then the vserver's own, plain script then `.d/*` sorted,
/// argv `FLAVOUR NAME`, a clean environment, cwd the config dir, output to the log, killed past the timeout.
struct HookRunner: Sendable {
    /// The config root (`/etc/vservers`): global hooks live in `.defaults/scripts/`.
    let configRoot: String
    let logger: Logger
    /// How many of a failed script's last output lines go into the error.
    static let outputLinesKept = 10

    struct Script: Equatable {
        var path: String
        /// How the error names it: relative to the vserver's config dir, absolute for global hooks.
        var display: String
    }

    /// The scripts to run for a flavour, in order: executables only, `.d` entries sorted by name.
    func scripts(_ flavour: HookFlavour, for config: VServerConfig) -> [Script] {
        let global = "\(configRoot)/.defaults/scripts"
        let own = "\(config.configDirectory)/scripts"
        var scripts: [Script] = []
        for (directory, relative) in [(global, false), (own, true)] {
            let single = "\(directory)/\(flavour.rawValue)"
            let display = { (path: String) in
                relative ? String(path.dropFirst(config.configDirectory.count + 1)) : path
            }
            if isExecutableFile(single) { scripts.append(Script(path: single, display: display(single))) }
            let partsDirectory = single + ".d"
            for entry in FileSystem.entries(partsDirectory) {
                // Skip hidden files and editor/dpkg leftovers, as run-parts does.
                if entry.hasPrefix(".") || entry.hasSuffix("~") || entry.contains(".dpkg-") { continue }
                let path = "\(partsDirectory)/\(entry)"
                if isExecutableFile(path) { scripts.append(Script(path: path, display: display(path))) }
            }
        }
        return scripts
    }

    func environment(_ flavour: HookFlavour, for config: VServerConfig, pid: Int32?) -> [String] {
        var environment = [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "VSERVER_NAME=\(config.name)",
            "VSERVER_CONTEXT=\(config.context)",
            "VSERVER_ROOT=\(config.root)",
            "VSERVER_CONFIG_DIR=\(config.configDirectory)",
            "VSERVER_HOOK=\(flavour.rawValue)",
        ]
        if flavour.hasGuestPID, let pid { environment.append("VSERVER_PID=\(pid)") }
        return environment
    }

    /// Runs every script of the flavour in order and stops at the first that fails.
    func run(_ flavour: HookFlavour, for config: VServerConfig, pid: Int32? = nil) async throws(VServerError) {
        for script in scripts(flavour, for: config) {
            var logger = self.logger
            logger[metadataKey: "vserver"] = "\(config.name)"
            logger[metadataKey: "vserver_context"] = "\(config.context)"
            logger[metadataKey: "hook"] = "\(flavour.rawValue)"
            let arguments = [script.path, flavour.rawValue, config.name]
            let environment = environment(flavour, for: config, pid: pid)
            let timeout = config.hookTimeout
            let directory = config.configDirectory
            let result: HookResult
            do {
                result = try await onBlockingThread { [logger] in
                    try HookRunner.runScript(arguments: arguments, environment: environment, directory: directory,
                                             timeout: timeout) { line in
                        logger.info("\(line)", metadata: ["script": "\(script.display)"])
                    }
                }
            } catch let error as SystemError {
                throw .hookFailed(HookFailure(name: config.name, hook: flavour.rawValue, script: script.display,
                                              exitCode: 127, output: error.description))
            } catch {
                throw .internalError("\(error)")
            }
            logger.debug("\(script.display) exited \(result.exitCode)")
            if result.exitCode != 0 || result.timedOut {
                throw .hookFailed(HookFailure(
                    name: config.name, hook: flavour.rawValue, script: script.display, exitCode: result.exitCode,
                    output: result.lastLines.joined(separator: "\n"), timeout: result.timedOut ? timeout : nil))
            }
        }
    }

    /// Runs hooks whose failure must not stop what is going on (pre-stop, post-stop): failures are logged.
    func runLoggingFailures(_ flavour: HookFlavour, for config: VServerConfig, pid: Int32? = nil) async {
        do {
            try await run(flavour, for: config, pid: pid)
        } catch {
            logger.warning("\(error)", metadata: ["vserver": "\(config.name)", "vserver_context": "\(config.context)",
                                                  "hook": "\(flavour.rawValue)"])
        }
    }

    struct HookResult: Sendable {
        var exitCode: Int
        var timedOut: Bool
        var lastLines: [String]
    }

    /// Spawns one script and waits for it, relaying its output line by line. Blocking.
    /// Past `timeout` seconds its process group gets SIGTERM, 2 s later SIGKILL.
    static func runScript(arguments: [String], environment: [String], directory: String, timeout: Int,
                          onLine: @escaping (String) -> Void) throws -> HookResult
    {
        var pipeFDs: [Int32] = [-1, -1]
        guard vs_pipe2(&pipeFDs, O_CLOEXEC | O_NONBLOCK) == 0 else { throw SystemError("pipe2") }
        let (readEnd, writeEnd) = (pipeFDs[0], pipeFDs[1])
        defer { close(readEnd) }

        let arena = CStringArena()
        let argv = arena.nullTerminated(arguments)
        let envp = arena.nullTerminated(environment)
        let pid = vs_spawn_hook(arguments[0], argv, envp, directory, writeEnd)
        let spawnErrno = errno
        close(writeEnd)
        guard pid > 0 else { throw SystemError("exec", path: arguments[0], errno: spawnErrno) }
        let pidfd = vs_pidfd_open(pid)
        guard pidfd >= 0 else {
            let error = SystemError("pidfd_open", path: arguments[0])
            kill(-pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            throw error
        }
        defer { close(pidfd) }

        var output = LineCollector(keep: outputLinesKept, onLine: onLine)
        let clock = ContinuousClock()
        var deadline = clock.now + .seconds(timeout)
        var killStage = 0  // 0: running, 1: SIGTERM sent, 2: SIGKILL sent
        var pipeOpen = true
        while true {
            var polled = [pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0),
                          pollfd(fd: pipeOpen ? readEnd : -1, events: Int16(POLLIN), revents: 0)]
            let remaining = killStage == 2 ? -1 : max(0, milliseconds(deadline - clock.now))
            let ready = poll(&polled, 2, Int32(clamping: remaining))
            if ready < 0 && errno != EINTR { throw SystemError("poll", path: arguments[0]) }
            if pipeOpen && polled[1].revents != 0 {
                pipeOpen = output.drain(readEnd)
            }
            if polled[0].revents != 0 {
                var exited: Int32 = 0
                var code: Int32 = 0
                guard vs_pidfd_wait(pidfd, 0, &exited, &code) == 0 else {
                    throw SystemError("waitid", path: arguments[0])
                }
                // What it wrote before exiting is in the pipe; grandchildren holding it open don't count.
                if pipeOpen { _ = output.drain(readEnd) }
                output.flush()
                return HookResult(exitCode: Int(code), timedOut: killStage > 0, lastLines: output.lastLines)
            }
            if killStage < 2 && clock.now >= deadline {
                killStage += 1
                kill(-pid, killStage == 1 ? SIGTERM : SIGKILL)
                deadline = clock.now + .seconds(2)
            }
        }
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000) + 1
    }
}

/// Splits a stream of output into lines, hands each on, and keeps the last few.
struct LineCollector {
    let keep: Int
    let onLine: (String) -> Void
    private(set) var lastLines: [String] = []
    private var partial: [UInt8] = []

    init(keep: Int, onLine: @escaping (String) -> Void) {
        self.keep = keep
        self.onLine = onLine
    }

    /// Reads what is available from a non-blocking fd; false at end of file.
    mutating func drain(_ fd: Int32) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count > 0 {
                append(buffer[0..<count])
            } else if count == 0 {
                return false
            } else {
                return errno == EAGAIN || errno == EINTR
            }
        }
    }

    mutating func append(_ bytes: ArraySlice<UInt8>) {
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                emit()
            } else if partial.count < 4096 {
                partial.append(byte)
            }
        }
    }

    mutating func flush() {
        if !partial.isEmpty { emit() }
    }

    private mutating func emit() {
        let line = String(decoding: partial, as: UTF8.self)
        partial.removeAll(keepingCapacity: true)
        onLine(line)
        lastLines.append(line)
        if lastLines.count > keep { lastLines.removeFirst() }
    }
}

func isExecutableFile(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && access(path, X_OK) == 0
}
