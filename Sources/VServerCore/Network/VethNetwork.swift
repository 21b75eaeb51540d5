import CVServerSpawn
import Glibc
import VServerConfig
import VServerProtocol

/// `net = "veth"` (docs/ARCHITECTURE.md §3): a veth pair per guest, `vsCONTEXT` on the host and `eth0` inside, set up
/// while PID 1 is held before its exec, so that the guest's init finds its network ready.
/// - With `bridge`: the host end joins that bridge; the guest is on the bridge's network, its addresses with their
///   prefix routes.
/// - Without: routed. The host end gets a host route to each of the guest's addresses and answers ARP for the
///   host's own addresses (proxy_arp) and neighbour solicitations for `gateway6` (proxy NDP), so the guest reaches
///   `gateway` and `gateway6` (addresses of the host) through it; its IPv6 addresses get no prefix route, so that
///   everything goes via `gateway6`. Forwarding beyond the host is the admin's choice (ip_forward, NAT).
/// Inside: `lo` up, `eth0` with the addresses (IPv6 ones without DAD: usable at once), its MAC (`mac`, or one derived
/// from the host's machine id and the context) and MTU, up, and default routes via `gateway` and `gateway6`
/// (on-link). Routes and the proxy entry hang on the host end, which goes away with the guest's network namespace;
/// stop also deletes it at once, so that the name is free for a restart right away (the kernel dismantles a dead
/// namespace asynchronously).
struct VethNetwork: Sendable {
    let hostInterface: String
    let context: Int
    let addresses: [InterfaceAddress]
    let gateway: IPAddress?
    let gateway6: IPAddress?
    let bridge: String?
    /// nil: `derivedMAC`, made at set-up.
    let mac: [UInt8]?
    let mtu: Int?

    static let guestInterface = "eth0"

    /// "vs1042": unique among running guests, as contexts are; at most 7 of the 15 characters a name may have.
    static func hostInterfaceName(context: Int) -> String { "vs\(context)" }

    /// nil unless `config` has net = "veth".
    init?(_ config: VServerConfig) {
        guard case .veth(let settings) = config.network else { return nil }
        hostInterface = Self.hostInterfaceName(context: config.context)
        context = config.context
        addresses = settings.addresses
        gateway = settings.gateway
        gateway6 = settings.gateway6
        bridge = settings.bridge
        mac = settings.mac
        mtu = settings.mtu
    }

    /// Creates and configures both ends for the held PID 1 `pid`; on failure nothing of it is left.
    func setUp(pid: Int32) throws(SystemError) {
        let namespacePath = "/proc/\(pid)/ns/net"
        let namespaceFD = open(namespacePath, O_RDONLY | O_CLOEXEC)
        guard namespaceFD >= 0 else { throw SystemError("open", path: namespacePath) }
        defer { close(namespaceFD) }

        let host = try RouteNetlinkSocket()
        let guestMAC = mac ?? Self.derivedMAC(machineID: Self.machineID(), context: context)
        var create = NetlinkMessage(type: RouteNetlinkConstant.newLink,
                                    flags: RouteNetlinkConstant.create | RouteNetlinkConstant.exclusive)
        create.interfaceInfo()
        create.attribute(RouteNetlinkConstant.interfaceName, string: hostInterface)
        if let mtu { create.attribute(RouteNetlinkConstant.linkMTU, uint32: UInt32(mtu)) }
        create.nested(RouteNetlinkConstant.linkInfo) { info in
            info.attribute(RouteNetlinkConstant.infoKind, string: "veth")
            info.nested(RouteNetlinkConstant.infoData) { data in
                data.nested(RouteNetlinkConstant.vethPeer) { peer in
                    peer.interfaceInfo()
                    peer.attribute(RouteNetlinkConstant.interfaceName, string: Self.guestInterface)
                    peer.attribute(RouteNetlinkConstant.linkAddress, guestMAC)
                    if let mtu { peer.attribute(RouteNetlinkConstant.linkMTU, uint32: UInt32(mtu)) }
                    peer.attribute(RouteNetlinkConstant.namespaceFD, uint32: UInt32(namespaceFD))
                }
            }
        }
        try host.request(create, "create veth pair \(hostInterface)/\(Self.guestInterface)")
        do throws(SystemError) {
            try configureHostEnd(host)
            try configureGuestEnd(namespaceFD: namespaceFD, path: namespacePath)
        } catch {
            Self.tearDown(hostInterface)
            throw error
        }
    }

    private func configureHostEnd(_ host: RouteNetlinkSocket) throws(SystemError) {
        let index = try Self.index(of: hostInterface)
        if let bridge {
            let bridgeIndex = try Self.index(of: bridge, what: "bridge")
            var attach = NetlinkMessage(type: RouteNetlinkConstant.newLink, flags: 0)
            attach.interfaceInfo(index: index)
            attach.attribute(RouteNetlinkConstant.master, uint32: UInt32(bridgeIndex))
            try host.request(attach, "attach \(hostInterface) to bridge \(bridge)")
        } else {
            try configureRoutedHostEnd()
        }
        try Self.bringUp(index, hostInterface, on: host)
        guard bridge == nil else { return }
        for address in addresses.map(\.address) {
            let v6 = address.family == .v6
            var route = NetlinkMessage(type: RouteNetlinkConstant.newRoute,
                                       flags: RouteNetlinkConstant.create | RouteNetlinkConstant.exclusive)
            route.routeInfo(family: address.family.addressFamily, destinationLength: UInt8(address.family.bitCount),
                            scope: v6 ? RouteNetlinkConstant.scopeUniverse : RouteNetlinkConstant.scopeLink)
            route.attribute(RouteNetlinkConstant.routeDestination, address.bytes)
            route.attribute(RouteNetlinkConstant.routeOutputInterface, uint32: UInt32(index))
            try host.request(route, "add route to \(address) via \(hostInterface)")
        }
        if let gateway6 {
            // ndisc answers for an address of another interface only with a proxy entry on this one.
            var proxy = NetlinkMessage(type: RouteNetlinkConstant.newNeighbour,
                                       flags: RouteNetlinkConstant.create | RouteNetlinkConstant.exclusive)
            proxy.neighbourInfo(
                family: AF_INET6, index: index, state: RouteNetlinkConstant.neighbourPermanent,
                flags: RouteNetlinkConstant.neighbourProxy | RouteNetlinkConstant.neighbourRouter)
            proxy.attribute(RouteNetlinkConstant.neighbourDestination, gateway6.bytes)
            try host.request(proxy, "add proxy neighbour \(gateway6) on \(hostInterface)")
        }
    }

    /// The host end's settings of a routed guest, made before it is up. They go with the interface.
    private func configureRoutedHostEnd() throws(SystemError) {
        try FileSystem.writeKernelFile("/proc/sys/net/ipv4/conf/\(hostInterface)/proxy_arp", "1\n")
        let ipv6 = "/proc/sys/net/ipv6/conf/\(hostInterface)"
        // A host without IPv6 has no such directory; a guest with IPv6 settings then fails below.
        guard FileSystem.exists(ipv6) || gateway6 != nil else { return }
        var settings = [
            // No router advertisement from the guest becomes a route or an address of the host.
            ("accept_ra", "0"),
            // A link to one guest needs no duplicate detection; without it the host end's link-local address, the
            // source of its neighbour solicitations to the guest, is usable at once.
            ("accept_dad", "0"),
        ]
        // ndisc_recv_ns answers for a proxy entry only on an interface with forwarding on (which forwards nothing
        // by itself: that takes net.ipv6.conf.all.forwarding).
        if gateway6 != nil { settings += [("proxy_ndp", "1"), ("forwarding", "1")] }
        for (name, value) in settings { try FileSystem.writeKernelFile("\(ipv6)/\(name)", value + "\n") }
    }

    private func configureGuestEnd(namespaceFD: Int32, path: String) throws(SystemError) {
        let (guest, loopback, eth0) = try Self.insideNamespace(namespaceFD, path: path)
        try Self.bringUp(loopback, "lo", on: guest)
        for address in addresses {
            var add = NetlinkMessage(type: RouteNetlinkConstant.newAddress,
                                     flags: RouteNetlinkConstant.create | RouteNetlinkConstant.exclusive)
            // Routed, everything goes via gateway6: the host end answers for nothing else of the prefix.
            let noPrefixRoute = bridge == nil ? RouteNetlinkConstant.noPrefixRoute : 0
            add.interfaceAddress(address, index: UInt32(eth0), label: nil, flags: noPrefixRoute)
            try guest.request(add, "add address \(address) to \(Self.guestInterface)")
        }
        try Self.bringUp(eth0, Self.guestInterface, on: guest)
        for gateway in [gateway, gateway6].compactMap({ $0 }) {
            var route = NetlinkMessage(type: RouteNetlinkConstant.newRoute,
                                       flags: RouteNetlinkConstant.create | RouteNetlinkConstant.exclusive)
            route.routeInfo(family: gateway.family.addressFamily, destinationLength: 0,
                            scope: RouteNetlinkConstant.scopeUniverse, flags: RouteNetlinkConstant.onLink)
            route.attribute(RouteNetlinkConstant.routeGateway, gateway.bytes)
            route.attribute(RouteNetlinkConstant.routeOutputInterface, uint32: UInt32(eth0))
            try guest.request(route, "add default route via \(gateway) in the vserver")
        }
    }

    /// eth0's MAC when the config gives none: locally administered unicast, the same at every start of `context`
    /// on this host and, by the host's machine id, another one on another host, so that two hosts' guests of one
    /// context on one bridge do not collide (as systemd-nspawn derives its MACs).
    static func derivedMAC(machineID: [UInt8], context: Int) -> [UInt8] {
        let input = machineID + Array("vserverd eth0".utf8) + withUnsafeBytes(of: UInt64(context).littleEndian) {
            Array($0)
        }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a
        for byte in input { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        // FNV-1a carries the last bytes (the context) into higher bits only; murmur3's finaliser mixes all of them.
        hash = (hash ^ hash >> 33) &* 0xff51_afd7_ed55_8ccd
        hash = (hash ^ hash >> 33) &* 0xc4ce_b9fe_1a85_ec53
        hash ^= hash >> 33
        var mac = (0..<6).map { UInt8(truncatingIfNeeded: hash >> (8 * UInt64($0))) }
        mac[0] = mac[0] & 0xfe | 0x02  // unicast, locally administered
        return mac
    }

    /// The host's /etc/machine-id; nothing when it has none (then the context alone decides).
    static func machineID() -> [UInt8] {
        guard let text = try? FileSystem.readText("/etc/machine-id") else { return [] }
        return Array(text.utf8.filter { $0 > 32 })
    }

    /// Deletes the pair by its host end (both ends go, and with them its routes and proxy entry); a missing one is
    /// fine.
    static func tearDown(_ hostInterface: String) {
        guard let index = try? index(of: hostInterface), let socket = try? RouteNetlinkSocket() else { return }
        var delete = NetlinkMessage(type: RouteNetlinkConstant.deleteLink, flags: 0)
        delete.interfaceInfo(index: index)
        try? socket.request(delete, "delete \(hostInterface)")
    }

    private static func bringUp(_ index: Int32, _ name: String, on socket: RouteNetlinkSocket) throws(SystemError) {
        var up = NetlinkMessage(type: RouteNetlinkConstant.newLink, flags: 0)
        let flag = RouteNetlinkConstant.interfaceUp
        up.interfaceInfo(index: index, flags: flag, change: flag)
        try socket.request(up, "bring up \(name)")
    }

    private static func index(of name: String, what: String = "interface") throws(SystemError) -> Int32 {
        let index = if_nametoindex(name)
        guard index > 0 else { throw SystemError("find \(what) \(name)", errno: errno == 0 ? ENODEV : errno) }
        return Int32(index)
    }

    /// A route socket of the guest's network namespace and its `lo` and `eth0`: made on this thread after setns,
    /// which goes back to the daemon's own namespace right after (a socket stays in the namespace it was made in).
    private static func insideNamespace(_ namespaceFD: Int32, path: String)
        throws(SystemError) -> (RouteNetlinkSocket, loopback: Int32, eth0: Int32)
    {
        let ownPath = "/proc/thread-self/ns/net"
        let own = open(ownPath, O_RDONLY | O_CLOEXEC)
        guard own >= 0 else { throw SystemError("open", path: ownPath) }
        defer { close(own) }
        guard vs_setns(namespaceFD, Int32(VS_CLONE_NEWNET)) == 0 else { throw SystemError("setns", path: path) }
        defer {
            // A daemon thread left in a guest's namespace would do its next work there: never go on like that.
            if vs_setns(own, Int32(VS_CLONE_NEWNET)) != 0 {
                fatalError("setns back to vserverd's network namespace: \(String(cString: strerror(errno)))")
            }
        }
        let socket = try RouteNetlinkSocket()
        return (socket, try index(of: "lo"), try index(of: guestInterface))
    }
}
