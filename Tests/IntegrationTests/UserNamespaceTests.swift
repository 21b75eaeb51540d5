import Foundation
import Testing

/// `user = true`: root inside is uid context*65536 outside, and nothing more.
extension Integration {
    @Suite struct UserNamespace {
        static let context = 1000
        static let base = 1000 * 65536

        /// A vserver with user = true whose root belongs to its id range, as the admin prepares it.
        private func addShiftedVServer(_ host: TestHost, _ name: String, extra: String = "") throws -> String {
            let root = try host.addVServer(name, config: busyboxInit + """
                context = \(Self.context)
                \(extra)
                [namespaces]
                user = true

                """)
            let chown = try run("/bin/chown", ["-R", "\(Self.base):\(Self.base)", root])
            guard chown.status == 0 else { throw TestFailure("chown: \(chown)") }
            return root
        }

        @Test func rootInsideIsTheContextsRangeOutside() async throws {
            try await withTestHost { host in
                let root = try addShiftedVServer(host, "web")
                // A file of the host's root inside the tree: root of the guest is not the host's root.
                try "secret\n".write(toFile: "\(root)/host-secret", atomically: true, encoding: .utf8)
                chmod("\(root)/host-secret", 0o600)
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                let guest = try host.guestPID("web")

                let map = "0 \(Self.base) 65536"
                for file in ["uid_map", "gid_map"] {
                    let text = try String(contentsOfFile: "/proc/\(guest)/\(file)", encoding: .utf8)
                    #expect(text.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
                            == map + "\n", "\(file): \(text)")
                }
                #expect(try namespace("user", of: guest) != namespace("user", of: getpid()))
                #expect(try owner(of: "/proc/\(guest)") == Self.base, "the host sees PID 1 as uid \(Self.base)")

                #expect(try host.ctl("exec", "web", "--", "id", "-u").stdout == "0\n", "root inside")
                #expect(try host.ctl("exec", "web", "--", "touch", "/tmp/made-inside").status == 0)
                #expect(try owner(of: "\(root)/tmp/made-inside") == Self.base)
                let secret = try host.ctl("exec", "web", "--", "cat", "/host-secret")
                #expect(secret.status != 0 && secret.stdout.isEmpty, "\(secret)")
                #expect(try owner(of: "\(host.logDirectory)/web.log") == Self.base, "its console is its own")
                #expect(try host.ctl("stop", "web").status == 0)
            }
        }

        @Test func withAPrivateNetworkSysfsIsItsOwn() async throws {
            try await withTestHost { host in
                _ = try addShiftedVServer(host, "web")
                try host.addVServer("web", config: busyboxInit + """
                    context = \(Self.context)

                    [namespaces]
                    user = true
                    net = "none"

                    """)
                try host.startDaemon()
                let start = try host.ctl("start", "web")
                #expect(start.status == 0, "\(start)")
                #expect(try host.ctl("exec", "web", "--", "ls", "/sys/class/net").stdout == "lo\n")
                let devices = try host.ctl("exec", "web", "--", "sh", "-c", "echo x > /dev/null && head -c 3 /dev/zero | wc -c")
                #expect(devices.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "3", "\(devices)")
            }
        }
    }
}

private func owner(of path: String) throws -> Int {
    var status = stat()
    guard stat(path, &status) == 0 else { throw TestFailure("stat \(path): \(String(cString: strerror(errno)))") }
    return Int(status.st_uid)
}
