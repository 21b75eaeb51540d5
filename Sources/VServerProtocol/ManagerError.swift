/// The errors of `io.vserverd.Manager`, as named in its IDL (`managerInterfaceDescription`).
public enum ManagerErrorName: String, CaseIterable, Sendable {
    case noSuchVServer = "NoSuchVServer"
    case invalidConfig = "InvalidConfig"
    case alreadyRunning = "AlreadyRunning"
    case notRunning = "NotRunning"
    case dependencyNotRunning = "DependencyNotRunning"
    case hookFailed = "HookFailed"
    case startFailed = "StartFailed"
    case permissionDenied = "PermissionDenied"
    case internalError = "InternalError"
    case noSuchProcess = "NoSuchProcess"

    /// "io.vserverd.Manager.NoSuchVServer".
    public var qualifiedName: String { "\(managerInterfaceName).\(rawValue)" }

    /// The error a fully-qualified name stands for; nil for other interfaces' errors and unknown names.
    public init?(qualifiedName: String) {
        let prefix = "\(managerInterfaceName)."
        guard qualifiedName.hasPrefix(prefix) else { return nil }
        self.init(rawValue: String(qualifiedName.dropFirst(prefix.count)))
    }
}

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

/// The one error of the Manager interface, on both sides of the socket: the daemon throws it and sends its Varlink
/// form, `ManagerClient` throws it back, and `description` is the line the user reads after "vserverctl: VERB NAME: ".
/// Its first cases are the errors of the IDL (docs/ARCHITECTURE.md §6); the last two only happen in the client.
public enum ManagerError: Error, Sendable, Equatable, CustomStringConvertible {
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
    /// An error of another interface (`org.varlink.service.InvalidParameter`, ...) or one this client does not
    /// know, as it came.
    case otherError(VarlinkError)
    /// The daemon could not be reached, or the connection broke.
    case connectionFailed(VarlinkConnectionError)

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
        case .otherError(let error): error.description
        case .connectionFailed(let error): error.description
        }
    }

    /// The error's name in the IDL; nil for the client-side cases.
    public var errorName: ManagerErrorName? {
        switch self {
        case .noSuchVServer: .noSuchVServer
        case .invalidConfig: .invalidConfig
        case .alreadyRunning: .alreadyRunning
        case .notRunning: .notRunning
        case .dependencyNotRunning: .dependencyNotRunning
        case .hookFailed: .hookFailed
        case .startFailed: .startFailed
        case .permissionDenied: .permissionDenied
        case .noSuchProcess: .noSuchProcess
        case .internalError: .internalError
        case .otherError, .connectionFailed: nil
        }
    }
}

extension ManagerError: VarlinkErrorConvertible {
    /// The error as the daemon sends it.
    public var varlinkError: VarlinkError {
        let parameters: [String: JSON]
        switch self {
        case .noSuchVServer(let name), .alreadyRunning(let name), .notRunning(let name):
            parameters = ["name": .string(name)]
        case .invalidConfig(let name, let file, let reason):
            parameters = ["name": .string(name), "file": .string(file), "reason": .string(reason)]
        case .dependencyNotRunning(let name, let dependency):
            parameters = ["name": .string(name), "dependency": .string(dependency)]
        case .hookFailed(let failure):
            var fields: [String: JSON] = [
                "name": .string(failure.name), "hook": .string(failure.hook), "script": .string(failure.script),
                "exitCode": JSON(failure.exitCode), "output": .string(failure.output),
            ]
            if let timeout = failure.timeout { fields["timeout"] = JSON(timeout) }
            parameters = fields
        case .startFailed(let name, let step, let reason):
            parameters = ["name": .string(name), "step": .string(step), "reason": .string(reason)]
        case .permissionDenied(let reason), .internalError(let reason):
            parameters = ["reason": .string(reason)]
        case .noSuchProcess(let pid):
            parameters = ["pid": JSON(pid)]
        case .otherError(let error):
            return error
        case .connectionFailed(let error):
            // Never sent: a client-side failure that reached a server (a proxy) is an internal error there.
            return ManagerError.internalError(error.description).varlinkError
        }
        return VarlinkError(name: errorName!.qualifiedName, parameters: parameters)
    }

    /// The error a reply carried. Errors of other interfaces, and Manager errors this client does not know,
    /// are kept as they came (`otherError`).
    public init(_ error: VarlinkError) {
        guard let name = ManagerErrorName(qualifiedName: error.name) else {
            self = .otherError(error)
            return
        }
        let p = error.parameters
        func string(_ key: String) -> String { p[key]?.stringValue ?? "" }
        switch name {
        case .noSuchVServer: self = .noSuchVServer(name: string("name"))
        case .invalidConfig:
            self = .invalidConfig(name: string("name"), file: string("file"), reason: string("reason"))
        case .alreadyRunning: self = .alreadyRunning(name: string("name"))
        case .notRunning: self = .notRunning(name: string("name"))
        case .dependencyNotRunning:
            self = .dependencyNotRunning(name: string("name"), dependency: string("dependency"))
        case .hookFailed:
            self = .hookFailed(HookFailure(
                name: string("name"), hook: string("hook"), script: string("script"),
                exitCode: p["exitCode"]?.intValue ?? -1, output: string("output"), timeout: p["timeout"]?.intValue))
        case .startFailed: self = .startFailed(name: string("name"), step: string("step"), reason: string("reason"))
        case .permissionDenied: self = .permissionDenied(reason: string("reason"))
        case .noSuchProcess: self = .noSuchProcess(pid: Int32(clamping: p["pid"]?.intValue ?? 0))
        case .internalError: self = .internalError(string("reason"))
        }
    }
}
