import VServerConfig
/// How `vserverctl build` makes a vserver's root file system.
public enum BuildMethod: Sendable, Equatable {
    /// mmdebstrap SUITE from the host's Debian archive.
    case mmdebstrap
    /// debootstrap SUITE from the host's Debian archive (util-vserver's `build -m debootstrap`).
    case debootstrap
    /// A root file-system archive: tar, compressed or not.
    case tarball(String)

    public static let names = ["mmdebstrap", "debootstrap", "tarball"]

    public var name: String {
        switch self {
        case .mmdebstrap: "mmdebstrap"
        case .debootstrap: "debootstrap"
        case .tarball: "tarball"
        }
    }

    /// Whether it installs Debian packages (and so takes a suite, variant and packages).
    public var installsPackages: Bool {
        if case .tarball = self { return false }
        return true
    }
}

/// Everything `vserverctl build` was asked for.
public struct BuildRequest: Sendable {
    public static let defaultSuite = "bookworm"
    public static let defaultVariant = "minbase"
    /// A guest that boots as a systemd guest without further editing.
    public static let defaultPackages = ["systemd-sysv", "dbus"]

    public var name: String
    public var method: BuildMethod
    public var suite = defaultSuite
    public var variant = defaultVariant
    public var packages = defaultPackages
    /// The archive to install from; nil: the one the host's apt uses for the suite.
    public var mirror: String?
    public var userNamespace = false
    public var hostname: String?
    public var context: Int?
    /// nil: /vservers/NAME.
    public var root: String?
    public var autostart = false
    public var configDirectory = "/etc/vservers"
    /// vserverd's record of assigned contexts: a new vserver gets none recorded for another name.
    public var contextRecord: String?
    /// Where the host's apt configuration is (tests point it elsewhere).
    public var aptDirectory = "/etc/apt"

    public init(name: String, method: BuildMethod) {
        self.name = name
        self.method = method
    }

    /// The root directory to make: `root`, absolute, or VServerConfig.defaultRootDirectory/NAME.
    public var rootPath: String {
        root.map(FileSystem.absolutePath) ?? Path.join(VServerConfig.defaultRootDirectory, name)
    }

    /// The config it gets, but for the init-dependent stop signal.
    package var newVServer: ConfigWriter.NewVServer {
        ConfigWriter.NewVServer(name: name, root: rootPath, context: context, hostname: hostname,
                                autostart: autostart, userNamespace: userNamespace, madeBy: madeBy)
    }

    /// The command as the config file's header names it.
    package var madeBy: String {
        switch method {
        case .tarball(let file): "vserverctl build \(name) --method tarball \(file)"
        case .mmdebstrap, .debootstrap:
            "vserverctl build \(name) --method \(method.name) --suite \(suite) --variant \(variant)"
                + (packages.isEmpty ? "" : " --include \(packages.joined(separator: ","))")
        }
    }
}
