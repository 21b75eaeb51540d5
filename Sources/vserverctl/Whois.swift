import ArgumentParser
import VServerProtocol

struct Whois: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show which vserver a host process belongs to.",
        discussion: """
            Prints "NAME CONTEXT" of the vserver that owns PID (as the host numbers it) and exits 0; prints \
            "host" and exits 1 for a process of the host itself; exits 2 when there is no such process or the \
            daemon cannot be asked. A process in a pid namespace nested inside a vserver belongs to that vserver.
            """)

    @Argument(help: "A process ID as the host sees it.")
    var pid: Int32

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let owner: ProcessOwner?
        do { owner = try connection.manager.whois(pid: pid) } catch {
            printError("whois \(pid)", CommandFailure(error))
            throw ExitCode(2)
        }
        guard let owner else {
            print("host")
            throw ExitCode(1)
        }
        print("\(owner.name) \(owner.context)")
    }
}
