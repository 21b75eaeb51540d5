/// util-vserver's list syntax (lib/listparser.hc), as vattribute and chbind read each line of `bcapabilities`,
/// `ccapabilities`, `flags`/`cflags` and `nflags`: comma-separated items, each optionally preceded by `!` or `~`
/// (each one toggles the negation), and each a name, `all`/`any` (every bit), `none` (no bit), a C number (a mask:
/// `0x…`, `0…`, decimal) or `^N` (bit N). Names are matched without case. Spaces around an item are allowed
/// (util-vserver would refuse them).
struct UtilVServerList {
    struct Item {
        var negated: Bool
        var bits: UInt64
    }

    /// The items of one line; `lookup` gives the bits of a name, nil when it is unknown (an error naming `kind`).
    static func parse(
        _ line: String, file: String, line number: Int, kind: String, all: UInt64, lookup: (String) -> UInt64?
    ) throws(ConfigError) -> [Item] {
        var items: [Item] = []
        for part in line.split(separator: ",", omittingEmptySubsequences: false) {
            var text = Substring(trimmed(part))
            var negated = false
            while let first = text.first, first == "!" || first == "~" {
                negated.toggle()
                text = text.dropFirst()
            }
            let name = String(text)
            switch name.lowercased() {
            case "":
                throw ConfigError(file: file, line: number, message: "empty item in \(quoted(line))")
            case "all", "any":
                items.append(Item(negated: negated, bits: all))
            case "none":
                items.append(Item(negated: negated, bits: 0))
            default:
                if text.hasPrefix("^") {
                    guard let bit = UtilVServerResources.integer(String(text.dropFirst())), (0..<64).contains(bit)
                    else {
                        throw ConfigError(
                            file: file, line: number, message: "expected ^N with N from 0 to 63, found \(quoted(name))")
                    }
                    items.append(Item(negated: negated, bits: 1 << UInt64(bit)))
                } else if let value = UtilVServerResources.integer(name) {
                    items.append(Item(negated: negated, bits: UInt64(bitPattern: value)))
                } else if let bits = lookup(name) {
                    items.append(Item(negated: negated, bits: bits))
                } else {
                    throw ConfigError(file: file, line: number, message: "unknown \(kind) \(quoted(name))")
                }
            }
        }
        return items
    }
}

/// util-vserver's attributes of a context, read as vserver.functions passed them to vattribute and chbind, and what
/// vserverd makes of each:
///
/// - `bcapabilities`: applied to vserverd's default set (docs/ARCHITECTURE.md §7), which leaves out some of
///   util-vserver's default set (lib/getinsecurebcaps.c): one warning names those the guest would have had.
/// - `ccapabilities` (context capabilities), `cflags` or else `flags` (context flags), `nflags` (network flags):
///   `virt_uptime` → `[namespaces] time = true`, `virt_mem`, `virt_cpu`, `virt_load` → `[resources] lxcfs = true`;
///   every other one set is a warning saying what vserverd does instead or that it has no equivalent. Each mapping is
///   a warning too. An unknown name is an error, as it was to vattribute.
/// - `uts/domainname` (or `domainname`) → `domainname`; the rest of `uts/` but `nodename`: warnings (uname reports
///   the host kernel's).
/// - `sysctl/N/{setting,value}`: warnings (vserverd applies no sysctls).
struct UtilVServerAttributes: UtilVServerFiles {
    typealias ReadFile = UtilVServerResources.ReadFile

    let directory: String
    let readFile: ReadFile
    var warnings: [String] = []

    /// util-vserver's default bounding set (`vc_get_insecurebcaps`, with the vshelper and migrate features of
    /// every kernel it supported): CHOWN, DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER, FSETID, KILL, SETGID, SETUID,
    /// NET_BIND_SERVICE, SYS_CHROOT, SYS_PTRACE, SYS_BOOT, SYS_TTY_CONFIG, LEASE, AUDIT_WRITE, SETFCAP.
    static let utilVServerDefault = Capabilities.mask([0, 1, 2, 3, 4, 5, 6, 7, 10, 18, 19, 22, 26, 28, 29, 31])

    init(directory: String, readFile: @escaping ReadFile) {
        self.directory = directory
        self.readFile = readFile
    }

    mutating func read(into config: inout VServerConfig) throws(ConfigError) {
        try readBoundingSet(into: &config)
        try readAttributes(
            "ccapabilities", kind: "context capability", prefix: "vxc_", table: Self.contextCapabilities,
            into: &config)
        // vserver.functions reads cflags when there is one, else flags.
        let flags = FileSystem.exists(path("cflags")) ? "cflags" : "flags"
        try readAttributes(flags, kind: "flag", prefix: "vxf_", table: Self.contextFlags, into: &config)
        try readAttributes("nflags", kind: "network flag", prefix: "nxf_", table: Self.networkFlags, into: &config)
        try readUTS(into: &config)
        try readSysctl()
    }

    private mutating func readBoundingSet(into config: inout VServerConfig) throws(ConfigError) {
        var mask = config.baseCapabilities
        var theirs = Self.utilVServerDefault
        // Dropped with a warning of their own, so not named again.
        var warned: UInt64 = 0
        let allCapabilities = Capabilities.mask(Capabilities.allNames.indices)
        let file = try readFile("bcapabilities")
        let path = file?.path ?? directory
        for (number, line) in meaningfulLines(file?.text ?? "") {
            let items = try UtilVServerList.parse(
                line, file: path, line: number, kind: "capability", all: allCapabilities
            ) { Capabilities.number($0).map { 1 << UInt64($0) } }
            for item in items {
                if item.negated {
                    mask &= ~item.bits
                    theirs &= ~item.bits
                    continue
                }
                theirs |= item.bits
                for capability in 0..<64 where item.bits & 1 << UInt64(capability) != 0 {
                    let bit: UInt64 = 1 << UInt64(capability)
                    if case .bound = config.network, Capabilities.privateNetworkOnly.contains(capability) {
                        warned |= bit
                        warnings.append(
                            ConfigError(
                                file: path, line: number,
                                message: "\(Capabilities.name(capability)) dropped: it is not for a bound vserver "
                                    + "(net = \"bound\", from interfaces/): it would let it send from, or add, "
                                    + "addresses that are not its own"
                            ).description)
                        continue
                    }
                    mask |= bit
                    // However written (^N too): a number is no less a grant.
                    if let warning = Capabilities.warning(adding: capability, userNamespace: false, hostNetwork: true) {
                        warnings.append(ConfigError(file: path, line: number, message: warning).description)
                    }
                }
            }
        }
        config.capabilities = mask
        let narrowed = Capabilities.names(in: theirs & ~mask & ~warned)
        if !narrowed.isEmpty {
            warn(
                path,
                "util-vserver would also have given \(narrowed.joined(separator: ", ")) (from its default set), "
                    + "which vserverd's default set leaves out: add the ones the guest needs (bcapabilities, or "
                    + "[capabilities] add in vserver.toml)")
        }
    }

    /// Context capabilities or flags: the bits set after every line (a later `!NAME` clears an earlier one), each
    /// mapped or warned about on the line that last set it.
    private mutating func readAttributes(
        _ name: String, kind: String, prefix: String, table: [Attribute], into config: inout VServerConfig
    ) throws(ConfigError) {
        guard let (file, text) = try readFile(name) else { return }
        let all = table.reduce(0) { $0 | $1.bits }
        var word: UInt64 = 0
        var lines: [UInt64: Int] = [:]
        for (number, line) in meaningfulLines(text) {
            let items = try UtilVServerList.parse(line, file: file, line: number, kind: kind, all: all) { name in
                var key = name.lowercased()
                if key.count > prefix.count, key.hasPrefix(prefix) { key.removeFirst(prefix.count) }
                return table.first { $0.names.contains(key) }?.bits
            }
            for item in items {
                if item.negated {
                    word &= ~item.bits
                    continue
                }
                word |= item.bits
                for bit in 0..<64 where item.bits & 1 << UInt64(bit) != 0 { lines[1 << UInt64(bit)] = number }
            }
        }
        for shift in 0..<64 {
            let bit: UInt64 = 1 << UInt64(shift)
            guard word & bit != 0 else { continue }
            let line = lines[bit]
            // Pseudo names ("default", "secure") are several bits or an alias: the entry of exactly this bit.
            guard let attribute = table.first(where: { $0.bits == bit }) else {
                warnings.append(
                    ConfigError(
                        file: file, line: line, message: "bit \(shift) is no \(kind) vserverd knows; ignored"
                    ).description)
                continue
            }
            let message: String
            switch attribute.effect {
            case .timeNamespace:
                config.timeNamespace = true
                message = "mapped to [namespaces] time = true: the guest's uptime starts at zero"
            case .lxcfs(let what):
                config.resources.lxcfs = true
                message = "mapped to [resources] lxcfs = true: /proc inside shows the guest's \(what) (lxcfs must "
                    + "be mounted on the host, or the start fails)"
            case .warning(let text):
                message = text
            }
            warnings.append(
                ConfigError(file: file, line: line, message: "\(attribute.names[0]): \(message)").description)
        }
    }

    /// `uts/domainname` (or the older `domainname`, as vserver.functions reads it) → `domainname`.
    private mutating func readUTS(into config: inout VServerConfig) throws(ConfigError) {
        for relative in ["uts/domainname", "domainname"] {
            guard let (file, value) = try line(relative) else { continue }
            if value.isEmpty { continue }
            if let problem = Validation.hostnameProblem(value) {
                throw ConfigError(file: file, line: 1, message: problem)
            }
            config.domainname = value
            break
        }
        for name in try names(in: "uts") ?? [] where name != "nodename" && name != "domainname" {
            let file = path("uts/" + name)
            switch name {
            case "sysname", "release", "version", "machine":
                warn(file, "not applied: uname in the guest reports the host kernel's \(name)")
            default:
                warn(file, "not a UTS name util-vserver knows; ignored")
            }
        }
    }

    private mutating func readSysctl() throws(ConfigError) {
        for entry in try names(in: "sysctl") ?? [] {
            let file = path("sysctl/" + entry)
            guard let setting = try line("sysctl/\(entry)/setting")?.text, !setting.isEmpty else {
                warn(file, "no setting file; ignored")
                continue
            }
            let value = try line("sysctl/\(entry)/value")?.text ?? ""
            warn(
                file,
                "\(setting) = \(value) not applied: vserverd applies no sysctls; the guest shares the host's "
                    + "kernel and network settings (set it on the host if the host should have it)")
        }
    }
}

/// One context capability or flag of util-vserver (lib/vserver.h), with the names vattribute accepts for it.
struct Attribute {
    enum Effect {
        case timeNamespace
        /// What lxcfs's files show the guest of its own.
        case lxcfs(String)
        case warning(String)
    }

    /// The first is the one messages use.
    var names: [String]
    var bits: UInt64
    var effect: Effect

    init(_ names: [String], _ bits: UInt64, _ effect: Effect) {
        self.names = names
        self.bits = bits
        self.effect = effect
    }

    init(_ names: [String], _ bits: UInt64, _ warning: String) {
        self.init(names, bits, .warning(warning))
    }
}

extension UtilVServerAttributes {
    private static let mountInside =
        "vserverd mounts the fstab entries at start; mounting inside needs [namespaces] user = true"
    private static let userNamespaceOnly =
        "needs CAP_SYS_ADMIN, which vserverd gives only with [namespaces] user = true"
    private static let noEquivalent = "no equivalent in vserverd; ignored"
    private static let setupState = "util-vserver's own setup state; nothing to do"
    private static let hostInterfaces =
        "no equivalent on the host's network (net = \"host\" or \"bound\"): the guest sees every host interface"

    /// lib/ccaps-v13.c.
    static let contextCapabilities: [Attribute] = [
        Attribute(
            ["set_utsname", "utsname"], 0x1,
            "not given: vserverd sets the hostname from uts/nodename at start; changing it inside "
                + userNamespaceOnly + " (its UTS namespace is its own)"),
        Attribute(
            ["set_rlimit", "rlimit"], 0x2,
            "not given: the guest may lower its resource limits; raising a hard limit needs CAP_SYS_RESOURCE "
                + "(bcapabilities)"),
        Attribute(["fs_security"], 0x4, "not given: security.* extended attributes " + userNamespaceOnly),
        Attribute(["fs_trusted"], 0x8, "not given: trusted.* extended attributes " + userNamespaceOnly),
        Attribute(["tiocsti"], 0x10, "not given: " + noEquivalent),
        Attribute(
            ["raw_icmp", "icmp", "ping"], 0x100,
            "not given: ping inside needs CAP_NET_RAW (bcapabilities; not on a bound network) or the host's "
                + "net.ipv4.ping_group_range"),
        Attribute(["syslog"], 0x1000, "not given: the kernel log needs CAP_SYSLOG (bcapabilities), the host's log"),
        Attribute(
            ["oom_adjust"], 0x2000,
            "not given: the guest may raise its processes' oom_score_adj; lowering it needs CAP_SYS_RESOURCE"),
        Attribute(["audit_control"], 0x4000, "not given: it needs CAP_AUDIT_CONTROL (bcapabilities), the host's audit"),
        Attribute(["secure_mount", "mount"], 0x10000, "not given: " + mountInside),
        Attribute(["secure_remount", "remount"], 0x20000, "not given: " + mountInside),
        Attribute(["binary_mount"], 0x40000, "not given: " + mountInside),
        Attribute(["dev_mount"], 0x80000, "not given: " + mountInside),
        Attribute(["quota_ctl"], 0x10_0000, "not given: vserverd sets the guest's disk quota from [disk] (dlimits/)"),
        Attribute(["admin_mapper"], 0x20_0000, "not given: " + noEquivalent),
        Attribute(["admin_cloop"], 0x40_0000, "not given: " + noEquivalent),
        Attribute(["kthread"], 0x100_0000, "not given: " + noEquivalent),
        Attribute(["namespace"], 0x200_0000, "vserverd creates the guest's namespaces itself"),
    ]

    /// lib/cflags-v13.c, with its pseudo flags `default` (what vserver.functions set for every guest) and `secure`.
    static let contextFlags: [Attribute] = [
        Attribute(["lock", "info_lock"], 0x1, "a guest cannot change its settings in vserverd anyway"),
        Attribute(
            ["nproc", "info_nproc"], 0x4, "the guest's process limit is [resources] pids-max (from rlimits/nproc)"),
        Attribute(
            ["private", "info_private"], 0x8,
            "no process joins a running guest except through vserverctl enter and exec anyway"),
        Attribute(["fakeinit", "info_init"], 0x10, "vserverd runs the guest's init as PID 1 of its own PID namespace"),
        Attribute(["hideinfo", "info_hideinfo"], 0x20, noEquivalent),
        Attribute(
            ["ulimit", "info_ulimit"], 0x40,
            "resource limits count per process (ulimits/); the guest's total is limited by [resources]"),
        Attribute(
            ["namespace", "info_namespace", "info_nspace"], 0x80, "vserverd gives every guest its own namespaces"),
        Attribute(["sched_hard"], 0x100, "the CPU limit is [resources] cpu-max (from sched/ or schedule)"),
        Attribute(["sched_prio"], 0x200, "the CPU share is [resources] cpu-weight (from sched/, schedule or nice)"),
        Attribute(["sched_pause"], 0x400, noEquivalent),
        Attribute(["virt_mem"], 0x1_0000, .lxcfs("memory limit")),
        Attribute(["virt_uptime"], 0x2_0000, .timeNamespace),
        Attribute(["virt_cpu"], 0x4_0000, .lxcfs("CPUs and CPU time")),
        Attribute(["virt_load"], 0x8_0000, .lxcfs("load average")),
        Attribute(
            ["virt_time"], 0x10_0000,
            "no equivalent: a time namespace ([namespaces] time) offsets the boot and monotonic clocks, not the "
                + "wall clock"),
        Attribute(["hide_mount"], 0x100_0000, "the guest sees only its own mounts anyway (its mount namespace)"),
        Attribute(["hide_netif"], 0x200_0000, hostInterfaces),
        Attribute(["hide_vinfo"], 0x400_0000, noEquivalent),
        Attribute(["state_setup"], 1 << 32, setupState),
        Attribute(["state_init"], 1 << 33, setupState),
        Attribute(["state_admin"], 1 << 34, setupState),
        Attribute(
            ["sc_helper"], 1 << 36,
            "reboot and halt inside end the guest's PID namespace; vserverd then restarts or stops it (on-reboot)"),
        Attribute(["reboot_kill"], 1 << 37, "reboot inside ends the guest's PID namespace, killing all of it, anyway"),
        Attribute(["persistent"], 1 << 38, "no equivalent: a guest ends when its init ends"),
        Attribute(["fork_rss"], 1 << 48, noEquivalent),
        Attribute(["prolific"], 1 << 49, noEquivalent),
        Attribute(["igneg_nice"], 1 << 52, noEquivalent),
        Attribute(["igneg_ionice"], 1 << 53, noEquivalent),
        Attribute(["secure"], 0x200_0000, noEquivalent),
        Attribute(["default"], 0x2_0000 | 1 << 36, noEquivalent),
    ]

    /// lib/nflags-net.c.
    static let networkFlags: [Attribute] = [
        Attribute(["lock", "info_lock"], 0x1, "a guest cannot change its network settings in vserverd anyway"),
        Attribute(["private", "info_private"], 0x8, noEquivalent),
        Attribute(
            ["single_ip"], 0x100, "a bound guest's sockets bind to its own addresses (interfaces/) in any case"),
        Attribute(
            ["lback_remap", "remap_lback"], 0x200,
            "a bound guest's 127.0.0.1 is its loopback address (interfaces/lback) in any case"),
        Attribute(["lback_allow"], 0x400, noEquivalent),
        Attribute(["hide_netif"], 0x200_0000, hostInterfaces),
        Attribute(["hide_lback"], 0x400_0000, noEquivalent),
        Attribute(["state_setup"], 1 << 32, setupState),
        Attribute(["state_admin"], 1 << 34, setupState),
        Attribute(["sc_helper"], 1 << 36, noEquivalent),
        Attribute(["persistent"], 1 << 38, noEquivalent),
    ]
}
