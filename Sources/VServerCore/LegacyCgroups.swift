import Glibc
import VServerConfig

/// A guest's `vserver-NAME` cgroups in the v1 hierarchies of a hybrid host (its memory, cpu, cpuset, blkio and pids
/// limits outside systemd), by v1 controller. vserverd makes them at the start and removes them when the guest
/// ended; after a restart of vserverd they are found again in /proc/PID/cgroup.
struct LegacyCgroups: Sendable, Equatable {
    var byController: [String: GuestCgroup] = [:]
    /// Where PID 1 is in each (a cgroup below the guest's when it made its own): what `exec` joins.
    var processDirectories: [String: String] = [:]

    var isEmpty: Bool { byController.isEmpty }

    /// Each cgroup once (co-mounted controllers share one).
    var cgroups: [GuestCgroup] {
        var seen = Set<String>()
        return byController.keys.sorted().compactMap { byController[$0] }.filter { seen.insert($0.directory).inserted }
    }

    /// The ones a process of guest `name` is in, from its /proc/PID/cgroup: vserverd's `vserver-NAME` or systemd's
    /// `vserver-NAME.scope` (removed by systemd, not by vserverd: `GuestCgroup.isOwn`).
    static func of(procCgroup text: String, name: String, host: CgroupHost = .current) -> LegacyCgroups {
        var found = LegacyCgroups()
        let names = [GuestCgroup.ownName(name), GuestCgroup.scopeName(name)]
        for (controller, mount) in host.legacyMounts {
            guard let path = GuestCgroup.path(procCgroup: text, controller: controller),
                  let directories = GuestCgroup.directories(path: path, names: names, mount: mount)
            else { continue }
            found.byController[controller] = GuestCgroup(directory: directories.scope)
            found.processDirectories[controller] = directories.process
        }
        return found
    }

    /// The directory below which a guest's cgroup goes in the hierarchy mounted at `mount`: `parentPath`
    /// (--cgroup-parent) when given, else vserverd's own cgroup there, as on cgroup2.
    static func parent(controller: String, mount: String, parentPath: String?) -> String {
        let path = parentPath ?? ownProcCgroup
            .flatMap { GuestCgroup.path(procCgroup: $0, controller: controller) }.map(String.init) ?? "/"
        return Path.join(mount, String(path.drop { $0 == "/" }))
    }

    /// vserverd's own /proc/self/cgroup, read once: it does not move, and a start should not read it again.
    private static let ownProcCgroup = try? FileSystem.readText("/proc/self/cgroup")

    /// Makes `vserver-NAME` for `controller` (v1 name) below `parent` and writes `writes`; a leftover of an
    /// earlier run is removed first. cpuset's CPUs and memory nodes start as the parent's: the kernel admits no
    /// task to a cpuset without.
    static func create(controller: String, name: String, parent: String, writes: [CgroupLimits.Write])
        throws(SystemError) -> GuestCgroup
    {
        do {
            try FileSystem.makeDirectories(parent)
        } catch {
            throw error as? SystemError ?? SystemError("mkdir", path: parent, errno: EIO)
        }
        let cgroup = try GuestCgroup.create(name: name, parent: parent, owner: nil)
        do throws(SystemError) {
            var writes = writes
            if controller == "cpuset" {
                let parentCPUs = try FileSystem.readText("\(parent)/cpuset.cpus").trimmingNewline
                writes.insert(CgroupLimits.Write(file: "cpuset.cpus", value: parentCPUs), at: 0)
                let mems = try FileSystem.readText("\(parent)/cpuset.mems").trimmingNewline
                writes.insert(CgroupLimits.Write(file: "cpuset.mems", value: mems), at: 0)
            }
            try CgroupLimits.apply(writes, in: cgroup.directory)
        } catch {
            try? cgroup.remove()
            throw error
        }
        return cgroup
    }

    /// Makes the guest's cgroup in the v1 hierarchy of cgroup2 controller `controller` with its limits (the cgroup
    /// of a co-mounted hierarchy is reused). Returns it.
    @discardableResult
    mutating func add(_ controller: String, resources: ResourceSettings, name: String, parentPath: String?,
                      host: CgroupHost) throws -> GuestCgroup {
        let legacy = CgroupHost.legacyController(controller)
        guard let mount = host.legacyMounts[legacy] else {
            let key = ResourceKey.allCases.first { CgroupHost.controller(of: $0) == controller } ?? .pidsMax
            throw Unenforceable(key: key, reason: "neither cgroup2 nor a v1 hierarchy offers the \(controller) "
                                + "controller to vserverd")
        }
        let writes = CgroupLimits.legacyWrites(resources, controller: legacy, resetting: false,
                                               ioWeightFile: CgroupHost.blkioWeightFile(in: mount))
        if let shared = byController.values.first(where: { $0.directory.hasPrefix(mount + "/") }) {
            try CgroupLimits.apply(writes, in: shared.directory)
            byController[legacy] = shared
            return shared
        }
        let parent = Self.parent(controller: legacy, mount: mount, parentPath: parentPath)
        let cgroup = try Self.create(controller: legacy, name: name, parent: parent, writes: writes)
        byController[legacy] = cgroup
        processDirectories[legacy] = cgroup.directory
        return cgroup
    }

    /// `tasks` of each, opened for PID 1 to write "0" to (`vs_spawn_config.legacy_tasks_fds`): a thread that moves
    /// itself is moved without the global lock that a move by PID takes (an RCU grace period, ~8 ms a start).
    func openTasks() throws(SystemError) -> [Int32] {
        var fds: [Int32] = []
        for cgroup in cgroups {
            let path = "\(cgroup.directory)/tasks"
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else {
                let error = SystemError("open", path: path)
                for fd in fds { close(fd) }
                throw error
            }
            fds.append(fd)
        }
        return fds
    }

    func remove() {
        for cgroup in cgroups { try? cgroup.remove() }
    }
}

extension String {
    var trimmingNewline: String { hasSuffix("\n") ? String(dropLast()) : self }
}
