import Foundation
import Testing

extension Integration {
    /// The spawn path of a placed guest (PID 1 held before its exec while a scope takes it, then released), run on
    /// any host with `vserverd --placement held`: under systemd it is the path every guest takes, and this machine's
    /// tests would otherwise only take the other one.
    @Suite struct Placement {
        @Test(arguments: ["held", "none"])
        func aGuestStartsRunsAndStopsOnEitherSpawnPath(_ placement: String) async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit + "hostname = \"web.example.org\"\n")
                try host.startDaemon(["--placement", placement])

                let start = try host.ctl("start", "web")
                #expect(start.status == 0, "\(start)")
                let pid = try host.guestPID("web")
                // Held: the daemon saw PID 1 before its exec; not held: it never did.
                let held = host.daemonLogText.contains("held PID \(pid) before its exec for placement")
                #expect(held == (placement == "held"), "\(host.daemonLogText)")
                #expect(try namespace("pid", of: pid) != namespace("pid", of: getpid()))
                let hostname = try host.ctl("exec", "web", "--", "hostname")
                #expect(hostname.stdout == "web.example.org\n", "\(hostname)")
                // PID 1 is busybox init, exec'd after the release.
                #expect(try String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) == "init\n")

                let stop = try host.ctl("stop", "web")
                #expect(stop.status == 0, "\(stop)")
                #expect(try host.ctl("status", "web").stdout.hasPrefix("web (context "), "status answers")
                #expect(kill(pid, 0) != 0, "PID 1 of the guest is gone")
            }
        }
    }
}
