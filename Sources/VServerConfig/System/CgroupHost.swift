import Glibc

/// The cgroup controllers this host offers, read once from /sys/fs/cgroup: which `[resources]` keys it can enforce,
/// and with which hierarchy. `check` and the start of a guest ask it, so that a limit the host cannot enforce is an
/// error rather than ignored.
package struct CgroupHost: Sendable, Equatable {
    /// The cgroup2 hierarchy: /sys/fs/cgroup (unified host) or /sys/fs/cgroup/unified (hybrid).
    package var unifiedMount: String?
    /// Controllers cgroup2 offers at its root (cgroup.controllers).
    package var unifiedControllers: Set<String> = []
    /// v1 hierarchies by controller ("memory" → /sys/fs/cgroup/memory); co-mounted ones ("cpu,cpuacct") appear
    /// under each name.
    package var legacyMounts: [String: String] = [:]

    package init(unifiedMount: String? = nil, unifiedControllers: Set<String> = [],
                 legacyMounts: [String: String] = [:]) {
        self.unifiedMount = unifiedMount
        self.unifiedControllers = unifiedControllers
        self.legacyMounts = legacyMounts
    }

    package static let current = probe()

    /// A hybrid or legacy host whose cgroup2 hierarchy is not mounted (systemd's legacy mode, or no systemd): mounts
    /// it on /sys/fs/cgroup/unified, where systemd's hybrid mode has it, so that guests get cgroups of their own there
    /// (and bound guests their programs). Only over the tmpfs of such a layout; nil when nothing had to be done. Must
    /// run before `current` is first read.
    package static func mountUnifiedWhereHybridHasIt(root: String = "/sys/fs/cgroup") throws(SystemError) -> String? {
        guard !FileSystem.exists("\(root)/cgroup.controllers"), !FileSystem.exists("\(root)/unified/cgroup.controllers")
        else { return nil }
        // /proc/self/mounts: "SOURCE TARGET TYPE OPTIONS 0 0" (Swift's Glibc has no statfs).
        let mounts = (try? FileSystem.readText("/proc/self/mounts")) ?? ""
        guard mounts.split(separator: "\n").contains(where: {
            let fields = $0.split(separator: " ")
            return fields.count > 2 && fields[1] == root && fields[2] == "tmpfs"
        }) else { return nil }
        let target = "\(root)/unified"
        if mkdir(target, 0o555) != 0 && errno != EEXIST { throw SystemError("mkdir", path: target) }
        guard mount("cgroup2", target, "cgroup2", UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC), nil) == 0 else {
            throw SystemError("mount cgroup2 on", path: target)
        }
        return target
    }

    /// What is mounted under `root`, as systemd mounts cgroups (one directory per v1 hierarchy).
    package static func probe(root: String = "/sys/fs/cgroup") -> CgroupHost {
        var host = CgroupHost()
        host.unifiedMount = [root, "\(root)/unified"].first { FileSystem.exists("\($0)/cgroup.controllers") }
        if let mount = host.unifiedMount { host.unifiedControllers = names(in: "\(mount)/cgroup.controllers") }
        // systemd's own hierarchy (name=systemd) holds no controller.
        for name in FileSystem.entries(root) where name != "systemd" && FileSystem.exists("\(root)/\(name)/tasks") {
            for controller in name.split(separator: ",") where !controller.hasPrefix("name=") {
                host.legacyMounts[String(controller)] = "\(root)/\(name)"
            }
        }
        return host
    }

    /// The words of a cgroup2 list file (cgroup.controllers, cgroup.subtree_control); none when it cannot be read.
    package static func names(in file: String) -> Set<String> {
        let text = (try? FileSystem.readText(file)) ?? ""
        return Set(text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
    }

    /// A v1 blkio hierarchy's weight file: BFQ's, or CFQ's on kernels before 5.0.
    package static let blkioWeightFiles = ["blkio.bfq.weight", "blkio.weight"]

    /// The weight file of the blkio cgroup `directory` (CFQ's name when it has neither: the write then says so).
    package static func blkioWeightFile(in directory: String) -> String {
        blkioWeightFiles.first { FileSystem.exists("\(directory)/\($0)") } ?? "blkio.weight"
    }

    /// Where a controller's limits go.
    package enum Hierarchy: Sendable, Equatable {
        case unified
        case legacy(mount: String)
    }

    /// The cgroup2 controller a key needs; nil for keys that are no cgroup limit.
    package static func controller(of key: ResourceKey) -> String? {
        switch key {
        case .memoryMax, .memoryHigh, .swapMax: "memory"
        case .cpuMax, .cpuWeight: "cpu"
        case .cpuset: "cpuset"
        case .ioWeight: "io"
        case .pidsMax: "pids"
        case .lxcfs, .spaceMax, .inodesMax: nil
        }
    }

    /// A v1 controller's name for a cgroup2 one.
    package static func legacyController(_ controller: String) -> String {
        controller == "io" ? "blkio" : controller
    }

    /// The v1 file a key needs in its hierarchy, where not every kernel has it.
    static func legacyFiles(of key: ResourceKey) -> [String] {
        switch key {
        case .memoryHigh: ["memory.soft_limit_in_bytes"]
        case .swapMax: ["memory.memsw.limit_in_bytes"]
        case .cpuMax: ["cpu.cfs_quota_us"]
        case .cpuWeight: ["cpu.shares"]
        case .ioWeight: blkioWeightFiles
        default: []
        }
    }

    /// Where `key` is enforced on this host, or why it cannot be: cgroup2 when its root offers the controller,
    /// else the v1 hierarchy of it (with the file the key needs).
    package func hierarchy(for key: ResourceKey) -> Result<Hierarchy, Unenforceable> {
        guard let controller = Self.controller(of: key) else { return .success(.unified) }
        if unifiedControllers.contains(controller) { return .success(.unified) }
        let legacy = Self.legacyController(controller)
        let files = Self.legacyFiles(of: key)
        if let mount = legacyMounts[legacy],
           files.isEmpty || files.contains(where: { FileSystem.exists("\(mount)/\($0)") }) {
            return .success(.legacy(mount: mount))
        }
        var places: [String] = []
        if let unifiedMount { places.append("\(unifiedMount)/cgroup.controllers has no \(controller)") }
        if let mount = legacyMounts[legacy] {
            places.append("the v1 \(legacy) hierarchy (\(mount)) has no "
                          + files.map { "\($0)" }.joined(separator: " or "))
        } else {
            places.append("no v1 \(legacy) hierarchy is mounted")
        }
        return .failure(Unenforceable(key: key, reason: places.joined(separator: ", and ")))
    }

    /// The set keys of `resources` this host cannot enforce.
    package func unenforceable(_ resources: ResourceSettings) -> [Unenforceable] {
        ResourceKey.allCases.compactMap { key in
            guard Self.controller(of: key) != nil, key.describe(resources) != nil,
                  !(key == .pidsMax && resources.pidsMax == nil),
                  case .failure(let problem) = hierarchy(for: key)
            else { return nil }
            return problem
        }
    }
}

/// A limit the host has no controller for.
package struct Unenforceable: Error, Sendable, Equatable, CustomStringConvertible {
    package var key: ResourceKey
    package var reason: String

    package init(key: ResourceKey, reason: String) {
        self.key = key
        self.reason = reason
    }

    package var description: String {
        let unset = key == .pidsMax ? "set it to \"max\"" : "remove it"
        return "this host cannot enforce it: \(reason); \(unset) to start the guest without this limit"
    }
}
