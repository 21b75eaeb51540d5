import Foundation
import Testing

extension Integration {
    @Suite struct Hooks {
        /// Each hook appends: its name as run, argv, environment and cwd.
        static func loggingHook(_ label: String, log: String) -> String {
            """
            echo "\(label) argv=$1,$2 name=$VSERVER_NAME ctx=$VSERVER_CONTEXT root=$VSERVER_ROOT \
            dir=$VSERVER_CONFIG_DIR hook=$VSERVER_HOOK pid=${VSERVER_PID:-none} cwd=$(pwd) stdin=$(readlink /proc/self/fd/0)" >> \(log)
            """
        }

        @Test func hooksRunInDesignOrderWithArgvAndEnvironment() async throws {
            try await withTestHost { host in
                let root = try host.addVServer("web", config: busyboxInit + "context = 1042\n")
                let log = "\(host.directory)/hooks.log"
                for flavour in ["pre-start", "post-start", "pre-stop", "post-stop"] {
                    try host.addHook(nil, flavour, Self.loggingHook("global/\(flavour)", log: log))
                    try host.addHook(nil, "\(flavour).d/20-b", Self.loggingHook("global/\(flavour).d/20-b", log: log))
                    try host.addHook(nil, "\(flavour).d/10-a", Self.loggingHook("global/\(flavour).d/10-a", log: log))
                    try host.addHook("web", flavour, Self.loggingHook("web/\(flavour)", log: log))
                    try host.addHook("web", "\(flavour).d/05-x", Self.loggingHook("web/\(flavour).d/05-x", log: log))
                }
                // Not executable: skipped.
                try "#!/bin/sh\necho nope >> \(log)\n".write(
                    toFile: "\(host.configDirectory)/web/scripts/pre-start.d/99-not-executable", atomically: true,
                    encoding: .utf8)
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                let pid = try host.guestPID("web")
                #expect(try host.ctl("stop", "web").status == 0)

                let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map(String.init)
                var expected: [String] = []
                let configDir = "\(host.configDirectory)/web"
                for flavour in ["pre-start", "post-start", "pre-stop", "post-stop"] {
                    let pidText = flavour == "post-start" || flavour == "pre-stop" ? "\(pid)" : "none"
                    for label in ["global/\(flavour)", "global/\(flavour).d/10-a", "global/\(flavour).d/20-b",
                                  "web/\(flavour)", "web/\(flavour).d/05-x"] {
                        expected.append("\(label) argv=\(flavour),web name=web ctx=1042 root=\(root) dir=\(configDir) "
                            + "hook=\(flavour) pid=\(pidText) cwd=\(configDir) stdin=/dev/null")
                    }
                }
                #expect(lines == expected)
            }
        }

        @Test func failedPreStartHookLeavesNothingRunningAndNoNamespace() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit)
                try host.addHook("web", "pre-start", "echo first line; echo boom-line >&2; exit 3")
                try host.startDaemon()
                let namespacesBefore = try host.daemonPidNamespaces()
                let start = try host.ctl("start", "web")
                #expect(start.status == 1)
                #expect(start.stderr == "vserverctl: start web: pre-start hook scripts/pre-start exited 3: boom-line\n")
                #expect(try host.daemonPidNamespaces() == namespacesBefore, "no namespace was created")
                #expect(!FileManager.default.fileExists(atPath: "\(host.stateDirectory)/web.json"))
                let status = try host.ctl("status", "web")
                #expect(status.status == 3)
                #expect(status.stdout.contains("failed"))
                #expect(host.daemonLogText.contains(
                    "[hook=pre-start script=scripts/pre-start vserver=web vserver_context=1000] boom-line"))
            }
        }

        @Test func failedPostStartHookStopsTheGuestAgain() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit)
                let log = "\(host.directory)/hooks.log"
                try host.addHook("web", "post-start", "echo $VSERVER_PID > \(log); echo not ready; exit 1")
                try host.addHook("web", "post-stop", "echo post-stop >> \(log)")
                try host.startDaemon()
                let start = try host.ctl("start", "web")
                #expect(start.status == 1)
                #expect(start.stderr == "vserverctl: start web: post-start hook scripts/post-start exited 1: not ready\n")
                let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
                #expect(lines.count == 2)
                let pid = Int32(lines.first ?? "") ?? 0
                #expect(pid > 1)
                #expect(kill(pid, 0) != 0, "the guest was stopped again")
                #expect(lines.last == "post-stop")
                #expect(try host.ctl("status", "web").status == 3)
            }
        }

        @Test func hookSleepingPastHookTimeoutIsKilledAndReported() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit + "hook-timeout = 1\n")
                let pidFile = "\(host.directory)/hook.pid"
                try host.addHook("web", "pre-start", "echo $$ > \(pidFile); echo waiting; sleep 60")
                try host.startDaemon()
                let clock = ContinuousClock()
                let began = clock.now
                let start = try host.ctl("start", "web")
                #expect(clock.now - began < .seconds(5))
                #expect(start.status == 1)
                #expect(start.stderr == "vserverctl: start web: pre-start hook scripts/pre-start timed out after 1 s and was killed: waiting\n")
                let hookPID = Int32(try String(contentsOfFile: pidFile, encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
                #expect(hookPID > 0 && kill(hookPID, 0) != 0, "the hook's process is gone")
                #expect(try host.ctl("status", "web").status == 3)
            }
        }
    }
}
