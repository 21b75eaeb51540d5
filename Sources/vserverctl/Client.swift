import ArgumentParser
import Glibc
import VServerConfig
import VServerProtocol

/// Options every command that talks to the daemon shares.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "Control socket (default: $VSERVERD_SOCKET or \(defaultManagerSocketPath)).")
    var socket: String?

    /// The daemon at --socket, else at $VSERVERD_SOCKET, else at the default path.
    var manager: ManagerClient { ManagerClient(socketPath: socket) }
}

/// A failure as the user reads it: "vserverctl: start web: already running", exit status 1 (or `status`).
struct CommandFailure: Error, CustomStringConvertible {
    var message: String
    var exitStatus: Int32 = 1
    init(_ message: String, exitStatus: Int32 = 1) {
        self.message = message
        self.exitStatus = exitStatus
    }

    init(_ error: ManagerError) {
        self.init(error.description)
    }

    var description: String { message }
}

/// Prints "vserverctl: CONTEXT: MESSAGE" on stderr.
func printError(_ context: String, _ failure: CommandFailure) {
    let prefix = context.isEmpty ? "" : "\(context): "
    printToStandardError("vserverctl: \(prefix)\(failure.message)")
}

/// One line on stderr (fd 2 directly: stdio's `stderr` is a global Swift 6 will not share across threads).
func printToStandardError(_ line: String, newline: Bool = true) {
    var bytes = Array((line + (newline ? "\n" : "")).utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        if written <= 0 { return }
        bytes = bytes.dropFirst(written)
    }
}

/// Runs `body` for each name, reports each failure on its own line, and fails when any failed.
func forEachName(_ verb: String, _ names: [String], _ body: (String) throws(ManagerError) -> Void) throws {
    var failed = false
    for name in names {
        do throws(ManagerError) {
            try body(name)
        } catch {
            printError("\(verb) \(name)", CommandFailure(error))
            failed = true
        }
    }
    if failed { throw ExitCode.failure }
}

/// Runs a batch (start --all, stop --all) and reports it: each error on a line; fails when any failed.
func runBatch(_ verb: String, _ body: () throws(ManagerError) -> BatchResult) throws {
    let result: BatchResult
    do { result = try body() } catch {
        printError(verb, CommandFailure(error))
        throw ExitCode.failure
    }
    for error in result.errors { printToStandardError("vserverctl: \(verb) \(error)") }
    if !result.failed.isEmpty || !result.errors.isEmpty { throw ExitCode.failure }
}
