import Foundation
import Testing

extension Integration {
    /// README "Working inside a vserver": what vserverctl passes on to a command it runs inside (signals, nohup,
    /// fds) and how it leaves the caller's terminal.
    @Suite struct JoinedCommand {
        /// Traps each signal named in $0 and logs it to /tmp/signals; a background child in the same process group
        /// logs the USR2 it gets too; ends when /tmp/stop exists.
        static let trappingScript = """
            for s in $0; do trap "echo $s >> /tmp/signals" $s; done
            sh -c 'trap : USR1; trap "echo child-USR2 >> /tmp/signals" USR2
                while [ ! -e /tmp/stop ]; do usleep 20000; done' &
            echo ready >> /tmp/signals
            while [ ! -e /tmp/stop ]; do usleep 20000 & wait $!; done
            """
        static let forwarded = ["INT", "QUIT", "USR1", "USR2", "WINCH", "HUP", "TERM"]

        /// `vserverctl exec web -- sh -c SCRIPT SIGNALS` with `envOptions` for env(1) in front (signal handling).
        static func startExec(_ host: TestHost, envOptions: [String]) throws -> ChildProcess {
            try ChildProcess(["/usr/bin/env"] + envOptions + [Products.vserverctl, "exec", "web", "--", "sh", "-c",
                                                              trappingScript, forwarded.joined(separator: " ")],
                             environment: ["VSERVERD_SOCKET": host.socket])
        }

        static func logged(_ root: String) -> [String] {
            ((try? String(contentsOfFile: "\(root)/tmp/signals", encoding: .utf8)) ?? "")
                .split(separator: "\n").map(String.init)
        }

        @Test func everyForwardedSignalReachesTheCommandsProcessGroup() async throws {
            try await withTestHost { host in
                let root = try host.addVServer("web", config: busyboxInit)
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                // The test runner's children may inherit signals ignored, which vserverctl would keep ignored.
                let exec = try Self.startExec(host, envOptions: ["--default-signal"])
                defer { exec.stop() }
                try waitUntil("the command to set its traps") { Self.logged(root).contains("ready") }
                for name in Self.forwarded {
                    kill(exec.pid, signalNumber(name))
                    try waitUntil("SIG\(name) to reach the command") { Self.logged(root).contains(name) }
                }
                try waitUntil("SIGUSR2 to reach the command's background child") {
                    Self.logged(root).contains("child-USR2")
                }
                _ = FileManager.default.createFile(atPath: "\(root)/tmp/stop", contents: nil)
                #expect(try exec.wait() == 0, "the command's status")
                #expect(Self.logged(root).filter { $0 != "child-USR2" } == ["ready"] + Self.forwarded)
            }
        }

        @Test func aSignalIgnoredWhenVserverctlStartedStaysIgnoredAndIsNotForwarded() async throws {
            try await withTestHost { host in
                let root = try host.addVServer("web", config: busyboxInit)
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                // As `nohup vserverctl exec ...` starts it.
                let exec = try Self.startExec(host, envOptions: ["--default-signal", "--ignore-signal=HUP"])
                defer { exec.stop() }
                try waitUntil("the command to set its traps") { Self.logged(root).contains("ready") }
                kill(exec.pid, SIGHUP)
                // SIGUSR1 goes the same way: once it arrived, a forwarded SIGHUP (lower, so delivered first when both
                // are pending, and sent before) would have too.
                kill(exec.pid, SIGUSR1)
                try waitUntil("SIGUSR1 to reach the command") { Self.logged(root).contains("USR1") }
                #expect(exec.isRunning, "SIGHUP did not end vserverctl")
                #expect(!Self.logged(root).contains("HUP"), "\(Self.logged(root))")
                _ = FileManager.default.createFile(atPath: "\(root)/tmp/stop", contents: nil)
                #expect(try exec.wait() == 0, "the command's status")
            }
        }

        @Test func theCommandGetsOnlyFdsZeroToTwoWhateverVserverctlHeld() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit)
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                // vserverctl inherits fds 7 and 8 (not close-on-exec) and holds its own (socket, pidfds, ...).
                let script = "exec 7</etc/hostname 8>/dev/null; exec \"$0\" exec web -- sleep 1000"
                let exec = try ChildProcess(["/bin/sh", "-c", script, Products.vserverctl],
                                            environment: ["VSERVERD_SOCKET": host.socket])
                defer { exec.stop() }
                var sleeper: Int32 = 0
                try waitUntil("sleep 1000 to run inside web") {
                    sleeper = processTree(of: exec.pid).dropFirst().first {
                        FileManager.default.contents(atPath: "/proc/\($0)/cmdline") == Data("sleep\u{0}1000\u{0}".utf8)
                    } ?? 0
                    return sleeper > 0
                }
                let callerFds = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(exec.pid)/fd")
                #expect(Set(callerFds).isSuperset(of: ["0", "1", "2", "7", "8"]), "vserverctl holds more: \(callerFds)")
                let commandFds = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(sleeper)/fd").sorted()
                #expect(commandFds == ["0", "1", "2"])
                let stdin = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(sleeper)/fd/0")
                #expect(stdin == "/dev/null")
            }
        }

        /// README: the terminal's settings are restored however vserverctl ends (except by SIGKILL); SIGHUP or
        /// SIGTERM hang the session up, so the shell and its job get SIGHUP.
        @Test(arguments: [SIGHUP, SIGTERM])
        func enterRestoresTheTerminalAndHangsUpTheSessionOnSignal(_ signal: Int32) async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit)
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                let guestPidNamespace = try namespace("pid", of: try host.guestPID("web"))
                var environment = ProcessInfo.processInfo.environment
                environment["VSERVERD_SOCKET"] = host.socket
                let (session, result, output) = try ptySession(signalledEnterScript,
                                                               [Products.vserverctl, "\(signal)"],
                                                               environment: environment)
                #expect(session.status == 0, "\(session)")
                #expect(result?["ready"] as? Bool == true, "the command ran: \(output)")
                #expect(result?["rawMeanwhile"] as? Bool == true, "the terminal went raw: \(output)")
                #expect(result?["restored"] as? Bool == true, "its settings are back: \(result ?? [:])")
                #expect(result?["status"] as? Int == 128 + Int(SIGHUP), "the command ended by SIGHUP: \(output)")
                try waitUntil("the guest to have only its PID 1 left") {
                    try processesIn([guestPidNamespace]).count == 1
                }
            }
        }
    }
}

/// Runs `vserverctl enter web -- sh -c 'echo READY; sleep 1000'` on a fresh pty whose settings differ from raw
/// mode, waits for READY, sends the signal in argv[2] to vserverctl and prints a JSON object: whether the
/// terminal was raw meanwhile, whether its settings are back after vserverctl ended, and its exit status.
private let signalledEnterScript = #"""
    import fcntl, json, os, select, signal, sys, termios, time
    ctl, sig = sys.argv[1], int(sys.argv[2])
    master, slave = os.openpty()
    attributes = termios.tcgetattr(slave)
    attributes[3] |= termios.ECHOE | termios.ECHOK  # settings of its own, so "restored" means these
    termios.tcsetattr(slave, termios.TCSANOW, attributes)
    before = termios.tcgetattr(slave)
    pid = os.fork()
    if pid == 0:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        for s in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(s, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        os.execv(ctl, [ctl, "enter", "web", "--", "sh", "-c", "echo READY; sleep 1000"])
    out = b""
    deadline = time.monotonic() + 30
    def read_some(seconds):
        global out
        if select.select([master], [], [], seconds)[0]:
            try:
                out += os.read(master, 65536)
            except OSError:
                pass
    while b"READY" not in out and time.monotonic() < deadline:
        read_some(0.05)
    ready = b"READY" in out
    raw_meanwhile = termios.tcgetattr(slave) != before
    os.kill(pid, sig)
    status = None
    while status is None and time.monotonic() < deadline:
        done, waited = os.waitpid(pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(waited)
        else:
            read_some(0.05)
    if status is None:
        os.kill(pid, signal.SIGKILL)
    after = termios.tcgetattr(slave)
    print(json.dumps({"output": out.decode(errors="replace"), "ready": ready, "rawMeanwhile": raw_meanwhile,
                      "restored": after == before, "status": status}))
    """#
