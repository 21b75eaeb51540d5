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
            for address in bound.addresses where !BoundPrograms.isLocal(address.address) {
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
        try BoundPrograms.attach(to: directory, addresses: bound.addresses.map(\.address), loopback: bound.loopback)
    }
}

extension NetlinkMessage {
    /// struct ifaddrmsg and the address attributes of RTM_NEWADDR/RTM_DELADDR. IPv6 ones skip duplicate address
    /// detection, which would leave them unusable ("tentative") for a second or more after the start; `flags` adds
    /// IFA_F_ flags to theirs.
    mutating func interfaceAddress(_ address: InterfaceAddress, index: UInt32, label: String?, flags more: UInt32 = 0) {
        let isV4 = address.address.family == .v4
        let flags: UInt32 = isV4 ? 0 : UInt32(RouteNetlinkConstant.noDAD) | more
        append(UInt8(address.address.family.addressFamily))
        append(UInt8(address.prefixLength))
        append(UInt8(truncatingIfNeeded: flags))
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
        if !isV4 { attribute(RouteNetlinkConstant.addressFlags, uint32: flags) }
    }
}
