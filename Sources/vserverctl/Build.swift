import ArgumentParser
import Glibc
import VServerBuild
import VServerConfig

struct Build: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a new vserver: its root with mmdebstrap, debootstrap or from an archive, and its config.",
        discussion: """
            Needs root, no daemon (a running one re-reads its configs). Makes the root (default /vservers/NAME; \
            /vservers is made mode 0700 when missing) and CONFIG-DIR/NAME/vserver.toml, as `create` writes it (how the \
            guest is stopped follows from the init it has: init-style "auto"). mmdebstrap and debootstrap install \
            SUITE with --include (default systemd-sysv,dbus: a systemd guest) from the archive the host's apt uses for \
            it (its -updates and -security too, for mmdebstrap), in namespaces of their own; tarball unpacks FILE \
            (tar, gzip, xz, zstd) with its owners as numbers. The new root gets /etc/hostname and a fresh \
            /etc/machine-id; owners stay as built (with --user-namespace an idmapped mount maps them). systemd as PID \
            1 needs --user-namespace (recommended) or CAP_SYS_ADMIN ([capabilities] add). The root is made under a \
            hidden name beside it and renamed into place when complete, then the config is written. Refused before any \
            work when NAME exists, the context is taken or the root exists; a failure, SIGINT, SIGTERM or SIGHUP (exit \
            128+N) stops the builder and removes all it made.
            """)

    enum Method: String, ExpressibleByArgument, CaseIterable {
        case mmdebstrap, debootstrap, tarball

        func buildMethod(file: String?) -> BuildMethod {
            switch self {
            case .mmdebstrap: .mmdebstrap
            case .debootstrap: .debootstrap
            case .tarball: .tarball(file ?? "")
            }
        }
    }

    @Argument(help: "The new vserver's name.")
    var name: String

    @Argument(help: "With --method tarball: the root file-system archive.")
    var file: String?

    @Option(help: "How to make the root.")
    var method: Method

    @Option(help: "The Debian suite (default: \(BuildRequest.defaultSuite)).")
    var suite: String?

    @Option(help: "The builder's variant (default: \(BuildRequest.defaultVariant)).")
    var variant: String?

    @Option(help: ArgumentHelp(
        "Packages to add, comma-separated (default: \(BuildRequest.defaultPackages.joined(separator: ","))).",
        valueName: "pkg,..."))
    var include: String?

    @Option(help: ArgumentHelp("The archive to install from (default: the host's apt source for the suite).",
                               valueName: "uri"))
    var mirror: String?

    @Flag(help: "Give it a user namespace ([namespaces] user = true).")
    var userNamespace = false

    @Option(help: "Its root directory, which must not exist (default: /vservers/NAME).")
    var root: String?

    @OptionGroup var settings: NewVServerOptions

    @OptionGroup var configDirectory: ConfigDirectoryOption

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        if method == .tarball {
            guard file != nil else { throw ValidationError("--method tarball needs FILE, the archive to unpack") }
            for (option, value) in [("--suite", suite), ("--variant", variant), ("--include", include),
                                    ("--mirror", mirror)] where value != nil {
                throw ValidationError("\(option) is for mmdebstrap and debootstrap, not tarball")
            }
        } else if let file {
            throw ValidationError("unexpected argument \(file): only --method tarball takes FILE")
        }
    }

    func run() throws {
        var request = BuildRequest(name: name, method: method.buildMethod(file: file))
        if let suite { request.suite = suite }
        if let variant { request.variant = variant }
        if let include {
            request.packages = include.split(separator: ",").map { $0.filter { $0 != " " } }.filter { !$0.isEmpty }
        }
        request.mirror = mirror
        request.userNamespace = userNamespace
        request.hostname = settings.hostname
        request.context = settings.context
        request.root = root
        request.autostart = settings.autostart
        request.configDirectory = configDirectory.path
        request.contextRecord = configDirectory.contextRecord

        // A reader of the progress that goes away (`| head -1`) must not kill vserverctl in the middle, leaving
        // the builder and its tree behind.
        signal(SIGPIPE, SIG_IGN)
        let written: ConfigWriter.Written
        do {
            written = try VServerBuild.run(request) { phase in
                print("\(name): \(phase)")
                fflush(nil)
            }
        } catch {
            if !error.builderOutput.isEmpty {
                printToStandardError("\(name): the last lines of its output:")
                error.builderOutput.forEach { printToStandardError("  \($0)") }
            }
            printToStandardError("vserverctl: build \(name): \(error)")
            throw ExitCode(error.signal.map { 128 + $0 } ?? 1)
        }
        print("\(name): built \(written.config.root) (context \(written.config.context))")
        Reload.tellDaemon(connection)
    }
}
