import Foundation
import Testing

/// Issue 14: an /etc/vservers written the way util-vserver's `vserver NAME build` and vserver-setup.functions write it,
/// used unchanged: a busybox guest `db` and a sysvinit Debian guest `web` that depends on it, in a network namespace
/// of the test's (web's interfaces/0 is its bound address).
extension Integration {
    @Suite struct UtilVServerMigration {
        @Test func aUtilVServerTreeStartsInDependsOrderWithItsLimitsAndAddress() async throws {
            try await withTestNetworkNamespace { namespace in
                try await withTestHost { host in
                    let events = "\(host.directory)/events"
                    for flavour in ["pre-start", "post-start"] {
                        try host.addHook(nil, flavour, "echo \"$VSERVER_HOOK $VSERVER_NAME\" >>\(events)")
                    }
                    try writeUtilVServer(host, "db", context: 1920, files: [
                        "apps/init/mark": "default",
                        // util-vserver's list syntax: negation with ! and ~, comma lists, ^N bit numbers.
                        "bcapabilities": "!CAP_SYS_BOOT\nCAP_NET_BIND_SERVICE,CAP_KILL\n~CAP_AUDIT_WRITE\n^10\n",
                    ])
                    let webRoot = "\(host.rootsDirectory)/web"
                    try DebianRoot.sysv.unpack(into: webRoot)
                    try writeUtilVServer(host, "web", context: 1921, root: webRoot, files: [
                        "apps/init/mark": "default",
                        "apps/init/style": "sysv",
                        "apps/init/depends": "db",
                        "rlimits/nproc": "200",
                        "rlimits/rss": "16384",  // pages: 64 MiB
                        "interfaces/0/name": "web",
                        "interfaces/0/dev": TestNetworkNamespace.device,
                        "interfaces/0/ip": "192.0.2.30",
                        "interfaces/0/prefix": "24",
                        "fstab": "none\t/proc\t\tproc\tdefaults\t\t0 0\n"
                            + "none\t/tmp\t\ttmpfs\tsize=16m,mode=1777\t0 0\n"
                            + "none\t/dev/pts\tdevpts\tgid=5,mode=620\t\t0 0\n",
                    ])
                    for name in ["db", "web"] {
                        symlink("/var/run/vservers/\(name)", "\(host.configDirectory)/\(name)/run")
                        symlink("/etc/vservers/.defaults/cachebase/\(name)", "\(host.configDirectory)/\(name)/cache")
                    }

                    let check = try host.ctl("check", "--config-dir", host.configDirectory)
                    #expect(check.status == 0, "\(check)")
                    try host.startDaemon(wrapper: namespace.daemonWrapper)
                    // What check says is in the daemon's log too (with VSERVER= under journald).
                    #expect(host.daemonLogText.contains("/db/bcapabilities: util-vserver would also have given CAP_DAC_READ_SEARCH"),
                            "\(host.daemonLogText)")
                    let boot = try host.ctl("start", "--autostart")
                    #expect(boot.status == 0, "\(boot)")
                    let order = ((try? String(contentsOfFile: events, encoding: .utf8)) ?? "").split(separator: "\n")
                    let dbRunning = try #require(order.firstIndex(of: "post-start db"), "\(order)")
                    let webStarts = try #require(order.firstIndex(of: "pre-start web"), "\(order)")
                    #expect(dbRunning < webStarts, "depends order: \(order)")

                    // web: rc 3 ran its services; its rlimits are its cgroup limits; its interface its address.
                    try waitUntil("cron (rc3.d) to run in web", timeout: .seconds(30)) {
                        try host.ctl("exec", "web", "--", "pgrep", "-x", "cron").status == 0
                    }
                    let show = try host.ctl("show", "web").stdout
                    #expect(show.contains("resources.pids-max") && show.contains("200"), "\(show)")
                    #expect(show.contains("resources.memory-max") && show.contains("64M"), "\(show)")
                    #expect(try namespace.addresses().contains("192.0.2.30/24"))
                    // 300 forks: the shell gives up once the guest has 200 processes.
                    let bomb = try host.ctl("exec", "web", "--", "sh", "-c",
                                            "i=0; while [ $i -lt 300 ]; do sleep 1000 </dev/null >/dev/null 2>&1 & "
                                                + "i=$((i+1)); done")
                    let inside = try PidsLimits.processes(inPidNamespaceOf: try host.guestPID("web"))
                    #expect(bomb.status != 0 && inside.count > 100 && inside.count <= 200,
                            "nproc 200 holds: \(inside.count) processes, \(bomb)")
                    // db: the bounding set util-vserver's lines asked for.
                    let capabilities = try host.ctl("exec", "db", "--", "grep", "CapBnd", "/proc/self/status").stdout
                    let mask = UInt64(capabilities.split(separator: "\t").last?
                        .trimmingCharacters(in: .whitespacesAndNewlines) ?? "", radix: 16) ?? 0
                    #expect(mask & (1 << 22) == 0, "!CAP_SYS_BOOT: \(capabilities)")
                    #expect(mask & (1 << 29) == 0, "~CAP_AUDIT_WRITE: \(capabilities)")
                    #expect(mask & (1 << 10) != 0 && mask & (1 << 5) != 0, "NET_BIND_SERVICE, KILL: \(capabilities)")

                    // A stop runs rc 6 to its end, well before stop-timeout, and takes the address off.
                    let stop = try host.timedStop("web")
                    #expect(stop.result.status == 0 && stop.took < .seconds(8), "\(stop)")
                    #expect(!host.daemonLogText.contains("sending SIGKILL"), "\(host.daemonLogText)")
                    #expect(try !namespace.addresses().contains("192.0.2.30/24"))
                    #expect(try host.ctl("stop", "db").status == 0)
                }
            }
        }

        /// util-vserver's arch and gentoo styles: the stub init runs the guest's boot script at start and its
        /// shutdown at stop, then the kill sequence (killseq) for what is left: a service that stops on SIGTERM
        /// gets it, one that ignores it is killed after killseq's wait, and with nothing left the stop is at once.
        @Test func archAndGentooGuestsBootAndStopThroughTheirOwnScripts() async throws {
            try await withTestHost { host in
                // A service that ends on SIGTERM, and with /etc/stubborn one that ignores it.
                let boot = """
                    #!/bin/sh
                    (trap 'echo "service: TERM" >> /tmp/rc.log; exit 0' TERM; touch /tmp/service.ready
                     while :; do sleep 1; done) </dev/null >/dev/null 2>&1 &
                    if [ -e /etc/stubborn ]; then
                        (trap '' TERM; touch /tmp/stubborn.ready; while :; do sleep 1; done) \\
                            </dev/null >/dev/null 2>&1 &
                    fi
                    echo "boot $* RUNLEVEL=${RUNLEVEL-unset}" >> /tmp/rc.log

                    """
                let halt = "#!/bin/sh\necho \"halt $* RUNLEVEL=${RUNLEVEL-unset} PATH=$PATH\" >> /tmp/rc.log\n"
                let styles: [(name: String, context: Int, boot: String, halt: String)] = [
                    ("arch", 1930, "/etc/rc.multi", "/etc/rc.shutdown"),
                    ("gentoo", 1931, "/lib/rc/sh/init-vserver.sh", "/sbin/rc"),
                ]
                var roots: [String: String] = [:]
                for style in styles {
                    try writeUtilVServer(host, style.name, context: style.context, files: [
                        "apps/init/style": style.name, "apps/init/killseq": "15\n2\n9",
                    ])
                    let root = "\(host.rootsDirectory)/\(style.name)"
                    for (path, text) in [(style.boot, boot), (style.halt, halt)] {
                        try FileManager.default.createDirectory(
                            atPath: "\(root)\((path as NSString).deletingLastPathComponent)",
                            withIntermediateDirectories: true)
                        try text.write(toFile: "\(root)\(path)", atomically: true, encoding: .utf8)
                        chmod("\(root)\(path)", 0o755)
                    }
                    roots[style.name] = root
                }
                let check = try host.ctl("check", "--config-dir", host.configDirectory)
                #expect(check.status == 0 && !check.stdout.contains("apps/init"), "\(check)")
                try host.startDaemon()

                for style in styles {
                    let root = roots[style.name]!
                    let log = "\(root)/tmp/rc.log"
                    func logged() -> [String] {
                        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                        return text.split(separator: "\n").map(String.init)
                    }
                    for stubborn in [true, false] {
                        if stubborn {
                            FileManager.default.createFile(atPath: "\(root)/etc/stubborn", contents: nil)
                        } else {
                            try FileManager.default.removeItem(atPath: "\(root)/etc/stubborn")
                        }
                        let ready = ["\(root)/tmp/service.ready"] + (stubborn ? ["\(root)/tmp/stubborn.ready"] : [])
                        for file in [log] + ready { try? FileManager.default.removeItem(atPath: file) }
                        #expect(try host.ctl("start", style.name).status == 0)
                        try waitUntil("\(style.name)'s boot script and services to run") {
                            logged().count == 1 && ready.allSatisfy { FileManager.default.fileExists(atPath: $0) }
                        }
                        let stop = try host.timedStop(style.name)
                        #expect(stop.result.status == 0, "\(stop)")
                        let bootLine = style.name == "arch" ? "boot  RUNLEVEL=unset" : "boot default RUNLEVEL=unset"
                        let haltLine = style.name == "arch"
                            ? "halt  RUNLEVEL=unset PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                            : "halt shutdown RUNLEVEL=0 PATH=/usr/sbin:/usr/bin:/sbin:/bin"
                        #expect(logged() == [bootLine, haltLine, "service: TERM"], "\(style.name)")
                        // killseq 15 2 9: the stubborn service waits out the 2 s, then SIGKILL; otherwise at once.
                        #expect(stubborn ? stop.took >= .seconds(2) : stop.took < .seconds(1.5),
                                "\(style.name), stubborn \(stubborn): \(stop.took)")
                    }
                }
                #expect(!host.daemonLogText.contains("sending SIGKILL"), "\(host.daemonLogText)")
            }
        }
    }
}

/// CONFIG-DIR/NAME as util-vserver writes it: name, context, uts/nodename, vdir, plus `files` (relative path →
/// first line); the root is a busybox one unless given.
private func writeUtilVServer(_ host: TestHost, _ name: String, context: Int, root: String? = nil,
                              files: [String: String]) throws {
    let directory = "\(host.configDirectory)/\(name)"
    let rootPath = try root ?? host.addVServer(name, config: "")
    // addVServer wrote a vserver.toml: this one is util-vserver's.
    try? FileManager.default.removeItem(atPath: "\(directory)/vserver.toml")
    var all = files
    all["name"] = name
    all["context"] = "\(context)"
    all["uts/nodename"] = "\(name).example.org"
    for (relative, text) in all {
        let path = "\(directory)/\(relative)"
        try FileManager.default.createDirectory(
            atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path, withIntermediateDirectories: true)
        try (text.hasSuffix("\n") ? text : text + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    symlink(rootPath, "\(directory)/vdir")
}
