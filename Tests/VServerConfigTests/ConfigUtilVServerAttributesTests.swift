import Glibc
import Testing

import VServerConfig
import VServerTestSupport

// Issue 14: util-vserver's list syntax in bcapabilities, ccapabilities, flags/cflags and nflags; util-vserver's
// default capability set; uts/ and sysctl/.

private let base = Capabilities.mask(Capabilities.defaultAllowlist) & ~(1 << UInt64(Capabilities.netRaw))

private func bit(_ name: String) -> UInt64 { 1 << UInt64(Capabilities.number(name)!) }

/// The warning of a util-vserver guest whose `bcapabilities` (or directory, `place`) adds none of util-vserver's
/// default capabilities that vserverd's default set leaves out.
func utilVServerDefaultSetWarning(_ place: String) -> String {
    "\(place): util-vserver would also have given CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE, CAP_SYS_TTY_CONFIG, CAP_LEASE "
        + "(from its default set), which vserverd's default set leaves out: add the ones the guest needs "
        + "(bcapabilities, or [capabilities] add in vserver.toml)"
}

@Test func bcapabilitiesAreReadInUtilVServersListSyntax() throws {
    let fixture = ConfigFixture()
    fixture.root("old")
    let dir = "etc/old"
    fixture.tree.file("\(dir)/context", "1042\n")
    fixture.tree.file(
        "\(dir)/bcapabilities",
        "!CAP_SYS_BOOT\n~cap_kill\nLEASE, sys_ptrace,~CAP_CHOWN\n^2\n!!SYS_TTY_CONFIG\n0x800000\n!^31\n  # note\n")
    let config = try #require(fixture.config("old"))
    let full = fixture.etc + "/old"
    #expect(
        config.capabilities
            == base & ~bit("SYS_BOOT") & ~bit("KILL") & ~bit("CHOWN") & ~bit("SETFCAP") | bit("LEASE")
            | bit("SYS_PTRACE") | bit("DAC_READ_SEARCH") | bit("SYS_TTY_CONFIG") | bit("SYS_NICE"))
    #expect(
        config.warnings == [
            "\(full)/bcapabilities:3: CAP_SYS_PTRACE lets a root guest reach the host unless [namespaces] user = true",
            "\(full)/bcapabilities:4: CAP_DAC_READ_SEARCH lets a root guest reach the host unless [namespaces] user = "
                + "true",
        ])
}

@Test func utilVServersWiderDefaultCapabilitiesAreOneWarningNamingThem() throws {
    let fixture = ConfigFixture()
    fixture.root("old")
    fixture.tree.file("etc/old/context", "1042\n")
    let full = fixture.etc + "/old"
    let advice = "which vserverd's default set leaves out: add the ones the guest needs (bcapabilities, or "
        + "[capabilities] add in vserver.toml)"
    // Without bcapabilities: on the directory.
    #expect(try #require(fixture.config("old")).warnings == [utilVServerDefaultSetWarning(full)])
    // What the file removes is not named; what it adds (LEASE) is not either.
    fixture.tree.file("etc/old/bcapabilities", "~SYS_PTRACE\nLEASE\n")
    #expect(
        try #require(fixture.config("old")).warnings == [
            "\(full)/bcapabilities: util-vserver would also have given CAP_DAC_READ_SEARCH, CAP_SYS_TTY_CONFIG "
                + "(from its default set), \(advice)"
        ])
    // Nothing narrower: no warning but the one for the capability that reaches the host.
    fixture.tree.file("etc/old/bcapabilities", "^2\n^28\n!SYS_PTRACE,~SYS_TTY_CONFIG\n")
    #expect(
        try #require(fixture.config("old")).warnings == [
            "\(full)/bcapabilities:1: CAP_DAC_READ_SEARCH lets a root guest reach the host unless [namespaces] user = "
                + "true"
        ])
}

@Test func flagsWithAModernEquivalentAreMappedAndTheRestWarned() throws {
    let fixture = ConfigFixture()
    fixture.root("old")
    let dir = "etc/old"
    fixture.tree.file("\(dir)/context", "1042\n")
    fixture.tree.file("\(dir)/bcapabilities", "!DAC_READ_SEARCH,!SYS_PTRACE,!SYS_TTY_CONFIG,!LEASE\n")
    fixture.tree.file("\(dir)/flags", "VIRT_UPTIME\nvxf_virt_mem, hide_netif\nnamespace\n!hide_netif\n")
    fixture.tree.file("\(dir)/ccapabilities", "set_utsname\n")
    fixture.tree.file("\(dir)/nflags", "lback_remap\n")
    fixture.tree.file("\(dir)/uts/domainname", "example.org\n")
    fixture.tree.file("\(dir)/uts/machine", "i686\n")
    fixture.tree.file("\(dir)/sysctl/0/setting", "kernel.shmmax\n")
    fixture.tree.file("\(dir)/sysctl/0/value", "268435456\n")
    let config = try #require(fixture.config("old"))
    let full = fixture.etc + "/old"
    #expect(config.timeNamespace)
    #expect(config.resources.lxcfs)
    #expect(config.domainname == "example.org")
    #expect(
        config.warnings == [
            "\(full)/ccapabilities:1: set_utsname: not given: vserverd sets the hostname from uts/nodename at start; "
                + "changing it inside needs CAP_SYS_ADMIN, which vserverd gives only with [namespaces] user = true "
                + "(its UTS namespace is its own)",
            "\(full)/flags:3: namespace: vserverd gives every guest its own namespaces",
            "\(full)/flags:2: virt_mem: mapped to [resources] lxcfs = true: /proc inside shows the guest's memory "
                + "limit (lxcfs must be mounted on the host, or the start fails)",
            "\(full)/flags:1: virt_uptime: mapped to [namespaces] time = true: the guest's uptime starts at zero",
            "\(full)/nflags:1: lback_remap: a bound guest's 127.0.0.1 is its loopback address (interfaces/lback) in "
                + "any case",
            "\(full)/uts/machine: not applied: uname in the guest reports the host kernel's machine",
            "\(full)/sysctl/0: kernel.shmmax = 268435456 not applied: vserverd applies no sysctls; the guest shares "
                + "the host's kernel and network settings (set it on the host if the host should have it)",
        ])
}

@Test func cflagsIsReadInsteadOfFlagsAndItsDefaultPseudoFlagIsUtilVServersDefault() throws {
    let fixture = ConfigFixture()
    fixture.root("old")
    fixture.tree.file("etc/old/context", "1042\n")
    fixture.tree.file("etc/old/flags", "virt_mem\n")
    fixture.tree.file("etc/old/cflags", "default\n")
    let config = try #require(fixture.config("old"))
    #expect(config.timeNamespace)
    #expect(!config.resources.lxcfs, "flags is not read when there is a cflags")
    #expect(config.warnings.contains { $0.hasPrefix("\(fixture.etc)/old/cflags:1: sc_helper: ") })
}

@Test func anUnknownNameInAListIsAnErrorNamingFileAndLine() {
    let fixture = ConfigFixture()
    fixture.root("old")
    fixture.tree.file("etc/old/context", "1042\n")
    let full = fixture.etc + "/old"
    fixture.tree.file("etc/old/flags", "virt_mem\nvirt_uptime,virt_magic\n")
    #expect(fixture.error("old") == "\(full)/flags:2: unknown flag \"virt_magic\"")
    fixture.tree.file("etc/old/flags", "")
    fixture.tree.file("etc/old/ccapabilities", "# none\n\nset_hostname\n")
    #expect(fixture.error("old") == "\(full)/ccapabilities:3: unknown context capability \"set_hostname\"")
    fixture.tree.file("etc/old/ccapabilities", "")
    fixture.tree.file("etc/old/nflags", "hide_netif,,lock\n")
    #expect(fixture.error("old") == "\(full)/nflags:1: empty item in \"hide_netif,,lock\"")
    fixture.tree.file("etc/old/nflags", "")
    fixture.tree.file("etc/old/bcapabilities", "CHOWN,!CAP_MAGIC\n")
    #expect(fixture.error("old") == "\(full)/bcapabilities:1: unknown capability \"CAP_MAGIC\"")
}

@Test func importOfMappedFlagsWritesTomlThatReadsBackTheSame() throws {
    let fixture = ConfigFixture()
    fixture.root("old")
    fixture.tree.file("etc/old/context", "1042\n")
    fixture.tree.file("etc/old/bcapabilities", "!SYS_BOOT\nLEASE\n")
    fixture.tree.file("etc/old/flags", "virt_uptime\nvirt_mem\n")
    fixture.tree.file("etc/old/domainname", "example.org\n")  // the older place of uts/domainname
    let before = try #require(fixture.config("old"))
    let written = try ConfigWriter.importUtilVServer(
        from: fixture.path("etc/old"), name: nil, configDirectory: fixture.etc, dryRun: false,
        environment: fixture.environment)
    #expect(written.text.contains("time = true"))
    #expect(written.text.contains("lxcfs = true"))
    #expect(written.text.contains("drop = [\"CAP_SYS_BOOT\"]"))
    #expect(written.text.contains("\ndomainname = \"example.org\"\n"))
    let after = try #require(fixture.config("old"))
    #expect(after.capabilities == before.capabilities)
    #expect(after.timeNamespace && after.resources.lxcfs)
    #expect(before.domainname == "example.org" && after.domainname == "example.org")
}

@Test func domainnameIsCheckedLikeAHostname() {
    let fixture = ConfigFixture()
    fixture.vserver("web", "domainname = \"nis example\"\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:1: domainname: \" \" is not allowed in a hostname (letters, digits, "
            + "\"-\", \".\", \"_\")")
    fixture.root("old")
    fixture.tree.file("etc/old/context", "1042\n")
    fixture.tree.file("etc/old/uts/domainname", "-bad\n")
    #expect(fixture.error("old") == "\(fixture.etc)/old/uts/domainname:1: must start with a letter or digit: \"-bad\"")
}
