/// The parameters and replies of `io.vserverd.Manager`'s methods, each with its one decoder and encoder. A decoder
/// checks every value against what the daemon accepts (ManagerLimits): a bad one is `InvalidParameter` naming it.

/// The parameters of a call or reply, as a type.
public protocol ManagerParameters: Sendable {
    init(parameters: [String: JSON]) throws(VarlinkError)
    var parameters: [String: JSON] { get }
}

/// No parameters (List, StopAll, Reload, Monitor; what is sent is ignored).
public struct NoParameters: ManagerParameters {
    public init() {}
    public init(parameters: [String: JSON]) {}
    public var parameters: [String: JSON] { [:] }
}

/// `name` of a vserver, or its context number (Get, Start, Restart, Join).
public struct NameParameters: ManagerParameters {
    public var name: String

    public init(name: String) { self.name = name }

    public init(parameters: [String: JSON]) throws(VarlinkError) {
        name = try parameters.requiredString("name")
    }

    public var parameters: [String: JSON] { ["name": .string(name)] }
}

/// `Stop(name, timeout)`.
public struct StopParameters: ManagerParameters {
    public var name: String
    /// Seconds until SIGKILL; nil: the vserver's stop-timeout.
    public var timeout: Int?

    public init(name: String, timeout: Int? = nil) {
        self.name = name
        self.timeout = timeout
    }

    public init(parameters: [String: JSON]) throws(VarlinkError) {
        timeout = try parameters.optionalInt("timeout", in: ManagerLimits.stopTimeout)
        name = try parameters.requiredString("name")
    }

    public var parameters: [String: JSON] {
        var fields: [String: JSON] = ["name": .string(name)]
        if let timeout { fields["timeout"] = JSON(timeout) }
        return fields
    }
}

/// `jobs` of StartAutostart and StartAll (nil: the daemon's --jobs), and StartAutostart's `mark` (nil: "default",
/// the vservers with `autostart = true`).
public struct JobsParameters: ManagerParameters {
    public var jobs: Int?
    public var mark: String?

    public init(jobs: Int? = nil, mark: String? = nil) {
        self.jobs = jobs
        self.mark = mark
    }

    public init(parameters: [String: JSON]) throws(VarlinkError) {
        jobs = try parameters.optionalInt("jobs", in: ManagerLimits.jobs)
        mark = try parameters.optionalString("mark")
    }

    public var parameters: [String: JSON] {
        var parameters: [String: JSON] = [:]
        if let jobs { parameters["jobs"] = JSON(jobs) }
        if let mark { parameters["mark"] = .string(mark) }
        return parameters
    }
}

/// `Whois(pid)`.
public struct WhoisParameters: ManagerParameters {
    public var pid: Int32

    public init(pid: Int32) { self.pid = pid }

    public init(parameters: [String: JSON]) throws(VarlinkError) {
        guard let pid = Int32(exactly: try parameters.requiredInt("pid")), pid > 0 else {
            throw .invalidParameter("pid")
        }
        self.pid = pid
    }

    public var parameters: [String: JSON] { ["pid": JSON(pid)] }
}

/// `Processes(name)`: nil for every process of the host.
public struct ProcessesParameters: ManagerParameters {
    public var name: String?

    public init(name: String?) { self.name = name }

    public init(parameters: [String: JSON]) throws(VarlinkError) {
        name = try parameters.optionalString("name")
    }

    public var parameters: [String: JSON] { name.map { ["name": .string($0)] } ?? [:] }
}

/// The reply of `List`.
public struct ListReply: ManagerParameters {
    public var vservers: [VServerInfo]

    public init(vservers: [VServerInfo]) { self.vservers = vservers }

    public init(parameters: [String: JSON]) throws(VarlinkError) {
        vservers = try parameters.requiredArray("vservers") { (json) throws(VarlinkError) in
            try VServerInfo(json: json)
        }
    }

    public var parameters: [String: JSON] { ["vservers": .array(vservers.map(\.json))] }
}

/// The reply of `Get`, `Start`, `Stop` and `Restart`.
public struct VServerReply: ManagerParameters {
    public var vserver: VServerInfo

    public init(vserver: VServerInfo) { self.vserver = vserver }

    public init(parameters: [String: JSON]) throws(VarlinkError) {
        vserver = try parameters.required("vserver") { (json) throws(VarlinkError) in try VServerInfo(json: json) }
    }

    public var parameters: [String: JSON] { ["vserver": vserver.json] }
}

/// `SetResources(name, assignments, runtime)`.
public struct SetResourcesParameters: ManagerParameters {
    public var name: String
    /// "KEY=VALUE" each.
    public var assignments: [String]
    /// Applied to the running vserver only, vserver.toml left alone.
    public var runtime: Bool

    public init(name: String, assignments: [String], runtime: Bool) {
        self.name = name
        self.assignments = assignments
        self.runtime = runtime
    }

    public init(parameters: [String: JSON]) throws(VarlinkError) {
        name = try parameters.requiredString("name")
        assignments = try parameters.requiredStringArray("assignments")
        runtime = try parameters.requiredBool("runtime")
    }

    public var parameters: [String: JSON] {
        ["name": .string(name), "assignments": .array(assignments.map { .string($0) }), "runtime": .bool(runtime)]
    }
}

/// The reply of `GetResources` and `SetResources`.
public struct ResourcesReply: ManagerParameters, Equatable {
    public var vserver: VServerInfo
    public var limits: [ResourceLimit]

    public init(vserver: VServerInfo, limits: [ResourceLimit]) {
        self.vserver = vserver
        self.limits = limits
    }

    public init(parameters: [String: JSON]) throws(VarlinkError) {
        vserver = try parameters.required("vserver") { (json) throws(VarlinkError) in try VServerInfo(json: json) }
        guard let elements = parameters["limits"]?.arrayValue else { throw .invalidParameter("limits") }
        var limits: [ResourceLimit] = []
        for element in elements {
            guard let fields = element.objectValue else { throw .invalidParameter("limits") }
            limits.append(ResourceLimit(key: try fields.requiredString("key"),
                                        value: try fields.requiredString("value")))
        }
        self.limits = limits
    }

    public var parameters: [String: JSON] {
        ["vserver": vserver.json,
         "limits": .array(limits.map { .object(["key": .string($0.key), "value": .string($0.value)]) })]
    }
}

/// `type Limit` of the IDL: a `[resources]` or `[disk]` key and its value as vserver.toml writes it.
public struct ResourceLimit: Sendable, Equatable {
    public var key: String
    public var value: String

    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

/// The reply of `StartAutostart` and `StartAll` (the vservers done are `started`), and of `StopAll` (`stopped`).
extension BatchResult: ManagerParameters {
    public init(parameters: [String: JSON]) throws(VarlinkError) {
        let doneKey = parameters["stopped"] != nil ? "stopped" : "started"
        self.init(done: try parameters.requiredStringArray(doneKey),
                  failed: try parameters.requiredStringArray("failed"),
                  errors: try parameters.requiredStringArray("errors"))
    }

    /// What a method calls the vservers it did.
    public func parameters(doneKey: String) -> [String: JSON] {
        [doneKey: .strings(done), "failed": .strings(failed), "errors": .strings(errors)]
    }

    public var parameters: [String: JSON] { parameters(doneKey: "started") }
}

/// The reply of `Reload`.
extension ReloadResult: ManagerParameters {
    public init(parameters: [String: JSON]) throws(VarlinkError) {
        self.init(added: try parameters.requiredStringArray("added"),
                  removed: try parameters.requiredStringArray("removed"),
                  changed: try parameters.requiredStringArray("changed"))
    }

    public var parameters: [String: JSON] {
        ["added": .strings(added), "removed": .strings(removed), "changed": .strings(changed)]
    }
}

/// The reply of `Whois`: both fields null for a process of the host.
public struct WhoisReply: ManagerParameters {
    public var owner: ProcessOwner?

    public init(owner: ProcessOwner?) { self.owner = owner }

    public init(parameters: [String: JSON]) throws(VarlinkError) {
        if let name = try parameters.optionalString("vserver") {
            guard let context = try parameters.optionalInt("context") else { throw .invalidParameter("context") }
            owner = ProcessOwner(name: name, context: context)
        } else {
            owner = nil
        }
    }

    public var parameters: [String: JSON] {
        ["vserver": JSON(owner?.name), "context": owner.map { JSON($0.context) } ?? .null]
    }
}

/// The reply of `Processes`.
public struct ProcessesReply: ManagerParameters {
    public var processes: [HostProcess]

    public init(processes: [HostProcess]) { self.processes = processes }

    public init(parameters: [String: JSON]) throws(VarlinkError) {
        processes = try parameters.requiredArray("processes") { (json) throws(VarlinkError) in
            try HostProcess(json: json)
        }
    }

    public var parameters: [String: JSON] { ["processes": .array(processes.map(\.json))] }
}

extension VServerJoinInfo: ManagerParameters {}

/// One reply of `Monitor`: a vserver changed state.
public struct VServerStateChange: ManagerParameters, Equatable {
    public var name: String
    public var state: VServerState
    public var reason: String?

    public init(name: String, state: VServerState, reason: String? = nil) {
        self.name = name
        self.state = state
        self.reason = reason
    }

    /// From the parameters of a `Monitor` reply.
    public init(parameters: [String: JSON]) throws(VarlinkError) {
        name = try parameters.requiredString("name")
        state = try VServerState(parameter: parameters, "state")
        reason = try parameters.optionalString("reason")
    }

    /// The parameters of a `Monitor` reply.
    public var parameters: [String: JSON] {
        var fields: [String: JSON] = ["name": .string(name), "state": .string(state.rawValue)]
        if let reason { fields["reason"] = .string(reason) }
        return fields
    }
}

