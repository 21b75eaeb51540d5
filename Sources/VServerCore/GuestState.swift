import CVServerSpawn
import Glibc
import Synchronization
import VServerConfig
import VServerProtocol

/// A vserver whose PID 1 exists: what only makes sense while it runs. Owns the pidfd and the console.
final class RunningGuest: Sendable {
    let record: GuestRecord
    /// The config it was started with: stop uses its timeouts and hooks even after a reload.
    let config: VServerConfig
    let pidfd: Int32
    let exit: OneShotEvent
    /// Its own cgroup (systemd scope or vserverd's), nil without one. Read once: `list` must not read
    /// /proc/PID/cgroup of 1000 guests.
    let cgroup: GuestCgroup?
    /// Its `vserver-NAME` cgroups in the v1 hierarchies of a hybrid host (its limits), made by vserverd: removed
    /// when it ends. Found again from /proc/PID/cgroup after a restart of vserverd; `set` may add one.
    var legacyCgroups: LegacyCgroups { legacy.withLock { $0 } }
    let legacy: Mutex<LegacyCgroups>
    /// The limits in force: the config's at its start, changed by `vserverctl set`.
    let resources: Mutex<ResourceSettings>
    /// Its console pty, copied into its console log; nil for a console log file (or one that could not be made
    /// again for a re-adopted guest).
    let console: ConsoleRelay.Console?
    /// Started by a previous vserverd: not our child, so another parent reaps it.
    let adopted: Bool

    var pid: Int32 { record.pid }

    /// How it is asked to stop: chosen at its start, kept in its state file.
    var stopRequest: StopRequest { record.stop }

    /// PID 1 is already in its cgroup here: it is cloned into it, or spawn holds it until it was placed.
    init(record: GuestRecord, config: VServerConfig, pidfd: Int32, exit: OneShotEvent,
         console: ConsoleRelay.Console? = nil, adopted: Bool = false) {
        self.record = record
        self.config = config
        self.pidfd = pidfd
        self.exit = exit
        self.console = console
        self.adopted = adopted
        let procCgroup = (try? FileSystem.readText("/proc/\(record.pid)/cgroup")) ?? ""
        self.cgroup = GuestCgroup(procCgroup: procCgroup, name: record.name)
        self.legacy = Mutex(LegacyCgroups.of(procCgroup: procCgroup, name: record.name))
        self.resources = Mutex(config.resources)
    }

    /// Sends a signal to PID 1 through the pidfd: never to a recycled PID.
    func signal(_ signal: Int32) -> Bool {
        vs_pidfd_send_signal(pidfd, signal) == 0 || errno == ESRCH
    }

    /// Collects how PID 1 ended: reaped when it is our child; a re-adopted guest belongs to another parent, which
    /// reaps it, and then the kernel tells through the pidfd (Linux 6.15), or its zombie's /proc/PID/stat does until
    /// then. Waits up to `patience` for that parent. nil when it cannot be known.
    func reap(patience: Duration = .seconds(1)) -> ExitStatus? {
        var how: Int32 = 0
        var status: Int32 = 0
        if vs_pidfd_wait_status(pidfd, 1, &how, &status) == 0 { return Self.exitStatus(how: how, status: status) }
        guard errno == ECHILD, patience > .zero else { return nil }
        let clock = ContinuousClock()
        let deadline = clock.now + patience
        while true {
            switch vs_pidfd_exit_info(pidfd, &how, &status) {
            case 1: return Self.exitStatus(how: how, status: status)
            case 0: break
            default: if errno != EINVAL && errno != ENOTTY { return nil }
            }
            if let waitStatus = ProcFS.zombieExitCode(pid: pid, startTime: record.startTime),
               vs_wait_status_how(waitStatus, &how, &status) == 0 {
                return Self.exitStatus(how: how, status: status)
            }
            guard clock.now < deadline else { return nil }
            usleep(2_000)
        }
    }

    private static func exitStatus(how: Int32, status: Int32) -> ExitStatus? {
        switch how {
        case Int32(VS_EXITED): ExitStatus(how: .exited, status: Int(status))
        case Int32(VS_KILLED): ExitStatus(how: .killed, status: Int(status))
        case Int32(VS_DUMPED): ExitStatus(how: .dumped, status: Int(status))
        default: nil
        }
    }

    deinit { close(pidfd) }
}

/// The lifecycle of docs/ARCHITECTURE.md §4; the cases carry what is valid in them, so a stopped vserver cannot
/// have a PID by construction.
enum GuestState: Sendable {
    /// exit: how its PID 1 ended when it ended by itself.
    case stopped(reason: String?, exit: ExitStatus? = nil)
    case starting
    case running(RunningGuest)
    case stopping(RunningGuest)
    case failed(reason: String)

    var state: VServerState {
        switch self {
        case .stopped: .stopped
        case .starting: .starting
        case .running: .running
        case .stopping: .stopping
        case .failed: .failed
        }
    }

    var reason: String? {
        switch self {
        case .stopped(let reason, _): reason
        case .failed(let reason): reason
        default: nil
        }
    }

    var exit: ExitStatus? {
        if case .stopped(_, let exit) = self { exit } else { nil }
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
        leftover(name: record.name, context: record.context, root: record.root)
    }

    /// The same from what a state file names (a record, or a start under way).
    static func leftover(name: String, context: Int, root: String) -> VServerConfig {
        VServerConfig(name: name, context: context, root: root, configDirectory: "", configFile: "")
    }

    /// Made by `leftover(from:)`: nothing of it comes from a config the admin wrote.
    var isLeftover: Bool { configDirectory.isEmpty }
}
