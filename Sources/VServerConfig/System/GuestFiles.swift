import CVServerSpawn
import Glibc

/// Files of a running guest read from the host: through /proc/PID/root, resolved as the guest itself would resolve
/// them (vs_open_in_root), so that a guest's symlink never leads vserverd to a host file.
package enum GuestFiles {
    /// A guest's root directory (its root path, or /proc/PID/root of a running one), as an O_PATH fd.
    package static func openRoot(_ path: String) throws(SystemError) -> Int32 {
        let fd = open(path, Int32(VS_O_PATH) | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open", path: path) }
        return fd
    }

    package static func openRoot(pid: Int32) throws(SystemError) -> Int32 { try openRoot("/proc/\(pid)/root") }

    /// Whether `path` is a directory inside the guest's tree at `root` (symlinks followed inside it).
    package static func isDirectory(_ path: String, root: String) -> Bool {
        guard let rootFD = try? openRoot(root) else { return false }
        defer { close(rootFD) }
        let fd = vs_open_in_root(rootFD, path, Int32(VS_O_PATH) | O_DIRECTORY)
        if fd >= 0 { close(fd) }
        return fd >= 0
    }

    /// Whether `path` is an executable regular file inside the guest's tree at `root` (symlinks followed inside it).
    package static func isExecutableFile(_ path: String, root: String) -> Bool {
        guard let rootFD = try? openRoot(root) else { return false }
        defer { close(rootFD) }
        let fd = vs_open_in_root(rootFD, path, Int32(VS_O_PATH))
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var st = stat()
        return fstat(fd, &st) == 0 && st.st_mode & S_IFMT == S_IFREG && st.st_mode & 0o111 != 0
    }

    /// The text of a small regular file inside the guest's tree, or nil (missing, not a regular file, too big).
    package static func text(_ path: String, rootFD: Int32, display: String) -> String? {
        let fd = vs_open_in_root(rootFD, path, O_RDONLY | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard let (bytes, _) = try? FileSystem.readBytes(fd: fd, path: display) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The login shell of the guest's root from its own /etc/passwd, as `machinectl shell` starts it: nil when
    /// there is none, or it names a program the guest does not have.
    package static func loginShell(pid: Int32) -> [String]? {
        guard let rootFD = try? openRoot(pid: pid) else { return nil }
        defer { close(rootFD) }
        guard let passwd = text("/etc/passwd", rootFD: rootFD, display: "/proc/\(pid)/root/etc/passwd"),
              let shell = loginShell(passwd: passwd, user: "root")
        else { return nil }
        let program = vs_open_in_root(rootFD, shell, Int32(VS_O_PATH))
        guard program >= 0 else { return nil }
        close(program)
        return [shell, "-l"]
    }

    /// The 7th field of `user`'s line in a passwd file, when it is an absolute path.
    package static func loginShell(passwd: String, user: String) -> String? {
        for line in passwd.split(separator: "\n") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count >= 7, fields[0] == user, fields[6].hasPrefix("/") else { continue }
            return String(fields[6])
        }
        return nil
    }
}
