import Glibc
import VServerConfig
import VServerProtocol

/// rtnetlink (the protocol `ip` speaks): just the requests a veth set-up needs, each sent with NLM_F_ACK and
/// answered by the kernel with an errno. Values from linux/netlink.h, rtnetlink.h, if_link.h, veth.h.
enum RouteNetlinkConstant {
    static let newLink: UInt16 = 16, deleteLink: UInt16 = 17, newAddress: UInt16 = 20, newRoute: UInt16 = 24
    static let request: UInt16 = 0x1, acknowledge: UInt16 = 0x4, exclusive: UInt16 = 0x200, create: UInt16 = 0x400
    static let error: UInt16 = 2
    static let interfaceName: UInt16 = 3, master: UInt16 = 10, linkInfo: UInt16 = 18, namespaceFD: UInt16 = 28
    static let infoKind: UInt16 = 1, infoData: UInt16 = 2, vethPeer: UInt16 = 1
    static let addressAddress: UInt16 = 1, addressLocal: UInt16 = 2, addressBroadcast: UInt16 = 4
    static let deleteAddress: UInt16 = 21, addressLabel: UInt16 = 3, addressFlags: UInt16 = 8, noDAD: UInt8 = 0x02
    static let routeDestination: UInt16 = 1, routeOutputInterface: UInt16 = 4, routeGateway: UInt16 = 5
    static let interfaceUp: UInt32 = 0x1
    static let mainTable: UInt8 = 254, protocolBoot: UInt8 = 3, scopeUniverse: UInt8 = 0, scopeLink: UInt8 = 253
    static let unicast: UInt8 = 1, onLink: UInt32 = 0x4
}

/// One netlink message: header, fixed part, attributes (4-byte aligned, nested ones with their length patched in).
struct NetlinkMessage {
    private(set) var bytes: [UInt8] = []

    init(type: UInt16, flags: UInt16) {
        append(UInt32(0))  // length, set by `finished`
        append(type)
        append(flags | RouteNetlinkConstant.request | RouteNetlinkConstant.acknowledge)
        append(UInt32(0))  // sequence, set by the socket
        append(UInt32(0))  // port: the kernel
    }

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }

    mutating func append(_ raw: [UInt8]) { bytes += raw }

    /// struct ifinfomsg: family, pad, type, index, flags, change.
    mutating func interfaceInfo(index: Int32 = 0, flags: UInt32 = 0, change: UInt32 = 0) {
        append(UInt8(AF_UNSPEC))
        append(UInt8(0))
        append(UInt16(0))
        append(index)
        append(flags)
        append(change)
    }

    mutating func attribute(_ type: UInt16, _ payload: [UInt8]) {
        append(UInt16(4 + payload.count))
        append(type)
        append(payload)
        align()
    }

    mutating func attribute(_ type: UInt16, string: String) { attribute(type, Array(string.utf8) + [0]) }

    mutating func attribute(_ type: UInt16, uint32 value: UInt32) {
        attribute(type, withUnsafeBytes(of: value.littleEndian) { Array($0) })
    }

    mutating func nested(_ type: UInt16, _ body: (inout NetlinkMessage) -> Void) {
        let start = bytes.count
        append(UInt16(0))
        append(type)
        body(&self)
        align()
        let length = UInt16(bytes.count - start)
        bytes[start] = UInt8(length & 0xff)
        bytes[start + 1] = UInt8(length >> 8)
    }

    private mutating func align() {
        while bytes.count % 4 != 0 { bytes.append(0) }
    }

    func finished(sequence: UInt32) -> [UInt8] {
        var result = bytes
        withUnsafeBytes(of: UInt32(result.count).littleEndian) { result.replaceSubrange(0..<4, with: $0) }
        withUnsafeBytes(of: sequence.littleEndian) { result.replaceSubrange(8..<12, with: $0) }
        return result
    }
}

/// A NETLINK_ROUTE socket of the network namespace it was made in, whatever thread uses it later.
final class RouteNetlinkSocket {
    private let fd: Int32
    private var sequence: UInt32 = 0

    init() throws(SystemError) {
        fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0 /* NETLINK_ROUTE */)
        guard fd >= 0 else { throw SystemError("socket AF_NETLINK") }
    }

    deinit { close(fd) }

    /// Sends `message` and waits for the kernel's answer; a negative one becomes SystemError(`what`).
    func request(_ message: NetlinkMessage, _ what: String) throws(SystemError) {
        sequence &+= 1
        let bytes = message.finished(sequence: sequence)
        let sent = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        guard sent == bytes.count else { throw SystemError(what, errno: sent < 0 ? errno : EIO) }
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 20 else { throw SystemError(what, errno: count < 0 ? errno : EIO) }
            let type = UInt16(buffer[4]) | UInt16(buffer[5]) << 8
            let answered = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self) }
            // Only the acknowledgement of this request counts (nlmsgerr: the errno, then the request's header).
            guard type == RouteNetlinkConstant.error, UInt32(littleEndian: answered) == sequence else { continue }
            let raw = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 16, as: Int32.self) }
            let code = Int32(littleEndian: raw)
            if code != 0 { throw SystemError(what, errno: -code) }
            return
        }
    }
}

/// What a veth set-up needs besides: link address and MTU (if_link.h), IFA_F_NOPREFIXROUTE (if_addr.h), RTM_NEWNEIGH
/// with a proxy entry (neighbour.h).
extension RouteNetlinkConstant {
    static let newNeighbour: UInt16 = 28
    static let linkAddress: UInt16 = 1, linkMTU: UInt16 = 4
    static let noPrefixRoute: UInt32 = 0x200
    static let neighbourDestination: UInt16 = 1
    static let neighbourProxy: UInt8 = 0x08, neighbourRouter: UInt8 = 0x80, neighbourPermanent: UInt16 = 0x80
}

extension NetlinkMessage {
    /// struct rtmsg for a unicast route in the main table.
    mutating func routeInfo(family: Int32, destinationLength: UInt8, scope: UInt8, flags: UInt32 = 0) {
        append(UInt8(family))
        append(destinationLength)
        append(UInt8(0))  // source length
        append(UInt8(0))  // tos
        append(RouteNetlinkConstant.mainTable)
        append(RouteNetlinkConstant.protocolBoot)
        append(scope)
        append(RouteNetlinkConstant.unicast)
        append(flags)
    }

    /// struct ndmsg: family, two pads, index, state, flags, type.
    mutating func neighbourInfo(family: Int32, index: Int32, state: UInt16, flags: UInt8) {
        append(UInt8(family))
        append(UInt8(0))
        append(UInt16(0))
        append(index)
        append(state)
        append(flags)
        append(UInt8(0))
    }
}
