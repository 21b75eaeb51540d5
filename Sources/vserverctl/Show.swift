import ArgumentParser
import Glibc
import VServerCLI
import VServerProtocol

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a vserver's limits and what it uses.",
        discussion: "Limits are those in force while it runs (its config's, as changed by `set`), else its config's: "
            + "[resources] and [disk] keys as vserver.toml writes them. Usage is what its cgroups count: CPU time "
            + "(user and system), memory and its peak, tasks, bytes read and written, and disk space against its "
            + "quota.")

    @Argument(help: "Name or context id.", completion: .vserverNames)
    var name: String

    @Flag(help: "Print the Varlink reply as JSON: {\"vserver\": {...}, \"limits\": [...]}.")
    var json = false

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let reply: ResourcesReply
        do { reply = try connection.manager.resources(name) } catch {
            printError("show \(name)", CommandFailure(error))
            throw ExitCode.failure
        }
        if json {
            print(JSON.object(reply.parameters).serialized())
            return
        }
        Self.show(reply)
    }

    static func show(_ reply: ResourcesReply) {
        let info = reply.vserver
        print("\(info.name) (context \(info.context)): \(info.state)")
        var rows: [[String]] = reply.limits.map { ["  \($0.key)", $0.value] }
        if rows.isEmpty { rows = [["  limits", "none"]] }
        for (label, value) in usageLines(info) { rows.append(["  \(label)", value]) }
        printTable(rows)
    }

    /// What it uses, as far as it is known.
    static func usageLines(_ info: VServerInfo) -> [(String, String)] {
        var lines: [(String, String)] = []
        if let user = info.cpuUserSeconds, let system = info.cpuSystemSeconds {
            lines.append(("cpu", "\(seconds(user)) user, \(seconds(system)) system"))
        }
        if let memory = info.memoryBytes {
            let peak = info.memoryPeakBytes.map { ", peak \(humanBytes($0))" } ?? ""
            lines.append(("memory", humanBytes(memory) + peak))
        }
        if let processes = info.processes { lines.append(("tasks", "\(processes)")) }
        if let read = info.ioReadBytes, let written = info.ioWriteBytes {
            lines.append(("io", "\(humanBytes(read)) read, \(humanBytes(written)) written"))
        }
        if let disk = info.diskBytes {
            lines.append(("disk", humanBytes(disk) + (info.diskLimitBytes.map { " of \(humanBytes($0))" } ?? "")))
        }
        return lines
    }

    /// 3.25 → "3.25s", 125 → "2m05s".
    static func seconds(_ value: Double) -> String {
        value < 60 ? String(Double(Int(value * 100)) / 100) + "s" : humanDuration(time_t(value))
    }
}
