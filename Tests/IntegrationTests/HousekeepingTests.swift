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
