import Foundation
import Testing
import VServerProtocol

extension Integration {
    /// Boot-time autostart (`vserverctl start --autostart`, what vservers.service runs): `after` order, bounded
    /// parallelism, failures that skip their dependents, config errors reported.
    @Suite struct Autostart {
        /// Every hook appends "FLAVOUR NAME" to one file: the order things happened in, across vservers.
        private func recordHooks(_ host: TestHost) throws -> String {
            let events = "\(host.directory)/events"
            for flavour in ["pre-start", "post-start", "pre-stop", "post-stop"] {
                try host.addHook(nil, flavour, "echo \"$VSERVER_HOOK $VSERVER_NAME\" >>\(events)")
            }
            return events
        }

        private func lines(_ path: String) -> [String] {
            ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }

        @Test func autostartStartsInAfterOrderAndSkipsTheDependentsOfAFailure() async throws {
            try await withTestHost { host in
                let events = try recordHooks(host)
                try host.addVServer("db", config: busyboxInit + "autostart = true\n")
                try host.addVServer("web", config: busyboxInit + "autostart = true\nafter = [\"db\"]\n")
                try host.addVServer("other", config: busyboxInit)
                try host.addVServer("broken", config: busyboxInit + "autostart = true\n")
                try host.addHook("broken", "pre-start", "echo no disk; exit 1")
                try host.addVServer("shop", config: busyboxInit + "autostart = true\nafter = [\"broken\", \"db\"]\n")
                try host.startDaemon()

                let start = try host.ctl("start", "--autostart", "--jobs", "1")
                #expect(start.status == 1, "\(start)")
                #expect(start.stderr.contains("vserverctl: start broken: pre-start hook"), "\(start)")
                #expect(start.stderr.contains("vserverctl: start shop: skipped because broken failed"), "\(start)")
                #expect(try host.ctl("status", "db").status == 0)
                #expect(try host.ctl("status", "web").status == 0)
                #expect(try host.ctl("status", "other").status == 3, "no autostart")
                #expect(try host.ctl("status", "shop").status == 3)

                let order = lines(events)
                let dbRunning = try #require(order.firstIndex(of: "post-start db"), "\(order)")
                let webStarts = try #require(order.firstIndex(of: "pre-start web"), "\(order)")
                #expect(dbRunning < webStarts, "web starts only once db runs: \(order)")
                #expect(!order.contains("pre-start shop"))

                try "".write(toFile: events, atomically: false, encoding: .utf8)
                #expect(try host.ctl("stop", "--all").status == 0)
                let stops = lines(events)
                let webStopped = try #require(stops.firstIndex(of: "post-stop web"), "\(stops)")
                let dbStops = try #require(stops.firstIndex(of: "pre-stop db"), "\(stops)")
                #expect(webStopped < dbStops, "stop --all stops dependents first: \(stops)")
            }
        }

        @Test func autostartReportsDependencyCyclesAndUnknownDependencies() async throws {
            try await withTestHost { host in
                try host.addVServer("a", config: busyboxInit + "autostart = true\nafter = [\"b\"]\n")
                try host.addVServer("b", config: busyboxInit + "autostart = true\nafter = [\"a\"]\n")
                try host.addVServer("c", config: busyboxInit + "autostart = true\nafter = [\"nowhere\"]\n")
                try host.addVServer("d", config: busyboxInit + "after = [\"nowhere\"]\n")
                try host.addVServer("e", config: busyboxInit + "autostart = true\n")
                try host.startDaemon()

                let start = try host.ctl("start", "--autostart")
                #expect(start.status == 1, "\(start)")
                let errors = start.stderr.split(separator: "\n").map(String.init)
                func reported(_ name: String, _ reason: String) -> Bool {
                    errors.contains { $0.hasPrefix("vserverctl: start \(name): invalid config: ") && $0.contains(reason) }
                }
                #expect(reported("a", "dependency cycle"), "\(errors)")
                #expect(reported("b", "dependency cycle"), "\(errors)")
                #expect(reported("c", "nowhere"), "\(errors)")
                #expect(!errors.contains { $0.contains("start d:") }, "d is not autostart: \(errors)")
                #expect(try host.ctl("status", "e").status == 0, "the valid one starts anyway")
            }
        }

        /// util-vserver's marks (issue 14): `start --mark NAME` starts the vservers with that mark, in `after`
        /// order; a marked vserver whose own files do not even read (util-vserver's, and vserver.toml's) is named
        /// and makes the exit status 1, for --autostart as for --mark.
        @Test func marksStartTheirGroupAndABrokenMarkedVServerFailsTheBatch() async throws {
            try await withTestHost { host in
                let events = try recordHooks(host)
                try host.addVServer("db", config: busyboxInit + "marks = [\"backend\"]\n")
                try host.addVServer("app", config: busyboxInit + "marks = [\"backend\"]\nafter = [\"db\"]\n")
                try host.addVServer("web", config: busyboxInit + "autostart = true\n")
                // A util-vserver guest marked "backend" whose bcapabilities do not read, and a vserver.toml with
                // autostart = true and a key that does not exist.
                let legacy = "\(host.configDirectory)/legacy"
                try FileManager.default.createDirectory(atPath: "\(legacy)/apps/init", withIntermediateDirectories: true)
                try "1790\n".write(toFile: "\(legacy)/context", atomically: true, encoding: .utf8)
                try "backend\n".write(toFile: "\(legacy)/apps/init/mark", atomically: true, encoding: .utf8)
                try "CAP_NO_SUCH_THING\n".write(toFile: "\(legacy)/bcapabilities", atomically: true, encoding: .utf8)
                try host.addVServer("typo", config: busyboxInit + "autostart = true\nautostrat = false\n")
                try host.startDaemon()

                let backend = try host.ctl("start", "--mark", "backend")
                #expect(backend.status == 1, "\(backend)")
                #expect(backend.stderr.contains("vserverctl: start legacy: invalid config: "), "\(backend)")
                #expect(!backend.stderr.contains("typo"), "typo has no mark backend: \(backend)")
                #expect(try host.ctl("status", "db").status == 0)
                #expect(try host.ctl("status", "app").status == 0)
                #expect(try host.ctl("status", "web").status == 3, "web is not in backend")
                let order = lines(events)
                let dbRunning = try #require(order.firstIndex(of: "post-start db"), "\(order)")
                let appStarts = try #require(order.firstIndex(of: "pre-start app"), "\(order)")
                #expect(dbRunning < appStarts, "\(order)")

                let boot = try host.ctl("start", "--autostart")
                #expect(boot.status == 1, "\(boot)")
                #expect(boot.stderr.contains("vserverctl: start typo: invalid config: "), "\(boot)")
                #expect(!boot.stderr.contains("legacy"), "legacy's mark is backend: \(boot)")
                #expect(try host.ctl("status", "web").status == 0)

                let usage = try host.ctl("start", "--mark", "backend", "--autostart")
                #expect(usage.status == 64 && usage.stderr.hasPrefix("Error: --all, --autostart and --mark exclude "),
                        "\(usage)")
                #expect(try host.ctl("stop", "--all").status == 0)
            }
        }

        @Test func jobsMustBeAPositiveNumber() async throws {
            try await withTestHost { host in
                try host.startDaemon()
                let zero = try host.ctl("start", "--autostart", "--jobs", "0")
                #expect(zero.status == 64, "a usage error: \(zero)")
                #expect(zero.stderr.hasPrefix("Error: --jobs must be at least 1\nUsage: vserverctl start "), "\(zero)")
                let jobsWithName = try host.ctl("start", "web", "--jobs", "2")
                #expect(jobsWithName.status == 64, "a usage error: \(jobsWithName)")
                #expect(jobsWithName.stderr.hasPrefix("Error: --jobs goes with --all, --autostart or --mark\nUsage: "),
                        "\(jobsWithName)")

                let client = try VarlinkClient(path: host.socket)
                defer { client.close() }
                #expect(throws: VarlinkError.invalidParameter("jobs")) {
                    try client.call(ManagerMethod.startAutostart, ["jobs": .int(0)])
                }
                let reply = try client.call(ManagerMethod.startAll, ["jobs": .int(3)])
                #expect(reply["started"] == .array([]))
            }
        }
    }
}
