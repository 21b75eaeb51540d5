import ArgumentParser
import VServerProtocol

struct VServerCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vserverctl",
        abstract: "Control the vservers that vserverd runs.",
        discussion: """
            Every NAME may also be a context id. The daemon's socket is $VSERVERD_SOCKET or \
            \(defaultManagerSocketPath) unless --socket says otherwise. Errors print one line on stderr and \
            exit non-zero.
            """,
        version: vserverdVersion,
        subcommands: [List.self, Status.self, Show.self, SetLimits.self, Start.self, Stop.self, Restart.self,
                      Enter.self, Exec.self, PS.self, Whois.self, Top.self, Du.self, Check.self, Create.self,
                      Build.self, Import.self, Clone.self, Hashify.self, Rename.self, Delete.self, Export.self,
                      ImportArchive.self, Reload.self, Monitor.self])
}

FastPath.runIfPlain(CommandLine.arguments.dropFirst())
VServerCtl.main()
