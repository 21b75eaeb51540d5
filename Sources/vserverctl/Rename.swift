import ArgumentParser
import VServerProtocol

/// `rename OLD NEW` (seed 002's "May I rename a vserver?" as one command).
struct Rename: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rename a stopped vserver.",
        discussion: "Renames its config directory, its root when it is at the default place (/vservers/OLD), its "
            + "console log and state, and every other vserver's after that names it, all or nothing. Its hostname "
            + "follows the name only where the config does not set one.")

    @Argument(help: "The vserver (name or context id).", completion: .vserverNames)
    var name: String

    @Argument(help: "Its new name.")
    var newName: String

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let reply: RenameReply
        do { reply = try connection.manager.rename(name, to: newName) } catch {
            printError("rename \(name)", CommandFailure(renameOrDeleteMessage(error)))
            throw ExitCode.failure
        }
        var said = "renamed \(name) to \(reply.vserver.name)"
        if let root = reply.movedRoot { said += "; its root is now \(root)" }
        if !reply.dependents.isEmpty { said += "; after changed in \(reply.dependents.joined(separator: ", "))" }
        print(said)
    }
}

/// A running vserver is named with what to do.
func renameOrDeleteMessage(_ error: ManagerError) -> String {
    if case .alreadyRunning = error { return "it is running: stop it first" }
    return error.description
}
