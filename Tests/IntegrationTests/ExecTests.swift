import Foundation
import Testing
import VServerTestSupport

/// A process whose parent is `parent` and whose command line is `command` (arguments joined by spaces).
private func child(of parent: Int32, running command: String) -> Int32? {
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let pid = Int32(entry),
              let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")")
        else { continue }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 1, Int32(fields[1]) == parent,
              let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline")
        else { continue }
        let arguments = cmdline.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        if arguments.joined(separator: " ") == command { return pid }
    }
    return nil
}

/// Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host).
/// A line of /proc/PID/status ("CapBnd:\t00000000a80425fb" → "00000000a80425fb").
private func status(_ field: String, of pid: Int32) throws -> String? {
    try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8).split(separator: "\n")
        .first { $0.hasPrefix("\(field):") }
        .map { $0.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces) }
}

/// Field 6 of /proc/PID/stat: the session id.
private func session(of pid: Int32) throws -> Int32? {
    let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
    guard let close = stat.lastIndex(of: ")") else { return nil }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    return fields.count > 3 ? Int32(fields[3]) : nil
}

/// Runs argv[1:] on a new pty (its controlling terminal and fds 0-2) and prints what it wrote there; exits
/// with its status. Nothing is typed (script(1) would type a byte on end of file of its stdin).
let onATerminalScript = #"""
    import os, pty, sys
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(sys.argv[1], sys.argv[1:])
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(out.decode(errors="replace"))
    sys.exit(os.waitstatus_to_exitcode(status))
    """#

/// Drives `sh -c 'stty -g; vserverctl enter web; echo "status $?"; stty -g'` on a fresh pty (window 30x100),
/// the way a person at a terminal would: waits for the guest shell to answer, resizes the window until the
/// guest sees it, types `exit 3`. Prints a JSON object: the whole terminal output and the sizes seen.
private let interactiveEnterScript = #"""
    import fcntl, json, os, select, struct, sys, termios, time
    ctl = sys.argv[1]
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    pid = os.fork()
    if pid == 0:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        os.execv("/bin/sh", ["sh", "-c", 'stty -g; "$0" enter web; echo "status $?"; stty -g', ctl])
    out = b""
    deadline = time.monotonic() + 30
    def read_until(pattern, seconds):
        global out
        until = min(deadline, time.monotonic() + seconds)
        while pattern not in out and time.monotonic() < until:
            if select.select([master], [], [], 0.05)[0]:
                try:
                    out += os.read(master, 65536)
                except OSError:
                    return False
        return pattern in out
    def type_(text):
        os.write(master, text.encode())
    read_until(b"\n", 10)
    type_("echo READY-$((6*7))\n")
    ready = read_until(b"READY-42", 10)
    type_("stty size\n")
    first_size = read_until(b"30 100", 5)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    resized = False
    while not resized and time.monotonic() < deadline:
        type_("stty size\n")
        resized = read_until(b"40 120", 0.5)
    type_("exit 3\n")
    read_until(b"status", 10)
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        read_until(b"\x00", 0.05)
        if done:
            break
    read_until(b"\x00", 0.2)
    print(json.dumps({"output": out.decode(errors="replace"), "ready": ready, "firstSize": first_size,
                      "resized": resized}))
    """#

extension Integration {
    @Suite struct Exec {
        @Test func execRunsTheCommandInsideWithItsStatusArgvStdinAndOutput() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit + """
                    hostname = "web.example.org"
                    environment = { LANG = "C.UTF-8" }

                    [limits]
                    nofile = { soft = 123, hard = 456 }

                    """)
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)

                #expect(try host.ctl("exec", "web", "--", "sh", "-c", "exit 7").status == 7)
                #expect(try host.ctl("exec", "web", "--", "sh", "-c", "kill -9 $$").status == 137)
                let argv = try host.ctl("exec", "web", "--", "sh", "-c", #"printf "%s|" "$@""#, "x", "a  b", "*")
                #expect(argv.stdout == "a  b|*|", "\(argv)")
                // Seed 002: a glob in `sh -c` is expanded inside the guest, against its files.
                #expect(try host.ctl("exec", "web", "--", "sh", "-c", "echo /vserver-mark*").stdout
                        == "/vserver-marker\n")
                #expect(try host.ctl(["exec", "web", "--", "cat"], input: "hi\n").stdout == "hi\n")
                #expect(try host.ctl("exec", "web", "--", "hostname").stdout == "web.example.org\n")
                let guestInit = try host.ctl("exec", "web", "--", "cat", "/proc/1/cmdline").stdout
                let hostInit = String(decoding: FileManager.default.contents(atPath: "/proc/1/cmdline") ?? Data(),
                                      as: UTF8.self)
                #expect(guestInit.hasPrefix("init"), "busybox init renames itself: \(guestInit)")
                #expect(guestInit != hostInit)

                // The vserver's environment plus the caller's TERM, not the rest of the caller's; cwd /.
                var environment = ProcessInfo.processInfo.environment
                environment["VSERVERD_SOCKET"] = host.socket
                environment["TERM"] = "xterm-test"
                environment["CALLER_ONLY"] = "1"
                let env = try run(Products.vserverctl, ["exec", "web", "--", "sh", "-c", "pwd; env"],
                                  environment: environment)
                let lines = Set(env.stdout.split(separator: "\n").map(String.init))
                #expect(env.stdout.hasPrefix("/\n"), "\(env)")
                #expect(lines.isSuperset(of: ["LANG=C.UTF-8", "TERM=xterm-test", "container=vserverd"]), "\(env)")
                #expect(!env.stdout.contains("CALLER_ONLY"), "\(env)")
                // The vserver's limits, not the caller's.
                #expect(try host.ctl("exec", "web", "--", "sh", "-c", "ulimit -Sn; ulimit -Hn").stdout == "123\n456\n")

                let missing = try host.ctl("exec", "web", "--", "nosuchcmd", "arg")
                #expect(missing.status == 127)
                #expect(missing.stderr == "vserverctl: exec web: nosuchcmd: No such file or directory\n")
                let notExecutable = try host.ctl("exec", "web", "--", "/etc/passwd")
                #expect(notExecutable.status == 126)
                #expect(notExecutable.stderr == "vserverctl: exec web: /etc/passwd: Permission denied\n")
                // A context id works as everywhere else.
                let context = try host.ctl("list", "--json").stdout
                let ctx = try #require(context.firstMatch(of: /"context":(\d+)/).map { String($0.1) })
                #expect(try host.ctl("exec", ctx, "--", "hostname").stdout == "web.example.org\n")
            }
        }

        /// vserverd raises its own soft fd limit (a pidfd per guest); its guests, and what exec runs in them,
        /// keep the one it was started with unless [limits] says otherwise.
        @Test func guestsKeepTheFdLimitTheDaemonWasStartedWith() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit)
                try host.addVServer("db", config: busyboxInit + "[limits]\nnofile = 300\n")
                try host.startDaemon(wrapper: ["/usr/bin/prlimit", "--nofile=200:4000", "--"])
                let daemon = try #require(host.daemon?.processIdentifier)
                #expect(try openFilesLimit(of: daemon) == ["4000", "4000"], "raised for itself")
                #expect(try host.ctl("start", "web").status == 0)
                #expect(try host.ctl("start", "db").status == 0)
                #expect(try openFilesLimit(of: try host.guestPID("web")) == ["200", "4000"])
                #expect(try openFilesLimit(of: try host.guestPID("db")) == ["300", "300"])
                #expect(try host.ctl("exec", "web", "--", "sh", "-c", "ulimit -Sn; ulimit -Hn").stdout == "200\n4000\n")
            }
        }

        @Test func execNeedsRootAndARunningVServer() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit)
                try host.startDaemon()
                let stopped = try host.ctl("exec", "web", "--", "true")
                #expect(stopped.status == 125)
                #expect(stopped.stderr == "vserverctl: exec web: not running\n")
                let unknown = try host.ctl("enter", "nope")
                #expect(unknown.status == 125)
                #expect(unknown.stderr == "vserverctl: enter nope: no vserver named nope\n")
                #expect(try host.ctl("exec", "web").status == 64, "no command: a usage error")

                #expect(try host.ctl("start", "web").status == 0)
                chmod(host.directory, 0o755)
                chmod("\(host.directory)/run", 0o755)
                chmod(host.socket, 0o666)
                let nobody = ["--reuid=65534", "--regid=65534", "--clear-groups"]
                let environment = ["VSERVERD_SOCKET": host.socket, "PATH": "/usr/bin:/bin"]
                let exec = try run("/usr/bin/setpriv", nobody + [Products.vserverctl, "exec", "web", "--", "id"],
                                   environment: environment)
                #expect(exec.status == 125)
                #expect(exec.stderr == "vserverctl: exec web: entering a vserver needs root\n")
                #expect(exec.stdout.isEmpty)
                // The daemon refuses Join to anyone but root too, whatever the client does.
                let rawJoin = """
                    import json, socket, sys
                    s = socket.socket(socket.AF_UNIX)
                    s.connect(sys.argv[1])
                    call = {"method": "io.vserverd.Manager.Join", "parameters": {"name": "web"}}
                    s.sendall(json.dumps(call).encode() + b"\\0")
                    data = b""
                    while not data.endswith(b"\\0"):
                        data += s.recv(65536)
                    reply = json.loads(data[:-1])
                    print(reply.get("error"), reply.get("parameters", {}).get("reason"))
                    """
                let join = try run("/usr/bin/setpriv", nobody + ["/usr/bin/python3", "-c", rawJoin, host.socket],
                                   environment: environment)
                #expect(join.stdout == "io.vserverd.Manager.PermissionDenied entering a vserver needs root\n",
                        "\(join)")
                #expect(host.daemonLogText.contains("refused io.vserverd.Manager.Join from uid 65534"))
            }
        }

        /// What a recycled PID looks like: the daemon's PID is alive, but its start time is another one.
        @Test func aProcessWithAnotherStartTimeIsNeverJoined() async throws {
            try await withTestHost { host in
                // Killed and reaped when it goes away.
                let sleeper = try ChildProcess(["/bin/sleep", "100"], environment: nil)
                defer { withExtendedLifetime(sleeper) {} }
                let stat = try String(contentsOfFile: "/proc/\(sleeper.pid)/stat", encoding: .utf8)
                let fields = stat[stat.index(after: try #require(stat.lastIndex(of: ")")))...].split(separator: " ")
                let startTime = try #require(UInt64(fields[19]))
                // A daemon that answers one Join with that PID and a start time one tick later.
                let fakeDaemon = """
                    import json, socket, sys
                    s = socket.socket(socket.AF_UNIX)
                    s.bind(sys.argv[1])
                    s.listen(1)
                    conn, _ = s.accept()
                    data = b""
                    while not data.endswith(b"\\0"):
                        data += conn.recv(65536)
                    reply = {"parameters": {"pid": int(sys.argv[2]), "startTime": int(sys.argv[3]),
                             "environment": {"PATH": "/bin:/usr/bin"}, "capabilities": 0, "shell": ["/bin/sh"]}}
                    conn.sendall(json.dumps(reply).encode() + b"\\0")
                    """
                let daemon = Process()
                daemon.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
                daemon.arguments = ["-c", fakeDaemon, host.socket, "\(sleeper.pid)", "\(startTime + 1)"]
                try daemon.run()
                defer {
                    if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) }
                    daemon.waitUntilExit()
                }
                try waitUntil("the fake daemon to listen") { FileManager.default.fileExists(atPath: host.socket) }

                let marker = "\(host.directory)/joined"
                let exec = try host.ctl("exec", "web", "--", "touch", marker)
                #expect(exec.status == 125, "\(exec)")
                #expect(exec.stderr == "vserverctl: exec web: not running (its PID 1 has just ended)\n")
                #expect(!FileManager.default.fileExists(atPath: marker), "nothing ran")
            }
        }

        @Test func execedProcessIsInTheGuestsNamespacesAndSessionWithItsBoundingSetAndGetsSignals() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit + """
                    context = 1042

                    [capabilities]
                    drop = ["CAP_NET_RAW"]

                    """)
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                let guest = try host.guestPID("web")

                let exec = Process()
                exec.executableURL = URL(fileURLWithPath: Products.vserverctl)
                exec.arguments = ["exec", "web", "--", "sleep", "1000"]
                exec.environment = ["VSERVERD_SOCKET": host.socket]
                exec.standardInput = FileHandle.nullDevice
                try exec.run()
                defer {
                    if exec.isRunning { kill(exec.processIdentifier, SIGKILL) }
                    exec.waitUntilExit()
                }
                var sleeper: Int32 = 0
                try waitUntil("sleep 1000 to run inside web") {
                    sleeper = child(of: exec.processIdentifier, running: "sleep 1000") ?? 0
                    return sleeper > 0
                }
                for kind in ["pid", "mnt", "uts", "ipc", "net", "cgroup"] {
                    #expect(try namespace(kind, of: sleeper) == namespace(kind, of: guest), "\(kind) namespace")
                }
                #expect(try namespace("pid", of: sleeper) != namespace("pid", of: getpid()))
                let bounding = try #require(try status("CapBnd", of: sleeper))
                #expect(bounding == (try status("CapBnd", of: guest)))
                #expect(UInt64(bounding, radix: 16).map { $0 & (1 << 13) } == 0, "CAP_NET_RAW dropped: \(bounding)")
                #expect(try status("CapAmb", of: sleeper) == "0000000000000000")
                #expect(try session(of: sleeper) == sleeper, "a session of its own")

                // whois and ps know it.
                let whois = try host.ctl("whois", "\(sleeper)")
                #expect(whois.status == 0)
                #expect(whois.stdout == "web 1042\n")
                let ps = try host.ctl("ps")
                #expect(ps.status == 0, "\(ps)")
                let psLines = ps.stdout.split(separator: "\n")
                #expect(psLines.first?.split(separator: " ") == ["PID", "CONTEXT", "VSERVER", "COMMAND"])
                #expect(psLines.contains { $0.split(separator: " ") == ["\(sleeper)", "1042", "web", "sleep", "1000"] })
                #expect(psLines.contains { $0.split(separator: " ") == ["\(guest)", "1042", "web", "init"] })
                #expect(psLines.contains { $0.split(separator: " ").prefix(3) == ["\(getpid())", "0", "host"] })
                let psWeb = try host.ctl("ps", "web").stdout.split(separator: "\n").dropFirst()
                #expect(Set(psWeb.compactMap { Int32($0.split(separator: " ")[0]) }) == [guest, sleeper])
                let psOptions = try host.ctl("ps", "web", "--", "-e", "-o", "pid,comm")
                #expect(psOptions.status == 0, "\(psOptions)")
                #expect(psOptions.stdout.split(separator: "\n").map { $0.split(separator: " ") } == [
                    ["PID", "CONTEXT", "VSERVER", "COMMAND"], ["\(guest)", "1042", "web", "init"],
                    ["\(sleeper)", "1042", "web", "sleep"],
                ])

                // SIGTERM to vserverctl reaches the command; vserverctl exits with its status.
                kill(exec.processIdentifier, SIGTERM)
                exec.waitUntilExit()
                #expect(exec.terminationReason == .exit)
                #expect(exec.terminationStatus == 143)
                #expect(kill(sleeper, 0) != 0, "sleep is gone")
            }
        }

        /// Outside systemd every guest has a cgroup of its own (vserver-NAME below --cgroup-parent): what exec runs
        /// lands in it too, so it counts and is limited with the guest, and the guest sees that cgroup as its "/".
        @Test(.requires(unifiedCgroupMount != nil, "a mounted cgroup v2 hierarchy"))
        func execedProcessJoinsTheGuestsOwnCgroup() async throws {
            try await withTestHost { host in
                let cgroup = "\(try #require(host.cgroupParentDirectory))/vserver-web"
                try host.addVServer("web", config: busyboxInit)
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                let guest = try host.guestPID("web")
                #expect(try String(contentsOfFile: "/proc/\(guest)/cgroup", encoding: .utf8)
                    .contains("0::\(host.cgroupParent)/vserver-web\n"))
                let inside = try host.ctl("exec", "web", "--", "sh", "-c", "cat /proc/self/cgroup; cat /proc/1/cgroup")
                #expect(inside.status == 0, "\(inside)")
                #expect(inside.stdout.split(separator: "\n").filter { $0.hasPrefix("0::") } == ["0::/", "0::/"],
                        "\(inside)")
                let sleeper = try ChildProcess([Products.vserverctl, "exec", "web", "--", "sleep", "1000"],
                                               environment: ["VSERVERD_SOCKET": host.socket])
                defer {
                    kill(sleeper.pid, SIGTERM)
                    _ = try? sleeper.wait()
                }
                try waitUntil("sleep to be in the guest's cgroup") {
                    try String(contentsOfFile: "\(cgroup)/cgroup.procs", encoding: .utf8)
                        .split(separator: "\n").count == 2
                }
                #expect(try host.ctl("stop", "web").status == 0)
                #expect(!FileManager.default.fileExists(atPath: cgroup), "stop removes the guest's cgroup")
            }
        }

        @Test func whoisSaysHostForHostProcessesAndFailsForMissingOnes() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit)
                try host.startDaemon()
                let initProcess = try host.ctl("whois", "1")
                #expect(initProcess.status == 1)
                #expect(initProcess.stdout == "host\n")
                #expect(try host.ctl("whois", "\(getpid())").stdout == "host\n")
                let missing = try host.ctl("whois", "2147483647")
                #expect(missing.status == 2)
                #expect(missing.stderr == "vserverctl: whois 2147483647: no process with PID 2147483647\n")
                let stopped = try host.ctl("ps", "web")
                #expect(stopped.status == 1)
                #expect(stopped.stderr == "vserverctl: ps web: not running\n")
            }
        }

        @Test func execAllRunsInEveryRunningVServerWithPrefixedLines() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit + "hostname = \"web.example.org\"\n")
                try host.addVServer("db", config: busyboxInit + "hostname = \"db.example.org\"\n")
                try host.addVServer("idle", config: busyboxInit)
                try host.startDaemon()
                #expect(try host.ctl("start", "web", "db").status == 0)

                let all = try host.ctl("exec", "--all", "--", "hostname")
                #expect(all.status == 0, "\(all)")
                #expect(all.stdout == "db: db.example.org\nweb: web.example.org\n")
                let script = "echo out; printf 'err\\nno newline' >&2; test $(hostname) = web.example.org"
                let failing = try host.ctl("exec", "--all", "--", "sh", "-c", script)
                #expect(failing.status == 1, "the first non-zero status: db's")
                #expect(failing.stdout == "db: out\nweb: out\n")
                #expect(failing.stderr == "db: err\ndb: no newline\nweb: err\nweb: no newline\n")
            }
        }

        @Test func enterOnATerminalGetsAPtyOfTheGuestsDevptsAndRestoresTheTerminal() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit)
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                var environment = ProcessInfo.processInfo.environment
                environment["VSERVERD_SOCKET"] = host.socket

                // tty shows a pty whose node lives on the guest's own devpts, not the host's.
                let check = "tty; stat -L -c %d /proc/self/fd/0; stat -c %d /dev/pts/ptmx; readlink /proc/self/fd/1"
                let tty = try run("/usr/bin/python3", ["-c", onATerminalScript, Products.vserverctl, "enter", "web",
                                                       "--", "sh", "-c", check], environment: environment)
                #expect(tty.status == 0, "\(tty)")
                let lines = tty.stdout.split(separator: "\r\n").map(String.init)
                #expect(lines.count == 4, "\(tty)")
                #expect(lines.first?.wholeMatch(of: /\/dev\/pts\/[0-9]+/) != nil, "\(tty)")
                #expect(lines.count == 4 && lines[1] == lines[2], "the pty is on the guest's devpts: \(tty)")
                var hostPts = stat()
                #expect(stat("/dev/pts/ptmx", &hostPts) == 0)
                #expect(lines.count == 4 && lines[1] != "\(hostPts.st_dev)", "not the host's devpts: \(tty)")
                #expect(lines.last == lines.first, "stdout is the same pty: \(tty)")

                // Interactive: type into the guest's shell, resize the window, `exit 3`.
                let (session, result, output) = try ptySession(interactiveEnterScript, [Products.vserverctl],
                                                               environment: environment)
                #expect(session.status == 0, "\(session)")
                #expect(result?["ready"] as? Bool == true, "the guest shell answered: \(output)")
                #expect(result?["firstSize"] as? Bool == true, "the pty starts with the window's size: \(output)")
                #expect(result?["resized"] as? Bool == true, "SIGWINCH resized the pty: \(output)")
                #expect(output.contains("status 3"), "\(output)")
                let outer = output.split(separator: "\r\n").map(String.init)
                #expect(outer.count > 2 && outer.first == outer.last, "stty -g before and after: \(output)")
                #expect(outer.first?.contains(":") == true, "\(output)")
            }
        }

        @Test func enterWithoutATerminalRunsTheShellOnStdin() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit + "shell = [\"/bin/sh\"]\n")
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                let enter = try host.ctl(["enter", "web"],
                                         input: "echo inside-$((6*7)) $(cat /vserver-marker)\nexit 4\n")
                #expect(enter.status == 4, "\(enter)")
                #expect(enter.stdout == "inside-42 web\n")
            }
        }
    }
}

/// Soft and hard "Max open files" of a process, from /proc/PID/limits.
private func openFilesLimit(of pid: Int32) throws -> [Substring] {
    let limits = try String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)
    let line = try #require(limits.split(separator: "\n").first { $0.hasPrefix("Max open files") })
    return Array(line.dropFirst("Max open files".count).split(separator: " ").prefix(2))
}
