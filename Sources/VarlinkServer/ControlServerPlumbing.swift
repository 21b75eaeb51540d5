import Glibc
import NIOCore
import Synchronization
import VServerProtocol

// The parts of ControlServer below the protocol: replies, read-ahead, hang-up, framing and peer credentials.

// MARK: - Reply sink

/// Writes the replies of one call, in order, and enforces the protocol on the handler: nothing after the final
/// reply, `continues` only when the client asked for `more`, nothing at all for `oneway`.
package final class ReplySink: VarlinkReplySink {
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private let call: VarlinkCall
    private let state = Mutex(State())

    private struct State {
        var finished = false
        var broken = false
    }

    package init(outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, call: VarlinkCall) {
        self.outbound = outbound
        self.call = call
    }

    /// The final reply (or error) was sent.
    package var isFinished: Bool { state.withLock { $0.finished } }
    /// Writing failed: the connection is gone.
    package var isBroken: Bool { state.withLock { $0.broken } }

    package func send(_ parameters: [String: JSON], continues: Bool) async throws {
        try await write(VarlinkReply(parameters: parameters, continues: continues))
    }

    package func sendError(_ error: VarlinkError) async throws {
        try await write(VarlinkReply(error: error))
    }

    private func write(_ reply: VarlinkReply) async throws {
        let method = call.method
        let more = call.more
        try state.withLock { (state: inout State) throws(ControlServerError) in
            if state.finished { throw .replyAfterFinalReply(method) }
            if reply.continues && !more { throw .continuesWithoutMore(method) }
            if !reply.continues { state.finished = true }
        }
        if call.oneway { return }
        do {
            try await outbound.write(ByteBuffer(bytes: reply.encoded()))
        } catch {
            state.withLock { $0.broken = true }
            throw error
        }
    }
}

/// A handler broke the reply protocol. A bug in the handler, reported as an internal error.
package enum ControlServerError: Error, CustomStringConvertible {
    case replyAfterFinalReply(String)
    case continuesWithoutMore(String)

    package var description: String {
        switch self {
        case .replyAfterFinalReply(let method): "\(method) sent a reply after its final reply"
        case .continuesWithoutMore(let method): "\(method) sent a reply with continues to a call without more"
        }
    }
}

// MARK: - Read-ahead queue

/// The calls read but not yet run, at most `capacity`: `push` waits for room, `pop` for a call.
/// `finish` (end of input, or either side going away) lets `pop` drain what is queued and then return nil.
package final class CallQueue: Sendable {
    private struct State {
        var calls: [VarlinkCall] = []
        var finished = false
        var consumer: CheckedContinuation<VarlinkCall?, Never>?
        var producer: CheckedContinuation<Void, Never>?
    }

    private let capacity: Int
    private let state = Mutex(State())

    package init(capacity: Int) {
        self.capacity = capacity
    }

    package func push(_ call: VarlinkCall) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let (consumer, resumeNow) = state.withLock {
                    state -> (CheckedContinuation<VarlinkCall?, Never>?, Bool) in
                    if state.finished || Task.isCancelled { return (nil, true) }
                    if let consumer = state.consumer {
                        state.consumer = nil
                        return (consumer, true)
                    }
                    state.calls.append(call)
                    if state.calls.count <= capacity { return (nil, true) }
                    state.producer = continuation
                    return (nil, false)
                }
                consumer?.resume(returning: call)
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            finish()
        }
    }

    package func pop() async -> VarlinkCall? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<VarlinkCall?, Never>) in
                let (call, producer, resumeNow) = state.withLock {
                    state -> (VarlinkCall?, CheckedContinuation<Void, Never>?, Bool) in
                    if !state.calls.isEmpty {
                        let call = state.calls.removeFirst()
                        let producer = state.calls.count <= capacity ? state.producer.take() : nil
                        return (call, producer, true)
                    }
                    if state.finished || Task.isCancelled { return (nil, nil, true) }
                    state.consumer = continuation
                    return (nil, nil, false)
                }
                producer?.resume()
                if resumeNow { continuation.resume(returning: call) }
            }
        } onCancel: {
            finish()
        }
    }

    package func finish() {
        let (consumer, producer) = state.withLock { state in
            state.finished = true
            return (state.consumer.take(), state.producer.take())
        }
        consumer?.resume(returning: nil)
        producer?.resume()
    }
}

// MARK: - Connections per uid

/// Counts the open connections of each uid, so that one local user cannot hold every file descriptor the daemon
/// has (each connection costs one, and a guest's pidfd is one too).
package final class ConnectionQuota: Sendable {
    package let perUID: Int
    private let open = Mutex<[UInt32: Int]>([:])

    package init(perUID: Int) {
        self.perUID = perUID
    }

    /// Takes a slot for `uid`; false when it has `perUID` already.
    package func acquire(_ uid: UInt32) -> Bool {
        open.withLock { open in
            guard open[uid, default: 0] < perUID else { return false }
            open[uid, default: 0] += 1
            return true
        }
    }

    package func release(_ uid: UInt32) {
        open.withLock { open in
            let left = open[uid, default: 1] - 1
            open[uid] = left > 0 ? left : nil
        }
    }

    /// Connections open now, of every uid.
    package var total: Int {
        open.withLock { $0.values.reduce(0, +) }
    }
}

// MARK: - Framing

/// Splits the byte stream at NUL bytes; a message that grows past the limit without one is an error.
package struct VarlinkFrameDecoder: ByteToMessageDecoder {
    package typealias InboundOut = ByteBuffer

    package struct MessageTooLarge: Error, CustomStringConvertible {
        package var limit: Int
        package var description: String { "message longer than \(limit) bytes" }
    }

    package let maxMessageSize: Int
    /// Bytes at the front already searched, so a slowly arriving message is not searched again and again.
    private var searched = 0

    package init(maxMessageSize: Int) {
        self.maxMessageSize = maxMessageSize
    }

    package mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        guard let nul = view[(view.startIndex + searched)...].firstIndex(of: 0) else {
            searched = view.count
            if searched > maxMessageSize { throw MessageTooLarge(limit: maxMessageSize) }
            return .needMoreData
        }
        let length = nul - view.startIndex
        if length > maxMessageSize { throw MessageTooLarge(limit: maxMessageSize) }
        let message = buffer.readSlice(length: length)!
        buffer.moveReaderIndex(forwardBy: 1)
        searched = 0
        context.fireChannelRead(Self.wrapInboundOut(message))
        return .continue
    }

    package mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        // An unterminated message at EOF is not a call; it is dropped.
        return .needMoreData
    }
}

// MARK: - Peer credentials

/// `struct ucred` of <sys/socket.h>, which Swift's Glibc module leaves out (it is behind `_GNU_SOURCE`).
/// Three 32-bit fields: the same layout in Swift as in C.
private struct UCred {
    var pid: pid_t
    var uid: uid_t
    var gid: gid_t
}

/// Room for the supplementary groups of a peer. NIO does not return the length `getsockopt` wrote but zeroes the
/// buffer first; the kernel keeps groups sorted, so the zeros after the last group are padding (and a lone group 0
/// cannot be told from none: it is dropped, which no check for a non-root group notices).
private typealias PeerGroups = InlineArray<1024, gid_t>

/// Reads the credentials of an accepted connection (on its event loop, during child channel setup).
package func readPeerCredentials(_ channel: any Channel) -> EventLoopFuture<PeerCredentials> {
    guard let provider = channel as? any SocketOptionProvider else {
        return channel.eventLoop.makeFailedFuture(ChannelError.operationUnsupported)
    }
    assert(MemoryLayout<UCred>.size == 12)
    let credentials: EventLoopFuture<UCred> = provider.unsafeGetSocketOption(
        level: .socket,
        name: NIOBSDSocket.Option(rawValue: SO_PEERCRED)
    )
    let groupBuffer: EventLoopFuture<PeerGroups> = provider.unsafeGetSocketOption(
        level: .socket,
        name: NIOBSDSocket.Option(rawValue: SO_PEERGROUPS)
    )
    // More than 1024 groups (ERANGE): treated as none, so group membership falls back to the primary group.
    let groups = groupBuffer.map { buffer -> [UInt32] in
        var groups = (0..<buffer.count).map { buffer[$0] }
        while let last = groups.last, last == 0, groups.count > 1 { groups.removeLast() }
        if groups == [0] { groups = [] }
        return groups
    }.recover { _ in [] }
    return credentials.and(groups).map { credentials, groups in
        PeerCredentials(pid: credentials.pid, uid: credentials.uid, gid: credentials.gid, groups: groups)
    }
}
