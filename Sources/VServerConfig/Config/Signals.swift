import Glibc

/// Signal names and numbers for `stop-signal`.
public enum Signals {
    /// glibc reserves the first two real-time signals for its threads.
    public static let realTimeMinimum: Int32 = 34
    public static let realTimeMaximum: Int32 = 64

    package static let standard: [(name: String, number: Int32)] = [
        ("HUP", SIGHUP), ("INT", SIGINT), ("QUIT", SIGQUIT), ("ILL", SIGILL), ("TRAP", SIGTRAP), ("ABRT", SIGABRT),
        ("IOT", SIGIOT), ("BUS", SIGBUS), ("FPE", SIGFPE), ("KILL", SIGKILL), ("USR1", SIGUSR1), ("SEGV", SIGSEGV),
        ("USR2", SIGUSR2), ("PIPE", SIGPIPE), ("ALRM", SIGALRM), ("TERM", SIGTERM), ("STKFLT", SIGSTKFLT),
        ("CHLD", SIGCHLD), ("CONT", SIGCONT), ("STOP", SIGSTOP), ("TSTP", SIGTSTP), ("TTIN", SIGTTIN),
        ("TTOU", SIGTTOU), ("URG", SIGURG), ("XCPU", SIGXCPU), ("XFSZ", SIGXFSZ), ("VTALRM", SIGVTALRM),
        ("PROF", SIGPROF), ("WINCH", SIGWINCH), ("IO", SIGIO), ("POLL", SIGPOLL), ("PWR", SIGPWR), ("SYS", SIGSYS),
    ]

    /// Accepts `SIGTERM`, `TERM`, `sigterm`, `15`, `SIGRTMIN+3`, `RTMAX-2`. The name returned is canonical,
    /// as `kill -l` prints it: `SIGTERM`, `SIGRTMIN+3`, `SIGRTMAX-13`.
    public static func parse(_ text: String) -> (number: Int32, name: String)? {
        if !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            guard text.utf8.count <= 3, let number = Int32(text), (1...realTimeMaximum).contains(number),
                let name = name(number)
            else { return nil }
            return (number, name)
        }
        var upper = text.uppercased()
        if upper.hasPrefix("SIG") { upper.removeFirst(3) }
        if let entry = standard.first(where: { $0.name == upper }) { return (entry.number, name(entry.number)!) }
        let number: Int32?
        if upper == "RTMIN" {
            number = realTimeMinimum
        } else if upper == "RTMAX" {
            number = realTimeMaximum
        } else if upper.hasPrefix("RTMIN+"), let offset = Int32(upper.dropFirst(6)), offset >= 0 {
            number = realTimeMinimum + offset
        } else if upper.hasPrefix("RTMAX-"), let offset = Int32(upper.dropFirst(6)), offset >= 0 {
            number = realTimeMaximum - offset
        } else {
            number = nil
        }
        guard let number, (realTimeMinimum...realTimeMaximum).contains(number) else { return nil }
        return (number, name(number)!)
    }

    /// A signal this code names itself ("SIGRTMIN+3"): known to parse.
    package static func named(_ name: String) -> VServerConfig.Signal {
        let (number, canonical) = parse(name)!
        return VServerConfig.Signal(number: number, name: canonical)
    }

    /// `SIGTERM` for 15; nil for numbers that are no signal (32 and 33 belong to glibc).
    public static func name(_ number: Int32) -> String? {
        if let entry = standard.first(where: { $0.number == number }) { return "SIG" + entry.name }
        switch number {
        case realTimeMinimum: return "SIGRTMIN"
        case realTimeMaximum: return "SIGRTMAX"
        case (realTimeMinimum + 1)...(realTimeMinimum + 16): return "SIGRTMIN+\(number - realTimeMinimum)"
        case (realTimeMinimum + 17)..<realTimeMaximum: return "SIGRTMAX-\(realTimeMaximum - number)"
        default: return nil
        }
    }
}
