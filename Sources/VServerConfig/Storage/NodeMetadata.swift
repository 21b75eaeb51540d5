import CBtrfs
import Glibc

/// A file whose metadata is read or set: open (a regular file, a directory), or a name in an open directory (a
/// symlink, a device node, a FIFO: never opened).
enum Node {
    case open(Int32)
    case named(Int32, String)

    /// What the xattr wrappers take: an fd, or -1 and a path that does not follow the name itself.
    fileprivate var xattrTarget: (fd: Int32, path: String) {
        switch self {
        case .open(let fd): (fd, "")
        case .named(let directory, let name): (-1, TreeFiles.procPath(directory, name))
        }
    }
}

/// Owner, xattrs, mode and times of one file, in the order that keeps them: chown clears setuid bits and file
/// capabilities, so it goes first, capabilities after the other xattrs, the mode after them (setting an ACL
/// rewrites the group bits), the times last.
enum NodeMetadata {
    /// Copies `status` and the xattrs of `source` (none when nil) onto `target`; `path` names it in errors.
    static func copy(_ status: stat, from source: Node?, to target: Node, path: String) throws(SystemError) {
        try chown(target, status, path: path)
        if let source { try setXattrs(try xattrs(of: source, path: path), on: target, path: path) }
        if status.st_mode & S_IFMT != S_IFLNK { try chmod(target, status.st_mode & 0o7777, path: path) }
        try setTimes(target, status, path: path)
    }

    private static func chown(_ node: Node, _ status: stat, path: String) throws(SystemError) {
        let result = switch node {
        case .open(let fd): fchown(fd, status.st_uid, status.st_gid)
        case .named(let directory, let name):
            fchownat(directory, name, status.st_uid, status.st_gid, AT_SYMLINK_NOFOLLOW)
        }
        guard result == 0 else { throw SystemError("chown", path: path) }
    }

    private static func chmod(_ node: Node, _ mode: mode_t, path: String) throws(SystemError) {
        let result = switch node {
        case .open(let fd): fchmod(fd, mode)
        case .named(let directory, let name): fchmodat(directory, name, mode, 0)
        }
        guard result == 0 else { throw SystemError("chmod", path: path) }
    }

    private static func setTimes(_ node: Node, _ status: stat, path: String) throws(SystemError) {
        let times = [status.st_atim, status.st_mtim]
        let result = switch node {
        case .open(let fd): futimens(fd, times)
        case .named(let directory, let name): utimensat(directory, name, times, AT_SYMLINK_NOFOLLOW)
        }
        guard result == 0 else { throw SystemError("utimensat", path: path) }
    }

    /// Every xattr of `node`, names and values; none where the file system has no xattrs.
    static func xattrs(of node: Node, path: String) throws(SystemError) -> [(name: String, value: [UInt8])] {
        let (fd, target) = node.xattrTarget
        let list = try readSized(path: path, unsupported: []) { buffer, size, call in
            vs_xattr_list(fd, target, buffer, size, call)
        }
        var result: [(name: String, value: [UInt8])] = []
        for name in list.split(separator: 0) {
            let text = String(decoding: name, as: UTF8.self)
            let value = try readSized(path: path, unsupported: nil) { buffer, size, call in
                vs_xattr_get(fd, target, text, buffer, size, call)
            }
            result.append((text, value))
        }
        return result
    }

    /// Sets xattrs, security.capability last: the kernel drops it on any later chown.
    private static func setXattrs(_ xattrs: [(name: String, value: [UInt8])], on node: Node, path: String)
        throws(SystemError)
    {
        let (fd, target) = node.xattrTarget
        let capability = "security.capability"
        let ordered = xattrs.filter { $0.name != capability } + xattrs.filter { $0.name == capability }
        for (name, value) in ordered {
            try TreeFiles.check(path: path) { call in
                value.withUnsafeBytes { vs_xattr_set(fd, target, name, $0.baseAddress, $0.count, call) }
            }
        }
    }

    /// The two-step size-then-read of listxattr/getxattr, again while the value grows (ERANGE); `unsupported` is
    /// the answer when the file system has no xattrs (EOPNOTSUPP), nil to throw then.
    private static func readSized(
        path: String, unsupported: [UInt8]?,
        _ call: (UnsafeMutablePointer<CChar>?, Int, UnsafeMutablePointer<UnsafePointer<CChar>?>) -> Int
    ) throws(SystemError) -> [UInt8] {
        while true {
            var failed: UnsafePointer<CChar>? = nil
            let size = call(nil, 0, &failed)
            if size == -Int(EOPNOTSUPP), let unsupported { return unsupported }
            guard size >= 0 else { throw SystemError(call: failed.map { String(cString: $0) } ?? "xattr", path: path,
                                                     errno: Int32(-size)) }
            if size == 0 { return [] }
            var buffer = [CChar](repeating: 0, count: size)
            let read = buffer.withUnsafeMutableBufferPointer { call($0.baseAddress, size, &failed) }
            if read == -Int(ERANGE) { continue }
            guard read >= 0 else { throw SystemError(call: failed.map { String(cString: $0) } ?? "xattr", path: path,
                                                     errno: Int32(-read)) }
            return buffer[0..<read].map { UInt8(bitPattern: $0) }
        }
    }
}
