import Glibc
import VServerConfig
import VServerProtocol

/// The pids limit of a guest outside systemd (`[resources] pids-max`, docs/ARCHITECTURE.md §4): without it a fork
/// bomb inside takes every PID of the host. Under systemd the scope's TasksMax= does the same.
enum PidsLimit {
    /// Where this host takes a guest's limit.
    enum Place: Equatable {
        /// pids.max of the guest's own cgroup2 cgroup: the parent's subtree has the pids controller.
        case unified
        /// pids.max of `vserver-NAME` in the v1 pids hierarchy mounted at `mount`, below `parentPath` (the same
        /// path as the guests' cgroup2 parent): a hybrid host, whose cgroup2 has no controllers.
        case legacy(mount: String, parentPath: String)
    }

    /// Why a guest with a limit cannot start on this host.
    struct Unavailable: Error, CustomStringConvertible {
        var description: String
    }

    /// Where a limit goes: cgroup2 when `unifiedParent` (the guests' parent cgroup) offers the pids controller,
    /// turning it on in its `cgroup.subtree_control` if needed; else the v1 pids hierarchy; else `Unavailable`.
    static func place(unifiedParent: String?, legacyMount: String?, parentPath: String) throws(Unavailable) -> Place {
        var unifiedProblem: String?
        if let unifiedParent {
            do throws(SystemError) {
                if try enablePidsController(in: unifiedParent) { return .unified }
            } catch {
                unifiedProblem = error.description
            }
        }
        if let legacyMount { return .legacy(mount: legacyMount, parentPath: parentPath) }
        let why = unifiedProblem
            ?? "neither \(unifiedParent.map { "\($0)/cgroup.controllers" } ?? "a cgroup2 hierarchy") offers the "
                + "pids controller nor is a cgroup v1 pids hierarchy mounted"
        throw Unavailable(description: "pids-max: no pids controller to limit the guest with: \(why); set "
                          + "[resources] pids-max = \"max\" to start it without a limit")
    }

    /// Turns on the pids controller for the children of `parent` (cgroup2); false when the hierarchy does not
    /// offer it there. A cgroup that holds processes itself cannot (EBUSY): point --cgroup-parent elsewhere.
    static func enablePidsController(in parent: String) throws(SystemError) -> Bool {
        guard let offered = try? FileSystem.readText("\(parent)/cgroup.controllers"),
              offered.split(whereSeparator: { $0 == " " || $0 == "\n" }).contains("pids")
        else { return false }
        let control = "\(parent)/cgroup.subtree_control"
        let enabled = (try? FileSystem.readText(control)) ?? ""
        if enabled.split(whereSeparator: { $0 == " " || $0 == "\n" }).contains("pids") { return true }
        try FileSystem.writeKernelFile(control, "+pids")
        return true
    }

    /// Sets `pids.max` of a cgroup (v1 or v2).
    static func setMax(_ max: UInt64, of directory: String) throws(SystemError) {
        try FileSystem.writeKernelFile("\(directory)/pids.max", "\(max)")
    }

    /// Makes `MOUNT/PARENT/vserver-NAME` in the v1 pids hierarchy with `max`; a leftover of an earlier run is
    /// removed first. PID 1 moves itself in first thing, before it can fork (`openTasks`).
    static func createLegacy(name: String, mount: String, parentPath: String, max: UInt64)
        throws(SystemError) -> GuestCgroup
    {
        let parent = Path.join(mount, String(parentPath.drop { $0 == "/" }))
        do {
            try FileSystem.makeDirectories(parent)
        } catch {
            throw error as? SystemError ?? SystemError("mkdir", path: parent, errno: EIO)
        }
        let cgroup = try GuestCgroup.create(name: name, parent: parent, owner: nil)
        do throws(SystemError) {
            try setMax(max, of: cgroup.directory)
        } catch {
            try? cgroup.remove()
            throw error
        }
        return cgroup
    }

    /// `tasks` of a v1 cgroup, opened for PID 1 to write "0" to (`vs_spawn_config.pids_tasks_fd`): a thread that
    /// moves itself is moved without the global lock that a move by PID takes (an RCU grace period, ~8 ms a start).
    static func openTasks(of cgroup: GuestCgroup) throws(SystemError) -> Int32 {
        let path = "\(cgroup.directory)/tasks"
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open", path: path) }
        return fd
    }

    /// The v1 pids cgroup `vserver-NAME` (ours) or `vserver-NAME.scope` (systemd's) a process is in, or below it;
    /// nil on hosts without a v1 pids hierarchy or when it is elsewhere.
    static func legacyCgroup(pid: Int32, name: String, mount: String? = GuestCgroup.Mounts.host.legacyPids)
        -> (cgroup: GuestCgroup, processDirectory: String)?
    {
        guard let mount, let text = try? FileSystem.readText("/proc/\(pid)/cgroup") else { return nil }
        return legacyCgroup(procCgroup: text, names: [GuestCgroup.ownName(name), GuestCgroup.scopeName(name)],
                            mount: mount)
    }

    /// The "N:CONTROLLERS:PATH" line of /proc/PID/cgroup whose controllers include pids.
    static func legacyCgroup(procCgroup text: String, names: [String], mount: String)
        -> (cgroup: GuestCgroup, processDirectory: String)?
    {
        guard let path = GuestCgroup.path(procCgroup: text, controller: "pids"),
              let found = GuestCgroup.directories(path: path, names: names, mount: mount)
        else { return nil }
        return (GuestCgroup(directory: found.scope), found.process)
    }
}
