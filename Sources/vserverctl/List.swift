import ArgumentParser
import Glibc
import VServerCLI
import VServerProtocol

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List vservers with their state and resource use (like vserver-stat).",
        discussion: "Columns: NAME CTX STATE PID PROCS RSS CPU UPTIME ROOT. PROCS and RSS count the processes of "
            + "the vserver's pid namespace (under systemd: of its scope vserver-NAME.scope); RSS is the kernel's "
            + "count of its memory cgroup where it has one. CPU is its user + system time, from its cgroup. "
            + "--json also has the memory peak, user and system time, bytes read and written, and disk use where "
            + "they are counted. A vserver whose config is invalid shows as failed; `status NAME` or --json shows "
            + "why.")

    @Flag(help: "Print the Varlink reply as JSON: {\"vservers\": [...]}.")
    var json = false

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        try Self.list(json: json, connection.manager)
    }

    /// `list [--json]`; FastPath runs it without parsing.
    static func list(json: Bool, _ manager: ManagerClient) throws {
        let vservers: [VServerInfo]
        do { vservers = try manager.list() } catch {
            printError("list", CommandFailure(error))
            throw ExitCode.failure
        }
        if json {
            print(JSON.object(ListReply(vservers: vservers).parameters).serialized())
            return
        }
        let now = time(nil)
        var rows = [["NAME", "CTX", "STATE", "PID", "PROCS", "RSS", "CPU", "UPTIME", "ROOT"]]
        for info in vservers {
            rows.append([
                info.name, "\(info.context)", info.state.rawValue, info.pid.map { "\($0)" } ?? "-",
                info.processes.map { "\($0)" } ?? "-", info.memoryBytes.map(humanBytes) ?? "-",
                info.cpuSeconds.map(Show.seconds) ?? "-",
                info.startedAt.flatMap(parseISO8601).map { humanDuration(now - $0) } ?? "-", info.root,
            ])
        }
        printTable(rows)
    }
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
func printTable(_ rows: [[String]]) {
    guard let columns = rows.first?.count else { return }
    let widths = (0..<columns).map { column in rows.map { $0[column].count }.max() ?? 0 }
    for row in rows {
        var line = ""
        for (column, cell) in row.enumerated() {
            line += column == columns - 1 ? cell : cell.padding(to: widths[column] + 2)
        }
        print(line)
    }
}

extension String {
    func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}

/// Seconds → "45s", "12m03s", "5h02m", "3d04h".
func humanDuration(_ seconds: time_t) -> String {
    let s = max(0, Int(seconds))
    func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
    if s < 60 { return "\(s)s" }
    if s < 3600 { return "\(s / 60)m\(two(s % 60))s" }
    if s < 86400 { return "\(s / 3600)h\(two(s % 3600 / 60))m" }
    return "\(s / 86400)d\(two(s % 86400 / 3600))h"
}

/// "2026-11-23T18:30:00Z" (what the daemon sends) → seconds since the epoch.
func parseISO8601(_ text: String) -> time_t? {
    let fields = text.split(whereSeparator: { "-T:Z".contains($0) }).compactMap { Int32($0) }
    guard text.hasSuffix("Z"), fields.count == 6 else { return nil }
    var parts = tm()
    (parts.tm_year, parts.tm_mon, parts.tm_mday) = (fields[0] - 1900, fields[1] - 1, fields[2])
    (parts.tm_hour, parts.tm_min, parts.tm_sec) = (fields[3], fields[4], fields[5])
    return timegm(&parts)
}
