import Glibc
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import VServerProtocol

/// Who is calling: the credentials the peer had when it connected (`SO_PEERCRED`, `SO_PEERGROUPS`).
package struct PeerCredentials: Sendable, Equatable {
    package var pid: Int32
    package var uid: UInt32
    /// The primary group only.
    package var gid: UInt32
    /// The supplementary groups, ascending. A user added to a group with `usermod -aG` has it only here.
    package var groups: [UInt32] = []

    /// Whether the peer has `group` as its primary or a supplementary group.
    package func isMember(of group: UInt32) -> Bool {
        gid == group || groups.contains(group)
    }
}

/// Where a handler sends its replies. Without `more`, exactly one; with `more`, any number with
/// `continues: true` and then one without. Errors are sent by throwing from the handler.
package protocol VarlinkReplySink: Sendable {
    func send(_ parameters: [String: JSON], continues: Bool) async throws
}

extension VarlinkReplySink {
    /// The final (or only) reply.
    package func reply(_ parameters: [String: JSON]) async throws {
        try await send(parameters, continues: false)
    }
}

/// Handles one call. Throwing a `VarlinkError` (or a `VarlinkErrorConvertible`) answers with that error.
/// Returning without a final reply answers with empty parameters.
package typealias VarlinkMethodHandler =
    @Sendable (VarlinkCall, PeerCredentials, any VarlinkReplySink) async throws -> Void

/// One served interface: its name, IDL text and a handler for calls of "NAME.Method".
package struct VarlinkInterface: Sendable {
    package var name: String
    package var description: String
    package var handle: VarlinkMethodHandler

    package init(name: String, description: String, handle: @escaping VarlinkMethodHandler) {
        self.name = name
        self.description = description
        self.handle = handle
    }

    /// An interface from a method table keyed by member name (`"List"`); other names get `MethodNotFound`.
    package init(name: String, description: String, methods: [String: VarlinkMethodHandler]) {
        self.init(name: name, description: description) { call, peer, sink in
            guard let method = methods[call.memberName] else { throw VarlinkError.methodNotFound(call.method) }
            try await method(call, peer, sink)
        }
    }
}

/// Builders for method-table entries.
package enum VarlinkMethod {
    /// A method with one reply: `body` returns its parameters.
    package static func reply(
        _ body: @escaping @Sendable (VarlinkCall, PeerCredentials) async throws -> [String: JSON]
    ) -> VarlinkMethodHandler {
        { call, peer, sink in try await sink.reply(body(call, peer)) }
    }
}

/// A Varlink server on a listening Unix socket: `org.varlink.service` plus the given interfaces.
///
/// Calls on one connection run one after another and are answered in order (clients may pipeline); connections
/// run in parallel. A connection that sends invalid JSON, something that is not a call, or a message over
/// `varlinkMaxMessageSize` is closed; the server goes on. A uid with `connectionsPerUID` connections open gets
/// `refusal` on the next and that one is closed. When a client hangs up, a running `more` handler is
/// cancelled; other calls already received run to completion (they may change state the client asked for).
package final class ControlServer: Service {
    private let listeningSocket: Int32
    private let interfaces: [String: VarlinkInterface]
    private let interfaceNames: [String]
    private let logger: Logger
    private let group: any EventLoopGroup
    private let quota: ConnectionQuota
    private let refusal: @Sendable (_ uid: UInt32, _ limit: Int) -> VarlinkError
    private let internalError: @Sendable (String) -> VarlinkError
    /// Calls read ahead of the running one. Beyond them the socket is not read (the client's writes block), so a
    /// client that pipelines costs bounded memory; a hang-up behind that many pipelined calls is only noticed
    /// when a reply cannot be written.
    private static let readAhead = 4
    /// One event-loop thread serves the socket. With NIO's singleton (one per CPU) a connection is accepted on
    /// one thread and served on another, and the hand-over ping-pongs between them before the first byte is
    /// read: ~0.3 ms of every vserverctl call. The methods themselves run on the Swift concurrency pool.
    package static let eventLoops = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    /// - Parameters:
    ///   - fd: a bound stream socket, listening or not (from `makeListeningSocket` or systemd). The server
    ///     owns it from now on and closes it when `run` returns.
    ///   - interfaces: served besides `org.varlink.service`, whose `GetInfo` lists them in this order.
    ///   - connectionsPerUID: connections one uid may hold open at once; the next one gets `refusal` and is closed.
    ///   - internalError: the reply to a call whose handler failed with an error that has no Varlink form (a bug:
    ///     handlers throw a `VarlinkErrorConvertible` for every failure they expect).
    package init(
        listeningSocket fd: Int32,
        interfaces: [VarlinkInterface],
        connectionsPerUID: Int,
        refusal: @escaping @Sendable (_ uid: UInt32, _ limit: Int) -> VarlinkError,
        internalError: @escaping @Sendable (String) -> VarlinkError,
        vendor: String = "vserverd",
        product: String = "vserverd",
        version: String,
        url: String = "",
        logger: Logger,
        group: any EventLoopGroup = ControlServer.eventLoops
    ) {
        self.listeningSocket = fd
        self.quota = ConnectionQuota(perUID: connectionsPerUID)
        self.refusal = refusal
        self.internalError = internalError
        self.logger = logger
        self.group = group
        let service = Self.serviceInterface(
            vendor: vendor,
            product: product,
            version: version,
            url: url,
            interfaces: interfaces
        )
        let all = [service] + interfaces
        self.interfaceNames = all.map(\.name)
        self.interfaces = Dictionary(all.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        precondition(self.interfaces.count == all.count, "an interface is served twice: \(interfaceNames)")
    }

    /// Connections open now (vserverd's /metrics).
    package var openConnections: Int { quota.total }

    /// Serves until cancelled or until a graceful shutdown of the surrounding `ServiceGroup`.
    package func run() async throws {
        let maxMessageSize = varlinkMaxMessageSize
        let serverChannel = try await ServerBootstrap(group: group)
            // A client that shuts down its sending side still gets the replies to the calls it sent.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .bind(listeningSocket) { channel in
                readPeerCredentials(channel).flatMapThrowing { peer in
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(VarlinkFrameDecoder(maxMessageSize: maxMessageSize))
                    )
                    let connection = try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    return Connection(channel: connection, peer: peer)
                }
            }
        // NIO listens again with a backlog of 128 when it takes over a socket (its .backlog option comes too late for
        // that): the kernel's maximum instead, as systemd's sockets have, so that a burst of clients waits in the
        // queue while the one event loop is busy rather than getting EAGAIN from a non-blocking connect().
        if listen(listeningSocket, SOMAXCONN) != 0 {
            logger.warning("listen with a backlog of \(SOMAXCONN): \(String(cString: strerror(errno)))")
        }
        logger.debug("serving Varlink", metadata: ["interfaces": "\(interfaceNames.joined(separator: " "))"])
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingDiscardingTaskGroup { connections in
                    try await serverChannel.executeThenClose { inbound in
                        for try await connection in inbound {
                            connections.addTask { await self.serve(connection) }
                        }
                    }
                    connections.cancelAll()
                }
            }
        } catch is CancellationError {
            // Shutting down is this service's normal end; a ServiceGroup would take an error for a failure.
        }
        logger.debug("stopped serving Varlink")
    }

    // MARK: - Connections

    /// An accepted connection. One that is never served, accepted as the server stops (the accept loop's buffer is
    /// dropped), is closed when it goes away: NIO traps on a channel's writer that is dropped unfinished.
    private final class Connection: Sendable {
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        let peer: PeerCredentials
        private let served = Atomic(false)

        init(channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>, peer: PeerCredentials) {
            self.channel = channel
            self.peer = peer
        }

        /// `serve` closes it from now on.
        func takeOver() {
            served.store(true, ordering: .relaxed)
        }

        deinit {
            guard !served.load(ordering: .relaxed) else { return }
            let channel = self.channel
            Task { try? await channel.executeThenClose { _, _ in } }
        }
    }

    /// The reason a connection is dropped without an answer: the peer broke the protocol.
    private struct ProtocolViolation: Error {}

    private func serve(_ connection: Connection) async {
        let logger = {
            var logger = self.logger
            logger[metadataKey: "peer_pid"] = "\(connection.peer.pid)"
            logger[metadataKey: "peer_uid"] = "\(connection.peer.uid)"
            return logger
        }()
        connection.takeOver()
        let uid = connection.peer.uid
        guard quota.acquire(uid) else {
            logger.notice("refusing a connection: uid \(uid) has \(quota.perUID) open")
            let refusal = refusal(uid, quota.perUID)
            try? await connection.channel.executeThenClose { _, outbound in
                try await outbound.write(ByteBuffer(bytes: VarlinkReply(error: refusal).encoded()))
            }
            return
        }
        defer { quota.release(uid) }
        do {
            try await connection.channel.executeThenClose { inbound, outbound in
                let hangup = OneShotEvent()
                let queue = CallQueue(capacity: Self.readAhead)
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    // Reading goes on while a call runs, so that a hang-up is seen at once and ends a `more` call.
                    tasks.addTask {
                        defer {
                            hangup.fire()
                            queue.finish()
                        }
                        do {
                            for try await frame in inbound {
                                await queue.push(try VarlinkCall.parse(frame.readableBytesView))
                            }
                        } catch let error as VarlinkMessageError {
                            logger.notice("closing connection: \(error)")
                            throw ProtocolViolation()
                        } catch let error as VarlinkFrameDecoder.MessageTooLarge {
                            logger.notice("closing connection: \(error)")
                            throw ProtocolViolation()
                        }
                    }
                    tasks.addTask {
                        while let call = await queue.pop() {
                            try await self.process(
                                call,
                                peer: connection.peer,
                                outbound: outbound,
                                hangup: hangup,
                                logger: logger
                            )
                        }
                    }
                    try await tasks.waitForAll()
                }
            }
        } catch is ProtocolViolation {
            return
        } catch is CancellationError {
            return
        } catch {
            logger.debug("connection ended: \(error)")
        }
    }

    private func process(
        _ call: VarlinkCall,
        peer: PeerCredentials,
        outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        hangup: OneShotEvent,
        logger: Logger
    ) async throws {
        logger.debug(
            "call",
            metadata: ["method": "\(call.method)", "more": "\(call.more)", "oneway": "\(call.oneway)"]
        )
        let sink = ReplySink(outbound: outbound, call: call)
        do {
            guard let interface = interfaces[call.interface] else {
                throw VarlinkError.interfaceNotFound(call.interface)
            }
            // No method of ours takes the connection over; saying so beats a reply the client reads as consent.
            if call.upgrade { throw VarlinkError.invalidParameter("upgrade") }
            if call.more {
                try await withCancellation(on: hangup) { try await interface.handle(call, peer, sink) }
                // The client hung up (or half-closed) during the stream: nobody is left to answer.
                if hangup.hasFired { return }
            } else {
                try await interface.handle(call, peer, sink)
            }
            if !sink.isFinished { try await sink.send([:], continues: false) }
        } catch {
            if sink.isBroken || Task.isCancelled { throw error }
            if call.more && hangup.hasFired { return }
            if sink.isFinished {
                logger.error("\(call.method) failed after its final reply: \(error)")
                return
            }
            let reply: VarlinkError
            if let convertible = error as? any VarlinkErrorConvertible {
                reply = convertible.varlinkError
            } else {
                logger.error("\(call.method) failed: \(error)")
                reply = internalError("\(error)")
            }
            try await sink.sendError(reply)
        }
    }

    /// Runs `body`, cancelling it when `hangup` is signalled.
    private func withCancellation(on hangup: OneShotEvent, _ body: @escaping @Sendable () async throws -> Void)
        async throws
    {
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await body() }
            tasks.addTask { await hangup.wait() }
            try await tasks.next()
            tasks.cancelAll()
        }
    }

    // MARK: - org.varlink.service

    private static func serviceInterface(
        vendor: String,
        product: String,
        version: String,
        url: String,
        interfaces: [VarlinkInterface]
    ) -> VarlinkInterface {
        let names = [varlinkServiceInterfaceName] + interfaces.map(\.name)
        var descriptions = [varlinkServiceInterfaceName: varlinkServiceInterfaceDescription]
        for interface in interfaces { descriptions[interface.name] = interface.description }
        let info: [String: JSON] = [
            "vendor": .string(vendor), "product": .string(product), "version": .string(version), "url": .string(url),
            "interfaces": .array(names.map(JSON.string)),
        ]
        return VarlinkInterface(
            name: varlinkServiceInterfaceName,
            description: varlinkServiceInterfaceDescription,
            methods: [
                "GetInfo": VarlinkMethod.reply { _, _ in info },
                "GetInterfaceDescription": VarlinkMethod.reply { [descriptions] call, _ in
                    let name = try call.parameters.requiredString("interface")
                    guard let description = descriptions[name] else { throw VarlinkError.interfaceNotFound(name) }
                    return ["description": .string(description)]
                },
            ]
        )
    }
}
