import CVServerSpawn
import Glibc
import VServerConfig
import VServerProtocol

/// `net = "bound"` (docs/ARCHITECTURE.md §3): the guest shares the host's network namespace, and is held to its own
/// addresses by cgroup BPF programs on its cgroup (bound.c). Its addresses go on `device` at start, labelled
/// "DEVICE:NAME", unless they are there already (the host's, or given with no device); stop removes the ones it added.
struct BoundGuestNetwork: Sendable {
    let bound: BoundNetwork
    let name: String

    /// nil unless `config` has net = "bound".
    init?(_ config: VServerConfig) {
        guard case .bound(let bound) = config.network else { return nil }
        self.bound = bound
        name = config.name
    }

    /// Puts the addresses on `device`; returns the ones it added (an address already there is left to whoever has it).
    /// Without a device, checks that each is an address of the host. On failure, nothing it added stays.
    func addAddresses() throws(SystemError) -> [InterfaceAddress] {
        guard let device = bound.device else {
            for address in bound.addresses where !Self.isLocal(address.address) {
                throw SystemError("use \(address.address)", path: nil, errno: EADDRNOTAVAIL)
            }
            return []
        }
        let index = if_nametoindex(device)
        guard index > 0 else { throw SystemError("find interface \(device)", errno: errno == 0 ? ENODEV : errno) }
        if bound.addresses.contains(where: { $0.address.family == .v4 }) {
            // Removing the first address of a subnet would otherwise remove every later one of it (another guest's).
            try? FileSystem.writeKernelFile("/proc/sys/net/ipv4/conf/\(device)/promote_secondaries", "1\n")
        }
        let socket = try RouteNetlinkSocket()
        var added: [InterfaceAddress] = []
        for address in bound.addresses {
            var message = NetlinkMessage(type: RouteNetlinkConstant.newAddress,
                                         flags: RouteNetlinkConstant.create | RouteNetlinkConstant.exclusive)
            message.interfaceAddress(address, index: index, label: bound.interfaceLabel(name: name))
            do throws(SystemError) {
                try socket.request(message, "add address \(address) to \(device)")
                added.append(address)
            } catch where error.errno == EEXIST {
                continue
            } catch {
                Self.removeAddresses(added, device: device)
                throw error
            }
        }
        return added
    }

    /// Takes `addresses` off `device` again; one already gone is fine.
    static func removeAddresses(_ addresses: [InterfaceAddress], device: String) {
        let index = if_nametoindex(device)
        guard index > 0, !addresses.isEmpty, let socket = try? RouteNetlinkSocket() else { return }
        for address in addresses {
            var message = NetlinkMessage(type: RouteNetlinkConstant.deleteAddress, flags: 0)
            message.interfaceAddress(address, index: index, label: nil)
            try? socket.request(message, "remove address \(address) from \(device)")
        }
    }

    /// Attaches the programs to the guest's cgroup2 directory, before PID 1 runs anything of the guest.
    func attachPrograms(toCgroup directory: String) throws(SpawnFailure) {
        var spec = vs_bound_spec()
        let v4 = bound.addresses.filter { $0.address.family == .v4 }.prefix(Int(VS_BOUND_MAX_ADDRESSES))
        let v6 = bound.addresses.filter { $0.address.family == .v6 }.prefix(Int(VS_BOUND_MAX_ADDRESSES))
        withUnsafeMutableBytes(of: &spec.ipv4) { raw in
            for (i, address) in v4.enumerated() { raw.baseAddress!.advanced(by: 4 * i).copyMemory(
                from: address.address.bytes, byteCount: 4) }
        }
        withUnsafeMutableBytes(of: &spec.ipv6) { raw in
            for (i, address) in v6.enumerated() { raw.baseAddress!.advanced(by: 16 * i).copyMemory(
                from: address.address.bytes, byteCount: 16) }
        }
        withUnsafeMutableBytes(of: &spec.loopback) { $0.copyBytes(from: bound.loopback.bytes) }
        spec.ipv4_count = UInt32(v4.count)
        spec.ipv6_count = UInt32(v6.count)
        var failure = vs_error()
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            throw SpawnFailure(step: "open", path: directory, errno: errno)
        }
        defer { close(fd) }
        guard vs_bound_attach(fd, &spec, &failure) == 0 else { throw SpawnFailure(failure) }
    }

    /// Whether `address` is one of the host's: a socket can be bound to it.
    private static func isLocal(_ address: IPAddress) -> Bool {
        let fd = socket(address.family.addressFamily, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var storage = sockaddr_storage()
        let length = withUnsafeMutableBytes(of: &storage) { raw -> Int in
            if address.family == .v4 {
                var sin = sockaddr_in()
                sin.sin_family = sa_family_t(AF_INET)
                withUnsafeMutableBytes(of: &sin.sin_addr) { $0.copyBytes(from: address.bytes) }
                withUnsafeBytes(of: sin) { raw.copyMemory(from: $0) }
                return MemoryLayout<sockaddr_in>.size
            }
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { $0.copyBytes(from: address.bytes) }
            withUnsafeBytes(of: sin6) { raw.copyMemory(from: $0) }
            return MemoryLayout<sockaddr_in6>.size
        }
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(length)) == 0 }
        }
    }
}

extension NetlinkMessage {
    /// struct ifaddrmsg and the address attributes of RTM_NEWADDR/RTM_DELADDR. IPv6 ones skip duplicate address
    /// detection, which would leave them unusable ("tentative") for a second or more after the start.
    mutating func interfaceAddress(_ address: InterfaceAddress, index: UInt32, label: String?) {
        let isV4 = address.address.family == .v4
        let flags: UInt8 = isV4 ? 0 : RouteNetlinkConstant.noDAD
        append(UInt8(address.address.family.addressFamily))
        append(UInt8(address.prefixLength))
        append(flags)
        append(RouteNetlinkConstant.scopeUniverse)
        append(index)
        attribute(RouteNetlinkConstant.addressLocal, address.address.bytes)
        attribute(RouteNetlinkConstant.addressAddress, address.address.bytes)
        if isV4, address.prefixLength < 31 {
            let bytes = address.address.bytes
            let mask = address.prefixLength == 0 ? UInt32(0) : UInt32.max << (32 - UInt32(address.prefixLength))
            let value = bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) } | ~mask
            attribute(RouteNetlinkConstant.addressBroadcast, [24, 16, 8, 0].map { UInt8(value >> $0 & 0xff) })
        }
        if isV4, let label { attribute(RouteNetlinkConstant.addressLabel, string: label) }
        if !isV4 { attribute(RouteNetlinkConstant.addressFlags, uint32: UInt32(flags)) }
    }
}
