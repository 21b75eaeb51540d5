/// The `io.vserverd.Manager` interface (docs/ARCHITECTURE.md §6): its IDL, its value types and its errors.

public let managerInterfaceName = "io.vserverd.Manager"

/// The IDL of `io.vserverd.Manager`, served by `org.varlink.service.GetInterfaceDescription`.
public let managerInterfaceDescription = """
    # Manages the vservers of this host: Linux guest systems that run in their own namespaces.
    interface io.vserverd.Manager

    # How a PID 1 ended: how is exited (status is its exit status), killed or dumped (status is the signal
    # number; dumped: it also dumped core).
    type ExitStatus (how: string, status: int)

    # A vserver, its configuration and, while it runs, its PID 1 and usage.
    # state is one of stopped, starting, running, stopping, failed; reason says why it failed or stopped.
    # exit is how its last PID 1 ended, when vserverd saw it end (not for a stop it was asked for).
    type VServer (name: string, context: int, state: string, root: string, hostname: string,
                  autostart: bool, pid: ?int, startedAt: ?string, processes: ?int, memoryBytes: ?int,
                  reason: ?string, exit: ?ExitStatus)

    # A process on the host; vserver and context are null for a process of the host itself.
    type Process (pid: int, vserver: ?string, context: ?int, command: string)

    # All configured vservers, sorted by name.
    method List() -> (vservers: []VServer)

    # One vserver, by name or context number.
    method Get(name: string) -> (vserver: VServer)

    # Starts a vserver and returns once its PID 1 runs and its post-start hooks succeeded.
    method Start(name: string) -> (vserver: VServer)

    # Stops a vserver: stop-signal to its PID 1, SIGKILL after timeout seconds (default: stop-timeout;
    # 0 to 3600, else InvalidParameter).
    method Stop(name: string, timeout: ?int) -> (vserver: VServer)

    # Stops and starts a vserver.
    method Restart(name: string) -> (vserver: VServer)

    # Starts every vserver with autostart = true, dependencies first, several at a time. A failure skips
    # its dependents; errors has one line per failed or skipped vserver ("web: pre-start hook ...").
    # started is in the order the starts finished. jobs: at most this many at once, 1 to 1024 (default: the
    # daemon's --jobs, which defaults to the number of CPUs).
    method StartAutostart(jobs: ?int) -> (started: []string, failed: []string, errors: []string)

    # Starts every vserver with a valid config, like StartAutostart.
    method StartAll(jobs: ?int) -> (started: []string, failed: []string, errors: []string)

    # Stops every running vserver, dependents first.
    method StopAll() -> (stopped: []string, failed: []string, errors: []string)

    # Reads the configuration directory again.
    method Reload() -> (added: []string, removed: []string, changed: []string)

    # The vserver a host process belongs to; null for a process of the host.
    method Whois(pid: int) -> (vserver: ?string, context: ?int)

    # The processes of one vserver, or every process of the host when name is null (vserver and context are
    # null for the host's own).
    method Processes(name: ?string) -> (processes: []Process)

    # What vserverctl needs to run a command inside a running vserver (enter, exec): its PID 1 on the host with
    # the start time to check a pidfd against (field 22 of /proc/PID/stat), the environment its init got, its
    # bounding set (bit n = capability n), its shell, the directory of its own cgroup (its systemd scope)
    # when it has one, and of its cgroup in the v1 pids hierarchy of a hybrid host (its pids limit), and its
    # seccomp policy ("default" or "unconfined"). Root only: the caller joins its namespaces.
    method Join(name: string) -> (pid: int, startTime: int, environment: [string]string, capabilities: int,
                                  shell: []string, cgroup: ?string, seccomp: ?string, pidsCgroup: ?string)

    # Called with "more": first the current state of every vserver, then one reply per state change,
    # until the client hangs up.
    method Monitor() -> (name: string, state: string, reason: ?string)

    # No vserver has this name or context number.
    error NoSuchVServer (name: string)

    # The configuration of a vserver is invalid; file is the file at fault.
    error InvalidConfig (name: string, file: string, reason: string)

    error AlreadyRunning (name: string)

    error NotRunning (name: string)

    # A vserver listed in after is not running.
    error DependencyNotRunning (name: string, dependency: string)

    # A hook script failed; output holds its last lines. timeout is set when it was killed for running
    # longer than hook-timeout seconds.
    error HookFailed (name: string, hook: string, script: string, exitCode: int, output: string, timeout: ?int)

    # Starting failed at step (for example "mount proc on /vservers/web/proc").
    error StartFailed (name: string, step: string, reason: string)

    # Mutating methods need uid 0 or the group vserverd.
    error PermissionDenied (reason: string)

    # Anything else that failed on the daemon's side (a system call), as a sentence.
    error InternalError (reason: string)

    # Whois: no process has this PID.
    error NoSuchProcess (pid: int)

    """

/// The IDL of `org.varlink.service` as on https://varlink.org/Service, including the two errors added
/// there after the first published version.
public let varlinkServiceInterfaceDescription = """
    # The Varlink Service Interface is provided by every varlink service. It
    # describes the service and the interfaces it implements.
    interface org.varlink.service

    # Get a list of all the interfaces a service provides and information
    # about the implementation.
    method GetInfo() -> (
      vendor: string,
      product: string,
      version: string,
      url: string,
      interfaces: []string
    )

    # Get the description of an interface that is implemented by this service.
    method GetInterfaceDescription(interface: string) -> (description: string)

    # The requested interface was not found.
    error InterfaceNotFound (interface: string)

    # The requested method was not found
    error MethodNotFound (method: string)

    # The interface defines the requested method, but the service does not
    # implement it.
    error MethodNotImplemented (method: string)

    # One of the passed parameters is invalid.
    error InvalidParameter (parameter: string)

    # Client is denied access
    error PermissionDenied ()

    # Method is expected to be called with 'more' set to true, but wasn't
    error ExpectedMore ()

    """

/// Fully-qualified method names of `io.vserverd.Manager`.
public enum ManagerMethod {
    public static let list = "io.vserverd.Manager.List"
    public static let get = "io.vserverd.Manager.Get"
    public static let start = "io.vserverd.Manager.Start"
    public static let stop = "io.vserverd.Manager.Stop"
    public static let restart = "io.vserverd.Manager.Restart"
    public static let startAutostart = "io.vserverd.Manager.StartAutostart"
    public static let startAll = "io.vserverd.Manager.StartAll"
    public static let stopAll = "io.vserverd.Manager.StopAll"
    public static let reload = "io.vserverd.Manager.Reload"
    public static let whois = "io.vserverd.Manager.Whois"
    public static let processes = "io.vserverd.Manager.Processes"
    public static let join = "io.vserverd.Manager.Join"
    public static let monitor = "io.vserverd.Manager.Monitor"
}

/// What the daemon accepts of the numbers and connections of callers (docs/ARCHITECTURE.md §6): a number outside
/// its range is an `InvalidParameter` error naming it, so no value from the socket reaches a conversion that traps.
public enum ManagerLimits {
    /// `Stop(timeout:)` in seconds: 0 kills at once, an hour is as long as `stop-timeout` may be.
    public static let stopTimeout = 0...3600
    /// `jobs` of `StartAutostart`/`StartAll`: parallel starts.
    public static let jobs = 1...1024
    /// Connections one uid may hold open at once; more are answered with PermissionDenied and closed, so that
    /// one local user cannot use up the daemon's file descriptors for everybody else.
    public static let connectionsPerUID = 64
}

/// Fully-qualified error names of `io.vserverd.Manager`.
public enum ManagerErrorName {
    public static let noSuchVServer = "io.vserverd.Manager.NoSuchVServer"
    public static let invalidConfig = "io.vserverd.Manager.InvalidConfig"
    public static let alreadyRunning = "io.vserverd.Manager.AlreadyRunning"
    public static let notRunning = "io.vserverd.Manager.NotRunning"
    public static let dependencyNotRunning = "io.vserverd.Manager.DependencyNotRunning"
    public static let hookFailed = "io.vserverd.Manager.HookFailed"
    public static let startFailed = "io.vserverd.Manager.StartFailed"
    public static let permissionDenied = "io.vserverd.Manager.PermissionDenied"
    public static let internalError = "io.vserverd.Manager.InternalError"
    public static let noSuchProcess = "io.vserverd.Manager.NoSuchProcess"
}

extension VarlinkError {
    public static func noSuchVServer(name: String) -> VarlinkError {
        VarlinkError(name: ManagerErrorName.noSuchVServer, parameters: ["name": .string(name)])
    }

    public static func invalidConfig(name: String, file: String, reason: String) -> VarlinkError {
        VarlinkError(
            name: ManagerErrorName.invalidConfig,
            parameters: ["name": .string(name), "file": .string(file), "reason": .string(reason)]
        )
    }

    public static func alreadyRunning(name: String) -> VarlinkError {
        VarlinkError(name: ManagerErrorName.alreadyRunning, parameters: ["name": .string(name)])
    }

    public static func notRunning(name: String) -> VarlinkError {
        VarlinkError(name: ManagerErrorName.notRunning, parameters: ["name": .string(name)])
    }

    public static func dependencyNotRunning(name: String, dependency: String) -> VarlinkError {
        VarlinkError(
            name: ManagerErrorName.dependencyNotRunning,
            parameters: ["name": .string(name), "dependency": .string(dependency)]
        )
    }

    public static func hookFailed(
        name: String, hook: String, script: String, exitCode: Int, output: String, timeout: Int? = nil
    ) -> VarlinkError {
        var parameters: [String: JSON] = [
            "name": .string(name), "hook": .string(hook), "script": .string(script),
            "exitCode": JSON(exitCode), "output": .string(output),
        ]
        if let timeout { parameters["timeout"] = JSON(timeout) }
        return VarlinkError(name: ManagerErrorName.hookFailed, parameters: parameters)
    }

    public static func startFailed(name: String, step: String, reason: String) -> VarlinkError {
        VarlinkError(
            name: ManagerErrorName.startFailed,
            parameters: ["name": .string(name), "step": .string(step), "reason": .string(reason)]
        )
    }

    /// `io.vserverd.Manager.PermissionDenied`, which unlike `org.varlink.service.PermissionDenied` says why.
    public static func managerPermissionDenied(reason: String) -> VarlinkError {
        VarlinkError(name: ManagerErrorName.permissionDenied, parameters: ["reason": .string(reason)])
    }

    public static func noSuchProcess(pid: Int) -> VarlinkError {
        VarlinkError(name: ManagerErrorName.noSuchProcess, parameters: ["pid": JSON(pid)])
    }

    /// `io.vserverd.Manager.InternalError`: a failure the daemon expects (a system call), as a sentence.
    public static func managerInternalError(reason: String) -> VarlinkError {
        VarlinkError(name: ManagerErrorName.internalError, parameters: ["reason": .string(reason)])
    }
}

// MARK: - Types

/// `type ExitStatus` of the IDL: how a process ended, as waitid(2) tells it (si_code, si_status).
public struct ExitStatus: Sendable, Equatable, CustomStringConvertible {
    public enum How: String, Sendable, Equatable {
        case exited
        case killed
        /// Killed, and dumped core.
        case dumped
    }

    public var how: How
    /// The exit status, or the signal number.
    public var status: Int

    public init(how: How, status: Int) {
        self.how = how
        self.status = status
    }

    public init(json: JSON) throws(VarlinkError) {
        guard let fields = json.objectValue, let how = How(rawValue: try fields.requiredString("how")) else {
            throw .invalidParameter("exit")
        }
        self.how = how
        status = try fields.requiredInt("status")
    }

    public var json: JSON { .object(["how": .string(how.rawValue), "status": JSON(status)]) }

    /// "exited with status 255", "killed by signal 9", "dumped core on signal 11".
    public var description: String {
        switch how {
        case .exited: "exited with status \(status)"
        case .killed: "killed by signal \(status)"
        case .dumped: "dumped core on signal \(status)"
        }
    }
}

/// `type VServer` of the IDL.
public struct VServerInfo: Sendable, Equatable {
    public var name: String
    public var context: Int
    /// stopped, starting, running, stopping or failed.
    public var state: String
    public var root: String
    public var hostname: String
    public var autostart: Bool
    /// PID 1 of the vserver as seen on the host, while it runs.
    public var pid: Int32?
    /// When it was started, RFC 3339 in UTC.
    public var startedAt: String?
    public var processes: Int?
    public var memoryBytes: Int?
    /// Why it is `failed`, or why it stopped by itself.
    public var reason: String?
    /// How its last PID 1 ended, when vserverd saw it end.
    public var exit: ExitStatus?

    public init(
        name: String,
        context: Int,
        state: String,
        root: String,
        hostname: String,
        autostart: Bool,
        pid: Int32? = nil,
        startedAt: String? = nil,
        processes: Int? = nil,
        memoryBytes: Int? = nil,
        reason: String? = nil,
        exit: ExitStatus? = nil
    ) {
        self.name = name
        self.context = context
        self.state = state
        self.root = root
        self.hostname = hostname
        self.autostart = autostart
        self.pid = pid
        self.startedAt = startedAt
        self.processes = processes
        self.memoryBytes = memoryBytes
        self.reason = reason
        self.exit = exit
    }

    public init(json: JSON) throws(VarlinkError) {
        guard let fields = json.objectValue else { throw .invalidParameter("vserver") }
        name = try fields.requiredString("name")
        context = try fields.requiredInt("context")
        state = try fields.requiredString("state")
        root = try fields.requiredString("root")
        hostname = try fields.requiredString("hostname")
        autostart = try fields.requiredBool("autostart")
        pid = try fields.optionalPID("pid")
        startedAt = try fields.optionalString("startedAt")
        processes = try fields.optionalInt("processes")
        memoryBytes = try fields.optionalInt("memoryBytes")
        reason = try fields.optionalString("reason")
        if let value = fields["exit"], value != .null { exit = try ExitStatus(json: value) } else { exit = nil }
    }

    /// Absent optional fields are left out.
    public var json: JSON {
        var fields: [String: JSON] = [
            "name": .string(name), "context": JSON(context), "state": .string(state), "root": .string(root),
            "hostname": .string(hostname), "autostart": .bool(autostart),
        ]
        if let pid { fields["pid"] = JSON(pid) }
        if let startedAt { fields["startedAt"] = .string(startedAt) }
        if let processes { fields["processes"] = JSON(processes) }
        if let memoryBytes { fields["memoryBytes"] = JSON(memoryBytes) }
        if let reason { fields["reason"] = .string(reason) }
        if let exit { fields["exit"] = exit.json }
        return .object(fields)
    }
}

/// `type Process` of the IDL.
public struct ProcessInfo: Sendable, Equatable {
    public var pid: Int32
    /// nil for a process of the host.
    public var vserver: String?
    public var context: Int?
    public var command: String

    public init(pid: Int32, vserver: String? = nil, context: Int? = nil, command: String) {
        self.pid = pid
        self.vserver = vserver
        self.context = context
        self.command = command
    }

    public init(json: JSON) throws(VarlinkError) {
        guard let fields = json.objectValue else { throw .invalidParameter("processes") }
        guard let pid = try fields.optionalPID("pid") else { throw .invalidParameter("pid") }
        self.pid = pid
        vserver = try fields.optionalString("vserver")
        context = try fields.optionalInt("context")
        command = try fields.requiredString("command")
    }

    public var json: JSON {
        var fields: [String: JSON] = ["pid": JSON(pid), "command": .string(command)]
        if let vserver { fields["vserver"] = .string(vserver) }
        if let context { fields["context"] = JSON(context) }
        return .object(fields)
    }
}

/// One reply of `Monitor`: a vserver changed state.
public struct VServerStateChange: Sendable, Equatable {
    public var name: String
    public var state: String
    public var reason: String?

    public init(name: String, state: String, reason: String? = nil) {
        self.name = name
        self.state = state
        self.reason = reason
    }

    /// From the parameters of a `Monitor` reply.
    public init(parameters: [String: JSON]) throws(VarlinkError) {
        name = try parameters.requiredString("name")
        state = try parameters.requiredString("state")
        reason = try parameters.optionalString("reason")
    }

    /// The parameters of a `Monitor` reply.
    public var parameters: [String: JSON] {
        var fields: [String: JSON] = ["name": .string(name), "state": .string(state)]
        if let reason { fields["reason"] = .string(reason) }
        return fields
    }
}

extension Dictionary where Key == String, Value == JSON {
    fileprivate func optionalPID(_ name: String) throws(VarlinkError) -> Int32? {
        guard let value = try optionalInt(name) else { return nil }
        guard let pid = Int32(exactly: value), pid > 0 else { throw .invalidParameter(name) }
        return pid
    }
}
