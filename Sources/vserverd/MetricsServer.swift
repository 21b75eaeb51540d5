import ArgumentParser
import Glibc
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization
import VServerCore
import VarlinkServer
import VServerProtocol

/// `--metrics HOST:PORT`: `127.0.0.1:9100`, `[::1]:9100`, `0.0.0.0:9100` for every IPv4 address, or a host name.
struct MetricsAddress: Sendable, CustomStringConvertible {
    var host: String
    var port: Int

    init(_ argument: String) throws {
        let host: Substring
        let port: Substring
        if argument.hasPrefix("[") {
            guard let close = argument.firstIndex(of: "]"), argument[close...].hasPrefix("]:") else {
                throw Self.invalid(argument)
            }
            host = argument[argument.index(after: argument.startIndex)..<close]
            port = argument[argument.index(close, offsetBy: 2)...]
        } else {
            // A bare IPv6 address has colons of its own: it needs the brackets.
            guard let colon = argument.firstIndex(of: ":"), argument.lastIndex(of: ":") == colon else {
                throw Self.invalid(argument)
            }
            host = argument[..<colon]
            port = argument[argument.index(after: colon)...]
        }
        guard !host.isEmpty, let number = Int(port), (1...65535).contains(number) else { throw Self.invalid(argument) }
        self.host = String(host)
        self.port = number
    }

    private static func invalid(_ argument: String) -> ValidationError {
        ValidationError("--metrics \(argument): expected HOST:PORT, like 127.0.0.1:9100 or [::1]:9100")
    }

    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Serves `GET /metrics` over HTTP/1.1 for Prometheus: the text `render` makes for the format the scraper accepts.
/// Other paths get 404, other methods 405. Bounded: `maxConnections` at once (more are closed at once), request heads
/// of 16 KiB, bodies of 4 KiB, and a connection idle for `idleTimeout` is closed.
final class MetricsServer: Service, Sendable {
    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    /// The bound socket: made at start-up, so that a port in use is an error before vserverd serves anything.
    struct Listener: Sendable {
        let address: MetricsAddress
        let channel: NIOAsyncChannel<Connection, Never>
    }

    static let maxConnections = 32
    static let idleTimeout = TimeAmount.minutes(5)
    private static let maxBodyBytes = 4096
    private static let decoderLimits = {
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderFieldSize = 8 * 1024
        limits.maxHeaderListSize = 16 * 1024
        limits.maxHeaderFieldCount = 100
        return limits
    }()

    private let listener: Listener
    private let render: @Sendable (MetricsFormat) async -> String
    private let logger: Logger
    private let open = Mutex(0)

    init(_ listener: Listener, logger: Logger, render: @escaping @Sendable (MetricsFormat) async -> String) {
        self.listener = listener
        self.logger = logger
        self.render = render
    }

    /// Binds `address`. The error names what failed: "cannot resolve HOST", "bind: Address already in use".
    static func listen(on address: MetricsAddress, group: any EventLoopGroup) async throws -> Listener {
        let socketAddress: SocketAddress
        do {
            socketAddress = try SocketAddress.makeAddressResolvingHost(address.host, port: address.port)
        } catch {
            throw ListenFailure(description: "cannot resolve \(address.host)")
        }
        do {
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 64)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(to: socketAddress) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        try pipeline.addHandler(IdleStateHandler(readTimeout: idleTimeout))
                        try pipeline.addHandler(CloseWhenIdle())
                        try pipeline.configureHTTPServerPipeline(
                            withEncoderConfiguration: .init(), withDecoderLimitConfiguration: decoderLimits)
                        return try Connection(wrappingChannelSynchronously: channel)
                    }
                }
            return Listener(address: address, channel: channel)
        } catch let error as IOError {
            throw ListenFailure(description: "\(Self.call(of: error)): \(String(cString: strerror(error.errnoCode)))")
        }
    }

    /// "bind", "socket" or "listen" from NIO's "bind(descriptor:ptr:bytes:): ..." text.
    private static func call(of error: IOError) -> String {
        let text = "\(error)"
        let name = text.prefix { $0.isLetter }
        return name.isEmpty ? "listen" : String(name)
    }

    struct ListenFailure: Error, CustomStringConvertible {
        var description: String
    }

    func run() async throws {
        logger.info("serving metrics on http://\(listener.address)/metrics")
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingDiscardingTaskGroup { connections in
                    try await self.listener.channel.executeThenClose { inbound in
                        for try await connection in inbound {
                            guard self.acquire() else {
                                try? await connection.executeThenClose { _, _ in }
                                continue
                            }
                            connections.addTask {
                                defer { self.release() }
                                await self.serve(connection)
                            }
                        }
                    }
                    connections.cancelAll()
                }
            }
        } catch is CancellationError {
            // Shutting down is this service's normal end.
        }
        logger.debug("stopped serving metrics")
    }

    private func acquire() -> Bool {
        open.withLock { open in
            guard open < Self.maxConnections else { return false }
            open += 1
            return true
        }
    }

    private func release() {
        open.withLock { $0 -= 1 }
    }

    /// Requests one after another (keep-alive); a request that asks to close, or whose body is too long, ends it.
    private func serve(_ connection: Connection) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                var bodyBytes = 0
                for try await part in inbound {
                    switch part {
                    case .head(let requestHead):
                        head = requestHead
                        bodyBytes = 0
                    case .body(let bytes):
                        bodyBytes += bytes.readableBytes
                        if bodyBytes > Self.maxBodyBytes { return }
                    case .end:
                        guard let request = head else { return }
                        head = nil
                        try await respond(to: request, outbound)
                        if !request.isKeepAlive { return }
                    }
                }
            }
        } catch {
            logger.debug("metrics connection: \(error)")
        }
    }

    private func respond(to request: HTTPRequestHead, _ outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>)
        async throws
    {
        let path = request.uri.prefix { $0 != "?" }
        let status: HTTPResponseStatus
        var headers = HTTPHeaders()
        let body: String
        if path != "/metrics" {
            (status, body) = (.notFound, "not found: the metrics are at /metrics\n")
            headers.add(name: "content-type", value: "text/plain; charset=utf-8")
        } else if request.method != .GET && request.method != .HEAD {
            (status, body) = (.methodNotAllowed, "only GET and HEAD\n")
            headers.add(name: "allow", value: "GET, HEAD")
            headers.add(name: "content-type", value: "text/plain; charset=utf-8")
        } else {
            let format = MetricsFormat(accept: request.headers.first(name: "accept"))
            (status, body) = (.ok, await render(format))
            headers.add(name: "content-type", value: format.contentType)
        }
        headers.add(name: "content-length", value: "\(body.utf8.count)")
        if !request.isKeepAlive {
            headers.add(name: "connection", value: "close")
        } else if request.version.minor == 0 {
            headers.add(name: "connection", value: "keep-alive")
        }
        try await outbound.write(.head(HTTPResponseHead(version: request.version, status: status, headers: headers)))
        if request.method != .HEAD { try await outbound.write(.body(.byteBuffer(ByteBuffer(string: body)))) }
        try await outbound.write(.end(nil))
    }
}

extension MetricsServer {
    /// vserverd's metrics: every vserver the Manager knows, and vserverd's own figures.
    convenience init(_ listener: Listener, manager: Manager, control: ControlServer, logger: Logger) {
        self.init(listener, logger: logger) { format in
            let daemon = DaemonFigures.current(version: vserverdVersion, varlinkConnections: control.openConnections)
            return VServerMetrics.render(await manager.metrics(), daemon: daemon, format: format)
        }
    }
}

/// Closes a connection that IdleStateHandler found idle.
private final class CloseWhenIdle: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
