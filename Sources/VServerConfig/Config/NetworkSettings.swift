import Glibc

/// An IPv4 or IPv6 address, as the kernel takes it (network byte order).
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    public enum Family: Sendable, Hashable {
        case v4, v6

        /// AF_INET or AF_INET6.
        public var addressFamily: Int32 { self == .v4 ? AF_INET : AF_INET6 }
        public var bitCount: Int { self == .v4 ? 32 : 128 }
    }

    public let family: Family
    /// 4 or 16 bytes.
    public let bytes: [UInt8]

    public init(family: Family, bytes: [UInt8]) {
        precondition(bytes.count == (family == .v4 ? 4 : 16))
        self.family = family
        self.bytes = bytes
    }

    /// "192.0.2.10" or "2001:db8::10" (inet_pton's forms; no zone, no prefix).
    public init?(_ text: String) {
        var v4 = in_addr()
        var v6 = in6_addr()
        if !text.contains(":"), inet_pton(AF_INET, text, &v4) == 1 {
            self.init(family: .v4, bytes: withUnsafeBytes(of: &v4) { Array($0) })
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            self.init(family: .v6, bytes: withUnsafeBytes(of: &v6) { Array($0) })
        } else {
            return nil
        }
    }

    /// inet_ntop's form: "2001:db8::10".
    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        _ = bytes.withUnsafeBytes { inet_ntop(family.addressFamily, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// 0.0.0.0 or ::.
    public var isUnspecified: Bool { bytes.allSatisfy { $0 == 0 } }
    /// 127.0.0.0/8 or ::1.
    public var isLoopback: Bool { family == .v4 ? bytes[0] == 127 : bytes == Array(repeating: 0, count: 15) + [1] }
    /// 224.0.0.0/4 or ff00::/8.
    public var isMulticast: Bool { family == .v4 ? bytes[0] & 0xf0 == 0xe0 : bytes[0] == 0xff }
    /// fe80::/10: needs an interface to mean anything.
    public var isLinkLocal: Bool { family == .v6 && bytes[0] == 0xfe && bytes[1] & 0xc0 == 0x80 }
}

/// An address with its prefix length: "192.0.2.10/24", "2001:db8::10/64".
public struct InterfaceAddress: Sendable, Hashable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    public init(address: IPAddress, prefixLength: Int) {
        self.address = address
        self.prefixLength = prefixLength
    }

    /// "ADDRESS/PREFIX", or a bare address when `defaultPrefix` (then a host address: /32, /128).
    public init?(_ text: String, prefixOptional: Bool = false) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(String(parts[0])) else { return nil }
        if parts.count == 1 {
            guard prefixOptional else { return nil }
            self.init(address: address, prefixLength: address.family.bitCount)
            return
        }
        let digits = parts[1]
        guard !digits.isEmpty, digits.count <= 3, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
              digits == "0" || !digits.hasPrefix("0"), let length = Int(digits), length <= address.family.bitCount
        else { return nil }
        self.init(address: address, prefixLength: length)
    }

    public var description: String { "\(address)/\(prefixLength)" }
}

/// `net = "bound"`: the host's network stack, with the guest held to its own addresses (docs/ARCHITECTURE.md §3).
public struct BoundNetwork: Sendable, Equatable {
    /// The first of each family is where a wildcard bind goes and the source of outgoing traffic.
    public var addresses: [InterfaceAddress]
    /// vserverd adds the addresses to this interface at start; nil: they are already the host's (util-vserver's
    /// `nodev`), and a start without them fails.
    public var device: String?
    /// What 127.0.0.1 and ::1 mean inside: an address of 127.0.0.0/8 of its own.
    public var loopback: IPAddress
    /// The label of its IPv4 addresses after "DEVICE:" (`ip addr` shows "eth0:web"); nil: the vserver's name.
    public var label: String?

    public init(addresses: [InterfaceAddress], device: String?, loopback: IPAddress, label: String? = nil) {
        self.addresses = addresses
        self.device = device
        self.loopback = loopback
        self.label = label
    }

    /// 127.1.HI.LO for context HI * 256 + LO (contexts are below 65536): outside 127.0.0.0/16, where the host's own
    /// loopback names live (127.0.0.1, systemd-resolved's 127.0.0.53, Debian's 127.0.1.1 for the hostname).
    public static func defaultLoopback(context: Int) -> IPAddress {
        IPAddress(family: .v4, bytes: [127, 1, UInt8(context >> 8 & 0xff), UInt8(context & 0xff)])
    }

    /// The interface label of its IPv4 addresses: at most 15 characters (IFNAMSIZ - 1).
    public func interfaceLabel(name: String) -> String? {
        guard let device else { return nil }
        return String(decoding: Array("\(device):\(label ?? name)".utf8.prefix(15)), as: UTF8.self)
    }

    public func first(_ family: IPAddress.Family) -> IPAddress? {
        addresses.first { $0.address.family == family }?.address
    }
}

/// `net = "veth"`: a pair per guest, `vsCONTEXT` on the host and eth0 inside.
public struct VethSettings: Sendable, Equatable {
    /// eth0's addresses; may be empty on a bridge, where the guest configures itself (DHCP, SLAAC).
    public var addresses: [InterfaceAddress] = []
    /// The default routes inside (on-link): an IPv4 and an IPv6 address of the host or of the bridge's network.
    public var gateway: IPAddress?
    public var gateway6: IPAddress?
    /// The host end joins this bridge; nil: routed.
    public var bridge: String?
    /// eth0's MAC address; nil: one derived from the host's machine id and the context (stable across restarts).
    public var mac: [UInt8]?
    /// Both ends' MTU; nil: the kernel's (1500).
    public var mtu: Int?

    public init(addresses: [InterfaceAddress] = [], gateway: IPAddress? = nil, gateway6: IPAddress? = nil,
                bridge: String? = nil, mac: [UInt8]? = nil, mtu: Int? = nil) {
        self.addresses = addresses
        self.gateway = gateway
        self.gateway6 = gateway6
        self.bridge = bridge
        self.mac = mac
        self.mtu = mtu
    }

    /// "02:00:5e:10:00:01": six hex bytes, a unicast (not multicast) address.
    public static func parseMAC(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        let bytes = parts.compactMap { $0.count == 2 ? UInt8($0, radix: 16) : nil }
        guard parts.count == 6, bytes.count == 6, bytes[0] & 1 == 0, bytes != [0, 0, 0, 0, 0, 0] else { return nil }
        return bytes
    }

    public static func formatMAC(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":")
    }
}

extension VServerConfig.Network {
    /// The addresses it claims: no two vservers may have one of them (`check`, start).
    public var claimedAddresses: [IPAddress] {
        switch self {
        case .bound(let bound): bound.addresses.map(\.address) + [bound.loopback]
        case .veth(let veth): veth.addresses.map(\.address)
        case .host, .none: []
        }
    }

    /// The name of `net`: "host", "none", "bound", "veth".
    public var mode: String {
        switch self {
        case .host: "host"
        case .none: "none"
        case .bound: "bound"
        case .veth: "veth"
        }
    }
}
