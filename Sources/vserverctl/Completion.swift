import ArgumentParser
import Glibc
import VServerProtocol

extension CompletionKind {
    /// The names of the vservers the daemon knows, for shell completion of NAME arguments. Runs only when the shell
    /// asks (`vserverctl ---completion …`), never on an ordinary invocation.
    static var vserverNames: CompletionKind {
        .custom { words, _, _ in VServerNameCompletion.names(words) }
    }
}

enum VServerNameCompletion {
    /// Asks the daemon (at the command line's --socket, else $VSERVERD_SOCKET or the default path) for its
    /// vservers' names. Prints nothing when it is not reachable, and gives up after 2 s: a shell waits for this.
    static func names(_ words: [String]) -> [String] {
        signal(SIGALRM) { _ in _exit(0) }
        alarm(2)
        defer { alarm(0) }
        return (try? ManagerClient(socketPath: socket(in: words)).list().map(\.name)) ?? []
    }

    /// The value of `--socket PATH` or `--socket=PATH` among the words typed so far.
    static func socket(in words: [String]) -> String? {
        for (index, word) in words.enumerated() {
            if word == "--socket", index + 1 < words.count { return words[index + 1] }
            if word.hasPrefix("--socket=") { return String(word.dropFirst("--socket=".count)) }
        }
        return nil
    }
}
