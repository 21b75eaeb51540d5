import Foundation
import Testing

/// `exec` and `enter` never hand the caller's terminal to guest code (docs/ARCHITECTURE.md §6, §7): any process of
/// the guest's root could open the command's /proc/PID/fd/0 and read the admin's keystrokes or type into the terminal.
/// Each of fds 0-2 that is a terminal becomes a pty of the guest's own devpts; files and pipes pass through.
extension Integration {
    @Suite struct ExecTerminal {
        private static func environment(_ host: TestHost) -> [String: String] {
            var environment = ProcessInfo.processInfo.environment
            environment["VSERVERD_SOCKET"] = host.socket
            return environment
        }

        /// st_dev of the host's devpts, as `stat -c %d` prints it.
        private static func hostDevpts() -> String {
            var status = stat()
            return stat("/dev/pts/ptmx", &status) == 0 ? "\(status.st_dev)" : "none"
        }

        @Test func execOnATerminalGivesTheCommandAPtyOfTheGuestsDevptsNeverTheCallersTerminal() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit)
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)

                let check = "stat -L -c %d /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2; stat -c %d /dev/pts/ptmx; "
                    + "echo out-$((6*7)); exit 5"
                let tty = try run("/usr/bin/python3", ["-c", onATerminalScript, Products.vserverctl, "exec", "web",
                                                       "--", "sh", "-c", check], environment: Self.environment(host))
                #expect(tty.status == 5, "the command's exit status: \(tty)")
                let lines = tty.stdout.split(whereSeparator: \.isNewline).map(String.init)
                #expect(lines.count == 5, "\(tty)")
                #expect(lines.count == 5 && Set(lines[0...3]).count == 1, "fds 0-2 are on the guest's devpts: \(tty)")
                #expect(!lines.contains(Self.hostDevpts()), "no fd is on the host's devpts: \(tty)")
                #expect(lines.last == "out-42", "\(tty)")
            }
        }

        /// On a terminal with stdin from a pipe: the pipe is still the command's stdin, its output the guest's pty.
        @Test func execOnATerminalPassesAPipeOnStdinThrough() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit)
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)

                let inside = "cat; stat -L -c %F /proc/self/fd/0; stat -L -c %d /proc/self/fd/1; "
                    + "stat -c %d /dev/pts/ptmx"
                let pipeline = #"echo piped-in | "$0" exec web -- sh -c "$1"; echo "status $?""#
                let tty = try run("/usr/bin/python3", ["-c", onATerminalScript, "/bin/sh", "-c", pipeline,
                                                       Products.vserverctl, inside],
                                  environment: Self.environment(host))
                let lines = tty.stdout.split(whereSeparator: \.isNewline).map(String.init)
                #expect(lines.count == 5, "\(tty)")
                #expect(lines.first == "piped-in", "\(tty)")
                #expect(lines.count > 1 && lines[1] == "fifo", "stdin is still the pipe: \(tty)")
                #expect(lines.count > 3 && lines[2] == lines[3], "stdout is a pty of the guest's devpts: \(tty)")
                #expect(!lines.contains(Self.hostDevpts()), "\(tty)")
                #expect(lines.last == "status 0", "\(tty)")
            }
        }

        /// A guest whose root may mount (CAP_SYS_ADMIN) covers its /dev/pts and plants a FIFO at ptmx with a writer
        /// waiting on it. enter on a terminal refuses it by its type before opening it: the writer stays blocked.
        @Test func enterChecksThePtmxTypeBeforeOpeningIt() async throws {
            try await withTestHost { host in
                let root = try host.addVServer("web", config: busyboxInit + """
                    [capabilities]
                    add = ["CAP_SYS_ADMIN"]

                    """)
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                let plant = try host.ctl("exec", "web", "--", "sh", "-c",
                                         "mount -t tmpfs tmpfs /dev/pts && mkfifo /dev/pts/ptmx")
                #expect(plant.status == 0, "\(plant)")
                let writer = "echo $$ >/tmp/writer.pid; exec 3>/dev/pts/ptmx; touch /tmp/writer-released; sleep 60"
                let background = try host.ctl("exec", "web", "--", "sh", "-c",
                                              "sh -c '\(writer)' </dev/null >/dev/null 2>&1 &")
                #expect(background.status == 0, "\(background)")
                try waitUntil("the writer to wait for a reader of the FIFO") {
                    guard let pid = try? String(contentsOfFile: "\(root)/tmp/writer.pid", encoding: .utf8) else {
                        return false
                    }
                    let wchan = try host.ctl("exec", "web", "--", "cat", "/proc/\(pid.dropLast())/wchan").stdout
                    return wchan.contains("wait_for_partner") || wchan.contains("fifo_open")
                }

                let enter = try run("/usr/bin/python3", ["-c", onATerminalScript, Products.vserverctl, "enter", "web",
                                                         "--", "true"], environment: Self.environment(host))
                #expect(enter.status == 125, "\(enter)")
                #expect(enter.stdout.contains("check pty master on /proc/"), "\(enter)")
                #expect(enter.stdout.contains("/root/dev/pts/ptmx: Inappropriate ioctl for device"), "\(enter)")
                // Had vserverctl opened the FIFO, the writer's open would have returned at once.
                #expect(throws: TestFailure.self, "the writer was released: vserverctl opened the FIFO") {
                    try waitUntil("the writer to be released", timeout: .seconds(1)) {
                        FileManager.default.fileExists(atPath: "\(root)/tmp/writer-released")
                    }
                }
                // The check can see a release: a reader from the host lets the writer go.
                let pid1 = try host.guestPID("web")
                let reader = open("/proc/\(pid1)/root/dev/pts/ptmx", O_RDONLY | O_NONBLOCK)
                #expect(reader >= 0)
                defer { if reader >= 0 { close(reader) } }
                try waitUntil("the writer to be released by a real reader") {
                    FileManager.default.fileExists(atPath: "\(root)/tmp/writer-released")
                }
            }
        }
    }
}
