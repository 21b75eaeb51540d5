import ArgumentParser
import Glibc

struct Enter: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open a shell (or run a command) inside a running vserver.",
        discussion: """
            Runs the vserver's configured shell (default /bin/sh -l), or COMMAND when given, like exec. When \
            stdin is a terminal, the command gets a new pty from the vserver's own devpts (/dev/pts/ptmx inside) \
            as its controlling terminal, never a host terminal fd (so does any of stdout and stderr that is a \
            terminal): your terminal is put in raw mode and relayed, \
            window size changes follow, and its settings are restored however vserverctl ends (except by SIGKILL). \
            SIGHUP or SIGTERM sent to vserverctl then hang the session up. Without a terminal it is exec. \
            Needs root. Exit status as exec: the command's, 127 not found, 126 cannot run, 125 vserverctl failed.
            """)

    @Argument(help: "Name or context id.", completion: .vserverNames)
    var name: String

    @Argument(parsing: .postTerminator, help: ArgumentHelp("A command to run instead of the shell, after --.",
                                                           valueName: "command"))
    var command: [String] = []

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let command = self.command
        throw ExitCode(Join.run(name, connection.manager, verb: "enter") { info in
            command.isEmpty ? info.shell : command
        })
    }
}
