import CVServerSpawn
import Glibc

/// Whether anyone but root could have changed what vserverd runs as root: the hook scripts of docs/ARCHITECTURE.md
/// §5 and every directory on the way to them. Each component is opened `O_PATH|O_NOFOLLOW` from the one before and
/// checked with `fstat` on that fd, so what is checked is exactly what the walk went through. Once every component
/// is root's and writable by root only, nobody else can change what the path names before the exec.
///
/// Symbolic links are refused on the whole way from the config root down to a script (a link pointing inside the
/// tree would be safe, but one rule is easier to trust than a resolver). Above the config root (`/etc`), the rules
/// of OpenSSH's `safe_path`: owned by root, not writable by group or others, except a sticky directory such as
/// `/tmp`, whose entries only their owner may rename, when the next component is root's.
package struct TrustedTree {
    /// Owner allowed besides root (unit tests run as their own user). nil: no checks at all (vserverd and
    /// `vserverctl check` not running as root: nothing runs as root then).
    package let owner: uid_t?

    package init(owner: uid_t?) { self.owner = owner }

    /// An open `O_PATH` fd of a checked directory, with the path that names it in errors.
    package final class Directory {
        package let fd: Int32
        package let path: String

        package init(fd: Int32, path: String) {
            self.fd = fd
            self.path = path
        }

        deinit { close(fd) }
    }

    /// The config root (`/etc/vservers`, symlinks in the given path resolved first, as `safe_path` does), its
    /// ancestors checked as above and itself as strictly as everything below it. nil when checks are off.
    package func openConfigRoot(_ given: String) throws(ConfigError) -> Directory? {
        guard owner != nil else { return nil }
        let path: String
        do throws(SystemError) {
            path = try FileSystem.realPath(given)
        } catch {
            throw ConfigError(file: given, failed: error)
        }
        var current = try open(at: AT_FDCWD, "/", path: "/")
        var status = try self.status(current)
        for component in Path.components(path) {
            // An ancestor may be sticky and writable (/tmp): its entries only their owner may rename or remove,
            // and the next component, checked in the next round, must be root's.
            try check(status, path: current.path, isAncestor: true)
            current = try open(at: current.fd, String(component), path: Path.join(current.path, String(component)))
            status = try self.status(current)
        }
        try check(status, path: path, isAncestor: false)
        guard status.st_mode & S_IFMT == S_IFDIR else { throw ConfigError(file: path, message: "is not a directory") }
        return current
    }

    /// The directory `name` in `parent`, checked; nil when it does not exist.
    package func openDirectory(_ name: String, in parent: Directory) throws(ConfigError) -> Directory? {
        let path = Path.join(parent.path, name)
        guard let directory = try openIfPresent(at: parent.fd, name, path: path) else { return nil }
        let status = try self.status(directory)
        try refuseSymlink(status, path: path)
        guard status.st_mode & S_IFMT == S_IFDIR else { throw ConfigError(file: path, message: "is not a directory") }
        try check(status, path: path, isAncestor: false)
        return directory
    }

    /// Whether `name` in `parent` is a script to run: a regular file with an execute bit (for root, any one will
    /// do). Checked whatever its mode, since a file someone else owns could be made executable by them. Other
    /// types (a FIFO, a directory in `FLAVOUR.d`) are not scripts, as before.
    package func isScript(_ name: String, in parent: Directory) throws(ConfigError) -> Bool {
        let path = Path.join(parent.path, name)
        guard let file = try openIfPresent(at: parent.fd, name, path: path) else { return false }
        let status = try self.status(file)
        try refuseSymlink(status, path: path)
        guard status.st_mode & S_IFMT == S_IFREG else { return false }
        try check(status, path: path, isAncestor: false)
        return status.st_mode & 0o111 != 0
    }

    // MARK: Checks

    private func isOwner(_ uid: uid_t) -> Bool { uid == 0 || uid == owner }

    private var ownerName: String { owner == 0 || owner == nil ? "root" : "root or uid \(owner!)" }

    private func check(_ status: stat, path: String, isAncestor: Bool) throws(ConfigError) {
        if !isOwner(status.st_uid) {
            throw ConfigError(file: path, message: "owned by uid \(status.st_uid), not root: hook scripts run as "
                                  + "root, so they and every directory above them must be \(ownerName)'s")
        }
        let writable = status.st_mode & 0o022
        guard writable != 0 else { return }
        if isAncestor && status.st_mode & S_IFMT == S_IFDIR && status.st_mode & S_ISVTX != 0 { return }
        let by = writable == 0o022 ? "group and others" : writable == 0o020 ? "group" : "others"
        throw ConfigError(file: path, message: "writable by \(by) (mode \(octal(status.st_mode & 0o7777))): hook "
                              + "scripts run as root, so they and every directory above them must be writable by "
                              + "\(ownerName) only")
    }

    private func refuseSymlink(_ status: stat, path: String) throws(ConfigError) {
        guard status.st_mode & S_IFMT == S_IFLNK else { return }
        throw ConfigError(file: path, message: "is a symbolic link: hook scripts and their directories must be "
                              + "real files and directories in the config tree")
    }

    // MARK: Syscalls

    private func open(at parent: Int32, _ name: String, path: String) throws(ConfigError) -> Directory {
        guard let directory = try openIfPresent(at: parent, name, path: path) else {
            throw ConfigError(file: path, message: "openat: \(String(cString: strerror(ENOENT)))")
        }
        return directory
    }

    private func openIfPresent(at parent: Int32, _ name: String, path: String) throws(ConfigError) -> Directory? {
        let fd = openat(parent, name, Int32(VS_O_PATH) | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw ConfigError(file: path, message: "openat: \(String(cString: strerror(errno)))")
        }
        return Directory(fd: fd, path: path)
    }

    private func status(_ file: Directory) throws(ConfigError) -> stat {
        var status = stat()
        guard fstat(file.fd, &status) == 0 else {
            throw ConfigError(file: file.path, message: "fstat: \(String(cString: strerror(errno)))")
        }
        return status
    }
}

/// `0755` style: four octal digits.
package func octal(_ mode: mode_t) -> String {
    let digits = String(mode, radix: 8)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}
