import Foundation
import Testing
import VServerTestSupport

/// What issue 9 gave guests (CAP_SYS_BOOT, a cgroup of their own, a stop through their init's FIFO) attacked from
/// inside: each reaches no further than the guest itself.
extension Integration {
    @Suite struct Confinement {
        /// A static program that calls kexec_load and kexec_file_load with flags the kernel refuses (EINVAL) once it
        /// has let the caller through its CAP_SYS_BOOT check, or that a kernel without kexec does not know (ENOSYS,
        /// as on this project's test machines): EPERM means something stopped the call before. Built with the
        /// host's C compiler: guests have none.
        private static func kexecProbe(in directory: String) throws -> String {
            let source = "\(directory)/kexec-probe.c"
            try """
                #include <errno.h>
                #include <stdio.h>
                #include <sys/syscall.h>
                #include <unistd.h>
                static const char *outcome(long r) {
                    return r == 0 ? "ok" : errno == EPERM ? "EPERM" : errno == EINVAL || errno == ENOSYS ? "passed"
                        : "other";
                }
                int main(void) {
                    long load = syscall(SYS_kexec_load, 0UL, 0UL, (void *)0, 0xffff0000UL);
                    printf("kexec_load %s\\n", outcome(load));
                    long file = syscall(SYS_kexec_file_load, -1, -1, 0UL, (void *)0, 0xffffffffUL);
                    printf("kexec_file_load %s\\n", outcome(file));
                    return 0;
                }

                """.write(toFile: source, atomically: true, encoding: .utf8)
            let binary = "\(directory)/kexec-probe"
            let compile = try run("/usr/bin/cc", ["-static", "-O", "-o", binary, source])
            guard compile.status == 0 else { throw TestFailure("cc: \(compile)") }
            return binary
        }

        @Test(.requires(FileManager.default.isExecutableFile(atPath: "/usr/bin/cc"), "a C compiler"))
        func kexecIsDeniedToGuestsThatMayRebootTheirPidNamespace() async throws {
            try await withTestHost { host in
                let probe = try Self.kexecProbe(in: host.directory)
                // The host's root gets past the capability check (or finds no kexec): the probe tells that apart
                // from a denial.
                #expect(try run(probe, []).stdout == "kexec_load passed\nkexec_file_load passed\n")

                let root = try host.addVServer("web", config: busyboxInit + "context = 1200\n")
                let copy = try run("/bin/cp", [probe, "\(root)/kexec-probe"])
                #expect(copy.status == 0, "\(copy)")
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                let guest = try host.guestPID("web")
                let status = try String(contentsOfFile: "/proc/\(guest)/status", encoding: .utf8)
                let bounding = status.split(separator: "\n").first { $0.hasPrefix("CapBnd:") }
                    .flatMap { UInt64($0.split(separator: "\t").last ?? "", radix: 16) } ?? 0
                #expect(bounding & (1 << 22) != 0, "the guest keeps CAP_SYS_BOOT: \(status)")
                #expect(status.contains("Seccomp_filters:\t1"), "\(status)")
                // Its init's children and a command joined with exec: the filter is on both.
                let inside = try host.ctl("exec", "web", "--", "/kexec-probe")
                #expect(inside.stdout == "kexec_load EPERM\nkexec_file_load EPERM\n", "\(inside)")

                // The same capability reboots the guest's own pid namespace, and nothing more.
                _ = try host.ctl("exec", "web", "--", "reboot", "-f")
                try host.waitForNewPID1("web", otherThan: guest)
                _ = try host.ctl("exec", "web", "--", "poweroff", "-f")
                try waitUntil("web to stay stopped after its poweroff") {
                    try host.ctl("status", "web").status == 3
                }
                let list = try host.ctl("list", "--json")
                #expect(list.stdout.contains("powered off or halted from inside"), "\(list)")
            }
        }

        /// A guest found to run sysvinit is stopped through its /run/initctl. A guest may make that a symlink to a
        /// FIFO of the host's: vserverd resolves it inside the guest's root and writes nothing to the host's.
        @Test func stoppingASysvinitGuestNeverFollowsItsInitctlToTheHost() async throws {
            try await withTestHost { host in
                let fifo = "\(host.directory)/host-fifo"
                #expect(mkfifo(fifo, 0o600) == 0)
                let reader = open(fifo, O_RDONLY | O_NONBLOCK)
                #expect(reader >= 0)
                defer { close(reader) }

                let root = try host.addVServer("web", config: "context = 1201\nstop-timeout = 1\n")
                // Its /sbin/init is no busybox link and it has an inittab: vserverd takes it for sysvinit.
                #expect(unlink("\(root)/sbin/init") == 0)
                #expect(try run("/bin/cp", ["\(root)/bin/busybox", "\(root)/sbin/init"]).status == 0)
                try FileManager.default.createDirectory(atPath: "\(root)/run", withIntermediateDirectories: true)
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                // Planted from inside, after the start made /run a tmpfs: an absolute symlink to the host's FIFO.
                let plant = try host.ctl("exec", "web", "--", "ln", "-s", fifo, "/run/initctl")
                #expect(plant.status == 0, "\(plant)")

                #expect(try host.ctl("stop", "web").status == 0)
                var byte: UInt8 = 0
                #expect(read(reader, &byte, 1) <= 0, "nothing reached the host's FIFO")
                #expect(host.daemonLogText.contains("initctl"), "the failed request is logged")
            }
        }

        /// Its own cgroup is all a guest sees of the host's cgroups, and without a user namespace it is read-only.
        @Test(.requires(unifiedCgroupMount != nil, "a mounted cgroup v2 hierarchy"))
        func aGuestSeesOnlyItsOwnCgroupAndCannotChangeItWithoutAUserNamespace() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit + "context = 1202\n")
                try host.addVServer("db", config: busyboxInit + "context = 1203\n")
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                #expect(try host.ctl("start", "db").status == 0)
                let parent = try #require(host.cgroupParentDirectory)
                #expect(FileManager.default.fileExists(atPath: "\(parent)/vserver-db"))

                let view = try host.ctl("exec", "web", "--", "sh", "-c", "ls /sys/fs/cgroup; cat /proc/self/cgroup")
                #expect(view.status == 0, "\(view)")
                #expect(!view.stdout.contains("vserver-db") && view.stdout.contains("0::/\n"), "\(view)")
                let write = try host.ctl("exec", "web", "--", "sh", "-c",
                                         "mkdir /sys/fs/cgroup/escape || echo +pids > /sys/fs/cgroup/cgroup.procs")
                #expect(write.status == 1, "\(write)")
                #expect(write.stderr == "mkdir: can't create directory '/sys/fs/cgroup/escape': Read-only file system\n"
                            + "sh: can't create /sys/fs/cgroup/cgroup.procs: Read-only file system\n", "\(write)")
            }
        }

        /// Finding 6: on the host's network CAP_NET_RAW would sniff and forge on every host interface: out of the
        /// default bounding set, back only when added.
        @Test func aGuestOnTheHostsNetworkHasNoCapNetRawUnlessAdded() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit + "context = 1216\n")
                try host.addVServer("ping", config: busyboxInit + """
                    context = 1217
                    [capabilities]
                    add = ["CAP_NET_RAW"]

                    """)
                try host.startDaemon()
                func bounding(_ name: String) throws -> UInt64 {
                    let status = try String(contentsOfFile: "/proc/\(try host.guestPID(name))/status", encoding: .utf8)
                    let line = status.split(separator: "\n").first { $0.hasPrefix("CapBnd:") }
                    return line.flatMap { UInt64($0.split(separator: "\t").last ?? "", radix: 16) } ?? 0
                }
                #expect(try host.ctl("start", "web").status == 0)
                #expect(try host.ctl("start", "ping").status == 0)
                #expect(try bounding("web") & 1 << 13 == 0, "web: no CAP_NET_RAW")
                #expect(try bounding("ping") & 1 << 13 != 0, "ping: CAP_NET_RAW added")
                let check = try host.ctl("check", "--config-dir", host.configDirectory, "ping")
                #expect(check.stdout.contains("CAP_NET_RAW on the host's network"), "\(check)")
            }
        }

        /// Finding 7: runc's read-only and masked paths.
        @Test func procFsIsReadOnlyAndMaskedFilesReadEmpty() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit + "context = 1218\n")
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                let mounts = try host.ctl("exec", "web", "--", "cat", "/proc/self/mountinfo").stdout
                let procFS = mounts.split(separator: "\n").first { $0.split(separator: " ")[4] == "/proc/fs" }
                #expect(procFS?.split(separator: " ")[5].hasPrefix("ro,") == true, "\(mounts)")
                // A write into it fails for being read-only (creating a file in proc fails anyway, so write one that
                // exists, in /proc/sys, read-only the same way).
                let write = try host.ctl("exec", "web", "--", "sh", "-c", "echo web > /proc/sys/kernel/hostname")
                #expect(write.status == 1, "\(write)")
                #expect(write.stderr == "sh: can't create /proc/sys/kernel/hostname: Read-only file system\n", "\(write)")
                let masked = ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
                              "/proc/latency_stats", "/proc/asound", "/sys/devices/virtual/powercap"]
                let sizes = try host.ctl("exec", "web", "--", "sh", "-c",
                                         "for p in \(masked.joined(separator: " ")); do [ -e $p ] || continue; "
                                         + "if [ -d $p ]; then ls -A $p; else cat $p; fi; done | wc -c")
                #expect(sizes.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "\(sizes)")
            }
        }
    }
}
