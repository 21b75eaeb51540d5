import VServerProtocol

/// What `vserverctl top` sorts by; on a terminal a key picks it.
public enum TopSort: String, CaseIterable, Sendable {
    case cpu, memory, tasks, io, name

    /// The sort a key picks (c, m, t, i, n), nil for any other key.
    public init?(key: UInt8) {
        guard let sort = Self.allCases.first(where: { $0.key == key }) else { return nil }
        self = sort
    }

    public var key: UInt8 { rawValue.utf8.first ?? 0 }
}

/// One `List` reply and when it came, in seconds of CLOCK_MONOTONIC.
public struct TopSample: Sendable {
    public var vservers: [VServerInfo]
    public var time: Double

    public init(vservers: [VServerInfo], time: Double) {
        self.vservers = vservers
        self.time = time
    }
}

/// A running guest's line: its counts now, and its rates between two samples (nil where either sample lacks the
/// counter, on the first sample, or when the guest started again in between: its counters began anew).
public struct TopRow: Sendable, Equatable {
    public var name: String
    public var context: Int
    public var tasks: Int?
    /// User + system time per wall time, 100 = one CPU.
    public var cpuPercent: Double?
    public var memoryBytes: Int?
    public var memoryPeakBytes: Int?
    public var ioReadBytesPerSecond: Double?
    public var ioWriteBytesPerSecond: Double?

    public init(name: String, context: Int, tasks: Int? = nil, cpuPercent: Double? = nil, memoryBytes: Int? = nil,
                memoryPeakBytes: Int? = nil, ioReadBytesPerSecond: Double? = nil,
                ioWriteBytesPerSecond: Double? = nil) {
        self.name = name
        self.context = context
        self.tasks = tasks
        self.cpuPercent = cpuPercent
        self.memoryBytes = memoryBytes
        self.memoryPeakBytes = memoryPeakBytes
        self.ioReadBytesPerSecond = ioReadBytesPerSecond
        self.ioWriteBytesPerSecond = ioWriteBytesPerSecond
    }

    /// The running guests of `current`, with rates from `previous` (nil: the first sample), in `current`'s order.
    public static func rows(from previous: TopSample?, to current: TopSample) -> [TopRow] {
        var before: [String: VServerInfo] = [:]
        for info in previous?.vservers ?? [] where info.state == .running { before[info.name] = info }
        let elapsed = previous.map { current.time - $0.time } ?? 0
        return current.vservers.filter { $0.state == .running }.map { info in
            var row = TopRow(name: info.name, context: info.context, tasks: info.processes,
                             memoryBytes: info.memoryBytes, memoryPeakBytes: info.memoryPeakBytes)
            guard elapsed > 0, let old = before[info.name], old.pid == info.pid, old.startedAt == info.startedAt
            else { return row }
            func rate(_ now: Double?, _ then: Double?) -> Double? {
                guard let now, let then, now >= then else { return nil }
                return (now - then) / elapsed
            }
            row.cpuPercent = rate(info.cpuSeconds, old.cpuSeconds).map { $0 * 100 }
            row.ioReadBytesPerSecond = rate(info.ioReadBytes.map(Double.init), old.ioReadBytes.map(Double.init))
            row.ioWriteBytesPerSecond = rate(info.ioWriteBytes.map(Double.init), old.ioWriteBytes.map(Double.init))
            return row
        }
    }

    /// Bytes read and written per second, the `io` sort's key.
    var ioBytesPerSecond: Double? {
        guard ioReadBytesPerSecond != nil || ioWriteBytesPerSecond != nil else { return nil }
        return (ioReadBytesPerSecond ?? 0) + (ioWriteBytesPerSecond ?? 0)
    }

    /// Largest first (names A to Z for `.name`); rows without the figure go last; ties by name.
    public static func sorted(_ rows: [TopRow], by sort: TopSort) -> [TopRow] {
        func key(_ row: TopRow) -> Double? {
            switch sort {
            case .cpu: row.cpuPercent
            case .memory: row.memoryBytes.map(Double.init)
            case .tasks: row.tasks.map(Double.init)
            case .io: row.ioBytesPerSecond
            case .name: nil
            }
        }
        return rows.sorted { left, right in
            let (a, b) = (key(left), key(right))
            if a != b, sort != .name {
                guard let a else { return false }
                guard let b else { return true }
                return a > b
            }
            return (left.name, left.context) < (right.name, right.context)
        }
    }

    /// The row as `top --json` prints it; figures that are not known are left out.
    public var json: JSON {
        var fields: [String: JSON] = ["name": .string(name), "context": JSON(context)]
        fields["tasks"] = tasks.map { JSON($0) }
        fields["cpuPercent"] = cpuPercent.map(JSON.double)
        fields["memoryBytes"] = memoryBytes.map { JSON($0) }
        fields["memoryPeakBytes"] = memoryPeakBytes.map { JSON($0) }
        fields["ioReadBytesPerSecond"] = ioReadBytesPerSecond.map(JSON.double)
        fields["ioWriteBytesPerSecond"] = ioWriteBytesPerSecond.map(JSON.double)
        return .object(fields)
    }

    /// One refresh as `top --json` prints it: {"vservers": [...]}, one line.
    public static func json(_ rows: [TopRow]) -> String {
        JSON.object(["vservers": .array(rows.map(\.json))]).serialized()
    }
}

/// The host's figures in top's header: load average (/proc/loadavg) and memory (/proc/meminfo).
public struct TopHost: Sendable, Equatable {
    /// 1, 5 and 15 minutes.
    public var loadAverage: [Double]?
    public var memoryTotalBytes: Int?
    public var memoryAvailableBytes: Int?

    public init(loadAverage: [Double]? = nil, memoryTotalBytes: Int? = nil, memoryAvailableBytes: Int? = nil) {
        self.loadAverage = loadAverage
        self.memoryTotalBytes = memoryTotalBytes
        self.memoryAvailableBytes = memoryAvailableBytes
    }

    /// From the text of /proc/loadavg ("0.52 0.40 0.31 1/123 4567") and /proc/meminfo ("MemTotal: 8056 kB"); what
    /// is missing or unreadable stays nil.
    public init(loadavg: String?, meminfo: String?) {
        let loads = (loadavg ?? "").split(separator: " ").prefix(3).compactMap { Double($0) }
        loadAverage = loads.count == 3 ? loads : nil
        func kilobytes(_ key: String) -> Int? {
            for line in (meminfo ?? "").split(separator: "\n") where line.hasPrefix(key + ":") {
                let fields = line.dropFirst(key.count + 1).split(separator: " ")
                guard fields.count == 2, fields[1] == "kB", let value = Int(fields[0]) else { return nil }
                return value * 1024
            }
            return nil
        }
        memoryTotalBytes = kilobytes("MemTotal")
        memoryAvailableBytes = kilobytes("MemAvailable")
    }
}
