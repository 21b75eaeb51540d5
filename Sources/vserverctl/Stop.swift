import ArgumentParser
import VServerProtocol

struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop vservers.",
        discussion: "Runs pre-stop hooks, sends the configured stop-signal to PID 1, waits up to stop-timeout "
            + "seconds, then SIGKILL (which ends every process of the vserver), then runs post-stop hooks.")

    @Argument(help: "Vservers to stop (names or context ids).")
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
            let reply: [String: JSON]
            do { reply = try connection.call("StopAll") } catch {
                printError("stop", error)
                throw ExitCode.failure
            }
            try reportBatch("stop", reply)
            return
        }
        try Self.stop(names, timeout: timeout, connection.daemon)
    }

    /// `stop NAME… [--timeout S]`; FastPath runs it without parsing.
    static func stop(_ names: [String], timeout: Int?, _ daemon: Daemon) throws {
        try forEachName("stop", names) { name throws(CommandFailure) in
            var parameters: [String: JSON] = ["name": .string(name)]
            if let timeout { parameters["timeout"] = .int(Int64(timeout)) }
            _ = try daemon.call("Stop", parameters)
        }
    }
}

struct Restart: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stop vservers if they run, then start them.")

    @Argument(help: "Vservers to restart (names or context ids).")
    var names: [String]

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        try forEachName("restart", names) { name throws(CommandFailure) in
            _ = try connection.call("Restart", ["name": .string(name)])
        }
    }
}
