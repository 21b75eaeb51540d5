import ArgumentParser
import Glibc
import VServerProtocol

struct Monitor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print every state change as it happens: NAME STATE [REASON]. Runs until interrupted.")

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        do throws(ManagerError) {
            var changes = try connection.manager.monitor()
            defer { changes.close() }
            while let change = try changes.next() {
                var line = "\(change.name) \(change.state.rawValue)"
                if let reason = change.reason { line += " \(reason)" }
                print(line)
                fflush(nil)
            }
        } catch {
            printError("monitor", CommandFailure(error))
            throw ExitCode.failure
        }
    }
}
