import VServerCLI
import ArgumentParser
import CVServerSpawn
import Glibc
import VServerConfig
import VServerProtocol

struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command inside a running vserver.",
        discussion: """
            COMMAND runs with its arguments exactly as given (no shell in between), in the vserver's namespaces \
            and root, cwd /, with the vserver's environment plus TERM (not the caller's), its bounding set and \
            cgroup, in a session of its own; stdin, stdout and stderr are passed through, except those that are a \
            terminal: the command gets a pty of the vserver's own devpts there instead (never a host terminal, \
            which any process inside could read or type into), relayed to yours as enter does. SIGINT, SIGTERM, \
            SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH sent to vserverctl go to it. Needs root.

            Exit status: the command's (128+N when signal N killed it); 127 when it is not found, 126 when it \
            cannot run; 125 when vserverctl failed (not running, no daemon, not root).

            --all runs COMMAND in every running vserver, one after the other, with stdin /dev/null and every \
            output line prefixed with "NAME: " (stderr lines on stderr); the exit status is the first non-zero one.

            --bind-ip ADDR (no NAME; repeatable) runs COMMAND on the host instead, held to ADDR as a bound vserver \
            (net = "bound") is to its addresses: a wildcard bind gets ADDR, other addresses are refused, and its \
            connections come from ADDR. For a host service that must leave the guests' addresses free, as \
            util-vserver's chbind --ip did. COMMAND replaces vserverctl, in a cgroup of its own under \
            vserverd-bound/ of the cgroup2 hierarchy.
            """)

    @Argument(help: "Name or context id (not with --all).", completion: .vserverNames)
    var name: String?

    @Flag(help: "Run COMMAND in every running vserver.")
    var all = false

    @Option(name: .customLong("bind-ip"), help: ArgumentHelp(
        "Run COMMAND on the host, bound to this address of the host (repeatable).", valueName: "address"))
    var bindIPs: [String] = []

    @Argument(parsing: .postTerminator, help: ArgumentHelp("The command and its arguments, after --.",
                                                           valueName: "command"))
    var command: [String] = []

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        if !bindIPs.isEmpty && (all || name != nil) {
            throw ValidationError("--bind-ip runs COMMAND on the host: give no vserver name and no --all")
        }
        if bindIPs.isEmpty && all == (name != nil) { throw ValidationError("give a vserver name or --all") }
        if command.isEmpty { throw ValidationError("give the command after --: exec NAME -- COMMAND [ARG...]") }
    }

    func run() throws {
        if !bindIPs.isEmpty { throw ExitCode(HostBinding.run(bindIPs, command: command)) }
        throw ExitCode(Self.run(ExecArguments(name: name, all: all, socket: connection.socket, command: command)))
    }

    /// For FastPath: runs the plain shapes (ExecArguments) straight from the command line and returns the exit
    /// status; nil for anything else, which ArgumentParser then parses.
    static func runIfPlain(_ arguments: [String]) -> Int32? {
        ExecArguments.parse(arguments).map(run)
    }

    static func run(_ arguments: ExecArguments) -> Int32 {
        let manager = ManagerClient(socketPath: arguments.socket)
        guard let name = arguments.name else { return runEverywhere(arguments.command, manager) }
        return Join.run(name, manager, verb: "exec") { _ in arguments.command }
    }

    /// `exec --all`: one vserver after the other, in name order.
    static func runEverywhere(_ command: [String], _ manager: ManagerClient) -> Int32 {
        guard geteuid() == 0 else {
            printError("exec", CommandFailure("entering a vserver needs root"))
            return Join.failureStatus
        }
        let names: [String]
        do { names = try manager.list().filter { $0.state == .running }.map(\.name) } catch {
            printError("exec", CommandFailure(error))
            return Join.failureStatus
        }
        var first: Int32 = 0
        for name in names {
            let status: Int32
            do throws(CommandFailure) {
                status = try runPrefixed(command, in: name, try Join.info(name, manager))
            } catch {
                printError("exec \(name)", error)
                status = error.exitStatus
            }
            if first == 0 { first = status }
        }
        return first
    }

    /// Runs the command with stdin /dev/null and its stdout and stderr through pipes, prefixing each line.
    private static func runPrefixed(_ command: [String], in name: String, _ info: VServerJoinInfo)
        throws(CommandFailure) -> Int32
    {
        var output: [Int32] = [-1, -1]
        var errors: [Int32] = [-1, -1]
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer {
            for fd in [null, output[0], output[1], errors[0], errors[1]] where fd >= 0 { close(fd) }
        }
        guard null >= 0, vs_pipe2(&output, O_CLOEXEC) == 0, vs_pipe2(&errors, O_CLOEXEC) == 0 else {
            throw CommandFailure("pipe2: \(String(cString: strerror(errno)))", exitStatus: Join.failureStatus)
        }
        var joined = try Join.start(command, info, Join.Streams(stdin: null, stdout: output[1], stderr: errors[1]))
        // Only the command holds the write ends now: end of file on them means it (and what it left) is done.
        close(output[1])
        close(errors[1])
        output[1] = -1
        errors[1] = -1
        LinePrefixer.copy([(output[0], 1), (errors[0], 2)], prefix: "\(name): ")
        return try Join.wait(&joined)
    }
}

/// Copies pipes to fds line by line, each line prefixed, until all pipes are at end of file.
enum LinePrefixer {
    static func copy(_ pairs: [(from: Int32, to: Int32)], prefix: String) {
        var fds = pairs.map { pollfd(fd: $0.from, events: Int16(POLLIN), revents: 0) }
        var pending = [[UInt8]](repeating: [], count: pairs.count)
        let prefixBytes = Array(prefix.utf8)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while fds.contains(where: { $0.fd >= 0 }) {
            if poll(&fds, nfds_t(fds.count), -1) < 0 {
                if errno == EINTR { continue }
                return
            }
            for index in fds.indices where fds[index].fd >= 0 && fds[index].revents != 0 {
                let count = buffer.withUnsafeMutableBytes { read(fds[index].fd, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count > 0 {
                    pending[index] += buffer[..<count]
                    var text: [UInt8] = []
                    while let newline = pending[index].firstIndex(of: UInt8(ascii: "\n")) {
                        text += prefixBytes + pending[index][...newline]
                        pending[index].removeSubrange(...newline)
                    }
                    writeAll(pairs[index].to, text)
                } else {
                    // End of file (or an error): a last line without a newline still gets one.
                    if !pending[index].isEmpty { writeAll(pairs[index].to, prefixBytes + pending[index] + [10]) }
                    fds[index].fd = -1
                }
            }
        }
    }
}

/// Writes all bytes, retrying on EINTR; gives up silently when the reader is gone.
func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if written < 0 && errno == EINTR { continue }
        if written <= 0 { return }
        offset += written
    }
}
