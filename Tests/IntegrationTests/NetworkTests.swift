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
    return busyboxInit + "context = \(context)\n\n[namespaces]\nnet = \"veth\"\n\n[network]\n" + network
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
