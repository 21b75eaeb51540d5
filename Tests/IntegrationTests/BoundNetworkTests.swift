import Foundation
import Testing

/// `net = "bound"` (issue 13): guests on the host's network stack, each held to its own addresses by cgroup BPF
/// programs. Every test runs vserverd in a network namespace of its own (TestNetworkNamespace), whose nic0 with
/// 192.0.2.1/24 and 2001:db8::1/64 stands in for the host's NIC; no packet leaves it.
extension Integration {
    @Suite struct BoundNetwork {
        /// Acceptance 1-3: two guests serve 0.0.0.0:8080 at once, each on its own address only; a guest can bind
        /// neither the other's address nor the host's; its connections come from its own address; its 127.0.0.1 is
        /// its own.
        @Test func boundGuestsServeOnTheirOwnAddressesAndReachOnlyTheirOwnLoopback() async throws {
            try await withTestNetworkNamespace { namespace in
                try await withTestHost { host in
                    for (name, context, address) in [("a", 1610, "192.0.2.10"), ("b", 1611, "192.0.2.11")] {
                        let root = try host.addVServer(name, config: boundConfig(context: context, ["\(address)/24"]))
                        try FileManager.default.createDirectory(atPath: "\(root)/www", withIntermediateDirectories: true)
                        try "\(name)\n".write(toFile: "\(root)/www/index.html", atomically: true, encoding: .utf8)
                    }
                    try host.startDaemon(wrapper: namespace.daemonWrapper)
                    for name in ["a", "b"] {
                        #expect(try host.ctl("start", name).status == 0)
                        // busybox httpd binds the wildcard address ([::] dual-stack): the program moves it.
                        let server = try host.ctl("exec", name, "--", "httpd", "-p", "8080", "-h", "/www")
                        #expect(server.status == 0, "\(server)")
                    }

                    // 1. Each answers on its own address, with its own page; nothing answers on the host's.
                    for (address, page) in [("192.0.2.10", "a\n"), ("192.0.2.11", "b\n")] {
                        try waitUntil("the server of \(address)") {
                            try namespace.run(wget("http://\(address):8080/")).stdout == page
                        }
                    }
                    let hostsOwn = try namespace.run(wget("http://192.0.2.1:8080/"))
                    #expect(hostsOwn.status != 0, "no guest listens on the host's address: \(hostsOwn)")

                    // 2. Binding another's address or the host's is refused.
                    for address in ["192.0.2.11", "192.0.2.1", "2001:db8::1"] {
                        let bound = try host.ctl("exec", "a", "--", "timeout", "3", "httpd", "-f", "-p",
                                                 address.contains(":") ? "[\(address)]:8081" : "\(address):8081")
                        #expect(bound.status == 1, "\(address): \(bound)")
                        #expect(bound.stderr.contains("Operation not permitted"), "\(address): \(bound)")
                    }
                    // Its outgoing connections carry its own address, as a server in the namespace sees them.
                    let remote = try RemoteAddressServer(in: namespace, address: "192.0.2.1:8090")
                    defer { remote.stop() }
                    for (name, address) in [("a", "192.0.2.10"), ("b", "192.0.2.11")] {
                        try waitUntil("\(name) to reach the namespace's server") {
                            try host.ctl(["exec", name, "--"] + wget("http://192.0.2.1:8090/cgi-bin/remote", guest: true))
                                .stdout == "\(address)\n"
                        }
                    }

                    // 3. 127.0.0.1:9000 of a is a's alone.
                    let loopback = try host.ctl("exec", "a", "--", "httpd", "-p", "127.0.0.1:9000", "-h", "/www")
                    #expect(loopback.status == 0, "\(loopback)")
                    try waitUntil("a's loopback server") {
                        try host.ctl(["exec", "a", "--"] + wget("http://127.0.0.1:9000/", guest: true)).stdout == "a\n"
                    }
                    let fromB = try host.ctl(["exec", "b", "--"] + wget("http://127.0.0.1:9000/", guest: true))
                    #expect(fromB.status != 0 && fromB.stdout.isEmpty, "b's 127.0.0.1 is b's own: \(fromB)")
                    let fromHost = try namespace.run(wget("http://127.0.0.1:9000/"))
                    #expect(fromHost.status != 0 && fromHost.stdout.isEmpty, "the host's 127.0.0.1: \(fromHost)")
                    // Where it really listens: its loopback address 127.1.HI.LO (context 1610 = 6 * 256 + 74).
                    let direct = try namespace.run(wget("http://127.1.6.74:9000/"))
                    #expect(direct.stdout == "a\n", "\(direct)")

                    // Raw sockets stay refused (busybox ping needs one, or an ICMP socket: refused too).
                    let ping = try host.ctl("exec", "a", "--", "ping", "-c", "1", "-W", "2", "192.0.2.1")
                    #expect(ping.status != 0, "\(ping)")
                }
            }
        }

        /// Acceptance 6: stop takes off the addresses it added and its programs, never the host's; a restart works;
        /// a start that fails after adding them leaves none.
        @Test func stopRemovesWhatItAddedAndNeverTheHostsAddresses() async throws {
            try await withTestNetworkNamespace { namespace in
                try namespace.ip("addr", "add", "192.0.2.12/24", "dev", TestNetworkNamespace.device)  // the host's
                try await withTestHost { host in
                    try host.addVServer(
                        "c", config: boundConfig(context: 1612, ["192.0.2.12/24", "192.0.2.13/24", "2001:db8::13/64"]))
                    try host.startDaemon(wrapper: namespace.daemonWrapper)
                    let hostAddresses = try namespace.addresses()
                    let programs = try boundPrograms()

                    for round in 1...2 {
                        #expect(try host.ctl("start", "c").status == 0, "round \(round)")
                        let added = try namespace.addresses()
                        #expect(Set(added) == Set(hostAddresses + ["192.0.2.13/24", "2001:db8::13/64"]), "\(added)")
                        let labelled = try namespace.ip("-o", "-4", "addr", "show", "dev", TestNetworkNamespace.device)
                        #expect(labelled.contains("192.0.2.13/24 brd 192.0.2.255 scope global secondary nic0:c"),
                                "\(labelled)")
                        #expect(try boundPrograms() == programs + 7)
                        #expect(try host.ctl("stop", "c").status == 0)
                        #expect(try namespace.addresses() == hostAddresses, "192.0.2.12 was the host's: it stays")
                        try waitUntil("its programs to be freed") { try boundPrograms() == programs }
                    }

                    // A vserverd that restarts meanwhile still knows which addresses were its (the state file).
                    #expect(try host.ctl("start", "c").status == 0)
                    host.killDaemon()
                    try host.startDaemon(wrapper: namespace.daemonWrapper)
                    #expect(try host.ctl("stop", "c").status == 0)
                    #expect(try namespace.addresses() == hostAddresses)

                    // A pre-start hook that fails: the addresses it had added go again.
                    try host.addHook("c", "pre-start", "exit 3")
                    _ = try host.ctl("reload")
                    let failed = try host.ctl("start", "c")
                    #expect(failed.status != 0, "\(failed)")
                    #expect(try namespace.addresses() == hostAddresses)
                }
            }
        }

        /// `vserverctl exec --bind-ip` (util-vserver's chbind): a host service bound to the host's address leaves
        /// the port free on the guests' addresses, and talks from its address.
        @Test func execBindIPRunsAHostCommandBoundToAnAddress() async throws {
            let cgroups = "/sys/fs/cgroup/unified/vserverd-bound"
            let existed = FileManager.default.fileExists(atPath: cgroups)
            let before = Set((try? FileManager.default.contentsOfDirectory(atPath: cgroups)) ?? [])
            defer {
                for entry in Set((try? FileManager.default.contentsOfDirectory(atPath: cgroups)) ?? [])
                    .subtracting(before) { rmdir("\(cgroups)/\(entry)") }
                if !existed { rmdir(cgroups) }
            }
            try await withTestNetworkNamespace { namespace in
                try namespace.ip("addr", "add", "192.0.2.12/24", "dev", TestNetworkNamespace.device)
                try await withTestHost { host in
                    try host.addVServer("a", config: boundConfig(context: 1614, ["192.0.2.15/24"]))
                    try host.startDaemon(wrapper: namespace.daemonWrapper)
                    #expect(try host.ctl("start", "a").status == 0)
                    // The host's server on port 8085 of every address, and one bound to 192.0.2.1 by --bind-ip.
                    let server = ["/usr/bin/busybox", "httpd", "-f", "-p", "8085", "-h", NSTemporaryDirectory()]
                    // The guest's httpd: 1 when its bind fails (EADDRINUSE), 143 when it ran until timeout ended it.
                    for (bindIP, expected) in [(nil, 1), ("192.0.2.1", 143)] as [(String?, Int32)] {
                        let command = bindIP.map { [Products.vserverctl, "exec", "--bind-ip", $0, "--"] + server }
                        let hostServer = try ChildProcess(
                            ["/usr/bin/nsenter", "--net=\(namespace.path)", "--"] + (command ?? server),
                            environment: nil)
                        defer { hostServer.stop() }
                        let listening = { try namespace.run(["/usr/bin/ss", "-Hltn", "sport = :8085"]).stdout }
                        try waitUntil("the host's server on 8085") { try !listening().isEmpty }
                        let sockets = try listening()
                        // busybox httpd listens on [::], dual-stack: bound, on [::ffff:192.0.2.1].
                        #expect(sockets.contains(bindIP.map { "[::ffff:\($0)]:8085" } ?? "*:8085"), "\(sockets)")
                        let guest = try host.ctl("exec", "a", "--", "timeout", "2", "httpd", "-f", "-p", "8085")
                        #expect(guest.status == expected, "with --bind-ip \(bindIP ?? "none"): \(guest)")
                    }
                    let remote = try RemoteAddressServer(in: namespace, address: "192.0.2.1:8090")
                    defer { remote.stop() }
                    try waitUntil("the namespace's server") {
                        try namespace.run([Products.vserverctl, "exec", "--bind-ip", "192.0.2.12", "--"]
                                          + wget("http://192.0.2.1:8090/cgi-bin/remote")).stdout == "192.0.2.12\n"
                    }
                    let notOurs = try namespace.run([Products.vserverctl, "exec", "--bind-ip", "192.0.2.99", "--",
                                                     "/bin/true"])
                    #expect(notOurs.status == 125)
                    #expect(notOurs.stderr == "vserverctl: exec: --bind-ip: 192.0.2.99 is not an address of this host\n")
                }
            }
        }

        /// A hybrid host whose cgroup2 hierarchy is not mounted (systemd's legacy mode): vserverd mounts it where
        /// systemd's hybrid mode has it, and a bound guest starts. The daemon runs in a mount namespace of its own
        /// without /sys/fs/cgroup/unified, so that the machine's mount table is not touched.
        @Test func withoutCgroup2MountedVserverdMountsItWhereSystemdWould() async throws {
            let hostMounts = try String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)
            try await withTestNetworkNamespace { namespace in
                try await withTestHost { host in
                    try host.addVServer("e", config: boundConfig(context: 1615, ["192.0.2.16/24"]))
                    let unmounted = ["/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
                                     "umount /sys/fs/cgroup/unified && exec \"$@\"", "sh"]
                    try host.startDaemon(wrapper: namespace.daemonWrapper + unmounted)
                    #expect(host.daemonLogText.contains("mounted the cgroup2 hierarchy on /sys/fs/cgroup/unified"),
                            "\(host.daemonLogText)")
                    #expect(try host.ctl("start", "e").status == 0)
                    let guestCgroup = try String(contentsOfFile: "/proc/\(try host.guestPID("e"))/cgroup", encoding: .utf8)
                    #expect(guestCgroup.contains("0::\(host.cgroupParent)/vserver-e\n"), "\(guestCgroup)")
                    let bind = try host.ctl("exec", "e", "--", "timeout", "2", "httpd", "-f", "-p", "192.0.2.1:8086")
                    #expect(bind.stderr.contains("Operation not permitted"), "its programs hold it: \(bind)")
                    #expect(try host.ctl("stop", "e").status == 0)
                }
            }
            #expect(try String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) == hostMounts)
        }

        /// Without `device`, the addresses must be the host's already (util-vserver's nodev); one that is not stops
        /// the start with a message that says what to do.
        @Test func withoutADeviceTheAddressesMustBeTheHosts() async throws {
            try await withTestNetworkNamespace { namespace in
                try await withTestHost { host in
                    try host.addVServer("d", config: boundConfig(context: 1613, ["192.0.2.14/24"], device: nil))
                    try host.startDaemon(wrapper: namespace.daemonWrapper)
                    let refused = try host.ctl("start", "d")
                    #expect(refused.status == 1)
                    #expect(refused.stderr == "vserverctl: start d: network: use 192.0.2.14: it is not an address of "
                        + "this host, and [network] device is not set (set it, and vserverd adds the addresses at "
                        + "start)\n")
                    try namespace.ip("addr", "add", "192.0.2.14/24", "dev", TestNetworkNamespace.device)
                    #expect(try host.ctl("start", "d").status == 0)
                    #expect(try host.ctl("stop", "d").status == 0)
                    #expect(try namespace.addresses().contains("192.0.2.14/24"), "not vserverd's to remove")
                }
            }
        }
    }
}

/// A busybox guest with net = "bound" on nic0 of the test namespace.
private func boundConfig(context: Int, _ addresses: [String], device: String? = TestNetworkNamespace.device)
    -> String
{
    let list = addresses.map { "\"\($0)\"" }.joined(separator: ", ")
    return busyboxInit + "context = \(context)\n\n[namespaces]\nnet = \"bound\"\n\n[network]\naddresses = [\(list)]\n"
        + (device.map { "device = \"\($0)\"\n" } ?? "")
}

/// busybox wget of URL to stdout, given up after 5 s (by `timeout`: Debian's busybox wget crashes with -T); the
/// host's busybox, or the guest's.
private func wget(_ url: String, guest: Bool = false) -> [String] {
    let busybox = guest ? [] : ["/usr/bin/busybox"]
    return busybox + ["timeout", "5"] + busybox + ["wget", "-q", "-O-", url]
}

/// The BPF programs of bound guests that are loaded now (bpftool names them vs_*).
private func boundPrograms() throws -> Int {
    let shown = try run("/usr/sbin/bpftool", ["prog", "show"])
    guard shown.status == 0 else { throw TestFailure("bpftool prog show: \(shown)") }
    return shown.stdout.split(separator: "\n").count { $0.contains(" name vs_") }
}

/// busybox httpd in the test namespace with a CGI that answers the client's address (REMOTE_ADDR).
private final class RemoteAddressServer {
    private let server: ChildProcess
    private let directory: String

    init(in namespace: TestNetworkNamespace, address: String) throws {
        directory = NSTemporaryDirectory() + "vserverd-remote-\(getpid())"
        try FileManager.default.createDirectory(atPath: "\(directory)/cgi-bin", withIntermediateDirectories: true)
        let script = "\(directory)/cgi-bin/remote"
        try "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s\\n' \"$REMOTE_ADDR\"\n"
            .write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        server = try ChildProcess(["/usr/bin/nsenter", "--net=\(namespace.path)", "--", "/usr/bin/busybox", "httpd",
                                   "-f", "-p", address, "-h", directory], environment: nil)
    }

    func stop() {
        server.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
