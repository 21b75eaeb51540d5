import CVServerSpawn
import Glibc

/// The cgroup BPF programs of `net = "bound"` (bound.c): for a bound guest's cgroup (vserverd) and for a host
/// command run with `vserverctl exec --bind-ip` (vserverctl).
package enum BoundPrograms {
    /// Attaches them to the cgroup2 directory `directory`: its processes may use `addresses` (the first of each
    /// family for wildcard binds and as the source), and `loopback` for 127.0.0.1 and ::1.
    package static func attach(to directory: String, addresses: [IPAddress], loopback: IPAddress)
        throws(SpawnFailure)
    {
        var spec = vs_bound_spec()
        let v4 = addresses.filter { $0.family == .v4 }.prefix(Int(VS_BOUND_MAX_ADDRESSES))
        let v6 = addresses.filter { $0.family == .v6 }.prefix(Int(VS_BOUND_MAX_ADDRESSES))
        withUnsafeMutableBytes(of: &spec.ipv4) { raw in
            for (index, address) in v4.enumerated() {
                raw.baseAddress!.advanced(by: 4 * index).copyMemory(from: address.bytes, byteCount: 4)
            }
        }
        withUnsafeMutableBytes(of: &spec.ipv6) { raw in
            for (index, address) in v6.enumerated() {
                raw.baseAddress!.advanced(by: 16 * index).copyMemory(from: address.bytes, byteCount: 16)
            }
        }
        withUnsafeMutableBytes(of: &spec.loopback) { $0.copyBytes(from: loopback.bytes) }
        spec.ipv4_count = UInt32(v4.count)
        spec.ipv6_count = UInt32(v6.count)
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SpawnFailure(step: "open", path: directory, errno: errno) }
        defer { close(fd) }
        var failure = vs_error()
        guard vs_bound_attach(fd, &spec, &failure) == 0 else { throw SpawnFailure(failure) }
    }

    /// Whether `address` is one of the host's (of this network namespace): a socket can be bound to it.
    package static func isLocal(_ address: IPAddress) -> Bool {
        let fd = socket(address.family.addressFamily, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        func binds<Address>(_ socketAddress: inout Address) -> Bool {
            withUnsafePointer(to: &socketAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<Address>.size)) == 0
                }
            }
        }
        if address.family == .v4 {
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            withUnsafeMutableBytes(of: &sin.sin_addr) { $0.copyBytes(from: address.bytes) }
            return binds(&sin)
        }
        var sin6 = sockaddr_in6()
        sin6.sin6_family = sa_family_t(AF_INET6)
        withUnsafeMutableBytes(of: &sin6.sin6_addr) { $0.copyBytes(from: address.bytes) }
        return binds(&sin6)
    }
}
