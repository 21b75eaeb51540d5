/// util-vserver's one-value-per-file configuration (`/etc/vservers/NAME/context`, `vdir`, …), read so that an
/// existing /etc/vservers works unchanged. Only what maps onto vserverd is read; every other file gets a warning
/// ("ignored: vserverd does not read it", `UtilVServerLedger`).
///
/// - `context`: the context number (first line).
/// - `vdir`: symlink to the root; without it the root is /vservers/NAME.
/// - `uts/nodename`: the hostname (first line).
/// - `apps/init/mark`: "default" means autostart (what util-vserver's boot script starts).
/// - `apps/init/depends`: vserver names, one a line → `after`.
/// - `apps/init/style`, `runlevel*`, `cmd.start`, `cmd.stop`, `killseq`, `environment`: the init style and how it is
///   started and stopped (see `UtilVServerInit`).
/// - `bcapabilities`, `ccapabilities`, `flags`/`cflags`, `nflags`, `uts/` (but `nodename`), `sysctl/`: read in
///   util-vserver's list syntax, mapped or warned about (see `UtilVServerAttributes`).
/// - `ulimits/NAME`, `NAME.soft`, `NAME.hard`: as util-vserver's exec-ulimit reads them: a number (base
///   prefixes 0x/0 allowed, suffixes K M = 1024, 1024², k m = 1000, 1000²) or "inf"; a soft limit above the hard
///   one is lowered to it; a half not given is the one vserverd itself has.
/// - `fstab`: extra mounts (see `Fstab`). `scripts/`: hooks, run by the hook runner.
/// - `interfaces/`: `net = "bound"` with the interfaces' addresses (see `UtilVServerInterfaces`); a capability
///   that is only for a private network (CAP_NET_RAW, CAP_NET_ADMIN) is then dropped from `bcapabilities` with
///   a warning.
/// - `rlimits/`, `cgroup/`, `sched/` (or `schedule`), `cpuset/`, `dlimits/`, `nice`: `[resources]` and `[disk]`,
///   mapped, approximated or dropped with a warning (see `UtilVServerResources`).
package enum UtilVServerConfig {
    /// Any of these makes a directory without vserver.toml a util-vserver configuration.
    package static let markers = [
        "context", "vdir", "uts", "apps", "bcapabilities", "ccapabilities", "flags", "cflags", "nflags", "ulimits",
        "fstab", "interfaces", "rlimits", "cgroup", "sched", "schedule", "cpuset", "dlimits", "nice",
    ]

    package static func isPresent(in directory: String) -> Bool {
        markers.contains { FileSystem.exists(Path.join(directory, $0)) }
    }

    /// exec-ulimit's syntax: "inf…" is unlimited; otherwise a C integer (0x…, 0…) with an optional K, M, k or m.
    package static func limitValue(_ text: String, file: String) throws(ConfigError) -> UInt64 {
        let line = trimmed(text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
        if line.hasPrefix("inf") || line == "unlimited" { return .max }
        var digits = Substring(line)
        var multiplier: UInt64 = 1
        switch digits.last {
        case "K": multiplier = 1024
        case "M": multiplier = 1024 * 1024
        case "k": multiplier = 1000
        case "m": multiplier = 1000 * 1000
        default: break
        }
        if multiplier != 1 { digits = digits.dropLast() }
        let value: UInt64?
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") {
            value = UInt64(digits.dropFirst(2), radix: 16)
        } else if digits.count > 1 && digits.hasPrefix("0") {
            value = UInt64(digits.dropFirst(), radix: 8)
        } else {
            value = UInt64(digits)
        }
        guard let value, case (let product, false) = value.multipliedReportingOverflow(by: multiplier) else {
            throw ConfigError(file: file, line: 1, message: "expected a number or \"inf\", found \(quoted(line))")
        }
        return product
    }

    package static func read(name: String, directory: String, environment: LoaderEnvironment) -> DraftOutcome {
        DraftOutcome { (context: inout DraftOutcome.Context?) throws(ConfigError) in
            var reader = UtilVServerReader(name: name, directory: directory, environment: environment)
            context = try reader.readContext()
            return try reader.read()
        }
    }
}

private struct UtilVServerReader {
    let directory: String
    let environment: LoaderEnvironment
    var config: VServerConfig
    var afterLocations: [SettingLocation] = []
    var addressLocations: [IPAddress: SettingLocation] = [:]
    /// What was read, for `UtilVServerLedger`.
    let reads = UtilVServerReads()

    init(name: String, directory: String, environment: LoaderEnvironment) {
        self.directory = directory
        self.environment = environment
        config = VServerConfig(name: name, context: 0, root: "", configDirectory: directory, configFile: directory)
    }

    private func path(_ relative: String) -> String { Path.join(directory, relative) }

    /// `readFile` for the readers of parts of the directory (`UtilVServerInit`, `UtilVServerResources`, …).
    private var fileReader: UtilVServerResources.ReadFile {
        let reader = self
        return { (relative: String) throws(ConfigError) -> (path: String, text: String)? in
            try reader.readFile(relative)
        }
    }

    /// Reads a file of the vserver directory. Subdirectories on the way (`apps/init/`) must pass the same
    /// ownership check as the vserver directory: otherwise a user could swap in a symlink to any root file.
    private func readFile(_ relative: String) throws(ConfigError) -> (path: String, text: String)? {
        var directory = self.directory
        for component in Path.components(relative).dropLast() {
            directory = Path.join(directory, String(component))
            guard let status = try? FileSystem.status(directory) else { return nil }
            try environment.files.checkDirectory(directory, status: status)
        }
        let file = path(relative)
        guard let text = try environment.files.read(file) else { return nil }
        // Values end up in C strings (argv, paths, the environment), as vserver.toml's do: NUL is refused as there.
        if let nul = text.utf8.firstIndex(of: 0) {
            let line = text.utf8[..<nul].count { $0 == UInt8(ascii: "\n") } + 1
            throw ConfigError(file: file, line: line, message: "must not contain a NUL character")
        }
        reads.record(relative)
        return (file, text)
    }

    /// The first line, trimmed; nil when the file is missing or empty.
    private func firstLine(_ relative: String) throws(ConfigError) -> (path: String, text: String)? {
        guard let (file, text) = try readFile(relative) else { return nil }
        let line = trimmed(text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
        return line.isEmpty ? nil : (file, line)
    }

    mutating func readContext() throws(ConfigError) -> DraftOutcome.Context? {
        guard let (file, text) = try firstLine("context") else { return nil }
        guard let context = Int64(text) else {
            throw ConfigError(file: file, line: 1, message: "expected a context number, found \(quoted(text))")
        }
        if let problem = Settings.contextProblem(context) { throw ConfigError(file: file, line: 1, message: problem) }
        config.context = Int(context)
        return (Int(context), SettingLocation(file: file, line: 1))
    }

    mutating func read() throws(ConfigError) -> VServerDraft {
        if let (file, text) = try firstLine("name"), text != config.name {
            config.warnings.append(
                ConfigError(file: file, line: 1, message: "says \(quoted(text)); vserverd uses the directory name")
                    .description)
        }
        if let (file, hostname) = try firstLine("uts/nodename") {
            if let problem = Validation.hostnameProblem(hostname) {
                throw ConfigError(file: file, line: 1, message: problem)
            }
            config.hostname = hostname
        }
        if let (file, mark) = try firstLine("apps/init/mark"), !mark.isEmpty {
            if mark == AutostartMarks.boot {
                config.autostart = true
            } else if let problem = AutostartMarks.problem(mark) {
                throw ConfigError(file: file, line: 1, message: problem)
            } else {
                config.marks = [mark]
            }
        }
        try readDepends()
        try readNetwork()
        try readCapabilities()
        try readLimits()
        try readRoot()
        try readInit()
        try readResources()
        if let (file, text) = try readFile("fstab") {
            let (mounts, warnings) = try Fstab.parse(text, file: file)
            config.mounts = mounts
            config.warnings += warnings
        }
        config.warnings += UtilVServerLedger.warnings(directory: directory, read: reads.files,
                                                      existing: config.warnings)
        return VServerDraft(config: config, afterLocations: afterLocations, addressLocations: addressLocations)
    }

    private mutating func readNetwork() throws(ConfigError) {
        var interfaces = UtilVServerInterfaces(directory: directory, context: config.context, readFile: fileReader)
        if let network = try interfaces.read() { config.network = network }
        config.warnings += interfaces.warnings
        addressLocations = interfaces.locations
    }

    private mutating func readResources() throws(ConfigError) {
        var resources = UtilVServerResources(directory: directory, root: config.root, readFile: fileReader)
        try resources.read(into: &config.resources)
        config.warnings += resources.warnings
    }

    private mutating func readRoot() throws(ConfigError) {
        let vdir = path("vdir")
        let root = FileSystem.exists(vdir) ? vdir : Path.join(environment.defaultRootDirectory, config.name)
        do throws(Problem) {
            config.root = try Settings.resolveRoot(root, barrierOwner: environment.requiredOwner)
        } catch {
            throw ConfigError(
                file: vdir, message: root == vdir ? error.message : "missing, and the default root \(error.message)")
        }
    }

    /// `apps/init/` but `mark` and `depends` (see `UtilVServerInit`); needs the root.
    private mutating func readInit() throws(ConfigError) {
        var initFiles = UtilVServerInit(directory: directory, readFile: fileReader)
        try initFiles.read(into: &config)
        config.warnings += initFiles.warnings
    }

    private mutating func readDepends() throws(ConfigError) {
        guard let (file, text) = try readFile("apps/init/depends") else { return }
        for (number, name) in meaningfulLines(text) {
            if let problem = VServerName.problem(name) {
                throw ConfigError(
                    file: file, line: number, message: "\(quoted(name)) is not a valid vserver name: \(problem)")
            }
            if name == config.name {
                throw ConfigError(file: file, line: number, message: "a vserver cannot depend on itself")
            }
            if config.after.contains(name) { continue }
            config.after.append(name)
            afterLocations.append(SettingLocation(file: file, line: number))
        }
    }

    /// `bcapabilities`, `ccapabilities`, `flags`/`cflags`, `nflags`, `uts/`, `sysctl/` (see `UtilVServerAttributes`).
    private mutating func readCapabilities() throws(ConfigError) {
        var attributes = UtilVServerAttributes(directory: directory, readFile: fileReader)
        try attributes.read(into: &config)
        config.warnings += attributes.warnings
    }

    private mutating func readLimits() throws(ConfigError) {
        let directory = path("ulimits")
        guard (try? FileSystem.status(directory))?.isDirectory == true else { return }
        let names: [String]
        do throws(SystemError) {
            names = try FileSystem.listDirectory(directory)
        } catch {
            throw ConfigError(file: directory, failed: error)
        }
        var configured: [String: (base: UInt64?, soft: UInt64?, hard: UInt64?)] = [:]
        for file in names {
            let parts = file.split(separator: ".", maxSplits: 1).map(String.init)
            let resource = parts[0]
            guard ResourceLimits.number(resource) != nil, parts.count == 1 || parts[1] == "soft" || parts[1] == "hard"
            else {
                config.warnings.append(
                    ConfigError(
                        file: Path.join(directory, file), message: "not a resource limit vserverd knows; ignored"
                    )
                    .description)
                continue
            }
            guard let (path, text) = try readFile("ulimits/" + file) else { continue }
            let value = try UtilVServerConfig.limitValue(text, file: path)
            var entry = configured[resource] ?? (nil, nil, nil)
            switch parts.count == 1 ? "" : parts[1] {
            case "soft": entry.soft = value
            case "hard": entry.hard = value
            default: entry.base = value
            }
            configured[resource] = entry
        }
        for (name, number) in ResourceLimits.resources {
            guard let entry = configured[name] else { continue }
            let current = ResourceLimits.current(number)
            let hard = entry.hard ?? entry.base ?? current.hard
            var soft = entry.soft ?? entry.base ?? current.soft
            if soft > hard, (entry.soft ?? entry.base) != nil {
                config.warnings.append(
                    ConfigError(
                        file: Path.join(directory, entry.soft != nil ? name + ".soft" : name),
                        message: "soft limit \(ResourceLimits.describe(soft)) is above the hard limit "
                            + "\(ResourceLimits.describe(hard)); using the hard limit, as util-vserver does"
                    ).description)
            }
            soft = min(soft, hard)
            config.limits.append(VServerConfig.Limit(name: name, resource: number, soft: soft, hard: hard))
        }
    }
}
