import Glibc
import Synchronization

/// setrlimit resources by the names `[limits]` and util-vserver's `ulimits/` use.
public enum ResourceLimits {
    /// Linux's RLIMIT_* numbers (asm-generic; x86 and arm64 share them). Glibc's Swift import does not expose
    /// all of them as constants.
    package static let resources: [(name: String, number: Int32)] = [
        ("cpu", 0), ("fsize", 1), ("data", 2), ("stack", 3), ("core", 4), ("rss", 5), ("nproc", 6), ("nofile", 7),
        ("memlock", 8), ("as", 9), ("locks", 10), ("sigpending", 11), ("msgqueue", 12), ("nice", 13),
        ("rtprio", 14), ("rttime", 15),
    ]

    package static let names = resources.map(\.name)

    package static func number(_ name: String) -> Int32? {
        resources.first { $0.name == name }?.number
    }

    package static let openFiles: Int32 = 7

    /// What vserverd had before it raised its own soft RLIMIT_NOFILE; nil while it has not.
    private static let originalOpenFiles = Mutex<(soft: UInt64, hard: UInt64)?>(nil)

    /// vserverd holds a pidfd per guest and a socket per client: 1000 guests do not fit in the usual soft limit
    /// of 1024. So it raises its own soft RLIMIT_NOFILE to the hard one, as systemd does for itself, while
    /// guests keep the limit vserverd was started with (many programs still use select(), which breaks above
    /// 1024): `current` goes on answering with that, and every guest without `nofile` in `[limits]` gets it.
    public static func raiseOwnOpenFilesLimit() throws(SystemError) {
        let original = current(openFiles)
        guard original.soft < original.hard else { return }
        originalOpenFiles.withLock { $0 = original }
        var raised = rlimit(rlim_cur: rlim_t(clamping: original.hard), rlim_max: rlim_t(clamping: original.hard))
        guard setrlimit(__rlimit_resource_t(UInt32(openFiles)), &raised) == 0 else {
            originalOpenFiles.withLock { $0 = nil }
            throw SystemError("setrlimit RLIMIT_NOFILE")
        }
    }

    /// The limit vserverd passes on to what it starts where nothing else is configured: the half of a
    /// util-vserver limit that is not given, and `nofile` of every guest.
    package static func current(_ resource: Int32) -> (soft: UInt64, hard: UInt64) {
        if resource == openFiles, let original = originalOpenFiles.withLock({ $0 }) { return original }
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(UInt32(resource)), &limit) == 0 else { return (.max, .max) }
        func widen(_ value: rlim_t) -> UInt64 { value == rlim_t.max ? .max : UInt64(value) }
        return (widen(limit.rlim_cur), widen(limit.rlim_max))
    }

    package static func describe(_ value: UInt64) -> String {
        value == .max ? "unlimited" : String(value)
    }
}
