#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Where vserverd listens unless told otherwise (`--socket`, `VSERVERD_SOCKET`).
public let defaultManagerSocketPath = "/run/vserverd/io.vserverd.Manager"

/// The largest reply the client accepts. Larger than the server's limit on calls: the client trusts the daemon,
/// and a `List` of a few thousand vservers may pass 1 MiB.
public let varlinkClientMaxReplySize = 64 << 20

/// The connection failed: connecting, writing, reading, or the daemon hung up or sent garbage.
/// `description` is the line `vserverctl` prints.
public struct VarlinkConnectionError: Error, Equatable, Sendable, CustomStringConvertible {
    /// errno, when a system call failed.
    public var errno: Int32?
    public var description: String

    public init(_ description: String, errno: Int32? = nil) {
        self.description = description
        self.errno = errno
    }

    static func system(_ what: String, _ code: Int32) -> VarlinkConnectionError {
        VarlinkConnectionError("\(what): \(String(cString: strerror(code)))", errno: code)
    }
}

/// A blocking Varlink client over a Unix stream socket: plain system calls, no threads, no event loop,
/// so a command-line tool stays fast to start. One call at a time; not for sharing between threads.
public final class VarlinkClient {
    public let path: String
    private var fd: Int32
    private var frames = VarlinkFrameBuffer(maxMessageSize: varlinkClientMaxReplySize)
    /// Set while a `more` call still has replies coming; the connection serves nothing else until then.
    private var streaming = false

    /// Connects to the socket at `path`. With `requiredPeerUID`, the process serving it must run as that uid
    /// (`SO_PEERCRED`): a socket bound by anybody else, where the daemon's should be, gets no call and is not
    /// believed.
    public init(path: String = defaultManagerSocketPath, requiredPeerUID: uid_t? = nil)
        throws(VarlinkConnectionError)
    {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .system("cannot create a socket for \(path)", errno) }

        guard let address = UnixSocketAddress(path: path) else {
            Glibc.close(fd)
            throw .system("cannot connect to \(path)", ENAMETOOLONG)
        }
        guard address.withSockaddr({ connect(fd, $0, $1) }) == 0 else {
            let code = errno
            Glibc.close(fd)
            // connect(2) says only "Connection refused" of a file that is no socket at all.
            if code == ECONNREFUSED, let kind = Self.nonSocketKind(at: path) {
                throw VarlinkConnectionError("cannot connect to \(path): it is \(kind), not a socket", errno: ENOTSOCK)
            }
            throw .system("cannot connect to \(path)", code)
        }
        if let requiredPeerUID {
            var peer = PeerCredentials()
            var length = socklen_t(MemoryLayout<PeerCredentials>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) == 0 else {
                let code = errno
                Glibc.close(fd)
                throw .system("cannot read the credentials of \(path)", code)
            }
            guard peer.uid == requiredPeerUID else {
                Glibc.close(fd)
                throw VarlinkConnectionError(
                    "\(path) is served by uid \(peer.uid) (PID \(peer.pid)), not uid \(requiredPeerUID): "
                        + "not vserverd's socket, its answers are not trusted")
            }
        }
    }

    deinit {
        close()
    }

    /// What is at `path` (as connect(2) follows it) when it is there and not a socket ("a regular file"), else nil.
    private static func nonSocketKind(at path: String) -> String? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        switch status.st_mode & S_IFMT {
        case S_IFSOCK: return nil
        case S_IFREG: return "a regular file"
        case S_IFDIR: return "a directory"
        default: return "a special file"
        }
    }

    /// Closes the connection; later calls fail. Ending a `more` call early is done this way too.
    public func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }

    /// Calls `method` and returns the parameters of its reply.
    /// Throws `VarlinkError` for an error reply, `VarlinkConnectionError` when the connection fails.
    public func call(_ method: String, _ parameters: [String: JSON] = [:]) throws -> [String: JSON] {
        let sendError = try sendReportingHangUp(VarlinkCall(method: method, parameters: parameters))
        let reply: VarlinkReply
        do { reply = try receive() } catch { throw sendError ?? error }
        if let error = reply.varlinkError { throw error }
        if reply.continues {
            // Only a `more` call may be answered with several replies; this connection is now out of step.
            close()
            throw VarlinkConnectionError("\(path): the server sent several replies to a single call")
        }
        return reply.parameters
    }

    /// Calls `method` with `more` set; the returned stream yields the parameters of each reply.
    /// The connection is busy until the stream ends (or is abandoned by closing the client).
    public func callMore(_ method: String, _ parameters: [String: JSON] = [:]) throws -> VarlinkReplyStream {
        try send(VarlinkCall(method: method, parameters: parameters, more: true))
        streaming = true
        return VarlinkReplyStream(client: self)
    }

    /// Calls `method` with `oneway` set: the server runs it and sends nothing back.
    public func callOneway(_ method: String, _ parameters: [String: JSON] = [:]) throws {
        try send(VarlinkCall(method: method, parameters: parameters, oneway: true))
    }

    fileprivate func nextStreamReply() throws -> [String: JSON]? {
        guard streaming else { return nil }
        let reply: VarlinkReply
        do {
            reply = try receive()
        } catch {
            streaming = false
            throw error
        }
        if let error = reply.varlinkError {
            streaming = false
            throw error
        }
        streaming = reply.continues
        return reply.parameters
    }

    /// Sends `call`; a server that hung up (EPIPE, ECONNRESET) is returned rather than thrown: it may have answered
    /// before it read the call and closed (a connection it refuses, with the reason), so the caller reads a reply
    /// anyway, and that answer beats "Broken pipe". Other failures are thrown.
    private func sendReportingHangUp(_ call: VarlinkCall) throws(VarlinkConnectionError) -> VarlinkConnectionError? {
        do {
            try send(call)
            return nil
        } catch {
            guard error.errno == EPIPE || error.errno == ECONNRESET else { throw error }
            return error
        }
    }

    private func send(_ call: VarlinkCall) throws(VarlinkConnectionError) {
        guard fd >= 0 else { throw VarlinkConnectionError("\(path): connection closed") }
        guard !streaming else { throw VarlinkConnectionError("\(path): connection busy with a \"more\" call") }
        let bytes = call.encoded()
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                // MSG_NOSIGNAL: a daemon that went away must be an error here, not a SIGPIPE that kills the CLI.
                Glibc.send(fd, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw .system("cannot send to \(path)", errno)
            }
            offset += written
        }
    }

    private func receive() throws(VarlinkConnectionError) -> VarlinkReply {
        guard fd >= 0 else { throw VarlinkConnectionError("\(path): connection closed") }
        while true {
            let message: ArraySlice<UInt8>?
            do {
                message = try frames.nextMessage()
            } catch {
                close()
                throw VarlinkConnectionError("\(path): \(error.reason)")
            }
            if let message {
                do {
                    return try VarlinkReply.parse(message)
                } catch {
                    close()
                    throw VarlinkConnectionError("\(path): \(error)")
                }
            }
            try fill()
        }
    }

    private func fill() throws(VarlinkConnectionError) {
        let chunkSize = 64 << 10
        let count = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: chunkSize) { chunk -> Int in
            var count: Int
            repeat {
                count = read(fd, chunk.baseAddress, chunkSize)
            } while count < 0 && errno == EINTR
            if count > 0 { frames.append(UnsafeBufferPointer(rebasing: chunk[..<count])) }
            return count
        }
        if count < 0 { throw .system("cannot read from \(path)", errno) }
        if count == 0 {
            close()
            throw VarlinkConnectionError("\(path): connection closed by the server")
        }
    }
}

/// The replies to a `more` call, read as they arrive: `while let event = try stream.next() { … }`.
/// `next()` returns nil after the last reply (the one without `continues`) and throws `VarlinkError` for an
/// error reply.
public struct VarlinkReplyStream {
    private let client: VarlinkClient

    fileprivate init(client: VarlinkClient) {
        self.client = client
    }

    public mutating func next() throws -> [String: JSON]? {
        try client.nextStreamReply()
    }
}

/// `struct ucred` of <sys/socket.h>, which the Glibc module leaves out (it is behind `_GNU_SOURCE`): three 32-bit
/// fields, laid out alike in Swift and C.
private struct PeerCredentials {
    var pid: pid_t = 0
    var uid: uid_t = 0
    var gid: gid_t = 0
}
