import Glibc

/// A failed system call as the user should read it: the call, the path it worked on and the errno text
/// ("open /etc/vservers/web/vserver.toml: Permission denied").
public struct SystemError: Error, Sendable, Equatable, CustomStringConvertible {
    public var call: String
    public var path: String?
    public var errno: Int32

    public init(_ call: String, path: String? = nil, errno: Int32 = Glibc.errno) {
        self.call = call
        self.path = path
        self.errno = errno
    }

    public init(call: String, path: String?, errno: Int32) {
        self.init(call, path: path, errno: errno)
    }

    /// The errno text alone ("Permission denied").
    public var message: String { String(cString: strerror(errno)) }

    public var description: String {
        path.map { "\(call) \($0): \(message)" } ?? "\(call): \(message)"
    }
}
