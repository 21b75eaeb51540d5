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

    /// After `create` or `import` wrote a config: a running daemon re-reads the directory, so that the next
    /// `start` knows the vserver. Without a daemon (no socket) there is nothing to tell.
    static func tellDaemon(_ connection: ConnectionOptions) {
        guard access(connection.socketPath, F_OK) == 0 else { return }
        do { _ = try connection.call("Reload") } catch {
            printToStandardError("vserverctl: reload: \(error) (run `vserverctl reload` once vserverd runs)")
        }
    }
}

struct Monitor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print every state change as it happens: NAME STATE [REASON]. Runs until interrupted.")

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        do {
            let client = try connection.daemon.connect()
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
