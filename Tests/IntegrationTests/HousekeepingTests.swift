import Foundation
import Testing
import VServerConfig

/// Issue 16: `vserverctl rename` and `delete` of stopped vservers, all or nothing.
extension Integration {
    @Suite struct Housekeeping {
        /// web, db (after web, in vserver.toml with a comment) and mail (util-vserver's format, depends on web).
        func threeGuests(_ host: TestHost) throws -> (webRoot: String, mailDirectory: String) {
            let webRoot = try host.addVServer("web", config: busyboxInit + "context = 1950\n")
            try host.addVServer("db", config: busyboxInit + "context = 1951\n# web serves db's pages\nafter = [\"web\"]\n")
            let mail = "\(host.configDirectory)/mail"
            try FileManager.default.createDirectory(atPath: "\(mail)/apps/init", withIntermediateDirectories: true)
            try "1952\n".write(toFile: "\(mail)/context", atomically: true, encoding: .utf8)
            try "web\n".write(toFile: "\(mail)/apps/init/depends", atomically: true, encoding: .utf8)
            try FileManager.default.createSymbolicLink(atPath: "\(mail)/vdir",
                                                       withDestinationPath: try host.addVServer("mailroot"))
            try FileManager.default.removeItem(atPath: "\(host.configDirectory)/mailroot")
            return (webRoot, mail)
        }

        @Test func renameMovesTheNameEverywhereOnlyWhileStopped() async throws {
            try await withTestHost { host in
                let (webRoot, mail) = try threeGuests(host)
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                let refused = try host.ctl("rename", "web", "www")
                #expect(refused.status == 1 && refused.stderr == "vserverctl: rename web: it is running: stop it first\n",
                        "\(refused)")
                #expect(try host.ctl("stop", "web").status == 0)

                let renamed = try host.ctl("rename", "web", "www")
                #expect(renamed.status == 0, "\(renamed)")
                #expect(renamed.stdout == "renamed web to www; after changed in db, mail\n", "\(renamed)")
                let list = try host.ctl("list").stdout
                #expect(list.contains("www") && !list.split(separator: "\n").contains { $0.hasPrefix("web ") }, "\(list)")
                #expect(!FileManager.default.fileExists(atPath: "\(host.configDirectory)/web"))
                let db = try String(contentsOfFile: "\(host.configDirectory)/db/vserver.toml", encoding: .utf8)
                #expect(db.contains("# web serves db's pages\nafter = [\"www\"]\n"), "comments stay: \(db)")
                #expect(try String(contentsOfFile: "\(mail)/apps/init/depends", encoding: .utf8) == "www\n")
                #expect(FileManager.default.fileExists(atPath: "\(host.logDirectory)/www.log"), "the console log")
                #expect(!FileManager.default.fileExists(atPath: "\(host.logDirectory)/web.log"))
                let check = try host.ctl("check", "--config-dir", host.configDirectory)
                #expect(check.status == 0, "\(check)")

                // The root was not at the default place: it stays; the hostname was the name, and follows it.
                #expect(try host.ctl("start", "www").status == 0)
                #expect(try host.ctl("exec", "www", "--", "cat", "/vserver-marker").stdout == "web\n")
                #expect(try host.ctl("exec", "www", "--", "hostname").stdout == "www\n")
                #expect(try host.ctl("start", "db").status == 0, "db's after names www now")
                #expect(FileManager.default.fileExists(atPath: webRoot))
                #expect(try host.ctl("status", "web").status != 0)
                #expect(try host.ctl("stop", "db").status == 0)
                #expect(try host.ctl("stop", "www").status == 0)
                #expect(try host.ctl("rename", "www", "db").stderr.contains("already exists"))
            }
        }

        /// A read-only config directory of db (a read-only bind mount) fails the last step, after the config
        /// directory and the root moved: both come back, and web works under its old name.
        @Test func aRenameThatFailsHalfwayLeavesTheOldNameWorking() async throws {
            try await withTestHost { host in
                let (webRoot, _) = try threeGuests(host)
                let dbDirectory = "\(host.configDirectory)/db"
                #expect(try run("/bin/mount", ["--bind", dbDirectory, dbDirectory]).status == 0)
                defer { _ = try? run("/bin/umount", [dbDirectory]) }
                #expect(try run("/bin/mount", ["-o", "remount,bind,ro", dbDirectory]).status == 0)

                // The library with the test's roots as the default place, so that the root moves too.
                var environment = LoaderEnvironment()
                environment.defaultRootDirectory = host.rootsDirectory
                let configs = ConfigLoader.load(directory: host.configDirectory, environment: environment)
                var rename = VServerRename(old: "web", new: "www", configDirectory: host.configDirectory,
                                           defaultRootDirectory: host.rootsDirectory)
                do {
                    _ = try rename.run(configs: configs)
                    Issue.record("the rename went through a read-only directory")
                } catch {
                    let message = "\(error)"
                    #expect(message.contains("\(dbDirectory)/vserver.toml") && message.contains("Read-only file system"),
                            "\(message)")
                }
                #expect(FileManager.default.fileExists(atPath: webRoot), "the root is back")
                #expect(!FileManager.default.fileExists(atPath: "\(host.rootsDirectory)/www"))
                let web = try String(contentsOfFile: "\(host.configDirectory)/web/vserver.toml", encoding: .utf8)
                #expect(web.contains("root = \"\(webRoot)\""), "\(web)")

                // Through the daemon: refused the same way, and the old name starts.
                try host.startDaemon()
                let refused = try host.ctl("rename", "web", "www")
                #expect(refused.status == 1 && refused.stderr.contains("Read-only file system"), "\(refused)")
                #expect(!FileManager.default.fileExists(atPath: "\(host.configDirectory)/www"))
                #expect(try host.ctl("start", "web").status == 0)
                #expect(try host.ctl("stop", "web").status == 0)
            }
        }

        @Test func deleteRemovesConfigAndRootOfAStoppedVServerAndNothingElse() async throws {
            try await withTestHost { host in
                let (webRoot, _) = try threeGuests(host)
                let dbRoot = "\(host.rootsDirectory)/db"
                try host.startDaemon()
                let dependents = try host.ctl("delete", "web", "--yes")
                #expect(dependents.status == 1 && dependents.stderr.contains("db, mail name it in after"),
                        "\(dependents)")
                let asked = try host.ctl("delete", "db")
                #expect(asked.status == 1 && asked.stderr.contains("add --yes"), "no terminal: \(asked)")
                #expect(try host.ctl("start", "web").status == 0)
                #expect(try host.ctl("start", "db").status == 0)
                #expect(try host.ctl("delete", "db", "--yes").stderr.contains("it is running: stop it first"))
                #expect(try host.ctl("stop", "db").status == 0)
                #expect(try host.ctl("stop", "web").status == 0)

                let deleted = try host.ctl("delete", "db", "--yes")
                #expect(deleted.status == 0 && deleted.stdout == "deleted db and its root \(dbRoot)\n", "\(deleted)")
                #expect(!FileManager.default.fileExists(atPath: dbRoot))
                #expect(!FileManager.default.fileExists(atPath: "\(host.configDirectory)/db"))
                #expect(try FileManager.default.contentsOfDirectory(atPath: host.configDirectory).sorted()
                            == ["mail", "web"], "nothing hidden left behind")
                #expect(!(try host.ctl("list").stdout.contains("db")))

                // mail still depends on web; once it is gone, web goes with --keep-root: its root stays.
                let mail = try host.ctl("delete", "mail", "--yes", "--keep-root")
                #expect(mail.status == 0, "\(mail)")
                let kept = try host.ctl("delete", "web", "--yes", "--keep-root")
                #expect(kept.status == 0 && kept.stdout == "deleted web (its root was kept)\n", "\(kept)")
                #expect(FileManager.default.fileExists(atPath: "\(webRoot)/vserver-marker"))
                #expect(try FileManager.default.contentsOfDirectory(atPath: host.configDirectory).isEmpty)
            }
        }
    }
}

/// Export and import-archive: a guest moved as one archive, and an untrusted archive that writes nothing outside.
extension Integration.Housekeeping {
    /// Files a root keeps only if the copy is exact: a hard link pair, a sparse file, an ACL, a file capability,
    /// a user xattr, a setuid file of another owner, a device node, a FIFO and a symlink leading out.
    static func addHardCases(_ root: String) throws {
        let script = """
            set -e
            cd "$1"
            echo one > hard1 && ln hard1 hard2
            truncate -s 100M sparse && echo data | dd of=sparse bs=1 seek=4096 conv=notrunc 2>/dev/null
            echo acl > acl && setfacl -m u:1234:rw acl
            cp bin/busybox ping && setcap cap_net_raw+ep ping
            echo x > xattr && python3 -c 'import os,sys; os.setxattr(sys.argv[1], "user.test", b"v")' "$1/xattr"
            echo s > setuid && chown 1234:1234 setuid && chmod 4755 setuid
            mknod null c 1 3 && mkfifo fifo && ln -s /etc/passwd passwd-link
            touch -d 2001-02-03 hard1 sparse
            """
        let result = try run("/bin/bash", ["-c", script, "bash", root])
        guard result.status == 0 else { throw TestFailure("\(result)") }
    }

    /// rsync's list of differences between two trees (-n: nothing is changed): empty when equal in everything.
    static func differences(_ a: String, _ b: String) throws -> String {
        let result = try run("/usr/bin/rsync", ["-naHAXS", "--numeric-ids", "--itemize-changes", "\(a)/", "\(b)/"])
        return result.status == 0 ? result.stdout : "\(result)"
    }

    @Test func exportAndImportArchiveMoveAGuestWithEverythingItsRootHas() async throws {
        try await withTestHost { host in
            let root = try host.addVServer("web", config: busyboxInit + "context = 1960\n")
            try Self.addHardCases(root)
            try host.addHook("web", "pre-start", "true")
            try host.startDaemon()
            #expect(try host.ctl("start", "web").status == 0)
            let running = try host.ctl("export", "web", "\(host.directory)/web.tar.zst")
            #expect(running.status == 1 && running.stderr.contains("it is running: stop it first"), "\(running)")
            #expect(try host.ctl("stop", "web").status == 0)

            let archive = "\(host.directory)/web.tar.zst"
            let exported = try host.ctl("export", "web", archive)
            #expect(exported.status == 0 && exported.stdout.hasPrefix("exported web to \(archive) ("), "\(exported)")
            #expect(exported.stderr.isEmpty, "no progress in a pipe: \(exported)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: archive)).prefix(4) == Data([0x28, 0xB5, 0x2F, 0xFD]))

            // Its hook acts on this host: refused until trusted, and nothing is left of the attempt.
            let copyRoot = "\(host.rootsDirectory)/copy"
            let untrusted = try host.ctl("import-archive", archive, "--name", "copy", "--root", copyRoot)
            #expect(untrusted.status == 1 && untrusted.stderr.contains("--trust-config"), "\(untrusted)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: host.rootsDirectory).sorted() == ["web"])
            let copied = try host.ctl("import-archive", archive, "--name", "copy", "--root", copyRoot,
                                      "--trust-config")
            #expect(copied.status == 0, "\(copied)")
            #expect(try Self.differences(root, copyRoot) == "", "the copy is the same tree")
            let context = try host.ctl("list", "--json").stdout
            #expect(context.contains("\"context\":1000") || context.contains("\"context\": 1000"),
                    "web keeps 1960, the copy gets a free one: \(context)")

            // Through a pipe, after web is deleted: it comes back under its own name and starts.
            let script = "\"$0\" export web - --compress gzip | \"$0\" import-archive - --name back --trust-config "
                + "--root \"$1\""
            var environment = ProcessInfo.processInfo.environment
            environment["VSERVERD_SOCKET"] = host.socket
            let piped = try run("/bin/bash", ["-c", script, Products.vserverctl, "\(host.rootsDirectory)/back"],
                                environment: environment)
            #expect(piped.status == 0 && piped.stdout.hasPrefix("imported back (context"), "\(piped)")
            #expect(try Self.differences(root, "\(host.rootsDirectory)/back") == "")
            #expect(try host.ctl("delete", "web", "--yes").status == 0)
            let restored = try host.ctl("import-archive", archive, "--root", root, "--trust-config")
            #expect(restored.status == 0 && restored.stdout.hasPrefix("imported web (context 1960"), "\(restored)")
            #expect(try Self.differences("\(host.rootsDirectory)/back", root) == "")
            #expect(try host.ctl("start", "web").status == 0)
            #expect(try host.ctl("exec", "web", "--", "cat", "/hard2").stdout == "one\n")
            #expect(try host.ctl("stop", "web").status == 0)
        }
    }

    /// An archive is untrusted: "../x", an absolute name and a symlink followed by a file through it write
    /// nothing outside, and the import is refused whole.
    @Test func aHostileArchiveWritesNothingOutsideTheNewRoot() async throws {
        try await withTestHost { host in
            try host.startDaemon()
            let outside = "\(host.directory)/outside"
            try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
            let archive = "\(host.directory)/evil.tar"
            let python = """
                import io, sys, tarfile
                archive, outside = sys.argv[1], sys.argv[2]
                def add(tar, name, data=b"x", kind=tarfile.REGTYPE, link=""):
                    info = tarfile.TarInfo(name); info.type = kind; info.linkname = link; info.size = len(data)
                    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
                with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
                    add(tar, "vserver/evil/vserver.toml", b'command = ["sleep", "1"]\\n')
                    add(tar, "root/", kind=tarfile.DIRTYPE)
                    add(tar, "../dotdot-x")
                    add(tar, outside + "/absolute-x")
                    add(tar, "root/link", kind=tarfile.SYMTYPE, link=outside)
                    add(tar, "root/link/through-link-x")
                """
            #expect(try run("/usr/bin/env", ["python3", "-c", python, archive, outside]).status == 0)
            let imported = try host.ctl("import-archive", archive, "--root", "\(host.rootsDirectory)/evil")
            #expect(imported.status == 1 && imported.stderr.contains("Member name contains '..'"), "\(imported)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty, "nothing written outside")
            #expect(!FileManager.default.fileExists(atPath: "\(host.rootsDirectory)/../dotdot-x"))
            #expect(!FileManager.default.fileExists(atPath: "\(host.directory)/dotdot-x"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: host.rootsDirectory).isEmpty,
                    "no root, no staging left")
            #expect(try FileManager.default.contentsOfDirectory(atPath: host.configDirectory).isEmpty)
        }
    }
}

extension Integration.Housekeeping {
    /// vserverctl with the host's socket, started without waiting for it, its signals as from a login shell.
    static func startCtl(_ host: TestHost, _ arguments: [String]) throws -> ChildProcess {
        let environment = ProcessInfo.processInfo.environment.merging(["VSERVERD_SOCKET": host.socket]) { $1 }
        return try ChildProcess([Products.vserverctl] + arguments, environment: environment)
    }

    /// Ctrl-C of vserverctl hangs up on the daemon, which stops tar and removes what it wrote: no archive, no
    /// partial file, no half-imported root or staging directory.
    @Test func ctrlCDuringExportAndImportLeavesNothing() async throws {
        try await withTestHost { host in
            let root = try host.addVServer("web", config: busyboxInit + "context = 1961\n")
            // 600 MB that zstd cannot shrink: long enough to be interrupted.
            let big = try run("/bin/dd", ["if=/dev/urandom", "of=\(root)/big", "bs=1M", "count=600", "status=none"])
            #expect(big.status == 0, "\(big)")
            try host.startDaemon()

            let archive = "\(host.directory)/web.tar.zst"
            let export = try Self.startCtl(host, ["export", "web", archive])
            try waitUntil("the export to write", timeout: .seconds(20)) {
                (try? FileManager.default.attributesOfItem(atPath: archive + ".partial")[.size] as? Int ?? 0) ?? 0
                    > 1_000_000
            }
            kill(export.pid, SIGINT)
            #expect(try export.wait() == 128 + SIGINT)
            try waitUntil("the partial archive to go") { !FileManager.default.fileExists(atPath: archive + ".partial") }
            #expect(!FileManager.default.fileExists(atPath: archive))
            try waitUntil("the staging directory to go") {
                try FileManager.default.contentsOfDirectory(atPath: host.stateDirectory).allSatisfy {
                    !$0.hasPrefix(".export-")
                }
            }

            // An import that reads from a FIFO the test fills slowly: interrupted while tar waits for more.
            #expect(try host.ctl("export", "web", "\(host.directory)/plain.tar").status == 0)
            let fifo = "\(host.directory)/fifo"
            #expect(mkfifo(fifo, 0o600) == 0)
            let importing = try Self.startCtl(host, ["import-archive", fifo, "--name", "copy", "--root",
                                                     "\(host.rootsDirectory)/copy"])
            let writer = try FileHandle(forWritingTo: URL(fileURLWithPath: fifo))
            let partial = try FileHandle(forReadingFrom: URL(fileURLWithPath: "\(host.directory)/plain.tar"))
            try writer.write(contentsOf: try partial.read(upToCount: 50_000_000) ?? Data())
            try waitUntil("the import to unpack", timeout: .seconds(20)) {
                try FileManager.default.contentsOfDirectory(atPath: host.rootsDirectory).contains {
                    $0.hasPrefix(".import-")
                }
            }
            kill(importing.pid, SIGINT)
            #expect(try importing.wait() == 128 + SIGINT)
            try waitUntil("the staging directory to go") {
                try FileManager.default.contentsOfDirectory(atPath: host.rootsDirectory) == ["web"]
            }
            try? writer.close()
            #expect(!FileManager.default.fileExists(atPath: "\(host.configDirectory)/copy"))
            #expect(!(try host.ctl("list").stdout.contains("copy")))
        }
    }

    /// On a terminal (under script(1)) export shows how far it is; in a pipe it prints only its result.
    @Test func exportShowsProgressOnATerminalOnly() async throws {
        try await withTestHost { host in
            let root = try host.addVServer("web", config: busyboxInit + "context = 1962\n")
            let files = try run("/bin/bash", ["-c", "mkdir \"$1/many\" && cd \"$1/many\" && touch $(seq 1 3000)",
                                              "bash", root])
            #expect(files.status == 0, "\(files)")
            try host.startDaemon()
            let command = "VSERVERD_SOCKET=\(host.socket) \(Products.vserverctl) export web \(host.directory)/a.tar"
            let terminal = try run("/usr/bin/script", ["-qec", command, "/dev/null"])
            #expect(terminal.status == 0 && terminal.stdout.contains("\rexport web: 3000 files"), "\(terminal)")
            let piped = try host.ctl("export", "web", "\(host.directory)/b.tar")
            #expect(piped.status == 0 && piped.stderr.isEmpty && !piped.stdout.contains("files\u{1B}"), "\(piped)")
        }
    }
}

extension Integration.Housekeeping {
    /// Acceptance 1 of issue 16: a clone on btrfs shares every extent with its source (du: next to nothing
    /// exclusive), has its own hostname, context and machine-id and no autostart, and a write in one leaves the
    /// other unchanged; on ext4 it is copied and says so.
    @Test(.requires(FileManager.default.isExecutableFile(atPath: "/usr/sbin/mkfs.btrfs"), "mkfs.btrfs"))
    func cloneSharesExtentsWhereTheFileSystemCanAndCopiesElsewhere() async throws {
        try await withTestHost { host in
            try withLoopFileSystem("btrfs") { disk in
                chmod(disk.mountPoint, 0o700)  // util-vserver's barrier
                let root = "\(disk.mountPoint)/web"
                #expect(try run("/bin/cp", ["-a", BaseRootfs.path, root]).status == 0)
                #expect(try run("/bin/dd", ["if=/dev/urandom", "of=\(root)/data", "bs=1M", "count=20",
                                           "status=none"]).status == 0)
                try host.addVServer("web", config: busyboxInit + "root = \"\(root)\"\ncontext = 1970\nautostart = true\n")
                try host.startDaemon()
                let start = try host.ctl("start", "web")
                #expect(start.status == 0, "\(start)")
                #expect(try host.ctl("clone", "web", "web2").stderr.contains("it is running: stop it first"))
                #expect(try host.ctl("stop", "web").status == 0)

                let cloned = try host.ctl("clone", "web", "web2", "--root", "\(disk.mountPoint)/web2")
                #expect(cloned.status == 0 && cloned.stdout.contains("sharing its extents with web"), "\(cloned)")
                #expect(cloned.stdout.hasPrefix("cloned web to web2 (context 1000, root \(disk.mountPoint)/web2)"))
                let config = try String(contentsOfFile: "\(host.configDirectory)/web2/vserver.toml", encoding: .utf8)
                #expect(!config.contains("autostart") && config.contains("hostname = \"web2\""), "\(config)")
                #expect(try host.ctl("start", "web2").status == 0)
                #expect(try host.ctl("exec", "web2", "--", "hostname").stdout == "web2\n")
                let machineID = try host.ctl("exec", "web2", "--", "cat", "/etc/machine-id").stdout
                #expect(machineID.count == 33, "a fresh machine-id: \(machineID)")
                #expect(try host.ctl("stop", "web2").status == 0)

                _ = try run("/bin/sync", [])
                let du = try host.ctl("du", "web2", "--json", "--config-dir", host.configDirectory)
                let usage = try JSONSerialization.jsonObject(with: Data(du.stdout.utf8)) as? [String: Any]
                let entry = (usage?["vservers"] as? [[String: Any]])?.first
                let shared = entry?["sharedBytes"] as? Int ?? 0
                let exclusive = entry?["exclusiveBytes"] as? Int ?? -1
                #expect(shared >= 20 << 20 && exclusive >= 0 && exclusive < 4 << 20, "\(du)")

                let before = try Data(contentsOf: URL(fileURLWithPath: "\(root)/data"))
                #expect(try run("/bin/dd", ["if=/dev/zero", "of=\(disk.mountPoint)/web2/data", "bs=1M", "count=1",
                                           "conv=notrunc", "status=none"]).status == 0)
                #expect(try Data(contentsOf: URL(fileURLWithPath: "\(root)/data")) == before, "the source is as it was")
                #expect(try Self.differences(root, "\(disk.mountPoint)/web2").contains("data"))
                #expect(try host.ctl("delete", "web2", "--yes").status == 0)
            }
            try withLoopFileSystem("ext4") { disk in
                chmod(disk.mountPoint, 0o700)
                let root = "\(disk.mountPoint)/small"
                #expect(try run("/bin/cp", ["-a", BaseRootfs.path, root]).status == 0)
                try host.addVServer("small", config: busyboxInit + "root = \"\(root)\"\ncontext = 1971\n")
                #expect(try host.ctl("reload").status == 0)
                let cloned = try host.ctl("clone", "small", "small2", "--root", "\(disk.mountPoint)/small2")
                #expect(cloned.status == 0 && cloned.stdout.contains(" copied\n")
                            && cloned.stderr.contains("no reflinks"), "\(cloned)")
                #expect(try Self.differences(root, "\(disk.mountPoint)/small2").split(separator: "\n")
                            .allSatisfy { $0.contains("etc/") }, "the same tree but its /etc/hostname and machine-id")
                #expect(try host.ctl("delete", "small2", "--yes").status == 0)
                #expect(try host.ctl("delete", "small", "--yes", "--keep-root").status == 0)
            }
        }
    }
}

extension Integration.Housekeeping {
    /// Acceptance 4 of issue 16: two guests with the same 50 files on btrfs: hashify saves their bytes (du
    /// before/after), leaves a listed conffile alone, and a write in one guest leaves the other's content; ext4 is
    /// refused with the reason.
    @Test(.requires(FileManager.default.isExecutableFile(atPath: "/usr/sbin/mkfs.btrfs"), "mkfs.btrfs"))
    func hashifySharesIdenticalFilesAcrossGuestsButNotTheirConffiles() async throws {
        try await withTestHost { host in
            try withLoopFileSystem("btrfs") { disk in
                chmod(disk.mountPoint, 0o700)
                let files = "\(disk.mountPoint)/files"
                // 50 files of 64 KiB, each different, written once and copied (not cloned) into both guests.
                #expect(try run("/bin/bash", ["-c", "mkdir \"$1\" && for i in $(seq 1 50); do head -c 65536 "
                                                 + "/dev/urandom > \"$1/f$i\"; done", "bash", files]).status == 0)
                for (index, name) in ["a", "b"].enumerated() {
                    let root = "\(disk.mountPoint)/\(name)"
                    #expect(try run("/bin/cp", ["-a", BaseRootfs.path, root]).status == 0)
                    #expect(try run("/bin/cp", ["-r", "--reflink=never", files, "\(root)/srv"]).status == 0)
                    try FileManager.default.createDirectory(atPath: "\(root)/var/lib/dpkg",
                                                            withIntermediateDirectories: true)
                    try "Package: site\nStatus: install ok installed\nConffiles:\n /srv/f1 0123456789abcdef\n\n"
                        .write(toFile: "\(root)/var/lib/dpkg/status", atomically: true, encoding: .utf8)
                    try host.addVServer(name, config: busyboxInit + "root = \"\(root)\"\ncontext = \(1980 + index)\n")
                }
                try host.startDaemon()
                _ = try run("/bin/sync", [])
                func shared() throws -> Int {
                    _ = try run("/bin/sync", [])
                    let du = try host.ctl("du", "b", "--json", "--config-dir", host.configDirectory)
                    let usage = try JSONSerialization.jsonObject(with: Data(du.stdout.utf8)) as? [String: Any]
                    return (usage?["vservers"] as? [[String: Any]])?.first?["sharedBytes"] as? Int ?? -1
                }
                let before = try shared()

                // The 49 files but the conffile, and the busybox binary both roots have.
                let busybox = try FileManager.default.attributesOfItem(atPath: "\(BaseRootfs.path)/bin/busybox")[.size]
                let expected = 49 * 65536 + (busybox as? Int ?? 0)
                let dry = try host.ctl("hashify", "a", "b", "--dry-run")
                #expect(dry.status == 0 && dry.stdout.contains("would share 50 files")
                            && dry.stdout.contains("(\(expected) bytes) saved; 2 left alone"), "\(dry)")
                #expect(try shared() == before, "a dry run shares nothing")
                let done = try host.ctl("hashify", "--all")
                #expect(done.status == 0 && done.stdout.contains("shared 50 files")
                            && done.stdout.contains("(\(expected) bytes) saved"), "\(done)")
                #expect(try shared() >= before + 49 * 65536, "du sees the bytes shared")
                let conffile = try run("/usr/bin/cmp", ["\(disk.mountPoint)/a/srv/f1", "\(disk.mountPoint)/b/srv/f1"])
                #expect(conffile.status == 0, "still equal, only not shared")

                let original = try Data(contentsOf: URL(fileURLWithPath: "\(disk.mountPoint)/b/srv/f2"))
                #expect(try run("/bin/dd", ["if=/dev/zero", "of=\(disk.mountPoint)/a/srv/f2", "bs=4096", "count=1",
                                           "conv=notrunc", "status=none"]).status == 0)
                #expect(try Data(contentsOf: URL(fileURLWithPath: "\(disk.mountPoint)/b/srv/f2")) == original)
                #expect(try host.ctl("delete", "a", "--yes", "--keep-root").status == 0)
                #expect(try host.ctl("delete", "b", "--yes", "--keep-root").status == 0)
            }
            try withLoopFileSystem("ext4") { disk in
                chmod(disk.mountPoint, 0o700)
                let root = "\(disk.mountPoint)/c"
                #expect(try run("/bin/cp", ["-a", BaseRootfs.path, root]).status == 0)
                try host.addVServer("c", config: busyboxInit + "root = \"\(root)\"\ncontext = 1982\n")
                #expect(try host.ctl("reload").status == 0)
                let refused = try host.ctl("hashify", "c")
                #expect(refused.status == 1 && refused.stderr.contains("cannot share extents"), "\(refused)")
            }
        }
    }
}

extension Integration.Housekeeping {
    /// Ctrl-C during a clone: the copy stops and neither its root nor a config is left.
    @Test func ctrlCDuringACloneLeavesNothing() async throws {
        try await withTestHost { host in
            let root = try host.addVServer("web", config: busyboxInit + "context = 1990\n")
            let made = try run("/usr/bin/env", ["python3", "-c", """
                import os, sys
                base = sys.argv[1]
                for d in range(100):
                    os.mkdir(f"{base}/many{d}")
                    for f in range(100):
                        with open(f"{base}/many{d}/{f}", "w") as out: out.write(str(f))
                """, root])
            #expect(made.status == 0, "\(made)")
            try host.startDaemon()
            let copy = "\(host.rootsDirectory)/copy"
            let clone = try Self.startCtl(host, ["clone", "web", "copy", "--root", copy])
            try waitUntil("the copy to begin", timeout: .seconds(20)) { FileManager.default.fileExists(atPath: copy) }
            kill(clone.pid, SIGINT)
            #expect(try clone.wait() == 128 + SIGINT)
            try waitUntil("the copy to be removed") { !FileManager.default.fileExists(atPath: copy) }
            #expect(try FileManager.default.contentsOfDirectory(atPath: host.configDirectory) == ["web"])
            #expect(!(try host.ctl("list").stdout.contains("copy")))
        }
    }
}
