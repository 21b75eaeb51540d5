import Glibc
import Testing

import VServerBuild
import VServerConfig
import VServerTestSupport

// Issue 10, finding 6: CAP_NET_RAW on the host's network, and `check`'s warnings about what reaches the host.

// MARK: CAP_NET_RAW

@Test func capNetRawIsOnlyInTheDefaultSetWithAPrivateNetwork() throws {
    let fixture = ConfigFixture()
    let netRaw: UInt64 = 1 << 13
    for (toml, hasIt) in [
        ("", false), ("[namespaces]\nuser = true\n", false), ("[namespaces]\nnet = \"none\"\n", true),
        ("[namespaces]\nnet = \"none\"\nuser = true\n", true),
    ] {
        fixture.vserver("web", toml)
        let config = try #require(fixture.config("web"))
        #expect((config.capabilities & netRaw != 0) == hasIt, "\(toml)")
        #expect(config.warnings.isEmpty, "\(toml)")
    }
    // A guest on the host's network that needs ping adds it, and is told what that means.
    fixture.vserver("web", "[capabilities]\nadd = [\"CAP_NET_RAW\"]\n")
    let added = try #require(fixture.config("web"))
    #expect(added.capabilities & netRaw != 0)
    #expect(
        added.warnings == [
            "\(fixture.etc)/web/vserver.toml:2: capabilities.add: CAP_NET_RAW on the host's network (net = \"host\") "
                + "sniffs and forges packets on every host interface"
        ])
    fixture.vserver("web", "[namespaces]\nnet = \"none\"\n[capabilities]\nadd = [\"CAP_NET_RAW\"]\n")
    #expect(try #require(fixture.config("web")).warnings.isEmpty)
}

@Test func aUtilVServerGuestOnTheHostsNetworkHasNoCapNetRawUnlessItsBcapabilitiesAddIt() throws {
    let fixture = ConfigFixture()
    fixture.tree.file("etc/web/context", "1042\n")
    fixture.tree.symlink("etc/web/vdir", to: fixture.root("web"))
    #expect(try #require(fixture.config("web")).capabilities & 1 << 13 == 0)
    fixture.tree.file("etc/web/bcapabilities", "NET_RAW\n")
    let config = try #require(fixture.config("web"))
    #expect(config.capabilities & 1 << 13 != 0)
    #expect(config.warnings.count == 2 && config.warnings.first?.contains("CAP_NET_RAW on the host's network") == true)
}

// MARK: Capabilities that reach the host

@Test func capabilitiesThatReachTheHostWarnWhenAddedWithoutAUserNamespace() throws {
    let fixture = ConfigFixture()
    let names = ["CAP_BPF", "CAP_PERFMON", "CAP_SYSLOG", "CAP_MAC_ADMIN", "CAP_MAC_OVERRIDE", "CAP_SYS_RESOURCE",
                 "CAP_LINUX_IMMUTABLE"]
    let list = names.map { "\"\($0)\"" }.joined(separator: ", ")
    fixture.vserver("web", "[capabilities]\nadd = [\(list)]\n")
    let warnings = try #require(fixture.config("web")).warnings
    #expect(warnings.count == names.count, "\(warnings)")
    for (name, warning) in zip(names, warnings) {
        #expect(warning.hasPrefix("\(fixture.etc)/web/vserver.toml:2: capabilities.add: \(name) "), "\(warning)")
        #expect(warning.hasSuffix(" unless [namespaces] user = true"), "\(warning)")
    }
    #expect(warnings.first?.contains("loads BPF programs into the host's kernel") == true)
    fixture.vserver("web", "[namespaces]\nuser = true\n[capabilities]\nadd = [\(list)]\n")
    #expect(try #require(fixture.config("web")).warnings.isEmpty)
}

// MARK: Mounts that reach the host

@Test func bindingTheHostsRootRunProcOrSysWarns() throws {
    let fixture = ConfigFixture()
    let sources = ["/", "/run", "/proc", "/proc/sys", "/sys", "/sys/fs/cgroup"]
    let toml = sources.enumerated().map { index, source in
        "[[mount]]\nsource = \"\(source)\"\ntarget = \"/mnt/\(index)\"\noptions = [\"rbind\"]\n"
    }.joined()
    fixture.vserver("web", toml)
    let warnings = try #require(fixture.config("web")).warnings
    let file = "\(fixture.etc)/web/vserver.toml"
    #expect(
        warnings == [
            "\(file):2: mount[1].source: binds the host's whole file system into the guest",
            "\(file):6: mount[2].source: binds the host's /run (the sockets of systemd, D-Bus and vserverd) into the "
                + "guest",
            "\(file):10: mount[3].source: binds the host's /proc into the guest, past the masks and read-only paths "
                + "of its own /proc",
            "\(file):14: mount[4].source: binds the host's /proc/sys into the guest, past the masks and read-only "
                + "paths of its own /proc",
            "\(file):18: mount[5].source: binds the host's /sys into the guest, past the masks and read-only paths of "
                + "its own /sys",
            "\(file):22: mount[6].source: binds the host's /sys/fs/cgroup into the guest, past the masks and read-only "
                + "paths of its own /sys",
        ])
    // Other host directories, and /run's own subdirectories, pass without a word.
    fixture.vserver("web", "[[mount]]\nsource = \"\(fixture.path("etc"))\"\ntarget = \"/mnt\"\noptions = [\"bind\"]\n")
    #expect(try #require(fixture.config("web")).warnings.isEmpty)
}

@Test func cgroupDebugfsAndBpfMountsWarn() throws {
    let fixture = ConfigFixture()
    fixture.vserver("web", "")
    fixture.tree.file(
        "etc/web/fstab",
        "cgroup2 /mnt/cg cgroup2 defaults 0 0\ncgroup /mnt/v1 cgroup cpu 0 0\ndebugfs /mnt/dbg debugfs defaults 0 0\n"
            + "bpf /mnt/bpf bpf defaults 0 0\ntmpfs /mnt/tmp tmpfs defaults 0 0\n")
    let warnings = try #require(fixture.config("web")).warnings
    try #require(warnings.count == 4, "\(warnings)")
    let file = "\(fixture.etc)/web/fstab"
    #expect(warnings[0].hasPrefix("\(file):1: type: mounts the host's cgroup hierarchy"), "\(warnings)")
    #expect(warnings[1].hasPrefix("\(file):2: type: mounts the host's cgroup hierarchy"), "\(warnings)")
    #expect(
        warnings[2] == "\(file):3: type: mounts the host kernel's debugfs (kernel internals, tracing of every process)")
    #expect(warnings[3] == "\(file):4: type: mounts the host's BPF file system (pinned programs and maps of the host)")
}
