import Foundation
import Testing

/// What an admin's machine may do to vserverd (issue 17): each situation is reported clearly, the other guests keep
/// running and answering, the daemon keeps answering, and nothing is left behind.
extension Integration {
    @Suite struct HostileEnvironment {
        /// A short stop timeout: a guest that ignores its stop signal costs the suite a second, not ten.
        static let config = busyboxInit + "stop-timeout = 1\n"

        /// Each hook appends its flavour to `log`.
        static func logHooks(_ host: TestHost, _ name: String, _ flavours: [String], log: String) throws {
            for flavour in flavours { try host.addHook(name, flavour, "echo \(flavour) >> \(log)") }
        }

        static func hookLog(_ path: String) -> [String] {
            ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }

        /// What a situation left on the host once every guest stopped: mounts below the test directory (but
        /// `allowedMounts`, the test's own), guests' cgroups in any hierarchy, processes below the daemon.
        static func leaks(_ host: TestHost, allowedMounts: [String] = []) throws -> [String] {
            var leaks = try hostMountInfo(below: host.directory).filter { line in
                let fields = line.split(separator: " ")
                return fields.count < 5 || !allowedMounts.contains(String(fields[4]))
            }.map { "mount: \($0)" }
            for parent in [host.cgroupParentDirectory].compactMap({ $0 }) + legacyCgroupMounts.map({
                $0 + host.cgroupParent
            }) {
                let entries = (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
                leaks += entries.filter { $0.hasPrefix("vserver-") }.map { "cgroup: \(parent)/\($0)" }
            }
            if let daemon = host.daemon, daemon.isRunning {
                leaks += processTree(of: daemon.processIdentifier).dropFirst().map { pid in
                    "process: \(pid) \((try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? "")"
                }
            }
            return leaks
        }

        /// Nothing left on the host (`leaks`), and the situation's line in scripts/test's reliability report.
        static func expectNoLeaks(_ host: TestHost, allowedMounts: [String] = [], report situation: String,
                                  sourceLocation: SourceLocation = #_sourceLocation) throws {
            let leaks = try leaks(host, allowedMounts: allowedMounts)
            #expect(leaks.isEmpty, "\(leaks)", sourceLocation: sourceLocation)
            reliabilityReport("hostile: \(situation), \(leaks.count) leaks")
        }

        static func isAlive(_ pid: Int32) -> Bool {
            guard pid > 0, kill(pid, 0) == 0 else { return false }
            // A zombie waiting for its reaper counts as gone.
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            guard let close = stat.lastIndex(of: ")") else { return false }
            return !stat[stat.index(after: close)...].hasPrefix(" Z")
        }

        static func readPID(_ path: String) throws -> Int32 {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            return try #require(Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), "a PID in \(path)")
        }

        static func elapsed(_ body: () throws -> CommandResult) rethrows -> (CommandResult, Duration) {
            let clock = ContinuousClock()
            let began = clock.now
            let result = try body()
            return (result, clock.now - began)
        }

        // MARK: 1. The state directory on a full file system

        @Test func fullStateDirectoryRefusesAStartWithENOSPCAndKeepsTheRunningGuests() async throws {
            let host = try TestHost()
            let state = host.stateDirectory
            defer {
                host.cleanup()
                umount2(state, Int32(MNT_DETACH))
                try? FileManager.default.removeItem(atPath: host.directory)
            }
            let mounted = try run("/bin/mount", ["-t", "tmpfs", "-o", "size=64k,mode=0700", "vserverd-full", state])
            try #require(mounted.status == 0, "\(mounted)")
            try host.addVServer("running", config: Self.config)
            try host.addVServer("web", config: Self.config)
            let log = "\(host.directory)/hooks.log"
            try Self.logHooks(host, "web", ["pre-start", "post-stop"], log: log)
            try host.startDaemon()
            #expect(try host.ctl("start", "running").status == 0)
            let runningPID = try host.guestPID("running")
            let fill = { _ = try run("/bin/dd", ["if=/dev/zero", "of=\(state)/fill", "bs=4096"]) }
            try fill()

            let namespacesBefore = try host.daemonPidNamespaces()
            let start = try host.ctl("start", "web")
            #expect(start.status == 1)
            #expect(start.stderr.hasPrefix("vserverctl: start web: "), "\(start)")
            #expect(start.stderr.contains("\(state)/web.json"), "names the state file: \(start)")
            #expect(start.stderr.contains("No space left on device"), "\(start)")
            #expect(try host.daemonPidNamespaces() == namespacesBefore, "the new guest's PID 1 is gone again")
            #expect(Self.hookLog(log) == [], "refused before its pre-start hooks: nothing to undo")
            #expect(try FileManager.default.contentsOfDirectory(atPath: state).sorted() == ["fill", "running.json"])
            #expect(try host.ctl("status", "web").status == 3)
            #expect(try host.ctl("status", "running").status == 0)
            #expect(Self.isAlive(runningPID))

            try FileManager.default.removeItem(atPath: "\(state)/fill")
            #expect(try host.ctl("start", "web").status == 0, "starts once there is space again")
            let webPID = try host.guestPID("web")

            // A daemon that crashes and comes back on a full state directory adopts what is recorded.
            try fill()
            host.killDaemon()
            try host.startDaemon()
            let list = try host.ctl("list")
            #expect(list.stdout.split(separator: "\n").filter { $0.contains(" running ") }.count == 2, "\(list)")
            #expect(try host.guestPID("running") == runningPID && host.guestPID("web") == webPID)
            #expect(try host.ctl("stop", "--all").status == 0)
            #expect(!Self.isAlive(runningPID) && !Self.isAlive(webPID))
            try Self.expectNoLeaks(host, allowedMounts: [state],
                                   report: "full state dir: start refused with ENOSPC naming the state file, nothing "
                                       + "left of it")
        }

        // MARK: 2. The guest's root removed while it runs

        @Test func rootRemovedWhileRunningStillStopsAndRunsPostStop() async throws {
            try await withTestHost { host in
                let log = "\(host.directory)/hooks.log"
                var roots: [String: String] = [:]
                for name in ["deleted", "moved", "other"] {
                    roots[name] = try host.addVServer(name, config: Self.config)
                    for flavour in ["pre-start", "post-stop"] {
                        try host.addHook(name, flavour, "echo \(flavour) $VSERVER_NAME >> \(log)")
                    }
                }
                try host.startDaemon()
                for name in ["deleted", "moved", "other"] { #expect(try host.ctl("start", name).status == 0) }
                let otherPID = try host.guestPID("other")
                let deletedRoot = try #require(roots["deleted"])
                let movedRoot = try #require(roots["moved"])
                #expect(try run("/bin/rm", ["-rf", deletedRoot]).status == 0)
                #expect(try run("/bin/mv", [movedRoot, movedRoot + ".away"]).status == 0)

                let status = try host.ctl("status", "deleted")
                #expect(status.status == 0 && status.stdout.contains("running"), "\(status)")
                #expect(try host.ctl("list").status == 0)
                for name in ["deleted", "moved"] {
                    let (stop, took) = try Self.elapsed { try host.ctl("stop", name) }
                    #expect(stop.status == 0, "\(stop)")
                    #expect(took < .seconds(10))
                }
                let started = ["pre-start deleted", "pre-start moved", "pre-start other"]
                #expect(Self.hookLog(log) == started + ["post-stop deleted", "post-stop moved"])
                // Starting it again says what is missing, and undoes its pre-start hooks with its post-stop ones.
                let again = try host.ctl("start", "deleted")
                #expect(again.stderr == "vserverctl: start deleted: open root on \(deletedRoot): No such file or "
                    + "directory\n", "\(again)")
                #expect(again.status == 1)
                #expect(Self.hookLog(log).suffix(2) == ["pre-start deleted", "post-stop deleted"])
                #expect(try host.ctl("status", "other").status == 0 && Self.isAlive(otherPID))
                #expect(try host.ctl("stop", "other").status == 0)
                try Self.expectNoLeaks(
                    host, report: "root removed while running: status and stop answer, post-stop ran")
            }
        }

        // MARK: 3. Hooks that leave a daemon behind

        @Test func hookLeavingProcessesBehindDoesNotHangTheStart() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: Self.config)
                let held = "\(host.directory)/held.pid"
                let detached = "\(host.directory)/detached.pid"
                // One keeps the hook's output pipe open; one leaves the hook's session, output closed.
                try host.addHook("web", "pre-start", "sleep 1000 & echo $! > \(held); echo started")
                // (It waits until the other one has its own session: what leaves before that is in the group.)
                try host.addHook("web", "post-start", """
                    setsid sleep 1001 </dev/null >/dev/null 2>&1 & echo $! > \(detached)
                    until [ "$(cut -d ' ' -f 6 /proc/$!/stat)" = $! ]; do :; done
                    """)
                try host.startDaemon()
                var detachedPID: Int32 = 0
                defer { if detachedPID > 0 { kill(detachedPID, SIGKILL) } }
                let (start, took) = try Self.elapsed { try host.ctl("start", "web") }
                detachedPID = (try? Self.readPID(detached)) ?? 0
                #expect(start.status == 0, "\(start)")
                #expect(took < .seconds(5), "the start waits for the hook, not for what it left running")
                let heldPID = try Self.readPID(held)
                #expect(!Self.isAlive(heldPID), "what the hook left in its process group is killed")
                #expect(host.daemonLogText.contains(
                    "scripts/pre-start left processes running in its process group: killed"), "\(host.daemonLogText)")
                // setsid takes it out of the hook's reach: that one is the hook's to manage (README: Hooks).
                #expect(Self.isAlive(detachedPID))
                #expect(try host.ctl("stop", "web").status == 0)
                try Self.expectNoLeaks(
                    host, report: "hook leaving a daemon: start not held up, its process group killed")
            }
        }

        // MARK: 4. A hook that never ends

        @Test func postStartHookIgnoringSIGTERMIsKilledAndTheGuestStopped() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: Self.config + "hook-timeout = 1\n")
                let log = "\(host.directory)/hooks.log"
                let child = "\(host.directory)/child.pid"
                let hook = "\(host.directory)/hook.pid"
                try host.addHook("web", "post-start",
                                 "trap '' TERM; echo $$ > \(hook); sleep 1000 & echo $! > \(child); echo waiting; wait")
                try Self.logHooks(host, "web", ["post-stop"], log: log)
                try host.startDaemon()
                let namespacesBefore = try host.daemonPidNamespaces()
                let (start, took) = try Self.elapsed { try host.ctl("start", "web") }
                #expect(took < .seconds(10), "hook timeout, 2 s to SIGKILL, the stop timeout")
                #expect(start.status == 1)
                #expect(start.stderr
                    == "vserverctl: start web: post-start hook scripts/post-start timed out after 1 s and was killed: "
                    + "waiting\n")
                for pid in [try Self.readPID(hook), try Self.readPID(child)] {
                    #expect(!Self.isAlive(pid), "the hook and what it started are killed")
                }
                #expect(Self.hookLog(log) == ["post-stop"])
                #expect(try host.daemonPidNamespaces() == namespacesBefore, "the guest was stopped again")
                #expect(try host.ctl("status", "web").status == 3)
                try Self.expectNoLeaks(
                    host, report: "endless hook: start failed after hook-timeout naming the hook, its group killed")
            }
        }

        // MARK: 5. An init that ignores every signal and forks a thousand children

        @Test func signalIgnoringInitWithThousandChildrenStopsInBoundedTime() async throws {
            try await withTestHost { host in
                let root = try host.addVServer("hog", config: """
                    init = ["/bin/sh", "/hog"]
                    stop-signal = "SIGTERM"
                    stop-timeout = 1

                    """)
                try """
                    trap '' TERM INT HUP QUIT USR1 USR2
                    i=0
                    while [ $i -lt 1000 ]; do sleep 100000 & i=$((i + 1)); done
                    echo forked > /forked
                    wait
                    """.write(toFile: "\(root)/hog", atomically: true, encoding: .utf8)
                try host.addVServer("other", config: Self.config)
                try host.startDaemon()
                #expect(try host.ctl("start", "other").status == 0)
                let otherPID = try host.guestPID("other")
                #expect(try host.ctl("start", "hog").status == 0)
                let pid = try host.guestPID("hog")
                let pidNamespace = try namespace("pid", of: pid)
                try waitUntil("the hog to fork its children", timeout: .seconds(30)) {
                    FileManager.default.fileExists(atPath: "\(root)/forked")
                }
                let processes = processTree(of: pid)
                #expect(processes.count >= 1001)

                let (stop, took) = try host.timedStop("hog")
                #expect(stop.status == 0, "\(stop)")
                #expect(took < .seconds(10), "stop timeout, then SIGKILL of the namespace")
                let survivors = processes.filter { (try? namespace("pid", of: $0)) == pidNamespace }
                #expect(survivors.isEmpty, "\(survivors.count) of its processes survived")
                #expect(try host.ctl("status", "other").status == 0 && Self.isAlive(otherPID))
                #expect(try host.guestPID("other") == otherPID)
                #expect(try host.ctl("stop", "other").status == 0)
                try Self.expectNoLeaks(host, report: "init ignoring signals with 1000 children: stopped in "
                    + "\(took.components.seconds) s by SIGKILL")
            }
        }

        // MARK: 6. The runtime directory removed under the daemon

        @Test func runtimeDirectoryRemovedThenDaemonRestartAdoptsTheGuests() async throws {
            try await withTestHost { host in
                for name in ["web", "db"] { try host.addVServer(name, config: Self.config) }
                try host.startDaemon()
                var pids: [String: Int32] = [:]
                defer { for pid in pids.values { kill(pid, SIGKILL) } }
                for name in ["web", "db"] {
                    #expect(try host.ctl("start", name).status == 0)
                    pids[name] = try host.guestPID(name)
                }
                let runtime = URL(fileURLWithPath: host.socket).deletingLastPathComponent().path
                #expect(try run("/bin/rm", ["-rf", runtime]).status == 0)

                let list = try host.ctl("list")
                #expect(list.status == 1)
                #expect(list.stderr.contains("cannot connect to \(host.socket): No such file or directory"),
                        "\(list)")
                #expect(host.daemon?.isRunning == true)
                #expect(pids.values.allSatisfy(Self.isAlive))

                // What recovers it: a restart of the daemon (systemctl restart vserverd).
                host.killDaemon(signal: SIGTERM)
                #expect(host.daemonLogText.contains("state files were missing; wrote them again for db, web"))
                try host.startDaemon()
                for name in ["web", "db"] {
                    let status = try host.ctl("status", name)
                    #expect(status.status == 0 && status.stdout.contains("running"), "\(status)")
                    #expect(try host.guestPID(name) == pids[name])
                }
                #expect(try host.ctl("stop", "--all").status == 0)
                #expect(!pids.values.contains(where: Self.isAlive))
                pids = [:]
                try Self.expectNoLeaks(
                    host, report: "runtime dir removed: clients cannot connect (socket path named), guests keep "
                        + "running, a daemon restart adopts them")
            }
        }

        // MARK: 7. The socket path taken by a regular file

        @Test func regularFileAtSocketPathIsRefusedAndNamed() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: Self.config)
                try "not a socket\n".write(toFile: host.socket, atomically: false, encoding: .utf8)
                #expect(throws: TestFailure.self) { try host.startDaemon() }
                #expect(host.daemon?.isRunning == false)
                #expect(host.daemonLogText.contains(
                    "\(host.socket) exists and is not a socket: remove it (vserverd does not), then start vserverd "
                        + "again"), "\(host.daemonLogText)")
                #expect(try String(contentsOfFile: host.socket, encoding: .utf8) == "not a socket\n", "left as it was")

                try FileManager.default.removeItem(atPath: host.socket)
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                let pid = try host.guestPID("web")
                // With the daemon running, the socket replaced by a file.
                try FileManager.default.removeItem(atPath: host.socket)
                try "not a socket\n".write(toFile: host.socket, atomically: false, encoding: .utf8)
                let list = try host.ctl("list")
                #expect(list.status == 1)
                #expect(list.stderr == "vserverctl: list: cannot connect to \(host.socket): it is a regular file, "
                    + "not a socket: remove it and restart vserverd\n", "\(list)")
                #expect(Self.isAlive(pid))

                host.killDaemon(signal: SIGTERM)
                #expect(try String(contentsOfFile: host.socket, encoding: .utf8) == "not a socket\n")
                try FileManager.default.removeItem(atPath: host.socket)
                try host.startDaemon()
                #expect(try host.ctl("status", "web").status == 0 && host.guestPID("web") == pid)
                #expect(try host.ctl("stop", "web").status == 0)
                try Self.expectNoLeaks(
                    host, report: "file at socket path: daemon refuses naming the path and what to do, clients "
                        + "told the same")
            }
        }
    }
}
