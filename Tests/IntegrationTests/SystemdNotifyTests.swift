import Foundation
import Testing

extension Integration {
    /// README "Running under systemd": under `Type=notify` vserverd sends READY=1 with STATUS=, keeps STATUS=
    /// current, sends WATCHDOG=1 at half of WatchdogSec= and STOPPING=1 on SIGTERM. The test is systemd here: it
    /// gives the daemon a NOTIFY_SOCKET of its own and WATCHDOG_USEC, as systemd does, and reads what arrives.
    @Suite struct SystemdNotify {
        @Test func theDaemonPingsTheWatchdogAtHalfItsIntervalAndReportsReadyStatusAndStopping() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit)
                let notify = try DatagramSocket(path: "\(host.directory)/notify")
                try host.startDaemon(environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "2000000"])

                var messages: [(at: ContinuousClock.Instant, text: String)] = []
                func receive(until what: String, _ done: () -> Bool) throws {
                    let deadline = ContinuousClock.now + .seconds(30)
                    while !done() {
                        guard ContinuousClock.now < deadline else {
                            throw TestFailure("no \(what) in 30 s; got \(messages.map(\.text))")
                        }
                        if let text = notify.receive() { messages.append((ContinuousClock.now, text)) }
                    }
                }
                var pings: [ContinuousClock.Instant] { messages.filter { $0.text == "WATCHDOG=1" }.map(\.at) }
                try receive(until: "READY=1 and five watchdog pings") {
                    messages.contains { $0.text.hasPrefix("READY=1\n") } && pings.count >= 5
                }
                let ready = messages.first { $0.text.hasPrefix("READY=1\n") }?.text
                #expect(ready == "READY=1\nSTATUS=0 running, 0 failed", "\(messages.map(\.text))")
                // Every 1 s (half of 2 s): never later than the watchdog's deadline, and not a busy loop.
                let gaps = zip(pings.dropFirst(), pings).map { $0 - $1 }
                #expect(gaps.allSatisfy { $0 >= .milliseconds(900) && $0 < .seconds(2) }, "\(gaps)")

                #expect(try host.ctl("start", "web").status == 0)
                try receive(until: "STATUS=1 running, 0 failed") {
                    messages.contains { $0.text == "STATUS=1 running, 0 failed" }
                }

                host.killDaemon(signal: SIGTERM)
                while let text = notify.receive() { messages.append((ContinuousClock.now, text)) }
                #expect(messages.contains { $0.text == "STOPPING=1" }, "\(messages.map(\.text))")
            }
        }
    }
}

/// A bound Unix datagram socket, as systemd's notify socket is; `receive` waits at most 200 ms.
final class DatagramSocket {
    let path: String
    private let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.prefix(buffer.count - 1).enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else { throw TestFailure("bind \(path): \(String(cString: strerror(errno)))") }
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(fd, &buffer, buffer.count, 0)
        return count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : nil
    }
}
