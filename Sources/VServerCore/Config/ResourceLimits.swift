import Glibc

/// setrlimit resources by the names `[limits]` and util-vserver's `ulimits/` use.
enum ResourceLimits {
    /// Linux's RLIMIT_* numbers (asm-generic; x86 and arm64 share them). Glibc's Swift import does not expose
    /// all of them as constants.
    static let resources: [(name: String, number: Int32)] = [
        ("cpu", 0), ("fsize", 1), ("data", 2), ("stack", 3), ("core", 4), ("rss", 5), ("nproc", 6), ("nofile", 7),
        ("memlock", 8), ("as", 9), ("locks", 10), ("sigpending", 11), ("msgqueue", 12), ("nice", 13),
        ("rtprio", 14), ("rttime", 15),
    ]

    static let names = resources.map(\.name)

    static func number(_ name: String) -> Int32? {
        resources.first { $0.name == name }?.number
    }

    /// The calling process's own limit, for the half of a util-vserver limit that is not configured.
    static func current(_ resource: Int32) -> (soft: UInt64, hard: UInt64) {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(UInt32(resource)), &limit) == 0 else { return (.max, .max) }
        func widen(_ value: rlim_t) -> UInt64 { value == rlim_t.max ? .max : UInt64(value) }
        return (widen(limit.rlim_cur), widen(limit.rlim_max))
    }

    static func describe(_ value: UInt64) -> String {
        value == .max ? "unlimited" : String(value)
    }
}
