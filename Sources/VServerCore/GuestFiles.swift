import CVServerSpawn
import Glibc

/// Files of a running guest read from the host: through /proc/PID/root, resolved as the guest itself would resolve
/// them (vs_open_in_root), so that a guest's symlink never leads vserverd to a host file.
enum GuestFiles {
    /// The guest's root directory, as an O_PATH fd.
    static func openRoot(pid: Int32) throws(SystemError) -> Int32 {
        let path = "/proc/\(pid)/root"
        let fd = open(path, Int32(VS_O_PATH) | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open", path: path) }
        return fd
    }

    /// The login shell of the guest's root from its own /etc/passwd, as `machinectl shell` starts it: nil when
    /// there is none, or it names a program the guest does not have.
    static func loginShell(pid: Int32) -> [String]? {
        guard let rootFD = try? openRoot(pid: pid) else { return nil }
        defer { close(rootFD) }
        let fd = vs_open_in_root(rootFD, "/etc/passwd", O_RDONLY | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard let (bytes, _) = try? FileSystem.readBytes(fd: fd, path: "/proc/\(pid)/root/etc/passwd") else {
            return nil
        }
        let passwd = String(decoding: bytes, as: UTF8.self)
        guard let shell = loginShell(passwd: passwd, user: "root") else { return nil }
        let program = vs_open_in_root(rootFD, shell, Int32(VS_O_PATH))
        guard program >= 0 else { return nil }
        close(program)
        return [shell, "-l"]
    }

    /// The 7th field of `user`'s line in a passwd file, when it is an absolute path.
    static func loginShell(passwd: String, user: String) -> String? {
        for line in passwd.split(separator: "\n") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count >= 7, fields[0] == user, fields[6].hasPrefix("/") else { continue }
            return String(fields[6])
        }
        return nil
    }
}
