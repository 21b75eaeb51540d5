import Foundation
import Testing

/// The built executables: they sit beside the test bundle in .build/<configuration>/.
enum Products {
    static let directory: String = {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
        // On Linux the runner is .build/debug/vserverdPackageTests.xctest itself.
        if directory.lastPathComponent.hasSuffix(".xctest") { directory.deleteLastPathComponent() }
        return directory.path
    }()
    static var vserverd: String { "\(directory)/vserverd" }
    static var vserverctl: String { "\(directory)/vserverctl" }
    static var vserverdInit: String { "\(directory)/vserverd-init" }

    static let repository: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .path
}

/// The outcome of a command the way a user sees it.
struct CommandResult: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String
    var description: String { "exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
}

/// Runs a program to completion, feeding `input` on stdin. A program still running after `timeout` (or still
/// holding its output open then) is SIGKILLed and the test fails with its command line: no test waits forever.
/// posix_spawn and waitpid, not Foundation's Process, whose wait never returned for a vserverctl that a
/// signal ended (its zombie stayed) and whose isRunning waited for a killed child's grandchildren.
@discardableResult
func run(_ executable: String, _ arguments: [String], input: String? = nil,
         environment: [String: String]? = nil, timeout: Duration = .seconds(120)) throws -> CommandResult {
    var outputPipe: [Int32] = [-1, -1]
    var errorPipe: [Int32] = [-1, -1]
    var inputPipe: [Int32] = [-1, -1]
    // Close-on-exec at once (pipe2 is not imported): a child spawned meanwhile elsewhere must not hold them.
    func makePipe(_ fds: inout [Int32]) -> Bool {
        guard pipe(&fds) == 0 else { return false }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return true
    }
    guard makePipe(&outputPipe), makePipe(&errorPipe), input == nil || makePipe(&inputPipe)
    else { throw TestFailure("pipe: \(String(cString: strerror(errno)))") }
    let child: ChildProcess
    do {
        child = try ChildProcess([executable] + arguments, environment: environment,
                                 stdin: input == nil ? nil : inputPipe[0], stdout: outputPipe[1], stderr: errorPipe[1])
    } catch {
        for fd in outputPipe + errorPipe + inputPipe where fd >= 0 { close(fd) }
        throw error
    }
    close(outputPipe[1])
    close(errorPipe[1])
    if let input {
        close(inputPipe[0])
        // Small inputs only (a pipe buffer's worth): the child may not read before it exits.
        let bytes = Array(input.utf8)
        _ = bytes.withUnsafeBytes { write(inputPipe[1], $0.baseAddress, $0.count) }
        close(inputPipe[1])
    }
    defer {
        close(outputPipe[0])
        close(errorPipe[0])
    }
    let deadline = ContinuousClock.now + timeout
    var killed = false
    // Both pipes are read together so a chatty child cannot block on a full one.
    var output = [outputPipe[0]: [UInt8](), errorPipe[0]: [UInt8]()]
    var open = [outputPipe[0], errorPipe[0]]
    // After a kill, a grandchild may still hold a pipe: give it a moment, then stop reading.
    var readDeadline = deadline
    while !open.isEmpty {
        let now = ContinuousClock.now
        if now >= readDeadline {
            if killed { break }
            child.stop()
            killed = true
            readDeadline = now + .seconds(5)
            continue
        }
        var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let (seconds, attoseconds) = (readDeadline - now).components
        let milliseconds = Int32(min(seconds * 1000 + attoseconds / 1_000_000_000_000_000, 1000))
        guard poll(&fds, nfds_t(fds.count), max(milliseconds, 1)) >= 0 || errno == EINTR else {
            throw TestFailure("poll: \(String(cString: strerror(errno)))")
        }
        for entry in fds where entry.revents != 0 {
            var buffer = [UInt8](repeating: 0, count: 65536)
            let count = read(entry.fd, &buffer, buffer.count)
            if count > 0 {
                output[entry.fd]?.append(contentsOf: buffer[..<count])
            } else if count == 0 || errno != EINTR {
                open.removeAll { $0 == entry.fd }
            }
        }
    }
    // The pipes closed; the process itself may still run (a child that closed them, or a wedged one).
    let remaining = max(deadline - ContinuousClock.now, .zero)
    var status: Int32 = -1
    do {
        status = killed ? (child.stop(), child.status ?? -1).1 : try child.wait(timeout: remaining)
    } catch {
        killed = true
    }
    let result = CommandResult(status: status, stdout: String(decoding: output[outputPipe[0]] ?? [], as: UTF8.self),
                               stderr: String(decoding: output[errorPipe[0]] ?? [], as: UTF8.self))
    if killed {
        throw TestFailure("timed out after \(timeout) and killed: \(([executable] + arguments).joined(separator: " "))"
            + "\n\(result)")
    }
    return result
}

/// Polls `condition` until it holds or `timeout` passes: no sleeps as synchronisation.
func waitUntil(_ what: String, timeout: Duration = .seconds(10), _ condition: () throws -> Bool) throws {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try condition() { return }
        if ContinuousClock.now >= deadline { throw TestFailure("timed out after \(timeout) waiting for \(what)") }
        usleep(5_000)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A busybox root made once per test run by scripts/make-rootfs; each vserver gets a copy.
enum BaseRootfs {
    static let path: String = {
        let path = NSTemporaryDirectory() + "vserverd-test-rootfs-\(getpid())"
        let result = try? run("/bin/sh", ["\(Products.repository)/scripts/make-rootfs", path])
        precondition(result?.status == 0, "make-rootfs failed: \(String(describing: result))")
        atexit { _ = try? FileManager.default.removeItem(atPath: NSTemporaryDirectory() + "vserverd-test-rootfs-\(getpid())") }
        return path
    }()
}

/// The cgroup2 hierarchy, where one is mounted (on this project's hybrid test machines: /sys/fs/cgroup/unified).
let unifiedCgroupMount = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"].first {
    FileManager.default.fileExists(atPath: "\($0)/cgroup.procs")
        && FileManager.default.fileExists(atPath: "\($0)/cgroup.controllers")
}

/// The v1 pids hierarchy of a hybrid host (this project's test machines), nil elsewhere.
let legacyPidsCgroupMount = FileManager.default.fileExists(atPath: "/sys/fs/cgroup/pids/tasks")
    ? "/sys/fs/cgroup/pids" : nil

/// The v1 controller hierarchies of a hybrid host (memory, cpu, pids, ...), where guests' limits go; empty elsewhere.
let legacyCgroupMounts: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? [])
    .filter { $0 != "systemd" && FileManager.default.fileExists(atPath: "/sys/fs/cgroup/\($0)/tasks") }
    .map { "/sys/fs/cgroup/\($0)" }

/// A private vserverd world in a temp dir: config dir, state dir, socket, logs, roots, and a cgroup of its own for
/// the guests' cgroups. Never the machine's /etc/vservers or /run/vserverd. `cleanup` stops what it started, by
/// PID, on every exit path.
final class TestHost: @unchecked Sendable {
    let directory: String
    var configDirectory: String { "\(directory)/etc/vservers" }
    var stateDirectory: String { "\(directory)/run/vservers" }
    var socket: String { "\(directory)/run/vserverd.sock" }
    var logDirectory: String { "\(directory)/log" }
    var rootsDirectory: String { "\(directory)/vservers" }
    /// --lib-dir of its daemon and vserverctl: the record of assigned contexts, never /var/lib/vserverd's.
    var libDirectory: String { "\(directory)/lib" }
    var daemonLog: String { "\(directory)/vserverd.log" }
    /// --cgroup-parent of its daemon: "/vserverd-test.XXXXXX".
    var cgroupParent: String { "/" + URL(fileURLWithPath: directory).lastPathComponent }
    var cgroupParentDirectory: String? { unifiedCgroupMount.map { $0 + cgroupParent } }
    /// The same parent in the v1 pids hierarchy of a hybrid host, where the guests' pids limits are.
    var legacyPidsCgroupParentDirectory: String? { legacyPidsCgroupMount.map { $0 + cgroupParent } }
    /// The same parent in every v1 hierarchy: where the guests' v1 limits are.
    func legacyCgroupDirectory(_ controller: String, _ name: String) -> String {
        "/sys/fs/cgroup/\(controller)\(cgroupParent)/vserver-\(name)"
    }
    private(set) var daemon: Process?

    init() throws {
        var template = Array((NSTemporaryDirectory() + "vserverd-test.XXXXXX").utf8CString)
        guard let created = mkdtemp(&template) else { throw TestFailure("mkdtemp failed") }
        directory = String(cString: created)
        for path in [configDirectory, stateDirectory, logDirectory, rootsDirectory] {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        // util-vserver's barrier, which check and start require of the roots' parent, as of /vservers.
        chmod(rootsDirectory, 0o700)
    }

    /// A vserver named `name` with a fresh busybox root (with a marker file) and `config` as its
    /// vserver.toml; `root` is added unless the config sets it.
    @discardableResult
    func addVServer(_ name: String, config: String = "") throws -> String {
        let root = "\(rootsDirectory)/\(name)"
        if !FileManager.default.fileExists(atPath: root) {
            let copy = try run("/bin/cp", ["-a", BaseRootfs.path, root])
            guard copy.status == 0 else { throw TestFailure("cp rootfs: \(copy)") }
            try "\(name)\n".write(toFile: "\(root)/vserver-marker", atomically: true, encoding: .utf8)
        }
        let directory = "\(configDirectory)/\(name)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let rootLine = config.contains("root =") || config.contains("root=") ? "" : "root = \"\(root)\"\n"
        try (rootLine + config).write(toFile: "\(directory)/vserver.toml", atomically: true, encoding: .utf8)
        return root
    }

    /// Writes an executable hook script; `vserver` nil means the global `.defaults`.
    func addHook(_ vserver: String?, _ relativePath: String, _ body: String) throws {
        let path = "\(configDirectory)/\(vserver ?? ".defaults")/scripts/\(relativePath)"
        try FileManager.default.createDirectory(
            atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path, withIntermediateDirectories: true)
        try ("#!/bin/sh\n" + body + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
    }

    /// Starts vserverd on this host's directories; `wrapper` is a command that execs it (`prlimit …`), so
    /// that the PID is still the daemon's; `environment` is added to the test runner's.
    func startDaemon(_ extraArguments: [String] = [], wrapper: [String] = [],
                     environment: [String: String] = [:]) throws {
        let process = Process()
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let arguments = [
            "--config-dir", configDirectory, "--state-dir", stateDirectory, "--socket", socket,
            "--log-dir", logDirectory, "--log-level", "debug", "--cgroup-parent", cgroupParent,
            "--lib-dir", libDirectory,
        ] + extraArguments
        process.executableURL = URL(fileURLWithPath: wrapper.first ?? Products.vserverd)
        process.arguments = wrapper.isEmpty ? arguments : Array(wrapper.dropFirst()) + [Products.vserverd] + arguments
        FileManager.default.createFile(atPath: daemonLog, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: daemonLog))
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        daemon = process
        try waitUntil("vserverd to listen on \(socket)") {
            guard process.isRunning else { throw TestFailure("vserverd exited: \(self.daemonLogText)") }
            return (try? ctl("list"))?.status == 0
        }
    }

    /// Kills the daemon by PID (SIGKILL: what a crash looks like) and waits for it, at most `timeout`: a daemon
    /// that outlives it is a failed test (and is then SIGKILLed, so that the run goes on).
    func killDaemon(signal: Int32 = SIGKILL, timeout: Duration = .seconds(60)) {
        guard let daemon, daemon.isRunning else { return }
        kill(daemon.processIdentifier, signal)
        let deadline = ContinuousClock.now + timeout
        while daemon.isRunning && ContinuousClock.now < deadline { usleep(2000) }
        if daemon.isRunning {
            Issue.record("vserverd (PID \(daemon.processIdentifier)) still ran \(timeout) after signal \(signal)")
            kill(daemon.processIdentifier, SIGKILL)
            let killed = ContinuousClock.now + .seconds(10)
            while daemon.isRunning && ContinuousClock.now < killed { usleep(2000) }
        }
    }

    var daemonLogText: String { (try? String(contentsOfFile: daemonLog, encoding: .utf8)) ?? "" }

    @discardableResult
    func ctl(_ arguments: String..., input: String? = nil) throws -> CommandResult {
        try ctl(arguments, input: input)
    }

    @discardableResult
    func ctl(_ arguments: [String], input: String? = nil) throws -> CommandResult {
        var environment = ProcessInfo.processInfo.environment
        environment["VSERVERD_SOCKET"] = socket
        environment["VSERVERD_LIB_DIR"] = libDirectory
        return try run(Products.vserverctl, arguments, input: input, environment: environment)
    }

    /// PID 1 of a running vserver as the state file records it.
    func guestPID(_ name: String) throws -> Int32 {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(stateDirectory)/\(name).json"))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let pid = (object["pid"] as? Int).flatMap({ Int32(exactly: $0) })
        else { throw TestFailure("no pid in state of \(name)") }
        return pid
    }

    /// `vserverctl stop NAME`, and how long it took.
    func timedStop(_ name: String) throws -> (result: CommandResult, took: Duration) {
        let clock = ContinuousClock()
        let began = clock.now
        let result = try ctl("stop", name)
        return (result, clock.now - began)
    }

    /// What NAME's PID 1 wrote to its console log.
    func consoleLog(_ name: String) throws -> String {
        try String(contentsOfFile: "\(logDirectory)/\(name).log", encoding: .utf8)
    }

    /// Polls until NAME runs again with a PID 1 other than `old` (started again after a reboot inside).
    func waitForNewPID1(_ name: String, otherThan old: Int32, timeout: Duration = .seconds(10)) throws {
        try waitUntil("\(name) to run again with a new PID 1", timeout: timeout) {
            let pid = try? guestPID(name)
            let running = try ctl("status", name).status == 0
            return pid != nil && pid != old && running
        }
    }

    func cleanup() {
        if let daemon, daemon.isRunning { _ = try? ctl("stop", "--all") }
        // Whatever survived (a test that killed the daemon mid-way): kill the guests it recorded, by PID.
        for file in (try? FileManager.default.contentsOfDirectory(atPath: stateDirectory)) ?? []
        where file.hasSuffix(".json") {
            if let pid = try? guestPID(String(file.dropLast(5))), pid > 1 { kill(pid, SIGKILL) }
        }
        killDaemon(signal: SIGTERM)
        // A guest no state file names (a test that made vserverd die before it recorded one): everything left in
        // this host's cgroup is its own.
        if let parent = cgroupParentDirectory, FileManager.default.fileExists(atPath: "\(parent)/cgroup.kill") {
            try? "1".write(toFile: "\(parent)/cgroup.kill", atomically: false, encoding: .utf8)
        }
        // A guest killed just now (or one whose daemon died, reaped by the host's init when it gets to it) may
        // still hold its cgroup for a moment: retry for a while rather than leave empty cgroups on the machine.
        let cgroups = [cgroupParentDirectory].compactMap { $0 } + legacyCgroupMounts.map { $0 + cgroupParent }
        let deadline = ContinuousClock.now + .seconds(10)
        repeat {
            for cgroup in cgroups { removeCgroupTree(cgroup) }
            if cgroups.allSatisfy({ !FileManager.default.fileExists(atPath: $0) }) { break }
            usleep(20_000)
        } while ContinuousClock.now < deadline
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// rmdir of a cgroup and those below it, deepest first (what is still busy stays).
func removeCgroupTree(_ directory: String) {
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: "\(directory)/\(entry)", isDirectory: &isDirectory),
           isDirectory.boolValue {
            removeCgroupTree("\(directory)/\(entry)")
        }
    }
    rmdir(directory)
}

/// Runs `body` with a fresh TestHost and cleans it up however `body` ends.
func withTestHost(_ body: (TestHost) async throws -> Void) async throws {
    let host = try TestHost()
    defer { host.cleanup() }
    try await body(host)
}

/// The lines of the host's mount table that name a path below `directory` (a TestHost's), for leak checks. A
/// mount that leaked out of a guest shows below its root; the rest of the table is the machine's, which other
/// tests and programs running meanwhile may change.
func hostMountInfo(below directory: String) throws -> [String] {
    try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8).split(separator: "\n").map(String.init)
        .filter { $0.split(separator: " ").contains { $0.hasPrefix(directory) } }
}

/// `pid` and every process below it, from each process's parent in /proc/PID/stat.
func processTree(of pid: Int32) -> [Int32] {
    var children: [Int32: [Int32]] = [:]
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let child = Int32(entry),
              let stat = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")")
        else { continue }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        if fields.count > 1, let parent = Int32(fields[1]) { children[parent, default: []].append(child) }
    }
    var tree = [pid]
    var index = 0
    while index < tree.count {
        tree += children[tree[index]] ?? []
        index += 1
    }
    return tree
}

extension TestHost {
    /// The pid namespaces of the daemon and every process below it (its guests' PID 1 and their children, its
    /// hooks): what it made, not what other tests or programs on the machine make meanwhile.
    func daemonPidNamespaces() throws -> Set<String> {
        let daemonPID = try #require(daemon?.processIdentifier, "vserverd runs")
        return Set(processTree(of: daemonPID).compactMap { try? namespace("pid", of: $0) })
    }
}

/// Namespace inode of a process ("mnt", "pid", ...).
func namespace(_ kind: String, of pid: Int32) throws -> String {
    try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/\(kind)")
}

/// Runs a python3 script that drives a pty and prints one JSON object: its run, that object (nil when the output is
/// not one) and the object's `output` text (what appeared on the terminal).
func ptySession(_ script: String, _ arguments: [String], environment: [String: String]) throws
    -> (run: CommandResult, result: [String: Any]?, output: String)
{
    let session = try run("/usr/bin/python3", ["-c", script] + arguments, environment: environment)
    let result = (try? JSONSerialization.jsonObject(with: Data(session.stdout.utf8))) as? [String: Any]
    return (session, result, result?["output"] as? String ?? "")
}

/// A child started with posix_spawn and reaped here with waitpid, with a deadline: `run` and the tests that signal
/// vserverctl and must see it end however it ends.
final class ChildProcess {
    let pid: pid_t
    let commandLine: String
    /// The exit status, 128+N when signal N ended it; nil while it runs.
    private(set) var status: Int32?

    /// Starts `argv` (argv[0] a path) with `environment` (nil: the test runner's), fds 0-2 from the fds given
    /// (nil: /dev/null); every signal at its default and unblocked, as from a login shell.
    init(_ argv: [String], environment: [String: String]?, stdin: Int32? = nil, stdout: Int32? = nil,
         stderr: Int32? = nil) throws {
        commandLine = argv.joined(separator: " ")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, source, flags) in [(Int32(0), stdin, O_RDONLY), (1, stdout, O_WRONLY), (2, stderr, O_WRONLY)] {
            if let source {
                posix_spawn_file_actions_adddup2(&actions, source, target)
            } else {
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", flags, 0)
            }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let arguments = argv.map { strdup($0) } + [nil]
        let variables = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") }
            + [nil]
        defer {
            for pointer in arguments + variables { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, argv[0], &actions, &attributes, arguments, variables)
        guard result == 0 else { throw TestFailure("posix_spawn \(argv[0]): \(String(cString: strerror(result)))") }
        self.pid = pid
    }

    var isRunning: Bool {
        reap(blocking: false)
        return status == nil
    }

    /// Waits until it ended, at most `timeout`; then SIGKILLs it and fails.
    @discardableResult
    func wait(timeout: Duration = .seconds(30)) throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while isRunning {
            if ContinuousClock.now >= deadline {
                stop()
                throw TestFailure("still running after \(timeout), killed: \(commandLine)")
            }
            usleep(2000)
        }
        return status ?? -1
    }

    /// SIGKILL (when it still runs) and reap.
    func stop() {
        guard status == nil else { return }
        kill(pid, SIGKILL)
        reap(blocking: true)
    }

    deinit { stop() }

    private func reap(blocking: Bool) {
        guard status == nil else { return }
        var raw: Int32 = 0
        let result = waitpid(pid, &raw, blocking ? 0 : WNOHANG)
        if result == pid {
            status = raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
        } else if result < 0 && errno == ECHILD {
            status = -1
        }
    }
}

/// Appends `line` to the file $VSERVERD_RELIABILITY_REPORT names (scripts/test prints it at the end: issue 17's
/// figures per group); without the variable, nothing.
func reliabilityReport(_ line: String) {
    guard let path = ProcessInfo.processInfo.environment["VSERVERD_RELIABILITY_REPORT"] else { return }
    let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
    guard fd >= 0 else { return }
    defer { close(fd) }
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count) }
}
