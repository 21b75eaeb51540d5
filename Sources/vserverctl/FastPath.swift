import ArgumentParser
import Glibc
import VServerProtocol

/// `start NAME…`, `stop NAME…` and `list [--json]` (what boot, hooks and scripts run most) without ArgumentParser:
/// its parse builds the argument tables of the commands by reflection at each start (~1.5 ms for the whole tree,
/// still ~0.7 ms for one command with `Start.parse`), and even constructing a command's property wrappers costs
/// runtime type lookups, while the daemon starts a vserver in ~1.3 ms. Only these plain shapes come here (no option
/// but `--json`, no argument that starts with "-"); they call the same functions as the parsed commands' `run()`,
/// so output and exit status are unchanged. Everything else (--help, --socket, --all, mistakes) is parsed as before.
enum FastPath {
    /// Runs the command and exits when `arguments` (without the program name) has a plain shape; returns
    /// otherwise.
    static func runIfPlain(_ arguments: ArraySlice<String>) {
        guard let verb = arguments.first else { return }
        let rest = Array(arguments.dropFirst())
        // `exec [--socket S] NAME|--all -- COMMAND…` without even constructing an ArgumentParser type: the set-up
        // of their property wrappers alone costs more than the join.
        if verb == "exec", let status = Exec.runIfPlain(rest) { exit(status) }
        // The same code the parsed commands run, with what parsing would give: no --socket, no --timeout.
        let manager = ManagerClient()
        switch verb {
        case "start" where arePlainNames(rest):
            run { try Start.start(rest, manager) }
        case "stop" where arePlainNames(rest):
            run { try Stop.stop(rest, timeout: nil, manager) }
        case "list" where rest.isEmpty || rest == ["--json"]:
            run { try List.list(json: !rest.isEmpty, manager) }
        default:
            return
        }
    }

    private static func arePlainNames(_ names: [String]) -> Bool {
        !names.isEmpty && names.allSatisfy { !$0.isEmpty && !$0.hasPrefix("-") }
    }

    /// What `ParsableCommand.main()` does after parsing: run, then exit with the command's status.
    private static func run(_ body: () throws -> Void) -> Never {
        do {
            try body()
        } catch let code as ExitCode {
            exit(code.rawValue)
        } catch {
            VServerCtl.exit(withError: error)
        }
        exit(0)
    }
}
