import ArgumentParser
import VServerProtocol

struct Start: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start vservers.",
        discussion: "NAME is a vserver name or its context id. Hooks run as configured; a failed pre-start hook or "
            + "setup step leaves nothing behind, and the error says which step failed. With --all, --autostart "
            + "or --mark, every vserver that could not start (an invalid config with the mark included) is named "
            + "on stderr and the exit status is 1.")

    @Argument(help: "Vservers to start (names or context ids).", completion: .vserverNames)
    var names: [String] = []

    @Flag(help: "Start every vserver with a valid config, in `after` order.")
    var all = false

    @Flag(help: "Start the vservers marked `autostart = true`, in `after` order (what boot does).")
    var autostart = false

    @Option(help: ArgumentHelp(
        "Start the vservers with this mark (`marks = [...]`, util-vserver's apps/init/mark), in `after` order; "
            + "\"default\" is --autostart.", valueName: "mark"))
    var mark: String?

    @Option(help: "With --all or --autostart: start at most N at once (default: the daemon's --jobs, or CPUs).")
    var jobs: Int?

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        let batches = [all, autostart, mark != nil].filter { $0 }.count
        if (batches > 0) != names.isEmpty {
            throw ValidationError("give vserver names, or --all, --autostart or --mark")
        }
        if batches > 1 { throw ValidationError("--all, --autostart and --mark exclude each other") }
        if jobs != nil && !names.isEmpty { throw ValidationError("--jobs goes with --all, --autostart or --mark") }
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
    }

    func run() throws {
        if all || autostart || mark != nil {
            try runBatch("start") { () throws(ManagerError) in
                try connection.manager.startMany(mark: autostart ? "default" : mark, jobs: jobs)
            }
            return
        }
        try Self.start(names, connection.manager)
    }

    /// `start NAME…`; FastPath runs it without parsing.
    static func start(_ names: [String], _ manager: ManagerClient) throws {
        try forEachName("start", names) { name throws(ManagerError) in
            _ = try manager.start(name)
        }
    }
}
