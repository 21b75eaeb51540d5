import Foundation

/// A response as a client reads it off the wire.
struct HTTPReply: CustomStringConvertible {
    var status: Int
    /// Names lowercased.
    var headers: [String: String]
    var body: String
    var description: String { "HTTP \(status) \(headers)\n\(body)" }
}

/// A TCP port on 127.0.0.1 that nothing listens on now (the kernel's pick for a socket bound to port 0).
func freeLocalPort() throws -> Int {
    let (fd, port) = try localTCPSocket(listening: false)
    close(fd)
    return port
}

/// A TCP socket bound to a port of 127.0.0.1 the kernel picks, and that port. The caller closes it.
func localTCPSocket(listening: Bool) throws -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 && (!listening || listen(fd, 1) == 0)
        }
    }
    guard bound else {
        let error = errno
        close(fd)
        throw TestFailure("bind 127.0.0.1:0: errno \(error)")
    }
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
}

/// A stream socket connected to HOST:PORT (an IPv4 or IPv6 literal) whose reads fail after `timeout` seconds without
/// data: a response that never comes fails the test instead of hanging it. The caller closes it.
func connectTCP(host: String, port: Int, timeout: Int = 10) throws -> Int32 {
    var hints = addrinfo()
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var found: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(host, "\(port)", &hints, &found) == 0, let info = found else {
        throw TestFailure("getaddrinfo \(host)")
    }
    defer { freeaddrinfo(found) }
    let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
    guard fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
    guard connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
        let error = errno
        close(fd)
        throw TestFailure("connect \(host) port \(port): \(String(cString: strerror(error)))")
    }
    var deadline = timeval(tv_sec: timeout, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &deadline, socklen_t(MemoryLayout<timeval>.size))
    return fd
}

/// Sends `request` as it is and reads until the server closes the connection.
func httpExchange(host: String = "127.0.0.1", port: Int, _ request: String, timeout: Int = 10) throws -> [UInt8] {
    let fd = try connectTCP(host: host, port: port, timeout: timeout)
    defer { close(fd) }
    let bytes = Array(request.utf8)
    var written = 0
    while written < bytes.count {
        let count = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { throw TestFailure("write: errno \(errno)") }
        written += count
    }
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = read(fd, &buffer, buffer.count)
        if count == 0 { return received }
        if count < 0 {
            if errno == EINTR { continue }
            // ECONNRESET: the server closed with our bytes unread (a request it refused); what came is the answer.
            if errno == ECONNRESET { return received }
            throw TestFailure("read from port \(port): \(String(cString: strerror(errno))) after \(received.count) "
                + "bytes")
        }
        received += buffer[..<count]
    }
}

/// The responses in `bytes`, in order; `bodiless`: answers to HEAD (a length, but no body).
func parseHTTPResponses(_ bytes: [UInt8], bodiless: Bool = false) throws -> [HTTPReply] {
    var replies: [HTTPReply] = []
    var rest = bytes[...]
    let separator: [UInt8] = Array("\r\n\r\n".utf8)
    while !rest.isEmpty {
        guard let end = rest.firstRange(of: separator) else { throw TestFailure("no end of head: \(rest.count) bytes") }
        let lines = String(decoding: rest[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let statusWords = lines[0].split(separator: " ")
        guard statusWords.count >= 2, let status = Int(statusWords[1]) else {
            throw TestFailure("status line: \(lines[0])")
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            headers[line[..<colon].lowercased()] = value
        }
        rest = rest[end.upperBound...]
        var body: [UInt8] = []
        if bodiless {
            // The answer to HEAD: a GET's length, without its body.
        } else if headers["transfer-encoding"] == "chunked" {
            while true {
                guard let lineEnd = rest.firstRange(of: Array("\r\n".utf8)),
                      let size = Int(String(decoding: rest[..<lineEnd.lowerBound], as: UTF8.self)
                          .split(separator: ";")[0], radix: 16)
                else { throw TestFailure("chunk size") }
                rest = rest[lineEnd.upperBound...]
                body += rest.prefix(size)
                rest = rest.dropFirst(size + 2)
                if size == 0 { break }
            }
        } else if let length = headers["content-length"].flatMap({ Int($0) }) {
            guard rest.count >= length else { throw TestFailure("body of \(rest.count) bytes, \(length) announced") }
            body = Array(rest.prefix(length))
            rest = rest.dropFirst(length)
        } else {
            body = Array(rest)
            rest = rest[rest.endIndex...]
        }
        replies.append(HTTPReply(status: status, headers: headers, body: String(decoding: body, as: UTF8.self)))
    }
    return replies
}

/// One request on a connection of its own (`Connection: close`).
func httpRequest(host: String = "127.0.0.1", port: Int, _ path: String, method: String = "GET",
                 headers: [String: String] = [:]) throws -> HTTPReply {
    let hostHeader = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    let fields = headers.map { "\($0.key): \($0.value)\r\n" }.joined()
    let request = "\(method) \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\n\(fields)Connection: close\r\n\r\n"
    let raw = try httpExchange(host: host, port: port, request)
    let replies = try parseHTTPResponses(raw, bodiless: method == "HEAD")
    guard replies.count == 1 else { throw TestFailure("\(replies.count) responses to \(method) \(path): \(replies)") }
    return replies[0]
}
