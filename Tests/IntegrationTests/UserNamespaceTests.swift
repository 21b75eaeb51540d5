import Foundation
import Testing

/// `user = true`: root inside is uid context*65536 outside, and nothing more.
extension Integration {
    @Suite struct UserNamespace {
        static let context = 1000
        static let base = 1000 * 65536

        /// A vserver with user = true whose root belongs to its id range, as the admin prepares it.
        private func addShiftedVServer(_ host: TestHost, _ name: String, extra: String = "") throws -> String {
            let root = try host.addVServer(name, config: busyboxInit + """
                context = \(Self.context)
                \(extra)
                [namespaces]
                user = true

                """)
            let chown = try run("/bin/chown", ["-R", "\(Self.base):\(Self.base)", root])
            guard chown.status == 0 else { throw TestFailure("chown: \(chown)") }
            return root
        }

        @Test func rootInsideIsTheContextsRangeOutside() async throws {
            try await withTestHost { host in
                let root = try addShiftedVServer(host, "web")
                // A file of the host's root inside the tree: root of the guest is not the host's root.
                try "secret\n".write(toFile: "\(root)/host-secret", atomically: true, encoding: .utf8)
                chmod("\(root)/host-secret", 0o600)
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                let guest = try host.guestPID("web")

                let map = "0 \(Self.base) 65536"
                for file in ["uid_map", "gid_map"] {
                    let text = try String(contentsOfFile: "/proc/\(guest)/\(file)", encoding: .utf8)
                    #expect(text.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
                            == map + "\n", "\(file): \(text)")
                }
                #expect(try namespace("user", of: guest) != namespace("user", of: getpid()))
                #expect(try owner(of: "/proc/\(guest)") == Self.base, "the host sees PID 1 as uid \(Self.base)")

                #expect(try host.ctl("exec", "web", "--", "id", "-u").stdout == "0\n", "root inside")
                #expect(try host.ctl("exec", "web", "--", "touch", "/tmp/made-inside").status == 0)
                #expect(try owner(of: "\(root)/tmp/made-inside") == Self.base)
                let secret = try host.ctl("exec", "web", "--", "cat", "/host-secret")
                #expect(secret.status == 1 && secret.stdout.isEmpty, "\(secret)")
                #expect(secret.stderr == "cat: can't open '/host-secret': Permission denied\n", "\(secret)")
                #expect(try owner(of: "\(host.logDirectory)/web.log") == 0, "the daemon writes its console log")
                #expect(try host.ctl("stop", "web").status == 0)
            }
        }

        /// A tree of the host's root, untouched: the root and a bind source are idmapped, so the guest's root owns
        /// them, and what it writes lands on disk with the tree's own ids, not the context's range.
        @Test func anUntouchedTreeAndItsBindSourcesAreIdmapped() async throws {
            try await withTestHost { host in
                let shared = "\(host.rootsDirectory)/shared"
                try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
                let root = try host.addVServer("web", config: busyboxInit + """
                    context = \(Self.context)

                    [namespaces]
                    user = true

                    [[mount]]
                    source = "\(shared)"
                    target = "/mnt/shared"
                    options = ["bind"]

                    """)
                #expect(try owner(of: root) == 0, "the tree keeps the host's ids")
                try host.startDaemon()
                let start = try host.ctl("start", "web")
                #expect(start.status == 0, "\(start)")
                #expect(!host.daemonLogText.contains("idmapped mount of"), "\(host.daemonLogText)")
                let owners = try host.ctl("exec", "web", "--", "stat", "-c", "%u", "/", "/bin/busybox", "/mnt/shared")
                #expect(owners.stdout == "0\n0\n0\n", "\(owners)")
                #expect(try host.ctl("exec", "web", "--", "touch", "/made-inside", "/mnt/shared/made-inside").status == 0)
                #expect(try owner(of: "\(root)/made-inside") == 0)
                #expect(try owner(of: "\(shared)/made-inside") == 0)
                // The guest's pid namespace is still its own user namespace's: root inside, context*65536 outside.
                #expect(try owner(of: "/proc/\(try host.guestPID("web"))") == Self.base)
                #expect(try host.ctl("stop", "web").status == 0)
            }
        }

        /// Acceptance 7: the guest's root has CAP_SYS_ADMIN over its mount namespace, yet the masks and read-only
        /// parts of /proc are locked: it can neither unmount them (not in a copy of the namespace either), nor make
        /// them writable, nor mount a fresh proc without them.
        @Test func theGuestsRootCannotRemoveTheMasks() async throws {
            try await withTestHost { host in
                _ = try addShiftedVServer(host, "web")
                try host.startDaemon()
                let start = try host.ctl("start", "web")
                #expect(start.status == 0, "\(start)")
                // Which masks exist depends on the kernel's configuration; timer_list does on every test machine.
                let masked = try ["/proc/timer_list", "/proc/sched_debug", "/proc/keys"].filter {
                    try host.ctl("exec", "web", "--", "test", "-e", $0).status == 0
                }
                #expect(masked.contains("/proc/timer_list"), "\(masked)")
                // Each attempt on its own: the ones that leave the guest's namespace as it was come first.
                for options in ["remount,rw", "remount,bind,rw"] {
                    let result = try host.ctl("exec", "web", "--", "mount", "-o", options, "/proc/sys")
                    #expect(result.status == 1, "\(options) of /proc/sys succeeded: \(result)")
                    #expect(result.stderr == "mount: permission denied (are you root?)\n", "\(result)")
                }
                let proc = try host.ctl("exec", "web", "--", "sh", "-c", "mkdir -p /tmp/p && mount -t proc proc /tmp/p")
                #expect(proc.status == 1, "a fresh proc without the masks: \(proc)")
                #expect(proc.stderr == "mount: permission denied (are you root?)\n", "\(proc)")
                for path in masked + ["/proc/sys"] {
                    for attempt in [["unshare", "-m", "umount", "-l", path], ["umount", path], ["umount", "-l", path]] {
                        let result = try host.ctl(["exec", "web", "--"] + attempt)
                        #expect(result.status == 1, "\(attempt.joined(separator: " ")) succeeded: \(result)")
                        // EINVAL: a locked mount (MNT_LOCKED) cannot be unmounted from a less privileged namespace.
                        #expect(result.stderr == "umount: can't unmount \(path): Invalid argument\n", "\(result)")
                    }
                }
                for path in masked {
                    let size = try host.ctl("exec", "web", "--", "sh", "-c", "wc -c < \(path)")
                    #expect(size.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "\(path): \(size)")
                }
                #expect(try host.ctl("exec", "web", "--", "id", "-u").stdout == "0\n", "the guest still works")
                #expect(try host.ctl("stop", "web").status == 0)
            }
        }

        /// The opt-out for container runtimes inside: the same guest with `nesting = true` may mount a proc.
        @Test func withNestingTheGuestMayMountAProcForItsOwnContainers() async throws {
            try await withTestHost { host in
                _ = try addShiftedVServer(host, "web", extra: "[security]\nnesting = true\n")
                try host.startDaemon()
                let start = try host.ctl("start", "web")
                #expect(start.status == 0, "\(start)")
                let proc = try host.ctl("exec", "web", "--", "sh", "-c", "mkdir -p /tmp/p && mount -t proc proc /tmp/p")
                #expect(proc.status == 0, "\(proc)")
                #expect(try host.ctl("stop", "web").status == 0)
            }
        }

        @Test func withAPrivateNetworkSysfsIsItsOwn() async throws {
            try await withTestHost { host in
                _ = try addShiftedVServer(host, "web")
                try host.addVServer("web", config: busyboxInit + """
                    context = \(Self.context)

                    [namespaces]
                    user = true
                    net = "none"

                    """)
                try host.startDaemon()
                let start = try host.ctl("start", "web")
                #expect(start.status == 0, "\(start)")
                #expect(try host.ctl("exec", "web", "--", "ls", "/sys/class/net").stdout == "lo\n")
                let devices = try host.ctl("exec", "web", "--", "sh", "-c", "echo x > /dev/null && head -c 3 /dev/zero | wc -c")
                #expect(devices.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "3", "\(devices)")
            }
        }
    }
}

private func owner(of path: String) throws -> Int {
    var status = stat()
    guard stat(path, &status) == 0 else { throw TestFailure("stat \(path): \(String(cString: strerror(errno)))") }
    return Int(status.st_uid)
}
