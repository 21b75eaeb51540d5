import CVServerSpawn
import Glibc
import VServerConfig
import VServerProtocol

/// The stub init (`vserverd-init`) that is PID 1 of vservers configured with `command`. It is copied once
/// into a sealed memfd and executed from there inside every such guest: no host path a guest could
/// overwrite (CVE-2019-5736), no loader needed (it is static), and its pages are shared.
public final class StubInit: Sendable {
    /// The sealed memfd; CLOEXEC, so it reaches a guest only through execveat.
    let fd: Int32
    public let path: String

    public init(path: String) throws {
        let fd = vs_sealed_memfd_copy(path, "vserverd-init")
        guard fd >= 0 else { throw SystemError("copy stub init", path: path) }
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    /// Where the stub init is looked for when `--init-binary` is not given: beside the running executable
    /// (a build directory, or /usr/local/sbin next to vserverd), then the libexec directories.
    public static func defaultPath() -> String {
        var candidates: [String] = []
        if let executable = try? FileSystem.readLink("/proc/self/exe"), let slash = executable.lastIndex(of: "/") {
            let directory = executable[..<slash]
            candidates.append("\(directory)/vserverd-init")
            candidates.append("\(directory)/../libexec/vserverd/vserverd-init")
        }
        candidates += ["/usr/local/libexec/vserverd/vserverd-init", "/usr/libexec/vserverd/vserverd-init"]
        return candidates.first { access($0, X_OK) == 0 } ?? candidates[0]
    }
}
