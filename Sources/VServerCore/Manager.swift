import Glibc
import Logging
import VServerConfig
import VServerProtocol

/// Owns every vserver's state. Only the Manager changes state; one operation per vserver at a time
/// (a per-name lock), different vservers in parallel (the actor is free while an operation awaits).
public actor Manager {
    public struct Options: Sendable {
        public var configDirectory: String
        public var stateDirectory: String
        /// Where the console log of each guest (stdout/stderr of its PID 1) is written: NAME.log.
        public var logDirectory: String
        public var stubInitPath: String
        /// Puts each new guest in its own systemd scope; nil outside systemd.
        public var placement: (any GuestPlacement)?
        /// Outside systemd: the cgroup2 path (as in /proc/self/cgroup, "/vservers") below which each guest gets its
        /// cgroup `vserver-NAME`; nil: vserverd's own cgroup. Made when missing.
        public var cgroupParent: String?
        /// vserverd's persistent state (`/var/lib/vserverd`): the record of assigned contexts (`ContextRecord`).
        /// nil: none is kept, and a context not written in a config may move when vservers are added.
        public var libDirectory: String?
        /// Starts at once of `StartAutostart`/`StartAll` that do not say (`--jobs`).
        public var jobs = 1
        /// Where lxcfs is mounted, for guests with `[resources] lxcfs = true` (`--lxcfs-dir`).
        public var lxcfsDirectory = Lxcfs.defaultDirectory

        public init(configDirectory: String = "/etc/vservers", stateDirectory: String = "/run/vserverd/vservers",
                    logDirectory: String = "/var/log/vserverd", stubInitPath: String = StubInit.defaultPath()) {
            self.configDirectory = configDirectory
            self.stateDirectory = stateDirectory
            self.logDirectory = logDirectory
            self.stubInitPath = stubInitPath
        }
    }

    let options: Options
    let logger: Logger
    let hooks: HookRunner
    let stateStore: StateStore
    let watcher: ProcessWatcher
    /// nil when vserverd-init was not found: only vservers with `command` need it, and they say so.
    let stubInit: StubInit?
    /// Copies the guests' consoles into their logs.
    let consoles: ConsoleRelay
    /// Where guests get their own cgroups (a directory of the cgroup2 hierarchy); nil under systemd (scopes) and
    /// on hosts without cgroup2.
    let cgroupParent: String?

    var configs: ConfigSet
    var states: [String: GuestState] = [:]
    /// Starts, stops and ends of each guest since vserverd started, for /metrics (Manager+Metrics).
    var lifecycleCounts: [String: GuestLifecycleCounts] = [:]
    private var busy: Set<String> = []
    private var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]
    private var monitors: [Int: AsyncStream<VServerStateChange>.Continuation] = [:]
    private var nextMonitor = 0

    public init(options: Options, logger: Logger) throws {
        self.options = options
        self.logger = logger
        self.hooks = HookRunner(configRoot: options.configDirectory, logger: logger)
        self.stateStore = try StateStore(directory: options.stateDirectory)
        self.watcher = try ProcessWatcher()
        do {
            self.stubInit = try StubInit(path: options.stubInitPath)
        } catch {
            logger.warning("\(error): vservers with `command` cannot start")
            self.stubInit = nil
        }
        try FileSystem.makeDirectories(options.logDirectory, mode: 0o750)
        self.consoles = try ConsoleRelay()
        self.cgroupParent = try Self.cgroupParent(options)
        self.configs = Self.loadConfigs(options)
        Self.logProblems(of: configs, logger: logger)
    }

    private static func cgroupParent(_ options: Options) throws -> String? {
        guard options.placement == nil, let unified = GuestCgroup.Mounts.host.unified else { return nil }
        guard let configured = options.cgroupParent else { return GuestCgroup.cgroup2Directory() }
        let path = Path.join(unified, String(configured.drop { $0 == "/" }))
        try FileSystem.makeDirectories(path)
        return path
    }

    /// The configs, with newly assigned contexts recorded for good.
    private static func loadConfigs(_ options: Options) -> ConfigSet {
        ConfigLoader.load(directory: options.configDirectory,
                          contextRecord: options.libDirectory.map(ContextRecord.file(in:)), recording: true)
    }

    /// Errors of invalid vservers, and the warnings of valid ones (what was approximated or ignored, as `check`
    /// shows them), with VSERVER=; warnings only of `warningsOf` when given (a reload: the added and changed ones).
    private static func logProblems(of configs: ConfigSet, logger: Logger, warningsOf: Set<String>? = nil) {
        for problem in configs.ignored { logger.warning("\(problem)") }
        for (name, error) in configs.invalid.sorted(by: { $0.key < $1.key }) {
            logger.error("\(error)", metadata: .vserver(name, context: nil))
        }
        for (name, config) in configs.configs.sorted(by: { $0.key < $1.key })
        where warningsOf?.contains(name) ?? true {
            for warning in config.warnings {
                logger.warning("\(warning)", metadata: .vserver(name, context: config.context))
            }
        }
    }

    // MARK: One operation per vserver

    /// Runs `body` while holding the vserver's lock; callers queue in order.
    func exclusively<T>(_ name: String, _ body: () async throws(ManagerError) -> T) async throws(ManagerError) -> T {
        if busy.contains(name) {
            await withCheckedContinuation { waiting[name, default: []].append($0) }
        } else {
            busy.insert(name)
        }
        defer { unlock(name) }
        return try await body()
    }

    private func unlock(_ name: String) {
        if var queue = waiting[name], !queue.isEmpty {
            // Ownership passes straight to the next waiter: `busy` stays set.
            let next = queue.removeFirst()
            waiting[name] = queue.isEmpty ? nil : queue
            next.resume()
        } else {
            busy.remove(name)
        }
    }

    // MARK: Names and state

    /// The vserver a user means by a name or a context id; running guests whose config is gone count.
    func resolve(_ nameOrContext: String) throws(ManagerError) -> String {
        if states[nameOrContext]?.guest != nil || configs.invalid[nameOrContext] != nil { return nameOrContext }
        if let name = configs.resolve(nameOrContext) { return name }
        if let context = Int(nameOrContext),
           let (name, _) = states.first(where: { $0.value.guest?.record.context == context }) {
            return name
        }
        throw .noSuchVServer(name: nameOrContext)
    }

    /// The valid config of `name` (resolved), else its config's error or NoSuchVServer.
    func validConfig(_ name: String) throws(ManagerError) -> VServerConfig {
        if let error = configs.invalid[name] { throw ManagerError(error, name: name) }
        guard let config = configs.configs[name] else { throw .noSuchVServer(name: name) }
        return config
    }

    /// The valid configs of the vservers named (names or context ids), or of every valid one when none is.
    func validConfigs(_ namesOrContexts: [String]) throws(ManagerError) -> [VServerConfig] {
        if namesOrContexts.isEmpty { return configs.configs.keys.sorted().compactMap { configs.configs[$0] } }
        var chosen: [VServerConfig] = []
        for nameOrContext in namesOrContexts { chosen.append(try validConfig(try resolve(nameOrContext))) }
        return chosen
    }

    func setState(_ name: String, _ state: GuestState) {
        states[name] = state
        publish(VServerStateChange(name: name, state: state.state, reason: state.reason))
    }

    /// A vserver's state as `list` shows it (an invalid config included), as a Monitor reply.
    private func currentState(_ name: String) -> VServerStateChange {
        let current = info(name)
        return VServerStateChange(name: name, state: current.state, reason: current.reason)
    }

    private func publish(_ change: VServerStateChange) {
        for monitor in monitors.values { monitor.yield(change) }
    }

    var knownNames: [String] {
        var names = Set(configs.configs.keys).union(configs.invalid.keys)
        for (name, state) in states where state.guest != nil { names.insert(name) }
        return names.sorted()
    }

    /// `allDisk`: its root's disk use even without `[disk]` limits (`show`); `list` reads it only for those.
    func info(_ name: String, usage: [UInt64: ProcessTable.Usage] = [:], allDisk: Bool = false) -> VServerInfo {
        let state = states[name] ?? .stopped(reason: nil)
        let guest = state.guest
        let config = guest?.config ?? configs.configs[name]
        var info = VServerInfo(
            name: name, context: config?.context ?? guest?.record.context ?? 0, state: state.state,
            root: config?.root ?? "", hostname: config?.hostname ?? name, autostart: config?.autostart ?? false)
        if let invalid = configs.invalid[name], guest == nil {
            info.state = .failed
            info.reason = "invalid config: \(invalid)"
        } else {
            info.reason = state.reason
            info.exit = state.exit
        }
        if let config, config.hasDiskLimits || allDisk, let disk = try? DiskQuota.usage(of: config.root) {
            info.diskBytes = Int(disk.usedBytes)
            info.diskLimitBytes = disk.limitBytes.map { Int($0) }
        }
        if let guest {
            info.pid = guest.pid
            info.startedAt = guest.record.startedAt
            if let pidNamespace = guest.record.namespaces["pid"], let used = usage[pidNamespace] {
                info.processes = used.processes
                info.memoryBytes = Int(used.residentBytes)
                info.memoryPeakBytes = used.memoryPeakBytes.map { Int($0) }
                info.cpuUserSeconds = used.cpuUserMicroseconds.map { Double($0) / 1e6 }
                info.cpuSystemSeconds = used.cpuSystemMicroseconds.map { Double($0) / 1e6 }
                info.ioReadBytes = used.ioReadBytes.map { Int($0) }
                info.ioWriteBytes = used.ioWriteBytes.map { Int($0) }
            }
        }
        return info
    }

    // MARK: Queries

    public func list() -> [VServerInfo] {
        let usage = guestUsage()
        return knownNames.map { info($0, usage: usage) }
    }

    public func get(_ nameOrContext: String) throws(ManagerError) -> VServerInfo {
        let name = try resolve(nameOrContext)
        return info(name, usage: guestUsage(of: name))
    }

    /// Counts by state, for sd_notify STATUS= ("2 running, 1 failed").
    public func summary() -> String {
        var counts: [VServerState: Int] = [:]
        for name in knownNames { counts[info(name).state, default: 0] += 1 }
        let running = counts[.running, default: 0]
        let failed = counts[.failed, default: 0]
        return "\(running) running, \(failed) failed"
    }

    /// The current state of every vserver, then one element per state change, until the consumer stops
    /// iterating. Starting with the present means a client never misses what happened before it subscribed.
    public func monitor() -> AsyncStream<VServerStateChange> {
        let (stream, continuation) = AsyncStream<VServerStateChange>.makeStream(
            bufferingPolicy: .bufferingNewest(10_000))
        for name in knownNames { continuation.yield(currentState(name)) }
        nextMonitor += 1
        let id = nextMonitor
        monitors[id] = continuation
        continuation.onTermination = { _ in
            Task { await self.removeMonitor(id) }
        }
        return stream
    }

    private func removeMonitor(_ id: Int) {
        monitors.removeValue(forKey: id)
    }

    // MARK: Reload

    /// Re-reads the config directory. Running vservers keep running with the config they started with;
    /// the new one applies at their next start.
    public func reload() -> ReloadResult {
        let old = configs
        let new = Self.loadConfigs(options)
        configs = new
        let oldNames = Set(old.configs.keys).union(old.invalid.keys)
        let newNames = Set(new.configs.keys).union(new.invalid.keys)
        var result = ReloadResult()
        result.added = newNames.subtracting(oldNames).sorted()
        result.removed = oldNames.subtracting(newNames).sorted()
        result.changed = oldNames.intersection(newNames).filter {
            old.configs[$0] != new.configs[$0] || old.invalid[$0] != new.invalid[$0]
        }.sorted()
        Self.logProblems(of: new, logger: logger, warningsOf: Set(result.added + result.changed))
        // Forget stopped vservers whose config is gone.
        for name in result.removed where states[name]?.guest == nil {
            states.removeValue(forKey: name)
            stateStore.remove(name)
        }
        // A config that became valid or invalid changes what `list` shows: monitors (and STATUS=) hear of it.
        for name in result.added + result.changed where states[name]?.guest == nil { publish(currentState(name)) }
        for name in result.removed where states[name] == nil {
            publish(VServerStateChange(name: name, state: .stopped, reason: "config removed"))
        }
        let counts = "\(result.added.count) added, \(result.removed.count) removed, \(result.changed.count) changed"
        logger.info("reloaded \(options.configDirectory): \(counts)")
        return result
    }
}

extension Manager: ManagerService {}
