import Foundation
import Testing

extension Integration {
    /// docs/ARCHITECTURE.md §3 (`command`): vserverd-init, PID 1 of a guest with `command`, forwards TERM, INT,
    /// HUP, QUIT, USR1, USR2, WINCH, CONT and the real-time signals to the command and reaps every orphan of the
    /// namespace.
    @Suite struct StubInit {
        /// The command traps every signal and logs it to /tmp/signals in the guest's root.
        static let trappingCommand = """
            command = ["sh", "-c", "for s in $0; do trap \\"echo $s >> /tmp/signals\\" $s; done; \
            echo ready >> /tmp/signals; while true; do sleep 1000 & wait; done", "\(forwardedSignals)"]
            stop-timeout = 1

            """
        static let forwardedSignals = ["TERM", "INT", "HUP", "QUIT", "USR1", "USR2", "WINCH", "CONT"]
            .map { "\(signalNumber($0))" }.joined(separator: " ")
            + " \(__libc_current_sigrtmin()) \(__libc_current_sigrtmin() + 3) \(__libc_current_sigrtmax())"

        @Test func everyForwardedSignalReachesTheCommand() async throws {
            try await withTestHost { host in
                let root = try host.addVServer("app", config: Self.trappingCommand)
                try host.startDaemon()
                #expect(try host.ctl("start", "app").status == 0)
                let pid = try host.guestPID("app")
                let log = "\(root)/tmp/signals"
                func logged() -> [String] {
                    ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
                }
                try waitUntil("the command to set its traps") { logged() == ["ready"] }
                let numbers = Self.forwardedSignals.split(separator: " ").map { Int32($0)! }
                for (index, number) in numbers.enumerated() {
                    kill(pid, number)
                    try waitUntil("signal \(number) to reach the command") {
                        logged().count == index + 2
                    }
                }
                #expect(logged() == ["ready"] + numbers.map { "\($0)" })
                #expect(try processState(of: pid) != "Z", "PID 1 runs on")
                #expect(try host.ctl("status", "app").status == 0)
            }
        }

        @Test func anOrphanInTheGuestIsReapedByThePID1() async throws {
            try await withTestHost { host in
                // The orphan (a subshell's background child) exits while the command runs on.
                let root = try host.addVServer("app", config: """
                    command = ["sh", "-c", "(sh -c 'echo $$ > /tmp/orphan; exit 0' &); while true; do sleep 1000; done"]

                    """)
                try host.startDaemon()
                #expect(try host.ctl("start", "app").status == 0)
                let pid = try host.guestPID("app")
                let pidNamespace = try namespace("pid", of: pid)
                try waitUntil("the orphan to have run") { FileManager.default.fileExists(atPath: "\(root)/tmp/orphan") }
                // Reaped: no process of the guest is <defunct>, and only PID 1, sh and sleep are left.
                try waitUntil("the orphan to be reaped") {
                    let processes = try processesIn([pidNamespace])
                    return processes.count == 3 && processes.allSatisfy { (try? processState(of: $0)) != "Z" }
                }
                let ps = try host.ctl("ps", "app")
                #expect(ps.status == 0 && !ps.stdout.contains("defunct"), "\(ps)")
            }
        }
    }
}

/// The number of a signal by name ("TERM"), as kill -l knows it.
func signalNumber(_ name: String) -> Int32 {
    let numbers: [String: Int32] = [
        "HUP": SIGHUP, "INT": SIGINT, "QUIT": SIGQUIT, "USR1": SIGUSR1, "USR2": SIGUSR2, "TERM": SIGTERM,
        "WINCH": SIGWINCH, "CONT": SIGCONT,
    ]
    return numbers[name]!
}
