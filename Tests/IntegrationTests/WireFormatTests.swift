import Foundation
import Testing

/// The Varlink wire format of vserverd, byte for byte.
///
/// A fixed script of calls goes to the daemon as literal bytes over a raw Unix socket (not the project's client
/// library, which would parse and re-serialise), and every reply is recorded exactly as the daemon wrote it: key
/// order, spacing, escapes, which optional fields are left out, error names and their parameters. The result is
/// compared with the golden transcript Tests/Fixtures/wire-transcript.txt (outside the test target, so SwiftPM
/// does not ask to declare it as a resource): `#` lines say what a step does, `>` is a request, `<` a reply (a
/// request with no `<` line got none, as `oneway` asks).
///
/// Only what differs between runs is replaced, and only by substituting text inside the reply, never by parsing
/// and re-serialising it: the test host's temp directory (`$ROOT`) and its name in cgroup paths (`$HOSTDIR`),
/// where the host mounts its cgroup2 and v1 pids hierarchies (`$CGROUP2`, `$PIDS_V1`), PIDs (`$PID(web)`,
/// `$PID(vserverd)`), `startedAt`, `startTime`, the `processes` and `memoryBytes` counts, and the host's own
/// processes in `Processes(name: null)`, whose entries (the host's, which change from run to run) are collapsed
/// into one `$HOST_PROCESSES` before the vservers' own entries, kept byte for byte. The transcript is that of a
/// host like the project's test machines (hybrid cgroups, cgroup2 on /sys/fs/cgroup/unified, v1 pids): on a pure
/// cgroup2 host Join has no pidsCgroup.
///
/// The daemon's `io.vserverd.InternalError {description}` (ControlServer's answer to an error without a Varlink
/// form) is not in the transcript: no call can trigger it, since every handler throws typed errors. Monitor's
/// replies are read up to the state a step waits for, not counted, so their number is part of the format
/// (a requested stop sends `stopping` twice today: once when it begins, once when PID 1 is gone).
///
/// To record the transcript again, after a deliberate change of the wire format (review the diff of the
/// fixture: each changed `<` line is a change every client sees):
///
///     VSERVERD_RECORD_WIRE=1 swift test --skip-build --filter WireFormat
extension Integration {
    @Suite struct WireFormat {
        static let golden = "\(Products.repository)/Tests/Fixtures/wire-transcript.txt"
        /// The transcript of the last run, kept for a look after a mismatch.
        static let actual = "\(Products.directory)/wire-transcript.actual.txt"

        @Test(.timeLimit(.minutes(5)))
        func everyReplyIsByteIdenticalToTheRecordedTranscript() async throws {
            var transcript = ""
            try await withTestHost { host in
                var script = WireScript(host: host)
                transcript = try script.transcript()
            }
            if ProcessInfo.processInfo.environment["VSERVERD_RECORD_WIRE"] == "1" {
                try FileManager.default.createDirectory(
                    atPath: URL(fileURLWithPath: Self.golden).deletingLastPathComponent().path,
                    withIntermediateDirectories: true)
                try transcript.write(toFile: Self.golden, atomically: true, encoding: .utf8)
                return
            }
            try transcript.write(toFile: Self.actual, atomically: true, encoding: .utf8)
            let golden = try String(contentsOfFile: Self.golden, encoding: .utf8)
            if transcript != golden {
                let diff = try run("/usr/bin/diff", ["-u", Self.golden, Self.actual])
                Issue.record("""
                    the replies differ from the recorded transcript (- recorded, + now; whole run in \(Self.actual); \
                    VSERVERD_RECORD_WIRE=1 records it again if the change is deliberate):
                    \(diff.stdout)
                    """)
            }
        }

        @Test func normalisationReplacesOnlyTheValuesThatVary() throws {
            // The comparison above is plain equality of the normalised text: one changed byte of a reply is a
            // mismatch, and normalisation leaves the bytes around the values it replaces alone.
            let directory = "/tmp/vserverd-test.AbC123"
            var normaliser = WireNormaliser(hostDirectory: directory)
            normaliser.pids[4242] = "web"
            let reply = #"{"parameters":{"vserver":{"autostart":true,"name":"web","pid":4242,"#
                + #""root":"\#(directory)/vservers/web","startedAt":"2026-11-30T18:00:00Z"}}}"#
            #expect(normaliser.normalise(reply) == #"{"parameters":{"vserver":{"autostart":true,"name":"web","#
                + #""pid":$PID(web),"root":"$ROOT/vservers/web","startedAt":"$TIME"}}}"#)
            #expect(normaliser.normalise(reply.replacingOccurrences(of: #"true,"#, with: #"true ,"#))
                != normaliser.normalise(reply))
            let processes = #"{"parameters":{"processes":[{"command":"sh","pid":1},{"command":"init","context":1,"#
                + #""pid":4242,"vserver":"web"},{"command":"a},{\"b","pid":2}]}}"#
            #expect(try WireNormaliser.collapseHostProcesses(processes) == #"{"parameters":{"processes":["#
                + #"$HOST_PROCESSES,{"command":"init","context":1,"pid":4242,"vserver":"web"}]}}"#)
        }
    }
}

/// Replaces what varies between runs inside reply text (see `Integration.WireFormat`).
struct WireNormaliser {
    let hostDirectory: String
    /// Known PIDs and whose they are.
    var pids: [Int32: String] = [:]

    init(hostDirectory: String) {
        self.hostDirectory = hostDirectory
    }

    func normalise(_ text: String) -> String {
        var text = text.replacingOccurrences(of: hostDirectory, with: "$ROOT")
            .replacingOccurrences(of: URL(fileURLWithPath: hostDirectory).lastPathComponent, with: "$HOSTDIR")
        // Where the host mounts its cgroup hierarchies (Join's cgroup and legacyCgroups).
        if let unified = unifiedCgroupMount {
            text = text.replacingOccurrences(of: #""\#(unified)/"#, with: #""$CGROUP2/"#)
        }
        if let pids = legacyPidsCgroupMount {
            text = text.replacingOccurrences(of: #""\#(pids)/"#, with: #""$PIDS_V1/"#)
        }
        text = text.replacing(#/"startedAt":"[^"]*"/#, with: #""startedAt":"$TIME""#)
        text = text.replacing(#/"startTime":[0-9]+/#, with: #""startTime":$TICKS"#)
        text = text.replacing(#/"processes":[0-9]+/#, with: #""processes":$N"#)
        text = text.replacing(#/"memoryBytes":[0-9]+/#, with: #""memoryBytes":$N"#)
        // What the kernel counts changes from run to run; that it is there (and its type) is what the format fixes.
        text = text.replacing(#/"(memoryPeakBytes|ioReadBytes|ioWriteBytes)":[0-9]+/#) { "\"\($0.output.1)\":$N" }
        text = text.replacing(#/"(cpuUserSeconds|cpuSystemSeconds)":[0-9.e+-]+/#) { "\"\($0.output.1)\":$SECONDS" }
        // Only PIDs it knows: an unexpected one (or a fixed one like 2147483647) stays as it is.
        text = text.replacing(#/"pid":([0-9]+)/#) { match in
            guard let pid = Int32(match.output.1), let owner = pids[pid] else { return String(match.output.0) }
            return "\"pid\":$PID(\(owner))"
        }
        return text
    }

    /// In a `Processes` reply, drops the entries without a `vserver` (the host's processes, which come and go)
    /// and puts one `$HOST_PROCESSES` in front of the vservers' entries, which stay byte for byte.
    static func collapseHostProcesses(_ reply: String) throws -> String {
        let prefix = #"{"parameters":{"processes":["#
        let suffix = "]}}"
        guard reply.hasPrefix(prefix), reply.hasSuffix(suffix) else {
            throw TestFailure("not a Processes reply: \(reply)")
        }
        let body = Array(reply.utf8.dropFirst(prefix.utf8.count).dropLast(suffix.utf8.count))
        // Split the array at top-level commas, minding strings and their escapes.
        var elements: [String] = []
        var depth = 0
        var inString = false
        var escaped = false
        var start = 0
        for (index, byte) in body.enumerated() {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true }
                else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            case UInt8(ascii: ",") where depth == 0:
                elements.append(String(decoding: body[start..<index], as: UTF8.self))
                start = index + 1
            default: break
            }
        }
        if start < body.count { elements.append(String(decoding: body[start...], as: UTF8.self)) }
        let guests = elements.filter { $0.contains(#""vserver":""#) }
        guard guests.count < elements.count else { throw TestFailure("no process of the host in \(reply)") }
        return prefix + (["$HOST_PROCESSES"] + guests).joined(separator: ",") + suffix
    }
}

/// A Varlink connection that sees bytes: writes what it is given, returns each reply without its NUL.
final class RawVarlinkSocket {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(_ path: String) throws {
        fd = try connectUnixSocket(path, timeout: 60)
    }

    deinit { close(fd) }

    func send(_ request: String) throws {
        let bytes = Array(request.utf8) + [0]
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard written > 0 else { throw TestFailure("send: errno \(errno)") }
            offset += written
        }
    }

    /// The next reply, or nil when the daemon closed the connection instead.
    func receiveOrClose() throws -> String? {
        do {
            return try receive()
        } catch let failure as TestFailure where failure.description == Self.closed {
            return nil
        }
    }

    private static let closed = "the daemon closed the connection"

    /// The next reply's bytes as text (JSON is UTF-8), without the NUL.
    func receive() throws -> String {
        while true {
            if let end = buffer.firstIndex(of: 0) {
                let reply = Array(buffer[..<end])
                buffer.removeFirst(end + 1)
                return String(decoding: reply, as: UTF8.self)
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = read(fd, &chunk, chunk.count)
            guard count > 0 else {
                throw TestFailure(count == 0 ? Self.closed : "read: errno \(errno)")
            }
            buffer += chunk[..<count]
        }
    }
}

/// The script of calls, run against a daemon on `host`; returns the normalised transcript.
struct WireScript {
    let host: TestHost
    private var lines: [String] = []
    private var normaliser: WireNormaliser

    init(host: TestHost) {
        self.host = host
        normaliser = WireNormaliser(hostDirectory: host.directory)
    }

    static let header = """
        # Varlink wire transcript of vserverd: > request, < reply, exactly as sent (see WireFormatTests.swift for
        # what is normalised). Record again with VSERVERD_RECORD_WIRE=1 only for a deliberate change.
        """

    private mutating func note(_ text: String) {
        lines.append("")
        lines.append("# " + text)
    }

    /// Sends `request`, records it and its `replies` replies.
    @discardableResult
    private mutating func call(_ connection: RawVarlinkSocket, _ request: String, replies: Int = 1,
                               transform: (String) throws -> String = { $0 }) throws -> [String] {
        try connection.send(request)
        lines.append("> " + request)
        var received: [String] = []
        for _ in 0..<replies {
            let reply = try transform(try connection.receive())
            lines.append("< " + reply)
            received.append(reply)
        }
        learnGuestPIDs()
        return received
    }

    /// Records replies up to the first that contains `marker` (of a `more` call that goes on).
    private mutating func receive(_ connection: RawVarlinkSocket, until marker: String) throws {
        while true {
            let reply = try connection.receive()
            lines.append("< " + reply)
            if reply.contains(marker) { return }
        }
    }

    /// A call that is not part of the transcript (waiting for a state).
    private func quietCall(_ connection: RawVarlinkSocket, _ request: String) throws -> String {
        try connection.send(request)
        return try connection.receive()
    }

    /// The PIDs of the guests that run now, from the state files, so that they are normalised by name.
    private mutating func learnGuestPIDs() {
        for file in (try? FileManager.default.contentsOfDirectory(atPath: host.stateDirectory)) ?? []
        where file.hasSuffix(".json") {
            let name = String(file.dropLast(5))
            if let pid = try? host.guestPID(name) { normaliser.pids[pid] = name }
        }
    }

    /// Waits until `name`'s only process is its PID 1 (busybox init's sysinit `true` has come and gone) and has
    /// renamed itself from /sbin/init to init (busybox init overwrites its argv[0]), so that Processes answers the
    /// same every time.
    private func waitForOnlyInit(_ connection: RawVarlinkSocket, _ name: String) throws {
        try waitUntil("\(name) to run only its init") {
            let reply = try quietCall(
                connection, #"{"method":"io.vserverd.Manager.Processes","parameters":{"name":"\#(name)"}}"#)
            return reply.components(separatedBy: #""pid":"#).count == 2 && reply.contains(#""command":"init","#)
        }
    }

    mutating func transcript() throws -> String {
        try host.addVServer("db", config: busyboxInit + "context = 1010\nautostart = true\n")
        try host.addVServer("web", config: busyboxInit + """
            context = 1020
            hostname = "web.example.org"
            autostart = true
            after = ["db"]
            environment = { GREETING = "hello \\"world\\"", LANG = "C.UTF-8" }

            """)
        try host.addVServer("hookfail", config: busyboxInit + "context = 1030\n")
        try host.addHook("hookfail", "pre-start", "echo first line; echo boom-line >&2; exit 3")
        try host.addVServer("broken", config: busyboxInit + "context = 1040\ncolour = \"blue\"\n")
        // systemd as init without a way to mount: refused before anything runs (StartFailed, step "check init").
        try host.addVServer("needsmount", config: busyboxInit + "context = 1060\ninit-style = \"systemd\"\n")
        try host.startDaemon()
        guard let daemon = host.daemon else { throw TestFailure("no daemon") }
        normaliser.pids[daemon.processIdentifier] = "vserverd"
        normaliser.pids[getpid()] = "test"

        let main = try RawVarlinkSocket(host.socket)

        note("org.varlink.service")
        try call(main, #"{"method":"org.varlink.service.GetInfo"}"#)
        try call(main, #"{"method":"org.varlink.service.GetInfo","parameters":{}}"#)
        try call(main, #"{"method":"org.varlink.service.GetInterfaceDescription","#
                 + #""parameters":{"interface":"io.vserverd.Manager"}}"#)
        try call(main, #"{"method":"org.varlink.service.GetInterfaceDescription","#
                 + #""parameters":{"interface":"org.varlink.service"}}"#)
        try call(main, #"{"method":"org.varlink.service.GetInterfaceDescription","#
                 + #""parameters":{"interface":"org.example.Nothing"}}"#)
        try call(main, #"{"method":"org.varlink.service.GetInterfaceDescription"}"#)
        try call(main, #"{"method":"org.varlink.service.Frobnicate"}"#)

        note("protocol errors: unknown interface and method, missing and mistyped parameters, upgrade")
        try call(main, #"{"method":"org.example.Nothing.Call"}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Frobnicate","parameters":{}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Get"}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Get","parameters":{}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Get","parameters":{"name":42}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Get","parameters":{"name":null}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Stop","parameters":{"name":true}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Whois","parameters":{"pid":"1"}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.List","upgrade":true}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Monitor"}"#)

        note("messages that break the protocol: no reply, the connection is closed (and only that one)")
        for message in [
            "{this is not json", #"{"parameters":{}}"#, #"{"method":"nodots"}"#, #"{"method":42}"#, "[]",
            #"{"method":"io.vserverd.Manager.List","more":true,"oneway":true}"#,
            #"{"method":"io.vserverd.Manager.List","parameters":[]}"#,
            #"{"method":"io.vserverd.Manager.List","more":"yes"}"#,
        ] {
            let connection = try RawVarlinkSocket(host.socket)
            try connection.send(message)
            lines.append("> " + message)
            lines.append(try connection.receiveOrClose().map { "< " + $0 } ?? "<closed>")
        }

        note("List and Get, everything stopped; broken has an invalid config")
        try call(main, #"{"method":"io.vserverd.Manager.List"}"#)
        try call(main, #"{"method":"io.vserverd.Manager.List","parameters":{"unknown":1}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Get","parameters":{"name":"db"}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Get","parameters":{"name":"1020"}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Get","parameters":{"name":"broken"}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Get","parameters":{"name":"nope"}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Get","parameters":{"name":"4242"}}"#)

        note("Start: dependency not running, invalid config, failing pre-start hook, unknown")
        try call(main, #"{"method":"io.vserverd.Manager.Start","parameters":{"name":"web"}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Start","parameters":{"name":"broken"}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Start","parameters":{"name":"hookfail"}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Get","parameters":{"name":"hookfail"}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Start","parameters":{"name":"needsmount"}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Start","parameters":{"name":"nope"}}"#)

        note("Start, Start again, then the dependent")
        try call(main, #"{"method":"io.vserverd.Manager.Start","parameters":{"name":"db"}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Start","parameters":{"name":"db"}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Start","parameters":{"name":"1020"}}"#)
        try waitForOnlyInit(main, "db")
        try waitForOnlyInit(main, "web")
        try call(main, #"{"method":"io.vserverd.Manager.List"}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Get","parameters":{"name":"web"}}"#)

        note("Whois: a guest's PID 1, a host process, no such process, PID 0 and a negative PID")
        let webPID = try host.guestPID("web")
        try call(main, #"{"method":"io.vserverd.Manager.Whois","parameters":{"pid":\#(webPID)}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Whois","parameters":{"pid":\#(getpid())}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Whois","parameters":{"pid":2147483647}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Whois","parameters":{"pid":0}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Whois","parameters":{"pid":-1}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Whois","parameters":{}}"#)

        note("Processes: of one vserver, of the host (host entries collapsed), unknown, not running")
        try call(main, #"{"method":"io.vserverd.Manager.Processes","parameters":{"name":"web"}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Processes","parameters":{"name":null}}"#,
                 transform: WireNormaliser.collapseHostProcesses)
        try call(main, #"{"method":"io.vserverd.Manager.Processes"}"#,
                 transform: WireNormaliser.collapseHostProcesses)
        try call(main, #"{"method":"io.vserverd.Manager.Processes","parameters":{"name":"nope"}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Processes","parameters":{"name":"hookfail"}}"#)

        note("Join (root): running, unknown, not running")
        try call(main, #"{"method":"io.vserverd.Manager.Join","parameters":{"name":"web"}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Join","parameters":{"name":"nope"}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Join","parameters":{"name":"hookfail"}}"#)

        note("Monitor on its own connection: the current states, then web's stop and start as they happen")
        do {
            let monitor = try RawVarlinkSocket(host.socket)
            try call(monitor, #"{"method":"io.vserverd.Manager.Monitor","more":true}"#, replies: 5)
            try call(main, #"{"method":"io.vserverd.Manager.Stop","parameters":{"name":"web","timeout":10}}"#)
            lines.append("# (monitor connection, up to web's stopped)")
            try receive(monitor, until: #""state":"stopped""#)
            try call(main, #"{"method":"io.vserverd.Manager.Start","parameters":{"name":"web"}}"#)
            lines.append("# (monitor connection, up to web's running; then it hangs up)")
            try receive(monitor, until: #""state":"running""#)
        }

        note("Stop: out-of-range and mistyped timeouts, unknown")
        try call(main, #"{"method":"io.vserverd.Manager.Stop","parameters":{"name":"web","timeout":3601}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Stop","parameters":{"name":"web","timeout":-1}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Stop","parameters":{"name":"web","timeout":"5"}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Stop","parameters":{"name":"nope"}}"#)

        note("Restart, Stop with a timeout, Stop without, Stop of a stopped one")
        try call(main, #"{"method":"io.vserverd.Manager.Restart","parameters":{"name":"web"}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Stop","parameters":{"name":"web","timeout":5}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Stop","parameters":{"name":"db"}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Stop","parameters":{"name":"db"}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Restart","parameters":{"name":"nope"}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.Get","parameters":{"name":"web"}}"#)

        note("GetResources and SetResources of a stopped vserver: bad assignments, runtime, unknown names")
        try call(main, #"{"method":"io.vserverd.Manager.GetResources","parameters":{"name":"web"}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.SetResources","parameters":{"name":"web","assignments":["memory-max"],"runtime":false}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.SetResources","parameters":{"name":"web","assignments":["memory-max=lots"],"runtime":false}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.SetResources","parameters":{"name":"web","assignments":["pids-max=300"],"runtime":true}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.SetResources","parameters":{"name":"web","assignments":["pids-max=300"]}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.SetResources","parameters":{"name":"nope","assignments":[],"runtime":false}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.GetResources","parameters":{"name":"nope"}}"#)

        note("oneway: no reply, not even for an error; the next call sees what it did")
        try call(main, #"{"method":"io.vserverd.Manager.Start","parameters":{"name":"db"},"oneway":true}"#, replies: 0)
        try call(main, #"{"method":"io.vserverd.Manager.Get","parameters":{"name":"nope"},"oneway":true}"#, replies: 0)
        try call(main, #"{"method":"io.vserverd.Manager.Get","parameters":{"name":"db"}}"#)

        note("StartAutostart and StopAll, dependents last and first")
        try call(main, #"{"method":"io.vserverd.Manager.StartAutostart","parameters":{"jobs":0}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.StartAutostart","parameters":{"jobs":1025}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.StartAutostart","parameters":{"jobs":1}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.StopAll"}"#)
        try call(main, #"{"method":"io.vserverd.Manager.StopAll"}"#)
        try call(main, #"{"method":"io.vserverd.Manager.StartAutostart"}"#)
        try call(main, #"{"method":"io.vserverd.Manager.StopAll","parameters":{}}"#)

        note("StartAll: the invalid config, the failing hook, the rest in order")
        try call(main, #"{"method":"io.vserverd.Manager.StartAll","parameters":{"jobs":1}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.StopAll"}"#)

        note("a caller that is neither root nor in the group vserverd may look but not change")
        try callAsNobody([
            #"{"method":"io.vserverd.Manager.Get","parameters":{"name":"db"}}"#,
            #"{"method":"io.vserverd.Manager.Start","parameters":{"name":"db"}}"#,
            #"{"method":"io.vserverd.Manager.StopAll"}"#,
            #"{"method":"io.vserverd.Manager.Reload"}"#,
            #"{"method":"io.vserverd.Manager.Join","parameters":{"name":"db"}}"#,
            #"{"method":"io.vserverd.Manager.GetResources","parameters":{"name":"db"}}"#,
            #"{"method":"io.vserverd.Manager.SetResources","parameters":{"name":"db","assignments":["pids-max=1"],"runtime":true}}"#,
        ])

        note("Reload: nothing changed; then extra added, hookfail removed, db changed")
        try call(main, #"{"method":"io.vserverd.Manager.Reload"}"#)
        try host.addVServer("extra", config: busyboxInit + "context = 1050\n")
        try FileManager.default.removeItem(atPath: "\(host.configDirectory)/hookfail")
        try host.addVServer(
            "db", config: busyboxInit + "context = 1010\nautostart = true\nhostname = \"db.example.org\"\n")
        try call(main, #"{"method":"io.vserverd.Manager.Reload","parameters":{}}"#)
        try call(main, #"{"method":"io.vserverd.Manager.List"}"#)

        return ([Self.header] + lines).map(normaliser.normalise).joined(separator: "\n") + "\n"
    }

    /// Sends `requests` one after another on one connection from uid nobody (gid nogroup, no other groups) and
    /// records the replies: the daemon's own peer-credential check, so the socket is opened up to anyone first.
    private mutating func callAsNobody(_ requests: [String]) throws {
        chmod(host.directory, 0o755)
        chmod("\(host.directory)/run", 0o755)
        chmod(host.socket, 0o666)
        let script = """
            import socket, sys
            s = socket.socket(socket.AF_UNIX)
            s.connect(sys.argv[1])
            s.settimeout(60)
            data = b""
            for request in sys.argv[2:]:
                s.sendall(request.encode() + b"\\0")
                while b"\\0" not in data:
                    chunk = s.recv(65536)
                    if not chunk:
                        sys.exit("the daemon closed the connection")
                    data += chunk
                reply, data = data.split(b"\\0", 1)
                sys.stdout.buffer.write(reply + b"\\n")
            """
        let result = try run("/usr/bin/setpriv",
                             ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/python3", "-c", script,
                              host.socket] + requests,
                             environment: ["PATH": "/usr/bin:/bin"])
        guard result.status == 0 else { throw TestFailure("python3 as nobody: \(result)") }
        let replies = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        guard replies.count == requests.count else { throw TestFailure("replies as nobody: \(result)") }
        for (request, reply) in zip(requests, replies) {
            lines.append("> " + request)
            lines.append("< " + reply)
        }
    }
}
