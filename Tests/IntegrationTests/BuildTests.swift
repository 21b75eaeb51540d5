import Foundation
import Testing

/// `vserverctl build`: real builds from the cached Debian roots (scripts/debian-roots) and a real mmdebstrap run,
/// each in the test host's own config directory with the root under a root-only directory of the test host,
/// never /vservers or /etc/vservers.
extension Integration {
    @Suite struct Build {
        @Test func aTarballBuildWritesACheckedConfigAndKeepsTheTarballsFilesAndOwners() async throws {
            try await withTestHost { host in
                let guests = try host.rootOnlyDirectory("guests")
                let tarball = try DebianRoot.systemd.tarball()
                let build = try host.ctl("build", "web", "--method", "tarball", tarball, "--user-namespace",
                                         "--hostname", "web.example.org", "--context", "1042",
                                         "--root", "\(guests)/web", "--config-dir", host.configDirectory)
                #expect(build.status == 0, "\(build)")
                #expect(build.stdout == """
                    web: building \(guests)/web: unpacking \(tarball)
                    web: preparing the guest (hostname, machine-id)
                    web: writing \(host.configDirectory)/web/vserver.toml
                    web: built \(guests)/web (context 1042)

                    """)
                #expect(build.stderr.isEmpty, "\(build)")

                let check = try host.ctl("check", "web", "--config-dir", host.configDirectory)
                #expect(check.status == 0 && check.stdout.contains("web: ok"), "\(check)")
                let config = try String(contentsOfFile: "\(host.configDirectory)/web/vserver.toml", encoding: .utf8)
                for line in ["context = 1042", "root = \"\(guests)/web\"", "hostname = \"web.example.org\"",
                             "[namespaces]\nuser = true"] {
                    #expect(config.contains(line), "\(line) in \(config)")
                }
                #expect(!config.contains("stop-signal"), "init-style \"auto\" finds systemd at each start: \(config)")

                // Every file as the tarball has it: owners by number (root's stay 0, no shifting for the user
                // namespace), modes with setuid bits, contents; only /etc/hostname and /etc/machine-id are new.
                let differences = try DebianRoot.systemd.differences(in: "\(guests)/web")
                #expect(Set(differences.map { $0.split(separator: ":")[0] }) == ["./etc/hostname", "./etc/machine-id"],
                        "\(differences)")
                #expect(try owner(of: "\(guests)/web/usr/bin/passwd") == (0, 0o104755))
                #expect(try owner(of: "\(guests)/web/etc/machine-id") == (0, 0o100444))

                let hostname = try String(contentsOfFile: "\(guests)/web/etc/hostname", encoding: .utf8)
                #expect(hostname == "web.example.org\n")
                let machineID = try String(contentsOfFile: "\(guests)/web/etc/machine-id", encoding: .utf8)
                #expect(machineID.wholeMatch(of: /[0-9a-f]{32}\n/) != nil, "machine-id \(machineID)")
                #expect(try FileManager.default.contentsOfDirectory(atPath: guests) == ["web"], "no temporary dir")
            }
        }

        @Test func aSysvGuestNeedsNoNoteAndNoUserNamespace() async throws {
            try await withTestHost { host in
                let guests = try host.rootOnlyDirectory("guests")
                let build = try host.ctl("build", "old", "--method", "tarball", try DebianRoot.sysv.tarball(),
                                         "--root", "\(guests)/old", "--config-dir", host.configDirectory)
                #expect(build.status == 0, "\(build)")
                #expect(!build.stdout.contains("note:"), "\(build)")
                let config = try String(contentsOfFile: "\(host.configDirectory)/old/vserver.toml", encoding: .utf8)
                #expect(!config.contains("stop-signal") && !config.contains("[namespaces]"), "\(config)")
                #expect(try host.ctl("check", "old", "--config-dir", host.configDirectory).status == 0)
            }
        }

        @Test func aTakenNameContextOrRootIsRefusedBeforeAnyWorkAndTheOtherStaysAsItWas() async throws {
            try await withTestHost { host in
                let webRoot = host.rootsDirectory + "/web"
                try DebianRoot.sysv.unpack(into: webRoot)
                try host.addVServer("web", config: "context = 1042\n")
                let webConfig = "\(host.configDirectory)/web/vserver.toml"
                let configBefore = try String(contentsOfFile: webConfig, encoding: .utf8)
                let guests = try host.rootOnlyDirectory("guests")
                let tarball = try DebianRoot.systemd.tarball()
                func build(_ name: String, _ options: String...) throws -> CommandResult {
                    try host.ctl(["build", name, "--method", "tarball", tarball, "--config-dir", host.configDirectory]
                                 + (options.contains("--root") ? [] : ["--root", "\(guests)/\(name)"]) + options)
                }

                let name = try build("web")
                #expect(name.status == 1 && name.stdout.isEmpty, "\(name)")
                #expect(name.stderr == "vserverctl: build web: \(host.configDirectory)/web: already exists\n")
                let context = try build("mail", "--context", "1042")
                #expect(context.status == 1, "\(context)")
                #expect(context.stderr
                        == "vserverctl: build mail: --context: context 1042 is used by vserver \"web\"\n")
                let root = try build("mail", "--root", webRoot)
                #expect(root.status == 1, "\(root)")
                #expect(root.stderr.hasPrefix("vserverctl: build mail: \(webRoot) already exists"), "\(root)")

                #expect(try String(contentsOfFile: webConfig, encoding: .utf8) == configBefore)
                #expect(try DebianRoot.sysv.differences(in: webRoot).isEmpty, "its root is untouched")
                #expect(try FileManager.default.contentsOfDirectory(atPath: host.configDirectory) == ["web"])
                #expect(try FileManager.default.contentsOfDirectory(atPath: guests).isEmpty)
            }
        }

        /// SIGINT once mmdebstrap reported its first phase: its whole process group is killed, and nothing of the
        /// build stays (no root, no config, no temporary directory, no process, no mount). Needs the network.
        @Test func anInterruptedMmdebstrapBuildLeavesNothingBehind() async throws {
            try await withTestHost { host in
                let guests = try host.rootOnlyDirectory("guests")
                // The test runner's children may inherit SIGINT ignored, which vserverctl would keep (as for nohup).
                let build = try StreamingCommand("/usr/bin/env", [
                    "--default-signal=INT", Products.vserverctl, "build", "web", "--method", "mmdebstrap",
                    "--root", "\(guests)/web", "--config-dir", host.configDirectory, "--lib-dir", host.libDirectory,
                ])
                defer {
                    build.stop()
                    for pid in buildProcesses(under: guests) { kill(pid, SIGKILL) }
                }
                try waitUntil("mmdebstrap's first phase", timeout: .seconds(180)) {
                    guard build.isRunning else { throw TestFailure("build ended early: \(build.stdout)") }
                    return build.stdout.contains("web: updating package lists\n")
                }
                #expect(try FileManager.default.contentsOfDirectory(atPath: guests).count == 1, "its temporary dir")
                #expect(!buildProcesses(under: guests).isEmpty, "mmdebstrap runs")

                kill(build.pid, SIGINT)
                try waitUntil("the build to end", timeout: .seconds(60)) { !build.isRunning }
                #expect(build.status == 130)
                #expect(build.stderr == "vserverctl: build web: interrupted by SIGINT; nothing was kept\n")
                #expect(try FileManager.default.contentsOfDirectory(atPath: guests).isEmpty, "no root, no temp dir")
                #expect(try FileManager.default.contentsOfDirectory(atPath: host.configDirectory).isEmpty)
                #expect(buildProcesses(under: guests).isEmpty, "no process of the build is left")
                #expect(try hostMountInfo(below: guests).isEmpty, "no mount is left")
            }
        }
    }
}

extension TestHost {
    /// A directory of the test host that only root may enter, as /vservers is.
    func rootOnlyDirectory(_ name: String) throws -> String {
        let path = "\(directory)/\(name)"
        guard mkdir(path, 0o700) == 0 else { throw TestFailure("mkdir \(path): \(String(cString: strerror(errno)))") }
        return path
    }
}

/// Owner and mode (with the file type) of a path, symlinks not followed.
private func owner(of path: String) throws -> (uid: uid_t, mode: mode_t) {
    var status = stat()
    guard lstat(path, &status) == 0 else { throw TestFailure("lstat \(path): \(String(cString: strerror(errno)))") }
    return (status.st_uid, status.st_mode)
}

/// PIDs of host processes whose command line names something under `directory`.
private func buildProcesses(under directory: String) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(Int32.init).filter { pid in
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        return String(decoding: data, as: UTF8.self).contains(directory)
    }
}

/// A command whose output is read while it runs.
final class StreamingCommand: @unchecked Sendable {
    private let process = Process()
    private let lock = NSLock()
    private var output = Data()
    private let errorPipe = Pipe()

    init(_ executable: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        let outputPipe = Pipe()
        process.standardOutput = outputPipe
        process.standardError = errorPipe
        outputPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil }
            guard let self else { return }
            self.lock.withLock { self.output.append(data) }
        }
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    var stdout: String { lock.withLock { String(decoding: output, as: UTF8.self) } }
    /// Once it ended.
    var stderr: String { String(decoding: errorPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) }
    var status: Int32 {
        process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    }

    /// SIGKILL when still running, and waits for it.
    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}
