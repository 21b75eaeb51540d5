import Foundation
import Testing

/// Issue 10, findings 1, 3 and 11: hooks anyone but root could change never run; a root outside util-vserver's
/// barrier is refused; a context, once given, stays with its vserver.
extension Integration {
    @Suite struct ConfigTrust {
        /// A hook that leaves a marker when it runs.
        private static func markerHook(_ marker: String) -> String { "touch \(marker)" }

        private static let nobody: uid_t = 65534

        /// Acceptance 1: a hook, a `.d` entry, a scripts directory and a vserver's config directory others can write,
        /// and a symlink in scripts/ to a script outside the tree: each start is refused naming the path, before
        /// any hook ran; `check` says the same.
        @Test func hooksAnyoneButRootCouldChangeAreRefusedBeforeAnyHookRuns() async throws {
            try await withTestHost { host in
                let etc = host.configDirectory
                let marker = { (name: String) in "\(host.directory)/\(name).ran" }
                let cases: [(name: String, path: String, reason: String)] = [
                    ("hook", "\(etc)/hook/scripts/pre-start", "owned by uid 65534, not root"),
                    ("part", "\(etc)/part/scripts/pre-start.d/10-part", "writable by group (mode 0775)"),
                    ("dir", "\(etc)/dir/scripts", "writable by others (mode 0757)"),
                    ("conf", "\(etc)/conf", "owned by uid 65534"),
                    ("link", "\(etc)/link/scripts/pre-start", "is a symbolic link"),
                ]
                for (name, _, _) in cases + [("fine", "", "")] {
                    try host.addVServer(name, config: busyboxInit)
                }
                for name in ["hook", "dir", "conf", "fine"] {
                    try host.addHook(name, "pre-start", Self.markerHook(marker(name)))
                }
                try host.addHook("part", "pre-start.d/10-part", Self.markerHook(marker("part")))
                chown("\(etc)/hook/scripts/pre-start", Self.nobody, Self.nobody)
                chmod("\(etc)/part/scripts/pre-start.d/10-part", 0o775)
                chmod("\(etc)/dir/scripts", 0o757)
                chown("\(etc)/conf", Self.nobody, Self.nobody)
                // Root's own script, but outside the config tree: whoever can write there decides what runs.
                let outside = "\(host.directory)/outside.sh"
                try "#!/bin/sh\ntouch \(marker("link"))\n".write(toFile: outside, atomically: true, encoding: .utf8)
                chmod(outside, 0o755)
                try FileManager.default.createDirectory(atPath: "\(etc)/link/scripts",
                                                        withIntermediateDirectories: true)
                symlink(outside, "\(etc)/link/scripts/pre-start")

                try host.startDaemon()
                for (name, path, reason) in cases {
                    let start = try host.ctl("start", name)
                    #expect(start.status == 1, "\(name): \(start)")
                    #expect(start.stderr.hasPrefix("vserverctl: start \(name): invalid config: \(path): \(reason)"),
                            "\(name): \(start)")
                    #expect(!FileManager.default.fileExists(atPath: marker(name)), "\(name): no hook ran")
                    #expect(!FileManager.default.fileExists(atPath: "\(host.stateDirectory)/\(name).json"))
                    let check = try host.ctl("check", name, "--config-dir", etc)
                    #expect(check.status == 1 && check.stdout.contains("\(path): \(reason)"), "\(name): \(check)")
                }
                // The control: the same hook in a tree only root can change runs.
                #expect(try host.ctl("start", "fine").status == 0)
                #expect(FileManager.default.fileExists(atPath: marker("fine")))
            }
        }

        /// The tree may change after the configs were read: each start checks every flavour again before its first
        /// hook, so a bad post-start script stops even the pre-start one.
        @Test func aHookMadeWritableAfterLoadingIsRefusedAtStart() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit)
                let marker = "\(host.directory)/pre-start.ran"
                try host.addHook("web", "pre-start", Self.markerHook(marker))
                try host.addHook("web", "post-start", "true")
                try host.startDaemon()
                let post = "\(host.configDirectory)/web/scripts/post-start"
                chmod(post, 0o777)
                let start = try host.ctl("start", "web")
                #expect(start.status == 1)
                #expect(start.stderr == "vserverctl: start web: invalid config: \(post): writable by group and "
                            + "others (mode 0777): hook scripts run as root, so they and every directory above them "
                            + "must be writable by root only\n")
                #expect(!FileManager.default.fileExists(atPath: marker), "not even the pre-start hook ran")
            }
        }

        /// Acceptance 4, first part: a root whose parent host users may enter is refused by check and start, also
        /// when the parent changed after the configs were loaded.
        @Test func aRootWhoseParentIsNotABarrierIsRefused() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit)
                try host.startDaemon()
                chmod(host.rootsDirectory, 0o755)
                let start = try host.ctl("start", "web")
                #expect(start.status == 1)
                #expect(start.stderr == "vserverctl: start web: root \(host.rootsDirectory)/web: its parent "
                            + "\(host.rootsDirectory) has mode 0755 and owner root, so host users can reach into the "
                            + "guest's files (setuid programs its root made): run `chmod 0700 \(host.rootsDirectory)` "
                            + "(util-vserver's barrier: root's, mode 0700 or 0000)\n")
                #expect(!FileManager.default.fileExists(atPath: "\(host.stateDirectory)/web.json"))
                let check = try host.ctl("check", "web", "--config-dir", host.configDirectory)
                #expect(check.status == 1)
                #expect(check.stdout.contains("root: \(host.rootsDirectory)/web: its parent \(host.rootsDirectory) "
                                                  + "has mode 0755 and owner root"), "\(check)")
                chmod(host.rootsDirectory, 0o700)
                #expect(try host.ctl("start", "web").status == 0)
            }
        }

        /// Acceptance 4, second part: a setuid-root shell made inside a running guest cannot be run by a host user
        /// through the root's path. The test host's own directory is opened up, so only the barrier stands between:
        /// a guest whose roots' directory host users may enter does not start, and one behind it keeps them out.
        @Test func aSetuidShellMadeInsideCannotBeRunByAHostUser() async throws {
            try await withTestHost { host in
                chmod(host.directory, 0o755)
                let root = try host.addVServer("web", config: busyboxInit)
                try host.startDaemon()
                chmod(host.rootsDirectory, 0o755)
                let unguarded = try host.ctl("start", "web")
                #expect(unguarded.status == 1, "no guest runs outside the barrier: \(unguarded)")
                if unguarded.status != 0 {
                    chmod(host.rootsDirectory, 0o700)
                    #expect(try host.ctl("start", "web").status == 0)
                }
                let plant = try host.ctl("exec", "web", "--", "/bin/sh", "-c",
                                         "mkdir -p /suid && cp /bin/busybox /suid/sh && chmod 4755 /suid/sh")
                #expect(plant.status == 0, "\(plant)")
                var status = stat()
                #expect(lstat("\(root)/suid/sh", &status) == 0 && status.st_mode & 0o7777 == 0o4755
                            && status.st_uid == 0, "the setuid-root copy is there")
                // From a shell of nobody's, as a host user would: setpriv's own exec still passes the barrier (it
                // walks the path before the kernel drops the capabilities setpriv kept for it).
                let attempt = try run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups",
                                                           "/bin/sh", "-c", "exec \(root)/suid/sh -c 'id -u'"])
                #expect(attempt.status == 126, "\(attempt)")
                #expect(attempt.stderr == "/bin/sh: 1: exec: \(root)/suid/sh: Permission denied\n", "\(attempt)")
                #expect(attempt.stdout.trimmingCharacters(in: .whitespacesAndNewlines) != "0")
            }
        }

        /// What `vserverctl list --json` says each vserver's context is.
        private func contexts(_ host: TestHost) throws -> [String: Int] {
            let list = try host.ctl("list", "--json")
            let object = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any]
            let vservers = object?["vservers"] as? [[String: Any]] ?? []
            var contexts: [String: Int] = [:]
            for vserver in vservers {
                if let name = vserver["name"] as? String, let context = vserver["context"] as? Int {
                    contexts[name] = context
                }
            }
            return contexts
        }

        /// Acceptance 11: adding a config that sorts before two running guests without `context`, reloading and
        /// restarting vserverd moves no context; the newcomer gets a new one and starts.
        @Test func aContextOnceGivenStaysThroughReloadAndRestart() async throws {
            try await withTestHost { host in
                try host.addVServer("db", config: busyboxInit)
                try host.addVServer("web", config: busyboxInit)
                try host.startDaemon()
                #expect(try host.ctl("start", "db", "web").status == 0)
                let before = try contexts(host)
                #expect(before == ["db": 1000, "web": 1001])
                let pids = [try host.guestPID("db"), try host.guestPID("web")]

                try host.addVServer("app", config: busyboxInit)
                #expect(try host.ctl("reload").status == 0)
                #expect(try contexts(host) == ["app": 1002, "db": 1000, "web": 1001])

                host.killDaemon()
                try host.startDaemon()
                #expect(try [host.guestPID("db"), host.guestPID("web")] == pids, "the guests were re-adopted")
                #expect(try contexts(host) == ["app": 1002, "db": 1000, "web": 1001])
                let start = try host.ctl("start", "app")
                #expect(start.status == 0, "\(start)")
                let record = try String(contentsOfFile: "\(host.libDirectory)/contexts", encoding: .utf8)
                #expect(record.hasSuffix("\napp 1002\ndb 1000\nweb 1001\n"))
                let check = try host.ctl("check", "app", "--config-dir", host.configDirectory)
                #expect(check.stdout == "app: ok (context 1002 (assigned, recorded in \(host.libDirectory)/contexts), "
                            + "root \(host.rootsDirectory)/app)\n", "\(check)")
            }
        }
    }
}
