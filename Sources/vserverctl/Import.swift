import ArgumentParser
import VServerConfig

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Convert a util-vserver config directory into a vserver.toml (no daemon needed).",
        discussion: """
            DIR holds util-vserver's files (context, vdir, uts/nodename, apps/init/mark, apps/init/depends, \
            bcapabilities, ulimits/, rlimits/, cgroup/, sched/, cpuset/, dlimits/, nice, fstab, scripts/); a \
            warning names each setting that was approximated or dropped. When DIR is CONFIG-DIR/NAME itself, \
            vserver.toml is written beside them: from then on vserverd reads it instead of them (fstab and \
            scripts/ still count). \
            Otherwise CONFIG-DIR/NAME is made with vserver.toml and copies of fstab and scripts/. The context \
            stays the same (the one vserverd gave it when the files name none). The new file must read back as \
            exactly what the old files said, or nothing is written. --dry-run prints it instead.
            """)

    @Argument(help: "A util-vserver vserver directory, e.g. /etc/vservers/web.")
    var directory: String

    @Option(help: "The vserver's name (default: the directory's name).")
    var name: String?

    @Flag(help: "Print the vserver.toml instead of writing it.")
    var dryRun = false

    @OptionGroup var configDirectory: ConfigDirectoryOption

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let written: ConfigWriter.Written
        do {
            written = try ConfigWriter.importUtilVServer(
                from: directory, name: name, configDirectory: configDirectory.path, dryRun: dryRun,
                contextRecord: configDirectory.contextRecord)
        } catch {
            printToStandardError("vserverctl: import \(directory): \(error)")
            throw ExitCode.failure
        }
        let config = written.config
        if dryRun {
            print("# \(written.file)")
            print(written.text, terminator: "")
            for warning in config.warnings { printToStandardError("\(config.name): warning: \(warning)") }
            return
        }
        print("\(config.name): wrote \(written.file) (context \(config.context), root \(config.root))")
        for warning in config.warnings { print("\(config.name): warning: \(warning)") }
        Reload.tellDaemon(connection)
    }
}
