import Foundation
import Testing

extension Integration {
    /// README "Using it": `vserverctl status NAME` exits 0 running, 3 not running, 4 no such vserver (and 1 for
    /// other errors, `status --help`), as LSB init scripts do.
    @Suite struct StatusExit {
        @Test func statusExitsZeroRunningThreeNotRunningFourUnknownAndOneWithoutDaemon() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit + "context = 1042\n")
                try host.addVServer("broken", config: "context = \"nan\"\n")
                try host.startDaemon()

                let stopped = try host.ctl("status", "web")
                #expect(stopped.status == 3, "\(stopped)")
                #expect(stopped.stdout == "web (context 1042): stopped\n", "\(stopped)")

                #expect(try host.ctl("start", "web").status == 0)
                let pid = try host.guestPID("web")
                let running = try host.ctl("status", "1042")
                #expect(running.status == 0, "\(running)")
                #expect(running.stdout.hasPrefix("web (context 1042): running, PID \(pid), since "), "\(running)")

                let failed = try host.ctl("status", "broken")
                #expect(failed.status == 3, "\(failed)")
                #expect(failed.stdout.hasPrefix("broken (context "), "\(failed)")
                #expect(failed.stdout.contains("): failed\n"), "\(failed)")

                let unknown = try host.ctl("status", "nosuch")
                #expect(unknown.status == 4, "\(unknown)")
                #expect(unknown.stdout.isEmpty)
                #expect(unknown.stderr == "vserverctl: status nosuch: no vserver named nosuch\n", "\(unknown)")

                host.killDaemon(signal: SIGTERM)
                let noDaemon = try host.ctl("status", "web")
                #expect(noDaemon.status == 1, "\(noDaemon)")
                #expect(noDaemon.stderr.hasPrefix("vserverctl: status web: "), "\(noDaemon)")
            }
        }
    }
}
