import Glibc
import ArgumentParser
import VServerProtocol

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make vserverd re-read the config directory (as SIGHUP does).",
        discussion: "Running vservers keep running; a changed config applies at their next start.")

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let reply: [String: JSON]
        do { reply = try connection.call("Reload") } catch {
            printError("reload", error)
            throw ExitCode.failure
        }
        for key in ["added", "removed", "changed"] {
            let names = reply[key]?.arrayValue?.compactMap(\.stringValue) ?? []
            if !names.isEmpty { print("\(key): \(names.joined(separator: " "))") }
        }
    }
}

struct Monitor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print every state change as it happens: NAME STATE [REASON]. Runs until interrupted.")

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        do {
            let client = try VarlinkClient(path: connection.socketPath)
            var replies = try client.callMore(ManagerMethod.monitor, [:])
            while let parameters = try replies.next() {
                var line = "\(parameters["name"]?.stringValue ?? "?") \(parameters["state"]?.stringValue ?? "?")"
                if let reason = parameters["reason"]?.stringValue { line += " \(reason)" }
                print(line)
                fflush(nil)
            }
        } catch {
            printError("monitor", CommandFailure(error))
            throw ExitCode.failure
        }
    }
}
