import Foundation

/// The Debian 12 roots that scripts/debian-roots builds once with mmdebstrap and keeps (scripts/test runs it
/// first): tarballs in $VSERVERD_TEST_DEBIAN_CACHE, default /var/cache/vserverd-tests. Tests unpack a fresh copy
/// each, or hand the tarball to `vserverctl build --method tarball`.
enum DebianRoot: String, CaseIterable {
    /// minbase + systemd-sysv, dbus, procps, iproute2: systemd as init.
    case systemd = "deb12-systemd"
    /// minbase + sysvinit-core, cron, procps.
    case sysv = "deb12-sysv"

    static var cacheDirectory: String {
        ProcessInfo.processInfo.environment["VSERVERD_TEST_DEBIAN_CACHE"] ?? "/var/cache/vserverd-tests"
    }

    /// The tarball's path; a clear failure when it was not built.
    func tarball() throws -> String {
        let path = "\(Self.cacheDirectory)/\(rawValue).tar"
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw TestFailure("no \(path): run scripts/debian-roots --cache \(Self.cacheDirectory) first "
                                  + "(scripts/test does)")
        }
        return path
    }

    /// A fresh copy of the root in `directory` (made when missing), with the tarball's owners and modes.
    func unpack(into directory: String) throws {
        let tarball = try tarball()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let result = try run("/bin/tar", ["-C", directory, "-xpf", tarball, "--numeric-owner"])
        guard result.status == 0 else { throw TestFailure("unpack \(tarball) into \(directory): \(result)") }
    }

    /// Where the tree in `directory` differs from the tarball (`tar --compare`: type, mode, owners by number, size,
    /// modification time, contents, link targets), one line each ("./etc/hostname: Size differs"); none when equal.
    func differences(in directory: String) throws -> [String] {
        let result = try run("/bin/tar", ["-C", directory, "--compare", "-f", try tarball(), "--numeric-owner"])
        guard result.status == 0 || result.status == 1 else { throw TestFailure("tar --compare: \(result)") }
        return (result.stdout + result.stderr).split(separator: "\n").map(String.init)
    }
}
