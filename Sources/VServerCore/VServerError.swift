/// A failed hook script, with what the admin needs to fix it.
public struct HookFailure: Sendable, Equatable {
    public var name: String
    public var hook: String       // the flavour: pre-start, post-start, ...
    public var script: String     // as shown: "scripts/pre-start" or an absolute path for global hooks
    public var exitCode: Int      // exit status, or 128 + signal when it was killed
    public var output: String     // its last lines
    public var timeout: Int?      // seconds, when it was killed for running past hook-timeout

    public init(name: String, hook: String, script: String, exitCode: Int, output: String, timeout: Int? = nil) {
        self.name = name
        self.hook = hook
        self.script = script
        self.exitCode = exitCode
        self.output = output
        self.timeout = timeout
    }

    public var description: String {
        var text = "\(hook) hook \(script) "
        if let timeout {
            text += "timed out after \(timeout) s and was killed"
        } else if exitCode > 128 {
            text += "was killed by signal \(exitCode - 128)"
        } else {
            text += "exited \(exitCode)"
        }
        if let lastLine = output.split(separator: "\n").last { text += ": \(lastLine)" }
        return text
    }
}

/// The one error type of vserverd: each case is a Varlink error of io.vserverd.Manager (docs/ARCHITECTURE.md §6), and
/// `description` is the line the user reads after "vserverctl: VERB NAME: ".
public enum VServerError: Error, Sendable, Equatable, CustomStringConvertible {
    case noSuchVServer(name: String)
    case invalidConfig(name: String, file: String, reason: String)
    case alreadyRunning(name: String)
    case notRunning(name: String)
    case dependencyNotRunning(name: String, dependency: String)
    case hookFailed(HookFailure)
    case startFailed(name: String, step: String, reason: String)
    case permissionDenied(reason: String)
    /// Whois of a PID that no process has.
    case noSuchProcess(pid: Int32)
    /// Anything else that went wrong on the daemon's side (a failed syscall), as a sentence.
    case internalError(String)

    public var description: String {
        switch self {
        case .noSuchVServer(let name): "no vserver named \(name)"
        case .invalidConfig(_, _, let reason): "invalid config: \(reason)"
        case .alreadyRunning: "already running"
        case .notRunning: "not running"
        case .dependencyNotRunning(_, let dependency): "depends on \(dependency), which is not running"
        case .hookFailed(let failure): failure.description
        case .startFailed(_, _, let reason): reason
        case .permissionDenied(let reason): "permission denied: \(reason)"
        case .noSuchProcess(let pid): "no process with PID \(pid)"
        case .internalError(let text): text
        }
    }

    init(_ error: ConfigError, name: String) {
        self = .invalidConfig(name: name, file: error.file, reason: error.description)
    }

    init(_ error: SystemError) {
        self = .internalError(error.description)
    }
}
