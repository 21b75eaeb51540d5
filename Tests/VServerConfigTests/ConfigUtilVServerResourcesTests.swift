import Glibc
import Testing

import VServerConfig
import VServerTestSupport

/// util-vserver's rlimits/, cgroup/, sched/, cpuset/, dlimits/ and nice, read into `[resources]` and `[disk]`:
/// exact values where they map, a warning naming the file where they are approximated or dropped.
@Suite struct UtilVServerResourcesTests {
    let fixture = ConfigFixture()
    /// The vserver "old": context 1500, root vservers/old.
    let dir: String
    let root: String
    let pageSize = UInt64(sysconf(Int32(_SC_PAGESIZE)))

    init() throws {
        root = try FileSystem.realPath(fixture.root("old"))
        fixture.tree.file("etc/old/context", "1500\n")
        // util-vserver's default set narrowed to vserverd's: its warning (ConfigUtilVServerAttributesTests) stays out.
        fixture.tree.file("etc/old/bcapabilities", "!DAC_READ_SEARCH,!SYS_PTRACE,!SYS_TTY_CONFIG,!LEASE\n")
        dir = fixture.etc + "/old"
    }

    func file(_ relative: String, _ text: String) { fixture.tree.file("etc/old/\(relative)", text) }

    func config(sourceLocation: SourceLocation = #_sourceLocation) throws -> VServerConfig {
        try #require(fixture.config("old", sourceLocation: sourceLocation), sourceLocation: sourceLocation)
    }

    /// What a config without any of the files has, with `change` made.
    func settings(_ change: (inout ResourceSettings) -> Void) -> ResourceSettings {
        var settings = ResourceSettings()
        change(&settings)
        return settings
    }

    /// "1G" as vserver.toml and the warnings write it: the value depends on the page size.
    func literal(_ bytes: UInt64) -> String { "\"\(ResourceKey.bytes(bytes))\"" }

    @Test func rlimitsCountPagesAndMapNprocAndRSS() throws {
        file("rlimits/nproc", "1000\n")
        file("rlimits/nproc.soft", "500\n")
        file("rlimits/rss.hard", "0x40000\n")
        file("rlimits/rss.soft", "128K\n")
        file("rlimits/rss.min", "1000\n")
        file("rlimits/as", "inf\n")
        file("rlimits/anon", "1000\n")
        file("rlimits/memlock.hard", "16\n")
        file("rlimits/README", "notes\n")
        let config = try config()
        #expect(config.resources == settings {
            $0.pidsMax = 1000
            $0.memoryMax = 0x40000 * pageSize
            $0.memoryHigh = 128 * 1024 * pageSize
        })
        #expect(config.warnings == [
            "\(dir)/rlimits/README: not a limit util-vserver knows; ignored",
            "\(dir)/rlimits/anon: ignored: vserverd has no equivalent",
            "\(dir)/rlimits/memlock.hard: ignored: vserverd has no equivalent",
            "\(dir)/rlimits/rss.min: ignored: vserverd has no equivalent",
            "\(dir)/rlimits/nproc.soft: ignored: pids-max has no soft limit",
            "\(dir)/rlimits/as: ignored: rlimits/rss.hard sets memory-max",
        ])
        #expect(config.limits.isEmpty, "rlimits are the whole guest's, not [limits] of each process")
    }

    @Test func rlimitsAddressSpaceStandsInForRSSAndInfIsNoLimit() throws {
        file("rlimits/as.hard", "262144\n")
        file("rlimits/as.soft", "1000\n")
        file("rlimits/nproc", "inf\n")
        file("rlimits/rss", "inf\n")
        let config = try config()
        #expect(config.resources == settings {
            $0.memoryMax = 262_144 * pageSize
            $0.pidsMax = nil
        })
        #expect(config.warnings == [
            "\(dir)/rlimits/as.soft: ignored: vserverd has no equivalent",
            "\(dir)/rlimits/as.hard: approximated as memory-max = \(literal(262_144 * pageSize)) (the limit of the "
                + "address space, 262144 pages, not of the memory in use)",
        ])
    }

    @Test func cgroupFilesMapToTheirCgroup2Keys() throws {
        file("cgroup/name", "shared\n")
        file("cgroup/memory.limit_in_bytes", "1073741824\n")
        file("cgroup/memory.soft_limit_in_bytes", "512M\n")
        file("cgroup/memory.memsw.limit_in_bytes", "1610612736\n")
        file("cgroup/memory.swappiness", "10\n")
        file("cgroup/cpu.shares", "512\n")
        file("cgroup/cpu.cfs_quota_us", "150000\n")
        file("cgroup/cpu.cfs_period_us", "100000\n")
        file("cgroup/cpuset.cpus", "0-1\n")
        file("cgroup/pids.max", "300\n")
        file("cgroup/blkio.weight", "1000\n")
        let config = try config()
        #expect(config.resources == settings {
            $0.memoryMax = 1 << 30
            $0.memoryHigh = 512 << 20
            $0.swapMax = 512 << 20
            $0.cpuWeight = 50
            $0.cpuMaxPercent = 150
            $0.cpuset = "0-1"
            $0.pidsMax = 300
            $0.ioWeight = 10_000
        })
        #expect(config.warnings == [
            "\(dir)/cgroup/memory.swappiness: ignored: vserverd has no equivalent",
            "\(dir)/cgroup/memory.memsw.limit_in_bytes: approximated as swap-max = \"512M\" "
                + "(memory.memsw.limit_in_bytes 1.5G − memory.limit_in_bytes 1G)",
            "\(dir)/cgroup/name: ignored: vserverd does not read it",
        ])
    }

    @Test func cgroupValuesThatDoNotMapExactlyAreApproximated() throws {
        file("cgroup/cpu.shares", "100\n")
        file("cgroup/cpu.cfs_quota_us", "33333\n")
        file("cgroup/blkio.weight", "100\n")
        file("cgroup/memory.memsw.limit_in_bytes", "2G\n")
        file("cgroup/pids.max", "max\n")
        let config = try config()
        #expect(config.resources == settings {
            $0.cpuWeight = 10
            $0.cpuMaxPercent = 33
            $0.ioWeight = 19
            $0.pidsMax = nil
        })
        #expect(config.warnings == [
            "\(dir)/cgroup/memory.memsw.limit_in_bytes: ignored: without memory.limit_in_bytes vserverd has no "
                + "equivalent",
            "\(dir)/cgroup/cpu.cfs_quota_us: approximated as cpu-max = \"33%\" (cpu.cfs_quota_us 33333 / "
                + "cpu.cfs_period_us 100000)",
            "\(dir)/cgroup/cpu.shares: approximated as cpu-weight = 10 (cpu.shares 100 × 100 / 1024)",
            "\(dir)/cgroup/blkio.weight: approximated as io-weight = 19 (blkio.weight 100 of 10 to 1000)",
        ])
    }

    @Test func schedTokenBucketBecomesCPUMax() throws {
        file("sched/fill-rate", "3\n")
        file("sched/interval", "8\n")
        file("sched/tokens-max", "100\n")
        file("sched/priority-bias", "2\n")
        file("sched/0/fill-rate", "1\n")
        file("schedule", "1\n2\n3\n4\n5\n0\n")
        let config = try config()
        #expect(config.resources == settings { $0.cpuMaxPercent = 37 })
        #expect(config.warnings == [
            "\(dir)/schedule: ignored: util-vserver reads sched/ instead",
            "\(dir)/sched/0: ignored: vserverd has no equivalent",
            "\(dir)/sched/priority-bias: ignored: vserverd has no equivalent",
            "\(dir)/sched/tokens-max: ignored: vserverd has no equivalent",
            "\(dir)/sched/fill-rate: approximated as cpu-max = \"37%\" (fill-rate 3 / interval 8)",
        ])
    }

    @Test func theOlderScheduleFileAndAHalfSchedDirectory() throws {
        file("schedule", "7\n32\n500\n100\n1000\n0\n")
        #expect(try config().resources == settings { $0.cpuMaxPercent = 21 })
        #expect(try config().warnings == [
            "\(dir)/schedule: approximated as cpu-max = \"21%\" (fill-rate 7 / interval 32)",
        ])
        file("sched/fill-rate", "7\n")
        #expect(try config().resources == ResourceSettings())
        #expect(try config().warnings == [
            "\(dir)/schedule: ignored: util-vserver reads sched/ instead",
            "\(dir)/sched/fill-rate: ignored: without sched/interval the share of a CPU is unknown",
        ])
    }

    @Test func cpusetCpusIsTheCpusetWhenUtilVServerUsedIt() throws {
        file("cpuset/cpus", "1,3\n")
        file("cpuset/mems", "0\n")
        file("cpuset/cpu_exclusive", "1\n")
        #expect(try config().resources == ResourceSettings())
        #expect(try config().warnings == [
            "\(dir)/cpuset/cpu_exclusive: ignored: vserverd has no equivalent",
            "\(dir)/cpuset/cpus: ignored: util-vserver uses cpuset/ only with cpuset/name",
            "\(dir)/cpuset/mems: ignored: vserverd has no equivalent",
        ])
        file("cpuset/name", "old\n")
        #expect(try config().resources == settings { $0.cpuset = "1,3" })
        file("cpuset/nocreate", "")
        #expect(try config().resources == ResourceSettings())
        #expect(try config().warnings.contains(
            "\(dir)/cpuset/cpus: ignored: with cpuset/nocreate util-vserver used the cpuset as it was"))
    }

    @Test func theDiskLimitOnTheRootIsTheDiskTable() throws {
        file("dlimits/root/directory", "\(fixture.path("vservers/old"))/\n")
        file("dlimits/root/space_total", "1048576\n")
        file("dlimits/root/inodes_total", "100000\n")
        file("dlimits/root/reserved", "5\n")
        file("dlimits/other/directory", "/srv\n")
        file("dlimits/other/space_total", "1000\n")
        file("dlimits/other/inodes_total", "1000\n")
        file("dlimits/other/reserved", "0\n")
        file("dlimits/half/directory", root)
        file("dlimits/off/directory", root)
        file("dlimits/off/disabled", "")
        let config = try config()
        #expect(config.resources == settings {
            $0.diskSpaceMax = 1 << 30
            $0.diskInodesMax = 100_000
        })
        #expect(config.warnings == [
            "\(dir)/dlimits/half: ignored: util-vserver applies a disk limit only with directory, space_total, "
                + "inodes_total and reserved",
            "\(dir)/dlimits/other: ignored: a limit on /srv, not on the root \(root)",
            "\(dir)/dlimits/root/reserved: ignored: vserverd has no equivalent",
        ])
    }

    @Test(arguments: [("5", 33), ("-20", 8668), ("19", 1), ("-5", 305), ("40", 1)] as [(String, UInt64)])
    func niceIsACPUWeightByTheKernelsTable(nice: String, weight: UInt64) throws {
        file("nice", nice + "\n")
        let config = try config()
        #expect(config.resources == settings { $0.cpuWeight = weight })
        #expect(config.warnings == ["\(dir)/nice: approximated as cpu-weight = \(weight) (nice \(nice))"])
    }

    @Test func niceZeroIsTheDefault() throws {
        file("nice", "0\n")
        #expect(try config().resources == ResourceSettings())
        #expect(try config().warnings.isEmpty)
    }

    @Test func whereTwoFilesSetALimitTheLowerCountsAndTheCgroupWeightWins() throws {
        file("rlimits/rss", "524288\n")
        file("cgroup/memory.limit_in_bytes", "1G\n")
        file("cgroup/cpu.shares", "2048\n")
        file("nice", "-5\n")
        file("sched/fill-rate", "1\n")
        file("sched/interval", "2\n")
        file("cgroup/cpu.cfs_quota_us", "50000\n")
        let config = try config()
        #expect(config.resources == settings {
            $0.memoryMax = 1 << 30
            $0.cpuWeight = 200
            $0.cpuMaxPercent = 50
        })
        #expect(config.warnings == [
            "\(dir)/rlimits/rss: ignored: cgroup/memory.limit_in_bytes sets a lower memory-max = \"1G\"",
            "\(dir)/sched/fill-rate: ignored: cgroup/cpu.cfs_quota_us sets the same cpu-max = \"50%\"",
            "\(dir)/nice: ignored: cgroup/cpu.shares sets cpu-weight = 200",
        ])
    }

    @Test func aBadValueNamesTheFileAndLine() {
        let cases: [(file: String, text: String, error: String)] = [
            ("rlimits/rss", "lots\n", "rlimits/rss:1: expected a number or \"inf\", found \"lots\""),
            ("cgroup/memory.limit_in_bytes", "12Q\n",
             "cgroup/memory.limit_in_bytes:1: expected a number of bytes or -1, found \"12Q\""),
            ("cgroup/cpu.shares", "half\n", "cgroup/cpu.shares:1: expected an integer, found \"half\""),
            ("cgroup/pids.max", "many\n", "cgroup/pids.max:1: expected a number or \"max\", found \"many\""),
            ("cgroup/cpuset.cpus", "a-b\n",
             "cgroup/cpuset.cpus:1: as resources.cpuset: must list CPUs as the kernel does (\"0-1,3\"), or be "
                + "\"all\", not \"a-b\""),
            ("schedule", "7\nsoon\n", "schedule:2: expected the interval, found \"soon\""),
            ("nice", "high\n", "nice:1: expected a nice level from -20 to 19, found \"high\""),
            ("dlimits/x/inodes_total", "0\n",
             "dlimits/x/inodes_total:1: as disk.inodes-max: must be an integer from 1 to 4294967296 or \"max\", "
                + "not 0"),
        ]
        for (index, (relative, text, error)) in cases.enumerated() {
            let fixture = ConfigFixture()
            fixture.root("old")
            fixture.tree.file("etc/old/context", "1500\n")
            if relative.hasPrefix("dlimits/") {
                fixture.tree.file("etc/old/dlimits/x/directory", fixture.path("vservers/old"))
                fixture.tree.file("etc/old/dlimits/x/space_total", "1000\n")
                fixture.tree.file("etc/old/dlimits/x/reserved", "0\n")
            }
            fixture.tree.file("etc/old/\(relative)", text)
            #expect(fixture.error("old") == "\(fixture.etc)/old/\(error)", "case \(index)")
        }
        file("sched/fill-rate", "1\n")
        file("sched/interval", "0\n")
        #expect(fixture.error("old") == "\(dir)/sched/interval:1: the interval must be at least 1")
    }

    @Test func importWritesTheResourcesAndTheyReadBackTheSame() throws {
        file("rlimits/nproc", "1000\n")
        file("cgroup/memory.limit_in_bytes", "1G\n")
        file("cgroup/memory.soft_limit_in_bytes", "768M\n")
        file("cgroup/memory.memsw.limit_in_bytes", "1536M\n")
        file("cgroup/cpu.shares", "100\n")
        file("cgroup/cpuset.cpus", "0\n")
        file("cgroup/blkio.weight", "250\n")
        file("sched/fill-rate", "3\n")
        file("sched/interval", "2\n")
        file("dlimits/1/directory", root)
        file("dlimits/1/space_total", "1048576\n")
        file("dlimits/1/inodes_total", "100000\n")
        file("dlimits/1/reserved", "0\n")
        let before = try config()

        let written = try fixture.importUtil("etc/old")
        #expect(written.text == """
            # Converted by `vserverctl import \(dir)` from its util-vserver files in this directory,
            # which vserverd no longer reads now that this file exists; fstab and scripts/ it still reads.

            context = 1500
            root = "\(root)"

            [resources]
            memory-max = "1G"
            memory-high = "768M"
            swap-max = "512M"
            cpu-max = "150%"
            cpu-weight = 10
            cpuset = "0"
            pids-max = 1000
            io-weight = 50

            [disk]
            space-max = "1G"
            inodes-max = 100000

            """)
        #expect(written.config.warnings == before.warnings)
        #expect(before.warnings.count == 4, "\(before.warnings)")
        let after = try config()
        #expect(after.configFile == "\(dir)/vserver.toml", "read from vserver.toml now")
        #expect(after.resources == before.resources)
        #expect(after.resources == settings {
            $0.memoryMax = 1 << 30
            $0.memoryHigh = 768 << 20
            $0.swapMax = 512 << 20
            $0.cpuMaxPercent = 150
            $0.cpuWeight = 10
            $0.cpuset = "0"
            $0.pidsMax = 1000
            $0.ioWeight = 50
            $0.diskSpaceMax = 1 << 30
            $0.diskInodesMax = 100_000
        })
    }

    @Test func tomlWriterWritesTheResourceKeysThatAreNotTheDefault() throws {
        var config = VServerConfig(name: "web", context: 1100, root: fixture.root("web"), configDirectory: "",
                                   configFile: "")
        #expect(!TOMLWriter.render(config, header: []).contains("["), "the defaults write no table")
        config.resources.pidsMax = 4096
        config.resources.lxcfs = false
        #expect(!TOMLWriter.render(config, header: []).contains("["), "pids-max 4096 is the default")
        config.resources.memoryMax = 1000
        config.resources.memoryHigh = 3 << 29
        config.resources.swapMax = 0
        config.resources.cpuMaxPercent = 250
        config.resources.cpuWeight = 50
        config.resources.cpuset = "0-1,3"
        config.resources.pidsMax = nil
        config.resources.ioWeight = 200
        config.resources.lxcfs = true
        config.resources.diskInodesMax = 5000
        let text = TOMLWriter.render(config, header: [])
        #expect(text == """
            context = 1100
            root = "\(fixture.path("vservers/web"))"

            [resources]
            memory-max = 1000
            memory-high = "1.5G"
            swap-max = 0
            cpu-max = "250%"
            cpu-weight = 50
            cpuset = "0-1,3"
            pids-max = "max"
            io-weight = 200
            lxcfs = true

            [disk]
            inodes-max = 5000

            """)
        fixture.vserver("web", text)
        #expect(fixture.config("web")?.resources == config.resources)
        config.resources = settings { $0.diskSpaceMax = 10 << 30 }
        #expect(TOMLWriter.render(config, header: []).hasSuffix("\"\n\n[disk]\nspace-max = \"10G\"\n"))
    }

    @Test func theResourceFilesMakeAUtilVServerDirectory() {
        for marker in ["rlimits", "cgroup", "sched", "cpuset", "dlimits"] {
            let fixture = ConfigFixture()
            fixture.tree.directory("etc/plain/\(marker)")
            #expect(UtilVServerConfig.isPresent(in: fixture.path("etc/plain")), "\(marker)")
        }
        #expect(!UtilVServerConfig.isPresent(in: fixture.path("vservers/old")))
    }

    // Found by scripts/fuzz (utilvserver): × 100 of a number near Int64.max trapped with an arithmetic overflow,
    // in the daemon at every load of the configuration.
    @Test func cgroupCPUNumbersNearTheLimitOfTheirTypeAreClamped() throws {
        file("cgroup/cpu.cfs_quota_us", "500333333333330000\n")
        file("cgroup/cpu.cfs_period_us", "1\n")
        file("cgroup/cpu.shares", "9223372036854775807\n")
        let config = try config()
        #expect(config.resources == settings {
            $0.cpuMaxPercent = 100_000
            $0.cpuWeight = 10_000
        })
        #expect(config.warnings == [
            "\(dir)/cgroup/cpu.cfs_quota_us: approximated as cpu-max = \"100000%\" (cpu.cfs_quota_us "
                + "500333333333330000 / cpu.cfs_period_us 1)",
            "\(dir)/cgroup/cpu.shares: approximated as cpu-weight = 10000 (cpu.shares 9223372036854775807 × 100 / "
                + "1024)",
        ])
    }

    @Test func aFillRateNearTheLimitOfItsTypeIsClamped() throws {
        file("sched/fill-rate", "9223372036854775807\n")
        file("sched/interval", "3\n")
        #expect(try config().resources == settings { $0.cpuMaxPercent = 100_000 })
    }
}
