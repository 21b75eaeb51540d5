/// The plain shape of `vserverctl exec` that scripts and benchmarks use, read without ArgumentParser (whose
/// parse costs more than the rest of an exec): `[--socket S] NAME|--all [--socket S] -- COMMAND [ARG...]`.
public struct ExecArguments: Sendable, Equatable {
    public var name: String?
    public var all: Bool
    public var socket: String?
    public var command: [String]

    public init(name: String?, all: Bool = false, socket: String? = nil, command: [String]) {
        self.name = name
        self.all = all
        self.socket = socket
        self.command = command
    }

    /// The arguments after `exec`; nil for any other shape (--help, another option, no command, a name and
    /// --all), which ArgumentParser then parses with its help and errors.
    public static func parse(_ arguments: [String]) -> ExecArguments? {
        guard let separator = arguments.firstIndex(of: "--"), separator + 1 < arguments.count else { return nil }
        var parsed = ExecArguments(name: nil, command: Array(arguments[(separator + 1)...]))
        var index = 0
        while index < separator {
            let argument = arguments[index]
            if argument == "--all" && !parsed.all {
                parsed.all = true
            } else if argument == "--socket" && parsed.socket == nil && index + 1 < separator {
                index += 1
                parsed.socket = arguments[index]
            } else if argument.hasPrefix("--socket=") && parsed.socket == nil {
                parsed.socket = String(argument.dropFirst("--socket=".count))
            } else if !argument.isEmpty && !argument.hasPrefix("-") && parsed.name == nil {
                parsed.name = argument
            } else {
                return nil
            }
            index += 1
        }
        return parsed.all == (parsed.name == nil) ? parsed : nil
    }
}
