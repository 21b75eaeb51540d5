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
                // Killed and reaped when it goes away.
                let sleeper = try ChildProcess(["/bin/sleep", "1000"], environment: nil)
                defer { withExtendedLifetime(sleeper) {} }
                let pid = sleeper.pid
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
                    let stop = try host.ctl("stop", name)
                    #expect(stop.status == 1, "stop \(name) does nothing: \(stop)")
                    let why = name == "hostsleep" ? "not running" : "no vserver named \(name)"
                    #expect(stop.stderr == "vserverctl: stop \(name): \(why)\n", "\(stop)")
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

        @Test func vserverctlBelievesOnlyASocketServedByRoot() async throws {
            try await withTestHost { host in
                // A socket of nobody's where the daemon's should be (a stale path, a user's trap).
                chmod(host.directory, 0o755)
                let fakeDirectory = "\(host.directory)/fake"
                try FileManager.default.createDirectory(atPath: fakeDirectory, withIntermediateDirectories: true)
                chmod(fakeDirectory, 0o777)
                let socket = "\(fakeDirectory)/io.vserverd.Manager"
                let called = "\(fakeDirectory)/called"
                let server = """
                    import os, socket
                    s = socket.socket(socket.AF_UNIX)
                    s.bind("\(socket)")
                    s.listen(8)
                    while True:
                        c, _ = s.accept()
                        if c.recv(65536):
                            open("\(called)", "w").close()
                        c.sendall(b'{"parameters":{"vservers":[]}}\\0')
                        c.close()
                    """
                let fake = Process()
                fake.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
                fake.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", server]
                try fake.run()
                defer {
                    kill(fake.processIdentifier, SIGKILL)
                    fake.waitUntilExit()
                }
                try waitUntil("the fake server to listen") { FileManager.default.fileExists(atPath: socket) }

                let list = try run(Products.vserverctl, ["list"], environment: ["VSERVERD_SOCKET": socket])
                #expect(list.status == 1, "\(list)")
                #expect(list.stderr.contains("\(socket) is served by uid 65534"), "\(list)")
                #expect(!FileManager.default.fileExists(atPath: called), "no call was sent to it")
            }
        }

        @Test func psShowsControlCharactersOfAGuestsCommandLineAsQuestionMarks() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: #"command = ["/bin/sh", "-c", "sleep 1000; : \u001b]0;pwned\u0007"]"#
                    + "\n")
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                var ps = CommandResult(status: 0, stdout: "", stderr: "")
                try waitUntil("the shell to show in ps") {
                    ps = try host.ctl("ps", "web")
                    return ps.stdout.contains("pwned")
                }
                #expect(!ps.stdout.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 }, "\(ps.stdout)")
                #expect(ps.stdout.contains("sleep 1000; : ?]0;pwned?"), "\(ps.stdout)")
            }
        }

        @Test func aLeftoverGuestRunsNoHookAtAllNeitherGlobalNorFromAHostPath() async throws {
            // With its config directory gone, the old code took "/scripts" for the guest's own hook directory.
            let hostScripts = "/scripts"
            guard !FileManager.default.fileExists(atPath: hostScripts) else {
                throw TestFailure("\(hostScripts) exists on this host; the test would plant a hook there")
            }
            try await withTestHost { host in
                let marker = "\(host.directory)/hook-ran"
                try FileManager.default.createDirectory(atPath: hostScripts, withIntermediateDirectories: false)
                defer { try? FileManager.default.removeItem(atPath: hostScripts) }
                let hook = "#!/bin/sh\necho \"$0\" >> \(marker)\n"
                try hook.write(toFile: "\(hostScripts)/post-stop", atomically: true, encoding: .utf8)
                chmod("\(hostScripts)/post-stop", 0o755)
                try host.addHook(nil, "post-stop", "echo global >> \(marker)")
                try host.addVServer("web", config: busyboxInit)
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                host.killDaemon()
                try FileManager.default.removeItem(atPath: "\(host.configDirectory)/web")
                try host.startDaemon()
                #expect(try host.ctl("status", "web").status == 0, "re-adopted as a leftover")
                #expect(try host.ctl("stop", "web").status == 0)
                #expect(!FileManager.default.fileExists(atPath: marker),
                        "no hook ran: \((try? String(contentsOfFile: marker, encoding: .utf8)) ?? "")")
                // Not even tried (an empty working directory, not the check, is what stopped the old code).
                let tried = host.daemonLogText.split(separator: "\n").filter { $0.contains("post-stop") }
                #expect(tried.isEmpty, "\(tried)")
            }
        }
    }
}
