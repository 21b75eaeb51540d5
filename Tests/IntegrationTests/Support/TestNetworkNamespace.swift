import Foundation
import Testing

/// A network namespace the test makes, standing in for the host's network: a veth pair `nic0`/`nic1` inside it is
/// the "NIC" (these kernels load no modules, so there is no `dummy`), with the documentation addresses 192.0.2.1/24
/// and 2001:db8::1/64 on nic0. Nothing in it reaches the machine's own network, so no packet leaves it.
/// vserverd runs inside (`daemonWrapper`), so that a bound guest's addresses go on nic0 of this namespace and
/// `vserverctl exec` lands in it too (it joins PID 1's network namespace).
final class TestNetworkNamespace {
    let name: String
    static let device = "nic0"
    static let hostAddress = "192.0.2.1"
    static let hostAddress6 = "2001:db8::1"

    var path: String { "/run/netns/\(name)" }
    /// Prepended to vserverd's command line: it execs vserverd in this namespace (the PID stays the daemon's).
    var daemonWrapper: [String] { ["/usr/bin/nsenter", "--net=\(path)", "--"] }

    init() throws {
        name = "vstest\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
        try Self.ip(["netns", "add", name])
        do {
            try ip("link", "add", Self.device, "type", "veth", "peer", "name", "nic1")
            for link in ["lo", Self.device, "nic1"] { try ip("link", "set", link, "up") }
            try ip("addr", "add", "\(Self.hostAddress)/24", "dev", Self.device)
            try ip("addr", "add", "\(Self.hostAddress6)/64", "dev", Self.device, "nodad")
        } catch {
            remove()
            throw error
        }
    }

    /// `ip -n NAME ARGS…`; its stdout. Throws when it fails.
    @discardableResult
    func ip(_ arguments: String...) throws -> String { try Self.ip(["-n", name] + arguments) }

    /// COMMAND run inside the namespace (nsenter --net).
    func run(_ command: [String], input: String? = nil) throws -> CommandResult {
        try IntegrationTests.run("/usr/bin/nsenter", ["--net=\(path)", "--"] + command, input: input)
    }

    /// The addresses on `device` (`ip -o addr show`), e.g. ["192.0.2.1/24", "2001:db8::1/64", "fe80::…/64"].
    func addresses(on device: String = TestNetworkNamespace.device) throws -> [String] {
        try ip("-o", "addr", "show", "dev", device).split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard let index = fields.firstIndex(where: { $0 == "inet" || $0 == "inet6" }), index + 1 < fields.count
            else { return nil }
            return String(fields[index + 1])
        }
    }

    func remove() {
        _ = try? Self.ip(["netns", "del", name])
    }

    private static func ip(_ arguments: [String]) throws -> String {
        let result = try IntegrationTests.run("/usr/sbin/ip", arguments)
        guard result.status == 0 else { throw TestFailure("ip \(arguments.joined(separator: " ")): \(result)") }
        return result.stdout
    }
}

/// BODY with a fresh test network namespace, removed on every way out.
func withTestNetworkNamespace(_ body: (TestNetworkNamespace) async throws -> Void) async throws {
    let namespace = try TestNetworkNamespace()
    defer { namespace.remove() }
    try await body(namespace)
}
