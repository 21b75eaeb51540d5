import Logging
import VServerConfig
import VServerProtocol

/// Where the host's service manager accounts a guest. Under systemd that is its own scope `vserver-NAME.scope`,
/// registered with systemd-machined (docs/ARCHITECTURE.md §9); the daemon supplies it. Without one (outside systemd,
/// in tests) vserverd makes the guest's cgroup itself (`vserver-NAME`, GuestCgroup).
public protocol GuestPlacement: Sendable {
    /// Runs on a blocking thread while PID 1 of a new guest waits right before its exec (its setup goes on
    /// meanwhile), so that it and every process it will fork land where they belong. It cannot fail the start:
    /// a guest runs without a scope too, so failures are logged by the implementation.
    func place(_ guest: PlacedGuest)
}

extension GuestPlacement {
    /// What `Spawner.spawn` calls with the PID of the held PID 1 of `config`'s guest.
    func placing(_ config: VServerConfig) -> @Sendable (Int32) -> Void {
        { pid in
            place(PlacedGuest(name: config.name, context: config.context, pid: pid, root: config.root,
                              pidsMax: config.pidsMax))
        }
    }
}

/// What a placement needs to know of a guest being started.
public struct PlacedGuest: Sendable, Equatable {
    public var name: String
    public var context: Int
    /// Host PID of PID 1 (held before its exec).
    public var pid: Int32
    public var root: String
    /// `[resources] pids-max`: the scope's TasksMax=; nil: no limit.
    public var pidsMax: UInt64?

    public init(name: String, context: Int, pid: Int32, root: String, pidsMax: UInt64? = nil) {
        self.name = name
        self.context = context
        self.pid = pid
        self.root = root
        self.pidsMax = pidsMax
    }
}

extension Manager {
    /// Log metadata naming a vserver: `vserver` and, when known, `vserver_context` (journald VSERVER_CONTEXT=).
    func logMetadata(_ name: String) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["vserver": "\(name)"]
        if let context = states[name]?.guest?.record.context ?? configs.configs[name]?.context {
            metadata["vserver_context"] = "\(context)"
        }
        return metadata
    }

    /// Usage of every running guest by pid namespace inode: from the guest's own cgroup when the memory controller
    /// accounts it, else from one walk over /proc for all the others (per guest, a few reads of its cgroup plus one
    /// of each of its processes cost more than its share of one walk: 94 against 38 ms for 1000 guests).
    func guestUsage() -> [UInt64: ProcessTable.Usage] {
        var usage: [UInt64: ProcessTable.Usage] = [:]
        var uncounted = Set<UInt64>()
        for state in states.values {
            guard let guest = state.guest, let pidNamespace = guest.record.namespaces["pid"] else { continue }
            if let cgroup = guest.cgroup, cgroup.accountsMemory {
                usage[pidNamespace] = cgroup.usage()
            } else {
                uncounted.insert(pidNamespace)
            }
        }
        usage.merge(ProcessTable.usage(inPidNamespaces: uncounted)) { fromCgroup, _ in fromCgroup }
        return usage
    }
}
