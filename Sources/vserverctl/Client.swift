import ArgumentParser
import Glibc
import VServerCore
import VServerProtocol

/// Options every command that talks to the daemon shares.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "Control socket (default: $VSERVERD_SOCKET or \(defaultManagerSocketPath)).")
    var socket: String?

    var socketPath: String { daemon.path }

    var daemon: Daemon { Daemon(socket: socket) }

    /// A call to io.vserverd.Manager; errors come back as one readable line.
    func call(_ method: String, _ parameters: [String: JSON] = [:]) throws(CommandFailure) -> [String: JSON] {
        try daemon.call(method, parameters)
    }
}

/// The daemon's socket as a plain value: what ConnectionOptions resolves to, for code that runs without
/// ArgumentParser (its property wrappers alone cost `exec` a quarter of its time).
struct Daemon {
    var path: String

    /// --socket, else $VSERVERD_SOCKET, else the default.
    init(socket: String?) {
        if let socket {
            path = socket
        } else if let value = getenv("VSERVERD_SOCKET"), value.pointee != 0 {
            path = String(cString: value)
        } else {
            path = defaultManagerSocketPath
        }
    }

    /// A connection to vserverd, which runs as root: answers from a socket anybody else serves (a stale path,
    /// a user's socket where ours is missing) are never believed.
    func connect() throws -> VarlinkClient {
        try VarlinkClient(path: path, requiredPeerUID: 0)
    }

    /// A call to io.vserverd.Manager; errors come back as one readable line.
    func call(_ method: String, _ parameters: [String: JSON] = [:]) throws(CommandFailure) -> [String: JSON] {
        do {
            let client = try connect()
            defer { client.close() }
            return try client.call("io.vserverd.Manager.\(method)", parameters)
        } catch {
            throw CommandFailure(error)
        }
    }
}

/// A failure as the user reads it: "vserverctl: start web: already running", exit status 1 (or `status`).
struct CommandFailure: Error, CustomStringConvertible {
    var message: String
    var exitStatus: Int32 = 1
    /// The daemon's error, when it sent one.
    var vserverError: VServerError?

    init(_ message: String, exitStatus: Int32 = 1) {
        self.message = message
        self.exitStatus = exitStatus
    }

    init(_ error: any Error) {
        if let error = error as? CommandFailure {
            self = error
        } else if let error = error as? VarlinkError, let known = VServerError(error) {
            self.init(known.description)
            vserverError = known
        } else {
            self.init("\(error)")
        }
    }

    var description: String { message }
}

/// Prints "vserverctl: CONTEXT: MESSAGE" on stderr.
func printError(_ context: String, _ failure: CommandFailure) {
    let prefix = context.isEmpty ? "" : "\(context): "
    printToStandardError("vserverctl: \(prefix)\(failure.message)")
}

/// One line on stderr (fd 2 directly: stdio's `stderr` is a global Swift 6 will not share across threads).
func printToStandardError(_ line: String) {
    var bytes = Array((line + "\n").utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        if written <= 0 { return }
        bytes = bytes.dropFirst(written)
    }
}

/// Runs `body` for each name, reports each failure on its own line, and fails when any failed.
func forEachName(_ verb: String, _ names: [String], _ body: (String) throws(CommandFailure) -> Void) throws {
    var failed = false
    for name in names {
        do throws(CommandFailure) {
            try body(name)
        } catch {
            printError("\(verb) \(name)", error)
            failed = true
        }
    }
    if failed { throw ExitCode.failure }
}

/// Reports a batch result (start --all, stop --all): each error on a line; fails when any failed.
func reportBatch(_ verb: String, _ reply: [String: JSON]) throws {
    let errors = reply["errors"]?.arrayValue?.compactMap(\.stringValue) ?? []
    for error in errors { printToStandardError("vserverctl: \(verb) \(error)") }
    let failed = reply["failed"]?.arrayValue ?? []
    if !failed.isEmpty || !errors.isEmpty { throw ExitCode.failure }
}
