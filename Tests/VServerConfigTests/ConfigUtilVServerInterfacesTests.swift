import Glibc
import Testing

import VServerConfig
import VServerTestSupport

// Issue 13: util-vserver's interfaces/ read as net = "bound"; TOMLWriter's [network]; no two vservers on one address.

private func address(_ text: String) -> InterfaceAddress { InterfaceAddress(text, prefixOptional: true)! }
private func ip(_ text: String) -> IPAddress { IPAddress(text)! }

@Test func utilVServerInterfacesBecomeABoundNetwork() throws {
    let fixture = ConfigFixture()
    fixture.root("old")
    let dir = "etc/old"
    fixture.tree.file("\(dir)/context", "1042\n")
    fixture.tree.file("\(dir)/bcapabilities", "NET_RAW\nSYS_NICE\n")
    fixture.tree.file("\(dir)/interfaces/dev", "eth0\n")
    fixture.tree.file("\(dir)/interfaces/scope", "global\n")
    fixture.tree.file("\(dir)/interfaces/lback", "127.4.4.4\n")
    fixture.tree.file("\(dir)/interfaces/0/ip", "192.0.2.10\n")
    fixture.tree.file("\(dir)/interfaces/0/prefix", "24\n")
    fixture.tree.file("\(dir)/interfaces/0/dev", "eth0\n")
    fixture.tree.file("\(dir)/interfaces/0/name", "web\n")
    // The device from interfaces/dev.
    fixture.tree.file("\(dir)/interfaces/1/ip", "2001:db8::10\n")
    fixture.tree.file("\(dir)/interfaces/1/prefix", "64\n")
    fixture.tree.file("\(dir)/interfaces/2/ip", "198.51.100.7\n")
    fixture.tree.file("\(dir)/interfaces/2/mask", "255.255.255.0\n")
    fixture.tree.file("\(dir)/interfaces/2/nodev", "")
    fixture.tree.file("\(dir)/interfaces/3/ip", "not read\n")
    fixture.tree.file("\(dir)/interfaces/3/disabled", "")
    // Neither prefix nor mask: the host address util-vserver's `ip addr add` made of it.
    fixture.tree.file("\(dir)/interfaces/4/ip", "192.0.2.11\n")
    fixture.tree.file("\(dir)/interfaces/4/dev", "eth1\n")
    fixture.tree.file("\(dir)/interfaces/4/name", "other\n")
    fixture.tree.file("\(dir)/interfaces/4/bcast", "192.0.2.255\n")

    let config = try #require(fixture.config("old"))
    let full = fixture.etc + "/old"
    #expect(
        config.network == .bound(BoundNetwork(
            addresses: [address("192.0.2.10/24"), address("2001:db8::10/64"), address("198.51.100.7/24"),
                        address("192.0.2.11/32")],
            device: "eth0", loopback: ip("127.4.4.4"), label: "web")))
    #expect(config.capabilities & (1 << 13) == 0, "no CAP_NET_RAW for a bound guest")
    #expect(config.capabilities & (1 << 23) != 0, "CAP_SYS_NICE as asked")
    #expect(
        config.warnings == [
            "\(full)/interfaces/4/bcast: ignored: vserverd has no setting for a broadcast address",
            "\(full)/interfaces/scope: ignored: vserverd has no setting for an address scope",
            "\(full)/interfaces/2/nodev: ignored: vserverd adds all of a vserver's addresses to one device, "
                + "network.device = \"eth0\" (from interfaces/0/dev): 198.51.100.7/24 goes there too",
            "\(full)/interfaces/4/dev: names device \"eth1\", but vserverd adds all of a vserver's addresses to one "
                + "device, network.device = \"eth0\" (from interfaces/0/dev): 192.0.2.11/32 goes there",
            "\(full)/interfaces/4/name: ignored: vserverd labels all of a vserver's addresses alike, network.label = "
                + "\"web\" (from interfaces/0/name)",
            "\(full)/bcapabilities:1: CAP_NET_RAW dropped: it is not for a bound vserver (net = \"bound\", from "
                + "interfaces/): it would let it send from, or add, addresses that are not its own",
            utilVServerDefaultSetWarning("\(full)/bcapabilities"),
        ])
}

@Test func utilVServerInterfacesAllWithNodevNameNoDeviceAndTakeTheDefaults() throws {
    let fixture = ConfigFixture()
    fixture.root("old")
    let dir = "etc/old"
    fixture.tree.file("\(dir)/context", "1042\n")
    fixture.tree.file("\(dir)/interfaces/prefix", "25\n")
    fixture.tree.file("\(dir)/interfaces/mask", "255.255.0.0\n")
    fixture.tree.file("\(dir)/interfaces/a/ip", "192.0.2.10\n")
    fixture.tree.file("\(dir)/interfaces/a/nodev", "")
    // A prefix from interfaces/ wins over the interface's own mask, as in util-vserver's _getInterfaceValue.
    fixture.tree.file("\(dir)/interfaces/b/ip", "192.0.2.200\n")
    fixture.tree.file("\(dir)/interfaces/b/mask", "255.255.255.0\n")
    fixture.tree.file("\(dir)/interfaces/b/only_ip", "")
    fixture.tree.file("\(dir)/interfaces/c/ip", "2001:db8::10/64\n")
    fixture.tree.file("\(dir)/interfaces/c/nodev", "")
    fixture.tree.file("\(dir)/interfaces/c/disabled", "")

    let config = try #require(fixture.config("old"))
    #expect(
        config.network == .bound(BoundNetwork(
            addresses: [address("192.0.2.10/25"), address("192.0.2.200/25")], device: nil,
            loopback: ip("127.1.4.18"))))
    #expect(config.warnings == [utilVServerDefaultSetWarning(fixture.etc + "/old")])

    fixture.tree.file("\(dir)/interfaces/prefix", "")
    guard case .bound(let bound) = try #require(fixture.config("old")).network else { return }
    #expect(bound.addresses == [address("192.0.2.10/16"), address("192.0.2.200/24")],
            "the interface's mask, else the one of interfaces/")
}

@Test func utilVServerInterfacesWithoutAnEnabledOneLeaveTheHostsNetwork() throws {
    let fixture = ConfigFixture()
    fixture.root("old")
    fixture.tree.file("etc/old/context", "1042\n")
    fixture.tree.file("etc/old/interfaces/lback", "127.4.4.4\n")
    fixture.tree.file("etc/old/interfaces/0/ip", "192.0.2.10\n")
    fixture.tree.file("etc/old/interfaces/0/disabled", "")
    let config = try #require(fixture.config("old"))
    #expect(config.network == .host)
    let full = fixture.etc + "/old"
    #expect(config.warnings == [
        "\(full)/interfaces/lback: ignored: there is no enabled interface, so the vserver shares the host's network",
        "\(full)/interfaces: no enabled interface: the vserver shares the host's network (net = \"host\")",
        utilVServerDefaultSetWarning(full),
    ])
}

@Test func utilVServerInterfaceErrorsNameTheFileAndLine() {
    let fixture = ConfigFixture()
    fixture.root("old")
    let dir = fixture.etc + "/old"
    fixture.tree.file("etc/old/context", "1042\n")
    fixture.tree.file("etc/old/interfaces/0/dev", "eth0\n")
    let cases: [(file: String, text: String, error: String)] = [
        ("0/ip", "192.0.2.300", "\(dir)/interfaces/0/ip:1: expected an IPv4 or IPv6 address, found \"192.0.2.300\""),
        ("0/ip", "", "\(dir)/interfaces/0/ip: missing: every enabled interface needs its address (or a disabled file)"),
        ("0/ip", "127.0.0.2",
         "\(dir)/interfaces/0/ip:1: 127.0.0.2 is not an address a vserver can own (unspecified, loopback, multicast "
            + "or link-local)"),
        ("0/prefix", "33", "\(dir)/interfaces/0/prefix:1: expected a prefix length from 0 to 32, found \"33\""),
        ("0/prefix", "", ""),
        ("mask", "255.0.255.0", "\(dir)/interfaces/mask:1: 255.0.255.0 is not a netmask: its ones are not contiguous"),
        ("mask", "/24", "\(dir)/interfaces/mask:1: expected a netmask like 255.255.255.0, found \"/24\""),
        ("mask", "", ""),
        ("0/dev", "", "\(dir)/interfaces/0: no device: util-vserver needs interfaces/0/dev, interfaces/dev or "
            + "interfaces/0/nodev"),
        ("0/dev", "eth0:1", "\(dir)/interfaces/0/dev:1: \"eth0:1\" must not contain \"/\", \":\", spaces or control "
            + "characters"),
        ("0/dev", "eth0", ""),
        ("0/name", "my web", "\(dir)/interfaces/0/name:1: must be printable ASCII without spaces or \"/\", not "
            + "\"my web\""),
        ("0/name", "", ""),
        ("lback", "127.0.0.1", "\(dir)/interfaces/lback:1: must be an address of 127.0.0.0/8 other than 127.0.0.1 "
            + "(like \"127.1.4.18\"), not \"127.0.0.1\""),
        ("lback", "", ""),
        ("1/ip", "192.0.2.10", "\(dir)/interfaces/1/ip:1: 192.0.2.10 is given twice (also in interfaces/0/ip)"),
        ("1/ip", "192.0.2.11/24", ""),
        ("prefix", "24", "\(dir)/interfaces/1/ip:1: has a prefix length, and interfaces/prefix gives one too"),
        ("1/ip", "192.0.2.11", ""),
    ]
    fixture.tree.file("etc/old/interfaces/0/ip", "192.0.2.10\n")
    fixture.tree.file("etc/old/interfaces/1/nodev", "")
    fixture.tree.file("etc/old/interfaces/1/ip", "192.0.2.12\n")
    for (file, text, error) in cases {
        fixture.tree.file("etc/old/interfaces/\(file)", text.isEmpty ? "" : text + "\n")
        if error.isEmpty {
            #expect(fixture.error("old") == nil, "\(file) = \(text)")
        } else {
            #expect(fixture.error("old") == error, "\(file) = \(text)")
            if file == "0/ip" { fixture.tree.file("etc/old/interfaces/0/ip", "192.0.2.10\n") }
        }
    }
    fixture.tree.file("etc/old/interfaces/dev", "eth0\n")
    for index in 2...15 { fixture.tree.file("etc/old/interfaces/\(index + 10)/ip", "198.51.100.\(index)\n") }
    #expect(fixture.error("old") == nil, "16 IPv4 addresses")
    fixture.tree.file("etc/old/interfaces/90/ip", "2001:db8::90\n")
    fixture.tree.file("etc/old/interfaces/91/ip", "198.51.100.91\n")
    #expect(fixture.error("old") == "\(dir)/interfaces/91/ip:1: one address too many: vserverd takes at most 16 "
        + "addresses of each family")
}

@Test func importWritesABoundNetworkThatReadsBackAsTheInterfacesDid() throws {
    let fixture = ConfigFixture()
    fixture.vserver("db", "")
    fixture.tree.symlink("etc/old/vdir", to: fixture.root("old-root"))
    fixture.tree.file("etc/old/interfaces/0/ip", "192.0.2.10\n")
    fixture.tree.file("etc/old/interfaces/0/prefix", "24\n")
    fixture.tree.file("etc/old/interfaces/0/dev", "eth0\n")
    fixture.tree.file("etc/old/interfaces/1/ip", "2001:db8::10\n")
    fixture.tree.file("etc/old/interfaces/1/prefix", "64\n")
    fixture.tree.file("etc/old/interfaces/1/dev", "eth0\n")
    let before = try #require(fixture.config("old"))
    #expect(before.context == 1001, "assigned by the loader: the util files name none")
    guard case .bound(let bound) = before.network else { Issue.record("\(before.network)"); return }
    #expect(bound.loopback == BoundNetwork.defaultLoopback(context: 1001), "the assigned context's loopback")

    let written = try fixture.importUtil("etc/old")
    #expect(written.text.hasSuffix("""
        context = 1001
        root = "\(try FileSystem.realPath(fixture.root("old-root")))"

        [namespaces]
        net = "bound"

        [network]
        addresses = ["192.0.2.10/24", "2001:db8::10/64"]
        device = "eth0"

        """), "\(written.text)")
    #expect(try #require(fixture.config("old")).network == before.network)
}

@Test func tomlWriterWritesTheNetworkThatReadsBack() throws {
    let fixture = ConfigFixture()
    let root = fixture.root("web")
    var config = VServerConfig(name: "web", context: 1042, root: root, configDirectory: "", configFile: "")
    let networks: [VServerConfig.Network] = [
        .none,
        .bound(BoundNetwork(addresses: [address("192.0.2.10/24")], device: nil,
                            loopback: BoundNetwork.defaultLoopback(context: 1042))),
        .bound(BoundNetwork(addresses: [address("192.0.2.10/24"), address("2001:db8::10/64"), address("198.51.100.7")],
                            device: "eth0", loopback: ip("127.9.9.9"), label: "www")),
        .veth(VethSettings(addresses: [address("192.0.2.20/24"), address("2001:db8::20/64")],
                           gateway: ip("192.0.2.1"), gateway6: ip("2001:db8::1"), bridge: "br0",
                           mac: [2, 0, 0, 0, 4, 0x12], mtu: 1400)),
        .veth(VethSettings(bridge: "br0")),
    ]
    func render(_ network: VServerConfig.Network) -> String {
        config.network = network
        config.capabilities = config.baseCapabilities
        return TOMLWriter.render(config, header: [])
    }
    for network in networks {
        let text = render(network)
        fixture.vserver("web", text)
        let read = try #require(fixture.config("web"), "\(text)")
        #expect(read.network == network, "\(text)")
        #expect(read.capabilities == config.capabilities, "\(text)")
    }
    #expect(render(networks[2]).hasSuffix("""

        [namespaces]
        net = "bound"

        [network]
        addresses = ["192.0.2.10/24", "2001:db8::10/64", "198.51.100.7/32"]
        device = "eth0"
        loopback = "127.9.9.9"
        label = "www"

        """))
    #expect(render(networks[3]).hasSuffix("""
        net = "veth"

        [network]
        addresses = ["192.0.2.20/24", "2001:db8::20/64"]
        gateway = "192.0.2.1"
        gateway6 = "2001:db8::1"
        bridge = "br0"
        mac = "02:00:00:00:04:12"
        mtu = 1400

        """))
    #expect(!render(.host).contains("["), "the host's network is the default")
}

@Test func twoVServersCannotClaimOneAddress() {
    let fixture = ConfigFixture()
    let bound = "[namespaces]\nnet = \"bound\"\n[network]\n"
    fixture.vserver("alpha", "context = 1042\n" + bound + "addresses = [\"192.0.2.10/24\", \"2001:db8::10/64\"]\n")
    fixture.vserver("beta", "context = 1043\n" + bound + "addresses = [\"192.0.2.11/24\", \"2001:db8::10/64\"]\n")
    fixture.vserver("gamma", "context = 1044\n[namespaces]\nnet = \"veth\"\n[network]\n"
        + "addresses = [\"192.0.2.10/24\"]\n")
    fixture.vserver("delta", "context = 1045\n" + bound + "addresses = [\"192.0.2.12\"]\n")
    var set = fixture.load()
    #expect(set.invalid["beta"]?.description == "\(fixture.etc)/beta/vserver.toml: network.addresses: 2001:db8::10 "
        + "is already claimed by vserver \"alpha\" (\(fixture.etc)/alpha/vserver.toml)")
    #expect(set.invalid["gamma"]?.description == "\(fixture.etc)/gamma/vserver.toml: network.addresses: 192.0.2.10 "
        + "is already claimed by vserver \"alpha\" (\(fixture.etc)/alpha/vserver.toml)", "a veth address too")
    #expect(set.configs.keys.sorted() == ["alpha", "delta"])

    // Loopbacks: an explicit one against another vserver's default.
    fixture.vserver("beta", "context = 1043\n" + bound + "addresses = [\"192.0.2.11\"]\nloopback = \"127.1.4.18\"\n")
    fixture.vserver("gamma", "context = 1044\n" + bound + "addresses = [\"192.0.2.13\"]\nloopback = \"127.1.4.22\"\n")
    fixture.vserver("zeta", "context = 1046\n" + bound + "addresses = [\"192.0.2.14\"]\n")
    set = fixture.load()
    #expect(set.invalid["beta"]?.description == "\(fixture.etc)/beta/vserver.toml: network.loopback: 127.1.4.18 "
        + "is already claimed by vserver \"alpha\" (\(fixture.etc)/alpha/vserver.toml)")
    #expect(set.invalid["zeta"]?.description == "\(fixture.etc)/zeta/vserver.toml: network.loopback: 127.1.4.22 "
        + "is already claimed by vserver \"gamma\" (\(fixture.etc)/gamma/vserver.toml); it is the default for "
        + "context 1046: set another network.loopback")
    #expect(set.configs.keys.sorted() == ["alpha", "delta", "gamma"])

    // util-vserver's files are named by the file the address is in.
    fixture.vserver("beta", "context = 1043\n" + bound + "addresses = [\"192.0.2.11\"]\n")
    fixture.vserver("gamma", "context = 1044\n")
    fixture.vserver("delta", "context = 1045\n")
    fixture.vserver("zeta", "context = 1046\n")
    fixture.root("old")
    fixture.tree.file("etc/old/context", "1047\n")
    fixture.tree.file("etc/old/interfaces/0/ip", "192.0.2.20\n")
    fixture.tree.file("etc/old/interfaces/0/nodev", "")
    fixture.tree.file("etc/old/interfaces/1/ip", "192.0.2.11\n")
    fixture.tree.file("etc/old/interfaces/1/nodev", "")
    set = fixture.load()
    #expect(set.invalid["old"]?.description == "\(fixture.etc)/old/interfaces/1/ip:1: 192.0.2.11 is already "
        + "claimed by vserver \"beta\" (\(fixture.etc)/beta/vserver.toml)")
    #expect(set.configs.keys.sorted() == ["alpha", "beta", "delta", "gamma", "zeta"])
}

@Test func boundVServersWithoutAContextGetTheLoopbackOfTheOneAssigned() throws {
    let fixture = ConfigFixture()
    let bound = "[namespaces]\nnet = \"bound\"\n[network]\n"
    fixture.vserver("alpha", bound + "addresses = [\"192.0.2.10\"]\n")
    fixture.vserver("beta", bound + "addresses = [\"192.0.2.11\"]\n")
    let set = fixture.load()
    #expect(set.invalid.isEmpty, "\(set.invalid)")
    for name in ["alpha", "beta"] {
        let config = try #require(set.configs[name])
        guard case .bound(let network) = config.network else { Issue.record("\(config.network)"); continue }
        #expect(network.loopback == BoundNetwork.defaultLoopback(context: config.context), "\(name)")
    }
}
