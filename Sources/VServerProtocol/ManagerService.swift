/// What serves `io.vserverd.Manager`: the daemon's Manager actor conforms, and `handle` turns a call into a typed
/// method call and its result into the reply. Access checks and logging are the server's (they need the peer).
public protocol ManagerService: Sendable {
    func list() async -> [VServerInfo]
    func get(_ nameOrContext: String) async throws(ManagerError) -> VServerInfo
    func start(_ nameOrContext: String) async throws(ManagerError) -> VServerInfo
    func stop(_ nameOrContext: String, timeout: Int?) async throws(ManagerError) -> VServerInfo
    func restart(_ nameOrContext: String) async throws(ManagerError) -> VServerInfo
    func resources(_ nameOrContext: String) async throws(ManagerError) -> ResourcesReply
    func setResources(_ nameOrContext: String, assignments: [String], runtime: Bool) async throws(ManagerError)
        -> ResourcesReply
    /// `mark` nil: every valid vserver; "default": those with autostart = true. `jobs` nil: the daemon's default.
    func startMany(mark: String?, jobs: Int?) async -> BatchResult
    func stopAll() async -> BatchResult
    func reload() async -> ReloadResult
    func whois(pid: Int32) async throws(ManagerError) -> ProcessOwner?
    func processes(_ nameOrContext: String?) async throws(ManagerError) -> [HostProcess]
    func joinInfo(_ nameOrContext: String) async throws(ManagerError) -> VServerJoinInfo
    /// The current state of every vserver, then each change, until the stream is dropped.
    func monitor() async -> AsyncStream<VServerStateChange>
    func rename(_ nameOrContext: String, to newName: String) async throws(ManagerError) -> RenameReply
    func delete(_ nameOrContext: String, keepRoot: Bool) async throws(ManagerError) -> DeleteReply
    func clone(_ call: CloneParameters, progress: @Sendable (CloneReply) async -> Void) async throws(ManagerError)
        -> CloneReply
    func diskUsage(_ names: [String]) async throws(ManagerError) -> DiskUsageReply
    func hashify(_ call: HashifyParameters, progress: @Sendable (HashifyReply) async -> Void)
        async throws(ManagerError) -> HashifyReply
    /// `progress` gets a reply with the number of files done so far (done false), now and then.
    func export(_ call: ExportParameters, progress: @Sendable (ArchiveReply) async -> Void) async throws(ManagerError)
        -> ArchiveReply
    func importArchive(_ call: ImportArchiveParameters, progress: @Sendable (ArchiveReply) async -> Void)
        async throws(ManagerError) -> ArchiveReply
}

extension ManagerService {
    /// Answers one call of `method`: `send` gets each reply (`continues` for all but the last). Errors are thrown:
    /// `VarlinkError` for bad parameters, `ManagerError` from the method.
    public func handle(_ method: ManagerMethod, parameters: [String: JSON], more: Bool,
                       send: @Sendable ([String: JSON], _ continues: Bool) async throws -> Void) async throws
    {
        func reply(_ reply: some ManagerParameters) async throws { try await send(reply.parameters, false) }
        /// A progress reply of a long call; only a call with "more" gets them.
        @Sendable func progress<Reply: ManagerParameters>(_ reply: Reply) async {
            guard more else { return }
            try? await send(reply.parameters, true)
        }
        switch method {
        case .list:
            try await reply(ListReply(vservers: await list()))
        case .get:
            try await reply(VServerReply(vserver: try await get(NameParameters(parameters: parameters).name)))
        case .start:
            try await reply(VServerReply(vserver: try await start(NameParameters(parameters: parameters).name)))
        case .stop:
            let call = try StopParameters(parameters: parameters)
            try await reply(VServerReply(vserver: try await stop(call.name, timeout: call.timeout)))
        case .restart:
            try await reply(VServerReply(vserver: try await restart(NameParameters(parameters: parameters).name)))
        case .getResources:
            try await reply(try await resources(NameParameters(parameters: parameters).name))
        case .setResources:
            let call = try SetResourcesParameters(parameters: parameters)
            try await reply(try await setResources(call.name, assignments: call.assignments, runtime: call.runtime))
        case .startAutostart, .startAll:
            let call = try JobsParameters(parameters: parameters)
            let mark = method == .startAutostart ? call.mark ?? "default" : nil
            let result = await startMany(mark: mark, jobs: call.jobs)
            try await send(result.parameters(doneKey: "started"), false)
        case .stopAll:
            try await send(await stopAll().parameters(doneKey: "stopped"), false)
        case .reload:
            try await reply(await reload())
        case .whois:
            try await reply(WhoisReply(owner: try await whois(pid: WhoisParameters(parameters: parameters).pid)))
        case .processes:
            let name = try ProcessesParameters(parameters: parameters).name
            try await reply(ProcessesReply(processes: try await processes(name)))
        case .join:
            try await reply(try await joinInfo(NameParameters(parameters: parameters).name))
        case .rename:
            let call = try RenameParameters(parameters: parameters)
            try await reply(try await rename(call.name, to: call.newName))
        case .delete:
            let call = try DeleteParameters(parameters: parameters)
            try await reply(try await delete(call.name, keepRoot: call.keepRoot))
        case .clone:
            try await reply(try await clone(CloneParameters(parameters: parameters), progress: progress))
        case .diskUsage:
            try await reply(try await diskUsage(DiskUsageParameters(parameters: parameters).names))
        case .hashify:
            try await reply(try await hashify(HashifyParameters(parameters: parameters), progress: progress))
        case .export:
            try await reply(try await export(ExportParameters(parameters: parameters), progress: progress))
        case .importArchive:
            let call = try ImportArchiveParameters(parameters: parameters)
            try await reply(try await importArchive(call, progress: progress))
        case .monitor:
            guard more else { throw VarlinkError.expectedMore }
            for await change in await monitor() { try await send(change.parameters, true) }
        }
    }
}
