import Foundation
import Testing

/// Issue 10, findings 9, 10 and 12: what a hostile caller on the socket, a planted state file or a stale record can
/// do to the daemon and the host.
extension Integration {
    @Suite struct DaemonHardening {
        typealias Connection = Integration.VarlinkProtocol.Connection

        /// The daemon is the same process as before and still answers.
        static func expectSameDaemon(_ host: TestHost, pid: Int32) throws {
            #expect(host.daemon?.isRunning == true && host.daemon?.processIdentifier == pid,
                    "vserverd died: \(host.daemonLogText.suffix(2000))")
            let list = try host.ctl("list")
            #expect(list.status == 0, "\(list)")
        }

        @Test func hostileNumbersAndMessagesOnTheSocketNeitherCrashNorWedgeTheDaemon() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit)
                try host.startDaemon()
                let daemonPID = try #require(host.daemon?.processIdentifier)
                #expect(try host.ctl("start", "web").status == 0)

                // Numbers out of range, too large for Int, negative: InvalidParameter naming timeout, no trap.
                for timeout in ["9223372036854775807", "-1", "3601", "9223372036854775808", "1e300"] {
                    let connection = try Connection(host.socket)
                    #expect(connection.send(#"{"method":"io.vserverd.Manager.Stop","parameters":"#
                        + #"{"name":"web","timeout":\#(timeout)}}"#))
                    let reply = connection.receive()
                    #expect(reply?["error"] as? String == "org.varlink.service.InvalidParameter", "timeout \(timeout)")
                    #expect((reply?["parameters"] as? [String: Any])?["parameter"] as? String == "timeout")
                }
                for jobs in ["0", "9223372036854775807"] {
                    let connection = try Connection(host.socket)
                    #expect(connection.send(#"{"method":"io.vserverd.Manager.StartAll","parameters":{"jobs":\#(jobs)}}"#))
                    let reply = connection.receive()
                    #expect((reply?["parameters"] as? [String: Any])?["parameter"] as? String == "jobs", "jobs \(jobs)")
                }
                try Self.expectSameDaemon(host, pid: daemonPID)
                #expect(try host.ctl("status", "web").status == 0, "web still runs: no stop was started")

                // 100000 nested arrays: refused by the parser's depth limit, not a stack overflow.
                let deep = try Connection(host.socket)
                _ = deep.send(Array(String(repeating: "[", count: 100_000).utf8) + [0])
                #expect(deep.receive() == nil, "the connection is closed")
                // 2 MiB without a NUL: the connection is closed once it passes 1 MiB, not buffered on and on.
                let endless = try Connection(host.socket)
                let sent = endless.send([UInt8](repeating: UInt8(ascii: " "), count: 2 << 20))
                #expect(!sent || endless.receive() == nil, "the connection is closed")
                try Self.expectSameDaemon(host, pid: daemonPID)

                // One uid holds at most 64 connections; the next is refused with a reason, and a slot comes free
                // when one of them closes.
                var held: [Connection] = []
                for _ in 0..<64 {
                    let connection = try Connection(host.socket)
                    #expect(connection.send(#"{"method":"io.vserverd.Manager.List"}"#))
                    #expect(connection.receive()?["parameters"] != nil)
                    held.append(connection)
                }
                let refused = try host.ctl("list")
                #expect(refused.status == 1)
                #expect(refused.stderr.contains("uid 0 has 64 connections open"), "\(refused)")
                held.removeLast()
                try waitUntil("a connection slot to come free") { try host.ctl("list").status == 0 }
                held.removeAll()
                try Self.expectSameDaemon(host, pid: daemonPID)
            }
        }

        /// Field 22 of /proc/PID/stat: what vserverd records as a process's start time.
        static func startTime(of pid: Int32) throws -> UInt64 {
            let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
            let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
            return try #require(UInt64(fields[19]))
        }

        static func namespaceInode(_ kind: String, of pid: Int32) -> UInt64 {
            var status = stat()
            return stat("/proc/\(pid)/ns/\(kind)", &status) == 0 ? UInt64(status.st_ino) : 0
        }

        @Test func plantedStateFilesAreNeitherAdoptedNorFatalAndTheHostProcessTheyNameLives() async throws {
            try await withTestHost { host in
                let sleeper = Process()
                sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
                sleeper.arguments = ["1000"]
                try sleeper.run()
                defer {
                    kill(sleeper.processIdentifier, SIGKILL)
                    sleeper.waitUntilExit()
                }
                let pid = sleeper.processIdentifier
                let bootID = try String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                let hostNamespaces = #"{"pid":\#(Self.namespaceInode("pid", of: pid)),"#
                    + #""mnt":\#(Self.namespaceInode("mnt", of: pid))}"#
                func record(_ name: String, pid: String, startTime: String, namespaces: String,
                            extra: String = "") -> String {
                    #"{"name":"\#(name)","pid":\#(pid),"startTime":\#(startTime),"context":1500,"#
                        + #""startedAt":"2026-11-30T00:00:00Z","root":"/","namespaces":\#(namespaces),"#
                        + #""stop":"SIGTERM","bootID":"\#(bootID)"\#(extra)}"#
                }
                let realStart = "\(try Self.startTime(of: pid))"
                let planted = [
                    // A host process with its real start time: with the host's namespaces, none, or made-up ones.
                    "hostsleep": record("hostsleep", pid: "\(pid)", startTime: realStart, namespaces: hostNamespaces),
                    "nonamespaces": record("nonamespaces", pid: "\(pid)", startTime: realStart, namespaces: "{}"),
                    "madeup": record("madeup", pid: "\(pid)", startTime: realStart,
                                     namespaces: #"{"pid":4026599999,"mnt":4026599998}"#),
                    // Numbers that do not fit, text for a number, a cut-off file.
                    "hugepid": record("hugepid", pid: "1099511627776", startTime: "1", namespaces: "{}"),
                    "negativepid": record("negativepid", pid: "-5", startTime: "1", namespaces: "{}"),
                    "textstart": record("textstart", pid: "\(pid)", startTime: #""yesterday""#, namespaces: "{}"),
                    "manyttys": record("manyttys", pid: "\(pid)", startTime: realStart, namespaces: hostNamespaces,
                                       extra: #","console":"pty","ttys":100000"#),
                    "truncated": String(record("truncated", pid: "\(pid)", startTime: realStart,
                                               namespaces: hostNamespaces).prefix(40)),
                ]
                for (name, text) in planted {
                    try text.write(toFile: "\(host.stateDirectory)/\(name).json", atomically: true, encoding: .utf8)
                }
                try host.addVServer("hostsleep", config: busyboxInit)
                try host.addVServer("hugepid", config: busyboxInit)

                try host.startDaemon()
                let daemonPID = try #require(host.daemon?.processIdentifier)
                try waitUntil("every planted file to be set aside") {
                    planted.keys.allSatisfy {
                        FileManager.default.fileExists(atPath: "\(host.stateDirectory)/\($0).json.refused")
                    }
                }
                try Self.expectSameDaemon(host, pid: daemonPID)
                let list = try host.ctl("list")
                for name in ["hostsleep", "hugepid"] {
                    let line = list.stdout.split(separator: "\n").first { $0.hasPrefix(name + " ") } ?? ""
                    #expect(line.contains("stopped"), "\(name) is not adopted: \(list.stdout)")
                }
                for name in planted.keys where !["hostsleep", "hugepid"].contains(name) {
                    #expect(!list.stdout.contains(name), "\(name) is not adopted: \(list.stdout)")
                }
                for name in ["hostsleep", "madeup", "1500"] {
                    #expect(try host.ctl("stop", name).status != 0, "stop \(name) does nothing")
                }
                #expect(host.daemonLogText.contains("state file refused: PID \(pid) is a process of the host's"))
                #expect(sleeper.isRunning, "the host process the files named still runs")

                // Set aside, so that the next start of vserverd neither reads them again nor loops.
                host.killDaemon(signal: SIGTERM)
                try host.startDaemon()
                try Self.expectSameDaemon(host, pid: try #require(host.daemon?.processIdentifier))
                #expect(sleeper.isRunning)
            }
        }
    }
}
