/// The value types of `io.vserverd.Manager`: the `type`s of its IDL and what its replies carry.

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

/// The state of a vserver, as `VServer.state` and `Monitor` name it.
public enum VServerState: String, Sendable, Equatable, CaseIterable {
    case stopped
    case starting
    case running
    case stopping
    case failed
}

/// `type VServer` of the IDL.
public struct VServerInfo: Sendable, Equatable {
    public var name: String
    public var context: Int
    public var state: VServerState
    public var root: String
    public var hostname: String
    public var autostart: Bool
    /// PID 1 of the vserver as seen on the host, while it runs.
    public var pid: Int32?
    /// When it was started, RFC 3339 in UTC.
    public var startedAt: String?
    public var processes: Int?
    public var memoryBytes: Int?
    /// The rest of its accounting, where its cgroups count it (vserver-stat's figures).
    public var memoryPeakBytes: Int?
    public var cpuUserSeconds: Double?
    public var cpuSystemSeconds: Double?
    public var ioReadBytes: Int?
    public var ioWriteBytes: Int?
    /// Space its root uses, and its `[disk] space-max`, where the file system accounts it (a btrfs qgroup).
    public var diskBytes: Int?
    public var diskLimitBytes: Int?
    /// Why it is `failed`, or why it stopped by itself.
    public var reason: String?
    /// How its last PID 1 ended, when vserverd saw it end.
    public var exit: ExitStatus?

    public init(
        name: String,
        context: Int,
        state: VServerState,
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
        state = try VServerState(parameter: fields, "state")
        root = try fields.requiredString("root")
        hostname = try fields.requiredString("hostname")
        autostart = try fields.requiredBool("autostart")
        pid = try fields.optionalPID("pid")
        startedAt = try fields.optionalString("startedAt")
        processes = try fields.optionalInt("processes")
        memoryBytes = try fields.optionalInt("memoryBytes")
        memoryPeakBytes = try fields.optionalInt("memoryPeakBytes")
        cpuUserSeconds = try fields.optionalDouble("cpuUserSeconds")
        cpuSystemSeconds = try fields.optionalDouble("cpuSystemSeconds")
        ioReadBytes = try fields.optionalInt("ioReadBytes")
        ioWriteBytes = try fields.optionalInt("ioWriteBytes")
        diskBytes = try fields.optionalInt("diskBytes")
        diskLimitBytes = try fields.optionalInt("diskLimitBytes")
        reason = try fields.optionalString("reason")
        if let value = fields["exit"], value != .null { exit = try ExitStatus(json: value) } else { exit = nil }
    }

    /// User + system time, where it is counted.
    public var cpuSeconds: Double? {
        guard let cpuUserSeconds, let cpuSystemSeconds else { return nil }
        return cpuUserSeconds + cpuSystemSeconds
    }

    /// Absent optional fields are left out.
    public var json: JSON {
        var fields: [String: JSON] = [
            "name": .string(name), "context": JSON(context), "state": .string(state.rawValue), "root": .string(root),
            "hostname": .string(hostname), "autostart": .bool(autostart),
        ]
        if let pid { fields["pid"] = JSON(pid) }
        if let startedAt { fields["startedAt"] = .string(startedAt) }
        if let processes { fields["processes"] = JSON(processes) }
        if let memoryBytes { fields["memoryBytes"] = JSON(memoryBytes) }
        if let memoryPeakBytes { fields["memoryPeakBytes"] = JSON(memoryPeakBytes) }
        if let cpuUserSeconds { fields["cpuUserSeconds"] = .double(cpuUserSeconds) }
        if let cpuSystemSeconds { fields["cpuSystemSeconds"] = .double(cpuSystemSeconds) }
        if let ioReadBytes { fields["ioReadBytes"] = JSON(ioReadBytes) }
        if let ioWriteBytes { fields["ioWriteBytes"] = JSON(ioWriteBytes) }
        if let diskBytes { fields["diskBytes"] = JSON(diskBytes) }
        if let diskLimitBytes { fields["diskLimitBytes"] = JSON(diskLimitBytes) }
        if let reason { fields["reason"] = .string(reason) }
        if let exit { fields["exit"] = exit.json }
        return .object(fields)
    }
}

/// `type Process` of the IDL: a process on the host, and the vserver it belongs to.
public struct HostProcess: Sendable, Equatable {
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

extension Dictionary where Key == String, Value == JSON {
    func optionalPID(_ name: String) throws(VarlinkError) -> Int32? {
        guard let value = try optionalInt(name) else { return nil }
        guard let pid = Int32(exactly: value), pid > 0 else { throw .invalidParameter(name) }
        return pid
    }
}

extension VServerState {
    /// The state in field `key` of a reply; an unknown name is an invalid parameter.
    init(parameter fields: [String: JSON], _ key: String) throws(VarlinkError) {
        guard let state = VServerState(rawValue: try fields.requiredString(key)) else { throw .invalidParameter(key) }
        self = state
    }
}

/// What `StartAutostart`, `StartAll` and `StopAll` did: the vservers done (in the order they finished), those
/// that failed or were skipped, and one line per failure ("web: pre-start hook ...").
public struct BatchResult: Sendable, Equatable {
    public var done: [String]
    public var failed: [String]
    public var errors: [String]

    public init(done: [String] = [], failed: [String] = [], errors: [String] = []) {
        self.done = done
        self.failed = failed
        self.errors = errors
    }
}

/// What `Reload` changed, by vserver name.
public struct ReloadResult: Sendable, Equatable {
    public var added: [String]
    public var removed: [String]
    public var changed: [String]

    public init(added: [String] = [], removed: [String] = [], changed: [String] = []) {
        self.added = added
        self.removed = removed
        self.changed = changed
    }
}

/// The vserver a host process belongs to (`Whois`).
public struct ProcessOwner: Sendable, Equatable {
    public var name: String
    public var context: Int

    public init(name: String, context: Int) {
        self.name = name
        self.context = context
    }
}
