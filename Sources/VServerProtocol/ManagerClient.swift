import Glibc

/// A blocking client of `io.vserverd.Manager` for vserverctl: one connection per call, typed replies, and every
/// failure a `ManagerError`.
public struct ManagerClient: Sendable {
    /// The daemon's socket.
    public var socketPath: String

    /// `socketPath` nil: `$VSERVERD_SOCKET`, else the default (`ManagerClient.defaultSocketPath`).
    public init(socketPath: String? = nil) {
        self.socketPath = socketPath ?? Self.defaultSocketPath()
    }

    /// `$VSERVERD_SOCKET` when set and not empty, else `defaultManagerSocketPath`: where the daemon listens unless
    /// told otherwise, and where vserverctl looks.
    public static func defaultSocketPath() -> String {
        if let value = getenv("VSERVERD_SOCKET"), value.pointee != 0 { return String(cString: value) }
        return defaultManagerSocketPath
    }

    /// A connection to vserverd, which runs as root: answers from a socket anybody else serves (a stale path,
    /// a user's socket where ours is missing) are never believed.
    public func connect() throws(ManagerError) -> VarlinkClient {
        do {
            return try VarlinkClient(path: socketPath, requiredPeerUID: 0)
        } catch where error.errno == ENOTSOCK {
            // vserverd refuses to start on a path taken by something else, and never removes it itself.
            throw .connectionFailed(VarlinkConnectionError(error.description + ": remove it and restart vserverd",
                                                           errno: ENOTSOCK))
        } catch {
            throw .connectionFailed(error)
        }
    }

    /// One call and its one reply.
    public func call<Reply: ManagerParameters>(_ method: ManagerMethod, _ parameters: some ManagerParameters,
                                               as reply: Reply.Type = Reply.self) throws(ManagerError) -> Reply
    {
        let client = try connect()
        defer { client.close() }
        do {
            return try Reply(parameters: try client.call(method.qualifiedName, parameters.parameters))
        } catch {
            throw ManagerError(any: error)
        }
    }

    public func list() throws(ManagerError) -> [VServerInfo] {
        try call(.list, NoParameters(), as: ListReply.self).vservers
    }

    public func get(_ name: String) throws(ManagerError) -> VServerInfo {
        try call(.get, NameParameters(name: name), as: VServerReply.self).vserver
    }

    public func start(_ name: String) throws(ManagerError) -> VServerInfo {
        try call(.start, NameParameters(name: name), as: VServerReply.self).vserver
    }

    public func stop(_ name: String, timeout: Int? = nil) throws(ManagerError) -> VServerInfo {
        try call(.stop, StopParameters(name: name, timeout: timeout), as: VServerReply.self).vserver
    }

    public func restart(_ name: String) throws(ManagerError) -> VServerInfo {
        try call(.restart, NameParameters(name: name), as: VServerReply.self).vserver
    }

    public func resources(_ name: String) throws(ManagerError) -> ResourcesReply {
        try call(.getResources, NameParameters(name: name), as: ResourcesReply.self)
    }

    public func setResources(_ name: String, assignments: [String], runtime: Bool) throws(ManagerError)
        -> ResourcesReply
    {
        try call(.setResources, SetResourcesParameters(name: name, assignments: assignments, runtime: runtime),
                 as: ResourcesReply.self)
    }

    /// `mark` nil: every valid vserver (StartAll); else StartAutostart with that mark ("default": autostart).
    public func startMany(mark: String?, jobs: Int? = nil) throws(ManagerError) -> BatchResult {
        try call(mark == nil ? .startAll : .startAutostart,
                 JobsParameters(jobs: jobs, mark: mark == "default" ? nil : mark), as: BatchResult.self)
    }

    public func stopAll() throws(ManagerError) -> BatchResult {
        try call(.stopAll, NoParameters(), as: BatchResult.self)
    }

    public func reload() throws(ManagerError) -> ReloadResult {
        try call(.reload, NoParameters(), as: ReloadResult.self)
    }

    public func rename(_ name: String, to newName: String) throws(ManagerError) -> RenameReply {
        try call(.rename, RenameParameters(name: name, newName: newName), as: RenameReply.self)
    }

    public func delete(_ name: String, keepRoot: Bool) throws(ManagerError) -> DeleteReply {
        try call(.delete, DeleteParameters(name: name, keepRoot: keepRoot), as: DeleteReply.self)
    }

    public func whois(pid: Int32) throws(ManagerError) -> ProcessOwner? {
        try call(.whois, WhoisParameters(pid: pid), as: WhoisReply.self).owner
    }

    public func processes(_ name: String?) throws(ManagerError) -> [HostProcess] {
        try call(.processes, ProcessesParameters(name: name), as: ProcessesReply.self).processes
    }

    /// `Clone` with "more": `progress` gets each progress reply; the last reply is returned.
    public func clone(_ call: CloneParameters, progress: (CloneReply) -> Void) throws(ManagerError) -> CloneReply {
        try streamingCall(.clone, call, progress: progress)
    }

    public func diskUsage(_ names: [String]) throws(ManagerError) -> [DiskUsageInfo] {
        try call(.diskUsage, DiskUsageParameters(names: names), as: DiskUsageReply.self).vservers
    }

    public func hashify(_ call: HashifyParameters, progress: (HashifyReply) -> Void) throws(ManagerError)
        -> HashifyReply
    {
        try streamingCall(.hashify, call, progress: progress)
    }

    /// A call with "more" whose replies say whether they are the last (`done`): the others go to `progress`.
    private func streamingCall<Reply: ManagerParameters & StreamedReply>(
        _ method: ManagerMethod, _ call: some ManagerParameters, progress: (Reply) -> Void
    ) throws(ManagerError) -> Reply {
        let client = try connect()
        defer { client.close() }
        do {
            var replies = try client.callMore(method.qualifiedName, call.parameters)
            while let parameters = try replies.next() {
                let reply = try Reply(parameters: parameters)
                if reply.done { return reply }
                progress(reply)
            }
            throw VarlinkConnectionError("the daemon ended \(method.rawValue) without a result")
        } catch {
            throw ManagerError(any: error)
        }
    }

    /// `Export` with "more": `progress` gets the files done now and then; the last reply is returned.
    public func export(_ call: ExportParameters, progress: (Int) -> Void) throws(ManagerError) -> ArchiveReply {
        try archiveCall(.export, call, progress: progress)
    }

    public func importArchive(_ call: ImportArchiveParameters, progress: (Int) -> Void) throws(ManagerError)
        -> ArchiveReply
    {
        try archiveCall(.importArchive, call, progress: progress)
    }

    private func archiveCall(_ method: ManagerMethod, _ call: some ManagerParameters, progress: (Int) -> Void)
        throws(ManagerError) -> ArchiveReply
    {
        try streamingCall(method, call) { (reply: ArchiveReply) in progress(reply.files) }
    }

    public func joinInfo(_ name: String) throws(ManagerError) -> VServerJoinInfo {
        try call(.join, NameParameters(name: name), as: VServerJoinInfo.self)
    }

    /// `Monitor`: the current state of every vserver, then each change; the stream owns the connection.
    public func monitor() throws(ManagerError) -> MonitorStream {
        let client = try connect()
        do {
            return MonitorStream(client: client, replies: try client.callMore(ManagerMethod.monitor.qualifiedName))
        } catch {
            client.close()
            throw ManagerError(any: error)
        }
    }

    /// The replies of `Monitor`, one state change at a time.
    public struct MonitorStream {
        let client: VarlinkClient
        var replies: VarlinkReplyStream

        /// The next change; nil when the daemon ended the stream.
        public mutating func next() throws(ManagerError) -> VServerStateChange? {
            do {
                guard let parameters = try replies.next() else { return nil }
                return try VServerStateChange(parameters: parameters)
            } catch {
                throw ManagerError(any: error)
            }
        }

        public func close() { client.close() }
    }
}

extension ManagerError {
    /// Any failure of a call: the daemon's error, a reply that does not decode, or the connection.
    init(any error: any Error) {
        switch error {
        case let error as ManagerError: self = error
        case let error as VarlinkError: self.init(error)
        case let error as VarlinkConnectionError: self = .connectionFailed(error)
        default: self = .connectionFailed(VarlinkConnectionError("\(error)"))
        }
    }
}

extension VarlinkClient {
    /// A call of an `io.vserverd.Manager` method with raw parameters (tests, scripts).
    public func call(_ method: ManagerMethod, _ parameters: [String: JSON] = [:]) throws -> [String: JSON] {
        try call(method.qualifiedName, parameters)
    }

    public func callMore(_ method: ManagerMethod, _ parameters: [String: JSON] = [:]) throws -> VarlinkReplyStream {
        try callMore(method.qualifiedName, parameters)
    }
}
