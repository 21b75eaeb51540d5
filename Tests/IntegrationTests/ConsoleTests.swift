import Foundation
import Testing

/// Every guest's /dev/console is a pty of its own devpts, copied into the console log by vserverd (docs/ARCHITECTURE.md
/// §4): never the host's log file itself, whose mode the guest's root (CAP_FOWNER) could change through it.
extension Integration {
    @Suite struct Console {
        /// console = "none": /dev/null for its console and PID 1's output, and vserverd holds only its pidfd (a pty
        /// console holds 4: pidfd, master, slave, log), so that 10 000 guests fit in 20 000 fds (issue 17).
        @Test func aGuestWithoutConsoleCostsVserverdOneFd() async throws {
            try await withTestHost { host in
                try host.addVServer("quiet", config: "command = [\"/bin/sleep\", \"1000\"]\nconsole = \"none\"\n")
                try host.addVServer("loud", config: "command = [\"/bin/sleep\", \"1000\"]\n")
                try host.startDaemon()
                let daemon = try #require(host.daemon?.processIdentifier)
                /// What vserverd holds for guests: pidfds, ptys and console logs.
                func guestFDs() throws -> [String] {
                    try FileManager.default.contentsOfDirectory(atPath: "/proc/\(daemon)/fd").compactMap {
                        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(daemon)/fd/\($0)")
                    }.filter { $0.contains("pidfd") || $0.hasPrefix("/dev/pts/") || $0.hasSuffix(".log") }
                    .filter { !$0.hasSuffix("vserverd.log") }
                }
                #expect(try guestFDs().isEmpty)
                #expect(try host.ctl("start", "quiet").status == 0)
                #expect(try guestFDs() == ["anon_inode:[pidfd]"])
                #expect(try host.ctl("start", "loud").status == 0)
                #expect(try guestFDs().count == 5)
                let inside = try host.ctl("exec", "quiet", "--", "sh", "-c",
                                          "readlink /proc/1/fd/1; echo x >/dev/console")
                #expect(inside.status == 0 && inside.stdout == "/dev/null\n", "\(inside)")
                #expect(!host.daemonLogText.contains("no pty was left"))
                #expect(!FileManager.default.fileExists(atPath: "\(host.logDirectory)/quiet.log"))
                #expect(try host.ctl("stop", "quiet").status == 0)
                // Its pidfd goes with the last reference to it, a moment after the reply.
                try waitUntil("vserverd to close the stopped guest's pidfd") { try guestFDs().count == 4 }
            }
        }

        @Test func aPlainGuestsRootCannotMakeTheConsoleLogSetuidOrExecutable() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit)
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                let log = "\(host.logDirectory)/web.log"

                let attack = try host.ctl("exec", "web", "--", "sh", "-c",
                                          "chmod 4755 /dev/console; chmod +x /dev/console; chmod 6777 /proc/1/fd/1")
                #expect(attack.status == 0 || attack.status == 1, "\(attack)")
                let attributes = try FileManager.default.attributesOfItem(atPath: log)
                let mode = try #require(attributes[.posixPermissions] as? Int)
                #expect(mode & 0o7111 == 0, "the host's console log became mode \(String(mode, radix: 8))")
                // Nor can other host users read what the guest printed (mode 0640, root's).
                #expect(mode & 0o007 == 0, "console log mode \(String(mode, radix: 8))")

                // The guest's output still reaches the log, through /dev/console and PID 1's stdout alike.
                let write = try host.ctl("exec", "web", "--", "sh", "-c",
                                         "echo via-console >/dev/console; echo via-stdout >/proc/1/fd/1")
                #expect(write.status == 0, "\(write)")
                try waitUntil("the guest's output in its console log") {
                    let text = try host.consoleLog("web")
                    return text.contains("via-console\n") && text.contains("via-stdout\n")
                }
                let console = try host.ctl("exec", "web", "--", "stat", "-L", "-c", "%t:%T", "/dev/console")
                #expect(console.stdout == "88:0\n", "a pty slave (major 136): \(console)")
                #expect(try host.ctl("stop", "web").status == 0)
            }
        }

        /// The pty's master dies with a killed vserverd; the next one gives a plain guest a new console too (the
        /// re-attachment joins its mount, and with `user = true` its user, namespace: the ptmx check reopens through
        /// the host's /proc).
        @Test(arguments: [false, true])
        func aPlainGuestGetsANewConsoleWhenVserverdIsKilled(userNamespace: Bool) async throws {
            try await withTestHost { host in
                let config = busyboxInit + "context = 1000\n[namespaces]\nuser = \(userNamespace)\n"
                try host.addVServer("web", config: config)
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                host.killDaemon()
                try host.startDaemon()
                #expect(try host.ctl("status", "web").status == 0)
                #expect(!host.daemonLogText.contains("no console"), "\(host.daemonLogText)")
                let write = try host.ctl("exec", "web", "--", "sh", "-c", "echo after-restart >/dev/console")
                #expect(write.status == 0, "\(write)")
                try waitUntil("the new console to reach the log") {
                    try host.consoleLog("web").contains("after-restart\n")
                }
                #expect(try host.ctl("stop", "web").status == 0)
            }
        }
    }
}
