import Foundation
import Testing

/// Issue 13: util-vserver's `interfaces/` imported as `net = "bound"`, and `check` refusing two vservers on one
/// address. The daemon runs in a test network namespace whose `nic0` stands in for the host's NIC.
extension Integration {
    @Suite struct NetworkImport {
        /// util-vserver files from another host: context, vdir and interfaces/0/{ip,prefix,dev}.
        @Test func aUtilVServerInterfaceImportsAsBoundAndStartsWithItsAddress() async throws {
            try await withTestNetworkNamespace { namespace in
                try await withTestHost { host in
                    let root = "\(host.rootsDirectory)/mail"
                    #expect(try run("/bin/cp", ["-a", BaseRootfs.path, root]).status == 0)
                    let old = "\(host.directory)/old-etc/mail"
                    let interface = "\(old)/interfaces/0"
                    try FileManager.default.createDirectory(atPath: interface, withIntermediateDirectories: true)
                    try "1500\n".write(toFile: "\(old)/context", atomically: true, encoding: .utf8)
                    try FileManager.default.createSymbolicLink(atPath: "\(old)/vdir", withDestinationPath: root)
                    try "192.0.2.10\n".write(toFile: "\(interface)/ip", atomically: true, encoding: .utf8)
                    try "24\n".write(toFile: "\(interface)/prefix", atomically: true, encoding: .utf8)
                    try "\(TestNetworkNamespace.device)\n".write(
                        toFile: "\(interface)/dev", atomically: true, encoding: .utf8)

                    let imported = try host.ctl("import", old, "--config-dir", host.configDirectory)
                    #expect(imported.status == 0, "\(imported)")
                    let toml = try String(contentsOfFile: "\(host.configDirectory)/mail/vserver.toml", encoding: .utf8)
                    #expect(toml.contains("\n[namespaces]\nnet = \"bound\"\n"), "\(toml)")
                    #expect(toml.contains("\n[network]\naddresses = [\"192.0.2.10/24\"]\ndevice = \"nic0\"\n"),
                            "\(toml)")
                    let check = try host.ctl("check", "--config-dir", host.configDirectory)
                    #expect(check.status == 0, "\(check)")
                    #expect(check.stdout.contains("mail: ok"), "\(check)")

                    try host.startDaemon(wrapper: namespace.daemonWrapper)
                    let before = try namespace.addresses()
                    #expect(!before.contains("192.0.2.10/24"), "\(before)")
                    let start = try host.ctl("start", "mail")
                    #expect(start.status == 0, "\(start)\n\(host.daemonLogText)")
                    #expect(try namespace.addresses().contains("192.0.2.10/24"), "the address went on nic0")
                    #expect(try host.ctl("stop", "mail").status == 0)
                    #expect(try namespace.addresses() == before, "stop took it off again, and only it")
                }
            }
        }

        @Test func checkAndStartRefuseASecondVServerOnTheSameAddress() async throws {
            try await withTestNetworkNamespace { namespace in
                try await withTestHost { host in
                    let bound = "[namespaces]\nnet = \"bound\"\n[network]\ndevice = \"nic0\"\n"
                    try host.addVServer("alpha", config: busyboxInit + "context = 1500\n" + bound
                        + "addresses = [\"192.0.2.10/24\"]\n")
                    try host.addVServer("beta", config: busyboxInit + "context = 1501\n" + bound
                        + "addresses = [\"192.0.2.11/24\", \"192.0.2.10/24\"]\n")
                    let directory = host.configDirectory
                    let error = "\(directory)/beta/vserver.toml: network.addresses: 192.0.2.10 is already claimed by "
                        + "vserver \"alpha\" (\(directory)/alpha/vserver.toml)"
                    let check = try host.ctl("check", "--config-dir", directory)
                    #expect(check.status == 1, "\(check)")
                    #expect(check.stdout.contains("alpha: ok"), "\(check)")
                    #expect(check.stdout.contains("beta: error: \(error)"), "\(check)")

                    try host.startDaemon(wrapper: namespace.daemonWrapper)
                    let before = try namespace.addresses()
                    let start = try host.ctl("start", "beta")
                    #expect(start.status == 1, "\(start)")
                    #expect(start.stderr.contains(error), "\(start)")
                    #expect(!FileManager.default.fileExists(atPath: "\(host.stateDirectory)/beta.json"))
                    #expect(try namespace.addresses() == before, "no address of beta's was added")
                }
            }
        }
    }
}
