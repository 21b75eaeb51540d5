import ArgumentParser
import VServerCLI
import VServerProtocol

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show one vserver's state.",
        discussion: "Exit status: 0 running, 3 not running (stopped, failed, starting, stopping), 4 no such "
            + "vserver, 1 other errors — as LSB init scripts and `systemctl status` do.")

    @Argument(help: "Name or context id.", completion: .vserverNames)
    var name: String

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let info: VServerInfo
        do { info = try connection.manager.get(name) } catch {
            printError("status \(name)", CommandFailure(error))
            if case .noSuchVServer = error { throw ExitCode(4) }
            throw ExitCode.failure
        }
        var line = "\(info.name) (context \(info.context)): \(info.state)"
        if let pid = info.pid { line += ", PID \(pid)" }
        if let startedAt = info.startedAt { line += ", since \(startedAt)" }
        if let processes = info.processes { line += ", \(processes) processes" }
        if let memory = info.memoryBytes { line += ", \(humanBytes(memory))" }
        if let cpu = info.cpuSeconds { line += ", \(Show.seconds(cpu)) CPU" }
        print(line)
        if let reason = info.reason { print("  \(reason)") }
        if info.state != .running { throw ExitCode(3) }
    }
}
