import Glibc
import Logging
import VServerConfig
import VServerProtocol

/// Runs hook scripts as docs/ARCHITECTURE.md §5 says: global then the vserver's own, plain script then `.d/*` sorted,
/// argv `FLAVOUR NAME`, a clean environment, cwd the config dir, output to the log, killed past the timeout.
struct HookRunner: Sendable {
    /// The config root (`/etc/vservers`): global hooks live in `.defaults/scripts/`.
    let configRoot: String
    let logger: Logger
    /// Who may own the scripts and the directories above them (root when vserverd runs as root).
    var trust = TrustedTree(owner: geteuid() == 0 ? 0 : nil)
    /// How many of a failed script's last output lines go into the error.
    static let outputLinesKept = 10

    typealias Script = HookScripts.Script

    init(configRoot: String, logger: Logger) {
        self.configRoot = FileSystem.absolutePath(configRoot)
        self.logger = logger
    }

    /// The scripts to run for a flavour, in order, each checked to be root's alone (docs/ARCHITECTURE.md §5).
    func scripts(_ flavour: HookFlavour, for config: VServerConfig) throws(ManagerError) -> [Script] {
        try scripts([flavour], for: config)[flavour] ?? []
    }

    /// Refuses a start before anything of it happens when any hook it may run, of any flavour, could have been
    /// changed by someone other than root (finding 1 of issue 10): a post-start script must not run either.
    func check(_ config: VServerConfig) throws(ManagerError) {
        _ = try scripts(HookFlavour.allCases, for: config)
    }

    private func scripts(_ flavours: [HookFlavour], for config: VServerConfig) throws(ManagerError)
        -> [HookFlavour: [Script]]
    {
        // A leftover guest (re-adopted, its config directory gone) runs none: its paths and name would come from
        // its state file alone, and an empty config directory would make "/scripts" the vserver's own hooks.
        if config.isLeftover { return [:] }
        do throws(ConfigError) {
            return try HookScripts.find(flavours, configRoot: configRoot, vserverDirectory: config.configDirectory,
                                        trust: trust)
        } catch {
            throw ManagerError(error, name: config.name)
        }
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
    func run(_ flavour: HookFlavour, for config: VServerConfig, pid: Int32? = nil) async throws(ManagerError) {
        for script in try scripts(flavour, for: config) {
            var logger = logger.about(vserver: config.name, context: config.context)
            logger[metadataKey: "hook"] = "\(flavour.rawValue)"
            let arguments = [script.path, script.hook.isEmpty ? flavour.rawValue : script.hook, config.name]
            let environment = environment(flavour, for: config, pid: pid)
            let timeout = config.hookTimeout
            let directory = config.configDirectory
            let crash = CrashPoint.during(flavour)
            let result: HookResult
            do {
                result = try await onBlockingThread { [logger] in
                    try HookRunner.runScript(arguments: arguments, environment: environment, directory: directory,
                                             timeout: timeout) { line in
                        logger.info("\(line)", metadata: ["script": "\(script.display)"])
                        crash?.reached()
                    }
                }
            } catch let error as SystemError {
                throw .hookFailed(HookFailure(name: config.name, hook: flavour.rawValue, script: script.display,
                                              exitCode: 127, output: error.description))
            } catch {
                throw .internalError("\(error)")
            }
            logger.debug("\(script.display) exited \(result.exitCode)")
            if result.leftProcesses {
                let advice = "a hook that starts a service runs it with systemd-run, or leaves it detached with setsid "
                    + "before it exits"
                logger.warning("\(script.display) left processes running in its process group: killed (\(advice))")
            }
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
            logger.about(vserver: config.name, context: config.context)
                .warning("\(error)", metadata: ["hook": "\(flavour.rawValue)"])
        }
    }

    struct HookResult: Sendable {
        var exitCode: Int
        var timedOut: Bool
        var lastLines: [String]
        /// It left processes running in its process group, which were killed.
        var leftProcesses = false
    }

    /// Spawns one script and waits for it, relaying its output line by line. Blocking.
    /// Past `timeout` seconds its process group gets SIGTERM, 2 s later SIGKILL; when it exits, SIGKILL.
    static func runScript(arguments: [String], environment: [String], directory: String, timeout: Int,
                          onLine: @escaping (String) -> Void) throws -> HookResult
    {
        let child = try ChildProcess(arguments: arguments, environment: environment, directory: directory)
        child.killsGroupOnExit = true
        var output = LineCollector(keep: outputLinesKept, onLine: onLine)
        var deadline: ContinuousClock.Instant? = .now + .seconds(timeout)
        var signalsSent = 0
        while true {
            switch try child.wait(until: deadline, lines: &output) {
            case .exited(let code):
                return HookResult(exitCode: code, timedOut: signalsSent > 0, lastLines: output.lastLines,
                                  leftProcesses: signalsSent == 0 && child.leftProcessesInGroup)
            case .deadlinePassed:
                signalsSent += 1
                child.signalGroup(signalsSent == 1 ? SIGTERM : SIGKILL)
                deadline = signalsSent == 1 ? .now + .seconds(2) : nil
            case .readable:
                continue
            }
        }
    }
}
