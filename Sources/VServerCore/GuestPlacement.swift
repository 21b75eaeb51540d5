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

    /// Gives the running guest `name` the limits `resources` at once (`vserverctl set`).
    func setResources(_ resources: ResourceSettings, name: String) throws
}

extension GuestPlacement {
    /// What `Spawner.spawn` calls with the PID of the held PID 1 of `config`'s guest.
    func placing(_ config: VServerConfig) -> @Sendable (Int32) -> Void {
        { pid in
            place(PlacedGuest(name: config.name, context: config.context, pid: pid, root: config.root,
                              resources: config.resources))
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
    /// `[resources]`: the scope's MemoryMax=, CPUQuota=, TasksMax= and the rest.
    public var resources: ResourceSettings

    public init(name: String, context: Int, pid: Int32, root: String, resources: ResourceSettings = .init()) {
        self.name = name
        self.context = context
        self.pid = pid
        self.root = root
        self.resources = resources
    }
}

/// A placement that only takes the path of one (PID 1 held before its exec, then released) and logs it: tests run
/// that spawn path on hosts without systemd (`vserverd --placement held`).
public struct HeldOnlyPlacement: GuestPlacement {
    let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    public func place(_ guest: PlacedGuest) {
        logger.debug("held PID \(guest.pid) before its exec for placement",
                     metadata: .vserver(guest.name, context: guest.context))
    }

    public func setResources(_ resources: ResourceSettings, name: String) throws {
        throw ManagerError.startFailed(name: name, step: "resources",
                                       reason: "resources: the held placement has no cgroup to change")
    }
}
