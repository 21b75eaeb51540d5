/// Everything one scan of the configuration directory found.
public struct ConfigSet: Sendable {
    public var directory: String
    /// Valid vservers by name.
    public var configs: [String: VServerConfig] = [:]
    /// Vservers (valid directory name) whose configuration is bad; they must not start.
    public var invalid: [String: ConfigError] = [:]
    /// Directory entries that are not vservers: bad names (with why), unreadable entries.
    public var ignored: [ConfigError] = []
    /// Invalid vservers whose own file says `autostart = true` (a check across vservers failed: a duplicate
    /// context, an unknown `after`, a dependency cycle): boot-time autostart reports them.
    public var invalidAutostart: Set<String> = []
    /// The marks of each invalid vserver ("default" for autostart), also of one whose own file did not read: a start
    /// by mark reports them.
    public var invalidMarks: [String: Set<String>] = [:]
    /// Where each valid vserver's context came from (`vserverctl check` says it).
    public var contextOrigins: [String: ContextOrigin] = [:]
    /// Contexts recorded for names that are not valid vservers now (config gone or broken): kept for them, so that
    /// `create` gives them to nobody else.
    public var reservedContexts: Set<Int> = []

    public init(
        directory: String, configs: [String: VServerConfig] = [:], invalid: [String: ConfigError] = [:],
        ignored: [ConfigError] = []
    ) {
        self.directory = directory
        self.configs = configs
        self.invalid = invalid
        self.ignored = ignored
    }

    /// Name for a name or a context id ("web" or "1042"); an exact name wins over a context. Invalid vservers
    /// resolve by name (so that commands can report why they cannot start), not by context.
    public func resolve(_ nameOrContext: String) -> String? {
        if configs[nameOrContext] != nil || invalid[nameOrContext] != nil { return nameOrContext }
        guard !nameOrContext.isEmpty, nameOrContext.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
            let context = Int(nameOrContext)
        else { return nil }
        return configs.values.first { $0.context == context }?.name
    }

    /// All vserver names, valid or not, sorted.
    public var names: [String] { (Array(configs.keys) + Array(invalid.keys)).sorted() }
}
