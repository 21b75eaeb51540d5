import Foundation
import Testing

/// Issue 10, finding 8: every guest has a pids limit (`[resources] pids-max`), so a fork bomb inside cannot take the
/// host's PIDs. On this project's hybrid test machines it is the v1 pids hierarchy; on a cgroup2 host with the pids
/// controller, pids.max of the guest's own cgroup.
extension Integration {
    @Suite struct PidsLimits {
        /// The guest's cgroup that carries pids.max: v1 pids hierarchy or cgroup2.
        static func limitDirectory(_ host: TestHost, _ name: String) -> String? {
            [host.legacyPidsCgroupParentDirectory, host.cgroupParentDirectory].compactMap { $0 }
                .map { "\($0)/vserver-\(name)" }
                .first { FileManager.default.fileExists(atPath: "\($0)/pids.max") }
        }

        /// Host PIDs of the processes in a pid namespace.
        static func processes(inPidNamespaceOf pid: Int32) throws -> [Int32] {
            let namespace = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/pid")
            return try FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap { Int32($0) }.filter {
                (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\($0)/ns/pid")) == namespace
            }
        }

        @Test func aForkBombInAGuestStopsAtItsPidsLimitAndTheHostAndOtherGuestsKeepWorking() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit + "[resources]\npids-max = 100\n")
                try host.addVServer("db", config: busyboxInit)
                try host.startDaemon()
                let start = try host.ctl("start", "web")
                try #require(start.status == 0, "\(start)")
                let pid1 = try host.guestPID("web")
                let limit = try #require(Self.limitDirectory(host, "web"), "web has a cgroup with pids.max")
                #expect(try String(contentsOfFile: "\(limit)/pids.max", encoding: .utf8) == "100\n")

                // 300 background sleeps from a command run with exec (it joins the limit too).
                let bomb = try host.ctl("exec", "web", "--", "sh", "-c",
                                        "i=0; while [ $i -lt 300 ]; do sleep 1000 </dev/null >/dev/null 2>&1 & "
                                            + "i=$((i+1)); done")
                #expect(bomb.stderr.contains("can't fork"), "\(bomb)")
                let inside = try Self.processes(inPidNamespaceOf: pid1)
                #expect(inside.count > 50 && inside.count <= 100, "\(inside.count) processes in web: the 101st fork failed")
                let events = try String(contentsOfFile: "\(limit)/pids.events", encoding: .utf8)
                let refusedForks = events.split(separator: "\n").first { $0.hasPrefix("max ") }
                    .flatMap { Int($0.dropFirst(4)) } ?? 0
                #expect(refusedForks > 0, "pids.events: \(events)")

                // The host and another guest still fork.
                #expect(try run("/bin/true", []).status == 0)
                #expect(try host.ctl("start", "db").status == 0)
                let other = try host.ctl("exec", "db", "--", "sh", "-c", "sleep 0 & wait; echo forked")
                #expect(other.stdout == "forked\n", "\(other)")

                #expect(try host.ctl("stop", "web").status == 0)
                #expect(inside.allSatisfy { kill($0, 0) != 0 }, "stopping web ended every process of the bomb")
                #expect(!FileManager.default.fileExists(atPath: limit), "its pids cgroup is removed")
            }
        }

        @Test func thePidsCgroupIsFoundAgainAfterADaemonRestartAndGoesWithTheGuestOrAFailedStart() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit + "[resources]\npids-max = 100\n")
                try host.addVServer("broken", config: "init = [\"/no/such/init\"]\n")
                try host.startDaemon()
                let brokenStart = try host.ctl("start", "broken")
                #expect(brokenStart.status == 1, "\(brokenStart)")
                #expect(brokenStart.stderr == "vserverctl: start broken: exec /no/such/init: No such file or directory\n")
                #expect(Self.limitDirectory(host, "broken") == nil, "a failed start leaves no pids cgroup")

                #expect(try host.ctl("start", "web").status == 0)
                let limit = try #require(Self.limitDirectory(host, "web"))
                host.killDaemon()
                try host.startDaemon()
                let exec = try host.ctl("exec", "web", "--", "cat", "/proc/self/cgroup")
                #expect(exec.status == 0, "\(exec)")
                let procs = try String(contentsOfFile: "\(limit)/cgroup.procs", encoding: .utf8)
                #expect(procs.split(separator: "\n").contains("\(try host.guestPID("web"))"))
                #expect(try host.ctl("stop", "web").status == 0)
                #expect(!FileManager.default.fileExists(atPath: limit), "removed after a restart of vserverd too")
            }
        }
    }
}
