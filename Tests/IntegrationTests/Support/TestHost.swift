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

/// Runs a program to completion, feeding `input` on stdin.
@discardableResult
func run(_ executable: String, _ arguments: [String], input: String? = nil,
         environment: [String: String]? = nil) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let stdout = Pipe()
    let stderr = Pipe()
    let stdin = Pipe()
    process.standardOutput = stdout
    process.standardError = stderr
    process.standardInput = input == nil ? FileHandle.nullDevice : stdin
    try process.run()
    if let input {
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
    }
    // Read both pipes concurrently so a chatty child cannot block on a full pipe.
    let errorData = LockedData()
    let errorReader = Thread {
        errorData.value = stderr.fileHandleForReading.readDataToEndOfFile()
    }
    errorReader.start()
    let outputData = stdout.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while !errorData.done { usleep(1000) }
    let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus
        : process.terminationStatus
    return CommandResult(status: status, stdout: String(decoding: outputData, as: UTF8.self),
                         stderr: String(decoding: errorData.value ?? Data(), as: UTF8.self))
}

final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data: Data?
    private var finished = false
    var value: Data? {
        get { lock.withLock { data } }
        set { lock.withLock { data = newValue; finished = true } }
    }
    var done: Bool { lock.withLock { finished } }
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
    /// that the PID is still the daemon's.
    func startDaemon(_ extraArguments: [String] = [], wrapper: [String] = []) throws {
        let process = Process()
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

    /// Kills the daemon by PID (SIGKILL: what a crash looks like) and waits for it.
    func killDaemon(signal: Int32 = SIGKILL) {
        guard let daemon, daemon.isRunning else { return }
        kill(daemon.processIdentifier, signal)
        daemon.waitUntilExit()
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
        if let cgroup = cgroupParentDirectory { removeCgroupTree(cgroup) }
        if let cgroup = legacyPidsCgroupParentDirectory { removeCgroupTree(cgroup) }
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

/// The lines of the host's mount table, for leak checks.
func hostMountInfo() throws -> [String] {
    try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8).split(separator: "\n").map(String.init)
}

/// Namespace inode of a process ("mnt", "pid", ...).
func namespace(_ kind: String, of pid: Int32) throws -> String {
    try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/\(kind)")
}
