import Glibc
import VServerConfig
import VServerProtocol

/// The cgroup of a guest: under systemd its scope `vserver-NAME.scope` (docs/ARCHITECTURE.md §9), elsewhere
/// `vserver-NAME` that vserverd makes below its own cgroup (or `--cgroup-parent`) in the cgroup2 hierarchy. Either is
/// delegated to the guest: it is the root of the guest's cgroup namespace and mounted on its /sys/fs/cgroup, so that a
/// systemd guest manages the cgroups below. The kernel keeps the guest's processes together there, so counting them
/// needs no walk over all of /proc.
package struct GuestCgroup: Sendable, Equatable {
    /// The cgroup's directory in the mounted hierarchy.
    let directory: String
    /// The cgroup PID 1 was in when this was read: the scope, or a cgroup below it when the guest manages its
    /// own (a systemd guest moves itself to init.scope, and cgroup v2 then refuses processes in the scope).
    let processDirectory: String
    /// The memory controller is on for it (`memory.current`): then `usage()` is cheaper than a walk over /proc, which
    /// it is not when it has to read the resident memory of each process (a hybrid host's v1 memory controller).
    let accountsMemory: Bool
    /// The io controller is on for it (`io.stat`). Both are looked up once: `list` must not try files that are not
    /// there for each of 1000 guests.
    let accountsIO: Bool

    /// Where cgroup hierarchies are mounted, as systemd mounts them.
    struct Mounts: Sendable {
        /// The cgroup v2 hierarchy: /sys/fs/cgroup on a unified host, /sys/fs/cgroup/unified on a hybrid one.
        var unified: String?
        /// systemd's own v1 hierarchy (name=systemd) on a legacy or hybrid host.
        var systemd: String?

        static let host: Mounts = {
            let root = "/sys/fs/cgroup"
            let systemd = FileSystem.exists("\(root)/systemd/cgroup.procs") ? "\(root)/systemd" : nil
            return Mounts(unified: CgroupHost.current.unifiedMount, systemd: systemd)
        }()
    }

    /// The guest's cgroup when PID 1 sits in `vserver-NAME.scope` or `vserver-NAME`, or below it; nil when it is
    /// anywhere else (the daemon's own cgroup): then the cgroup would count more than this guest.
    init?(pid: Int32, name: String, mounts: Mounts = .host) {
        guard let text = try? FileSystem.readText("/proc/\(pid)/cgroup") else { return nil }
        self.init(procCgroup: text, name: name, mounts: mounts)
    }

    /// The same from /proc/PID/cgroup's text, which also gives its v1 cgroups (`LegacyCgroups.of`).
    init?(procCgroup text: String, name: String, mounts: Mounts = .host) {
        guard let found = Self.directories(procCgroup: text, names: [Self.scopeName(name), Self.ownName(name)],
                                           mounts: mounts)
        else { return nil }
        (directory, processDirectory) = found
        accountsMemory = FileSystem.exists("\(directory)/memory.current")
        accountsIO = FileSystem.exists("\(directory)/io.stat")
    }

    init(directory: String) {
        self.directory = directory
        self.processDirectory = directory
        accountsMemory = FileSystem.exists("\(directory)/memory.current")
        accountsIO = FileSystem.exists("\(directory)/io.stat")
    }

    package static func scopeName(_ name: String) -> String { "vserver-\(name).scope" }

    /// The slice systemd puts the scopes in, as for machinectl's containers.
    package static let scopeSlice = "machine.slice"

    /// The name of the cgroup vserverd makes itself, outside systemd.
    package static func ownName(_ name: String) -> String { "vserver-\(name)" }

    /// Made by vserverd rather than systemd: vserverd removes it when the guest has ended.
    var isOwn: Bool { !directory.hasSuffix(".scope") }

    /// Reads /proc/PID/cgroup ("ID:CONTROLLERS:PATH" per line): the v2 line ("0::PATH") where v2 is mounted,
    /// else systemd's v1 line ("N:name=systemd:PATH"). nil unless PATH is a cgroup named one of `names` or below
    /// it; then that cgroup's directory and PATH's.
    static func directories(procCgroup text: String, names: [String], mounts: Mounts)
        -> (scope: String, process: String)?
    {
        let unifiedPath = path(procCgroup: text, controller: nil)
        let systemdPath = path(procCgroup: text, controller: "name=systemd")
        for case let (mount?, path?) in [(mounts.unified, unifiedPath), (mounts.systemd, systemdPath)] {
            if let found = directories(path: path, names: names, mount: mount) { return found }
        }
        return nil
    }

    /// For a cgroup PATH (as in /proc/PID/cgroup) at or below a cgroup named one of `names`: that cgroup's directory
    /// and PATH's, in the hierarchy mounted at `mount`. The first component named so is the guest's: the guest may
    /// name its own cgroups as it likes.
    static func directories(path: Substring, names: [String], mount: String) -> (scope: String, process: String)? {
        let components = path.split(separator: "/")
        guard let index = components.firstIndex(where: { names.contains(String($0)) }) else { return nil }
        return (scope: "\(mount)/\(components[...index].joined(separator: "/"))",
                process: "\(mount)/\(components.joined(separator: "/"))")
    }

    /// Processes in the cgroup and every cgroup below it (a systemd guest makes its own, with Delegate=yes), and
    /// memory: the kernel's `memory.current` when the memory controller is on, else the resident memory of
    /// those processes (a hybrid host whose v1 memory controller systemd does not manage for the scope).
    func usage(procRoot: String = "/proc") -> ProcessTable.Usage {
        let pids = pids()
        let current = try? FileSystem.readText("\(directory)/memory.current")
        let memoryBytes = current?.split(separator: "\n").first.flatMap { UInt64($0) }
        return ProcessTable.usage(of: pids, memoryBytes: memoryBytes, procRoot: procRoot)
    }

    /// The processes in the cgroup and every cgroup below it.
    func pids() -> [Int32] {
        var pids: [Int32] = []
        collectPids(in: directory, into: &pids)
        return pids
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

// MARK: The guest's own cgroup, outside systemd

extension GuestCgroup {
    /// The files of a cgroup a delegate may write (systemd's Delegate= with User= hands over the same): with them the
    /// guest's root manages the cgroups below, but not the limits set on this one.
    static let delegatedFiles = ["cgroup.procs", "cgroup.threads", "cgroup.subtree_control"]

    /// The PATH of a hierarchy in /proc/PID/cgroup ("ID:CONTROLLERS:PATH" per line): cgroup2's ("0::PATH") for a nil
    /// `controller`, else that of the v1 hierarchy whose controllers include it ("pids", "name=systemd").
    static func path(procCgroup text: String, controller: String?) -> Substring? {
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            if let controller {
                if fields[1].split(separator: ",").contains(Substring(controller)) { return fields[2] }
            } else if fields[0] == "0" && fields[1].isEmpty {
                return fields[2]
            }
        }
        return nil
    }

    /// The cgroup2 directory a process is in (its "0::PATH" line), in the mounted hierarchy.
    static func cgroup2Directory(pid: String = "self", mounts: Mounts = .host) -> String? {
        guard let unified = mounts.unified, let text = try? FileSystem.readText("/proc/\(pid)/cgroup"),
              let path = path(procCgroup: text, controller: nil)
        else { return nil }
        return path == "/" ? unified : unified + path
    }

    /// Makes `PARENT/vserver-NAME` for a guest about to start; a leftover of an earlier run (a daemon that was
    /// killed) is emptied first, unless processes still live in it. With `owner`, the directory and its
    /// `delegatedFiles` belong to it (the guest's root, with a user namespace).
    static func create(name: String, parent: String, owner: uid_t?) throws(SystemError) -> GuestCgroup {
        let cgroup = GuestCgroup(directory: Path.join(parent, ownName(name)))
        if mkdir(cgroup.directory, 0o755) != 0 {
            guard errno == EEXIST else { throw SystemError("mkdir", path: cgroup.directory) }
            try cgroup.remove()
            guard mkdir(cgroup.directory, 0o755) == 0 else { throw SystemError("mkdir", path: cgroup.directory) }
        }
        if let owner {
            do throws(SystemError) {
                try cgroup.delegate(to: owner)
            } catch {
                try? cgroup.remove()
                throw error
            }
        }
        return cgroup
    }

    /// Gives the cgroup to `owner`, as systemd does for a delegated unit with a User=.
    func delegate(to owner: uid_t) throws(SystemError) {
        for path in [directory] + Self.delegatedFiles.map({ "\(directory)/\($0)" }) {
            // cgroup.threads is missing where the kernel has no threaded cgroups; the rest must be there.
            if chown(path, owner, owner) != 0 && !(errno == ENOENT && path.hasSuffix("cgroup.threads")) {
                throw SystemError("chown", path: path)
            }
        }
    }

    /// Its directory, for clone3's CLONE_INTO_CGROUP.
    func openDirectory() throws(SystemError) -> Int32 {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open", path: directory) }
        return fd
    }

    /// Removes the cgroup and every cgroup the guest made below it, deepest first. A cgroup stays busy for a moment
    /// after its last process was reaped (the kernel frees it asynchronously): retried for up to `patience`.
    func remove(patience: Duration = .seconds(1)) throws(SystemError) {
        let clock = ContinuousClock()
        let deadline = clock.now + patience
        while true {
            do throws(SystemError) {
                return try Self.removeTree(directory)
            } catch let error where error.errno == EBUSY && clock.now < deadline {
                usleep(200)
            }
        }
    }

    private static func removeTree(_ directory: String) throws(SystemError) {
        for child in subdirectories(of: directory) { try removeTree("\(directory)/\(child)") }
        guard rmdir(directory) == 0 || errno == ENOENT else { throw SystemError("rmdir", path: directory) }
    }
}
