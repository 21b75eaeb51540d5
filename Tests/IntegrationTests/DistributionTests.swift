import Foundation
import Testing

/// Whole Debian 12 guests (issue 9): systemd and sysvinit as their own init, on roots unpacked from the tarballs
/// scripts/debian-roots builds once (Support/DebianRoot.swift), owned by the host's root as mmdebstrap made them.
extension Integration {
    @Suite struct Distribution {
        /// A vserver on a fresh copy of a Debian root; its tree keeps the host's ids (user = true maps them).
        @discardableResult
        private func addDebian(_ host: TestHost, _ name: String, _ root: DebianRoot, config: String) throws -> String {
            let path = "\(host.rootsDirectory)/\(name)"
            try root.unpack(into: path)
            return try host.addVServer(name, config: config)
        }

        /// What `vserverctl list --json` says of one vserver.
        private func entry(_ host: TestHost, _ name: String) throws -> [String: Any] {
            let list = try host.ctl("list", "--json")
            let object = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any]
            let vservers = object?["vservers"] as? [[String: Any]] ?? []
            return try #require(vservers.first { $0["name"] as? String == name }, "\(list)")
        }

        /// Polls until systemd inside has finished booting; its verdict ("running", "degraded", ...).
        private func bootVerdict(_ host: TestHost, _ name: String) throws -> String {
            var verdict = ""
            try waitUntil("systemd in \(name) to finish booting", timeout: .seconds(60)) {
                // Until its bus answers, is-system-running fails at once; then --wait waits for the end of the boot.
                let result = try host.ctl("exec", name, "--", "systemctl", "is-system-running", "--wait")
                verdict = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                return ["running", "degraded", "maintenance", "stopping"].contains(verdict)
            }
            return verdict
        }

        private let systemdGuest = """
            context = 1100
            stop-timeout = 30

            [namespaces]
            user = true

            """

        /// Acceptance 1-3: boots to `running` in a user namespace on an untouched tree, sandboxes its services,
        /// reboots and powers off from inside, stops cleanly, and what it writes keeps the tree's ids.
        @Test func aDebianSystemdGuestBootsRebootsAndStopsInAUserNamespace() async throws {
            try await withTestHost { host in
                let root = try addDebian(host, "deb", .systemd, config: systemdGuest)
                try host.startDaemon()
                let mountsBefore = Set(try hostMountInfo(below: host.directory))

                let start = try host.ctl("start", "deb")
                #expect(start.status == 0, "\(start)")
                let failed = try host.ctl("exec", "deb", "--", "systemctl", "--failed", "--no-pager")
                #expect(try bootVerdict(host, "deb") == "running", "\(failed)")
                #expect(try host.ctl("exec", "deb", "--", "systemctl", "--failed", "--no-legend").stdout == "")
                // ... with its mounts locked (Acceptance 7): its services' sandboxing copes, its root cannot unmask.
                let unmask = try host.ctl("exec", "deb", "--", "umount", "-l", "/proc/timer_list")
                // util-linux's umount: status 32, the mask is not its to unmount.
                #expect(unmask.status == 32, "\(unmask)")
                #expect(unmask.stderr == "umount: /proc/timer_list: not mounted.\n", "\(unmask)")
                let journal = try host.ctl("exec", "deb", "--", "journalctl", "-b", "--no-pager")
                #expect(journal.stdout.contains("Startup finished"), "journalctl -b inside shows the boot")
                let sandboxed = try host.ctl("exec", "deb", "--", "systemd-run", "--wait", "-p", "PrivateTmp=yes",
                                             "-p", "ProtectSystem=strict", "true")
                #expect(sandboxed.status == 0, "\(sandboxed)")
                #expect(Set(try hostMountInfo(below: host.directory)) == mountsBefore, "the guest's own mounts stay in its namespace")

                // Idmapped: root inside, the tree's own ids on disk (root's files stay the host's root's).
                #expect(try host.ctl("exec", "deb", "--", "id", "-u").stdout == "0\n")
                #expect(try host.ctl("exec", "deb", "--", "touch", "/root/made-inside").status == 0)
                let attributes = try FileManager.default.attributesOfItem(atPath: "\(root)/root/made-inside")
                #expect(attributes[.ownerAccountID] as? Int == 0 && attributes[.groupOwnerAccountID] as? Int == 0)

                // systemctl reboot inside: a new PID 1, booted again.
                let firstPID = try host.guestPID("deb")
                _ = try host.ctl("exec", "deb", "--", "systemctl", "reboot")
                try host.waitForNewPID1("deb", otherThan: firstPID, timeout: .seconds(60))
                #expect(try bootVerdict(host, "deb") == "running")

                // systemctl poweroff inside: stopped, and why.
                _ = try host.ctl("exec", "deb", "--", "systemctl", "poweroff")
                try waitUntil("deb to power off", timeout: .seconds(60)) {
                    try entry(host, "deb")["state"] as? String == "stopped"
                }
                let off = try entry(host, "deb")
                #expect((off["reason"] as? String)?.hasPrefix("powered off or halted from inside") == true, "\(off)")
                let exit = off["exit"] as? [String: Any]
                #expect(exit?["how"] as? String == "killed" && exit?["status"] as? Int == 2, "\(off)")

                // vserverctl stop: systemd's own shutdown, well within stop-timeout, never SIGKILL.
                #expect(try host.ctl("start", "deb").status == 0)
                _ = try bootVerdict(host, "deb")
                let stop = try host.timedStop("deb")
                #expect(stop.result.status == 0 && stop.took < .seconds(30), "\(stop)")
                #expect(try host.consoleLog("deb").contains("Reached target shutdown.target"),
                        "the console log shows the shutdown")
                #expect(!host.daemonLogText.contains("sending SIGKILL"), "\(host.daemonLogText)")
                #expect(Set(try hostMountInfo(below: host.directory)) == mountsBefore)
            }
        }

        /// The console pty's master dies with a killed vserverd; the next one makes the guest a new console (a hung-up
        /// one costs systemd a second per message, and its console-getty fails): nothing fails inside, and a stop
        /// afterwards is as quick and clean as before.
        @Test func aSystemdGuestGetsANewConsoleWhenVserverdIsKilled() async throws {
            try await withTestHost { host in
                try addDebian(host, "deb", .systemd, config: systemdGuest)
                try host.startDaemon()
                #expect(try host.ctl("start", "deb").status == 0)
                #expect(try bootVerdict(host, "deb") == "running")
                host.killDaemon()
                try host.startDaemon()
                #expect(host.daemonLogText.contains("re-adopted"), "\(host.daemonLogText)")
                #expect(!host.daemonLogText.contains("no console"), "\(host.daemonLogText)")
                let console = try host.ctl("exec", "deb", "--", "sh", "-c", "echo from-inside >/dev/console")
                #expect(console.status == 0, "\(console)")
                try waitUntil("the new console to reach the log") {
                    try host.consoleLog("deb").contains("from-inside\n")
                }
                let stop = try host.timedStop("deb")
                #expect(stop.result.status == 0 && stop.took < .seconds(10), "\(stop)")
                #expect(!host.daemonLogText.contains("sending SIGKILL"), "\(host.daemonLogText)")
            }
        }

        /// A re-adopted guest is no longer vserverd's child; how its PID 1 ended still comes through (its pidfd, or
        /// its zombie): a reboot inside starts it again as it would have before the daemon restart.
        @Test func aReadoptedGuestThatRebootsIsStartedAgain() async throws {
            try await withTestHost { host in
                try addDebian(host, "deb", .systemd, config: systemdGuest)
                try host.startDaemon()
                #expect(try host.ctl("start", "deb").status == 0)
                #expect(try bootVerdict(host, "deb") == "running")
                let firstPID = try host.guestPID("deb")
                host.killDaemon()
                try host.startDaemon()
                _ = try host.ctl("exec", "deb", "--", "systemctl", "reboot")
                try host.waitForNewPID1("deb", otherThan: firstPID, timeout: .seconds(60))
                #expect(host.daemonLogText.contains("rebooted from inside"), "\(host.daemonLogText)")
            }
        }

        /// Without a user namespace systemd would exit at once (no CAP_SYS_ADMIN for its mounts): refused, saying
        /// what it needs, and `check` says so beforehand.
        @Test func aSystemdGuestWithoutUserNamespaceOrSysAdminIsRefusedWithTheReason() async throws {
            try await withTestHost { host in
                try addDebian(host, "deb", .systemd, config: "context = 1101\n")
                let check = try host.ctl("check", "deb", "--config-dir", host.configDirectory)
                #expect(check.stdout.contains("has systemd as init, which mounts file systems"), "\(check)")
                try host.startDaemon()
                let start = try host.ctl("start", "deb")
                #expect(start.status == 1, "\(start)")
                #expect(start.stderr == "vserverctl: start deb: systemd as init mounts file systems: set [namespaces] "
                            + "user = true (recommended), or add CAP_SYS_ADMIN to [capabilities] add (which lets the "
                            + "guest's root reach the host)\n", "\(start)")
                #expect((try entry(host, "deb")["state"] as? String) == "failed")
            }
        }

        /// Acceptance 5: sysvinit's own /sbin/init runs the rc2.d services, its gettys wait on ptys of their own
        /// instead of respawning, and a stop is its runlevel 0 (no SIGKILL), also without a user namespace.
        @Test func aSysvinitGuestRunsItsServicesAndHaltsOnStop() async throws {
            try await withTestHost { host in
                try addDebian(host, "sysv", .sysv, config: "context = 1102\nstop-timeout = 30\n")
                try host.startDaemon()
                #expect(try host.ctl("start", "sysv").status == 0)
                try waitUntil("cron (rc2.d) to run", timeout: .seconds(30)) {
                    try host.ctl("exec", "sysv", "--", "pgrep", "-x", "cron").status == 0
                }
                // init starts the gettys once rc 2 has finished, which may be a moment after cron runs.
                var gettys = CommandResult(status: 0, stdout: "", stderr: "")
                try waitUntil("the six gettys of its inittab", timeout: .seconds(30)) {
                    gettys = try host.ctl("exec", "sysv", "--", "ps", "-o", "tty=,args=", "-C", "getty")
                    return gettys.stdout.split(separator: "\n").count == 6
                }
                #expect(gettys.stdout.split(separator: "\n").allSatisfy { $0.hasPrefix("pts/") }, "\(gettys)")

                let stop = try host.timedStop("sysv")
                #expect(stop.result.status == 0 && stop.took < .seconds(30), "\(stop)")
                let console = try host.consoleLog("sysv")
                #expect(console.contains("INIT: Entering runlevel: 2"), "\(console)")
                #expect(!console.contains("respawning too fast"), "\(console)")
                #expect(console.contains("Will now halt"), "\(console)")
                #expect(!host.daemonLogText.contains("sending SIGKILL"), "\(host.daemonLogText)")
            }
        }

        /// Acceptance 5, util-vserver's "sysv" style: vserverd's stub init runs /etc/init.d/rc 3 at start and
        /// /etc/init.d/rc 6 at stop.
        @Test func initStyleSysvRunsTheRcScriptsUnderTheStubInit() async throws {
            try await withTestHost { host in
                try addDebian(host, "sysv", .sysv, config: """
                    context = 1103
                    init-style = "sysv"

                    [namespaces]
                    user = true

                    """)
                try host.startDaemon()
                #expect(try host.ctl("start", "sysv").status == 0)
                try waitUntil("cron (rc3.d) to run", timeout: .seconds(30)) {
                    try host.ctl("exec", "sysv", "--", "pgrep", "-x", "cron").status == 0
                }
                let pidOne = try host.ctl("exec", "sysv", "--", "cat", "/proc/1/cmdline")
                #expect(pidOne.stdout.split(separator: "\0") == ["vserverd-init", "--runlevels", "3", "6", "15 5 9"],
                        "\(pidOne)")
                #expect(try host.ctl("stop", "sysv").status == 0)
                let console = try host.consoleLog("sysv")
                #expect(console.contains("Starting periodic command scheduler: cron"), "\(console)")
                #expect(console.contains("concurrent boot in runlevel 6") && console.contains("Will now restart"),
                        "rc 6 ran to its end: \(console)")
                #expect(!host.daemonLogText.contains("sending SIGKILL"), "\(host.daemonLogText)")
            }
        }

        /// Acceptance 6: `vserverctl build --method mmdebstrap --user-namespace`, then `start`, and nothing else: it
        /// boots to `running` (a real mmdebstrap run from the archive the host's apt uses, ~40 s).
        @Test func aGuestBuiltWithMmdebstrapBootsWithNoOtherStep() async throws {
            try await withTestHost { host in
                let root = "\(try host.rootOnlyDirectory("guests"))/web"
                let build = try host.ctl("build", "web", "--method", "mmdebstrap", "--suite", "bookworm",
                                         "--user-namespace", "--root", root, "--config-dir", host.configDirectory)
                #expect(build.status == 0, "\(build)")
                try host.startDaemon()
                let start = try host.ctl("start", "web")
                #expect(start.status == 0, "\(start)")
                let failed = try host.ctl("exec", "web", "--", "systemctl", "--failed", "--no-pager")
                #expect(try bootVerdict(host, "web") == "running", "\(failed)")
                #expect(try host.ctl("exec", "web", "--", "hostname").stdout == "web\n")
                #expect(try host.ctl("stop", "web").status == 0)
            }
        }

        /// `enter` without `shell` in the config starts root's login shell from the guest's /etc/passwd.
        @Test func enterStartsTheLoginShellOfTheGuestsRoot() async throws {
            try await withTestHost { host in
                try addDebian(host, "sysv", .sysv, config: "context = 1104\ninit-style = \"sysv\"\n")
                try host.startDaemon()
                #expect(try host.ctl("start", "sysv").status == 0)
                let shell = try host.ctl(["enter", "sysv"], input: "echo \"$0 ${BASH_VERSION:+bash}\"\n")
                #expect(shell.stdout == "-bash bash\n" || shell.stdout == "/bin/bash bash\n", "\(shell)")
            }
        }
    }
}
