import Foundation
import Testing

/// Issue 14: `vserverctl import` of util-vserver trees: every file reported, `--strict`, several guests at once.
extension Integration {
    @Suite struct UtilVServerImport {
        /// A tree as util-vserver's `vserver NAME build` and vserver-setup.functions write it.
        static let webFiles: [(String, String)] = [
            ("name", "web\n"), ("context", "1510\n"), ("uts/nodename", "web\n"),
            ("interfaces/0/name", "web\n"), ("interfaces/0/dev", "eth0\n"), ("interfaces/0/ip", "192.0.2.20\n"),
            ("interfaces/0/prefix", "24\n"),
            ("apps/init/mark", "default\n"), ("apps/init/depends", "db\n"), ("apps/init/style", "plain\n"),
            ("bcapabilities", "SYS_NICE\n"), ("flags", "virt_mem\n"),
            ("rlimits/nproc", "200\n"), ("rlimits/rss", "25600\n"), ("schedule", "30\n1\n100\n"), ("nice", "5\n"),
            ("cpuset/name", "web\n"), ("cpuset/cpus", "0\n"), ("cpuset/mems", "0\n"),
            ("fstab", "none\t/proc\t\tproc\tdefaults\t\t0 0\nnone\t/tmp\t\ttmpfs\tsize=16m,mode=1777\t0 0\n"
                + "none\t/dev/pts\tdevpts\tgid=5,mode=620\t\t0 0\n"),
        ]

        func write(_ host: TestHost, _ name: String, _ files: [(String, String)]) throws -> String {
            let root = "\(host.rootsDirectory)/\(name)"
            #expect(try run("/bin/cp", ["-a", BaseRootfs.path, root]).status == 0)
            let old = "\(host.directory)/old-etc/\(name)"
            for (relative, text) in files {
                let file = "\(old)/\(relative)"
                try FileManager.default.createDirectory(
                    atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try text.write(toFile: file, atomically: true, encoding: .utf8)
            }
            try FileManager.default.createSymbolicLink(atPath: "\(old)/vdir", withDestinationPath: root)
            try FileManager.default.createSymbolicLink(atPath: "\(old)/run", withDestinationPath:
                "/var/run/vservers/\(name)")
            try FileManager.default.createSymbolicLink(atPath: "\(old)/cache", withDestinationPath:
                "/etc/vservers/.defaults/cachebase/\(name)")
            return old
        }

        /// util-vserver's prepre-start runs right before pre-start, postpost-stop right after post-stop, each with
        /// its own name as $1; a script that is not executable is named by `check`.
        @Test func prepreStartAndPostpostStopHooksRunAroundPreStartAndPostStop() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit + "context = 1512\n")
                let log = "\(host.directory)/hooks.log"
                for name in ["prepre-start", "pre-start", "post-start", "pre-stop", "post-stop", "postpost-stop"] {
                    try host.addHook("web", name, "echo \"\(name) argv=$1 hook=$VSERVER_HOOK\" >> \(log)")
                }
                let sourced = "\(host.configDirectory)/web/scripts/postpost-stop.d/10-sourced"
                try FileManager.default.createDirectory(
                    atPath: (sourced as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try "echo sourced >> \(log)\n".write(toFile: sourced, atomically: true, encoding: .utf8)
                let check = try host.ctl("check", "--config-dir", host.configDirectory)
                #expect(check.stdout.contains("\(sourced): ignored: not executable"), "\(check)")

                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                #expect(try host.ctl("stop", "web").status == 0)
                let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map(String.init)
                #expect(lines == [
                    "prepre-start argv=prepre-start hook=pre-start", "pre-start argv=pre-start hook=pre-start",
                    "post-start argv=post-start hook=post-start", "pre-stop argv=pre-stop hook=pre-stop",
                    "post-stop argv=post-stop hook=post-stop", "postpost-stop argv=postpost-stop hook=post-stop",
                ])
            }
        }

        @Test func reportListsEveryFileStrictRefusesAndWebBeforeDbWorks() async throws {
            try await withTestHost { host in
                let web = try write(host, "web", Self.webFiles)
                let db = try write(host, "db", [("context", "1511\n"), ("apps/init/mark", "default\n")])
                let directory = host.configDirectory

                // --all finds both in the copy of the old /etc/vservers; db comes first.
                let all = try host.ctl("import", "--all", "\(host.directory)/old-etc", "--dry-run", "--config-dir",
                                       directory)
                #expect(all.status == 0, "\(all)")
                let dbToml = all.stdout.range(of: "# \(directory)/db/vserver.toml")
                let webToml = all.stdout.range(of: "# \(directory)/web/vserver.toml")
                #expect(dbToml != nil && webToml != nil && dbToml!.lowerBound < webToml!.lowerBound, "\(all)")

                let strict = try host.ctl("import", "--strict", web, db, "--config-dir", directory)
                #expect(strict.status == 1, "\(strict)")
                for file in ["flags", "schedule", "nice", "run", "cache"] {
                    #expect(strict.stderr.contains("web: \(web)/\(file):"), "\(file) named: \(strict)")
                }
                #expect(strict.stderr.contains("nothing written"), "\(strict)")
                #expect(!FileManager.default.fileExists(atPath: "\(directory)/web"), "nothing written")
                #expect(!FileManager.default.fileExists(atPath: "\(directory)/db"), "nothing written")

                // web before db on one command line.
                let imported = try host.ctl("import", "--report", web, db, "--config-dir", directory)
                #expect(imported.status == 0, "\(imported)")
                let lines = imported.stdout.split(separator: "\n").map(String.init)
                var rows: [String: [String]] = [:]
                var current = ""
                for line in lines {
                    if line.hasSuffix(":"), line.contains(": files of ") {
                        current = String(line.prefix { $0 != ":" })
                    } else if line.hasPrefix("  ") {
                        let columns = line.dropFirst(2).split(separator: " ", maxSplits: 1)
                        if columns.count == 2 {
                            rows[current + "/" + columns[0], default: []].append(
                                columns[1].trimmingCharacters(in: .whitespaces))
                        }
                    }
                }
                let every = Self.webFiles.map(\.0) + ["vdir", "run", "cache"]
                for file in every { #expect(rows["web/\(file)"] != nil, "web/\(file) in the report: \(imported)") }
                for file in ["context", "uts/nodename", "vdir", "apps/init/mark", "apps/init/depends",
                             "interfaces/0/ip", "rlimits/nproc"] {
                    #expect(rows["web/\(file)"] == ["used"], "web/\(file): \(imported)")
                }
                #expect(rows["web/run"]?.first?.hasPrefix("ignored: vserverd does not read it (a symlink") == true,
                        "\(imported)")
                #expect(rows["web/nice"]?.first?.hasPrefix("approximated as") == true, "\(imported)")
                #expect(rows["db/context"] == ["used"], "\(imported)")
                let wroteDb = imported.stdout.range(of: "db: wrote")
                let wroteWeb = imported.stdout.range(of: "web: wrote")
                #expect(wroteDb != nil && wroteWeb != nil && wroteDb!.lowerBound < wroteWeb!.lowerBound,
                        "db first: \(imported)")

                let check = try host.ctl("check", "--config-dir", directory)
                #expect(check.stdout.contains("web: ok") || check.stdout.contains("web: warning"), "\(check)")
                #expect(!check.stdout.contains("web: error"), "\(check)")
                let toml = try String(contentsOfFile: "\(directory)/web/vserver.toml", encoding: .utf8)
                #expect(toml.contains("after = [\"db\"]"), "\(toml)")
            }
        }
    }
}
