import CVServerSpawn
import Glibc
import VServerConfig
import VServerProtocol

/// `net = "veth"` (docs/ARCHITECTURE.md §3): a veth pair per guest, `vsCONTEXT` on the host and `eth0` inside, set up
/// while PID 1 is held before its exec, so that the guest's init finds its network ready.
/// - With `bridge`: the host end joins that bridge; the guest is on the bridge's network.
/// - Without: routed. The host end gets a host route to the guest's address and answers ARP for the host's own
///   addresses (proxy_arp), so the guest reaches `gateway` (an address of the host) through it; forwarding beyond
///   the host is the admin's choice (net.ipv4.ip_forward, NAT).
/// Inside: `lo` up, `eth0` with `address`, up, and a default route via `gateway` (on-link) when given. The pair
/// goes away with the guest's network namespace; stop also deletes it at once, so that the name is free for a
/// restart right away (the kernel dismantles a dead namespace asynchronously).
struct VethNetwork: Sendable {
    let hostInterface: String
    let address: [UInt8]
    let prefixLength: UInt8
    let gateway: [UInt8]?
    let bridge: String?

    static let guestInterface = "eth0"

    /// "vs1042": unique among running guests, as contexts are; at most 7 of the 15 characters a name may have.
    static func hostInterfaceName(context: Int) -> String { "vs\(context)" }

    /// nil unless `config` has net = "veth".
    init?(_ config: VServerConfig) {
        guard case .veth(let settings) = config.network,
              let first = settings.addresses.first(where: { $0.address.family == .v4 })
        else { return nil }
        hostInterface = Self.hostInterfaceName(context: config.context)
        address = first.address.bytes
        prefixLength = UInt8(first.prefixLength)
        gateway = settings.gateway?.bytes
        bridge = settings.bridge
    }

    /// Creates and configures both ends for the held PID 1 `pid`; on failure nothing of it is left.
    func setUp(pid: Int32) throws(SystemError) {
        let namespacePath = "/proc/\(pid)/ns/net"
        let namespaceFD = open(namespacePath, O_RDONLY | O_CLOEXEC)
        guard namespaceFD >= 0 else { throw SystemError("open", path: namespacePath) }
        defer { close(namespaceFD) }

        let host = try RouteNetlinkSocket()
        var create = NetlinkMessage(type: RouteNetlinkConstant.newLink,
                                    flags: RouteNetlinkConstant.create | RouteNetlinkConstant.exclusive)
        create.interfaceInfo()
        create.attribute(RouteNetlinkConstant.interfaceName, string: hostInterface)
        create.nested(RouteNetlinkConstant.linkInfo) { info in
            info.attribute(RouteNetlinkConstant.infoKind, string: "veth")
            info.nested(RouteNetlinkConstant.infoData) { data in
                data.nested(RouteNetlinkConstant.vethPeer) { peer in
                    peer.interfaceInfo()
                    peer.attribute(RouteNetlinkConstant.interfaceName, string: Self.guestInterface)
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
            try FileSystem.writeKernelFile("/proc/sys/net/ipv4/conf/\(hostInterface)/proxy_arp", "1\n")
        }
        try Self.bringUp(index, hostInterface, on: host)
        if bridge == nil {
            var route = NetlinkMessage(type: RouteNetlinkConstant.newRoute,
                                       flags: RouteNetlinkConstant.create | RouteNetlinkConstant.exclusive)
            route.routeInfo(destinationLength: 32, scope: RouteNetlinkConstant.scopeLink)
            route.attribute(RouteNetlinkConstant.routeDestination, address)
            route.attribute(RouteNetlinkConstant.routeOutputInterface, uint32: UInt32(index))
            try host.request(route, "add route to \(Self.text(address)) via \(hostInterface)")
        }
    }

    private func configureGuestEnd(namespaceFD: Int32, path: String) throws(SystemError) {
        let (guest, loopback, eth0) = try Self.insideNamespace(namespaceFD, path: path)
        try Self.bringUp(loopback, "lo", on: guest)
        var add = NetlinkMessage(type: RouteNetlinkConstant.newAddress,
                                 flags: RouteNetlinkConstant.create | RouteNetlinkConstant.exclusive)
        add.append(UInt8(AF_INET))
        add.append(prefixLength)
        add.append(UInt8(0))  // flags
        add.append(RouteNetlinkConstant.scopeUniverse)
        add.append(UInt32(eth0))
        add.attribute(RouteNetlinkConstant.addressLocal, address)
        add.attribute(RouteNetlinkConstant.addressAddress, address)
        if prefixLength < 31 { add.attribute(RouteNetlinkConstant.addressBroadcast, broadcast) }
        try guest.request(add, "add address \(Self.text(address))/\(prefixLength) to \(Self.guestInterface)")
        try Self.bringUp(eth0, Self.guestInterface, on: guest)
        if let gateway {
            var route = NetlinkMessage(type: RouteNetlinkConstant.newRoute,
                                       flags: RouteNetlinkConstant.create | RouteNetlinkConstant.exclusive)
            route.routeInfo(destinationLength: 0, scope: RouteNetlinkConstant.scopeUniverse,
                            flags: RouteNetlinkConstant.onLink)
            route.attribute(RouteNetlinkConstant.routeGateway, gateway)
            route.attribute(RouteNetlinkConstant.routeOutputInterface, uint32: UInt32(eth0))
            try guest.request(route, "add default route via \(Self.text(gateway)) in the vserver")
        }
    }

    private var broadcast: [UInt8] {
        let mask = prefixLength == 0 ? UInt32(0) : UInt32.max << (32 - UInt32(prefixLength))
        let value = address.reduce(UInt32(0)) { $0 << 8 | UInt32($1) } | ~mask
        return [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }

    /// Deletes the pair by its host end (both ends go); a missing one is fine.
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

    private static func text(_ octets: [UInt8]) -> String { octets.map(String.init).joined(separator: ".") }
}

extension NetlinkMessage {
    /// struct rtmsg for an IPv4 unicast route in the main table.
    mutating func routeInfo(destinationLength: UInt8, scope: UInt8, flags: UInt32 = 0) {
        append(UInt8(AF_INET))
        append(destinationLength)
        append(UInt8(0))  // source length
        append(UInt8(0))  // tos
        append(RouteNetlinkConstant.mainTable)
        append(RouteNetlinkConstant.protocolBoot)
        append(scope)
        append(RouteNetlinkConstant.unicast)
        append(flags)
    }
}
