import VServerCLI
import ArgumentParser
import CVServerSpawn
import Glibc
import VServerConfig
import VServerProtocol

struct PS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ps",
        abstract: "List host processes with the vserver each belongs to (like vps).",
        discussion: """
            Without ps options: PID CONTEXT VSERVER COMMAND of every process on the host, context 0 and vserver \
            "host" for the host's own; with NAME only that vserver's processes. PIDs are as the host sees them.

            With options after --, runs the host's ps(1) with them and inserts CONTEXT and VSERVER right after \
            its PID column (found by the header "PID"), which must come before any column whose values hold \
            spaces, as in every standard format: `vserverctl ps web -- aux`, `vserverctl ps -- -ef`. A process \
            that started or ended between ps and the daemon's look at /proc shows "-".
            """)

    @Argument(help: "Only the processes of this vserver (name or context id).", completion: .vserverNames)
    var name: String?

    @Argument(parsing: .postTerminator, help: ArgumentHelp("Options for the host's ps(1), after --.",
                                                           valueName: "ps-option"))
    var options: [String] = []

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let verb = name.map { "ps \($0)" } ?? "ps"
        // ps first: every process it shows has started before the daemon walks /proc.
        let hostPS = options.isEmpty ? nil : try Self.runHostPS(options)
        let processes: [HostProcess]
        do { processes = try connection.manager.processes(name) } catch {
            printError(verb, CommandFailure(error))
            throw ExitCode.failure
        }
        guard let hostPS else {
            writeAll(1, Array(PSColumns.table(processes).utf8))
            return
        }
        guard let table = PSColumns.insert(into: hostPS, processes: processes, onlyListed: name != nil) else {
            printError(verb, CommandFailure("the output of ps has no PID column (add -o pid)"))
            throw ExitCode.failure
        }
        writeAll(1, Array(table.utf8))
    }

    /// `ps OPTIONS` on the host, its stdout captured; its stderr goes straight to ours. Exits with its status
    /// when it fails.
    private static func runHostPS(_ options: [String]) throws -> String {
        var pipe: [Int32] = [-1, -1]
        guard vs_pipe2(&pipe, O_CLOEXEC) == 0 else {
            printError("ps", CommandFailure("pipe2: \(String(cString: strerror(errno)))"))
            throw ExitCode.failure
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_adddup2(&actions, pipe[1], 1)
        let arena = CStringArena()
        let arguments = arena.nullTerminated(["ps"] + options).map { UnsafeMutablePointer(mutating: $0) }
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, "ps", &actions, nil, arguments, environ)
        posix_spawn_file_actions_destroy(&actions)
        close(pipe[1])
        defer { close(pipe[0]) }
        guard spawned == 0 else {
            printError("ps", CommandFailure("ps: \(String(cString: strerror(spawned)))"))
            throw ExitCode(Join.notFoundStatus)
        }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(pipe[0], $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            output += buffer[..<count]
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code = vs_wait_status_code(status)
        if code != 0 { throw ExitCode(code) }
        return String(decoding: output, as: UTF8.self)
    }
}
