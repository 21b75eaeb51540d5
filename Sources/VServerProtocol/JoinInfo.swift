/// The reply of `Join`: what `vserverctl enter` and `exec` need to run a command inside a running vserver.
public struct VServerJoinInfo: Sendable, Equatable {
    /// PID 1 of the vserver as the host sees it.
    public var pid: Int32
    /// Field 22 of /proc/PID/stat of PID 1: with the PID it names that one process for good.
    public var startTime: UInt64
    /// The environment of the vserver's init (its `environment` over the defaults).
    public var environment: [String: String]
    /// The bounding set: bit n = capability n.
    public var capabilities: UInt64
    /// `shell` of the config, for `enter` without a command.
    public var shell: [String]
    /// The directory of the vserver's own cgroup (its systemd scope), which the command joins; nil without one.
    public var cgroup: String?
    /// `[security] seccomp` of the vserver: "default" or "unconfined" (nil from an older daemon: the default).
    public var seccomp: String?
    /// PID 1's cgroups in the v1 hierarchies (a hybrid host), which the command joins too: the vserver's limits.
    public var legacyCgroups: [String]

    public init(pid: Int32, startTime: UInt64, environment: [String: String], capabilities: UInt64,
                shell: [String], cgroup: String? = nil, seccomp: String? = nil, legacyCgroups: [String] = []) {
        self.pid = pid
        self.startTime = startTime
        self.environment = environment
        self.capabilities = capabilities
        self.shell = shell
        self.cgroup = cgroup
        self.seccomp = seccomp
        self.legacyCgroups = legacyCgroups
    }

    public init(parameters: [String: JSON]) throws(VarlinkError) {
        let pid = try parameters.requiredInt("pid")
        guard let pid = Int32(exactly: pid), pid > 0 else { throw .invalidParameter("pid") }
        self.pid = pid
        guard let startTime = UInt64(exactly: try parameters.requiredInt("startTime")) else {
            throw .invalidParameter("startTime")
        }
        self.startTime = startTime
        guard let capabilities = UInt64(exactly: try parameters.requiredInt("capabilities")) else {
            throw .invalidParameter("capabilities")
        }
        self.capabilities = capabilities
        guard let environment = parameters["environment"]?.objectValue else {
            throw .invalidParameter("environment")
        }
        var variables: [String: String] = [:]
        for (key, value) in environment {
            guard let text = value.stringValue else { throw .invalidParameter("environment") }
            variables[key] = text
        }
        self.environment = variables
        shell = try parameters.requiredStringArray("shell")
        cgroup = try parameters.optionalString("cgroup")
        seccomp = try parameters.optionalString("seccomp")
        legacyCgroups = parameters["legacyCgroups"] == nil || parameters["legacyCgroups"] == .null
            ? [] : try parameters.requiredStringArray("legacyCgroups")
    }

    public var parameters: [String: JSON] {
        var parameters: [String: JSON] = [
            "pid": JSON(pid), "startTime": JSON(startTime), "capabilities": JSON(capabilities),
            "environment": .object(environment.mapValues { .string($0) }),
            "shell": .array(shell.map { .string($0) }),
        ]
        if let cgroup { parameters["cgroup"] = .string(cgroup) }
        if let seccomp { parameters["seccomp"] = .string(seccomp) }
        if !legacyCgroups.isEmpty { parameters["legacyCgroups"] = .array(legacyCgroups.map { .string($0) }) }
        return parameters
    }
}
