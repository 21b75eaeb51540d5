import ArgumentParser
import Glibc
import VServerProtocol

/// `delete NAME` (util-vserver's `vserver NAME delete`).
struct Delete: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete a stopped vserver: its config directory and its root.",
        discussion: "Asks first on a terminal unless --yes; without a terminal --yes is required. Refused while "
            + "another vserver names it in after. The root is removed without crossing into another file system; "
            + "what cannot be removed is named.")

    @Argument(help: "The vserver (name or context id).", completion: .vserverNames)
    var name: String

    @Flag(help: "Keep its root directory; remove only its config.")
    var keepRoot = false

    @Flag(name: .shortAndLong, help: "Do not ask.")
    var yes = false

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let manager = connection.manager
        if !yes {
            guard isatty(0) == 1 else {
                printError("delete \(name)", CommandFailure("standard input is not a terminal: add --yes"))
                throw ExitCode.failure
            }
            let what: String
            do { what = try describe(manager.get(name)) } catch {
                printError("delete \(name)", CommandFailure(error))
                throw ExitCode.failure
            }
            print("Delete \(what)? [y/N] ", terminator: "")
            guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                print("not deleted")
                throw ExitCode.failure
            }
        }
        let reply: DeleteReply
        do { reply = try manager.delete(name, keepRoot: keepRoot) } catch {
            printError("delete \(name)", CommandFailure(renameOrDeleteMessage(error)))
            throw ExitCode.failure
        }
        print("deleted \(name)" + (reply.root.map { " and its root \($0)" } ?? " (its root was kept)"))
        if !reply.leftOver.isEmpty {
            printError("delete \(name)", CommandFailure("could not remove \(reply.leftOver.joined(separator: ", ")) "
                                                        + "(something mounted inside?): remove it by hand"))
            throw ExitCode.failure
        }
    }

    private func describe(_ vserver: VServerInfo) -> String {
        let what = keepRoot || vserver.root.isEmpty ? " (its config)" : " and its root \(vserver.root)"
        return "vserver \(vserver.name)\(what)"
    }
}
