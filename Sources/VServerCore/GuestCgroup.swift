import Glibc

/// The cgroup of a guest that has one of its own (the systemd scope `vserver-NAME.scope`, DESIGN.md §9): the
/// kernel keeps its processes together there, so counting them needs no walk over all of /proc.
struct GuestCgroup: Sendable, Equatable {
    /// The scope's directory in the mounted hierarchy.
    let directory: String
    /// The cgroup PID 1 was in when this was read: the scope, or a cgroup below it when the guest manages its
    /// own (a systemd guest moves itself to init.scope, and cgroup v2 then refuses processes in the scope).
    let processDirectory: String

    /// Where cgroup hierarchies are mounted, as systemd mounts them.
    struct Mounts: Sendable {
        /// The cgroup v2 hierarchy: /sys/fs/cgroup on a unified host, /sys/fs/cgroup/unified on a hybrid one.
        var unified: String?
        /// systemd's own v1 hierarchy (name=systemd) on a legacy or hybrid host.
        var systemd: String?

        static let host: Mounts = {
            let root = "/sys/fs/cgroup"
            let unified = [root, "\(root)/unified"].first { FileSystem.exists("\($0)/cgroup.procs") }
            let systemd = FileSystem.exists("\(root)/systemd/cgroup.procs") ? "\(root)/systemd" : nil
            return Mounts(unified: unified, systemd: systemd)
        }()
    }

    /// The guest's cgroup when PID 1 sits in `vserver-NAME.scope` or below it; nil when it is anywhere else (the
    /// daemon's own cgroup outside systemd): then the cgroup would count more than this guest.
    init?(pid: Int32, name: String, mounts: Mounts = .host) {
        guard let text = try? FileSystem.readText("/proc/\(pid)/cgroup"),
              let found = Self.directories(procCgroup: text, scope: Self.scopeName(name), mounts: mounts)
        else { return nil }
        (directory, processDirectory) = found
    }

    init(directory: String) {
        self.directory = directory
        self.processDirectory = directory
    }

    static func scopeName(_ name: String) -> String { "vserver-\(name).scope" }

    /// Reads /proc/PID/cgroup ("ID:CONTROLLERS:PATH" per line): the v2 line ("0::PATH") where v2 is mounted,
    /// else systemd's v1 line ("N:name=systemd:PATH"). nil unless PATH is `scope` or below it; then the scope's
    /// directory and PATH's.
    static func directories(procCgroup text: String, scope: String, mounts: Mounts)
        -> (scope: String, process: String)?
    {
        var unifiedPath: Substring?
        var systemdPath: Substring?
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            if fields[0] == "0" && fields[1].isEmpty { unifiedPath = fields[2] }
            if fields[1] == "name=systemd" { systemdPath = fields[2] }
        }
        for case let (mount?, path?) in [(mounts.unified, unifiedPath), (mounts.systemd, systemdPath)] {
            // The first component named so is the scope: the guest may name its own cgroups as it likes.
            let components = path.split(separator: "/")
            guard let index = components.firstIndex(where: { $0 == scope }) else { continue }
            let scopePath = components[...index].joined(separator: "/")
            return (scope: "\(mount)/\(scopePath)", process: "\(mount)/\(components.joined(separator: "/"))")
        }
        return nil
    }

    /// Processes in the cgroup and every cgroup below it (a systemd guest makes its own, with Delegate=yes), and
    /// memory: the kernel's `memory.current` when the memory controller is on, else the resident memory of
    /// those processes (a hybrid host whose v1 memory controller systemd does not manage for the scope).
    func usage(procRoot: String = "/proc") -> ProcessTable.Usage {
        var pids: [Int32] = []
        collectPids(in: directory, into: &pids)
        var usage = ProcessTable.Usage(processes: pids.count)
        if let current = try? FileSystem.readText("\(directory)/memory.current"),
           let bytes = current.split(separator: "\n").first.flatMap({ UInt64($0) }) {
            usage.residentBytes = bytes
        } else {
            usage.residentBytes = pids.reduce(0) { $0 + ProcessTable.residentBytes(pid: $1, procRoot: procRoot) }
        }
        return usage
    }

    private func collectPids(in directory: String, into pids: inout [Int32]) {
        if let procs = try? FileSystem.readText("\(directory)/cgroup.procs") {
            pids += procs.split(separator: "\n").compactMap { Int32($0) }
        }
        for child in Self.subdirectories(of: directory) { collectPids(in: "\(directory)/\(child)", into: &pids) }
    }

    /// Child cgroups, by d_type: a cgroup directory holds dozens of files, and `list` reads every guest's.
    private static func subdirectories(of directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            guard entry.pointee.d_type == UInt8(DT_DIR) else { continue }
            let name = withUnsafeBytes(of: &entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
