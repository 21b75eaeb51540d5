import ArgumentParser
import VServerConfig

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate vserver configs without starting anything (no daemon needed).",
        discussion: "Prints `NAME: ok` with where its context came from, each warning, and each error with the "
            + "file, line and key. Warnings include what the init found in the root needs (systemd: a user "
            + "namespace, or CAP_SYS_ADMIN), capabilities and mounts that reach the host, and seccomp = "
            + "\"unconfined\". Errors include hooks anyone but root could change and a root whose parent is not "
            + "a root-only (0700) barrier, and [resources] limits this host has no cgroup controller for. Exit "
            + "status 1 when a checked config is invalid.")

    @Argument(help: "A vserver (name or context id); default: all.", completion: .vserverNames)
    var name: String?

    @OptionGroup var configDirectory: ConfigDirectoryOption

    func run() throws {
        let configDir = configDirectory.path
        // Read only: vserverd alone records the contexts it assigns.
        let configs = ConfigLoader.load(directory: configDir, contextRecord: configDirectory.contextRecord)
        var names = Set(configs.configs.keys).union(configs.invalid.keys).sorted()
        if let name {
            guard let resolved = configs.invalid[name] != nil ? name : configs.resolve(name) else {
                printToStandardError("vserverctl: check \(name): no vserver named \(name) in \(configDir)")
                throw ExitCode.failure
            }
            names = [resolved]
        } else {
            for problem in configs.ignored { print("warning: \(problem)") }
        }
        var invalid = false
        for name in names {
            if let error = configs.invalid[name] {
                print("\(name): error: \(error)")
                invalid = true
            } else if let config = configs.configs[name] {
                let problems = config.resourceProblems()
                for problem in problems { print("\(name): error: \(problem)") }
                if config.resources.lxcfs, let missing = Lxcfs.missing(in: Lxcfs.defaultDirectory) {
                    print("\(name): warning: \(missing); the start fails unless vserverd has a --lxcfs-dir with one")
                }
                if case .btrfsQgroup(let id)? = config.diskQuotaMechanism {
                    print("\(name): disk limits: btrfs qgroup 0/\(id) of its root's subvolume")
                }
                invalid = invalid || !problems.isEmpty
                for warning in config.warnings + config.initWarnings { print("\(name): warning: \(warning)") }
                let origin = configs.contextOrigins[name]?.description ?? ""
                print("\(name): ok (context \(config.context)\(origin), root \(config.root))")
            }
        }
        if invalid { throw ExitCode.failure }
    }
}

/// `--config-dir` of the verbs that work on config files without the daemon.
struct ConfigDirectoryOption: ParsableArguments {
    @Option(name: .customLong("config-dir"), help: "Directory with one subdirectory per vserver.")
    var path = "/etc/vservers"

    @Option(name: .customLong("lib-dir"), help: ArgumentHelp(
        "vserverd's persistent state, where it records the contexts it gave (default: $VSERVERD_LIB_DIR or "
            + "\(ContextRecord.defaultLibDirectory)); only read.", valueName: "path"))
    var libDirectory: String?

    /// vserverd's record of assigned contexts.
    var contextRecord: String { ContextRecord.file(in: ContextRecord.libDirectory(libDirectory)) }
}
