import ArgumentParser
import VServerProtocol

struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop vservers.",
        discussion: "Runs pre-stop hooks, sends the configured stop-signal to PID 1, waits up to stop-timeout "
            + "seconds, then SIGKILL (which ends every process of the vserver), then runs post-stop hooks.")

    @Argument(help: "Vservers to stop (names or context ids).", completion: .vserverNames)
    var names: [String] = []

    @Flag(help: "Stop every running vserver, dependents first.")
    var all = false

    @Option(help: "Seconds to wait after the stop-signal before SIGKILL (default: the vserver's stop-timeout).")
    var timeout: Int?

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        if all != names.isEmpty { throw ValidationError("give vserver names or --all") }
        if all && timeout != nil { throw ValidationError("--timeout goes with names, not --all") }
        if let timeout, timeout < 0 { throw ValidationError("--timeout must not be negative") }
    }

    func run() throws {
        if all {
            try runBatch("stop") { () throws(ManagerError) in try connection.manager.stopAll() }
            return
        }
        try Self.stop(names, timeout: timeout, connection.manager)
    }

    /// `stop NAME… [--timeout S]`; FastPath runs it without parsing.
    static func stop(_ names: [String], timeout: Int?, _ manager: ManagerClient) throws {
        try forEachName("stop", names) { name throws(ManagerError) in
            _ = try manager.stop(name, timeout: timeout)
        }
    }
}
