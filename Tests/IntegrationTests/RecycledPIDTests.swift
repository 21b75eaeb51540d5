import Foundation
import Testing

extension Integration {
    /// README "What survives what" and docs/ARCHITECTURE.md §8: a restarted vserverd re-adopts a guest only when
    /// the live process has the recorded start time and namespaces; a PID the kernel gave to another process
    /// while vserverd was down is never adopted, signalled or stopped.
    @Suite struct RecycledPID {
        @Test func aGuestWhosePIDNowNamesAnotherProcessIsShownEndedAndThatProcessIsLeftAlone() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit)
                let hookLog = "\(host.directory)/post-stop.log"
                try host.addHook("web", "post-stop", "echo \"post-stop $VSERVER_NAME\" >> \(hookLog)")
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                let pid = try host.guestPID("web")
                let guestStart = try startTime(of: pid)

                // vserverd crashes, then the guest ends and the host's init reaps it: its PID is free.
                host.killDaemon()
                kill(pid, SIGKILL)
                try waitUntil("the old PID 1 to be reaped", timeout: .seconds(60)) {
                    !FileManager.default.fileExists(atPath: "/proc/\(pid)")
                }
                // Killed and reaped when it goes away.
                let newcomer = try spawn(withPID: pid, "/bin/sleep", ["1000"])
                defer { withExtendedLifetime(newcomer) {} }
                #expect(try startTime(of: pid) != guestStart, "the same PID, another process")

                try host.startDaemon()
                let status = try host.ctl("status", "web")
                #expect(status.status == 3, "\(status)")
                #expect(status.stdout.hasPrefix("web (context 1000): stopped\n"), "\(status)")
                #expect(status.stdout.contains("ended while vserverd was not running"), "\(status)")
                #expect(try String(contentsOfFile: hookLog, encoding: .utf8) == "post-stop web\n",
                        "the ended guest got its post-stop hooks, once")
                let state = (try? String(contentsOfFile: "\(host.stateDirectory)/web.json", encoding: .utf8)) ?? ""
                #expect(!state.contains("\"pid\""), "the record names the PID no more: \(state)")
                let whois = try host.ctl("whois", "\(pid)")
                #expect(whois.status == 1 && whois.stdout == "host\n", "\(whois)")

                // A new start gets a PID 1 of its own; stopping it never touches the newcomer.
                #expect(try host.ctl("start", "web").status == 0)
                #expect(try host.guestPID("web") != pid)
                #expect(try host.ctl("stop", "web").status == 0)
                #expect(newcomer.isRunning, "the process that got the PID still runs")
                #expect(try processState(of: pid) == "S", "and was neither stopped nor signalled")
            }
        }
    }
}

/// Starts `executable` as exactly PID `pid` (free by now): the kernel hands out the PID after
/// /proc/sys/kernel/ns_last_pid next, so retry while other processes on the machine take it first.
func spawn(withPID pid: Int32, _ executable: String, _ arguments: [String]) throws -> ChildProcess {
    for _ in 0..<500 {
        try "\(pid - 1)".write(toFile: "/proc/sys/kernel/ns_last_pid", atomically: false, encoding: .utf8)
        let process = try ChildProcess([executable] + arguments, environment: nil)
        if process.pid == pid { return process }
    }
    throw TestFailure("could not start a process as PID \(pid)")
}

/// Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot.
func startTime(of pid: Int32) throws -> UInt64 {
    let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
    let fields = stat[stat.index(after: try #require(stat.lastIndex(of: ")")))...].split(separator: " ")
    return try #require(UInt64(fields[19]))
}

/// Field 3 of /proc/PID/stat: R, S, T, Z, ...
func processState(of pid: Int32) throws -> String {
    let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
    let fields = stat[stat.index(after: try #require(stat.lastIndex(of: ")")))...].split(separator: " ")
    return String(try #require(fields.first))
}
