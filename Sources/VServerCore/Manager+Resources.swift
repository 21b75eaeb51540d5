import Glibc
import VServerConfig
import VServerProtocol

/// `vserverctl show` and `set` (docs/ARCHITECTURE.md §4): the limits in force, changed on a running guest at once
/// and, unless `--runtime`, in its vserver.toml (comments and layout kept, as `systemctl set-property` does).
extension Manager {
    public func resources(_ nameOrContext: String) throws(ManagerError) -> ResourcesReply {
        let name = try resolve(nameOrContext)
        let settings = try limitsInForce(name)
        return ResourcesReply(vserver: info(name, usage: guestUsage(of: name), allDisk: true),
                              limits: Self.limits(settings))
    }

    public func setResources(_ nameOrContext: String, assignments: [String], runtime: Bool) async
        throws(ManagerError) -> ResourcesReply
    {
        let name = try resolve(nameOrContext)
        let guest = states[name]?.guest
        if runtime && guest == nil { throw .notRunning(name: name) }
        var settings = try limitsInForce(name)
        guard let config = guest?.config ?? configs.configs[name] else { throw .noSuchVServer(name: name) }
        let changes = try Self.parse(assignments, into: &settings, name: name, file: config.configFile)
        if let problem = CgroupHost.current.unenforceable(settings).first {
            throw .invalidConfig(name: name, file: config.configFile,
                                 reason: "\(config.configFile): \(problem.key.path): \(problem)")
        }
        let diskChanged = changes.contains { $0.key.table == "disk" }
        if diskChanged { try await applyDiskLimits(settings, root: config.root, name: name) }
        if let guest {
            let previous = guest.resources.withLock { $0 }
            do {
                try await applyLive(settings, previous: previous, to: guest)
            } catch {
                throw .startFailed(name: name, step: "resources", reason: "resources: \(error)")
            }
            guest.resources.withLock { $0 = settings }
            logger.info("limits changed: \(assignments.joined(separator: " "))", metadata: logMetadata(name))
        }
        if !runtime {
            try persist(changes, in: config)
            _ = reload()
        }
        return try resources(name)
    }

    /// A running guest's limits in force, else those of its config.
    private func limitsInForce(_ name: String) throws(ManagerError) -> ResourceSettings {
        if let guest = states[name]?.guest { return guest.resources.withLock { $0 } }
        if let config = configs.configs[name] { return config.resources }
        let error = configs.invalid[name]
        throw .invalidConfig(name: name, file: error?.file ?? "", reason: error.map { "\($0)" } ?? "no config")
    }

    static func limits(_ settings: ResourceSettings) -> [ResourceLimit] {
        settings.described.map { ResourceLimit(key: $0.key.path, value: $0.value) }
    }

    /// "KEY=VALUE" each, read as the config file would be (an empty value is the key's default); the changes as
    /// vserver.toml literals (nil: remove the key).
    static func parse(_ assignments: [String], into settings: inout ResourceSettings, name: String, file: String)
        throws(ManagerError) -> [(key: ResourceKey, literal: String?)]
    {
        func invalid(_ text: String) -> ManagerError { .invalidConfig(name: name, file: file, reason: text) }
        guard !assignments.isEmpty else { throw invalid("nothing to set: give KEY=VALUE") }
        var changes: [(key: ResourceKey, literal: String?)] = []
        for assignment in assignments {
            guard let equals = assignment.firstIndex(of: "=") else {
                throw invalid("\(quoted(assignment)): expected KEY=VALUE, such as memory-max=512M")
            }
            let keyName = String(assignment[..<equals])
            let text = String(assignment[assignment.index(after: equals)...])
            guard let key = ResourceKey.named(keyName) else {
                let known = ResourceKey.allCases.map(\.rawValue).joined(separator: ", ")
                throw invalid("\(keyName): unknown key (known keys: \(known))")
            }
            guard !text.isEmpty else {
                key.reset(in: &settings)
                changes.append((key, nil))
                continue
            }
            let literal = key.literal(text)
            let document: TOMLTable
            do throws(TOMLError) {
                document = try TOML.parse("value = \(literal)\n")
            } catch {
                throw invalid("\(key.path): cannot read \(quoted(text)): \(error.message)")
            }
            guard let value = document.entry("value")?.value else {
                throw invalid("\(key.path): cannot read \(quoted(text))")
            }
            if let problem = key.read(value, into: &settings) { throw invalid("\(key.path): \(problem)") }
            changes.append((key, literal))
        }
        return changes
    }

    /// Writes changed limits into a running guest's cgroups: through systemd for its scope, else into its own
    /// cgroup2 cgroup or its v1 cgroups. A controller it had no cgroup of yet (a v1 host) gets one, and every
    /// process of the guest moves in.
    private func applyLive(_ settings: ResourceSettings, previous: ResourceSettings, to guest: RunningGuest)
        async throws
    {
        if let placement = options.placement {
            let name = guest.record.name
            try await onBlockingThread { try placement.setResources(settings, name: name) }
            return
        }
        let parent = cgroupParent
        let parentPath = options.cgroupParent
        try await onBlockingThread {
            try Self.writeLimits(settings, previous: previous, guest: guest, cgroupParent: parent,
                                 parentPath: parentPath)
        }
    }

    private static func writeLimits(_ settings: ResourceSettings, previous: ResourceSettings, guest: RunningGuest,
                                    cgroupParent: String?, parentPath: String?) throws {
        let wanted = CgroupLimits.controllers(settings)
        let involved = Set(wanted + CgroupLimits.controllers(previous))
        for controller in CgroupLimits.allControllers where involved.contains(controller) {
            let legacyName = CgroupHost.legacyController(controller)
            if try CgroupLimits.applyUnified(settings, controller: controller, own: guest.cgroup, parent: cgroupParent,
                                             resetting: true) {
                continue
            }
            if let existing = guest.legacyCgroups.byController[legacyName] {
                try CgroupLimits.apply(legacyResetWrites(settings, controller: legacyName, in: existing.directory),
                                       in: existing.directory)
            } else if wanted.contains(controller) {
                var legacy = guest.legacyCgroups
                let cgroup = try legacy.add(controller, resources: settings, name: guest.record.name,
                                            parentPath: parentPath, host: .current)
                do {
                    try moveProcesses(of: guest, into: cgroup)
                } catch {
                    try? cgroup.remove()
                    throw error
                }
                guest.legacy.withLock { $0 = legacy }
            }
        }
    }

    /// v1 files for a live change; a cpuset taken away gets its parent's CPUs back (an empty v1 cpuset runs nothing).
    private static func legacyResetWrites(_ settings: ResourceSettings, controller: String, in directory: String)
        -> [CgroupLimits.Write]
    {
        CgroupLimits.legacyWrites(settings, controller: controller, resetting: true,
                                  ioWeightFile: CgroupHost.blkioWeightFile(in: directory)).map { write in
            guard write.file == "cpuset.cpus", write.value.isEmpty else { return write }
            let parent = directory.split(separator: "/", omittingEmptySubsequences: false).dropLast()
                .joined(separator: "/")
            let cpus = (try? FileSystem.readText("\(parent)/cpuset.cpus"))?.trimmingNewline ?? ""
            return CgroupLimits.Write(file: write.file, value: cpus)
        }
    }

    /// Moves every process of a running guest into `cgroup` (v1): its processes as its cgroup2 cgroup lists them,
    /// or as its pid namespace does, again until no new one turns up (a process forked meanwhile).
    private static func moveProcesses(of guest: RunningGuest, into cgroup: GuestCgroup) throws(SystemError) {
        let procs = "\(cgroup.directory)/cgroup.procs"
        var moved = Set<Int32>()
        for _ in 0..<100 {
            let pids = guest.cgroup?.pids() ?? ProcessTable.pids().filter {
                ProcFS.pidNamespace(pid: $0) == guest.record.namespaces["pid"]
            }
            let newcomers = pids.filter { !moved.contains($0) }
            if newcomers.isEmpty { return }
            for pid in newcomers {
                do throws(SystemError) {
                    try FileSystem.writeKernelFile(procs, "\(pid)")
                } catch where error.errno == ESRCH {
                    // Gone meanwhile.
                }
                moved.insert(pid)
            }
        }
    }

    /// Writes the changed keys into the guest's vserver.toml, keeping everything else of it as it is.
    private func persist(_ changes: [(key: ResourceKey, literal: String?)], in config: VServerConfig)
        throws(ManagerError)
    {
        let file = config.configFile
        guard file.hasSuffix("/\(TOMLConfig.fileName)") else {
            throw .invalidConfig(name: config.name, file: file,
                                 reason: "\(file) is util-vserver's format: only --runtime changes it (or convert it "
                                    + "with `vserverctl import` first)")
        }
        do {
            let (text, status) = try FileSystem.readFile(file)
            var edited = text
            for change in changes {
                edited = try TOMLEditor.setting(edited, table: change.key.table, key: change.key.rawValue,
                                                to: change.literal)
            }
            try FileSystem.writeFileAtomically(file, contents: edited, mode: status.mode & 0o7777)
        } catch {
            throw .invalidConfig(name: config.name, file: file, reason: "\(file): \(error)")
        }
    }
}
