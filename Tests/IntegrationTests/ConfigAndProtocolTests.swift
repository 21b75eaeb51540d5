import Foundation
import Testing

extension Integration {
    @Suite struct InvalidConfigs {
        struct Case: CustomStringConvertible, Sendable {
            var description: String
            var name: String
            var config: String
            /// Pieces the error must contain (file, key, line).
            var mentions: [String]
        }

        static let cases: [Case] = [
            Case(description: "unknown key", name: "web", config: "hostname = \"x\"\ncontxt = 1042\n",
                 mentions: ["vserver.toml:5", "contxt", "unknown key"]),
            Case(description: "unknown key in a table", name: "web", config: "[namespaces]\nnet = \"host\"\nipc = true\n",
                 mentions: ["vserver.toml:6", "namespaces.ipc"]),
            Case(description: "wrong type", name: "web", config: "autostart = \"yes\"\n",
                 mentions: ["vserver.toml:4", "autostart"]),
            Case(description: "context out of range", name: "web", config: "context = 70000\n",
                 mentions: ["vserver.toml:4", "context", "70000"]),
            Case(description: "root missing", name: "web", config: "root = \"/nonexistent/vserver-root\"\n",
                 mentions: ["vserver.toml:3", "root", "/nonexistent/vserver-root"]),
            Case(description: "root is /", name: "web", config: "root = \"/\"\n",
                 mentions: ["vserver.toml:3", "root"]),
        ]

        @Test(arguments: cases)
        func invalidConfigIsRefusedNamingFileAndKeyAndNothingStarts(_ invalid: Case) async throws {
            try await withTestHost { host in
                try host.addVServer(invalid.name, config: busyboxInit + invalid.config)
                let file = "\(host.configDirectory)/\(invalid.name)/vserver.toml"
                let check = try host.ctl("check", "--config-dir", host.configDirectory, invalid.name)
                #expect(check.status == 1, "\(check)")
                for piece in invalid.mentions + [file] {
                    #expect(check.stdout.contains(piece), "check output names \(piece): \(check.stdout)")
                }
                try host.startDaemon()
                let namespacesBefore = try host.daemonPidNamespaces()
                let start = try host.ctl("start", invalid.name)
                #expect(start.status == 1)
                for piece in invalid.mentions + [file] {
                    #expect(start.stderr.contains(piece), "start error names \(piece): \(start.stderr)")
                }
                #expect(start.stderr.hasPrefix("vserverctl: start \(invalid.name): invalid config: "))
                #expect(try host.daemonPidNamespaces() == namespacesBefore, "no namespace was created")
            }
        }

        @Test func duplicateContextRefusesTheSecondVServer() async throws {
            try await withTestHost { host in
                try host.addVServer("alpha", config: busyboxInit + "context = 1042\n")
                try host.addVServer("beta", config: busyboxInit + "context = 1042\n")
                let check = try host.ctl("check", "--config-dir", host.configDirectory)
                #expect(check.status == 1)
                #expect(check.stdout.contains("alpha: ok"))
                #expect(check.stdout.contains("beta: error: \(host.configDirectory)/beta/vserver.toml:4: context"),
                        "\(check.stdout)")
                #expect(check.stdout.contains("alpha"))
                try host.startDaemon()
                let start = try host.ctl("start", "beta")
                #expect(start.status == 1)
                #expect(start.stderr.contains("context"))
                #expect(!FileManager.default.fileExists(atPath: "\(host.stateDirectory)/beta.json"))
                // The valid one is unaffected, and can be named by its context.
                #expect(try host.ctl("start", "1042").status == 0)
                #expect(try host.ctl("status", "alpha").status == 0)
            }
        }

        @Test func badDirectoryNameIsNotAVServer() async throws {
            try await withTestHost { host in
                try host.addVServer("Bad_Name", config: busyboxInit)
                let check = try host.ctl("check", "--config-dir", host.configDirectory)
                #expect(check.stdout.contains("Bad_Name"), "\(check.stdout)")
                try host.startDaemon()
                let start = try host.ctl("start", "Bad_Name")
                #expect(start.status == 1)
                #expect(start.stderr == "vserverctl: start Bad_Name: no vserver named Bad_Name\n")
            }
        }
    }

    @Suite struct VarlinkProtocol {
        /// A raw Varlink connection: send NUL-terminated JSON, read one reply.
        final class Connection {
            let fd: Int32
            init(_ path: String) throws {
                fd = try connectUnixSocket(path)
            }
            deinit { close(fd) }

            /// Writes everything it can; false when the peer closed the connection.
            func send(_ bytes: [UInt8]) -> Bool {
                var offset = 0
                while offset < bytes.count {
                    let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    if written <= 0 { return false }
                    offset += written
                }
                return true
            }

            func send(_ json: String) -> Bool { send(Array(json.utf8) + [0]) }

            /// The next reply, or nil when the daemon closed the connection.
            func receive() -> [String: Any]? {
                var bytes: [UInt8] = []
                var byte: UInt8 = 0
                while read(fd, &byte, 1) == 1 {
                    if byte == 0 {
                        return (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any]
                    }
                    bytes.append(byte)
                }
                return nil
            }
        }

        @Test func unknownMethodGetsMethodNotFoundAndBadMessagesCloseOnlyTheirConnection() async throws {
            try await withTestHost { host in
                try host.startDaemon()
                let good = try Connection(host.socket)
                #expect(good.send(#"{"method":"io.vserverd.Manager.Frobnicate","parameters":{}}"#))
                let reply = good.receive()
                #expect(reply?["error"] as? String == "org.varlink.service.MethodNotFound", "\(String(describing: reply))")
                #expect(good.send(#"{"method":"org.example.Nothing.Call"}"#))
                #expect(good.receive()?["error"] as? String == "org.varlink.service.InterfaceNotFound")

                let broken = try Connection(host.socket)
                #expect(broken.send("{this is not json"))
                #expect(broken.receive() == nil, "invalid JSON closes that connection")

                let huge = try Connection(host.socket)
                let twoMiB = Array(#"{"method":"io.vserverd.Manager.List","parameters":{"x":""#.utf8)
                    + [UInt8](repeating: UInt8(ascii: "a"), count: 2 << 20) + Array(#""}}"#.utf8) + [0]
                _ = huge.send(twoMiB)
                #expect(huge.receive() == nil, "a 2 MiB message is refused")

                // The first connection and new ones are still served.
                #expect(good.send(#"{"method":"io.vserverd.Manager.List"}"#))
                #expect(good.receive()?["parameters"] != nil)
                #expect(try host.ctl("list").status == 0)
            }
        }

        @Test func onlyRootMayChangeThingsButAnyoneOnTheSocketMayLook() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit)
                try host.startDaemon()
                // The socket is 0660 root:vserverd, so a user outside the group cannot even connect; open it up so
                // that an unprivileged caller can connect at all and the daemon's own SO_PEERCRED check is what
                // refuses it.
                var socketStatus = stat()
                #expect(stat(host.socket, &socketStatus) == 0)
                #expect(socketStatus.st_mode & 0o777 == 0o660, "mode \(String(socketStatus.st_mode & 0o777, radix: 8))")
                chmod(host.directory, 0o755)
                chmod("\(host.directory)/run", 0o755)
                chmod(host.socket, 0o666)
                let nobody = ["--reuid=65534", "--regid=65534", "--clear-groups", Products.vserverctl]
                let environment = ["VSERVERD_SOCKET": host.socket, "PATH": "/usr/bin:/bin"]
                let list = try run("/usr/bin/setpriv", nobody + ["list"], environment: environment)
                #expect(list.status == 0, "\(list)")
                #expect(list.stdout.contains("web"))
                let start = try run("/usr/bin/setpriv", nobody + ["start", "web"], environment: environment)
                #expect(start.status == 1)
                #expect(start.stderr == "vserverctl: start web: permission denied: Start needs root or the group vserverd\n")
                #expect(try host.ctl("status", "web").status == 3, "nothing started")
                #expect(host.daemonLogText.contains("refused io.vserverd.Manager.Start from uid 65534"))
            }
        }

        @Test func realVarlinkClientReadsInterfaceAndCallsList() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit)
                try host.startDaemon()
                let script = """
                    import sys, varlink
                    with varlink.Client(address="unix:" + sys.argv[1]) as client:
                        # GetInterfaceDescription + the python IDL parser: fails on invalid IDL.
                        manager = client.open("io.vserverd.Manager")
                        reply = manager.List()
                        print(",".join(v["name"] + ":" + v["state"] for v in reply["vservers"]))
                        iface = client.get_interface("io.vserverd.Manager")
                        print(" ".join(sorted(iface.members.keys())))
                        try:
                            manager.Get("nope")
                        except varlink.VarlinkError as error:
                            print(error.error())
                    """
                let result = try run("/usr/bin/env", ["python3", "-c", script, host.socket])
                #expect(result.status == 0, "\(result)")
                let lines = result.stdout.split(separator: "\n").map(String.init)
                #expect(lines.first == "web:stopped")
                for member in ["List", "Get", "Start", "Stop", "Restart", "StartAutostart", "StopAll", "Reload",
                               "Whois", "Processes", "Monitor", "VServer", "Process", "NoSuchVServer", "HookFailed"] {
                    #expect(lines.count > 1 && lines[1].split(separator: " ").contains(Substring(member)), "IDL has \(member)")
                }
                #expect(lines.last == "io.vserverd.Manager.NoSuchVServer")
            }
        }

        @Test func monitorStreamsStateChanges() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit)
                try host.startDaemon()
                let monitor = try Connection(host.socket)
                #expect(monitor.send(#"{"method":"io.vserverd.Manager.Monitor","more":true}"#))
                // The first replies are the current states: after them, the subscription is in place.
                let current = monitor.receive()?["parameters"] as? [String: Any]
                #expect(current?["name"] as? String == "web")
                #expect(current?["state"] as? String == "stopped")
                #expect(try host.ctl("start", "web").status == 0)
                var states: [String] = []
                while states.last != "running", let reply = monitor.receive() {
                    let parameters = reply["parameters"] as? [String: Any]
                    #expect(reply["continues"] as? Bool == true)
                    states.append("\(parameters?["name"] ?? "?") \(parameters?["state"] ?? "?")")
                }
                #expect(states == ["web starting", "web running"])
            }
        }

        @Test func createdAndImportedVServersStartAtOnceOnARunningDaemon() async throws {
            try await withTestHost { host in
                try host.startDaemon()
                let root = "\(host.rootsDirectory)/web"
                #expect(try run("/bin/cp", ["-a", BaseRootfs.path, root]).status == 0)
                let create = try host.ctl("create", "web", "--root", root, "--hostname", "web.example.org",
                                          "--config-dir", host.configDirectory)
                #expect(create.status == 0, "\(create)")
                #expect(create.stdout == "web: created \(host.configDirectory)/web/vserver.toml (context 1000, root \(root))\n")
                #expect(try host.ctl("start", "web").status == 0, "the daemon re-read its configs")
                #expect(try host.ctl("exec", "web", "--", "hostname").stdout == "web.example.org\n")
                let again = try host.ctl("create", "web", "--root", root, "--config-dir", host.configDirectory)
                #expect(again.status == 1)
                #expect(again.stderr == "vserverctl: create web: \(host.configDirectory)/web: already exists\n")

                // util-vserver files from another host: context, vdir, uts/nodename, uts/domainname.
                let old = "\(host.directory)/old-etc/mail"
                try FileManager.default.createDirectory(atPath: "\(old)/uts", withIntermediateDirectories: true)
                try "1500\n".write(toFile: "\(old)/context", atomically: true, encoding: .utf8)
                try "mail.example.org\n".write(toFile: "\(old)/uts/nodename", atomically: true, encoding: .utf8)
                try "nis.example\n".write(toFile: "\(old)/uts/domainname", atomically: true, encoding: .utf8)
                try FileManager.default.createSymbolicLink(atPath: "\(old)/vdir", withDestinationPath: root)
                let imported = try host.ctl("import", old, "--config-dir", host.configDirectory)
                #expect(imported.status == 0, "\(imported)")
                #expect(try host.ctl("stop", "web").status == 0)
                #expect(try host.ctl("start", "1500").status == 0, "known by its imported context")
                #expect(try host.ctl("exec", "mail", "--", "hostname").stdout == "mail.example.org\n")
                #expect(try host.ctl("exec", "mail", "--", "cat", "/proc/sys/kernel/domainname").stdout == "nis.example\n")
                #expect(try host.ctl("stop", "mail").status == 0)
            }
        }

        @Test func reloadPicksUpNewAndBrokenConfigsAndTellsMonitors() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit)
                try host.addVServer("old", config: busyboxInit)
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                let monitor = try Connection(host.socket)
                #expect(monitor.send(#"{"method":"io.vserverd.Manager.Monitor","more":true}"#))
                for _ in 0..<2 { _ = monitor.receive() }  // the current states of old and web

                try host.addVServer("db", config: busyboxInit)
                try host.addVServer("bad", config: busyboxInit + "colour = \"blue\"\n")
                try FileManager.default.removeItem(atPath: "\(host.configDirectory)/old")
                try FileManager.default.removeItem(atPath: "\(host.configDirectory)/web")
                let reload = try host.ctl("reload")
                #expect(reload.status == 0, "\(reload)")

                var changes: [String] = []
                while changes.count < 3, let reply = monitor.receive() {
                    let parameters = reply["parameters"] as? [String: Any]
                    changes.append("\(parameters?["name"] ?? "?") \(parameters?["state"] ?? "?")")
                }
                #expect(changes.sorted() == ["bad failed", "db stopped", "old stopped"], "\(reload)")
                let list = try host.ctl("list").stdout.split(separator: "\n").map { $0.split(separator: " ") }
                #expect(list.map { $0.first } == ["NAME", "bad", "db", "web"], "the running web stays listed")
                #expect(list.last?.dropFirst(2).first == "running")
                #expect(try host.ctl("stop", "web").status == 0, "and can still be stopped")
            }
        }
    }
}
