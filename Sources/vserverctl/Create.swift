import ArgumentParser
import VServerConfig

struct Create: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a new vserver's config (no daemon needed; a running one re-reads its configs).",
        discussion: """
            Writes CONFIG-DIR/NAME/vserver.toml with the context (default: the lowest free one from 1000 up), \
            the root and, when given, hostname and autostart; every other key keeps its default. The root must \
            exist (scripts/make-rootfs DIR makes a busybox one) in a directory that is root's with mode 0700 \
            (util-vserver's barrier, as /vservers: `chmod 0700 PARENT`). Refused when NAME exists, the context is \
            taken or the result would not pass `vserverctl check`; nothing is left behind then.
            """)

    @Argument(help: "The new vserver's name.")
    var name: String

    @Option(help: "Its root directory (must exist; not /).")
    var root: String

    @OptionGroup var settings: NewVServerOptions

    @OptionGroup var configDirectory: ConfigDirectoryOption

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let new = ConfigWriter.NewVServer(name: name, root: root, context: settings.context,
                                          hostname: settings.hostname, autostart: settings.autostart)
        let written: ConfigWriter.Written
        do { written = try ConfigWriter.create(
            new, configDirectory: configDirectory.path, contextRecord: configDirectory.contextRecord) } catch {
            printToStandardError("vserverctl: create \(name): \(error)")
            throw ExitCode.failure
        }
        print("\(name): created \(written.file) (context \(written.config.context), root \(written.config.root))")
        Reload.tellDaemon(connection)
    }
}

/// What `create` and `build` both ask about a new vserver.
struct NewVServerOptions: ParsableArguments {
    @Option(help: "Its context id, 2-49151 and unique (default: lowest free from 1000).")
    var context: Int?

    @Option(help: "Its hostname (default: NAME).")
    var hostname: String?

    @Flag(help: "Start it at boot (`vserverctl start --autostart`).")
    var autostart = false
}
