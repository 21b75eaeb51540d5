import Glibc

/// util-vserver's resource files, mapped onto `[resources]` and `[disk]` the way util-vserver applied them. What
/// maps exactly is taken as it is; what is approximated or dropped gets a warning "FILE: …" saying what was done.
///
/// - `rlimits/NAME`, `NAME.min`, `NAME.soft`, `NAME.hard` (vlimit's files, values as in `ulimits/`; rss and as
///   count pages): nproc's hard limit → pids-max; rss's hard → memory-max, its soft → memory-high; as's hard →
///   memory-max when rss gives none (approximated). Minimums and the other limits are dropped.
/// - `cgroup/FILE` (cgroup v1 files util-vserver wrote into the guest's cgroup): memory.limit_in_bytes,
///   memory.soft_limit_in_bytes, memory.memsw.limit_in_bytes (swap-max = memsw − memory, approximated), cpu.shares
///   (× 100 / 1024), cpu.cfs_quota_us / cpu.cfs_period_us, cpuset.cpus, pids.max, blkio.weight (io-weight as
///   vserverd scales it back). util-vserver's own settings there (`name`, `mnt`, …) are skipped, other files dropped.
/// - `sched/` (vsched's token bucket; the older `schedule` when there is no sched/): fill-rate / interval →
///   cpu-max, approximated. The rest is dropped.
/// - `cpuset/cpus` → cpuset (only with `cpuset/name` and without `nocreate`, as util-vserver); the rest is dropped.
/// - `dlimits/X/` (vdlimit's, each with directory, space_total in KiB, inodes_total and reserved): the one on the
///   root → [disk] space-max and inodes-max; one on another directory is dropped.
/// - `nice` → cpu-weight by the kernel's nice-to-weight table, approximated.
///
/// util-vserver applied all of them: where two set the same limit the lower is kept; for cpu-weight, cpuset and
/// io-weight the cgroup file wins.
package struct UtilVServerResources: UtilVServerFiles {
    typealias ReadFile = (String) throws(ConfigError) -> (path: String, text: String)?

    /// The vserver's util-vserver directory and its resolved root.
    let directory: String
    let root: String
    /// Reads a file of `directory` by its relative path, nil when it is missing.
    let readFile: ReadFile
    var warnings: [String] = []
    private var offers: [ResourceKey: [Offer]] = [:]

    private enum Value: Equatable {
        /// nil is no limit.
        case amount(UInt64?)
        case cpus(String)
    }

    private struct Offer {
        var value: Value
        /// The file it came from: full, and as messages name it (relative).
        var file: String
        var source: String
        /// How it was approximated ("fill-rate 3 / interval 8"); nil when exact.
        var because: String?
    }

    /// Limits that were all applied: the lowest one counts. The other keys take the cgroup file's value.
    private static let lowerWins: Set<ResourceKey> = [
        .memoryMax, .memoryHigh, .swapMax, .cpuMax, .pidsMax, .spaceMax, .inodesMax,
    ]
    /// Bytes from here up are "no limit": cgroup v1 reports its unlimited as 0x7FFFFFFFFFFFF000.
    private static let unlimitedBytes: UInt64 = 1 << 60

    init(directory: String, root: String, readFile: @escaping ReadFile) {
        self.directory = directory
        self.root = root
        self.readFile = readFile
    }

    mutating func read(into settings: inout ResourceSettings) throws(ConfigError) {
        try readNice()
        try readSched()
        try readCPUSet()
        try readRLimits()
        try readDiskLimits()
        try readCgroup()
        try resolve(into: &settings)
    }

    // MARK: Files

    private mutating func readNice() throws(ConfigError) {
        guard let (file, text) = try line("nice"), !text.isEmpty else { return }
        guard let nice = Int64(text) else {
            throw ConfigError(
                file: file, line: 1, message: "expected a nice level from -20 to 19, found \(quoted(text))")
        }
        let level = Int(max(-20, min(19, nice)))
        guard level != 0 else { return }
        // The kernel's sched_prio_to_weight, and its conversion to cpu.weight (100 is nice 0's 1024).
        let weights: [UInt64] = [
            88761, 71755, 56483, 46273, 36291, 29154, 23254, 18705, 14949, 11916,
            9548, 7620, 6100, 4904, 3906, 3121, 2501, 1991, 1586, 1277,
            1024, 820, 655, 526, 423, 335, 272, 215, 172, 137,
            110, 87, 70, 56, 45, 36, 29, 23, 18, 15,
        ]
        let weight = max(1, min(10_000, (weights[level + 20] * 100 + 512) / 1024))
        offer(.cpuWeight, .amount(weight), file, because: "nice \(nice)")
    }

    private mutating func readSched() throws(ConfigError) {
        let schedule = path("schedule")
        guard let names = try names(in: "sched") else {
            guard let (file, text) = try readFile("schedule") else { return }
            // vserver's older form: fill rate, interval, tokens, minimum, maximum, priority bias, one a line.
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { trimmed($0) }
            var values: [Int64] = []
            for (index, name) in ["fill rate", "interval"].enumerated() {
                let text = index < lines.count ? lines[index] : ""
                guard let value = Self.integer(text) else {
                    throw ConfigError(
                        file: file, line: index + 1, message: "expected the \(name), found \(quoted(text))")
                }
                values.append(value)
            }
            try offerCPUShare(fillRate: (file, values[0]), interval: (file, values[1]))
            return
        }
        if FileSystem.exists(schedule) { warn(schedule, "ignored: util-vserver reads sched/ instead") }
        var fillRate: (file: String, value: Int64)?
        var interval: (file: String, value: Int64)?
        for name in names {
            switch name {
            case "fill-rate": fillRate = try integer("sched/fill-rate")
            case "interval": interval = try integer("sched/interval")
            default: warn(path("sched/\(name)"), "ignored: vserverd has no equivalent")
            }
        }
        if let fillRate, let interval {
            try offerCPUShare(fillRate: fillRate, interval: interval)
        } else if let (file, _) = fillRate ?? interval {
            let missing = fillRate == nil ? "sched/fill-rate" : "sched/interval"
            warn(file, "ignored: without \(missing) the share of a CPU is unknown")
        }
    }

    /// The token bucket gives fill-rate tokens, one tick of one CPU each, every interval ticks.
    private mutating func offerCPUShare(fillRate: (file: String, value: Int64), interval: (file: String, value: Int64))
        throws(ConfigError)
    {
        guard fillRate.value >= 0 else {
            throw ConfigError(file: fillRate.file, line: 1, message: "the fill rate must not be negative")
        }
        guard interval.value > 0 else {
            throw ConfigError(
                file: interval.file, line: fillRate.file == interval.file ? 2 : 1,
                message: "the interval must be at least 1")
        }
        let percent = Self.hundredfold(UInt64(fillRate.value), per: UInt64(interval.value), rounded: false)
        offer(.cpuMax, .amount(max(1, min(ResourceKey.cpuPercentRange.upperBound, percent))), fillRate.file,
              because: "fill-rate \(fillRate.value) / interval \(interval.value)")
    }

    private mutating func readCPUSet() throws(ConfigError) {
        guard let names = try names(in: "cpuset") else { return }
        for name in names {
            let file = path("cpuset/\(name)")
            switch name {
            case "name", "nocreate":
                continue
            case "cpus":
                if !names.contains("name") {
                    warn(file, "ignored: util-vserver uses cpuset/ only with cpuset/name")
                } else if names.contains("nocreate") {
                    warn(file, "ignored: with cpuset/nocreate util-vserver used the cpuset as it was")
                } else if let (file, cpus) = try line("cpuset/cpus"), !cpus.isEmpty {
                    offer(.cpuset, .cpus(cpus), file)
                }
            default:
                warn(file, "ignored: vserverd has no equivalent")
            }
        }
    }

    private mutating func readRLimits() throws(ConfigError) {
        guard let names = try names(in: "rlimits") else { return }
        // vlimit's names.
        let known = [
            "cpu", "fsize", "data", "stack", "core", "rss", "nproc", "nofile", "memlock", "as", "locks", "msgqueue",
            "nsock", "openfd", "anon", "shmem", "semary", "nsems", "dentry",
        ]
        var limits: [String: RLimit] = [:]
        for name in names {
            let file = path("rlimits/\(name)")
            let parts = name.split(separator: ".", maxSplits: 1).map(String.init)
            let kind = parts.count == 2 ? parts[1] : ""
            guard known.contains(parts[0]), ["", "min", "soft", "hard"].contains(kind) else {
                warn(file, "not a limit util-vserver knows; ignored")
                continue
            }
            guard ["rss", "as", "nproc"].contains(parts[0]), kind != "min" else {
                warn(file, "ignored: vserverd has no equivalent")
                continue
            }
            guard let (file, text) = try readFile("rlimits/\(name)") else { continue }
            let value = (value: try UtilVServerConfig.limitValue(text, file: file), file: file)
            var limit = limits[parts[0]] ?? RLimit()
            switch kind {
            case "soft": limit.soft = value
            case "hard": limit.hard = value
            default: limit.base = value
            }
            limits[parts[0]] = limit
        }
        let pageSize = UInt64(sysconf(Int32(_SC_PAGESIZE)))
        func bytes(_ pages: UInt64) -> UInt64? {
            let (product, overflow) = pages.multipliedReportingOverflow(by: pageSize)
            return overflow || product >= Self.unlimitedBytes ? nil : product
        }
        if let nproc = limits["nproc"] {
            if let (value, file) = nproc.hardLimit {
                let tasks = value > VServerConfig.pidsMaxRange.upperBound ? nil : value
                offer(.pidsMax, .amount(tasks), file)
            }
            if let (value, file) = nproc.soft, value != nproc.hardLimit?.value {
                warn(file, "ignored: pids-max has no soft limit")
            }
        }
        let rss = limits["rss"]
        if let (pages, file) = rss?.hardLimit { offer(.memoryMax, .amount(bytes(pages)), file) }
        if let (pages, file) = rss?.softLimit, pages != rss?.hardLimit?.value {
            if let hard = rss?.hardLimit, pages > hard.value {
                warn(file, "ignored: above the hard limit")
            } else {
                offer(.memoryHigh, .amount(bytes(pages)), file)
            }
        }
        if let addressSpace = limits["as"] {
            if let (pages, file) = addressSpace.hardLimit {
                if let (rssPages, rssFile) = rss?.hardLimit, bytes(rssPages) != nil {
                    warn(file, "ignored: \(relative(rssFile)) sets memory-max")
                } else {
                    offer(.memoryMax, .amount(bytes(pages)), file,
                          because: "the limit of the address space, \(pages) pages, not of the memory in use")
                }
            }
            if let (value, file) = addressSpace.soft, value != addressSpace.hardLimit?.value {
                warn(file, "ignored: vserverd has no equivalent")
            }
        }
    }

    /// An rlimit's files: NAME sets both halves; NAME.soft and NAME.hard override one.
    private struct RLimit {
        var base: (value: UInt64, file: String)?
        var soft: (value: UInt64, file: String)?
        var hard: (value: UInt64, file: String)?
        var hardLimit: (value: UInt64, file: String)? { hard ?? base }
        var softLimit: (value: UInt64, file: String)? { soft ?? base }
    }

    private mutating func readDiskLimits() throws(ConfigError) {
        guard let names = try names(in: "dlimits") else { return }
        for name in names {
            let relative = "dlimits/\(name)"
            guard (try? FileSystem.status(path(relative)))?.isDirectory == true,
                  !FileSystem.exists(path("\(relative)/disabled"))
            else { continue }
            guard let (_, directory) = try line("\(relative)/directory"),
                  let space = try integer("\(relative)/space_total"),
                  let inodes = try integer("\(relative)/inodes_total"),
                  let reserved = try integer("\(relative)/reserved")
            else {
                warn(path(relative), "ignored: util-vserver applies a disk limit only with directory, space_total, "
                        + "inodes_total and reserved")
                continue
            }
            guard directory == root || (try? FileSystem.realPath(directory)) == root else {
                warn(path(relative), "ignored: a limit on \(directory), not on the root \(root)")
                continue
            }
            // vdlimit's numbers are 32 bits; all ones (-1) is no limit.
            func amount(_ value: Int64) -> UInt64? { value < 0 || value >= 0xFFFF_FFFF ? nil : UInt64(value) }
            offer(.spaceMax, .amount(amount(space.value).map { $0 * 1024 }), space.file)
            offer(.inodesMax, .amount(amount(inodes.value)), inodes.file)
            if reserved.value != 0 { warn(reserved.file, "ignored: vserverd has no equivalent") }
        }
    }

    private mutating func readCgroup() throws(ConfigError) {
        guard let names = try names(in: "cgroup") else { return }
        var memory: UInt64?
        for name in names {
            let file = path("cgroup/\(name)")
            switch name {
            // util-vserver's own settings, not files of the cgroup.
            case "name", "mnt", "subsys", "inherit", "base", "per-ss":
                continue
            case "memory.limit_in_bytes":
                memory = try bytes("cgroup/\(name)")
                offer(.memoryMax, .amount(memory), file)
            case "memory.soft_limit_in_bytes":
                offer(.memoryHigh, .amount(try bytes("cgroup/\(name)")), file)
            case "memory.memsw.limit_in_bytes":
                continue  // After memory.limit_in_bytes, below.
            case "cpu.shares":
                guard let (file, shares) = try integer("cgroup/\(name)") else { continue }
                guard shares >= 0 else {
                    throw ConfigError(file: file, line: 1, message: "cpu.shares must not be negative")
                }
                let weight = max(1, min(10_000, Self.hundredfold(UInt64(shares), per: 1024, rounded: true)))
                offer(.cpuWeight, .amount(weight), file,
                      because: Self.isHundredfold(weight, of: UInt64(shares), per: 1024)
                          ? nil : "cpu.shares \(shares) × 100 / 1024")
            case "cpu.cfs_quota_us":
                try readCPUQuota()
            case "cpu.cfs_period_us":
                if !names.contains("cpu.cfs_quota_us") {
                    warn(file, "ignored: without cpu.cfs_quota_us it limits nothing")
                }
            case "cpuset.cpus":
                if let (file, cpus) = try line("cgroup/\(name)"), !cpus.isEmpty { offer(.cpuset, .cpus(cpus), file) }
            case "pids.max":
                guard let (file, text) = try line("cgroup/\(name)"), !text.isEmpty else { continue }
                guard text != "max" else {
                    offer(.pidsMax, .amount(nil), file)
                    continue
                }
                guard let tasks = UInt64(text) else {
                    throw ConfigError(
                        file: file, line: 1, message: "expected a number or \"max\", found \(quoted(text))")
                }
                offer(.pidsMax, .amount(tasks > VServerConfig.pidsMaxRange.upperBound ? nil : tasks), file)
            case "blkio.weight":
                guard let (file, weight) = try integer("cgroup/\(name)") else { continue }
                let blkio = UInt64(max(10, min(1000, weight)))
                let io = Self.ioWeight(blkio: blkio)
                offer(.ioWeight, .amount(io), file,
                      because: Self.blkioWeight(io) == weight ? nil : "blkio.weight \(weight) of 10 to 1000")
            default:
                warn(file, "ignored: vserverd has no equivalent")
            }
        }
        guard names.contains("memory.memsw.limit_in_bytes") else { return }
        let relative = "cgroup/memory.memsw.limit_in_bytes"
        guard let both = try bytes(relative) else { return }
        guard let memory else {
            warn(path(relative), "ignored: without memory.limit_in_bytes vserverd has no equivalent")
            return
        }
        let swap = both > memory ? both - memory : 0
        offer(.swapMax, .amount(swap), path(relative),
              because: "memory.memsw.limit_in_bytes \(ResourceKey.bytes(both)) − memory.limit_in_bytes "
                  + ResourceKey.bytes(memory))
    }

    /// cpu.cfs_quota_us (-1: none) per cpu.cfs_period_us (100000 when not given), as a share of one CPU.
    private mutating func readCPUQuota() throws(ConfigError) {
        guard let (file, quota) = try integer("cgroup/cpu.cfs_quota_us"), quota >= 0 else { return }
        var period: Int64 = 100_000
        if let (periodFile, value) = try integer("cgroup/cpu.cfs_period_us") {
            guard value > 0 else {
                throw ConfigError(file: periodFile, line: 1, message: "cpu.cfs_period_us must be at least 1")
            }
            period = value
        }
        let rounded = Self.hundredfold(UInt64(quota), per: UInt64(period), rounded: true)
        let percent = max(1, min(ResourceKey.cpuPercentRange.upperBound, rounded))
        let because = "cpu.cfs_quota_us \(quota) / cpu.cfs_period_us \(period)"
        offer(.cpuMax, .amount(percent), file,
              because: Self.isHundredfold(percent, of: UInt64(quota), per: UInt64(period)) ? nil : because)
    }

    /// `value` × 100 / `per` (`per` > 0), rounded to the nearest or down, at full width: the numbers come from
    /// files and go up to Int64.max, where × 100 overflows (a trap in the daemon). A quotient beyond 64 bits is
    /// UInt64.max; the callers clamp it.
    private static func hundredfold(_ value: UInt64, per: UInt64, rounded: Bool) -> UInt64 {
        let product = value.multipliedFullWidth(by: 100)
        let (low, carry) = product.low.addingReportingOverflow(rounded ? per / 2 : 0)
        let high = product.high + (carry ? 1 : 0)
        return high >= per ? .max : per.dividingFullWidth((high, low)).quotient
    }

    /// Whether `result` × `per` is exactly `value` × 100: the mapping lost nothing.
    private static func isHundredfold(_ result: UInt64, of value: UInt64, per: UInt64) -> Bool {
        result.multipliedFullWidth(by: per) == value.multipliedFullWidth(by: 100)
    }

    /// blkio.weight 10..1000 (default 500) back to io.weight 1..10000 (default 100): the lowest weight that
    /// `blkioWeight` writes as `blkio`, or as near to it as any.
    package static func ioWeight(blkio: UInt64) -> UInt64 {
        let estimate = blkio <= 500 ? 1 + ((blkio - 10) * 99 + 245) / 490 : 100 + ((blkio - 500) * 9900 + 250) / 500
        let candidates = [estimate - 1, estimate, estimate + 1].filter { (1...10_000).contains($0) }
        return candidates.min { blkioWeight($0).distance(to: Int64(blkio)).magnitude
            < blkioWeight($1).distance(to: Int64(blkio)).magnitude }!
    }

    /// How vserverd writes io-weight to blkio.weight (VServerCore's CgroupLimits.blkioWeight).
    package static func blkioWeight(_ weight: UInt64) -> Int64 {
        if weight <= 100 { return Int64(10 + (weight - 1) * 490 / 99) }
        return Int64(500 + (weight - 100) * 500 / 9900)
    }

    // MARK: Choosing

    private mutating func offer(_ key: ResourceKey, _ value: Value, _ file: String, because: String? = nil) {
        // No limit is the default but for pids-max.
        if value == .amount(nil) && key != .pidsMax { return }
        offers[key, default: []].append(Offer(value: value, file: file, source: relative(file), because: because))
    }

    private mutating func resolve(into settings: inout ResourceSettings) throws(ConfigError) {
        for key in ResourceKey.allCases {
            guard let offers = offers[key], !offers.isEmpty else { continue }
            let lowerWins = Self.lowerWins.contains(key)
            func amount(_ offer: Offer) -> UInt64 {
                if case .amount(let value) = offer.value { return value ?? .max }
                return .max
            }
            let chosen = lowerWins
                ? offers.indices.min { (amount(offers[$0]), offers[$0].because == nil ? 0 : 1, $0)
                    < (amount(offers[$1]), offers[$1].because == nil ? 0 : 1, $1) }!
                : offers.count - 1
            let winner = offers[chosen]
            let literal = try set(key, winner, in: &settings)
            if let because = winner.because {
                warn(winner.file, "approximated as \(key.rawValue) = \(literal) (\(because))")
            }
            for (index, offer) in offers.enumerated() where index != chosen {
                let relation = !lowerWins ? "" : offer.value == winner.value ? "the same " : "a lower "
                warn(offer.file, "ignored: \(winner.source) sets \(relation)\(key.rawValue) = \(literal)")
            }
        }
    }

    /// Sets `key` as vserver.toml would: the same checks, so the file `import` writes reads back the same.
    private func set(_ key: ResourceKey, _ offer: Offer, in settings: inout ResourceSettings) throws(ConfigError)
        -> String
    {
        let kind: TOMLValue.Kind
        switch offer.value {
        case .cpus(let cpus): kind = .string(cpus)
        case .amount(nil): kind = .string("max")
        case .amount(let value?): kind = key == .cpuMax ? .string("\(value)%") : .integer(Int64(clamping: value))
        }
        if let problem = key.read(TOMLValue(kind, line: 1, column: 1), into: &settings) {
            throw ConfigError(file: offer.file, line: 1, message: "as \(key.path): \(problem)")
        }
        return key.literal(key.describe(settings) ?? "max")
    }

    // MARK: Reading

    /// An integer as C's strtol reads it (0x…, 0…) on the first line; nil when the file is missing.
    private func integer(_ relative: String) throws(ConfigError) -> (file: String, value: Int64)? {
        guard let (file, text) = try line(relative) else { return nil }
        guard let value = Self.integer(text) else {
            throw ConfigError(file: file, line: 1, message: "expected an integer, found \(quoted(text))")
        }
        return (file, value)
    }

    static func integer(_ text: String) -> Int64? {
        var digits = Substring(text)
        let negative = digits.hasPrefix("-")
        if negative || digits.hasPrefix("+") { digits = digits.dropFirst() }
        let magnitude: Int64?
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") {
            magnitude = Int64(digits.dropFirst(2), radix: 16)
        } else if digits.count > 1 && digits.hasPrefix("0") {
            magnitude = Int64(digits.dropFirst(), radix: 8)
        } else {
            magnitude = digits.allSatisfy(\.isASCIIDigit) ? Int64(digits) : nil
        }
        return magnitude.map { negative ? -$0 : $0 }
    }

    /// A cgroup v1 memory file: bytes with an optional K, M, G, T, P or E (powers of 1024, either case) or -1.
    private func bytes(_ relative: String) throws(ConfigError) -> UInt64? {
        guard let (file, text) = try line(relative), !text.isEmpty, text != "-1" else { return nil }
        var digits = Substring(text)
        var shift: UInt64 = 0
        if let last = digits.last?.uppercased(), let index = ["K", "M", "G", "T", "P", "E"].firstIndex(of: last) {
            shift = UInt64(index + 1) * 10
            digits = digits.dropLast()
        }
        guard digits.allSatisfy(\.isASCIIDigit), let value = UInt64(digits) else {
            throw ConfigError(file: file, line: 1, message: "expected a number of bytes or -1, found \(quoted(text))")
        }
        guard value < Self.unlimitedBytes >> shift else { return nil }
        return value << shift
    }
}
