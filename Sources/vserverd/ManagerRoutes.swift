import Glibc
import Logging
import VServerCore
import VServerProtocol

/// The io.vserverd.Manager interface: a table from method name to handler. Adding a verb = one entry here
/// + one CLI file.
struct ManagerRoutes: Sendable {
    let manager: Manager
    let logger: Logger
    /// Parallel starts for StartAutostart / StartAll.
    let jobs: Int
    /// Members of this group may change things (docs/ARCHITECTURE.md §6); nil when the group does not exist.
    let adminGroup: UInt32? = getgrnam("vserverd").map { $0.pointee.gr_gid }

    var interface: VarlinkInterface {
        VarlinkInterface(name: managerInterfaceName, description: managerInterfaceDescription, methods: [
            "List": query { routes, _ in
                ["vservers": .array(await routes.manager.list().map(\.json))]
            },
            "Get": query { routes, call in
                ["vserver": try await routes.manager.get(try call.parameters.requiredString("name")).json]
            },
            "Start": change { routes, call in
                ["vserver": try await routes.manager.start(try call.parameters.requiredString("name")).json]
            },
            "Stop": change { routes, call in
                let timeout = try call.parameters.optionalInt("timeout", in: ManagerLimits.stopTimeout)
                let name = try call.parameters.requiredString("name")
                return ["vserver": try await routes.manager.stop(name, timeout: timeout).json]
            },
            "Restart": change { routes, call in
                ["vserver": try await routes.manager.restart(try call.parameters.requiredString("name")).json]
            },
            "StartAutostart": change { routes, call in
                let jobs = try routes.requestedJobs(call)
                return Self.batchReply(await routes.manager.startMany(onlyAutostart: true, jobs: jobs), key: "started")
            },
            "StartAll": change { routes, call in
                let jobs = try routes.requestedJobs(call)
                return Self.batchReply(await routes.manager.startMany(onlyAutostart: false, jobs: jobs), key: "started")
            },
            "StopAll": change { routes, _ in
                Self.batchReply(await routes.manager.stopAll(), key: "stopped")
            },
            "Reload": change { routes, _ in
                let result = await routes.manager.reload()
                return ["added": Self.strings(result.added), "removed": Self.strings(result.removed),
                        "changed": Self.strings(result.changed)]
            },
            "Whois": query { routes, call in
                guard let pid = Int32(exactly: try call.parameters.requiredInt("pid")), pid > 0 else {
                    throw VarlinkError.invalidParameter("pid")
                }
                let owner = try await routes.manager.whois(pid: pid)
                return ["vserver": JSON(owner?.name), "context": owner.map { JSON($0.context) } ?? .null]
            },
            "Processes": query { routes, call in
                let processes = try await routes.manager.processes(try call.parameters.optionalString("name"))
                return ["processes": .array(processes.map(\.json))]
            },
            "Join": rootOnly { routes, call in
                try await routes.manager.joinInfo(try call.parameters.requiredString("name")).parameters
            },
            "Monitor": { call, peer, sink in
                guard call.more else { throw VarlinkError.expectedMore }
                for await change in await manager.monitor() {
                    var parameters: [String: JSON] = ["name": .string(change.name), "state": .string(change.state)]
                    if let reason = change.reason { parameters["reason"] = .string(reason) }
                    try await sink.send(parameters, continues: true)
                }
            },
        ])
    }

    private typealias Body = @Sendable (ManagerRoutes, VarlinkCall) async throws -> [String: JSON]

    /// A method anyone who can reach the socket may call.
    private func query(_ body: @escaping Body) -> VarlinkMethodHandler {
        VarlinkMethod.reply { call, _ in try await body(self, call) }
    }

    /// A method that changes something: root or the vserverd group only, and logged with the caller.
    private func change(_ body: @escaping Body) -> VarlinkMethodHandler {
        VarlinkMethod.reply { call, peer in
            guard peer.uid == 0 || adminGroup.map(peer.isMember) == true else {
                logger.notice("refused \(call.method) from uid \(peer.uid) (PID \(peer.pid))")
                throw VServerError.permissionDenied(reason: "\(call.memberName) needs root or the group vserverd")
            }
            logger.info("\(call.memberName) \(call.parameters["name"]?.stringValue ?? "")",
                        metadata: ["peer_uid": "\(peer.uid)", "peer_pid": "\(peer.pid)"])
            // In a task of its own: when the daemon stops, ControlServer cancels the connections, and a stop cut
            // short would SIGKILL the guest. The ServiceGroup waits for it instead (SystemdSupervision extends
            // systemd's stop timeout meanwhile).
            return try await Task { try await body(self, call) }.value
        }
    }

    /// `jobs` of StartAutostart/StartAll, else the daemon's --jobs.
    private func requestedJobs(_ call: VarlinkCall) throws -> Int {
        try call.parameters.optionalInt("jobs", in: ManagerLimits.jobs) ?? jobs
    }

    /// Join: what lets the caller run anything as root inside a vserver. uid 0 only (not the vserverd group:
    /// the caller joins the namespaces itself, which needs root anyway), and logged with the caller.
    private func rootOnly(_ body: @escaping Body) -> VarlinkMethodHandler {
        VarlinkMethod.reply { call, peer in
            guard peer.uid == 0 else {
                logger.notice("refused \(call.method) from uid \(peer.uid) (PID \(peer.pid))")
                throw VServerError.permissionDenied(reason: "entering a vserver needs root")
            }
            logger.info("\(call.memberName) \(call.parameters["name"]?.stringValue ?? "")",
                        metadata: ["peer_uid": "\(peer.uid)", "peer_pid": "\(peer.pid)"])
            return try await body(self, call)
        }
    }

    private static func strings(_ values: [String]) -> JSON { .array(values.map { .string($0) }) }

    private static func batchReply(_ result: Manager.BatchResult, key: String) -> [String: JSON] {
        [key: strings(result.done), "failed": strings(result.failed), "errors": strings(result.errors)]
    }
}
