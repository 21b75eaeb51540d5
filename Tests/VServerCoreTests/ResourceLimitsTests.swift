import Foundation
import Testing

import VServerConfig
import VServerTestSupport

@testable import VServerCore

@Test func pidsMaxDefaultsTo4096AndTakesANumberOrMax() throws {
    let fixture = ConfigFixture()
    fixture.vserver("web", "# nothing set\n")
    #expect(try #require(fixture.config("web")).resources.pidsMax == 4096)
    fixture.vserver("web", "[resources]\npids-max = 64\n")
    #expect(try #require(fixture.config("web")).resources.pidsMax == 64)
    fixture.vserver("web", "[resources]\npids-max = \"max\"\n")
    #expect(try #require(fixture.config("web")).resources.pidsMax == nil)
}

@Test func aBadPidsMaxNamesFileLineAndKey() {
    let fixture = ConfigFixture()
    let file = "\(fixture.etc)/web/vserver.toml"
    let cases = [
        ("pids-max = 0", "2: resources.pids-max: must be an integer from 1 to 4194304 or \"max\", not 0"),
        ("pids-max = -1", "2: resources.pids-max: must be an integer from 1 to 4194304 or \"max\", not -1"),
        ("pids-max = \"lots\"", "2: resources.pids-max: must be an integer from 1 to 4194304 or \"max\", not \"lots\""),
        ("pids-max = true", "2: resources.pids-max: expected an integer or \"max\", found a boolean"),
        ("pid-max = 5", "2: resources.pid-max: unknown key; did you mean \"pids-max\"?"),
    ]
    for (line, message) in cases {
        fixture.vserver("web", "[resources]\n\(line)\n")
        #expect(fixture.error("web") == "\(file):\(message)", "\(line)")
    }
}

@Test func everyResourceKeyReadsItsValueAndKeepsItsLine() throws {
    let fixture = ConfigFixture()
    fixture.vserver("web", """
        [resources]
        memory-max = "512M"
        memory-high = "1.5G"
        swap-max = 0
        cpu-max = "150%"
        cpu-weight = 200
        cpuset = "0-1,3"
        pids-max = 100
        io-weight = 50
        lxcfs = true
        [disk]
        space-max = "10G"
        inodes-max = 200000
        """)
    var expected = ResourceSettings()
    expected.memoryMax = 512 << 20
    expected.memoryHigh = 3 << 29
    expected.swapMax = 0
    expected.cpuMaxPercent = 150
    expected.cpuWeight = 200
    expected.cpuset = "0-1,3"
    expected.pidsMax = 100
    expected.ioWeight = 50
    expected.lxcfs = true
    expected.diskSpaceMax = 10 << 30
    expected.diskInodesMax = 200_000
    let read = try #require(fixture.config("web"))
    #expect(read.resources == expected)
    #expect(read.resourceLines[.cpuMax] == 5)
    #expect(read.resourceLines[.inodesMax] == 13)
}

@Test func aBadResourceValueNamesFileLineKeyAndWhatItTakes() {
    let fixture = ConfigFixture()
    let file = "\(fixture.etc)/web/vserver.toml"
    let cases = [
        ("[resources]\nmemory-max = \"lots\"", "2: resources.memory-max: must be a size such as \"512M\" (K, M, G, "
            + "T: powers of 1024), a number of bytes, or \"max\", not \"lots\""),
        ("[resources]\ncpu-max = 50", "2: resources.cpu-max: expected a string such as \"150%\" or \"max\", found an "
            + "integer"),
        ("[resources]\ncpu-max = \"0%\"", "2: resources.cpu-max: must be a share of one CPU such as \"150%\" (1.5 "
            + "CPUs; 1% to 100000%), or \"max\", not \"0%\""),
        ("[resources]\ncpu-weight = 0", "2: resources.cpu-weight: must be an integer from 1 to 10000, not 0"),
        ("[resources]\ncpuset = \"1-0\"", "2: resources.cpuset: must list CPUs as the kernel does (\"0-1,3\"), or "
            + "be \"all\", not \"1-0\""),
        ("[disk]\nspace-mx = \"1G\"", "2: disk.space-mx: unknown key; did you mean \"space-max\"?"),
        ("[disk]\nmemory-max = \"1G\"", "2: disk.memory-max: unknown key (known keys in [disk]: space-max, "
            + "inodes-max)"),
    ]
    for (text, message) in cases {
        fixture.vserver("web", text + "\n")
        #expect(fixture.error("web") == "\(file):\(message)", "\(text)")
    }
}

@Test func sizesReadAsPowersOf1024AndPrintBackTheSameWay() {
    #expect(ResourceKey.parseSize("512M") == 512 << 20)
    #expect(ResourceKey.parseSize("1.5G") == 3 << 29)
    #expect(ResourceKey.parseSize("4096") == 4096)
    #expect(ResourceKey.parseSize("2k") == 2048)
    #expect(ResourceKey.parseSize("1.5") == nil, "a fraction of a byte")
    #expect(ResourceKey.parseSize("M") == nil)
    #expect(ResourceKey.parseSize("99999999999T") == nil, "overflow")
    #expect(ResourceKey.bytes(512 << 20) == "512M")
    #expect(ResourceKey.bytes(3 << 29) == "1.5G")
    #expect(ResourceKey.bytes(1000) == "1000")
    #expect(ResourceKey.bytes(UInt64(Int64.max)) == "9223372036854775807", "no overflow for the largest TOML integer")
    #expect(ResourceKey.bytes(8 << 60) == "8388608T")
}

@Test func theV1CgroupsOfAGuestAreFoundInProcCgroup() {
    let host = CgroupHost(legacyMounts: ["pids": "/sys/fs/cgroup/pids", "memory": "/sys/fs/cgroup/memory",
                                         "cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct"])
    let text = "9:name=systemd:/\n8:pids:/vserverd-test.x/vserver-web\n4:memory:/work/x/vserver-web/sub\n"
        + "2:cpu,cpuacct:/\n0::/vserverd-test.x/vserver-web\n"
    let found = LegacyCgroups.of(procCgroup: text, name: "web", host: host)
    #expect(found.byController["pids"]?.directory == "/sys/fs/cgroup/pids/vserverd-test.x/vserver-web")
    #expect(found.byController["memory"]?.directory == "/sys/fs/cgroup/memory/work/x/vserver-web")
    #expect(found.processDirectories["memory"] == "/sys/fs/cgroup/memory/work/x/vserver-web/sub")
    #expect(found.byController["cpu"] == nil, "not in a cgroup of the guest")
    let scope = LegacyCgroups.of(procCgroup: "4:pids:/machine.slice/vserver-web.scope/init.scope\n", name: "web",
                                 host: host)
    #expect(scope.byController["pids"]?.directory == "/sys/fs/cgroup/pids/machine.slice/vserver-web.scope")
    #expect(scope.byController["pids"]?.isOwn == false)
    #expect(LegacyCgroups.of(procCgroup: "8:pids:/\n", name: "web", host: host).isEmpty)
}

/// A fake cgroup2 parent (files only): a controller the parent offers is turned on for its children.
@Test func onCgroup2AControllerIsTurnedOnInTheParentWhenItIsOffered() throws {
    let parent = FileManager.default.temporaryDirectory.appendingPathComponent("pids-\(getpid())").path
    try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: parent) }
    try "cpu memory pids\n".write(toFile: "\(parent)/cgroup.controllers", atomically: false, encoding: .utf8)
    try "".write(toFile: "\(parent)/cgroup.subtree_control", atomically: false, encoding: .utf8)
    #expect(try CgroupLimits.enableController("pids", in: parent))
    #expect(try String(contentsOfFile: "\(parent)/cgroup.subtree_control", encoding: .utf8) == "+pids")
    #expect(try !CgroupLimits.enableController("io", in: parent))
}

/// The v2 files a start writes into a fake cgroupfs tree, and what a live change writes (every file of the
/// controller: a limit taken away goes back to "max").
@Test func cgroup2FilesGetTheLimitsInTheKernelsFormat() throws {
    var resources = ResourceSettings()
    resources.memoryMax = 64 << 20
    resources.cpuMaxPercent = 50
    resources.cpuset = "0"
    resources.ioWeight = 300
    resources.pidsMax = 100
    #expect(CgroupLimits.controllers(resources) == ["memory", "cpu", "cpuset", "pids", "io"])
    let cgroup = FileManager.default.temporaryDirectory.appendingPathComponent("v2-\(getpid())").path
    try FileManager.default.createDirectory(atPath: cgroup, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: cgroup) }
    let files = ["memory.max", "memory.high", "memory.swap.max", "cpu.max", "cpu.weight", "cpuset.cpus", "io.weight",
                 "pids.max"]
    for file in files { try "untouched".write(toFile: "\(cgroup)/\(file)", atomically: false, encoding: .utf8) }
    for controller in CgroupLimits.controllers(resources) {
        try CgroupLimits.apply(CgroupLimits.unifiedWrites(resources, controller: controller, resetting: false),
                               in: cgroup)
    }
    func contents() throws -> [String: String] {
        try Dictionary(uniqueKeysWithValues: files.map {
            ($0, try String(contentsOfFile: "\(cgroup)/\($0)", encoding: .utf8))
        })
    }
    #expect(try contents() == [
        "memory.max": "67108864", "memory.high": "untouched", "memory.swap.max": "untouched",
        "cpu.max": "50000 100000", "cpu.weight": "untouched", "cpuset.cpus": "0", "io.weight": "default 300",
        "pids.max": "100",
    ])
    resources.memoryMax = nil
    resources.memoryHigh = 32 << 20
    resources.cpuMaxPercent = nil
    for controller in ["memory", "cpu"] {
        try CgroupLimits.apply(CgroupLimits.unifiedWrites(resources, controller: controller, resetting: true),
                               in: cgroup)
    }
    let changed = try contents()
    #expect(changed["memory.max"] == "max")
    #expect(changed["memory.high"] == "33554432")
    #expect(changed["memory.swap.max"] == "max")
    #expect(changed["cpu.max"] == "max 100000")
    #expect(changed["cpu.weight"] == "100")
}

@Test func v1FilesGetTheLimitsWithMemswLiftedFirstAndWeightsConverted() {
    var resources = ResourceSettings()
    resources.memoryMax = 64 << 20
    resources.swapMax = 16 << 20
    resources.cpuMaxPercent = 150
    resources.cpuWeight = 100
    #expect(CgroupLimits.legacyWrites(resources, controller: "memory", resetting: false).map(\.description) == [
        "memory.memsw.limit_in_bytes = -1", "memory.limit_in_bytes = 67108864",
        "memory.memsw.limit_in_bytes = 83886080",
    ])
    #expect(CgroupLimits.legacyWrites(resources, controller: "cpu", resetting: false).map(\.description) == [
        "cpu.cfs_period_us = 100000", "cpu.cfs_quota_us = 150000", "cpu.shares = 1024",
    ])
    #expect(CgroupLimits.blkioWeight(100) == 500)
    #expect(CgroupLimits.blkioWeight(1) == 10)
    #expect(CgroupLimits.blkioWeight(10_000) == 1000)
}

@Test func aLimitWithoutAControllerIsReportedWithWhatIsMissing() {
    var resources = ResourceSettings()
    resources.ioWeight = 100
    resources.memoryMax = 1 << 30
    let hybrid = CgroupHost(unifiedMount: "/sys/fs/cgroup/unified", unifiedControllers: [],
                            legacyMounts: ["memory": "/nonexistent/memory", "pids": "/nonexistent/pids"])
    let problems = hybrid.unenforceable(resources)
    #expect(problems.map(\.key) == [.ioWeight])
    #expect(problems.first?.description == "this host cannot enforce it: /sys/fs/cgroup/unified/cgroup.controllers "
        + "has no io, and no v1 blkio hierarchy is mounted; remove it to start the guest without this limit")
    let unified = CgroupHost(unifiedMount: "/sys/fs/cgroup", unifiedControllers: ["memory", "io", "pids"])
    #expect(unified.unenforceable(resources).isEmpty)
}

/// /proc/PID/stat read in place: a command with spaces and parentheses does not shift the fields; user and system time
/// include waited-for children's, in microseconds; rss is in pages.
@Test func processStatReadsTimesAndResidentMemoryPastAnOddCommand() throws {
    let proc = FileManager.default.temporaryDirectory.appendingPathComponent("procstat-\(getpid())").path
    try FileManager.default.createDirectory(atPath: "\(proc)/42", withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: proc) }
    // Fields 3..24: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
    // priority nice threads itrealvalue starttime vsize rss.
    let line = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 30 20 -20 0 1 0 1234 9999999 300 18446744073709551615"
    try (line + "\n").write(toFile: "\(proc)/42/stat", atomically: false, encoding: .utf8)
    let stat = try #require(ProcessTable.processStat(pid: 42, procRoot: proc))
    let tick = 1_000_000 / UInt64(sysconf(Int32(_SC_CLK_TCK)))
    #expect(stat.userMicroseconds == 280 * tick)
    #expect(stat.systemMicroseconds == 70 * tick)
    #expect(stat.residentBytes == 300 * UInt64(sysconf(Int32(_SC_PAGESIZE))))
    #expect(ProcessTable.processStat(pid: 43, procRoot: proc) == nil, "a process that is gone")
}
