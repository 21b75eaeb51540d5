/// `kill-sequence = "SIGTERM 5 SIGKILL"`, util-vserver's `apps/init/killseq` ("signal [wait signal]*"): what the stub
/// init of `init-style = "sysv"` and `"rc"` sends to every process still left in the guest once the stop command has
/// ended, waiting up to the seconds in between for them to go. The guest ends after the last signal.
public struct KillSequence: Sendable, Equatable, CustomStringConvertible {
    public var signals: [VServerConfig.Signal]
    /// `waits[i]` seconds between `signals[i]` and `signals[i + 1]`.
    public var waits: [Int]

    /// util-vserver's default, and what sysvinit's own sendsigs does: SIGTERM, up to 5 s, SIGKILL.
    public static let standard = KillSequence(
        signals: [Signals.named("SIGTERM"), Signals.named("SIGKILL")], waits: [5])

    /// The longest wait: the whole stop is bounded by `stop-timeout` anyway.
    static let waitRange = 0...3600

    /// "SIGTERM 5 SIGKILL", as the config says it.
    public var description: String {
        var words = [signals[0].name]
        for (wait, signal) in zip(waits, signals.dropFirst()) { words += [String(wait), signal.name] }
        return words.joined(separator: " ")
    }

    /// "15 5 9": what vserverd-init takes.
    package var numeric: String {
        var words = [String(signals[0].number)]
        for (wait, signal) in zip(waits, signals.dropFirst()) { words += [String(wait), String(signal.number)] }
        return words.joined(separator: " ")
    }

    /// Words as util-vserver's file or the TOML string hold them: signals (names or numbers) with seconds between.
    package static func parse(_ text: String) throws(Problem) -> KillSequence {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
        guard words.count % 2 == 1 else {
            throw Problem("must be \"SIGNAL [SECONDS SIGNAL]...\" (as \"SIGTERM 5 SIGKILL\"), not \(quoted(text))")
        }
        var sequence = KillSequence(signals: [], waits: [])
        for (index, word) in words.enumerated() {
            if index % 2 == 1 {
                guard let seconds = Int(word), waitRange.contains(seconds) else {
                    throw Problem("\(quoted(word)) is no wait in seconds (0 to \(waitRange.upperBound)) in "
                                  + quoted(text))
                }
                sequence.waits.append(seconds)
            } else {
                guard let signal = Signals.parse(word) else {
                    throw Problem("unknown signal \(quoted(word)) in \(quoted(text))")
                }
                sequence.signals.append(VServerConfig.Signal(number: signal.number, name: signal.name))
            }
        }
        return sequence
    }
}
