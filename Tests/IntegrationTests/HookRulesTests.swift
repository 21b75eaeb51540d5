import Foundation
import Testing

extension Integration {
    /// README "Hooks": which files of the hook directories run, the exact environment a hook gets, and the hooks
    /// that run when a post-start hook fails.
    @Suite struct HookRules {
        @Test func onlyExecutablesRunAndHiddenBackupAndDpkgFilesAreSkippedInNameOrder() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit)
                let log = "\(host.directory)/hooks.log"
                for (vserver, label) in [(nil, "global"), ("web", "web")] as [(String?, String)] {
                    for name in ["20-b", "10-a", "9-c", "A-upper", ".hidden", "30-backup~", "40-conf.dpkg-old",
                                 "50-conf.dpkg-dist", "60-x.dpkg-new", "70-emacs~"] {
                        try host.addHook(vserver, "pre-start.d/\(name)", "echo \(label)/\(name) >> \(log)")
                    }
                    let notExecutable = "\(host.configDirectory)/\(vserver ?? ".defaults")/scripts/pre-start.d/80-plain"
                    try "#!/bin/sh\necho \(label)/80-plain >> \(log)\n".write(
                        toFile: notExecutable, atomically: true, encoding: .utf8)
                    chmod(notExecutable, 0o644)
                }
                try host.startDaemon()
                let start = try host.ctl("start", "web")
                #expect(start.status == 0, "\(start)")
                let ran = try String(contentsOfFile: log, encoding: .utf8)
                // Sorted by name as bytes (run-parts' order): digits before upper case letters, "10" before "9".
                #expect(ran == """
                    global/10-a
                    global/20-b
                    global/9-c
                    global/A-upper
                    web/10-a
                    web/20-b
                    web/9-c
                    web/A-upper

                    """)
            }
        }

        @Test func aHookGetsExactlyPathAndTheVServerVariables() async throws {
            try await withTestHost { host in
                let root = try host.addVServer("web", config: busyboxInit + "context = 1042\n")
                let configDir = "\(host.configDirectory)/web"
                for flavour in ["pre-start", "post-start", "pre-stop", "post-stop"] {
                    // /proc/$$/environ is what the hook was exec'd with, before the shell adds anything.
                    let dump = "tr '\\0' '\\n' < /proc/$$/environ > \(host.directory)/\(flavour).env"
                    try host.addHook("web", flavour, dump)
                }
                // The daemon's own environment (the test runner's, and more) must not reach a hook.
                try host.startDaemon(environment: ["DAEMON_ONLY": "1", "LANG": "C.UTF-8"])
                #expect(try host.ctl("start", "web").status == 0)
                let pid = try host.guestPID("web")
                #expect(try host.ctl("stop", "web").status == 0)
                for flavour in ["pre-start", "post-start", "pre-stop", "post-stop"] {
                    let environment = try String(contentsOfFile: "\(host.directory)/\(flavour).env", encoding: .utf8)
                        .split(separator: "\n").map(String.init).sorted()
                    var expected = [
                        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                        "VSERVER_CONFIG_DIR=\(configDir)", "VSERVER_CONTEXT=1042", "VSERVER_HOOK=\(flavour)",
                        "VSERVER_NAME=web", "VSERVER_ROOT=\(root)",
                    ]
                    if flavour == "post-start" || flavour == "pre-stop" { expected.append("VSERVER_PID=\(pid)") }
                    #expect(environment == expected.sorted(), "\(flavour)")
                }
            }
        }

        @Test func aFailedPostStartRunsPreStopWhileTheGuestRunsThenPostStop() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit)
                let log = "\(host.directory)/hooks.log"
                try host.addHook("web", "post-start", "echo post-start $VSERVER_PID >> \(log); echo not ready; exit 1")
                try host.addHook("web", "pre-stop", """
                    kill -0 $VSERVER_PID && echo pre-stop $VSERVER_PID running >> \(log)
                    """)
                try host.addHook("web", "post-stop", "echo post-stop ${VSERVER_PID:-no-pid} >> \(log)")
                try host.startDaemon()
                let start = try host.ctl("start", "web")
                #expect(start.status == 1)
                #expect(start.stderr
                        == "vserverctl: start web: post-start hook scripts/post-start exited 1: not ready\n")
                let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map(String.init)
                let pid = try #require(lines.first.flatMap { Int32($0.split(separator: " ").last ?? "") })
                #expect(lines == ["post-start \(pid)", "pre-stop \(pid) running", "post-stop no-pid"])
                #expect(isGoneOrZombie(pid), "the guest was stopped again")
                #expect(try host.ctl("status", "web").status == 3)
            }
        }
    }
}
