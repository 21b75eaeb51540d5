import CVServerSpawn
import Glibc

/// A vserver whose PID 1 exists: what only makes sense while it runs. Owns the pidfd.
final class RunningGuest: Sendable {
    let record: GuestRecord
    /// The config it was started with: stop uses its signal, timeouts and hooks even after a reload.
    let config: VServerConfig
    let pidfd: Int32
    let exit: OneShotEvent
    /// Its systemd scope, nil without one. Read once: `list` must not read /proc/PID/cgroup of 1000 guests.
    let cgroup: GuestCgroup?

    var pid: Int32 { record.pid }

    /// Under systemd PID 1 is already in its scope here: spawn holds it until it was placed.
    init(record: GuestRecord, config: VServerConfig, pidfd: Int32, exit: OneShotEvent) {
        self.record = record
        self.config = config
        self.pidfd = pidfd
        self.exit = exit
        self.cgroup = GuestCgroup(pid: record.pid, name: record.name)
    }

    /// Sends a signal to PID 1 through the pidfd: never to a recycled PID.
    func signal(_ signal: Int32) -> Bool {
        vs_pidfd_send_signal(pidfd, signal) == 0 || errno == ESRCH
    }

    /// Collects PID 1's exit status when it is our child; re-adopted guests belong to another parent.
    func reap() -> Int? {
        var exited: Int32 = 0
        var code: Int32 = 0
        guard vs_pidfd_wait(pidfd, 1, &exited, &code) == 0, exited != 0 else { return nil }
        return Int(code)
    }

    deinit { close(pidfd) }
}

/// The lifecycle of DESIGN.md §4; the cases carry what is valid in them, so a stopped vserver cannot
/// have a PID by construction.
enum GuestState: Sendable {
    case stopped(reason: String?)
    case starting
    case running(RunningGuest)
    case stopping(RunningGuest)
    case failed(reason: String)

    var name: String {
        switch self {
        case .stopped: "stopped"
        case .starting: "starting"
        case .running: "running"
        case .stopping: "stopping"
        case .failed: "failed"
        }
    }

    var reason: String? {
        switch self {
        case .stopped(let reason): reason
        case .failed(let reason): reason
        default: nil
        }
    }

    /// The guest while PID 1 exists (running or being stopped).
    var guest: RunningGuest? {
        switch self {
        case .running(let guest), .stopping(let guest): guest
        default: nil
        }
    }
}

extension VServerConfig {
    /// For a guest found running whose config directory is gone: enough to stop it (defaults) and to show it.
    static func leftover(from record: GuestRecord) -> VServerConfig {
        VServerConfig(name: record.name, context: record.context, root: record.root,
                      configDirectory: "", configFile: "")
    }
}
