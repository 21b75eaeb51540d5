import ArgumentParser
import VServerProtocol

/// `set` (named so to leave Swift's Set alone).
struct SetLimits: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Change a vserver's limits, at once and in its vserver.toml.",
        discussion: "Each KEY=VALUE is a key of [resources] or [disk] (memory-max=128M, cpu-max=50%, pids-max=200, "
            + "space-max=20G; \"max\" or an empty VALUE takes a limit away). A running vserver gets them at once "
            + "(its cgroups, or its systemd scope); without --runtime they are also written into its vserver.toml, "
            + "keeping its comments and layout, so that they last — as `systemctl set-property` does. A value "
            + "the host cannot enforce changes nothing.")

    @Argument(help: "Name or context id.", completion: .vserverNames)
    var name: String

    @Argument(help: "KEY=VALUE, one or more.")
    var assignments: [String]

    @Flag(help: "Change the running vserver only; its vserver.toml stays as it is.")
    var runtime = false

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let reply: ResourcesReply
        do {
            reply = try connection.manager.setResources(name, assignments: assignments, runtime: runtime)
        } catch {
            printError("set \(name)", CommandFailure(error))
            throw ExitCode.failure
        }
        Show.show(reply)
    }
}
