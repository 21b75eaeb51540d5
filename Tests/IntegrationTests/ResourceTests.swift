import Foundation
import Testing
import VServerConfig

/// Issue 12: `[resources]` limits on a real kernel, changed live with `vserverctl set`, and the accounting in
/// `list --json` and `show`. Outside systemd vserverd writes the limits itself: on this project's hybrid test
/// machines into the guest's cgroups of the v1 memory, cpu, cpuset and pids hierarchies (the cgroup2 path is covered
/// against a fake cgroupfs tree in VServerCoreTests, the systemd path by scripts/e2e-systemd).
extension Integration {
    @Suite struct Resources {
        static let hasV1Memory = FileManager.default.fileExists(atPath: "/sys/fs/cgroup/memory/memory.limit_in_bytes")
        static let hasV1CPU = FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
        static let hasNoIOWeight = !["blkio.weight", "blkio.bfq.weight"].contains {
            FileManager.default.fileExists(atPath: "/sys/fs/cgroup/blkio/\($0)")
        } && !((try? String(contentsOfFile: "/sys/fs/cgroup/unified/cgroup.controllers", encoding: .utf8)) ?? "io")
            .contains("io")

        /// One vserver of `list --json`.
        static func listed(_ host: TestHost, _ name: String) throws -> [String: Any] {
            let list = try host.ctl("list", "--json")
            let object = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any]
            let vservers = object?["vservers"] as? [[String: Any]] ?? []
            return try #require(vservers.first { $0["name"] as? String == name }, "\(list)")
        }

        static func read(_ path: String) throws -> String {
            try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }

        @Test(.requires(hasV1Memory, "a v1 memory hierarchy (this project's hybrid test machines)"))
        func aProcessAboveMemoryMaxIsOOMKilledInsideAndTheGuestAndHostLive() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit + "[resources]\nmemory-max = \"64M\"\nswap-max = 0\n")
                try host.addVServer("db", config: busyboxInit)
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                #expect(try host.ctl("start", "db").status == 0)
                let memory = host.legacyCgroupDirectory("memory", "web")
                #expect(try Self.read("\(memory)/memory.limit_in_bytes") == "67108864")
                #expect(try Self.read("\(memory)/memory.memsw.limit_in_bytes") == "67108864")
                let pid1 = try host.guestPID("web")

                // dd fills a 200 MB buffer from /dev/zero: the kernel kills it at 64 MB.
                let hog = try host.ctl("exec", "web", "--", "dd", "if=/dev/zero", "of=/dev/null", "bs=209715200",
                                       "count=1")
                #expect(hog.status == 128 + SIGKILL, "\(hog)")
                let oom = try String(contentsOfFile: "\(memory)/memory.oom_control", encoding: .utf8)
                #expect(oom.contains("oom_kill 1") || oom.contains("oom_kill 2"), "\(oom)")
                #expect(kill(pid1, 0) == 0, "the guest's PID 1 lives")
                #expect(try host.ctl("status", "web").status == 0)
                #expect(try host.ctl("exec", "db", "--", "true").status == 0, "another guest lives")
                #expect(try run("/bin/true", []).status == 0, "the host lives")

                let listed = try Self.listed(host, "web")
                let peak = try #require(listed["memoryPeakBytes"] as? Int, "\(listed)")
                #expect(peak > 48 << 20 && peak <= 64 << 20, "peak \(peak)")
                #expect(listed["cpuUserSeconds"] is Double && listed["cpuSystemSeconds"] is Double, "\(listed)")
                #expect(try host.ctl("stop", "web").status == 0)
                #expect(!FileManager.default.fileExists(atPath: memory), "stop removes its memory cgroup")
            }
        }

        @Test(.requires(hasV1CPU, "a v1 cpu hierarchy (this project's hybrid test machines)"))
        func aBusyLoopGetsAtMostItsCPUMax() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit + "[resources]\ncpu-max = \"50%\"\n")
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                let cpu = host.legacyCgroupDirectory("cpu", "web")
                #expect(try Self.read("\(cpu)/cpu.cfs_quota_us") == "50000")
                let loop = try ChildProcess([Products.vserverctl, "exec", "web", "--", "sh", "-c", "while :; do :; done"],
                                            environment: ["VSERVERD_SOCKET": host.socket])
                defer { loop.stop() }
                let statFile = "\(try #require(host.cgroupParentDirectory))/vserver-web/cpu.stat"
                func usage() throws -> Double {
                    let line = try String(contentsOfFile: statFile, encoding: .utf8).split(separator: "\n")
                        .first { $0.hasPrefix("usage_usec ") }
                    return Double(try #require(line).dropFirst(11)) ?? 0
                }
                try waitUntil("the loop to run in the guest") { try usage() > 50_000 }
                let clock = ContinuousClock()
                let (before, started) = (try usage(), clock.now)
                // A measuring window, not synchronisation: the share of one CPU over 5 s of wall time.
                usleep(5_000_000)
                let (after, ended) = (try usage(), clock.now)
                let wall = Double((ended - started).components.seconds) * 1e6
                    + Double((ended - started).components.attoseconds) / 1e12
                let share = (after - before) / wall
                #expect(share <= 0.55, "the loop got \(share * 100)% of a CPU")
                #expect(share >= 0.05, "the loop ran (\(share * 100)%)")
                let throttled = try String(contentsOfFile: "\(cpu)/cpu.stat", encoding: .utf8)
                #expect(!throttled.contains("nr_throttled 0\n"), "\(throttled)")
            }
        }

        @Test(.requires(hasV1Memory, "a v1 memory hierarchy (this project's hybrid test machines)"))
        func setChangesARunningGuestAtOnceAndItsFileKeepsItsComments() async throws {
            try await withTestHost { host in
                let config = busyboxInit + """
                    # Limits agreed with the customer (ticket 4711).
                    [resources]
                    memory-max  = "64M"     # hard limit
                    pids-max    = 200       # fork bombs stop here

                    """
                try host.addVServer("web", config: config)
                let file = "\(host.configDirectory)/web/vserver.toml"
                let original = try String(contentsOfFile: file, encoding: .utf8)
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                let memory = host.legacyCgroupDirectory("memory", "web")
                #expect(try Self.read("\(memory)/memory.limit_in_bytes") == "67108864")

                let set = try host.ctl("set", "web", "memory-max=128M")
                #expect(set.status == 0, "\(set)")
                #expect(set.stdout.contains("resources.memory-max  128M"), "\(set)")
                #expect(try Self.read("\(memory)/memory.limit_in_bytes") == "134217728", "changed at once")
                let edited = try String(contentsOfFile: file, encoding: .utf8)
                #expect(edited == original.replacingOccurrences(of: "memory-max  = \"64M\"",
                                                                with: "memory-max  = \"128M\""), "\(edited)")

                let runtime = try host.ctl("set", "web", "--runtime", "memory-max=96M", "cpu-max=150%")
                #expect(runtime.status == 0, "\(runtime)")
                #expect(try Self.read("\(memory)/memory.limit_in_bytes") == "100663296")
                #expect(try Self.read(host.legacyCgroupDirectory("cpu", "web") + "/cpu.cfs_quota_us") == "150000",
                        "a controller the guest had no cgroup of gets one")
                let inCPU = try String(contentsOfFile: host.legacyCgroupDirectory("cpu", "web") + "/cgroup.procs",
                                       encoding: .utf8)
                #expect(inCPU.split(separator: "\n").contains("\(try host.guestPID("web"))"), "PID 1 moved in")
                #expect(try String(contentsOfFile: file, encoding: .utf8) == edited, "--runtime leaves the file")
                let show = try host.ctl("show", "web")
                #expect(show.stdout.contains("resources.memory-max  96M") && show.stdout.contains("resources.cpu-max"),
                        "\(show)")

                let bad = try host.ctl("set", "web", "memory-max=lots")
                #expect(bad.status == 1)
                #expect(bad.stderr.contains("resources.memory-max: must be a size"), "\(bad)")
                #expect(try Self.read("\(memory)/memory.limit_in_bytes") == "100663296", "nothing changed")

                #expect(try host.ctl("restart", "web").status == 0)
                #expect(try Self.read("\(memory)/memory.limit_in_bytes") == "134217728", "the persisted value")
                #expect(!FileManager.default.fileExists(atPath: host.legacyCgroupDirectory("cpu", "web")),
                        "the runtime-only cpu limit is gone after a restart")
            }
        }

        @Test(.requires(hasNoIOWeight, "a host without io weights (this project's hybrid test machines)"))
        func aLimitTheHostCannotEnforceIsAnErrorAtCheckAndStart() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit + "[resources]\nio-weight = 200\n")
                let check = try host.ctl("check", "--config-dir", host.configDirectory, "--lib-dir",
                                         host.libDirectory, "web")
                #expect(check.status == 1, "\(check)")
                let file = "\(host.configDirectory)/web/vserver.toml"
                #expect(check.stdout.contains("web: error: \(file):5: resources.io-weight: this host cannot enforce "
                                              + "it:"), "\(check)")
                try host.startDaemon()
                let start = try host.ctl("start", "web")
                #expect(start.status == 1)
                #expect(start.stderr.contains("resources.io-weight: this host cannot enforce it"), "\(start)")
            }
        }

        @Test(.requires(FileManager.default.isExecutableFile(atPath: "/usr/sbin/mkfs.btrfs"),
                        "mkfs.btrfs (apt-get install btrfs-progs)"))
        func aDiskLimitStopsWritesInsideAtItsSizeAndIsRaisedLive() async throws {
            try await withTestHost { host in
                try withLoopFileSystem("btrfs") { disk in
                    let guests = disk.mountPoint + "/guests"
                    #expect(mkdir(guests, 0o700) == 0)
                    let root = guests + "/web"
                    try Btrfs.createSubvolume(at: root)
                    #expect(try run("/bin/cp", ["-a", BaseRootfs.path + "/.", root]).status == 0)
                    try host.addVServer("web", config: "root = \"\(root)\"\n" + busyboxInit
                                        + "[disk]\nspace-max = \"20M\"\n")
                    let check = try host.ctl("check", "--config-dir", host.configDirectory, "--lib-dir",
                                             host.libDirectory, "web")
                    #expect(check.stdout.contains("web: disk limits: btrfs qgroup 0/"), "\(check)")
                    try host.startDaemon()
                    defer { _ = try? host.ctl("stop", "web") }
                    #expect(try host.ctl("start", "web").status == 0)

                    let fill = try host.ctl("exec", "web", "--", "dd", "if=/dev/zero", "of=/fill", "bs=1048576",
                                            "count=30")
                    #expect(fill.status != 0 && fill.stderr.contains("Disk quota exceeded"), "\(fill)")
                    let written = try FileManager.default.attributesOfItem(atPath: root + "/fill")[.size] as? Int ?? 0
                    #expect(written > 12 << 20 && written <= 21 << 20, "\(written) bytes written")

                    let du = try host.ctl("du", "--config-dir", host.configDirectory, "--lib-dir", host.libDirectory,
                                          "--json", "web")
                    let object = try JSONSerialization.jsonObject(with: Data(du.stdout.utf8)) as? [String: Any]
                    let row = try #require((object?["vservers"] as? [[String: Any]])?.first, "\(du)")
                    #expect(row["source"] as? String == "qgroup" && row["limitBytes"] as? Int == 20 << 20, "\(row)")
                    let used = try #require(row["usedBytes"] as? Int)
                    #expect(used >= written && used <= 22 << 20, "du: \(used) of 20M")
                    let listed = try Self.listed(host, "web")
                    #expect(listed["diskLimitBytes"] as? Int == 20 << 20, "\(listed)")

                    let raise = try host.ctl("set", "web", "space-max=40M")
                    #expect(raise.status == 0, "\(raise)")
                    let more = try host.ctl("exec", "web", "--", "dd", "if=/dev/zero", "of=/more", "bs=1048576",
                                            "count=10")
                    #expect(more.status == 0, "raised live: \(more)")
                    #expect(try String(contentsOfFile: "\(host.configDirectory)/web/vserver.toml", encoding: .utf8)
                        .contains("space-max = \"40M\""))
                    #expect(try host.ctl("stop", "web").status == 0)
                }
            }
        }

        /// `[namespaces] time = true`: the guest's uptime starts at its start, for its init and for a command run with
        /// exec, with and without a user namespace; a guest without it sees the host's.
        @Test func aTimeNamespaceGivesTheGuestItsOwnUptime() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit + "[namespaces]\ntime = true\n")
                let shifted = try host.addVServer("userns", config: busyboxInit + "context = 1000\n[namespaces]\n"
                                                  + "time = true\nuser = true\n")
                #expect(try run("/bin/chown", ["-R", "65536000:65536000", shifted]).status == 0)
                try host.addVServer("db", config: busyboxInit)
                try host.startDaemon()
                for name in ["web", "userns", "db"] {
                    let start = try host.ctl("start", name)
                    #expect(start.status == 0, "\(name): \(start)")
                }
                func uptime(_ text: String) -> Double { Double(text.split(separator: " ").first ?? "") ?? -1 }
                let hostUptime = uptime(try String(contentsOfFile: "/proc/uptime", encoding: .utf8))
                for name in ["web", "userns"] {
                    let inside = try host.ctl("exec", name, "--", "cat", "/proc/uptime")
                    #expect(inside.status == 0, "\(inside)")
                    #expect(uptime(inside.stdout) >= 0 && uptime(inside.stdout) < 60, "\(name): \(inside.stdout)")
                    let pid1 = try host.guestPID(name)
                    let timeNamespace = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid1)/ns/time")
                    #expect(timeNamespace != (try FileManager.default.destinationOfSymbolicLink(
                        atPath: "/proc/self/ns/time")), "\(name)'s PID 1 is in a time namespace of its own")
                }
                let db = try host.ctl("exec", "db", "--", "cat", "/proc/uptime")
                #expect(abs(uptime(db.stdout) - hostUptime) < 30, "db shares the host's: \(db.stdout) / \(hostUptime)")
            }
        }

        /// `[resources] lxcfs = true` with an lxcfs of the test's own (`--lxcfs-dir`): free inside shows the guest's
        /// memory-max; a guest without it shows the host's; no lxcfs where it is said to be refuses the start.
        @Test(.requires(FileManager.default.isExecutableFile(atPath: "/usr/bin/lxcfs") && hasV1Memory,
                        "lxcfs (apt-get install lxcfs) and a v1 memory hierarchy"))
        func lxcfsShowsTheGuestItsOwnMemoryLimit() async throws {
            try await withTestHost { host in
                let mount = host.directory + "/lxcfs"
                #expect(mkdir(mount, 0o755) == 0)
                let lxcfs = try ChildProcess(["/usr/bin/lxcfs", "-f", "-p", host.directory + "/lxcfs.pid", mount],
                                             environment: nil)
                defer {
                    // Guests first: their /proc holds binds of lxcfs's files.
                    _ = try? host.ctl("stop", "--all")
                    kill(lxcfs.pid, SIGTERM)
                    if (try? lxcfs.wait(timeout: .seconds(10))) == nil { _ = try? run("/bin/umount", ["-l", mount]) }
                }
                try waitUntil("lxcfs to serve \(mount)") {
                    FileManager.default.fileExists(atPath: mount + "/proc/meminfo")
                }
                try host.addVServer("web", config: busyboxInit + "[resources]\nmemory-max = \"64M\"\nlxcfs = true\n")
                try host.addVServer("db", config: busyboxInit)
                try host.addVServer("nolxcfs", config: busyboxInit + "[resources]\nlxcfs = true\n")
                try host.startDaemon(["--lxcfs-dir", mount])
                #expect(try host.ctl("start", "web").status == 0)
                #expect(try host.ctl("start", "db").status == 0)
                let free = try host.ctl("exec", "web", "--", "head", "-n", "1", "/proc/meminfo")
                #expect(free.stdout.split(separator: " ", omittingEmptySubsequences: true)
                            == ["MemTotal:", "65536", "kB\n"], "\(free)")
                let hostTotal = try String(contentsOfFile: "/proc/meminfo", encoding: .utf8).split(separator: "\n")[0]
                let db = try host.ctl("exec", "db", "--", "head", "-n", "1", "/proc/meminfo")
                #expect(db.stdout == hostTotal + "\n", "\(db)")
                host.killDaemon()
                try host.startDaemon(["--lxcfs-dir", host.directory + "/no-lxcfs-here"])
                let refused = try host.ctl("start", "nolxcfs")
                #expect(refused.status == 1)
                #expect(refused.stderr.contains("lxcfs = true needs lxcfs mounted on \(host.directory)/no-lxcfs-here"),
                        "\(refused)")
            }
        }
    }
}
