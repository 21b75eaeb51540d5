import ArgumentParser
import CVServerSpawn
import Glibc
import VServerCLI
import VServerConfig
import VServerProtocol

/// `export NAME -` and `import-archive -`: the daemon opens a path, so our stdout or stdin reaches it through a
/// pipe of ours that it opens as /proc/PID/fd/N, with `cat` copying between the pipe and the terminal side.
struct ArchivePipe {
    /// What the daemon opens.
    let path: String
    private let ourEnd: Int32
    private let copier: pid_t

    /// `forExport`: the daemon writes the pipe, `cat` copies it to our stdout; else `cat` copies our stdin (after
    /// `prefix`, bytes already read from it) into the pipe, which the daemon reads.
    init(forExport: Bool, prefix: [UInt8] = []) throws(CommandFailure) {
        var fds: [Int32] = [-1, -1]
        guard vs_pipe2(&fds, O_CLOEXEC) == 0 else { throw CommandFailure("pipe2: \(String(cString: strerror(errno)))") }
        let (daemonEnd, catEnd) = forExport ? (fds[1], fds[0]) : (fds[0], fds[1])
        if !prefix.isEmpty {
            _ = prefix.withUnsafeBytes { write(catEnd, $0.baseAddress, $0.count) }
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_adddup2(&actions, catEnd, forExport ? 0 : 1)
        let arena = CStringArena()
        let arguments = arena.nullTerminated(["cat"]).map { UnsafeMutablePointer(mutating: $0) }
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, "cat", &actions, nil, arguments, environ)
        posix_spawn_file_actions_destroy(&actions)
        close(catEnd)
        guard spawned == 0 else {
            close(daemonEnd)
            throw CommandFailure("cat: \(String(cString: strerror(spawned)))")
        }
        path = "/proc/\(getpid())/fd/\(daemonEnd)"
        ourEnd = daemonEnd
        copier = pid
    }

    /// Once the daemon is done: our end closed, `cat` waited for (it has copied everything then).
    func finish() {
        close(ourEnd)
        var status: Int32 = 0
        while waitpid(copier, &status, 0) < 0 && errno == EINTR {}
    }
}

/// One line on stderr, rewritten in place while a long call runs ("export web: 12000 files"), when stderr is a
/// terminal; nothing otherwise.
struct ProgressLine {
    let shown = isatty(2) == 1

    func show(_ text: String) {
        guard shown else { return }
        printToStandardError("\r\(text)\u{1B}[K", newline: false)
    }

    func clear() {
        guard shown else { return }
        printToStandardError("\r\u{1B}[K", newline: false)
    }
}

/// Runs a long Manager call (clone, hashify, export, import-archive) with its progress line, cleared afterwards;
/// a failure is printed as `context: message`.
func withProgressLine<Reply>(_ context: String, _ call: (ProgressLine) throws(ManagerError) -> Reply) throws -> Reply {
    let line = ProgressLine()
    defer { line.clear() }
    do throws(ManagerError) {
        return try call(line)
    } catch {
        printError(context, CommandFailure(renameOrDeleteMessage(error)))
        throw ExitCode.failure
    }
}
