import Glibc
import Logging
import Synchronization
import Testing
import VServerConfig
import VServerProtocol
import VServerTestSupport

@testable import VServerCore

// The Manager without systemd: the STATUS= text, and the hold before exec that lets a scope (GuestPlacement) take
// the guest before it forks.

@Test func summaryIsTheStatusLineForSystemd() async throws {
    let tree = TemporaryTree()
    tree.file("etc/broken/vserver.toml", "no-such-key = 1\n")
    tree.file("etc/bad/vserver.toml", "context = \"x\"\n")
    let manager = try Manager(
        options: .init(configDirectory: tree.absolute("etc"), stateDirectory: tree.absolute("run"),
                       logDirectory: tree.absolute("log"), stubInitPath: tree.absolute("none")),
        logger: Logger(label: "test"))
    #expect(await manager.summary() == "0 running, 2 failed")
}

/// Records what it was called with, and what PID 1 was at that moment.
private final class RecordingPlacement: GuestPlacement {
    struct Call: Equatable {
        var guest: PlacedGuest
        var command: String
    }
    let calls = Mutex<[Call]>([])

    func place(_ guest: PlacedGuest) {
        let command = (try? FileSystem.readText("/proc/\(guest.pid)/comm")) ?? ""
        calls.withLock { $0.append(Call(guest: guest, command: command)) }
    }

    func setResources(_ resources: ResourceSettings, name: String) throws {}
}

@Test(.requires(geteuid() == 0, "root, to clone namespaces"), .timeLimit(.minutes(2)))
func placementRunsWhilePidOneWaitsBeforeItsExec() async throws {
    let tree = TemporaryTree()
    let root = tree.absolute("vservers/web")
    chmod(tree.directory("vservers"), 0o700)
    let repository = "/" + "\(#filePath)".split(separator: "/").dropLast(3).joined(separator: "/")
    try #require(Glibc.system("/bin/sh \(repository)/scripts/make-rootfs \(root) >/dev/null") == 0, "make-rootfs")
    tree.file("etc/web/vserver.toml", """
        context = 1042
        root = "\(root)"
        init = ["/sbin/init"]
        stop-signal = "SIGUSR2"

        """)
    let placement = RecordingPlacement()
    var options = Manager.Options(configDirectory: tree.absolute("etc"), stateDirectory: tree.absolute("run"),
                                  logDirectory: tree.absolute("log"), stubInitPath: tree.absolute("none"))
    options.placement = placement
    let manager = try Manager(options: options, logger: Logger(label: "test"))

    let started = try await manager.start("web")
    let pid = try #require(started.pid)
    defer { kill(pid, SIGKILL) }
    let calls = placement.calls.withLock { $0 }
    #expect(calls.map(\.guest) == [PlacedGuest(name: "web", context: 1042, pid: Int32(pid), root: root)])
    // At placement PID 1 was still the clone of this process; busybox init renames itself "init".
    #expect(calls.first?.command != "init\n")
    #expect(try FileSystem.readText("/proc/\(pid)/comm") == "init\n")
    // Busybox init ignores SIGUSR2 until it has set up its handlers, a moment after exec: don't wait long.
    let stopped = try await manager.stop("web", timeout: 1)
    #expect(stopped.state == .stopped)
}
