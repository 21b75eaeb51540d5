/// `[resources]` and `[disk]` of vserver.toml (docs/ARCHITECTURE.md §4): the guest's cgroup limits and its disk
/// quota. nil is "no limit" ("max" in the file) everywhere.
public struct ResourceSettings: Sendable, Equatable {
    public var memoryMax: UInt64?
    /// Throttling threshold (cgroup v2 memory.high); the soft limit on cgroup v1.
    public var memoryHigh: UInt64?
    public var swapMax: UInt64?
    /// Bandwidth in percent of one CPU: 150 is 1.5 CPUs.
    public var cpuMaxPercent: UInt64?
    public var cpuWeight: UInt64?
    /// CPUs as the kernel lists them ("0-1,3").
    public var cpuset: String?
    /// A fork bomb stops here; the default of every guest.
    public var pidsMax: UInt64? = VServerConfig.defaultPidsMax
    public var ioWeight: UInt64?
    /// Binds lxcfs's /proc files, so that free and top inside show the guest's limits.
    public var lxcfs = false
    public var diskSpaceMax: UInt64?
    public var diskInodesMax: UInt64?

    public init() {}

    /// The limits as the file names them, unset ones left out, for `show`.
    public var described: [(key: ResourceKey, value: String)] {
        ResourceKey.allCases.compactMap { key in key.describe(self).map { (key, $0) } }
    }
}

/// A key of `[resources]` or `[disk]`: how it reads, what it takes, where it goes.
public enum ResourceKey: String, Sendable, CaseIterable {
    case memoryMax = "memory-max"
    case memoryHigh = "memory-high"
    case swapMax = "swap-max"
    case cpuMax = "cpu-max"
    case cpuWeight = "cpu-weight"
    case cpuset
    case pidsMax = "pids-max"
    case ioWeight = "io-weight"
    case lxcfs
    case spaceMax = "space-max"
    case inodesMax = "inodes-max"

    public var table: String {
        switch self {
        case .spaceMax, .inodesMax: "disk"
        default: "resources"
        }
    }

    /// "resources.memory-max": how errors and `set` name it.
    public var path: String { "\(table).\(rawValue)" }

    static let weightRange: ClosedRange<UInt64> = 1...10_000
    static let inodesRange: ClosedRange<UInt64> = 1...(1 << 32)
    /// A CPU-max above 1000 CPUs is surely a typo.
    static let cpuPercentRange: ClosedRange<UInt64> = 1...100_000

    /// The key's table and name in a `set` argument: "memory-max" or "resources.memory-max".
    public static func named(_ name: String) -> ResourceKey? {
        allCases.first { $0.rawValue == name || $0.path == name }
    }

    static func keys(in table: String) -> [String] {
        allCases.filter { $0.table == table }.map(\.rawValue)
    }

    /// Reads `value` into `settings`; the problem in words when it is not one this key takes.
    public func read(_ value: TOMLValue, into settings: inout ResourceSettings) -> String? {
        switch self {
        case .memoryMax: return Self.size(value) { settings.memoryMax = $0 }
        case .memoryHigh: return Self.size(value) { settings.memoryHigh = $0 }
        // No swap at all is a limit too.
        case .swapMax: return Self.size(value, allowsZero: true) { settings.swapMax = $0 }
        case .spaceMax: return Self.size(value) { settings.diskSpaceMax = $0 }
        case .cpuMax: return Self.percent(value) { settings.cpuMaxPercent = $0 }
        case .cpuWeight: return Self.number(value, Self.weightRange, allowsMax: false) { settings.cpuWeight = $0 }
        case .ioWeight: return Self.number(value, Self.weightRange, allowsMax: false) { settings.ioWeight = $0 }
        case .pidsMax: return Self.number(value, VServerConfig.pidsMaxRange, allowsMax: true) { settings.pidsMax = $0 }
        case .inodesMax: return Self.number(value, Self.inodesRange, allowsMax: true) { settings.diskInodesMax = $0 }
        case .cpuset:
            guard case .string(let text) = value.kind else {
                return "expected a string of CPUs such as \"0-1,3\", found \(value.typeDescription)"
            }
            if text == "all" || text.isEmpty {
                settings.cpuset = nil
                return nil
            }
            guard CPUList(text) != nil else {
                return "must list CPUs as the kernel does (\"0-1,3\"), or be \"all\", not \(quoted(text))"
            }
            settings.cpuset = text
            return nil
        case .lxcfs:
            guard case .boolean(let flag) = value.kind else {
                return "expected a boolean, found \(value.typeDescription)"
            }
            settings.lxcfs = flag
            return nil
        }
    }

    /// Back to what a file without the key gives.
    public func reset(in settings: inout ResourceSettings) {
        let defaults = ResourceSettings()
        switch self {
        case .memoryMax: settings.memoryMax = defaults.memoryMax
        case .memoryHigh: settings.memoryHigh = defaults.memoryHigh
        case .swapMax: settings.swapMax = defaults.swapMax
        case .cpuMax: settings.cpuMaxPercent = defaults.cpuMaxPercent
        case .cpuWeight: settings.cpuWeight = defaults.cpuWeight
        case .cpuset: settings.cpuset = defaults.cpuset
        case .pidsMax: settings.pidsMax = defaults.pidsMax
        case .ioWeight: settings.ioWeight = defaults.ioWeight
        case .lxcfs: settings.lxcfs = defaults.lxcfs
        case .spaceMax: settings.diskSpaceMax = defaults.diskSpaceMax
        case .inodesMax: settings.diskInodesMax = defaults.diskInodesMax
        }
    }

    /// The value as the file would have it, nil when unset.
    public func describe(_ settings: ResourceSettings) -> String? {
        switch self {
        case .memoryMax: settings.memoryMax.map(Self.bytes)
        case .memoryHigh: settings.memoryHigh.map(Self.bytes)
        case .swapMax: settings.swapMax.map(Self.bytes)
        case .spaceMax: settings.diskSpaceMax.map(Self.bytes)
        case .cpuMax: settings.cpuMaxPercent.map { "\($0)%" }
        case .cpuWeight: settings.cpuWeight.map(String.init)
        case .ioWeight: settings.ioWeight.map(String.init)
        case .pidsMax: settings.pidsMax.map(String.init) ?? "max"
        case .inodesMax: settings.diskInodesMax.map(String.init)
        case .cpuset: settings.cpuset
        case .lxcfs: settings.lxcfs ? "true" : nil
        }
    }

    /// The TOML literal for a value typed on the command line (`set web memory-max=128M`): integers stay
    /// integers where the key takes them, true/false booleans, anything else a string.
    public func literal(_ text: String) -> String {
        if self == .lxcfs, text == "true" || text == "false" { return text }
        if !text.isEmpty, text.allSatisfy(\.isASCIIDigit), ![.cpuMax, .cpuset].contains(self) { return text }
        return TOML.quote(text)
    }

    /// 512M, 1.5G, 4096 (bytes) or "max". Powers of 1024, as systemd and the kernel read them.
    static func size(_ value: TOMLValue, allowsZero: Bool = false, _ set: (UInt64?) -> Void) -> String? {
        let problem = "must be a size such as \"512M\" (K, M, G, T: powers of 1024), a number of bytes, or \"max\""
        switch value.kind {
        case .integer(let number):
            guard let bytes = UInt64(exactly: number), bytes > 0 || allowsZero else {
                return "\(problem), not \(number)"
            }
            set(bytes)
        case .string(let text):
            if text == "max" || text == "infinity" {
                set(nil)
            } else if let bytes = parseSize(text), bytes > 0 || allowsZero {
                set(bytes)
            } else {
                return "\(problem), not \(quoted(text))"
            }
        default:
            return "expected a size such as \"512M\" or \"max\", found \(value.typeDescription)"
        }
        return nil
    }

    package static func parseSize(_ text: String) -> UInt64? {
        let units: [Character: UInt64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var digits = Substring(text)
        var unit: UInt64 = 1
        if let last = digits.last?.uppercased().first, let scale = units[last] {
            unit = scale
            digits = digits.dropLast()
        }
        let parts = digits.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.allSatisfy(\.isASCIIDigit),
              let integer = UInt64(whole)
        else { return nil }
        let (scaled, overflow) = integer.multipliedReportingOverflow(by: unit)
        guard !overflow else { return nil }
        guard parts.count == 2 else { return scaled }
        let fraction = parts[1]
        guard !fraction.isEmpty, fraction.count <= 6, fraction.allSatisfy(\.isASCIIDigit), unit > 1,
              let numerator = UInt64(fraction)
        else { return nil }
        var denominator: UInt64 = 1
        for _ in fraction { denominator *= 10 }
        return scaled.addingReportingOverflow(numerator * unit / denominator).overflow
            ? nil : scaled + numerator * unit / denominator
    }

    /// 1.5G rather than 1610612736: the largest unit that keeps it exact to a tenth.
    package static func bytes(_ value: UInt64) -> String {
        for (unit, scale) in [("T", UInt64(1) << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)]
        where value >= scale && (value % scale * 10) % scale == 0 {
            // value * 10 could overflow; its remainder times ten cannot.
            let tenths = value / scale * 10 + value % scale * 10 / scale
            return tenths % 10 == 0 ? "\(tenths / 10)\(unit)" : "\(tenths / 10).\(tenths % 10)\(unit)"
        }
        return String(value)
    }

    /// "150%" or "max".
    static func percent(_ value: TOMLValue, _ set: (UInt64?) -> Void) -> String? {
        let range = cpuPercentRange
        let problem = "must be a share of one CPU such as \"150%\" (1.5 CPUs; \(range.lowerBound)% to "
            + "\(range.upperBound)%), or \"max\""
        guard case .string(let text) = value.kind else {
            return "expected a string such as \"150%\" or \"max\", found \(value.typeDescription)"
        }
        if text == "max" {
            set(nil)
            return nil
        }
        guard text.hasSuffix("%"), let percent = UInt64(text.dropLast()), range.contains(percent) else {
            return "\(problem), not \(quoted(text))"
        }
        set(percent)
        return nil
    }

    static func number(_ value: TOMLValue, _ range: ClosedRange<UInt64>, allowsMax: Bool,
                       _ set: (UInt64?) -> Void) -> String? {
        let problem = "must be an integer from \(range.lowerBound) to \(range.upperBound)"
            + (allowsMax ? " or \"max\"" : "")
        switch value.kind {
        case .integer(let number):
            guard let value = UInt64(exactly: number), range.contains(value) else { return "\(problem), not \(number)" }
            set(value)
        case .string("max") where allowsMax:
            set(nil)
        case .string(let text):
            return "\(problem), not \(quoted(text))"
        default:
            return "expected an integer\(allowsMax ? " or \"max\"" : ""), found \(value.typeDescription)"
        }
        return nil
    }
}

/// A CPU list as the kernel writes them ("0-3,8"): for `cpuset`, checked against the host's CPUs.
package struct CPUList: Equatable {
    package var cpus: Set<Int>

    package init?(_ text: String) {
        var cpus = Set<Int>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(bounds.count),
                  let low = Int(bounds[0]), let high = Int(bounds[bounds.count - 1]),
                  low >= 0, low <= high, high < 8192
            else { return nil }
            cpus.formUnion(low...high)
        }
        self.cpus = cpus
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
