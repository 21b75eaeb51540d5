import Glibc

/// `vserverctl create`, `build` and `import`: a new `vserver.toml`, checked by the loader before it counts.
/// Nothing is left half-done: a new directory is written under a hidden name (the loader skips names that
/// start with "."), read back, renamed into place, and taken back again if the config directory as a whole then
/// reads worse than before (the new vserver invalid, or one that was valid no longer).
public enum ConfigWriter {
    public struct Written: Sendable {
        public var config: VServerConfig
        /// The vserver.toml written (or that would be written, with `dryRun`).
        public var file: String
        public var text: String
    }

    public struct NewVServer: Sendable {
        public var name: String
        public var root: String
        public var context: Int?
        public var hostname: String?
        public var autostart: Bool
        /// `[namespaces] user = true`.
        public var userNamespace: Bool
        /// The command the file's header names as its maker (default `vserverctl create NAME`).
        public var madeBy: String?

        public init(name: String, root: String, context: Int? = nil, hostname: String? = nil, autostart: Bool = false,
                    userNamespace: Bool = false, madeBy: String? = nil)
        {
            self.name = name
            self.root = root
            self.context = context
            self.hostname = hostname
            self.autostart = autostart
            self.userNamespace = userNamespace
            self.madeBy = madeBy
        }
    }

    /// A new vserver in `configDirectory`: NAME/vserver.toml with context (given, or the lowest free from 1000
    /// up), root, and hostname, autostart and user namespace when given.
    /// `contextRecord`: vserverd's record of assigned contexts, whose contexts a new vserver does not get.
    public static func create(_ new: NewVServer, configDirectory: String, contextRecord: String? = nil)
        throws(ConfigError) -> Written
    {
        try create(new, configDirectory: configDirectory, environment: environment(contextRecord))
    }

    /// The loader's settings with vserverd's record of assigned contexts read (never written).
    package static func environment(_ contextRecord: String?) -> LoaderEnvironment {
        var environment = LoaderEnvironment()
        environment.contextRecord = contextRecord
        return environment
    }

    /// What `create` would refuse whatever the root: a bad or taken name, a bad or taken context, a bad hostname.
    /// `vserverctl build` asks before it makes the root (which must not exist yet), `create` before it writes.
    public static func checkNew(_ new: NewVServer, configDirectory: String, contextRecord: String? = nil)
        throws(ConfigError)
    {
        try checkNew(new, configDirectory: configDirectory, environment: environment(contextRecord))
    }

    package static func checkNew(_ new: NewVServer, configDirectory: String, environment: LoaderEnvironment)
        throws(ConfigError)
    {
        _ = try draft(new, in: FileSystem.absolutePath(configDirectory), environment: environment)
    }

    package static func create(_ new: NewVServer, configDirectory: String, environment: LoaderEnvironment)
        throws(ConfigError) -> Written
    {
        let directory = FileSystem.absolutePath(configDirectory)
        var (config, before) = try draft(new, in: directory, environment: environment)
        let root = FileSystem.absolutePath(new.root)
        do throws(Problem) {
            config.root = try Settings.resolveRoot(root, barrierOwner: environment.requiredOwner)
        } catch {
            throw ConfigError(file: "", key: "--root", message: error.message)
        }

        // The root as given (a symlink stays one); the loader resolves it at every read.
        var written = config
        written.root = root
        let check = "`vserverctl check \(new.name)` validates this file."
        // A long command line (`build` with its options) gets a line of its own.
        let header = new.madeBy.map { [
            "Made by `\($0)`.",
            "Every other key has its default; the example in vserverd's config/ directory lists them all.", check,
        ] } ?? [
            "Made by `vserverctl create \(new.name)`. Every other key has its default; the example in vserverd's",
            "config/ directory lists them all. \(check)",
        ]
        let text = TOMLWriter.render(written, header: header)
        return try install(config, text: text, copying: [], in: directory, before: before, environment: environment)
    }

    /// The new vserver's config but for its root, and the config directory as it is now.
    private static func draft(_ new: NewVServer, in directory: String, environment: LoaderEnvironment)
        throws(ConfigError) -> (config: VServerConfig, before: ConfigSet)
    {
        try VServerName.validate(new.name)
        let target = Path.join(directory, new.name)
        if FileSystem.exists(target) { throw ConfigError(file: target, message: "already exists") }
        let before = ConfigLoader.load(directory: directory, environment: environment)

        var config = VServerConfig(name: new.name, context: 0, root: "", configDirectory: target,
                                   configFile: Path.join(target, TOMLConfig.fileName))
        if let context = new.context {
            if let problem = Settings.contextProblem(Int64(context)) {
                throw ConfigError(file: "", key: "--context", message: problem)
            }
            config.context = context
            try checkContextFree(config, before: before, key: "--context")
        } else {
            config.context = freeContext(before)
        }
        if let hostname = new.hostname {
            if let problem = Validation.hostnameProblem(hostname) {
                throw ConfigError(file: "", key: "--hostname", message: problem)
            }
            config.hostname = hostname
        }
        config.autostart = new.autostart
        config.userNamespace = new.userNamespace
        // The default bounding set depends on it.
        config.capabilities = config.baseCapabilities
        return (config, before)
    }

    /// The util-vserver configuration in `source` (docs/ARCHITECTURE.md §3) as a vserver.toml. In place when `source`
    /// is the vserver's directory in `configDirectory` (its util-vserver files stay, no longer read; `fstab` and
    /// `scripts/` are read as before); otherwise into a new directory there, with `fstab` and `scripts/` copied.
    /// The context is kept: the one in `context`, or the one vserverd assigned to it. `dryRun` writes nothing.
    public static func importUtilVServer(from source: String, name: String? = nil, configDirectory: String,
                                         dryRun: Bool = false, contextRecord: String? = nil)
        throws(ConfigError) -> Written
    {
        try importUtilVServer(from: source, name: name, configDirectory: configDirectory, dryRun: dryRun,
                              environment: environment(contextRecord))
    }

    /// `alongside`: vservers imported by the same command, which `after` may name before they exist. An `after`
    /// naming a vserver that does not exist is kept, with a warning (unless it comes alongside).
    package static func importUtilVServer(from source: String, name: String?, configDirectory: String, dryRun: Bool,
                                          environment: LoaderEnvironment, alongside: Set<String> = [])
        throws(ConfigError) -> Written
    {
        let sourceDirectory = FileSystem.absolutePath(source)
        let name = name ?? Path.components(sourceDirectory).last.map(String.init) ?? ""
        try VServerName.validate(name)
        let directory = FileSystem.absolutePath(configDirectory)
        let target = Path.join(directory, name)
        let inPlace = (try? FileSystem.realPath(sourceDirectory)) == (try? FileSystem.realPath(target))

        let status: FileStatus
        do throws(SystemError) {
            guard let found = try FileSystem.status(sourceDirectory), found.isDirectory else {
                throw SystemError(call: "open", path: sourceDirectory, errno: ENOTDIR)
            }
            status = found
        } catch {
            throw ConfigError(file: sourceDirectory, failed: error)
        }
        let tomlFile = Path.join(sourceDirectory, TOMLConfig.fileName)
        if FileSystem.exists(tomlFile) {
            throw ConfigError(file: tomlFile, message: "exists: this vserver is in vserverd's format already")
        }
        guard UtilVServerConfig.isPresent(in: sourceDirectory) else {
            throw ConfigError(
                file: sourceDirectory,
                message: "no util-vserver configuration here (none of "
                    + UtilVServerConfig.markers.joined(separator: ", ") + ")")
        }
        if !inPlace && FileSystem.exists(target) { throw ConfigError(file: target, message: "already exists") }

        let before = ConfigLoader.load(directory: directory, environment: environment)
        let outcome = ConfigLoader.readVServer(name: name, path: sourceDirectory, status: status,
                                               environment: environment)
        var config: VServerConfig
        var afterLocations: [SettingLocation] = []
        switch outcome.result {
        case .success(let draft): (config, afterLocations) = (draft.config, draft.afterLocations)
        case .failure(let error): throw error
        }
        let dangling = danglingAfter(&config, locations: afterLocations, before: before, alongside: alongside)
        if inPlace, let loaded = before.configs[name] {
            // Where the loader gave it a context (none written, or checks across vservers), keep that one.
            config.assignContext(loaded.context)
        } else if inPlace, !isUnknownDependency(before.invalid[name], among: dangling) {
            // Only a dependency that is not there yet (kept with a warning) leaves it without a loaded context.
            throw before.invalid[name] ?? ConfigError(file: target, message: "is not a vserver")
        } else if let (context, location) = outcome.explicitContext {
            config.assignContext(context)
            try checkContextFree(config, before: before, key: nil, location: location)
        } else {
            config.assignContext(freeContext(before))
        }

        let header = [
            "Converted by `vserverctl import \(sourceDirectory)` from its util-vserver files"
                + (inPlace ? " in this directory," : "."),
            inPlace
                ? "which vserverd no longer reads now that this file exists; fstab and scripts/ it still reads."
                : "Its fstab and scripts/, where it had them, were copied here as they were.",
        ]
        let text = TOMLWriter.render(config, header: header)
        if dryRun {
            let file = inPlace ? tomlFile : Path.join(target, TOMLConfig.fileName)
            return Written(config: config, file: file, text: text)
        }
        guard inPlace else {
            let extras = ["fstab", "scripts"].map { Path.join(sourceDirectory, $0) }.filter(FileSystem.exists)
            return try install(config, text: text, copying: extras, in: directory, before: before,
                               environment: environment, tolerating: dangling)
        }
        do throws(SystemError) {
            try FileSystem.writeFileAtomically(tomlFile, contents: text, mode: 0o644)
        } catch {
            throw ConfigError(file: tomlFile, failed: error)
        }
        do throws(ConfigError) {
            try checkReadsBack(config, from: sourceDirectory, environment: environment)
            try checkLoads(name, in: directory, before: before, environment: environment, tolerating: dangling)
        } catch {
            unlink(tomlFile)
            throw error
        }
        return Written(config: config, file: tomlFile, text: text)
    }

    // MARK: Steps

    /// Writes NAME/vserver.toml under a hidden name with `extras` beside it, checks it, renames it into place and
    /// checks the whole directory; undoes it all on any failure.
    private static func install(_ config: VServerConfig, text: String, copying extras: [String], in directory: String,
                                before: ConfigSet, environment: LoaderEnvironment, tolerating: Set<String> = [])
        throws(ConfigError) -> Written
    {
        let name = config.name
        let target = Path.join(directory, name)
        let staging = Path.join(directory, ".\(name).new-\(getpid())")
        FileSystem.removeTree(staging)
        var installed = false
        defer { if !installed { FileSystem.removeTree(staging) } }
        do throws(SystemError) {
            // The first vserver of a host may come before /etc/vservers does.
            if !FileSystem.exists(directory) {
                guard mkdir(directory, 0o755) == 0 || errno == EEXIST else {
                    throw SystemError(call: "mkdir", path: directory, errno: errno)
                }
            }
            guard mkdir(staging, 0o755) == 0, chmod(staging, 0o755) == 0 else {
                throw SystemError(call: "mkdir", path: staging, errno: errno)
            }
            try FileSystem.writeFileAtomically(Path.join(staging, TOMLConfig.fileName), contents: text, mode: 0o644)
            for extra in extras {
                let name = Path.components(extra).last.map(String.init) ?? ""
                // Hooks run as root: no setuid, setgid or sticky bit and no write for group or others comes along.
                try FileSystem.copyTree(extra, to: Path.join(staging, name), modeMask: 0o755)
            }
        } catch {
            throw ConfigError(file: error.path ?? staging, failed: error)
        }
        try checkReadsBack(config, from: staging, environment: environment)
        guard rename(staging, target) == 0 else {
            let error = errno
            throw ConfigError(file: target, message: error == EEXIST || error == ENOTEMPTY
                ? "already exists" : "rename: \(String(cString: strerror(error)))")
        }
        installed = true
        do throws(ConfigError) {
            try checkLoads(name, in: directory, before: before, environment: environment, tolerating: tolerating)
        } catch {
            FileSystem.removeTree(target)
            throw error
        }
        return Written(config: config, file: Path.join(target, TOMLConfig.fileName), text: text)
    }

    /// The written directory must read as exactly `config` (but for where it lives): what the writer cannot
    /// express fails here rather than being dropped.
    private static func checkReadsBack(_ config: VServerConfig, from path: String, environment: LoaderEnvironment)
        throws(ConfigError)
    {
        let status = (try? FileSystem.status(path)) ?? nil
        guard let status else { throw ConfigError(file: path, message: "vanished while it was written") }
        let outcome = ConfigLoader.readVServer(name: config.name, path: path, status: status,
                                               environment: environment)
        // Errors name the file as it is meant to be, not the hidden one it was tried in.
        let file = Path.join(Path.join(Path.parent(path), config.name), TOMLConfig.fileName)
        let readBack: VServerConfig
        switch outcome.result {
        case .success(let draft): readBack = draft.config
        case .failure(let error):
            throw ConfigError(file: file, line: error.line, key: error.key,
                              message: "\(error.message) (the file would say this; nothing was written)")
        }
        guard substance(readBack) == substance(config) else {
            throw ConfigError(file: file, message: "would not read back as the configuration it was made from; "
                                  + "nothing was written")
        }
    }

    /// After the change the new vserver is valid, and so is every vserver that was valid before. `tolerating`:
    /// vservers its `after` may name that do not exist yet (an import's), which leave it invalid until they do.
    private static func checkLoads(_ name: String, in directory: String, before: ConfigSet,
                                   environment: LoaderEnvironment, tolerating: Set<String> = []) throws(ConfigError)
    {
        let after = ConfigLoader.load(directory: directory, environment: environment)
        if let error = after.invalid[name], !isUnknownDependency(error, among: tolerating) { throw error }
        for other in before.configs.keys.sorted() {
            if let error = after.invalid[other] {
                throw ConfigError(file: error.file, line: error.line, key: error.key,
                                  message: "\(error.message) (with \(name) added)")
            }
        }
    }

    /// Whether `error` is the loader's for an `after` naming one of `names`, which do not exist yet.
    private static func isUnknownDependency(_ error: ConfigError?, among names: Set<String>) -> Bool {
        guard let error else { return false }
        return names.contains { error.message == "unknown vserver \(quoted($0))" }
    }

    /// A config without what depends on where it was read from.
    private static func substance(_ config: VServerConfig) -> VServerConfig {
        var result = config
        result.configDirectory = ""
        result.configFile = ""
        result.warnings = []
        result.resourceLines = [:]
        result.mounts = config.mounts.map { mount in
            var copy = mount
            copy.origin = Path.components(mount.origin).last.map(String.init) ?? ""
            return copy
        }
        return result
    }

    private static func checkContextFree(_ config: VServerConfig, before: ConfigSet, key: String?,
                                         location: SettingLocation? = nil) throws(ConfigError)
    {
        guard let owner = before.configs.values.first(where: { $0.context == config.context && $0.name != config.name })
        else { return }
        throw ConfigError(file: location?.file ?? "", line: location?.line, key: key,
                          message: "context \(config.context) is used by vserver \(quoted(owner.name))")
    }

    /// The lowest context from 1000 up that no vserver has or has recorded, as the loader would assign it.
    package static func freeContext(_ configs: ConfigSet) -> Int {
        let used = Set(configs.configs.values.map(\.context)).union(configs.reservedContexts)
        var context = VServerConfig.firstDefaultContext
        while used.contains(context) { context += 1 }
        return context
    }
}
