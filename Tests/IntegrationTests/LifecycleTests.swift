import Foundation
import Testing

/// Root integration tests on a real busybox rootfs. One at a time: each starts daemons and guests of its own and
/// some compare mounts and namespaces before and after. No test may hang the run: each has 10 minutes (a Debian
/// boot or an mmdebstrap build included), and `run` and `killDaemon` their own deadlines.
@Suite(.serialized, .timeLimit(.minutes(10))) struct Integration {}

/// busybox init with an inittab that only runs `true`: a quiet, long-lived PID 1.
let busyboxInit = """
    init = ["/sbin/init"]
    stop-signal = "SIGUSR2"

    """

extension Integration {
    @Suite struct Lifecycle {
        @Test func startedVServerHasOwnNamespacesHostnameRootAndProc() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit + "hostname = \"web.example.org\"\n")
                try host.startDaemon()
                let hostOnly = "/tmp/vserverd-host-only-\(getpid())"
                _ = FileManager.default.createFile(atPath: hostOnly, contents: nil)
                defer { try? FileManager.default.removeItem(atPath: hostOnly) }

                let start = try host.ctl("start", "web")
                #expect(start.status == 0, "\(start)")
                let pid = try host.guestPID("web")
                for kind in ["mnt", "pid", "uts", "ipc", "cgroup"] {
                    #expect(try namespace(kind, of: pid) != namespace(kind, of: getpid()), "\(kind) namespace")
                }
                #expect(try namespace("net", of: pid) == namespace("net", of: getpid()), "net = host shares")

                let inside = { (command: String) throws -> CommandResult in
                    try run("/usr/bin/nsenter", ["-t", "\(pid)", "-a", "/bin/sh", "-c", command])
                }
                #expect(try inside("hostname").stdout == "web.example.org\n")
                #expect(try inside("cat /vserver-marker").stdout == "web\n")
                #expect(try inside("test -e \(hostOnly) && echo visible || echo absent").stdout == "absent\n")
                #expect(try inside("test -e \(host.socket) && echo visible || echo absent").stdout == "absent\n",
                        "the control socket is not reachable from inside")
                // PID 1 is the guest's busybox init (it renames itself "init"), not the host's.
                #expect(try inside("readlink /proc/1/exe").stdout == "/bin/busybox\n")
                #expect(try inside("cat /proc/1/cmdline").stdout.hasPrefix("init"))
                // Only the guest's processes: init, the shell and ls (no host PID is visible).
                let pids = try inside("ls /proc").stdout.split(separator: "\n").compactMap { Int($0) }
                #expect(pids.contains(1))
                #expect(pids.count <= 3, "guest sees \(pids)")
                // PID 1 of a namespace one level below the host's: the host's /proc shows both of its PIDs.
                let nspid = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
                    .split(separator: "\n").first { $0.hasPrefix("NSpid:") }
                #expect(nspid == "NSpid:\t\(pid)\t1", "\(nspid ?? "no NSpid")")
                #expect(try inside("grep NSpid /proc/self/status").stdout.split(separator: "\t").count == 2,
                        "inside, a process has one PID: the guest's /proc is its own namespace's")
                // Its own cgroup is its "/": no path of the host's cgroup tree shows.
                let cgroups = try inside("cat /proc/1/cgroup").stdout.split(separator: "\n")
                #expect(!cgroups.isEmpty && cgroups.allSatisfy { $0.hasSuffix(":/") }, "\(cgroups)")

                let status = try host.ctl("status", "web")
                #expect(status.status == 0, "\(status)")
                #expect(try host.ctl("stop", "web").status == 0)
                #expect(try host.ctl("status", "web").status == 3)
                #expect(kill(pid, 0) != 0, "PID 1 of the guest is gone")
            }
        }

        @Test func hostMountTableIsUnchangedByStartAndStopAndGuestMounts() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit + """
                    [[mount]]
                    source = "tmpfs"
                    target = "/mnt/scratch"
                    type = "tmpfs"
                    options = ["size=1m", "nosuid"]

                    """)
                try host.startDaemon()
                let before = try hostMountInfo(below: host.directory)
                #expect(try host.ctl("start", "web").status == 0)
                let pid = try host.guestPID("web")
                let guestMount = try run("/usr/bin/nsenter", ["-t", "\(pid)", "-a", "/bin/sh", "-c",
                                                              "mkdir -p /mnt/inside && mount -t tmpfs inside /mnt/inside && grep -c inside /proc/mounts"])
                #expect(guestMount.stdout == "1\n", "\(guestMount)")
                let guestMounts = try run("/usr/bin/nsenter", ["-t", "\(pid)", "-a", "cat", "/proc/mounts"]).stdout
                #expect(guestMounts.contains("/mnt/scratch tmpfs"), "the [[mount]] is inside: \(guestMounts)")
                #expect(try hostMountInfo(below: host.directory) == before, "running guest leaks no mount to the host")
                #expect(try host.ctl("stop", "web").status == 0)
                #expect(try hostMountInfo(below: host.directory) == before)
            }
        }

        @Test func stopOfInitIgnoringSIGTERMEndsBySIGKILLAfterStopTimeout() async throws {
            try await withTestHost { host in
                try host.addVServer("stubborn", config: """
                    init = ["/bin/sh", "-c", "trap '' TERM; while true; do sleep 1; done"]
                    stop-timeout = 1

                    """)
                try host.startDaemon()
                #expect(try host.ctl("start", "stubborn").status == 0)
                let pid = try host.guestPID("stubborn")
                let clock = ContinuousClock()
                let began = clock.now
                let stop = try host.ctl("stop", "stubborn")
                let took = clock.now - began
                #expect(stop.status == 0, "\(stop)")
                #expect(took >= .seconds(1), "waited stop-timeout first (took \(took))")
                #expect(took < .seconds(5), "then SIGKILL (took \(took))")
                #expect(kill(pid, 0) != 0)
                #expect(host.daemonLogText.contains("sending SIGKILL"))
            }
        }

        @Test func guestWhosePID1ExitsShowsStoppedWithinOneSecondAndPostStopRan() async throws {
            try await withTestHost { host in
                let root = try host.addVServer("halting", config: """
                    init = ["/bin/sh", "-c", "while [ ! -e /tmp/halt ]; do usleep 10000; done"]

                    """)
                let hookLog = "\(host.directory)/post-stop.log"
                try host.addHook("halting", "post-stop", "echo \"$1 $2\" >> \(hookLog)")
                try host.startDaemon()
                #expect(try host.ctl("start", "halting").status == 0)
                _ = FileManager.default.createFile(atPath: "\(root)/tmp/halt", contents: nil)
                try waitUntil("the guest to show as stopped", timeout: .seconds(1)) {
                    try host.ctl("status", "halting").status == 3
                }
                #expect(try String(contentsOfFile: hookLog, encoding: .utf8) == "post-stop halting\n")
                // Its state file no longer names a PID, only how it ended, which a restarted vserverd still shows.
                let state = try String(contentsOfFile: "\(host.stateDirectory)/halting.json", encoding: .utf8)
                #expect(!state.contains("\"pid\"") && state.contains("\"ended\""), "\(state)")
                host.killDaemon()
                try host.startDaemon()
                let list = try host.ctl("list", "--json")
                #expect(list.stdout.contains(#""exit":{"how":"exited","status":0}"#), "\(list)")
                #expect(list.stdout.contains("PID 1 exited with status 0"), "\(list)")
                try FileManager.default.removeItem(atPath: "\(root)/tmp/halt")
                #expect(try host.ctl("start", "halting").status == 0)
                #expect(try host.ctl("stop", "halting").status == 0)
                #expect(!FileManager.default.fileExists(atPath: "\(host.stateDirectory)/halting.json"))
            }
        }

        @Test func commandRunsUnderStubInitThatForwardsTheStopSignal() async throws {
            try await withTestHost { host in
                try host.addVServer("app", config: """
                    command = ["sh", "-c", "trap 'echo got TERM; exit 0' TERM; echo started; while true; do usleep 10000; done"]

                    """)
                try host.startDaemon()
                #expect(try host.ctl("start", "app").status == 0)
                let pid = try host.guestPID("app")
                let cmdline = try String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)
                #expect(cmdline.hasPrefix("vserverd-init\0--\0sh\0"), "\(cmdline)")
                let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")
                #expect(exe.hasPrefix("/memfd:vserverd-init"), "runs from the sealed memfd, not a host path: \(exe)")
                // The trap is set once "started" is out: a SIGTERM before would end sh without a word.
                try waitUntil("the command to set its trap") { (try? host.consoleLog("app"))?.contains("started\n") == true }
                let stop = try host.timedStop("app")
                #expect(stop.result.status == 0 && stop.took < .seconds(5), "\(stop)")
                let console = try host.consoleLog("app")
                #expect(console.contains("got TERM"), "the command got the forwarded SIGTERM: \(console)")
            }
        }

        @Test func twentyVServersStartedInParallelAllRunAndStopAllLeavesNoProcess() async throws {
            try await withTestHost { host in
                let names = (1...20).map { "guest\($0)" }
                for name in names { try host.addVServer(name, config: busyboxInit) }
                try host.startDaemon()
                let results = try await withThrowingTaskGroup(of: (String, CommandResult).self) { group in
                    for name in names {
                        group.addTask { (name, try host.ctl("start", name)) }
                    }
                    return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
                }
                for (name, result) in results { #expect(result.status == 0, "\(name): \(result)") }
                var pids: [Int32] = []
                var pidNamespaces = Set<String>()
                var mountNamespaces = Set<String>()
                for name in names {
                    let pid = try host.guestPID(name)
                    pids.append(pid)
                    pidNamespaces.insert(try namespace("pid", of: pid))
                    mountNamespaces.insert(try namespace("mnt", of: pid))
                }
                #expect(pidNamespaces.count == 20)
                #expect(mountNamespaces.count == 20)
                #expect(!pidNamespaces.contains(try namespace("pid", of: getpid())))
                let list = try host.ctl("list")
                #expect(list.stdout.split(separator: "\n").filter { $0.contains(" running ") }.count == 20, "\(list)")

                let stop = try host.ctl("stop", "--all")
                #expect(stop.status == 0, "\(stop)")
                for pid in pids { #expect(kill(pid, 0) != 0, "PID \(pid) is gone") }
                #expect(try processesIn(pidNamespaces).isEmpty)
            }
        }

        @Test func secondStartOfSameVServerNeverMakesTwoGuests() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit)
                try host.addHook("web", "pre-start", "sleep 0.2")
                try host.startDaemon()
                let results = try await withThrowingTaskGroup(of: CommandResult.self) { group in
                    for _ in 0..<4 { group.addTask { try host.ctl("start", "web") } }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(results.filter { $0.status == 0 }.count == 1, "\(results)")
                for failed in results where failed.status != 0 {
                    #expect(failed.stderr == "vserverctl: start web: already running\n")
                }
                let pid = try host.guestPID("web")
                #expect(try processesIn([try namespace("pid", of: pid)]).count == 1)
            }
        }

        @Test func daemonRestartReadoptsRunningGuestAndCanStopIt() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit)
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                let pid = try host.guestPID("web")
                host.killDaemon()
                #expect(kill(pid, 0) == 0, "the guest survives kill -9 of the daemon")
                try host.startDaemon()
                let status = try host.ctl("status", "web")
                #expect(status.status == 0, "\(status)")
                #expect(status.stdout.contains("PID \(pid)"))
                #expect(try host.ctl("stop", "web").status == 0)
                // The old daemon died, so the guest's parent is now the host's init (or a subreaper), which
                // reaps it when it gets to it: gone or a zombie, it runs no more.
                #expect(isGoneOrZombie(pid))
            }
        }
    }
}

func isGoneOrZombie(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
    return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
}

/// Processes (host PIDs) whose pid namespace is one of `namespaces`.
func processesIn(_ namespaces: Set<String>) throws -> [Int32] {
    try FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap { Int32($0) }.filter { pid in
        guard let inode = try? namespace("pid", of: pid) else { return false }
        return namespaces.contains(inode)
    }
}
