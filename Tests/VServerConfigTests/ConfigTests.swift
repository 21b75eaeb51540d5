import Glibc
import Testing

import VServerBuild
import VServerConfig
import VServerTestSupport

/// The 1-based line of the first line of `text` containing `needle`.
private func line(of needle: String, in text: String) -> Int {
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    return (lines.firstIndex { $0.contains(needle) } ?? -1) + 1
}

private func realPath(_ path: String) -> String { (try? FileSystem.realPath(path)) ?? path }

@Test func aFullConfigurationSetsEveryField() throws {
    let fixture = ConfigFixture()
    let shared = fixture.tree.directory("srv/shared")
    fixture.vserver("db", "")
    let root = fixture.root("web")
    let toml = """
        context      = 1042
        root         = "\(root)"
        hostname     = "web.example.org"
        autostart    = true
        after        = ["db"]
        command      = ["nginx", "-g", "daemon off;"]
        stop-signal  = "rtmin+3"
        init-style   = "plain"
        on-reboot    = "stop"
        stop-timeout = 20
        hook-timeout = 5
        shell        = ["/bin/bash", "--login"]
        timezone     = "Europe/Berlin"
        environment  = { LANG = "C.UTF-8", "MY VAR" = "x y" }

        [namespaces]
        net  = "veth"
        user = true

        [network]
        address = "10.0.3.5/24"
        gateway = "10.0.3.1"
        bridge  = "br0"

        [capabilities]
        add  = ["CAP_SYS_NICE", "sys_admin"]
        drop = ["NET_RAW"]

        [limits]
        nofile  = { soft = 1024, hard = 4096 }
        core    = 0
        memlock = "unlimited"

        [[mount]]
        source  = "\(shared)"
        target  = "/mnt//shared/"
        options = ["rbind", "ro"]

        [[mount]]
        source  = "tmpfs"
        target  = "/tmp"
        type    = "tmpfs"
        options = ["nosuid", "nodev", "size=64m", "mode=1777"]
        """
    let file = fixture.vserver("web", toml)
    fixture.tree.file("etc/web/fstab", "# cache\nnone /var/cache/tmp tmpfs size=16m,mode=1777,nosuid 0 0\n")

    let config = try #require(fixture.config("web"))
    var expected = VServerConfig(
        name: "web", context: 1042, root: realPath(root), configDirectory: fixture.etc + "/web", configFile: file)
    expected.hostname = "web.example.org"
    expected.autostart = true
    expected.after = ["db"]
    expected.entry = .command(["nginx", "-g", "daemon off;"])
    expected.stopSignal = .init(number: 37, name: "SIGRTMIN+3")
    expected.stopTimeout = 20
    expected.hookTimeout = 5
    expected.shell = ["/bin/bash", "--login"]
    expected.timezone = "Europe/Berlin"
    expected.environment = ["LANG": "C.UTF-8", "MY VAR": "x y"]
    expected.network = .veth(VethSettings(
        addresses: [try #require(InterfaceAddress("10.0.3.5/24"))], gateway: IPAddress("10.0.3.1"), bridge: "br0"))
    expected.userNamespace = true
    expected.initStyle = .plain
    expected.onReboot = .stop
    // With a user namespace the wider set is the base (it already has CAP_SYS_NICE and CAP_SYS_ADMIN).
    expected.capabilities = Capabilities.mask(Capabilities.userNamespaceAllowlist + [12, 23, 21]) & ~(1 << 13)
    expected.limits = [
        .init(name: "nofile", resource: 7, soft: 1024, hard: 4096),
        .init(name: "core", resource: 4, soft: 0, hard: 0),
        .init(name: "memlock", resource: 8, soft: .max, hard: .max),
    ]
    expected.mounts = [
        .init(
            source: shared, target: "/mnt/shared", type: nil, flags: UInt(MS_BIND | MS_REC | MS_RDONLY), data: nil,
            origin: "vserver.toml:\(line(of: "[[mount]]", in: toml))"),
        .init(
            source: "tmpfs", target: "/tmp", type: "tmpfs", flags: UInt(MS_NOSUID | MS_NODEV),
            data: "size=64m,mode=1777",
            origin: "vserver.toml:\(line(of: "source  = \"tmpfs\"", in: toml) - 1)"),
        .init(
            source: "none", target: "/var/cache/tmp", type: "tmpfs", flags: UInt(MS_NOSUID), data: "size=16m,mode=1777",
            origin: "fstab:2"),
    ]
    #expect(config == expected)
}

@Test func anEmptyFileMeansEveryDefault() throws {
    let fixture = ConfigFixture()
    let root = fixture.root("web")
    let file = fixture.vserver("web", "# nothing set\n", root: false)
    let config = try #require(fixture.config("web"))
    let expected = VServerConfig(
        name: "web", context: 1000, root: realPath(root), configDirectory: fixture.etc + "/web", configFile: file)
    #expect(config == expected)
    #expect(config.entry == .initProgram(["/sbin/init"]))
    #expect(config.stopSignal == nil && config.initStyle == .auto && config.onReboot == .restart)
    #expect(config.shell == nil)
    #expect((config.stopTimeout, config.hookTimeout) == (10, 30))
    #expect(config.network == .host && !config.userNamespace && config.hostname == "web")
    #expect(config.seccomp == .default)
    #expect(
        Capabilities.names(in: config.capabilities) == [
            "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
            "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_SYS_BOOT", "CAP_AUDIT_WRITE",
            "CAP_SETFCAP",
        ])
    #expect(config.warnings.isEmpty)
}

// MARK: Invalid configurations name file, line and key

@Test func anUnknownTopLevelKeyIsAnError() {
    let fixture = ConfigFixture()
    fixture.vserver("web", "hostname = \"x\"\ncontxt = 1042\n")
    #expect(fixture.error("web") == "\(fixture.etc)/web/vserver.toml:2: contxt: unknown key; did you mean \"context\"?")
}

@Test func anUnknownKeyWithoutLookalikeListsTheKnownKeys() {
    let fixture = ConfigFixture()
    fixture.vserver("web", "[namespaces]\nnet = \"host\"\nipc = true\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:3: namespaces.ipc: unknown key (known keys in [namespaces]: net, user, time)")
}

@Test func unknownKeysInsideNestedTablesAreErrors() {
    let fixture = ConfigFixture()
    fixture.vserver("web", "[limits]\nnofile = { soft = 1, hard = 2, max = 3 }\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:2: limits.nofile.max: unknown key (known keys in "
            + "[limits.nofile]: soft, hard)"
    )
    fixture.vserver("web", "[[mount]]\nsource = \"tmpfs\"\ntarget = \"/tmp\"\ntype = \"tmpfs\"\nopts = []\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:5: mount[1].opts: unknown key (known keys in [[mount]]: source, "
            + "target, type, options)"
    )
    fixture.vserver("web", "[[mount]]\nsource = \"tmpfs\"\ntarget = \"/tmp\"\ntype = \"tmpfs\"\noption = []\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:5: mount[1].option: unknown key; did you mean \"options\"?")
}

@Test func aValueOfTheWrongTypeIsAnError() {
    let fixture = ConfigFixture()
    fixture.vserver("web", "autostart = \"yes\"\n")
    #expect(fixture.error("web") == "\(fixture.etc)/web/vserver.toml:1: autostart: expected a boolean, found a string")
    fixture.vserver("web", "\ncontext = \"1042\"\n")
    #expect(fixture.error("web") == "\(fixture.etc)/web/vserver.toml:2: context: expected an integer, found a string")
    fixture.vserver("web", "after = [\n  \"db\",\n  3,\n]\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:3: after: expected an array of strings, found an integer in it")
}

@Test func aContextOutsideTwoTo49151IsAnError() {
    let fixture = ConfigFixture()
    fixture.vserver("web", "# web\n\ncontext = 70000\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:3: context: must be an integer from 2 to 49151, not 70000")
    fixture.vserver("web", "context = 1\n")
    #expect(
        fixture.error("web") == "\(fixture.etc)/web/vserver.toml:1: context: must be an integer from 2 to 49151, not 1")
}

@Test func aTOMLSyntaxErrorNamesLineAndColumn() {
    let fixture = ConfigFixture()
    fixture.vserver("web", "hostname = \"web\"\nautostart = tru\n")
    #expect(fixture.error("web") == "\(fixture.etc)/web/vserver.toml:2:13: expected a value, found \"t\"")
    fixture.vserver("web", "root = \"/a\"\nroot = \"/b\"\n")
    #expect(
        fixture.error("web") == "\(fixture.etc)/web/vserver.toml:2:1: root: duplicate key (first defined on line 1)")
}

@Test func theSecondVServerWithTheSameContextIsInvalid() {
    let fixture = ConfigFixture()
    fixture.vserver("alpha", "hostname = \"a\"\ncontext = 1042\n")
    fixture.vserver("beta", "context = 1042\n")
    fixture.vserver("gamma", "")
    let set = fixture.load()
    #expect(set.configs["alpha"]?.context == 1042)
    #expect(
        set.invalid["beta"]?.description
            == "\(fixture.etc)/beta/vserver.toml:1: context: 1042 is already used by vserver \"alpha\" "
            + "(\(fixture.etc)/alpha/vserver.toml:2)")
    #expect(set.configs["gamma"]?.context == 1000)
}

@Test func defaultContextsAreTheLowestFreeFrom1000InNameOrder() {
    let fixture = ConfigFixture()
    fixture.vserver("a", "")
    fixture.vserver("b", "context = 1001\n")
    fixture.vserver("c", "")
    fixture.vserver("d", "context = 1000\n")
    fixture.vserver("e", "")
    fixture.vserver("z", "context = 7\n")
    let contexts = fixture.load().configs.mapValues(\.context)
    #expect(contexts == ["a": 1002, "b": 1001, "c": 1003, "d": 1000, "e": 1004, "z": 7])
}

@Test func aVServerInvalidForAnotherReasonKeepsItsContextReserved() {
    let fixture = ConfigFixture()
    fixture.vserver("broken", "context = 1000\nbogus = 1\n")
    fixture.vserver("web", "")
    let set = fixture.load()
    #expect(set.invalid["broken"] != nil)
    #expect(set.configs["web"]?.context == 1001)
}

@Test func aMissingRootIsAnError() {
    let fixture = ConfigFixture()
    fixture.vserver("web", "root = \"/nonexistent/vserver-root\"\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:1: root: /nonexistent/vserver-root does not exist")
    fixture.vserver("other", "", root: false)
    #expect(
        fixture.error("other")
            == "\(fixture.etc)/other/vserver.toml: root: \(fixture.path("vservers/other")) does not exist (the "
            + "default root; set root)"
    )
    fixture.vserver("web", "root = \"vservers/web\"\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:1: root: must be an absolute path, not \"vservers/web\"")
    let file = fixture.tree.file("plain-file", "")
    fixture.vserver("web", "root = \"\(file)\"\n")
    #expect(fixture.error("web") == "\(fixture.etc)/web/vserver.toml:1: root: \(file) is not a directory")
}

@Test func theHostRootIsRefusedHoweverItIsSpelled() {
    let fixture = ConfigFixture()
    fixture.vserver("web", "root = \"/\"\n")
    #expect(
        fixture.error("web") == "\(fixture.etc)/web/vserver.toml:1: root: must not be \"/\", the host's root directory")
    let link = fixture.tree.symlink("rootlink", to: "/")
    fixture.vserver("web", "root = \"\(link)\"\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:1: root: \"\(link)\" resolves to \"/\", the host's root directory")
    fixture.vserver("web", "root = \"/tmp/../..\"\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:1: root: \"/tmp/../..\" resolves to \"/\", the host's root directory")
}

@Test func theRootIsResolvedThroughSymlinks() throws {
    let fixture = ConfigFixture()
    let real = fixture.root("real")
    let link = fixture.tree.symlink("vservers/web", to: real)
    fixture.vserver("web", "root = \"\(link)\"\n", root: false)
    #expect(try #require(fixture.config("web")).root == realPath(real))
}

@Test func directoriesWithBadNamesAreIgnoredWithAReason() {
    let fixture = ConfigFixture()
    fixture.vserver("Bad_Name", "")
    fixture.vserver("good", "")
    fixture.tree.file("etc/README", "not a vserver")
    fixture.tree.file("etc/.defaults/scripts/pre-start", "#!/bin/sh\n")
    let set = fixture.load()
    #expect(
        set.ignored.map(\.description) == [
            "\(fixture.etc)/Bad_Name: not a vserver: \"Bad_Name\" is not a valid name (it starts with \"B\"); a "
                + "name is 1 to 63 "
                + "characters of a-z, 0-9, \".\", \"_\" and \"-\", starting with a letter or digit"
        ])
    #expect(Array(set.configs.keys) == ["good"])
    #expect(set.invalid.isEmpty)
}

@Test func aDirectoryWithoutConfigurationIsInvalid() {
    let fixture = ConfigFixture()
    fixture.tree.directory("etc/web/scripts")
    #expect(fixture.error("web") == "\(fixture.etc)/web: no vserver.toml")
}

@Test func oneBadVServerDoesNotHideTheOthers() {
    let fixture = ConfigFixture()
    fixture.vserver("bad", "context = [\n")
    fixture.vserver("good", "")
    let set = fixture.load()
    #expect(set.invalid.keys.sorted() == ["bad"])
    #expect(set.configs.keys.sorted() == ["good"])
}

@Test func initAndCommandAreMutuallyExclusive() {
    let fixture = ConfigFixture()
    fixture.vserver("web", "init = [\"/sbin/init\"]\ncommand = [\"nginx\"]\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:2: command: init and command are mutually exclusive (init is "
            + "set on line 1)"
    )
    fixture.vserver("web", "init = [\"sbin/init\"]\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:1: init: must start with an absolute path, not \"sbin/init\"")
    fixture.vserver("web", "command = []\n")
    #expect(fixture.error("web") == "\(fixture.etc)/web/vserver.toml:1: command: must not be an empty array")
    fixture.vserver("web", "command = [\"bin/nginx\"]\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:1: command: must start with an absolute path or a command name "
            + "found via "
            + "PATH, not \"bin/nginx\"")
}

@Test func stopSignalsAreParsedAndNormalised() throws {
    let fixture = ConfigFixture()
    for (written, number, name) in [
        ("\"SIGUSR2\"", SIGUSR2, "SIGUSR2"), ("\"term\"", SIGTERM, "SIGTERM"), ("15", SIGTERM, "SIGTERM"),
        ("\"SIGRTMIN+3\"", 37, "SIGRTMIN+3"), ("\"RTMAX\"", 64, "SIGRTMAX"), ("\"50\"", 50, "SIGRTMIN+16"),
    ] as [(String, Int32, String)] {
        fixture.vserver("web", "stop-signal = \(written)\n")
        let config = try #require(fixture.config("web"))
        #expect(config.stopSignal == .init(number: number, name: name), "\(written)")
    }
    fixture.vserver("web", "stop-signal = \"SIGFOO\"\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:1: stop-signal: unknown signal \"SIGFOO\" (use a name like "
            + "\"SIGTERM\" or \"SIGRTMIN+3\")"
    )
}

@Test func timeoutsMustBeFromOneSecondToAnHour() {
    let fixture = ConfigFixture()
    fixture.vserver("web", "stop-timeout = 0\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:1: stop-timeout: must be an integer from 1 to 3600 (seconds), not 0")
    fixture.vserver("web", "hook-timeout = 3601\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:1: hook-timeout: must be an integer from 1 to 3600 (seconds), not 3601")
}

@Test func hostnamesAreChecked() {
    let fixture = ConfigFixture()
    fixture.vserver("web", "hostname = \"web server\"\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:1: hostname: \" \" is not allowed in a hostname (letters, "
            + "digits, \"-\", \".\", \"_\")"
    )
    fixture.vserver("web", "hostname = \"\(String(repeating: "a", count: 65))\"\n")
    #expect(
        fixture.error("web") == "\(fixture.etc)/web/vserver.toml:1: hostname: must be at most 64 characters, not 65")
}

@Test func environmentNamesAndValuesAreChecked() {
    let fixture = ConfigFixture()
    fixture.vserver("web", "[environment]\nLANG = \"C\"\n\"A=B\" = \"x\"\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:3: environment.\"A=B\": an environment variable name must not "
            + "contain \"=\""
    )
    fixture.vserver("web", "environment = { A = 1 }\n")
    #expect(
        fixture.error("web") == "\(fixture.etc)/web/vserver.toml:1: environment.A: expected a string, found an integer")
    fixture.vserver("web", "environment = { A = \"nul\\u0000\" }\n")
    #expect(
        fixture.error("web") == "\(fixture.etc)/web/vserver.toml:1: environment.A: must not contain a NUL character")
}

@Test func timezonesMustExistUnderZoneinfo() throws {
    let fixture = ConfigFixture()
    fixture.vserver("web", "timezone = \"Europe/Berln\"\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:1: timezone: \"Europe/Berln\" is not a time zone in "
            + "\(fixture.path("zoneinfo"))"
    )
    fixture.vserver("web", "timezone = \"../zoneinfo/UTC\"\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:1: timezone: must be a zone name like \"Europe/Berlin\"")
    fixture.vserver("web", "timezone = \"/etc/localtime\"\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:1: timezone: must be a zone name like \"Europe/Berlin\", not a path")
    fixture.vserver("web", "timezone = \"UTC\"\n")
    #expect(try #require(fixture.config("web")).timezone == "UTC")
}

@Test func networkSettingsNeedAVethNamespace() throws {
    let fixture = ConfigFixture()
    fixture.vserver("web", "[network]\naddress = \"10.0.3.5/24\"\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:1: network: a [network] table needs [namespaces] net = \"bound\" or "
            + "\"veth\" (net is \"host\")"
    )
    fixture.vserver("web", "[namespaces]\nnet = \"veth\"\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:2: network.addresses: is required with [namespaces] net = \"veth\" "
            + "unless the guest is on a bridge (and configures itself)")
    fixture.vserver("web", "[namespaces]\nnet = \"veth\"\n[network]\naddress = \"10.0.3.300/24\"\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:4: network.address: must be an address with a prefix length like "
            + "\"10.0.3.5/24\" or \"2001:db8::5/64\", not \"10.0.3.300/24\"")
    fixture.vserver("web", "[namespaces]\nnet = \"veth\"\n[network]\naddress = \"10.0.3.5/24\"\ngateway = \"10.0.3\"\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:5: network.gateway: must be an IPv4 address, not \"10.0.3\"")
    fixture.vserver("web", "[namespaces]\nnet = \"bridge\"\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:2: namespaces.net: must be \"host\", \"none\", \"bound\" or \"veth\", "
            + "not \"bridge\""
    )
    fixture.vserver("web", "[namespaces]\nnet = \"none\"\n")
    #expect(try #require(fixture.config("web")).network == VServerConfig.Network.none)
}

// MARK: Capabilities

@Test func aPrivateNetworkAddsNetAdminAndAddDropApplyOnTop() throws {
    let fixture = ConfigFixture()
    let defaults = Capabilities.mask(Capabilities.defaultAllowlist)
    fixture.vserver("web", "[namespaces]\nnet = \"none\"\n")
    #expect(try #require(fixture.config("web")).capabilities == defaults | 1 << 12)
    fixture.vserver("web", "[capabilities]\nadd = [\"CAP_SYS_NICE\"]\ndrop = [\"CAP_NET_RAW\", \"chown\"]\n")
    let config = try #require(fixture.config("web"))
    #expect(config.capabilities == (defaults | 1 << 23) & ~(1 << 13 | 1 << 0))
    #expect(config.warnings.isEmpty)
}

@Test func grantingADangerousCapabilityWarnsUnlessUserNamespaced() throws {
    let fixture = ConfigFixture()
    fixture.vserver("web", "[capabilities]\nadd = [\n  \"CAP_SYS_ADMIN\",\n  \"CAP_MKNOD\",\n  \"CAP_SYS_NICE\",\n]\n")
    let file = "\(fixture.etc)/web/vserver.toml"
    #expect(
        try #require(fixture.config("web")).warnings == [
            "\(file):3: capabilities.add: CAP_SYS_ADMIN lets a root guest reach the host unless [namespaces] "
                + "user = true",
            "\(file):4: capabilities.add: CAP_MKNOD lets a root guest reach the host unless [namespaces] user = true",
        ])
    fixture.vserver("web", "[namespaces]\nuser = true\n[capabilities]\nadd = [\"CAP_SYS_ADMIN\"]\n")
    #expect(try #require(fixture.config("web")).warnings.isEmpty)
}

@Test func anUnknownCapabilityIsNamed() {
    let fixture = ConfigFixture()
    fixture.vserver("web", "[capabilities]\ndrop = [\"CAP_NET_RAW\", \"CAP_WIZARDRY\"]\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:2: capabilities.drop: unknown capability \"CAP_WIZARDRY\"")
}

@Test func capabilityNamesAndNumbersMapBothWays() {
    #expect(Capabilities.number("CAP_SYS_ADMIN") == 21)
    #expect(Capabilities.number("sys_admin") == 21)
    #expect(Capabilities.number("CAP_CHECKPOINT_RESTORE") == 40)
    #expect(Capabilities.number("CAP_NOPE") == nil)
    #expect(Capabilities.name(39) == "CAP_BPF")
    #expect(Capabilities.name(41) == "CAP_41")
    #expect(Capabilities.names(in: 1 << 12 | 1 << 0) == ["CAP_CHOWN", "CAP_NET_ADMIN"])
    #expect(!Capabilities.defaultAllowlist.contains(12))
}

// MARK: Limits

@Test func limitsTakeANumberUnlimitedOrSoftAndHard() throws {
    let fixture = ConfigFixture()
    fixture.vserver(
        "web", "[limits]\nnproc = 100\nas = \"unlimited\"\nstack = { soft = 8388608, hard = \"unlimited\" }\n")
    #expect(
        try #require(fixture.config("web")).limits == [
            .init(name: "nproc", resource: 6, soft: 100, hard: 100),
            .init(name: "as", resource: 9, soft: .max, hard: .max),
            .init(name: "stack", resource: 3, soft: 8_388_608, hard: .max),
        ])
}

@Test func badLimitsAreErrors() {
    let fixture = ConfigFixture()
    fixture.vserver("web", "[limits]\nnofile = { soft = 8192, hard = 4096 }\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:2: limits.nofile: the soft limit 8192 is above the hard limit 4096")
    fixture.vserver("web", "[limits]\nnofile = -1\n")
    #expect(fixture.error("web") == "\(fixture.etc)/web/vserver.toml:2: limits.nofile: must not be negative, not -1")
    fixture.vserver("web", "[limits]\nnofiles = 10\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:2: limits.nofiles: unknown key; did you mean \"nofile\"?")
    fixture.vserver("web", "[limits]\nnofile = { soft = 10 }\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:2: limits.nofile: needs both soft and hard: { soft = N, hard = N }")
    fixture.vserver("web", "[limits]\ncore = \"infinite\"\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:2: limits.core: expected an integer or \"unlimited\", not \"infinite\"")
}

// MARK: Mounts

@Test func mountOptionsBecomeFlagsAndData() throws {
    let parsed = try MountOptions.parse([
        "defaults", "ro", "nosuid", "nodev", "noexec", "noatime", "size=1m", "rw", "uid=0",
    ])
    #expect(parsed.flags == UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME))
    #expect(parsed.data == ["size=1m", "uid=0"])
    #expect(try MountOptions.parse(["rbind"]).flags == UInt(MS_BIND | MS_REC))
    #expect(try MountOptions.parse(["bind", "nofail", "x-systemd.automount"]).flags == UInt(MS_BIND))
    #expect(throws: Problem("mount option \"shared\" is not supported: propagation flags are not supported")) {
        try MountOptions.parse(["shared"])
    }
}

@Test func badMountsNameTheMountAndField() {
    let fixture = ConfigFixture()
    let mount = "[[mount]]\nsource = \"tmpfs\"\ntarget = \"/tmp\"\ntype = \"tmpfs\"\n\n"
    fixture.vserver("web", mount + "[[mount]]\nsource = \"/srv/x\"\ntarget = \"/mnt\"\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:6: mount[2].type: a filesystem type is required unless the options "
            + "contain bind or rbind")
    fixture.vserver(
        "web", mount + "[[mount]]\nsource = \"/nonexistent/source\"\ntarget = \"/mnt\"\noptions = [\"bind\"]\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:7: mount[2].source: /nonexistent/source does not exist on the host")
    fixture.vserver("web", "[[mount]]\nsource = \"tmpfs\"\ntarget = \"/var/../../etc\"\ntype = \"tmpfs\"\n")
    #expect(fixture.error("web") == "\(fixture.etc)/web/vserver.toml:3: mount[1].target: must not contain \"..\"")
    fixture.vserver("web", "[[mount]]\nsource = \"tmpfs\"\ntarget = \"tmp\"\ntype = \"tmpfs\"\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:3: mount[1].target: must be an absolute path inside the vserver")
    fixture.vserver("web", "[[mount]]\nsource = \"tmpfs\"\ntype = \"tmpfs\"\n")
    #expect(fixture.error("web") == "\(fixture.etc)/web/vserver.toml:1: mount[1].target: is required")
    fixture.vserver("web", "[mount]\nsource = \"tmpfs\"\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:1: mount: expected an array of tables ([[mount]]), found a table")
}

@Test func mountsUnderProcSysOrDevWarnThatTheyWouldBeHidden() throws {
    let fixture = ConfigFixture()
    fixture.vserver("web", "[[mount]]\nsource = \"tmpfs\"\ntarget = \"/dev/shm\"\ntype = \"tmpfs\"\n")
    #expect(
        try #require(fixture.config("web")).warnings == [
            "\(fixture.etc)/web/vserver.toml:3: mount[1].target: /dev/shm is hidden by the /dev vserverd mounts "
                + "after this one"
        ])
}

// MARK: fstab

@Test func fstabLinesBecomeMountsAfterTheTOMLOnes() throws {
    let fixture = ConfigFixture()
    let shared = fixture.tree.directory("srv/my share")
    fixture.vserver("web", "[[mount]]\nsource = \"tmpfs\"\ntarget = \"/run\"\ntype = \"tmpfs\"\n")
    fixture.tree.file(
        "etc/web/fstab",
        """
        # util-vserver's default fstab
        none	/proc		proc	defaults		0 0
        none	/tmp		tmpfs	size=16m,mode=1777	0 0
        none	/dev/pts	devpts	gid=5,mode=620		0 0
        proc /proc proc defaults,hidepid=2
        \(shared.replacing(" ", with: "\\040"))  srv  none  rbind,ro
        /dev/sdb1 /data ext4 noatime,errors=remount-ro 0 2
        """)
    let config = try #require(fixture.config("web"))
    #expect(config.mounts.map(\.origin) == ["vserver.toml:1", "fstab:3", "fstab:6", "fstab:7"])
    #expect(
        config.mounts[1]
            == .init(
                source: "none", target: "/tmp", type: "tmpfs", flags: 0, data: "size=16m,mode=1777", origin: "fstab:3"))
    #expect(
        config.mounts[2]
            == .init(
                source: shared, target: "/srv", type: nil, flags: UInt(MS_BIND | MS_REC | MS_RDONLY), data: nil,
                origin: "fstab:6"))
    #expect(
        config.mounts[3]
            == .init(
                source: "/dev/sdb1", target: "/data", type: "ext4", flags: UInt(MS_NOATIME), data: "errors=remount-ro",
                origin: "fstab:7"))
    let fstab = "\(fixture.etc)/web/fstab"
    #expect(
        config.warnings == [
            "\(fstab):5: type: vserverd mounts /proc itself; skipped, and with it hidepid=2"
        ], "util-vserver's default lines say what vserverd does anyway")
}

@Test func fstabErrorsNameTheLine() {
    let fixture = ConfigFixture()
    fixture.vserver("web", "")
    let fstab = "\(fixture.etc)/web/fstab"
    fixture.tree.file("etc/web/fstab", "# comment\nnone /tmp\n")
    #expect(fixture.error("web") == "\(fstab):2: expected SOURCE TARGET TYPE [OPTIONS [DUMP [PASS]]], found 2 fields")
    fixture.tree.file("etc/web/fstab", "none /tmp tmpfs defaults 0 0\nnone /x none defaults 0 0\n")
    #expect(fixture.error("web") == "\(fstab):2: type: type \"none\" needs the bind or rbind option")
    fixture.tree.file("etc/web/fstab", "none ../etc tmpfs defaults 0 0\n")
    #expect(fixture.error("web") == "\(fstab):1: target: must not contain \"..\"")
    fixture.tree.file("etc/web/fstab", "none /tmp tmpfs defaults zero 0\n")
    #expect(fixture.error("web") == "\(fstab):1: dump: must be a number, not \"zero\"")
    fixture.tree.file("etc/web/fstab", "relative/src /mnt none bind 0 0\n")
    #expect(
        fixture.error("web")
            == "\(fstab):1: source: the source of a bind mount must be an absolute host path, not \"relative/src\"")
}

// MARK: after

@Test func afterMayOnlyNameExistingVServers() throws {
    let fixture = ConfigFixture()
    fixture.vserver("db", "context = [\n")
    fixture.vserver("web", "after = [\"db\"]\n")
    fixture.vserver("app", "after = [\n  \"web\",\n  \"cache\",\n]\n")
    let set = fixture.load()
    #expect(set.configs["web"]?.after == ["db"], "a vserver that exists but is invalid may be named")
    #expect(set.invalid["app"]?.description == "\(fixture.etc)/app/vserver.toml:3: after: unknown vserver \"cache\"")
}

@Test func afterCyclesMakeEveryMemberInvalidAndSpellTheCycle() {
    let fixture = ConfigFixture()
    fixture.vserver("a", "after = [\"b\"]\n")
    fixture.vserver("b", "after = [\"x\", \"c\"]\n")
    fixture.vserver("c", "\nafter = [\"a\"]\n")
    fixture.vserver("x", "")
    fixture.vserver("y", "after = [\"a\"]\n")
    let set = fixture.load()
    #expect(
        set.invalid.mapValues(\.description) == [
            "a": "\(fixture.etc)/a/vserver.toml:1: after: dependency cycle: a -> b -> c -> a",
            "b": "\(fixture.etc)/b/vserver.toml:1: after: dependency cycle: b -> c -> a -> b",
            "c": "\(fixture.etc)/c/vserver.toml:2: after: dependency cycle: c -> a -> b -> c",
        ])
    #expect(set.configs.keys.sorted() == ["x", "y"])
}

@Test func aVServerCannotComeAfterItself() {
    let fixture = ConfigFixture()
    fixture.vserver("web", "after = [\"web\"]\n")
    #expect(fixture.error("web") == "\(fixture.etc)/web/vserver.toml:1: after: a vserver cannot come after itself")
    fixture.vserver("web", "after = [\"Web\"]\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:1: after: \"Web\" is not a valid vserver name: it starts with \"W\"")
}

// MARK: resolve

@Test func resolveTakesANameOrAContextAndPrefersTheName() {
    let fixture = ConfigFixture()
    fixture.vserver("web", "context = 1042\n")
    fixture.vserver("1042", "context = 2000\n")
    fixture.vserver("broken", "bogus = 1\n")
    let set = fixture.load()
    #expect(set.resolve("web") == "web")
    #expect(set.resolve("2000") == "1042")
    #expect(set.resolve("1042") == "1042")
    #expect(set.resolve("broken") == "broken")
    #expect(set.resolve("3000") == nil)
    #expect(set.resolve("nope") == nil)
    #expect(set.names == ["1042", "broken", "web"])
}

// MARK: Ownership and permissions

@Test func filesWritableByGroupOrOthersAreRefused() {
    let fixture = ConfigFixture()
    let owner = geteuid() == 0 ? "root" : "uid \(geteuid())"
    let file = fixture.vserver("web", "")
    chmod(file, 0o664)
    #expect(
        fixture.error("web")
            == "\(file): writable by group or others (mode 0664): config files must be writable by \(owner) only")
    chmod(file, 0o644)
    let fstab = fixture.tree.file("etc/web/fstab", "", mode: 0o666)
    #expect(
        fixture.error("web")
            == "\(fstab): writable by group or others (mode 0666): config files must be writable by \(owner) only")
    chmod(fstab, 0o644)
    chmod(fixture.etc + "/web", 0o777)
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web: writable by group or others (mode 0777): config directories must be "
            + "writable by \(owner) only"
    )
    fixture.requiredOwner = nil
    #expect(fixture.error("web") == nil, "without a required owner nothing is checked")
}

@Test func configurationOwnedBySomeoneElseIsRefused() {
    let fixture = ConfigFixture()
    fixture.vserver("web", "")
    fixture.requiredOwner = geteuid() &+ 1
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web: owned by uid \(geteuid()): config directories must be owned by uid "
            + "\(geteuid() &+ 1)"
    )
}

@Test(.requires(geteuid() == 0, "root, to give files away"))
func asRootAVServerOwnedByAUserIsInvalid() {
    let fixture = ConfigFixture()
    let file = fixture.vserver("web", "")
    fixture.requiredOwner = 0
    chown(file, 1000, 1000)
    #expect(fixture.error("web") == "\(file): owned by uid 1000: config files must be owned by root")
    chown(fixture.etc + "/web", 1000, 1000)
    #expect(fixture.error("web") == "\(fixture.etc)/web: owned by uid 1000: config directories must be owned by root")
}

// MARK: Names and signals

@Test func vserverNamesFollowTheDesign() {
    for valid in ["web", "0", "a.b_c-d", String(repeating: "x", count: 63)] {
        #expect(VServerName.isValid(valid), "\(valid)")
    }
    for invalid in ["", "Web", "-web", ".web", "_web", "web/x", "wéb", "a b", String(repeating: "x", count: 64)] {
        #expect(!VServerName.isValid(invalid), "\(invalid)")
    }
    #expect(
        throws: ConfigError(
            file: "",
            message: "invalid vserver name \"../etc\": it starts with \".\"; a name is 1 to 63 characters of a-z, 0-9, "
                + "\".\", \"_\" and \"-\", starting with a letter or digit")
    ) { try VServerName.validate("../etc") }
}

@Test func signalsParseNamesNumbersAndRealTimeOffsets() {
    #expect(Signals.parse("SIGTERM")! == (15, "SIGTERM"))
    #expect(Signals.parse("hup")! == (1, "SIGHUP"))
    #expect(Signals.parse("9")! == (9, "SIGKILL"))
    #expect(Signals.parse("SIGIOT")! == (6, "SIGABRT"))
    #expect(Signals.parse("SIGRTMIN")! == (34, "SIGRTMIN"))
    #expect(Signals.parse("SIGRTMAX-1")! == (63, "SIGRTMAX-1"))
    #expect(Signals.parse("SIGRTMIN+30")! == (64, "SIGRTMAX"))
    for bad in ["", "0", "65", "32", "SIGRTMIN+31", "SIGRTMAX-31", "SIG", "TERM2", "-15"] {
        #expect(Signals.parse(bad) == nil, "\(bad)")
    }
}

@Test func configErrorsLeaveOutWhatIsUnknown() {
    #expect(ConfigError(file: "/f", line: 3, key: "k", message: "m").description == "/f:3: k: m")
    #expect(ConfigError(file: "/f", message: "m").description == "/f: m")
    #expect(ConfigError(file: "/f", line: 2, column: 7, message: "m").description == "/f:2:7: m")
    #expect(ConfigError(file: "", key: "k", message: "m").description == "k: m")
}

@Test func aRelativeConfigDirectoryIsMadeAbsolute() {
    let cwd = getcwd(nil, 0)!
    defer { free(cwd) }
    #expect(FileSystem.absolutePath("etc/vservers") == String(cString: cwd) + "/etc/vservers")
    #expect(FileSystem.absolutePath("/etc/vservers") == "/etc/vservers")
}

/// A bind source is opened without following symlinks at every start (a guest that can write a directory on the way
/// could point it at "/"): one with a symlink is refused at load already, naming it, with the file and line.
@Test func aBindSourceWithASymlinkOnTheWayIsRefusedNamingIt() throws {
    let fixture = ConfigFixture()
    fixture.tree.directory("shared/real")
    let link = fixture.tree.absolute("shared/link")
    #expect(symlink(fixture.tree.absolute("shared/real"), link) == 0)
    fixture.vserver("web", "[[mount]]\nsource = \"\(link)/\"\ntarget = \"/mnt\"\noptions = [\"bind\"]\n")
    let real = fixture.tree.absolute("shared/real")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:2: mount[1].source: \(link) (-> \(real)) is a symbolic link; bind "
            + "sources are opened without following symlinks (one on the way could be swapped to point anywhere): "
            + "give the real path")
    fixture.vserver("web", "[[mount]]\nsource = \"\(real)\"\ntarget = \"/mnt\"\noptions = [\"bind\"]\n")
    #expect(fixture.error("web") == nil)
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
