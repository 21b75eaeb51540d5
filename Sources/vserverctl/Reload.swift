import ArgumentParser
import Glibc
import VServerProtocol

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make vserverd re-read the config directory (as SIGHUP does).",
        discussion: "Running vservers keep running; a changed config applies at their next start.")

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let result: ReloadResult
        do { result = try connection.manager.reload() } catch {
            printError("reload", CommandFailure(error))
            throw ExitCode.failure
        }
        for (key, names) in [("added", result.added), ("removed", result.removed), ("changed", result.changed)]
        where !names.isEmpty {
            print("\(key): \(names.joined(separator: " "))")
        }
    }

    /// After `create` or `import` wrote a config: a running daemon re-reads the directory, so that the next
    /// `start` knows the vserver. Without a daemon (no socket) there is nothing to tell.
    static func tellDaemon(_ connection: ConnectionOptions) {
        let manager = connection.manager
        guard access(manager.socketPath, F_OK) == 0 else { return }
        do { _ = try manager.reload() } catch {
            printToStandardError("vserverctl: reload: \(error) (run `vserverctl reload` once vserverd runs)")
        }
    }
}
