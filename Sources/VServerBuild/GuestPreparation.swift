import CVServerSpawn
import Glibc
import VServerConfig

/// What makes a freshly built root a good container guest without further editing. `vserverctl build` runs it on
/// the complete tree, before the tree is moved into place; add new steps to `prepare`. Every path is resolved
/// inside the tree (`vs_open_in_root`): the tree may come from an archive of unknown origin, and a symlink in it
/// must never make root write on the host. Owners are left alone: the tree stays as the builder made it.
public enum GuestPreparation {
    /// Facts about the guest found on the way, for its config.
    public struct Findings: Sendable, Equatable {
        /// `/sbin/init` is systemd: without a user namespace the guest needs CAP_SYS_ADMIN to boot.
        public var systemdInit: Bool
    }

    /// Writes `/etc/hostname` and a fresh `/etc/machine-id` into the tree at `root`.
    public static func prepare(root: String, hostname: String) throws(SystemError) -> Findings {
        let rootFD = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard rootFD >= 0 else { throw SystemError("open", path: root) }
        defer { close(rootFD) }
        let etc = vs_open_in_root(rootFD, "etc", O_RDONLY | O_DIRECTORY)
        guard etc >= 0 else { throw SystemError("open", path: "/etc in the new root") }
        defer { close(etc) }

        try replaceFile(in: etc, "hostname", contents: hostname + "\n", mode: 0o644)
        // A machine id of its own: its journal is kept under /var/log/journal/ID, so a stable id makes it persist
        // across boots; an empty or shared one would give every boot (or every guest) the same or a new one.
        try replaceFile(in: etc, "machine-id", contents: try newMachineID() + "\n", mode: 0o444)
        return Findings(systemdInit: GuestInit.detect(program: "/sbin/init", root: root) == .systemd)
    }

    /// 128 random bits as 32 lowercase hex digits, marked as a version 4 UUID as systemd makes its own.
    package static func newMachineID() throws(SystemError) -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        let fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open", path: "/dev/urandom") }
        defer { close(fd) }
        guard bytes.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            throw SystemError("read", path: "/dev/urandom")
        }
        bytes[6] = bytes[6] & 0x0f | 0x40
        bytes[8] = bytes[8] & 0x3f | 0x80
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0x0f)]] }, as: UTF8.self)
    }

    /// Replaces `name` in the directory `directory` (a symlink there is replaced, not followed): a new file
    /// beside it, renamed over it.
    private static func replaceFile(in directory: Int32, _ name: String, contents: String, mode: mode_t)
        throws(SystemError)
    {
        let temporary = ".\(name).vserverctl-\(getpid())"
        let display = "/etc/\(name) in the new root"
        unlinkat(directory, temporary, 0)
        let fd = openat(directory, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw SystemError("open", path: display) }
        var written = false
        defer { if !written { unlinkat(directory, temporary, 0) } }
        let bytes = Array(contents.utf8)
        let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let writeErrno = errno
        // The umask must not decide a guest's file modes.
        let modeSet = fchmod(fd, mode) == 0
        close(fd)
        guard count == bytes.count else { throw SystemError(call: "write", path: display, errno: writeErrno) }
        guard modeSet else { throw SystemError("chmod", path: display) }
        guard renameat(directory, temporary, directory, name) == 0 else { throw SystemError("rename", path: display) }
        written = true
    }
}
