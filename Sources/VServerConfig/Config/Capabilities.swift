/// Linux capability names and numbers, up to CAP_CHECKPOINT_RESTORE (40).
///
/// Names are accepted with or without the `CAP_` prefix and in any case (`CAP_SYS_ADMIN`, `SYS_ADMIN`,
/// `cap_sys_admin`): util-vserver's `bcapabilities` files use the short form.
public enum Capabilities {
    /// Index = capability number.
    public static let allNames = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
        "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
        "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ]

    public static let netAdmin = 12
    public static let netRaw = 13
    public static let sysAdmin = 21

    /// Only with a network namespace of the guest's own: on the host's, CAP_NET_ADMIN would configure the host's
    /// interfaces and CAP_NET_RAW sniff and forge packets on all of them (a guest that needs ping adds it).
    public static let privateNetworkOnly = [netAdmin, netRaw]

    /// docs/ARCHITECTURE.md §7: what Docker and util-vserver trust a root guest with, without a user namespace, and
    /// CAP_SYS_BOOT: in the guest's own pid namespace reboot(2) ends only that namespace, which is how a reboot or
    /// poweroff inside reaches vserverd, and the one other use of it, kexec_load, is denied to every guest by a seccomp
    /// filter.
    /// CAP_NET_RAW is in it but taken out on the host's network, and CAP_NET_ADMIN added with a private one
    /// (`privateNetworkOnly`).
    public static let defaultAllowlist = [0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 22, 29, 31]

    /// With a user namespace: the set systemd-nspawn keeps (as LXC and Incus, wider than the default), which is what
    /// systemd needs for its services' sandboxing (PrivateTmp=, ProtectSystem=: mounts, so CAP_SYS_ADMIN) and for
    /// reboot and poweroff (CAP_SYS_BOOT). In a user namespace each reaches only the guest's own namespaces and
    /// files: the kernel checks the host's resources (modules, raw I/O, the clock, kexec) against the host's user
    /// namespace. CAP_SYS_RAWIO, CAP_SYS_MODULE and CAP_SYS_TIME stay out, so systemd skips its units that need them.
    public static let userNamespaceAllowlist = [
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 18, 19, 21, 22, 23, 24, 26, 27, 28, 29, 30, 31,
    ]

    /// Capabilities that let a root guest without a user namespace reach the host (docs/ARCHITECTURE.md §7):
    /// granting one with `add` is allowed, with a warning.
    public static let dangerous = [21, 2, 27, 16, 17, 19, 25]

    /// More that reach the host's kernel or other users' data without a user namespace, and what each does there:
    /// the kernel checks them against the host's user namespace, so with `user = true` they are harmless.
    package static let hostReaching: [Int: String] = [
        9: "sets and clears the immutable and append-only flags of the host's files it can reach",
        24: "overrides the host's resource limits and quotas (reserved disk space, ...)",
        32: "overrides the host's mandatory access control (AppArmor, SELinux, Smack)",
        33: "changes the host's mandatory access control policy",
        34: "reads the host's kernel log and kernel addresses",
        38: "traces the host's kernel and every process with perf",
        39: "loads BPF programs into the host's kernel",
    ]

    public static func number(_ name: String) -> Int? {
        var upper = name.uppercased()
        if !upper.hasPrefix("CAP_") { upper = "CAP_" + upper }
        return allNames.firstIndex(of: upper)
    }

    /// `CAP_SYS_ADMIN`; numbers without a name (beyond 40) come out as `CAP_41`.
    public static func name(_ number: Int) -> String {
        allNames.indices.contains(number) ? allNames[number] : "CAP_\(number)"
    }

    /// The names of the bits set in `mask`, lowest first.
    public static func names(in mask: UInt64) -> [String] {
        (0..<64).filter { mask & (1 << UInt64($0)) != 0 }.map(name)
    }

    public static func mask(_ numbers: some Sequence<Int>) -> UInt64 {
        numbers.reduce(0) { $0 | 1 << UInt64($1) }
    }

    /// The warning for granting a capability that reaches the host to a guest without a user namespace, or nil.
    /// `hostNetwork`: it shares the host's network namespace, where CAP_NET_RAW sees every host interface.
    package static func warning(adding number: Int, userNamespace: Bool, hostNetwork: Bool) -> String? {
        guard !userNamespace else { return nil }
        if dangerous.contains(number) {
            return "\(name(number)) lets a root guest reach the host unless [namespaces] user = true"
        }
        if let what = hostReaching[number] {
            return "\(name(number)) \(what) unless [namespaces] user = true"
        }
        if number == netRaw && hostNetwork {
            return "CAP_NET_RAW on the host's network (net = \"host\") sniffs and forges packets on every host "
                + "interface"
        }
        return nil
    }
}
