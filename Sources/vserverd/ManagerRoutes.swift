import Logging
import VarlinkServer
import VServerProtocol
import VServerSystemd

/// Serves io.vserverd.Manager from a `ManagerService` (the Manager actor): the access rule of each method, the
/// log line of each change with its caller, and changes run to their end even when the daemon stops. Decoding,
/// dispatch and encoding are `ManagerService.handle`'s.
struct ManagerRoutes: Sendable {
    let service: any ManagerService
    let logger: Logger
    /// Members of this group may change things (docs/ARCHITECTURE.md §6); nil when the group does not exist.
    let administratorGroup: UInt32? = AdministratorGroup.id()

    var interface: VarlinkInterface {
        VarlinkInterface(name: managerInterfaceName, description: managerInterfaceDescription) { call, peer, sink in
            guard let method = ManagerMethod(rawValue: call.memberName) else {
                throw VarlinkError.methodNotFound(call.method)
            }
            try checkAccess(method, call, peer)
            let handle: @Sendable () async throws -> Void = { [service] in
                try await service.handle(method, parameters: call.parameters, more: call.more) { reply, continues in
                    try await sink.send(reply, continues: continues)
                }
            }
            // A change runs in a task of its own: when the daemon stops, ControlServer cancels the connections, and
            // a stop cut short would SIGKILL the guest. The ServiceGroup waits for it instead (SystemdSupervision
            // extends systemd's stop timeout meanwhile).
            if method.access == .administrator && !method.stopsOnHangUp {
                try await Task { try await handle() }.value
            } else {
                try await handle()
            }
        }
    }

    /// Refuses a caller the method's access rule leaves out, and logs every call that is not a query.
    private func checkAccess(_ method: ManagerMethod, _ call: VarlinkCall, _ peer: PeerCredentials) throws {
        let refusal: String? = switch method.access {
        case .anyone: nil
        case .administrator:
            peer.uid == 0 || administratorGroup.map(peer.isMember) == true
                ? nil : "\(call.memberName) needs root or the group \(AdministratorGroup.name)"
        // Not the vserverd group: the caller joins the namespaces itself, which needs root anyway.
        case .root: peer.uid == 0 ? nil : "entering a vserver needs root"
        }
        if let refusal {
            logger.notice("refused \(call.method) from uid \(peer.uid) (PID \(peer.pid))")
            throw ManagerError.permissionDenied(reason: refusal)
        }
        if method.access != .anyone {
            logger.info("\(call.memberName) \(call.parameters["name"]?.stringValue ?? "")",
                        metadata: ["peer_uid": "\(peer.uid)", "peer_pid": "\(peer.pid)"])
        }
    }
}
