import Foundation
import Testing

/// Runs `vserverctl top --socket S --delay D [OPTION...]` on a fresh pty (window 30x120) the way a person would:
/// waits for the first frame (both guests' names), then for `mode` "refresh" a second frame; for "suspend" Ctrl-Z,
/// the stop (and the termios then) and a frame after SIGCONT; for "resize" a window of 30x40 (TIOCSWINSZ and
/// SIGWINCH) and its frame, then the key `n` and its frame. Ends it (`ending`) with `q`, SIGTERM ("TERM") or a
/// SIGKILL of the daemon (its PID). Prints a JSON object: the terminal output, the byte offsets where each step
/// began, the exit status (negative: the signal), whether the pty's termios were as before, and what "suspend" saw.
private let topSessionScript = #"""
    import fcntl, json, os, select, signal, struct, sys, termios, time
    ctl, socket, delay, mode, ending = sys.argv[1:6]
    options = sys.argv[6:]
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    before = termios.tcgetattr(slave)
    pid = os.fork()
    if pid == 0:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        os.execv(ctl, [ctl, "top", "--socket", socket, "--delay", delay] + options)
    out = b""
    deadline = time.monotonic() + 60
    CLEAR = b"\x1b[H\x1b[2J"
    def read_until(done, seconds):
        global out
        until = min(deadline, time.monotonic() + seconds)
        while not done() and time.monotonic() < until:
            if select.select([master], [], [], 0.05)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    return done()
                if not chunk:
                    return done()
                out += chunk
        return done()
    def frame_since(mark):
        # A whole frame drawn after `mark`: a clear, then both guests' rows.
        return lambda: CLEAR in out[mark:] and all(n in out[mark:].rsplit(CLEAR, 1)[1] for n in (b"web", b"db"))
    marks = {}
    read_until(frame_since(0), 20)
    result = {}
    if mode == "refresh":
        read_until(lambda: out.count(CLEAR) >= 2 and frame_since(0)(), 20)
    elif mode == "suspend":
        marks["suspend"] = len(out)
        os.write(master, b"\x1a")
        result["stopped"] = False
        while not result["stopped"] and time.monotonic() < deadline:
            done, raw = os.waitpid(pid, os.WUNTRACED | os.WNOHANG)
            result["stopped"] = done == pid and os.WIFSTOPPED(raw)
            read_until(lambda: False, 0.05)
        result["stoppedTermiosRestored"] = termios.tcgetattr(slave) == before
        marks["continue"] = len(out)
        os.kill(pid, signal.SIGCONT)
        read_until(frame_since(marks["continue"]), 10)
    else:
        marks["resize"] = len(out)
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 40, 0, 0))
        os.kill(pid, signal.SIGWINCH)
        read_until(frame_since(marks["resize"]), 10)
        marks["key"] = len(out)
        os.write(master, b"n")
        read_until(lambda: frame_since(marks["key"])() and b"sorted by name" in out[marks["key"]:], 10)
    marks["ending"] = len(out)
    if ending == "q":
        os.write(master, b"q")
    elif ending == "TERM":
        os.kill(pid, signal.SIGTERM)
    else:
        os.kill(int(ending), signal.SIGKILL)
    status = None
    while time.monotonic() < deadline:
        done, raw = os.waitpid(pid, os.WNOHANG)
        read_until(lambda: False, 0.05)
        if done:
            status = os.waitstatus_to_exitcode(raw)
            break
    if status is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    read_until(lambda: False, 0.2)
    result.update({"output": out.decode(errors="replace"), "marks": marks, "status": status,
                   "termiosRestored": termios.tcgetattr(slave) == before})
    print(json.dumps(result))
    """#

extension Integration {
    /// `vserverctl top`: the running guests' CPU, memory and I/O from two `List` replies, as a table (`--once`),
    /// JSON, or a live view on a terminal that always leaves the terminal as it found it.
    @Suite struct Top {
        static let enterScreen = "\u{1B}[?1049h\u{1B}[?25l"
        static let restoreScreen = "\u{1B}[?25h\u{1B}[?1049l"
        static let clearScreen = "\u{1B}[H\u{1B}[2J"

        /// "web" runs two busy loops (started by a `vserverctl exec` this test owns), "db" idles, "off" is stopped.
        /// Each loop has a session of its own: with autogroup scheduling (on here) a session is one group, so the
        /// other helpers' compilers on this 2-core machine do not squeeze both loops into one group's share.
        static func withBusyAndIdleGuests(_ body: (TestHost) throws -> Void) async throws {
            try await withTestHost { host in
                for name in ["web", "db", "off"] { try host.addVServer(name, config: busyboxInit) }
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                #expect(try host.ctl("start", "db").status == 0)
                var environment = ProcessInfo.processInfo.environment
                environment["VSERVERD_SOCKET"] = host.socket
                let loop = "setsid sh -c 'while :; do :; done' &"
                let loops = try ChildProcess([Products.vserverctl, "exec", "web", "--", "sh", "-c",
                                              "\(loop) \(loop) wait"], environment: environment)
                defer { loops.stop() }
                try waitUntil("the busy loops to run in web") {
                    let list = try host.ctl("list", "--json").stdout
                    let vservers = (try JSONSerialization.jsonObject(with: Data(list.utf8)) as? [String: Any])?[
                        "vservers"] as? [[String: Any]]
                    let web = vservers?.first { $0["name"] as? String == "web" }
                    return (web?["processes"] as? Int ?? 0) >= 4
                }
                try body(host)
            }
        }

        /// The cells of the table row that starts with `name`: NAME CTX TASKS CPU% MEM PEAK READ/s WRITE/s.
        static func row(_ name: String, in lines: [String]) -> [String]? {
            lines.map { $0.split(separator: " ").map(String.init) }.first { $0.first == name && $0.count == 8 }
        }

        /// The guests' rows of a frame, in their order.
        static func guests(_ frame: [String]) -> [String] {
            frame.compactMap { line in line.split(separator: " ").first.map(String.init) }
                .filter { $0 == "web" || $0 == "db" }
        }

        /// The frames a live view drew, each as its lines (without the restore sequence).
        static func frames(_ output: String) -> [[String]] {
            // Without the CRs first: "\r\n" is one Character, which a split at "\n" would not see.
            let text = String(String.UnicodeScalarView(output.unicodeScalars.filter { $0 != "\r" }))
            return text.components(separatedBy: clearScreen).dropFirst().map { frame in
                frame.replacingOccurrences(of: restoreScreen, with: "").components(separatedBy: "\n")
            }
        }

        /// The output from byte offset `start` to `end` (nil: its end), offsets as the session script reports them.
        static func text(_ output: String, from start: Any?, to end: Any? = nil) -> String {
            let bytes = Array(output.utf8)
            return String(decoding: bytes[min(start as? Int ?? 0, bytes.count)..<min(end as? Int ?? .max, bytes.count)],
                          as: UTF8.self)
        }

        @Test func onceListsTheRunningGuestsWithTheBusyOneOnTopAndJSONHasTheSameFigures() async throws {
            try await Self.withBusyAndIdleGuests { host in
                // A machine busy with other work may hold the loops back for a moment: up to three tries.
                var top = try host.ctl("top", "--once", "--delay", "2")
                var lines = top.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                for _ in 1..<3 where (Self.row("web", in: lines).flatMap { Double($0[3]) } ?? 0) <= 50 {
                    top = try host.ctl("top", "--once", "--delay", "2")
                    lines = top.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                }
                #expect(top.status == 0, "\(top)")
                #expect(lines.first?.contains("  2 running  load ") == true, "\(top)")
                #expect(lines.first?.contains(" available of ") == true, "\(top)")
                #expect(lines.dropFirst().first == "", "\(top)")
                #expect(lines.dropFirst(2).first?.split(separator: " ") == [
                    "NAME", "CTX", "TASKS", "CPU%", "MEM", "PEAK", "READ/s", "WRITE/s",
                ], "\(top)")
                let web = try #require(Self.row("web", in: lines), "\(top)")
                let db = try #require(Self.row("db", in: lines), "\(top)")
                #expect(Self.row("off", in: lines) == nil, "a stopped guest has no row: \(top)")
                #expect(lines.count == 6 && lines.last == "", "\(top)")
                #expect(lines.dropFirst(3).first?.hasPrefix("web ") == true, "sorted by CPU%: \(top)")
                #expect((Int(web[2]) ?? 0) >= 4 && (Int(db[2]) ?? 0) >= 1, "TASKS: \(top)")
                #expect(web[4] != "-" && db[4] != "-", "MEM: \(top)")
                let webCPU = try #require(Double(web[3]), "\(top)")
                let dbCPU = try #require(Double(db[3]), "\(top)")
                #expect(webCPU > 50 && webCPU > dbCPU, "\(top)")

                let json = try host.ctl("top", "--once", "--json", "--delay", "1")
                #expect(json.status == 0, "\(json)")
                #expect(json.stdout.filter { $0 == "\n" }.count == 1, "one line: \(json)")
                let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
                let vservers = try #require(object?["vservers"] as? [[String: Any]], "\(json)")
                #expect(vservers.compactMap { $0["name"] as? String } == ["web", "db"], "\(json)")
                for guest in vservers {
                    for key in ["context", "tasks", "cpuPercent", "memoryBytes"] {
                        #expect(guest[key] is NSNumber, "\(key) of \(guest)")
                    }
                }
                let cpu = vservers.map { $0["cpuPercent"] as? Double ?? -1 }
                #expect(cpu.count == 2 && cpu[0] > cpu[1] && cpu[1] >= 0, "web first, busier: \(json)")
            }
        }

        @Test func theLiveViewDrawsRefreshesAndOnQLeavesTheTerminalAsItWas() async throws {
            try await Self.withBusyAndIdleGuests { host in
                let (session, result, output) = try ptySession(
                    topSessionScript, [Products.vserverctl, host.socket, "0.5", "refresh", "q"],
                    environment: ProcessInfo.processInfo.environment)
                #expect(result?["status"] as? Int == 0, "q exits 0: \(session)")
                #expect(output.hasPrefix(Self.enterScreen),
                        "alternate screen, cursor hidden: \(output.debugDescription)")
                #expect(output.hasSuffix(Self.restoreScreen), "ends on the main screen: \(output.debugDescription)")
                #expect(result?["termiosRestored"] as? Bool == true, "\(session)")
                let frames = Self.frames(output)
                #expect(frames.count >= 2, "a second frame: \(output.debugDescription)")
                #expect(frames.first?.first?.contains("2 running") == true, "\(output.debugDescription)")
                #expect(frames.first?.contains { $0.hasPrefix("sorted by cpu; keys: ") } == true)
                // The first frame has one sample (no rates yet); a later one has both guests' CPU%.
                #expect(frames.first.flatMap { Self.row("web", in: $0) }?[3] == "-", "\(output.debugDescription)")
                let later = frames.dropFirst().last ?? []
                let webCPU = Self.row("web", in: later).flatMap { Double($0[3]) } ?? -1
                let dbCPU = Self.row("db", in: later).flatMap { Double($0[3]) } ?? -1
                #expect(webCPU > dbCPU && dbCPU >= 0, "\(output.debugDescription)")
            }
        }

        @Test func theLiveViewRedrawsForANewWindowSizeAndASortKeyAndRestoresTheTerminalOnSIGTERM() async throws {
            try await Self.withBusyAndIdleGuests { host in
                // A refresh every 60 s: every frame after the first is the resize's or the key's. Sorted by TASKS
                // first (known from one sample): web's loops make it first, before `n` puts db first.
                let (session, result, output) = try ptySession(
                    topSessionScript, [Products.vserverctl, host.socket, "60", "resize", "TERM", "--sort", "tasks"],
                    environment: ProcessInfo.processInfo.environment)
                let marks = result?["marks"] as? [String: Any]
                let first = Self.frames(output).first ?? []
                #expect(first.contains { $0.count > 40 }, "the first frame is wider: \(output.debugDescription)")
                // Drawn before the key: SIGWINCH itself redraws.
                let resized = Self.frames(Self.text(output, from: marks?["resize"], to: marks?["key"])).first ?? []
                #expect(resized.count > 4 && resized.allSatisfy { $0.count <= 40 },
                        "cut to 40 columns: \(output.debugDescription)")
                #expect(resized.first { $0.hasPrefix("NAME") }?.count == 40, "\(output.debugDescription)")
                let sorted = Self.frames(Self.text(output, from: marks?["key"])).last ?? []
                #expect(sorted.contains { $0.hasPrefix("sorted by name;") }, "\(output.debugDescription)")
                #expect(Self.guests(sorted) == ["db", "web"], "by name after n: \(output.debugDescription)")
                #expect(Self.guests(first) == ["web", "db"], "by TASKS before: \(output.debugDescription)")

                #expect(result?["status"] as? Int == -Int(SIGTERM), "ended by its SIGTERM: \(session)")
                let ending = Self.text(output, from: marks?["ending"])
                #expect(ending.hasSuffix(Self.restoreScreen), "\(output.debugDescription)")
                #expect(result?["termiosRestored"] as? Bool == true, "\(session)")
            }
        }

        @Test func whenTheDaemonGoesAwayTheLiveViewRestoresTheTerminalAndThenPrintsTheError() async throws {
            try await Self.withBusyAndIdleGuests { host in
                let daemon = try #require(host.daemon?.processIdentifier)
                let (session, result, output) = try ptySession(
                    topSessionScript, [Products.vserverctl, host.socket, "0.2", "refresh", "\(daemon)"],
                    environment: ProcessInfo.processInfo.environment)
                #expect(result?["status"] as? Int == 1, "\(session)")
                let ending = Self.text(output, from: (result?["marks"] as? [String: Any])?["ending"])
                let restored = try #require(ending.range(of: Self.restoreScreen), "\(output.debugDescription)")
                #expect(ending[restored.upperBound...].hasPrefix("vserverctl: top: "),
                        "the error after the restore: \(output.debugDescription)")
                #expect(!ending[restored.upperBound...].contains("\u{1B}"), "\(output.debugDescription)")
                #expect(result?["termiosRestored"] as? Bool == true, "\(session)")
            }
        }

        @Test func withoutATerminalItPrintsATablePerRefreshLikeTopB() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit)
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                // head ends the pipe after two tables; top's next write ends it (SIGPIPE).
                let pipeline = try run("/bin/sh", ["-c", #""$0" top --socket "$1" --delay 0.2 | head -n 12"#,
                                                   Products.vserverctl, host.socket])
                #expect(pipeline.status == 0, "\(pipeline)")
                let lines = pipeline.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                #expect(lines.count == 13, "\(pipeline)")
                #expect(lines.indices.filter { lines[$0].contains("  1 running  ") } == [0, 5, 10], "\(pipeline)")
                #expect(lines.filter { $0.hasPrefix("web ") }.count == 2, "\(pipeline)")
                #expect(!pipeline.stdout.contains("\u{1B}"), "no escape sequences: \(pipeline)")
            }
        }

        @Test func ctrlZGivesTheTerminalBackWhileStoppedAndTheViewReturnsOnContinue() async throws {
            try await Self.withBusyAndIdleGuests { host in
                let (session, result, output) = try ptySession(
                    topSessionScript, [Products.vserverctl, host.socket, "60", "suspend", "q"],
                    environment: ProcessInfo.processInfo.environment)
                let marks = result?["marks"] as? [String: Any]
                #expect(result?["stopped"] as? Bool == true, "Ctrl-Z stopped it: \(session)")
                #expect(result?["stoppedTermiosRestored"] as? Bool == true, "\(session)")
                #expect(Self.text(output, from: marks?["suspend"], to: marks?["continue"]) == Self.restoreScreen,
                        "main screen and cursor while stopped: \(output.debugDescription)")
                let continued = Self.text(output, from: marks?["continue"], to: marks?["ending"])
                #expect(continued.hasPrefix(Self.enterScreen + Self.clearScreen), "\(output.debugDescription)")
                #expect(Self.guests(Self.frames(continued).last ?? []).count == 2, "\(output.debugDescription)")
                #expect(result?["status"] as? Int == 0, "\(session)")
                let ending = Self.text(output, from: marks?["ending"])
                #expect(ending.hasSuffix(Self.restoreScreen), "\(output.debugDescription)")
                #expect(result?["termiosRestored"] as? Bool == true, "\(session)")
            }
        }
    }
}
