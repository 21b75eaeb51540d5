import Glibc
import Testing

import VServerConfig
import VServerTestSupport

// Issue 13: `net = "bound"` and the rounded-off `net = "veth"` keys of [network].

@Test func boundNetworkReadsAddressesDeviceAndADefaultLoopbackFromTheContext() throws {
    let fixture = ConfigFixture()
    fixture.vserver("web", """
        context = 1042
        [namespaces]
        net = "bound"
        [network]
        addresses = ["192.0.2.10/24", "2001:db8::10/64", "198.51.100.7"]
        device = "eth0"
        """)
    let config = try #require(fixture.config("web"))
    guard case .bound(let bound) = config.network else { Issue.record("\(config.network)"); return }
    #expect(bound.addresses.map(\.description) == ["192.0.2.10/24", "2001:db8::10/64", "198.51.100.7/32"])
    #expect(bound.device == "eth0")
    #expect(bound.loopback.description == "127.1.4.18", "context 1042 = 4 * 256 + 18")
    #expect(bound.first(.v4)?.description == "192.0.2.10" && bound.first(.v6)?.description == "2001:db8::10")
    #expect(bound.interfaceLabel(name: "web") == "eth0:web")
    #expect(BoundNetwork(addresses: [], device: "enp0s31f6", loopback: bound.loopback)
        .interfaceLabel(name: "averylongname") == "enp0s31f6:avery", "cut to IFNAMSIZ - 1")
    #expect(!config.hasPrivateNetwork, "the host's network namespace")
    #expect(config.capabilities & (1 << 13 | 1 << 12) == 0, "no CAP_NET_RAW, no CAP_NET_ADMIN")
    #expect(config.network.claimedAddresses.map(\.description)
        == ["192.0.2.10", "2001:db8::10", "198.51.100.7", "127.1.4.18"])
}

@Test func boundNetworkRefusesWhatAGuestCannotOwn() throws {
    let fixture = ConfigFixture()
    let file = "\(fixture.etc)/web/vserver.toml"
    let cases: [(String, String)] = [
        ("", "\(file):2: network.addresses: is required with [namespaces] net = \"bound\""),
        ("[network]\naddresses = []\n", "\(file):4: network.addresses: must not be empty"),
        ("[network]\naddresses = [\"0.0.0.0/0\"]\n",
         "\(file):4: network.addresses: 0.0.0.0 is not an address a vserver can own (unspecified, loopback, "
            + "multicast or link-local)"),
        ("[network]\naddresses = [\"127.0.0.2\"]\n",
         "\(file):4: network.addresses: 127.0.0.2 is not an address a vserver can own (unspecified, loopback, "
            + "multicast or link-local)"),
        ("[network]\naddresses = [\"192.0.2.10/33\"]\n",
         "\(file):4: network.addresses: must be addresses with a prefix length like \"192.0.2.10/24\" or "
            + "\"2001:db8::10/64\" (or without one: a host address), not \"192.0.2.10/33\""),
        ("[network]\naddresses = [\"192.0.2.10\", \"192.0.2.10/24\"]\n",
         "\(file):4: network.addresses: 192.0.2.10 is there twice"),
        ("[network]\naddresses = [\"192.0.2.10\"]\nloopback = \"127.0.0.1\"\n",
         "\(file):5: network.loopback: must be an address of 127.0.0.0/8 other than 127.0.0.1 (like "
            + "\"127.1.4.18\"), not \"127.0.0.1\""),
        ("[network]\naddresses = [\"192.0.2.10\"]\ndevice = \"eth0:1\"\n",
         "\(file):5: network.device: \"eth0:1\" must not contain \"/\", \":\", spaces or control characters"),
        ("[network]\naddresses = [\"192.0.2.10\"]\ngateway = \"192.0.2.1\"\n",
         "\(file):5: network.gateway: unknown key (known keys in [network]: addresses, device, loopback, label)"),
        ("[network]\naddresses = [\"192.0.2.10\"]\n[capabilities]\nadd = [\"CAP_NET_RAW\"]\n",
         "\(file):6: capabilities.add: CAP_NET_RAW is not for a bound vserver (net = \"bound\"): it would let it "
            + "send from, or add, addresses that are not its own"),
    ]
    for (network, expected) in cases {
        fixture.vserver("web", "[namespaces]\nnet = \"bound\"\n" + network)
        #expect(fixture.error("web") == expected, "\(network)")
    }
    fixture.vserver("web", "[namespaces]\nnet = \"bound\"\n[network]\naddresses = [\"192.0.2.10\"]\n"
        + "loopback = \"127.9.9.9\"\nlabel = \"www\"\n")
    guard case .bound(let bound) = try #require(fixture.config("web")).network else { return }
    #expect(bound.loopback.description == "127.9.9.9" && bound.device == nil && bound.label == "www")
}

@Test func vethTakesSeveralAddressesBothFamiliesAMACAndAnMTU() throws {
    let fixture = ConfigFixture()
    fixture.vserver("web", """
        [namespaces]
        net = "veth"
        [network]
        addresses = ["192.0.2.20/24", "198.51.100.20/24", "2001:db8::20/64"]
        gateway = "192.0.2.1"
        gateway6 = "2001:db8::1"
        mac = "02:00:5E:10:00:01"
        mtu = 1400
        """)
    guard case .veth(let veth) = try #require(fixture.config("web")).network else { Issue.record(); return }
    #expect(veth.addresses.map(\.description) == ["192.0.2.20/24", "198.51.100.20/24", "2001:db8::20/64"])
    #expect(veth.gateway?.description == "192.0.2.1" && veth.gateway6?.description == "2001:db8::1")
    #expect(veth.mac.map(VethSettings.formatMAC) == "02:00:5e:10:00:01" && veth.mtu == 1400)

    let file = "\(fixture.etc)/web/vserver.toml"
    let cases: [(String, String)] = [
        ("address = \"192.0.2.20/24\"\naddresses = [\"192.0.2.21/24\"]\n",
         "\(file):5: network.addresses: give either network.address or network.addresses, not both"),
        ("addresses = [\"192.0.2.20\"]\n",
         "\(file):4: network.addresses: must be addresses with a prefix length like \"192.0.2.10/24\" or "
            + "\"2001:db8::10/64\", not \"192.0.2.20\""),
        ("addresses = [\"192.0.2.20/24\"]\ngateway6 = \"192.0.2.1\"\n",
         "\(file):5: network.gateway6: must be an IPv6 address, not \"192.0.2.1\""),
        ("addresses = [\"192.0.2.20/24\"]\nmac = \"01:00:5e:00:00:01\"\n",
         "\(file):5: network.mac: must be a unicast MAC address like \"02:00:00:00:04:12\", not \"01:00:5e:00:00:01\""),
        ("addresses = [\"2001:db8::20/64\"]\nmtu = 1000\n",
         "\(file):5: network.mtu: must be at least 1280 with an IPv6 address, not 1000"),
        ("addresses = [\"192.0.2.20/24\"]\nmtu = 65536\n", "\(file):5: network.mtu: must be from 68 to 65535, not 65536"),
    ]
    for (network, expected) in cases {
        fixture.vserver("web", "[namespaces]\nnet = \"veth\"\n[network]\n" + network)
        #expect(fixture.error("web") == expected, "\(network)")
    }
    // On a bridge the guest may configure itself (DHCP, SLAAC).
    fixture.vserver("web", "[namespaces]\nnet = \"veth\"\n[network]\nbridge = \"br0\"\n")
    guard case .veth(let bridged) = try #require(fixture.config("web")).network else { return }
    #expect(bridged.addresses.isEmpty && bridged.bridge == "br0")
}
