import Glibc
import Logging
import Synchronization
import Testing

@testable import VServerCore

// What VServerCore does for systemd (docs/ARCHITECTURE.md §9) that can be checked without systemd: finding a guest's own
// cgroup and counting it, autostart config errors, the STATUS= text, and the hold before exec that lets a
// scope take the guest before it forks.

private let hybrid = GuestCgroup.Mounts(unified: "/sys/fs/cgroup/unified", systemd: "/sys/fs/cgroup/systemd")

@Test func guestCgroupIsFoundOnTheUnifiedHierarchyOfAHybridHost() {
    let procCgroup = """
        9:name=systemd:/machine.slice/vserver-web.scope
        4:memory:/
        0::/machine.slice/vserver-web.scope

        """
    #expect(GuestCgroup.directories(procCgroup: procCgroup, names: [GuestCgroup.scopeName("web")], mounts: hybrid)?.scope
        == "/sys/fs/cgroup/unified/machine.slice/vserver-web.scope")
}

@Test func guestCgroupIsFoundOnAUnifiedHost() {
    let mounts = GuestCgroup.Mounts(unified: "/sys/fs/cgroup", systemd: nil)
    let below = GuestCgroup.directories(procCgroup: "0::/machine.slice/vserver-db.scope/init.scope\n",
                                        names: ["vserver-db.scope"], mounts: mounts)
    #expect(below?.scope == "/sys/fs/cgroup/machine.slice/vserver-db.scope", "PID 1 below the scope: a systemd guest")
    #expect(below?.process == "/sys/fs/cgroup/machine.slice/vserver-db.scope/init.scope")
    let inScope = GuestCgroup.directories(procCgroup: "0::/machine.slice/vserver-db.scope\n", names: ["vserver-db.scope"],
                                          mounts: mounts)
    #expect(inScope?.scope == "/sys/fs/cgroup/machine.slice/vserver-db.scope")
    #expect(inScope?.process == inScope?.scope)
}

@Test func vserverdsOwnGuestCgroupIsFoundAndKnownAsItsOwn() {
    let names = [GuestCgroup.scopeName("web"), GuestCgroup.ownName("web")]
    let found = GuestCgroup.directories(procCgroup: "0::/vserverd-test/vserver-web/init.scope\n", names: names,
                                        mounts: hybrid)
    #expect(found?.scope == "/sys/fs/cgroup/unified/vserverd-test/vserver-web")
    #expect(found.map { GuestCgroup(directory: $0.scope).isOwn } == true)
    #expect(!GuestCgroup(directory: "/sys/fs/cgroup/machine.slice/vserver-web.scope").isOwn)
}

@Test func guestCgroupFallsBackToSystemdsV1Hierarchy() {
    let legacy = GuestCgroup.Mounts(unified: nil, systemd: "/sys/fs/cgroup/systemd")
    #expect(GuestCgroup.directories(procCgroup: "1:name=systemd:/machine.slice/vserver-web.scope\n",
                                    names: ["vserver-web.scope"], mounts: legacy)?.scope
        == "/sys/fs/cgroup/systemd/machine.slice/vserver-web.scope")
}

@Test func aGuestInTheDaemonsCgroupHasNoCgroupOfItsOwn() {
    // Outside systemd, or when the scope could not be made: the cgroup would count more than the guest.
    let names = [GuestCgroup.scopeName("web"), GuestCgroup.ownName("web")]
    for text in ["0::/system.slice/vserverd.service\n", "0::/\n", "0::/machine.slice/vserver-webby.scope\n",
                 "0::/vserver-webby\n", ""] {
        #expect(GuestCgroup.directories(procCgroup: text, names: names, mounts: hybrid) == nil, "\(text)")
    }
}

/// Starts `/bin/sleep 60`: a process whose resident memory stays put while a test reads it.
private func sleeper() throws -> pid_t {
    var pid: pid_t = 0
    let argv: [UnsafeMutablePointer<CChar>?] = [strdup("sleep"), strdup("60"), nil]
    defer { for argument in argv { free(argument) } }
    try #require(posix_spawn(&pid, "/bin/sleep", nil, nil, argv, nil) == 0)
    return pid
}

private func end(_ pid: pid_t) {
    kill(pid, SIGKILL)
    var status: Int32 = 0
    waitpid(pid, &status, 0)
}

/// Until sleep sleeps, its memory changes (posix_spawn returns before the exec, then the loader runs).
private func waitUntilAsleep(_ pids: pid_t...) throws {
    for pid in pids {
        var tries = 0
        while (try? FileSystem.readText("/proc/\(pid)/wchan"))?.contains("nanosleep") != true {
            tries += 1
            try #require(tries < 2000, "PID \(pid) did not get to sleep")
            usleep(1000)
        }
    }
}

@Test func cgroupUsageCountsProcessesOfTheWholeSubtreeAndPrefersMemoryCurrent() throws {
    let tree = TemporaryTree()
    let first = try sleeper()
    defer { end(first) }
    let second = try sleeper()
    defer { end(second) }
    try waitUntilAsleep(first, second)
    tree.file("scope/cgroup.procs", "\(first)\n")
    tree.file("scope/init.scope/cgroup.procs", "\(second)\n")
    tree.file("scope/system.slice/cgroup.procs", "")
    let cgroup = GuestCgroup(directory: tree.absolute("scope"))

    let fromProc = cgroup.usage()
    #expect(fromProc.processes == 2)
    #expect(fromProc.residentBytes == ProcessTable.residentBytes(pid: first) + ProcessTable.residentBytes(pid: second))
    #expect(fromProc.residentBytes > 0)

    tree.file("scope/memory.current", "123456\n")
    #expect(cgroup.usage() == ProcessTable.Usage(processes: 2, residentBytes: 123_456))
}

@Test func autostartVServersThatFailChecksAcrossVServersAreRemembered() {
    let fixture = ConfigFixture()
    fixture.vserver("a", "autostart = true\nafter = [\"b\"]\n")
    fixture.vserver("b", "autostart = true\nafter = [\"a\"]\n")
    fixture.vserver("c", "autostart = true\nafter = [\"missing\"]\n")
    fixture.vserver("d", "after = [\"missing\"]\n")
    fixture.vserver("e", "autostart = \"yes\"\n")
    fixture.vserver("f", "autostart = true\n")
    let set = fixture.load()
    #expect(set.invalid.keys.sorted() == ["a", "b", "c", "d", "e"])
    // e's file does not even parse: whether it wanted autostart is unknown.
    #expect(set.invalidAutostart == ["a", "b", "c"])
    #expect(set.invalid["a"]?.description.contains("dependency cycle: a -> b -> a") == true)
}

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
}

@Test(.enabled(if: geteuid() == 0, "clones namespaces: needs root"), .timeLimit(.minutes(2)))
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
    #expect(calls.map(\.guest) == [PlacedGuest(name: "web", context: 1042, pid: Int32(pid), root: root,
                                                         pidsMax: 4096)])
    // At placement PID 1 was still the clone of this process; busybox init renames itself "init".
    #expect(calls.first?.command != "init\n")
    #expect(try FileSystem.readText("/proc/\(pid)/comm") == "init\n")
    // Busybox init ignores SIGUSR2 until it has set up its handlers, a moment after exec: don't wait long.
    let stopped = try await manager.stop("web", timeout: 1)
    #expect(stopped.state == "stopped")
}
