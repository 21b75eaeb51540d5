import CBtrfs
import Glibc

/// A file's identity: what hard links share.
package struct FileKey: Hashable, Sendable {
    package var device: UInt64
    package var inode: UInt64

    package init(_ status: stat) {
        device = UInt64(status.st_dev)
        inode = UInt64(status.st_ino)
    }
}

/// O_NOATIME, which Swift's Glibc module leaves out (_GNU_SOURCE): reading a guest's files must not touch them.
private let noAccessTime: Int32 = 0o1000000

/// Directory fds and names for walks of a guest's tree, which is untrusted: every step is relative to an open
/// directory and never follows a symlink (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW), so a guest cannot redirect a walk.
package enum TreeFiles {
    /// Opens the top directory of a tree; its last component must not be a symlink.
    package static func openRoot(_ path: String) throws(SystemError) -> (fd: Int32, status: stat) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open", path: path) }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            let error = SystemError("fstat", path: path)
            close(fd)
            throw error
        }
        return (fd, status)
    }

    /// Opens `name` in `directory`: a directory, or with `directory: false` a regular file for reading (no atime
    /// update, no blocking on a FIFO put there meanwhile).
    package static func openChild(_ directory: Int32, _ name: String, isDirectory: Bool, path: String)
        throws(SystemError) -> Int32
    {
        let flags = (isDirectory ? O_RDONLY | O_DIRECTORY : O_RDONLY | O_NONBLOCK | O_NOCTTY) | O_NOFOLLOW | O_CLOEXEC
        var fd = openat(directory, name, flags | (isDirectory ? 0 : noAccessTime))
        // O_NOATIME is for the file's owner or root only.
        if fd < 0 && errno == EPERM && !isDirectory { fd = openat(directory, name, flags) }
        guard fd >= 0 else { throw SystemError("open", path: path) }
        return fd
    }

    /// lstat of `name` in `directory`.
    package static func status(_ directory: Int32, _ name: String, path: String) throws(SystemError) -> stat {
        var status = stat()
        guard fstatat(directory, name, &status, AT_SYMLINK_NOFOLLOW) == 0 else {
            throw SystemError("lstat", path: path)
        }
        return status
    }

    /// Whether `name` (lstat `status`) is another mount than the tree's (`device`): another file system, a btrfs
    /// subvolume, or a bind mount even from the same file system. Walks do not enter it (`du -x`).
    package static func isMount(_ directory: Int32, _ name: String, _ status: stat, device: dev_t) -> Bool {
        guard status.st_dev == device else { return true }
        var call: UnsafePointer<CChar>? = nil
        return vs_is_mount_root(directory, name, &call) == 1
    }

    /// The names in an open directory, without "." and "..", sorted bytewise (the same order on every walk).
    package static func names(_ fd: Int32, path: String) throws(SystemError) -> [String] {
        let copy = dup(fd)
        guard copy >= 0, let directory = fdopendir(copy) else {
            let error = SystemError("opendir", path: path)
            if copy >= 0 { close(copy) }
            throw error
        }
        defer { closedir(directory) }
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(directory) else {
                if errno != 0 { throw SystemError("readdir", path: path) }
                break
            }
            let name = withUnsafeBytes(of: &entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// A path that reaches `name` in the open `directory` through /proc without following `name` itself: for the
    /// calls that take only a path (lgetxattr on a symlink or a device node).
    package static func procPath(_ directory: Int32, _ name: String) -> String {
        "/proc/self/fd/\(directory)/\(name)"
    }

    /// `path` below `root` opened without any symlink and without leaving the root's file system (openat2).
    package static func openBeneath(_ root: Int32, _ path: String, flags: Int32, shown: String)
        throws(SystemError) -> Int32
    {
        var call: UnsafePointer<CChar>? = nil
        let fd = vs_open_no_symlinks(root, path, flags, &call)
        guard fd >= 0 else { throw SystemError(call: "open", path: shown, errno: -fd) }
        return fd
    }

    /// Runs a CBtrfs storage wrapper; its -errno becomes a SystemError with the call it names and `path`.
    @discardableResult
    package static func check<Result: SignedInteger>(
        path: String, _ body: (UnsafeMutablePointer<UnsafePointer<CChar>?>) -> Result
    ) throws(SystemError) -> Result {
        var call: UnsafePointer<CChar>? = nil
        let result = body(&call)
        guard result < 0 else { return result }
        throw SystemError(call: call.map { String(cString: $0) } ?? "ioctl", path: path, errno: Int32(-result))
    }
}
