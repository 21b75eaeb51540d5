import VServerProtocol

/// VServerError as io.vserverd.Manager errors on the wire, and back in vserverctl, so the client prints
/// exactly the sentence the daemon logged.
extension VServerError: VarlinkErrorConvertible {
    static let interface = "io.vserverd.Manager"

    public var varlinkError: VarlinkError {
        switch self {
        case .noSuchVServer(let name): .noSuchVServer(name: name)
        case .invalidConfig(let name, let file, let reason): .invalidConfig(name: name, file: file, reason: reason)
        case .alreadyRunning(let name): .alreadyRunning(name: name)
        case .notRunning(let name): .notRunning(name: name)
        case .dependencyNotRunning(let name, let dependency): .dependencyNotRunning(name: name, dependency: dependency)
        case .hookFailed(let failure):
            .hookFailed(name: failure.name, hook: failure.hook, script: failure.script, exitCode: failure.exitCode,
                        output: failure.output, timeout: failure.timeout)
        case .startFailed(let name, let step, let reason): .startFailed(name: name, step: step, reason: reason)
        case .permissionDenied(let reason): .managerPermissionDenied(reason: reason)
        case .noSuchProcess(let pid): .noSuchProcess(pid: Int(pid))
        case .internalError(let reason): .managerInternalError(reason: reason)
        }
    }

    /// The error a Manager reply carried; nil for errors of other interfaces (org.varlink.service.*).
    public init?(_ error: VarlinkError) {
        let prefix = "\(Self.interface)."
        guard error.name.hasPrefix(prefix) else { return nil }
        let p = error.parameters
        func string(_ key: String) -> String { p[key]?.stringValue ?? "" }
        switch error.name.dropFirst(prefix.count) {
        case "NoSuchVServer": self = .noSuchVServer(name: string("name"))
        case "InvalidConfig":
            self = .invalidConfig(name: string("name"), file: string("file"), reason: string("reason"))
        case "AlreadyRunning": self = .alreadyRunning(name: string("name"))
        case "NotRunning": self = .notRunning(name: string("name"))
        case "DependencyNotRunning":
            self = .dependencyNotRunning(name: string("name"), dependency: string("dependency"))
        case "HookFailed":
            self = .hookFailed(HookFailure(
                name: string("name"), hook: string("hook"), script: string("script"),
                exitCode: p["exitCode"]?.intValue ?? -1, output: string("output"), timeout: p["timeout"]?.intValue))
        case "StartFailed": self = .startFailed(name: string("name"), step: string("step"), reason: string("reason"))
        case "PermissionDenied": self = .permissionDenied(reason: string("reason"))
        case "NoSuchProcess": self = .noSuchProcess(pid: Int32(clamping: p["pid"]?.intValue ?? 0))
        case "InternalError": self = .internalError(string("reason"))
        default: return nil
        }
    }
}
