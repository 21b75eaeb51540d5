import CVServerSpawn
import Glibc

/// One vserver's validated configuration, from `vserver.toml` or a util-vserver directory.
public struct VServerConfig: Sendable, Equatable {
    /// PID 1 of the vserver: its own init, or a command under vserverd's stub init.
    public enum Entry: Sendable, Equatable {
        case initProgram([String])
        case command([String])
    }

    public enum Network: Sendable, Equatable {
        /// The host's network namespace, as util-vserver guests have it.
        case host
        /// A private network namespace with only loopback.
        case none
        /// The host's network namespace, each socket held to the guest's own addresses (cgroup BPF programs).
        case bound(BoundNetwork)
        /// A private namespace with a veth pair.
        case veth(VethSettings)
    }

    /// How the guest's init is started and stopped (`init-style`).
    public enum InitStyle: String, Sendable, Equatable, CaseIterable {
        /// Looked up at every start from the init it finds: systemd, sysvinit, busybox init, or another.
        case auto
        /// systemd as PID 1: stopped with SIGRTMIN+3, as nspawn does.
        case systemd
        /// util-vserver's `sysv`: vserverd's stub init is PID 1 and runs `/etc/init.d/rc START` at start and
        /// `/etc/init.d/rc STOP` at stop.
        case sysv
        /// The init program as is, stopped with `stop-signal` (SIGTERM unless set).
        case plain
        /// util-vserver's gentoo and arch styles and its cmd.start/cmd.stop: vserverd's stub init is PID 1 and runs
        /// `[rc] start` at start and `[rc] stop` at stop.
        case rc

        /// Styles whose PID 1 is vserverd's stub init running the guest's boot scripts.
        public var runsBootScripts: Bool { self == .sysv || self == .rc }
    }

    /// What the guest's /dev/console is (`console`): a pty of its own devpts that vserverd copies into the console
    /// log (what systemd and gettys need), or /dev/null, which costs the host no pty and vserverd no fds (thousands
    /// of small guests).
    public enum ConsoleKind: String, CaseIterable, Sendable {
        case pty
        case none
    }

    /// What a reboot inside the guest does (`on-reboot`).
    public enum RebootAction: String, Sendable, Equatable, CaseIterable {
        /// Starts it again: a new PID 1 with the same config.
        case restart
        /// Leaves it stopped.
        case stop
    }

    /// `[security] seccomp`: the syscall filter every process of the guest gets (docs/ARCHITECTURE.md §7,
    /// CVServerSpawn/seccomp.c).
    public enum SeccompPolicy: String, Sendable, Equatable, CaseIterable {
        /// A deny list like Docker's and LXC's defaults: bpf, perf_event_open, kernel modules, kexec, ...; without a
        /// user namespace also the keyring syscalls and new user namespaces.
        case `default`
        /// Only kexec is denied, since every guest keeps CAP_SYS_BOOT.
        case unconfined
    }

    /// A signal by number and canonical name ("SIGRTMIN+3").
    public struct Signal: Sendable, Equatable {
        public var number: Int32
        public var name: String

        public init(number: Int32, name: String) {
            self.number = number
            self.name = name
        }
    }

    public struct Mount: Sendable, Equatable {
        /// Host path for bind mounts; device or pseudo source ("tmpfs", "none") otherwise.
        public var source: String
        /// Absolute path inside the vserver, normalised (no "//", ".", or trailing "/").
        public var target: String
        /// Filesystem type; nil for bind mounts.
        public var type: String?
        /// MS_* flags. For a bind mount with MS_RDONLY the caller still has to remount read-only.
        public var flags: UInt
        /// Filesystem options the kernel interprets ("size=16m,mode=1777"), nil if none.
        public var data: String?
        /// "vserver.toml:12" or "fstab:3", for error messages.
        public var origin: String

        public init(source: String, target: String, type: String?, flags: UInt, data: String?, origin: String) {
            self.source = source
            self.target = target
            self.type = type
            self.flags = flags
            self.data = data
            self.origin = origin
        }
    }

    public struct Limit: Sendable, Equatable {
        /// setrlimit name without RLIMIT_, lowercase: "nofile".
        public var name: String
        /// RLIMIT_* number.
        public var resource: Int32
        /// UInt64.max = unlimited (RLIM_INFINITY).
        public var soft: UInt64
        public var hard: UInt64

        public init(name: String, resource: Int32, soft: UInt64, hard: UInt64) {
            self.name = name
            self.resource = resource
            self.soft = soft
            self.hard = hard
        }
    }

    public static let contextRange = 2...49151
    /// Contexts assigned to vservers without one start here, in name order.
    public static let firstDefaultContext = 1000
    public static let defaultRootDirectory = "/vservers"
    public static let defaultInit = ["/sbin/init"]
    public static let defaultShell = ["/bin/sh", "-l"]
    public static let defaultStopTimeout = 10
    public static let defaultHookTimeout = 30
    /// Bounds of `stop-timeout` and `hook-timeout`, in seconds: 0 would kill at once, more than an hour is
    /// surely a typo.
    public static let timeoutRange = 1...3600
    public static let defaultPidsMax: UInt64 = 4096
    /// Up to the kernel's PID_MAX_LIMIT: more tasks than that cannot exist anyway.
    public static let pidsMaxRange: ClosedRange<UInt64> = 1...4_194_304

    public var name: String
    /// Absolute, e.g. /etc/vservers/web.
    public var configDirectory: String
    /// Absolute path of vserver.toml, or the directory for the util-vserver format.
    public var configFile: String
    public var context: Int
    /// Absolute and realpath-resolved.
    public var root: String
    public var hostname: String
    /// The (NIS) domain name of its UTS namespace; nil leaves it "(none)".
    public var domainname: String?
    public var autostart: Bool = false
    /// util-vserver's marks other than "default" (which is `autostart`): `vserverctl start --mark NAME` starts the
    /// vservers with mark NAME, in `after` order.
    public var marks: [String] = []
    public var after: [String] = []
    public var entry: Entry = .initProgram(defaultInit)
    public var initStyle: InitStyle = .auto
    /// Runlevels of `init-style = "sysv"`: `/etc/init.d/rc START` at start, `rc STOP` at stop (util-vserver's).
    public var startRunlevel = "3"
    public var stopRunlevel = "6"
    /// `init-style = "rc"`: what the stub init runs at start (a boot script that returns) and at stop (may be empty).
    public var rcStart: [String] = []
    public var rcStop: [String] = []
    /// What the stub init of `sysv` and `rc` sends to the processes left when the stop command has ended.
    public var killSequence: KillSequence = .standard
    public var onReboot: RebootAction = .restart
    public var console: ConsoleKind = .pty
    /// nil: chosen at start from the init the guest has (`init-style`).
    public var stopSignal: Signal?
    public var stopTimeout: Int = defaultStopTimeout
    public var hookTimeout: Int = defaultHookTimeout
    /// For `vserverctl enter`; nil: the login shell of root in the guest's own /etc/passwd.
    public var shell: [String]?
    /// A zone under /usr/share/zoneinfo ("Europe/Berlin"); nil leaves the guest's /etc/localtime alone.
    public var timezone: String?
    public var environment: [String: String] = [:]
    public var network: Network = .host
    public var userNamespace: Bool = false
    /// `[namespaces] time`: its boot and monotonic clocks start at zero (its own uptime).
    public var timeNamespace: Bool = false
    public var seccomp: SeccompPolicy = .default
    /// `[security] nesting` (only with a user namespace): its mounts are left unlocked, so that container runtimes
    /// inside can mount a proc, at the price that its root can remove the masks of its /proc (docs/ARCHITECTURE.md
    /// §7).
    public var nesting = false
    /// The bounding set: bit n = capability n.
    public var capabilities: UInt64
    public var limits: [Limit] = []
    /// `[resources]` and `[disk]`: cgroup limits (pids-max 4096 by default, where a fork bomb stops) and disk quota.
    public var resources = ResourceSettings()
    /// Lines of the `[resources]`/`[disk]` keys in `configFile`, for errors found later (at `check` and start).
    package var resourceLines: [ResourceKey: Int] = [:]
    /// `[[mount]]` entries first, then fstab lines.
    public var mounts: [Mount] = []
    /// Non-fatal findings for `vserverctl check`, each "file:line: key: message".
    public var warnings: [String] = []

    /// A configuration with every default: hostname = name, host network, the default capability set.
    public init(name: String, context: Int, root: String, configDirectory: String, configFile: String) {
        self.name = name
        self.context = context
        self.root = root
        self.configDirectory = configDirectory
        self.configFile = configFile
        hostname = name
        capabilities = 0
        capabilities = baseCapabilities
    }

    /// With `user = true`: the host uid and gid of root inside. Ids 0..65535 inside are this.. outside
    /// (docs/ARCHITECTURE.md §3); contexts are unique, so no two vservers share an id, and context >= 2 keeps clear of
    /// the host's ids.
    public var idMapBase: UInt32 { UInt32(context) * 65536 }

    /// Whether the vserver gets its own network namespace.
    public var hasPrivateNetwork: Bool {
        switch network {
        case .host, .bound: false
        case .none, .veth: true
        }
    }

    /// Whether its root may mount file systems: over its own namespaces (a user namespace), or with CAP_SYS_ADMIN.
    /// systemd needs it; its cgroup mount is writable only then.
    public var mayMount: Bool { userNamespace || capabilities & (1 << UInt64(Capabilities.sysAdmin)) != 0 }

    /// The bounding set before `[capabilities]`: the default allowlist (with a user namespace the wider one its
    /// capabilities are safe with), with CAP_NET_ADMIN and CAP_NET_RAW only for a network namespace of its own.
    package var baseCapabilities: UInt64 {
        let allowlist = userNamespace ? Capabilities.userNamespaceAllowlist : Capabilities.defaultAllowlist
        let network = Capabilities.mask(Capabilities.privateNetworkOnly)
        return Capabilities.mask(allowlist) & ~network | (hasPrivateNetwork ? network : 0)
    }
}

extension VServerConfig.SeccompPolicy {
    /// VS_SECCOMP_* for the C side (guests' PID 1 and joined commands).
    package var spawnValue: Int32 {
        switch self {
        case .default: Int32(VS_SECCOMP_DEFAULT)
        case .unconfined: Int32(VS_SECCOMP_UNCONFINED)
        }
    }
}

extension VServerConfig {
    /// "FILE:LINE: resources.io-weight: this host cannot enforce it: …" for every limit the host has no
    /// controller for, and `[disk]` limits its root's file system cannot enforce: `check` prints them as errors and
    /// a start refuses (docs/ARCHITECTURE.md §4).
    package func resourceProblems(on host: CgroupHost = .current) -> [String] {
        func place(_ key: ResourceKey) -> String {
            "\(resourceLines[key].map { "\(configFile):\($0)" } ?? configFile): \(key.path)"
        }
        var problems = host.unenforceable(resources).map { "\(place($0.key)): \($0)" }
        if let refusal = diskQuotaMechanism?.refusal(bytes: resources.diskSpaceMax, inodes: resources.diskInodesMax,
                                                     root: root) {
            problems.append("\(place(resources.diskSpaceMax != nil ? .spaceMax : .inodesMax)): \(refusal)")
        }
        return problems
    }

    /// How `[disk]` is enforced on its root; nil without disk limits (then nothing is looked at).
    package var diskQuotaMechanism: DiskQuotaMechanism? {
        hasDiskLimits ? DiskQuota.mechanism(for: root) : nil
    }

    package var hasDiskLimits: Bool { resources.diskSpaceMax != nil || resources.diskInodesMax != nil }
}
