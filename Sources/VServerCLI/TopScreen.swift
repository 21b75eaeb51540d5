/// What one refresh of `vserverctl top` shows, as lines of text: no terminal I/O here, so the layout is tested on
/// its own.
public struct TopScreen: Sendable {
    /// The wall clock, "21:30:05".
    public var clock: String
    public var host: TopHost
    /// The running guests, in the order shown.
    public var rows: [TopRow]
    public var sort: TopSort
    /// Whether to show the keys line (on a terminal, where keys work).
    public var keys: Bool

    public init(clock: String, host: TopHost, rows: [TopRow], sort: TopSort, keys: Bool) {
        self.clock = clock
        self.host = host
        self.rows = rows
        self.sort = sort
        self.keys = keys
    }

    public static let columns = ["NAME", "CTX", "TASKS", "CPU%", "MEM", "PEAK", "READ/s", "WRITE/s"]

    /// The header, the keys line when asked, an empty line, the column titles and the rows; at most `height`
    /// lines (rows that do not fit are left out), each cut to `width` characters. nil: no limit.
    public func lines(width: Int? = nil, height: Int? = nil) -> [String] {
        var lines = [header]
        if keys {
            lines.append("sorted by \(sort.rawValue); keys: c cpu, m memory, t tasks, i io, n name, q quit")
        }
        lines.append("")
        lines += Self.table(rows)
        if let height { lines = Array(lines.prefix(max(0, height))) }
        if let width { lines = lines.map { String($0.prefix(max(0, width))) } }
        return lines
    }

    /// "21:30:05  2 running  load 0.52 0.40 0.31  memory 1.2G available of 3.8G".
    var header: String {
        var line = "\(clock)  \(rows.count) running"
        if let load = host.loadAverage {
            line += "  load " + load.map { Self.fixed($0, decimals: 2) }.joined(separator: " ")
        }
        if let total = host.memoryTotalBytes {
            line += "  memory " + (host.memoryAvailableBytes.map { "\(humanBytes($0)) available of " } ?? "")
                + humanBytes(total)
        }
        return line
    }

    /// The column titles and one line per row: NAME left-aligned, the numbers right-aligned, "-" where unknown.
    static func table(_ rows: [TopRow]) -> [String] {
        let lines: [[String]] = [columns] + rows.map(cells)
        let widths: [Int] = columns.indices.map { column in lines.map { $0[column].count }.max() ?? 0 }
        return lines.map { line in
            line.indices.map { (column: Int) -> String in
                let padding = String(repeating: " ", count: widths[column] - line[column].count)
                return column == 0 ? line[column] + padding : padding + line[column]
            }.joined(separator: "  ")
        }
    }

    private static func cells(_ row: TopRow) -> [String] {
        func cell<Value>(_ value: Value?, _ text: (Value) -> String) -> String { value.map(text) ?? "-" }
        var cells: [String] = [PSColumns.printable(row.name), "\(row.context)"]
        cells.append(cell(row.tasks) { "\($0)" })
        cells.append(cell(row.cpuPercent) { fixed($0, decimals: 1) })
        cells.append(cell(row.memoryBytes, humanBytes))
        cells.append(cell(row.memoryPeakBytes, humanBytes))
        cells.append(cell(row.ioReadBytesPerSecond, rate))
        cells.append(cell(row.ioWriteBytesPerSecond, rate))
        return cells
    }

    private static func rate(_ bytesPerSecond: Double) -> String {
        humanBytes(Int(bytesPerSecond.rounded()))
    }

    /// 99.84 → "99.8" with one decimal; no Foundation for String(format:).
    static func fixed(_ value: Double, decimals: Int) -> String {
        var scale = 1
        for _ in 0..<decimals { scale *= 10 }
        let scaled = Int((abs(value) * Double(scale)).rounded())
        let fraction = String(scaled % scale)
        let digits = decimals == 0 ? "" : "." + String(repeating: "0", count: decimals - fraction.count) + fraction
        return (value < 0 && scaled != 0 ? "-" : "") + "\(scaled / scale)" + digits
    }
}
