import Glibc
import VServerProtocol

/// Why the control socket could not be set up: `description` is the line the daemon logs before exiting.
package struct ControlSocketError: Error, CustomStringConvertible {
    package var description: String

    package init(_ description: String) {
        self.description = description
    }

    package static func system(_ what: String, _ code: Int32 = errno) -> ControlSocketError {
        ControlSocketError("\(what): \(String(cString: strerror(code)))")
    }
}

/// Creates, binds and listens on a Unix stream socket at `path`: a stale socket file there is removed first
/// (a live one, where another daemon answers, is an error), the parent directory is created with mode 0755, the
/// socket gets `mode` and, if given, `group`. Returns the descriptor (close-on-exec).
package func makeListeningSocket(path: String, mode: mode_t, group: gid_t?) throws -> Int32 {
    guard let address = UnixSocketAddress(path: path) else {
        throw ControlSocketError.system("socket path \(path)", ENAMETOOLONG)
    }
    try makeParentDirectories(of: path)
    try removeStaleSocket(at: path, address: address)

    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw ControlSocketError.system("socket for \(path)") }
    do {
        guard address.withSockaddr({ bind(fd, $0, $1) }) == 0 else { throw ControlSocketError.system("bind \(path)") }
        // Until listen() a connect is refused, so the moment between bind and chmod exposes nothing.
        if let group, chown(path, uid_t.max, group) != 0 { throw ControlSocketError.system("chown \(path)") }
        guard chmod(path, mode) == 0 else { throw ControlSocketError.system("chmod \(path)") }
        guard listen(fd, SOMAXCONN) == 0 else { throw ControlSocketError.system("listen on \(path)") }
    } catch {
        close(fd)
        throw error
    }
    return fd
}

private func makeParentDirectories(of path: String) throws {
    var prefix = ""
    let components = path.split(separator: "/", omittingEmptySubsequences: true).dropLast()
    for component in components {
        prefix += "/" + component
        if mkdir(prefix, 0o755) != 0 && errno != EEXIST { throw ControlSocketError.system("mkdir \(prefix)") }
    }
}

private func removeStaleSocket(at path: String, address: UnixSocketAddress) throws {
    var status = stat()
    guard lstat(path, &status) == 0 else {
        if errno == ENOENT { return }
        throw ControlSocketError.system("stat \(path)")
    }
    // Not ours to remove: a mistyped --socket may name any file.
    guard status.st_mode & S_IFMT == S_IFSOCK else {
        throw ControlSocketError("\(path) exists and is not a socket: remove it (vserverd does not), then start "
            + "vserverd again")
    }

    let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue | SOCK_NONBLOCK.rawValue), 0)
    guard probe >= 0 else { throw ControlSocketError.system("socket for \(path)") }
    let connected = address.withSockaddr { connect(probe, $0, $1) } == 0 || errno == EAGAIN
    close(probe)
    if connected { throw ControlSocketError("\(path): another process is listening on it") }
    guard unlink(path) == 0 || errno == ENOENT else { throw ControlSocketError.system("remove stale \(path)") }
}
