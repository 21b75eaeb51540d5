import Foundation
import Testing
import VServerTestSupport

/// Issue 10, finding 2 attacked from inside: the host's keyrings, other guests' keyrings, new user namespaces, bpf,
/// perf and userfaultfd.
extension Integration {
    @Suite struct Seccomp {
        /// A static program (guests have no compiler) that makes the calls the seccomp filter is about and prints
        /// how each ended, or reads and plants keys. Calls whose arguments the kernel would refuse once past the
        /// filter (EINVAL, EFAULT) tell "denied by the filter" (EPERM, ENOSYS) from "the kernel let it through".
        private static func probe(in directory: String) throws -> String {
            let source = "\(directory)/probe.c"
            try """
                #define _GNU_SOURCE
                #include <errno.h>
                #include <sched.h>
                #include <signal.h>
                #include <stdint.h>
                #include <stdio.h>
                #include <stdlib.h>
                #include <string.h>
                #include <sys/syscall.h>
                #include <sys/wait.h>
                #include <unistd.h>
                #include <linux/keyctl.h>

                static const char *outcome(long r) {
                    static char other[32];
                    if (r >= 0) return "ok";
                    switch (errno) {
                    case EPERM: return "EPERM";
                    case ENOSYS: return "ENOSYS";
                    case EINVAL: return "EINVAL";
                    case EFAULT: return "EFAULT";
                    }
                    snprintf(other, sizeof other, "errno %d", errno);
                    return other;
                }
                /* A syscall of the i386 ABI from this x86-64 program (int $0x80): negative errno on failure. */
                static long i386_syscall(long nr, long a, long b, long c) {
                #if defined(__x86_64__)
                    long r;
                    __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c)
                                     : "memory", "r8", "r9", "r10", "r11");
                    return r;
                #else
                    return -ENOSYS;
                #endif
                }
                static const char *i386_outcome(long r) {
                    if (r < 0) { errno = (int)-r; r = -1; }
                    return outcome(r);
                }
                int main(int argc, char **argv) {
                    const char *mode = argc > 1 ? argv[1] : "";
                    if (!strcmp(mode, "session")) {
                        long id = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
                        if (id < 0) printf("session %s\\n", outcome(id)); else printf("session %ld\\n", id);
                        fflush(stdout);
                        if (argc > 2) for (;;) pause();
                        return 0;
                    }
                    if (!strcmp(mode, "join-exec") && argc > 2) {
                        if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0) return 126;
                        execv(argv[2], argv + 2);
                        return 127;
                    }
                    if (!strcmp(mode, "i386")) {
                        long join = i386_syscall(288, KEYCTL_JOIN_SESSION_KEYRING, 0, 0);
                        printf("i386 keyctl-join %s\\n", i386_outcome(join));
                        printf("i386 bpf %s\\n", i386_outcome(i386_syscall(357, 0x7fff, 0, 0)));
                        printf("i386 unshare-user %s\\n", i386_outcome(i386_syscall(310, CLONE_NEWUSER, 0, 0)));
                        return 0;
                    }
                    if (!strcmp(mode, "add") && argc > 2) {
                        long id = syscall(SYS_add_key, "user", argv[2], "secret", 6, KEY_SPEC_USER_KEYRING);
                        if (id < 0) { printf("add_key %s\\n", outcome(id)); return 1; }
                        printf("%ld\\n", id);
                        return 0;
                    }
                    if (!strcmp(mode, "remove") && argc > 2)
                        return syscall(SYS_keyctl, KEYCTL_INVALIDATE, atol(argv[2])) < 0;
                    if (!strcmp(mode, "find") && argc > 2) {
                        int32_t ids[1024];
                        long n = syscall(SYS_keyctl, KEYCTL_READ, KEY_SPEC_USER_KEYRING, ids, sizeof ids);
                        if (n < 0) { printf("user keyring %s\\n", outcome(n)); return 0; }
                        for (long i = 0; i < n / 4 && i < 1024; i++)
                            if (ids[i] == atol(argv[2])) { printf("found\\n"); return 0; }
                        printf("not found\\n");
                        return 0;
                    }
                    long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
                    if (r == 0) _exit(0);
                    if (r > 0) waitpid((pid_t)r, NULL, 0);
                    printf("clone-user %s\\n", outcome(r));
                    printf("clone3 %s\\n", outcome(syscall(SYS_clone3, NULL, 0)));
                    printf("bpf %s\\n", outcome(syscall(SYS_bpf, 0x7fff, NULL, 0)));
                    printf("perf_event_open %s\\n", outcome(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0)));
                    printf("userfaultfd %s\\n", outcome(syscall(SYS_userfaultfd, 1 | 0x40000000)));
                    printf("keyctl-join %s\\n",
                           outcome(syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, "vserverd-probe")));
                    /* Last: it leaves this process in the new namespace. */
                    printf("unshare-user %s\\n", outcome(syscall(SYS_unshare, CLONE_NEWUSER)));
                    return 0;
                }

                """.write(toFile: source, atomically: true, encoding: .utf8)
            let binary = "\(directory)/probe"
            let compile = try run("/usr/bin/cc", ["-static", "-O", "-o", binary, source])
            guard compile.status == 0 else { throw TestFailure("cc: \(compile)") }
            return binary
        }

        private static func install(_ probe: String, in root: String) throws {
            let copy = try run("/bin/cp", [probe, "\(root)/probe"])
            guard copy.status == 0 else { throw TestFailure("cp: \(copy)") }
        }

        /// Acceptance 3: the filter of a default guest, and the same calls passing where it is unconfined (so the
        /// probe can tell) or has a user namespace of its own (keyrings and user namespaces are its own then).
        @Test(.requires(FileManager.default.isExecutableFile(atPath: "/usr/bin/cc"), "a C compiler"))
        func aDefaultGuestCannotMakeUserNamespacesNorCallBpfPerfOrKeyctl() async throws {
            try await withTestHost { host in
                let probe = try Self.probe(in: host.directory)
                try Self.install(probe, in: try host.addVServer("web", config: busyboxInit + "context = 1210\n"))
                try Self.install(probe, in: try host.addVServer("open", config: busyboxInit + """
                    context = 1211
                    [security]
                    seccomp = "unconfined"

                    """))
                try Self.install(probe, in: try host.addVServer("db", config: busyboxInit + """
                    context = 1212
                    [namespaces]
                    user = true

                    """))
                try host.startDaemon()
                for name in ["web", "open", "db"] {
                    let start = try host.ctl("start", name)
                    #expect(start.status == 0, "\(name): \(start)")
                }

                let denied = try host.ctl("exec", "web", "--", "/probe")
                #expect(denied.stdout == """
                    clone-user EPERM
                    clone3 ENOSYS
                    bpf EPERM
                    perf_event_open EPERM
                    userfaultfd EPERM
                    keyctl-join EPERM
                    unshare-user EPERM

                    """, "\(denied)")
                // The same calls through the i386 ABI, where the host runs i386 programs at all.
                let unconfinedI386 = "i386 keyctl-join ok\ni386 bpf EINVAL\ni386 unshare-user ok\n"
                if try run(probe, ["i386"]).stdout == unconfinedI386 {
                    let i386 = try host.ctl("exec", "web", "--", "/probe", "i386")
                    let denied = "i386 keyctl-join EPERM\ni386 bpf EPERM\ni386 unshare-user EPERM\n"
                    #expect(i386.stdout == denied, "\(i386)")
                    #expect(try host.ctl("exec", "open", "--", "/probe", "i386").stdout == unconfinedI386)
                }
                // What an admin would try: busybox's unshare.
                let unshare = try host.ctl("exec", "web", "--", "unshare", "-U", "true")
                #expect(unshare.status == 1, "\(unshare)")
                #expect(unshare.stderr == "unshare: unshare(0x10000000): Operation not permitted\n", "\(unshare)")
                // PID 1 has it too (one filter: the kexec denial is part of it), not only a joined command.
                let status = try String(contentsOfFile: "/proc/\(try host.guestPID("web"))/status", encoding: .utf8)
                #expect(status.contains("Seccomp:\t2") && status.contains("Seccomp_filters:\t1"), "\(status)")

                let open = try host.ctl("exec", "open", "--", "/probe")
                #expect(open.stdout == """
                    clone-user ok
                    clone3 EINVAL
                    bpf EINVAL
                    perf_event_open EFAULT
                    userfaultfd EINVAL
                    keyctl-join ok
                    unshare-user ok

                    """, "\(open)")

                let own = try host.ctl("exec", "db", "--", "/probe")
                #expect(own.stdout == """
                    clone-user ok
                    clone3 EINVAL
                    bpf EPERM
                    perf_event_open EPERM
                    userfaultfd EPERM
                    keyctl-join ok
                    unshare-user ok

                    """, "\(own)")
            }
        }

        /// Acceptance 2: a key in the host root's user keyring is out of every default guest's reach, and every
        /// guest's PID 1 and every command joined into one has a session keyring that is neither vserverd's nor
        /// another guest's.
        @Test(.requires(FileManager.default.isExecutableFile(atPath: "/usr/bin/cc"), "a C compiler"))
        func noGuestReachesTheHostsKeyringsOrAnotherGuests() async throws {
            try await withTestHost { host in
                let probe = try Self.probe(in: host.directory)
                let planted = try run(probe, ["add", "vserverd-test-\(getpid())"])
                let serial = planted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                guard planted.status == 0, Int(serial) != nil else { throw TestFailure("add_key: \(planted)") }
                defer { _ = try? run(probe, ["remove", serial]) }

                // Two guests that may call keyctl: one unconfined, one with a user namespace. Their PID 1 (under the
                // stub init) prints its session keyring and waits.
                let session = "command = [\"/probe\", \"session\", \"wait\"]\n"
                try Self.install(probe, in: try host.addVServer("open", config: """
                    context = 1213
                    \(session)
                    [security]
                    seccomp = "unconfined"

                    """))
                try Self.install(probe, in: try host.addVServer("db", config: """
                    context = 1214
                    \(session)
                    [namespaces]
                    user = true

                    """))
                try Self.install(probe, in: try host.addVServer("web", config: busyboxInit + "context = 1215\n"))
                // vserverd gets a session keyring of its own, as systemd gives every service (KeyringMode=private),
                // and its hooks inherit it.
                try host.addHook(nil, "pre-start", "\(probe) session > \(host.directory)/daemon-$VSERVER_NAME")
                try host.startDaemon(wrapper: [probe, "join-exec"])
                for name in ["open", "db", "web"] {
                    let start = try host.ctl("start", name)
                    #expect(start.status == 0, "\(name): \(start)")
                }

                // The planted key: denied to a default guest, another keyring for a user namespace's root, and, to
                // show what the filter stops, found by the unconfined guest whose root is the host's uid 0.
                for (name, expected) in [("web", "user keyring EPERM\n"), ("db", "not found\n"), ("open", "found\n")] {
                    let find = try host.ctl("exec", name, "--", "/probe", "find", serial)
                    #expect(find.stdout == expected, "\(name): \(find)")
                }

                func pidOneSession(_ name: String) throws -> String {
                    var line = ""
                    try waitUntil("\(name)'s PID 1 to print its session keyring") {
                        line = try host.consoleLog(name).split(separator: "\n").first.map(String.init) ?? ""
                        return !line.isEmpty
                    }
                    return line
                }
                let daemon = try String(contentsOfFile: "\(host.directory)/daemon-db", encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                let db = try pidOneSession("db")
                #expect(db != daemon, "a guest's PID 1 does not hold vserverd's session keyring")
                let open = try pidOneSession("open")
                let joined = try host.ctl("exec", "open", "--", "/probe", "session").stdout
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                let ids = [daemon, open, db, joined]
                #expect(ids.allSatisfy { Int($0.dropFirst("session ".count)) != nil }, "\(ids)")
                #expect(Set(ids).count == 4, "vserverd, two guests' PID 1 and a joined command: \(ids)")
            }
        }
    }
}
