import Foundation
import Testing

/// `net = "none"` and `net = "veth"`: what a guest's network looks like from inside, and what stays on the host.
extension Integration {
    @Suite struct Network {
        @Test func noneGivesAPrivateNamespaceWithOnlyLoopback() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit + "[namespaces]\nnet = \"none\"\n")
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                #expect(try namespace("net", of: try host.guestPID("web")) != namespace("net", of: getpid()))
                let links = try host.ctl("exec", "web", "--", "ls", "/sys/class/net").stdout
                #expect(links.split(separator: "\n") == ["lo"], "\(links)")
            }
        }

        /// A bridge on the host with 10.213.N.1/24; the guest gets 10.213.N.5 on eth0 and reaches the bridge's
        /// address; after stop no interface of it is left on the host.
        @Test func vethOnABridgeReachesTheHostAndLeavesNothingBehind() async throws {
            let bridge = "vst\(getpid() % 100_000)"
            let subnet = "10.213.\(getpid() % 250)"
            try ip("link", "add", bridge, "type", "bridge")
            defer { try? ip("link", "del", bridge) }
            try ip("addr", "add", "\(subnet).1/24", "dev", bridge)
            try ip("link", "set", bridge, "up")
            let linksBefore = try hostLinks()

            try await withTestHost { host in
                try host.addVServer(
                    "web", config: vethConfig(context: 1500, address: "\(subnet).5/24", gateway: "\(subnet).1",
                                              bridge: bridge))
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                let address = try host.ctl("exec", "web", "--", "ip", "-4", "-o", "addr", "show", "eth0").stdout
                #expect(address.contains("inet \(subnet).5/24"), "\(address)")
                let routes = try host.ctl("exec", "web", "--", "ip", "route").stdout
                #expect(routes.contains("default via \(subnet).1 dev eth0"), "\(routes)")
                let ping = try host.ctl("exec", "web", "--", "ping", "-c", "1", "-W", "5", "\(subnet).1")
                #expect(ping.status == 0, "\(ping)")
                let master = try String(contentsOfFile: "/sys/class/net/vs1500/master/uevent", encoding: .utf8)
                #expect(master.contains("INTERFACE=\(bridge)"), "the host end is on the bridge")

                // Restart at once: the name is free again right away.
                #expect(try host.ctl("restart", "web").status == 0)
                #expect(try host.ctl("stop", "web").status == 0)
                #expect(try hostLinks() == linksBefore, "no veth left on the host")
            }
        }

        /// No bridge: the host routes to the guest and answers ARP for its own addresses (proxy_arp).
        @Test func routedVethReachesAnAddressOfTheHost() async throws {
            let hostAddress = "10.214.\(getpid() % 250).1"
            try ip("addr", "add", "\(hostAddress)/32", "dev", "lo")
            defer { try? ip("addr", "del", "\(hostAddress)/32", "dev", "lo") }
            let guestAddress = "10.214.\(getpid() % 250).5"
            try await withTestHost { host in
                try host.addVServer(
                    "web", config: vethConfig(context: 1501, address: "\(guestAddress)/24", gateway: hostAddress))
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                let route = try ip("route", "show", "\(guestAddress)")
                #expect(route.contains("dev vs1501"), "\(route)")
                let ping = try host.ctl("exec", "web", "--", "ping", "-c", "1", "-W", "5", hostAddress)
                #expect(ping.status == 0, "\(ping)")
                #expect(try host.ctl("stop", "web").status == 0)
                #expect(try ip("route", "show", "\(guestAddress)").isEmpty, "its host route went with it")
            }
        }

        /// Issue 13, acceptance 5, routed (no bridge) in a test network namespace standing in for the host: two IPv4
        /// addresses and an IPv6 one, each reachable from the "host"; eth0 has the configured MAC and MTU; the guest
        /// reaches both gateways (addresses of the host on nic0); stop leaves no link, route or proxy entry.
        @Test func routedVethWithIPv6AndASecondIPv4AddressIsReachableWithItsOwnMAC() async throws {
            try await withTestNetworkNamespace { ns in
                try await withTestHost { host in
                    try host.addVServer("web", config: vethConfig(context: 1510, network: """
                        addresses = ["192.0.2.20/24", "198.51.100.20/24", "2001:db8::20/64"]
                        gateway = "\(TestNetworkNamespace.hostAddress)"
                        gateway6 = "\(TestNetworkNamespace.hostAddress6)"
                        mac = "02:00:5e:10:00:20"
                        mtu = 1400
                        """))
                    try host.startDaemon(wrapper: ns.daemonWrapper)
                    let start = try host.ctl("start", "web")
                    try #require(start.status == 0, "\(start)")

                    for address in ["192.0.2.20", "198.51.100.20", "2001:db8::20"] {
                        let ping = try ns.run(["/usr/bin/busybox", "ping", "-c", "1", "-W", "5", address])
                        #expect(ping.status == 0, "\(address) from the host: \(ping)")
                    }
                    let link = try host.ctl("exec", "web", "--", "ip", "link", "show", "eth0").stdout
                    #expect(link.contains("link/ether 02:00:5e:10:00:20"), "\(link)")
                    #expect(link.contains(" mtu 1400 "), "\(link)")
                    #expect(try ns.ip("link", "show", "vs1510").contains(" mtu 1400 "), "both ends")
                    let addresses = try host.ctl("exec", "web", "--", "ip", "-o", "addr", "show", "eth0").stdout
                    for address in ["192.0.2.20/24", "198.51.100.20/24", "2001:db8::20/64"] {
                        #expect(addresses.contains(" \(address) "), "\(addresses)")
                    }
                    let routes6 = try host.ctl("exec", "web", "--", "ip", "-6", "route").stdout
                    #expect(routes6.contains("default via 2001:db8::1 dev eth0"), "\(routes6)")
                    #expect(!routes6.contains("2001:db8::/64"), "no prefix route: all goes via gateway6\n\(routes6)")
                    for (ping, address) in [("ping", "192.0.2.1"), ("ping6", "2001:db8::1")] {
                        let result = try host.ctl("exec", "web", "--", ping, "-c", "1", "-W", "5", address)
                        #expect(result.status == 0, "\(address) from the guest: \(result)")
                    }
                    #expect(try ns.ip("-6", "neigh", "show", "proxy").contains("2001:db8::1 dev vs1510"))
                    let acceptRA = try ns.run(["/bin/cat", "/proc/sys/net/ipv6/conf/vs1510/accept_ra"]).stdout
                    #expect(acceptRA == "0\n", "no router advertisement of the guest configures the host")
                    for address in ["192.0.2.20", "198.51.100.20", "2001:db8::20"] {
                        let route = try ns.ip(address.contains(":") ? "-6" : "-4", "route", "show", address)
                        #expect(route.contains("dev vs1510"), "a host route to \(address): \(route)")
                    }

                    #expect(try host.ctl("stop", "web").status == 0)
                    #expect(!(try ns.ip("-o", "link", "show")).contains("vs1510"), "no host end left")
                    #expect(try ns.ip("route", "show", "192.0.2.20").isEmpty)
                    #expect(try ns.ip("route", "show", "198.51.100.20").isEmpty)
                    #expect(try ns.ip("-6", "route", "show", "2001:db8::20").isEmpty)
                    #expect(try ns.ip("-6", "neigh", "show", "proxy").isEmpty)
                    #expect(try ns.addresses().contains("\(TestNetworkNamespace.hostAddress6)/64"), "the host's own")
                }
            }
        }

        /// A step that fails after the pair exists (here: a host route to the guest's IPv6 address is already
        /// there) fails the start with what failed, and leaves no link, route or proxy entry of the guest.
        @Test func aRoutedVethWhoseRouteExistsFailsTheStartAndLeavesNothing() async throws {
            try await withTestNetworkNamespace { ns in
                try ns.ip("-6", "route", "add", "2001:db8::30/128", "dev", TestNetworkNamespace.device)
                try await withTestHost { host in
                    try host.addVServer("web", config: vethConfig(context: 1513, network: """
                        addresses = ["192.0.2.30/24", "2001:db8::30/64"]
                        gateway6 = "\(TestNetworkNamespace.hostAddress6)"
                        """))
                    try host.startDaemon(wrapper: ns.daemonWrapper)
                    let start = try host.ctl("start", "web")
                    #expect(start.status == 1)
                    #expect(start.stderr == "vserverctl: start web: network: add route to 2001:db8::30 via vs1513: "
                        + "File exists\n")
                    #expect(!(try ns.ip("-o", "link", "show")).contains("vs1513"), "no host end left")
                    #expect(try ns.ip("route", "show", "192.0.2.30").isEmpty, "its IPv4 route went with it")
                    #expect(try ns.ip("-6", "neigh", "show", "proxy").isEmpty)
                    #expect(try host.ctl("status", "web").status == 3)
                }
            }
        }

        /// On a bridge of the test namespace with an IPv4 and an IPv6 network: two guests without `mac` get their
        /// addresses with prefix routes, reach the bridge's addresses and are reached from it; their derived MACs
        /// are locally administered, differ, and stay the same across a restart.
        @Test func vethOnABridgeWithIPv6GetsADerivedMACStableAcrossARestart() async throws {
            try await withTestNetworkNamespace { ns in
                try ns.ip("link", "add", "br0", "type", "bridge")
                try ns.ip("addr", "add", "198.51.100.1/24", "dev", "br0")
                try ns.ip("addr", "add", "2001:db8:1::1/64", "dev", "br0", "nodad")
                try ns.ip("link", "set", "br0", "up")
                try await withTestHost { host in
                    for (name, context) in [("web", 1511), ("db", 1512)] {
                        try host.addVServer(name, config: vethConfig(context: context, network: """
                            addresses = ["198.51.100.\(context - 1500)/24", "2001:db8:1::\(context - 1500)/64"]
                            gateway = "198.51.100.1"
                            gateway6 = "2001:db8:1::1"
                            bridge = "br0"
                            """))
                    }
                    try host.startDaemon(wrapper: ns.daemonWrapper)
                    func mac(_ name: String) throws -> String {
                        let link = try host.ctl("exec", name, "--", "cat", "/sys/class/net/eth0/address")
                        try #require(link.status == 0, "\(link)")
                        return link.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                    }
                    for name in ["web", "db"] { try #require(try host.ctl("start", name).status == 0) }
                    let web = try mac("web")
                    #expect(web != (try mac("db")), "another context, another MAC")
                    let firstByte = try #require(UInt8(web.prefix(2), radix: 16), "\(web)")
                    #expect(firstByte & 0x03 == 0x02, "locally administered unicast: \(web)")

                    let routes6 = try host.ctl("exec", "web", "--", "ip", "-6", "route").stdout
                    #expect(routes6.contains("2001:db8:1::/64 dev eth0"), "\(routes6)")
                    #expect(routes6.contains("default via 2001:db8:1::1 dev eth0"), "\(routes6)")
                    for address in ["198.51.100.11", "2001:db8:1::11", "198.51.100.12", "2001:db8:1::12"] {
                        let ping = try ns.run(["/usr/bin/busybox", "ping", "-c", "1", "-W", "5", address])
                        #expect(ping.status == 0, "\(address) from the host: \(ping)")
                    }
                    let ping6 = try host.ctl("exec", "web", "--", "ping6", "-c", "1", "-W", "5", "2001:db8:1::1")
                    #expect(ping6.status == 0, "the bridge from the guest: \(ping6)")

                    #expect(try host.ctl("restart", "web").status == 0)
                    #expect(try mac("web") == web, "the same MAC after a restart")
                    for name in ["web", "db"] { #expect(try host.ctl("stop", name).status == 0) }
                    let ports = try ns.ip("-o", "link", "show", "master", "br0")
                    #expect(ports.isEmpty, "no host end left on the bridge: \(ports)")
                }
            }
        }

        /// On a bridge a guest may have no addresses (its own DHCP client or SLAAC configures eth0): it still gets
        /// its pair, eth0 up without an address of its own, the host end on the bridge.
        @Test func vethOnABridgeWithoutAddressesGetsEth0UpForTheGuestToConfigure() async throws {
            try await withTestNetworkNamespace { ns in
                try ns.ip("link", "add", "br0", "type", "bridge")
                try ns.ip("link", "set", "br0", "up")
                try await withTestHost { host in
                    try host.addVServer("dhcp", config: vethConfig(context: 1514, network: "bridge = \"br0\""))
                    try host.startDaemon(wrapper: ns.daemonWrapper)
                    let start = try host.ctl("start", "dhcp")
                    try #require(start.status == 0, "\(start)")
                    let link = try host.ctl("exec", "dhcp", "--", "ip", "link", "show", "eth0")
                    #expect(link.status == 0 && link.stdout.contains(",UP,"), "\(link)")
                    let inet = try host.ctl("exec", "dhcp", "--", "ip", "-4", "addr", "show", "eth0").stdout
                    #expect(!inet.contains("inet "), "\(inet)")
                    #expect(try ns.ip("-o", "link", "show", "master", "br0").contains("vs1514"))
                    #expect(try host.ctl("stop", "dhcp").status == 0)
                }
            }
        }

        @Test func aVethThatCannotBeMadeFailsTheStartAndLeavesNothing() async throws {
            try await withTestHost { host in
                try host.addVServer(
                    "web", config: vethConfig(context: 1502, address: "10.215.0.5/24", bridge: "nosuchbridge"))
                try host.startDaemon()
                let linksBefore = try hostLinks()
                let clock = ContinuousClock()
                let began = clock.now
                let start = try host.ctl("start", "web")
                #expect(clock.now - began < .seconds(20), "the held PID 1 ends at once, not after its hold timeout")
                #expect(start.status == 1)
                #expect(start.stderr == "vserverctl: start web: network: find bridge nosuchbridge: No such device\n")
                #expect(try hostLinks() == linksBefore)
                #expect(!FileManager.default.fileExists(atPath: "\(host.stateDirectory)/web.json"), "not running")
                #expect(try host.ctl("status", "web").status == 3)
            }
        }
    }
}

/// A busybox vserver with net = "veth" and the given [network] keys; its host end is vsCONTEXT.
private func vethConfig(context: Int, address: String, gateway: String? = nil, bridge: String? = nil) -> String {
    var network = "address = \"\(address)\"\n"
    if let gateway { network += "gateway = \"\(gateway)\"\n" }
    if let bridge { network += "bridge = \"\(bridge)\"\n" }
    return vethConfig(context: context, network: network)
}

/// A busybox vserver with net = "veth" and `network` as its [network] table.
private func vethConfig(context: Int, network: String) -> String {
    busyboxInit + "context = \(context)\n\n[namespaces]\nnet = \"veth\"\n\n[network]\n" + network + "\n"
}

/// `ip ARGS…` on the host; its stdout. Throws when it fails.
@discardableResult
private func ip(_ arguments: String...) throws -> String {
    let result = try run("/usr/sbin/ip", arguments)
    guard result.status == 0 else { throw TestFailure("ip \(arguments.joined(separator: " ")): \(result)") }
    return result.stdout
}

/// The host's network interfaces by name.
private func hostLinks() throws -> Set<String> {
    Set(try FileManager.default.contentsOfDirectory(atPath: "/sys/class/net"))
}
