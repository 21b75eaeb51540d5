import CVServerSpawn
import Glibc

/// What runs as PID 1 of a guest, found at each start from `init-style` and the guest's own tree: it decides how the
/// guest is asked to stop and what it needs from its manager.
package enum GuestInit: String, Sendable, Equatable {
    case systemd
    /// sysvinit's /sbin/init: it ignores SIGTERM, and SIGPWR only runs inittab's powerfail entry.
    case sysvinit
    /// busybox init: SIGUSR2 is its poweroff (SIGTERM its reboot).
    case busybox
    /// vserverd's stub init: `command`, or `init-style = "sysv"` or `"rc"`.
    case stub
    /// Any other program: SIGTERM, or `stop-signal`.
    case other

    /// Looks at the init program inside the root (symlinks followed inside it, as the kernel would after the
    /// pivot) only for `init-style = "auto"`; the other styles say what they run.
    package static func of(_ config: VServerConfig) -> GuestInit {
        switch (config.entry, config.initStyle) {
        case (.command, _), (_, .sysv), (_, .rc): return .stub
        case (_, .systemd): return .systemd
        case (_, .plain): return .other
        case (.initProgram(let argv), .auto): return detect(program: argv[0], root: config.root)
        }
    }

    package static func detect(program: String, root: String) -> GuestInit {
        guard let rootFD = try? GuestFiles.openRoot(root) else { return .other }
        defer { close(rootFD) }
        let fd = vs_open_in_root(rootFD, program, Int32(VS_O_PATH))
        guard fd >= 0 else { return .other }
        defer { close(fd) }
        // The path the kernel resolved (a host path beneath the root): its last component names the program.
        guard let resolved = try? FileSystem.readLink("/proc/self/fd/\(fd)") else { return .other }
        switch resolved.split(separator: "/").last {
        case "systemd": return .systemd
        case "busybox": return .busybox
        default: break
        }
        let inittab = vs_open_in_root(rootFD, "/etc/inittab", Int32(VS_O_PATH))
        guard inittab >= 0 else { return .other }
        close(inittab)
        return .sysvinit
    }

    /// The highest N of the /dev/ttyN that the gettys of a sysvinit guest's /etc/inittab use ("1:2345:respawn:
    /// /sbin/getty 38400 tty1"), up to VS_MAX_TTYS: they get ptys, so that they wait for a login instead of failing
    /// and being respawned over and over.
    package static func gettyTerminals(root: String) -> Int {
        guard let rootFD = try? GuestFiles.openRoot(root) else { return 0 }
        defer { close(rootFD) }
        let inittab = GuestFiles.text("/etc/inittab", rootFD: rootFD, display: "\(root)/etc/inittab")
        return inittab.map { gettyTerminals(inittab: $0) } ?? 0
    }

    package static func gettyTerminals(inittab: String) -> Int {
        var highest = 0
        for line in inittab.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false)
            guard fields.count == 4, fields[2] == "respawn" else { continue }
            for word in fields[3].split(separator: " ") where word.hasPrefix("tty") {
                if let number = Int(word.dropFirst(3)), number >= 1 { highest = max(highest, number) }
            }
        }
        return min(highest, Int(VS_MAX_TTYS))
    }

    /// How a running guest with this init is asked to stop when `stop-signal` does not say.
    package var stopRequest: StopRequest {
        switch self {
        case .systemd: .signal(Signals.named("SIGRTMIN+3"))
        case .sysvinit: .runlevel("0")
        case .busybox: .signal(Signals.named("SIGUSR2"))
        case .stub, .other: .signal(Signals.named("SIGTERM"))
        }
    }
}

extension VServerConfig {
    /// What `vserverctl check` says of the guest's tree beside its config: what its init needs of the config.
    public var initWarnings: [String] {
        let guestInit = GuestInit.of(self)
        guard guestInit == .systemd, !userNamespace else { return [] }
        let where_ = "\(configFile): init: \(root) has systemd as init"
        if !mayMount {
            return ["\(where_), which mounts file systems: it needs [namespaces] user = true (recommended) or "
                + "CAP_SYS_ADMIN in [capabilities] add; start refuses it as it is"]
        }
        return ["\(where_) and CAP_SYS_ADMIN without a user namespace, as systemd-nspawn runs it: its root may "
            + "mount, and reach the host through what it mounts; with [namespaces] user = true its capabilities "
            + "reach only its own namespaces"]
    }
}

/// How vserverd asks a guest's PID 1 to shut down cleanly (before SIGKILL after `stop-timeout`).
package enum StopRequest: Sendable, Equatable, CustomStringConvertible {
    case signal(VServerConfig.Signal)
    /// A runlevel change through sysvinit's control FIFO, as `telinit 0` inside would send it.
    case runlevel(String)

    /// As the state file keeps it: "SIGRTMIN+3", "runlevel 0".
    package var description: String {
        switch self {
        case .signal(let signal): signal.name
        case .runlevel(let level): "runlevel \(level)"
        }
    }

    package init?(_ text: String) {
        if text.hasPrefix("runlevel "), let level = text.split(separator: " ").last,
           Settings.runlevelProblem(String(level)) == nil {
            self = .runlevel(String(level))
        } else if let signal = Signals.parse(text) {
            self = .signal(VServerConfig.Signal(number: signal.number, name: signal.name))
        } else {
            return nil
        }
    }

    package static func of(_ config: VServerConfig, init guestInit: GuestInit) -> StopRequest {
        config.stopSignal.map(StopRequest.signal) ?? guestInit.stopRequest
    }
}

/// sysvinit's control channel (initreq.h): what `telinit` writes to /run/initctl.
package enum SysvInitControl {
    package static let magic: Int32 = 0x0309_1969
    package static let runlevelCommand: Int32 = 1
    /// struct init_request: magic, cmd, runlevel, sleeptime, then 368 bytes of union.
    package static let requestSize = 384

    /// The request `telinit LEVEL` sends: switch to that runlevel.
    package static func runlevelRequest(_ level: String) -> [UInt8] {
        var request = [UInt8](repeating: 0, count: requestSize)
        let runlevel = Int32(level.utf8.first ?? UInt8(ascii: "0"))
        // Seconds between the SIGTERM and the SIGKILL that init sends to processes it stops (telinit's default).
        let sleepTime: Int32 = 5
        for (index, value) in [magic, runlevelCommand, runlevel, sleepTime].enumerated() {
            withUnsafeBytes(of: value.littleEndian) { bytes in
                for (offset, byte) in bytes.enumerated() { request[index * 4 + offset] = byte }
            }
        }
        return request
    }

    /// Asks the sysvinit of the guest whose PID 1 is `pid` to change runlevel. The FIFO is looked up inside the
    /// guest's root (RESOLVE_IN_ROOT, from /proc/PID/root), must be a FIFO (a guest cannot make us open a device or
    /// block on a file), and is opened non-blocking: no reader means init is not listening (ENXIO).
    package static func requestRunlevel(_ level: String, pid: Int32) throws(SystemError) {
        let rootPath = "/proc/\(pid)/root"
        let rootFD = try GuestFiles.openRoot(pid: pid)
        defer { close(rootFD) }
        var lastError = SystemError("open", path: "\(rootPath)/run/initctl", errno: ENOENT)
        for path in ["/run/initctl", "/dev/initctl"] {
            let found = vs_open_in_root(rootFD, path, Int32(VS_O_PATH))
            guard found >= 0 else {
                lastError = SystemError("open", path: "\(rootPath)\(path)")
                continue
            }
            defer { close(found) }
            var status = stat()
            guard fstat(found, &status) == 0, status.st_mode & S_IFMT == S_IFIFO else {
                lastError = SystemError("open", path: "\(rootPath)\(path)", errno: ENXIO)
                continue
            }
            let fifo = open("/proc/self/fd/\(found)", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
            guard fifo >= 0 else {
                lastError = SystemError("open", path: "\(rootPath)\(path)")
                continue
            }
            defer { close(fifo) }
            let request = runlevelRequest(level)
            guard write(fifo, request, request.count) == request.count else {
                throw SystemError("write", path: "\(rootPath)\(path)")
            }
            return
        }
        throw lastError
    }
}
