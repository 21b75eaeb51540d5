import ArgumentParser
import VServerProtocol

struct Restart: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stop vservers if they run, then start them.")

    @Argument(help: "Vservers to restart (names or context ids).", completion: .vserverNames)
    var names: [String]

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let manager = connection.manager
        try forEachName("restart", names) { name throws(ManagerError) in
            _ = try manager.restart(name)
        }
    }
}
