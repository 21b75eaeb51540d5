import Glibc

/// Typed access to a parsed vserver.toml: every mismatch becomes an error with file, line and key.
package struct TOMLReader {
    package let file: String

    package func error(_ line: Int, _ key: String, _ message: String) -> ConfigError {
        ConfigError(file: file, line: line, key: key, message: message)
    }

    package func warning(_ line: Int, _ key: String, _ message: String) -> String {
        error(line, key, message).description
    }

    package func typeError(_ value: TOMLValue, _ key: String, expected: String) -> ConfigError {
        error(value.line, key, "expected \(expected), found \(value.typeDescription)")
    }

    /// Strings end up in C strings (paths, argv, environment), so NUL is refused for all of them.
    package func string(_ value: TOMLValue, _ key: String) throws(ConfigError) -> String {
        guard case .string(let text) = value.kind else { throw typeError(value, key, expected: "a string") }
        guard !text.utf8.contains(0) else { throw error(value.line, key, "must not contain a NUL character") }
        return text
    }

    package func integer(_ value: TOMLValue, _ key: String) throws(ConfigError) -> Int64 {
        guard case .integer(let number) = value.kind else { throw typeError(value, key, expected: "an integer") }
        return number
    }

    package func boolean(_ value: TOMLValue, _ key: String) throws(ConfigError) -> Bool {
        guard case .boolean(let flag) = value.kind else { throw typeError(value, key, expected: "a boolean") }
        return flag
    }

    package func table(_ value: TOMLValue, _ key: String) throws(ConfigError) -> TOMLTable {
        guard case .table(let table) = value.kind else { throw typeError(value, key, expected: "a table") }
        return table
    }

    package func array(_ value: TOMLValue, _ key: String) throws(ConfigError) -> [TOMLValue] {
        guard case .array(let elements) = value.kind else { throw typeError(value, key, expected: "an array") }
        return elements
    }

    package func strings(_ value: TOMLValue, _ key: String, nonEmpty: Bool = false) throws(ConfigError)
        -> [(text: String, line: Int)]
    {
        guard case .array(let elements) = value.kind else {
            throw typeError(value, key, expected: "an array of strings")
        }
        if nonEmpty && elements.isEmpty { throw error(value.line, key, "must not be an empty array") }
        var result: [(String, Int)] = []
        for element in elements {
            guard case .string = element.kind else {
                throw error(element.line, key, "expected an array of strings, found \(element.typeDescription) in it")
            }
            result.append((try string(element, key), element.line))
        }
        return result
    }

    package func unknownKey(_ entry: TOMLTable.Entry, _ key: String, known: [String], in table: String?)
        -> ConfigError
    {
        if let suggestion = Validation.suggestion(for: entry.key, among: known) {
            return error(entry.line, key, "unknown key; did you mean \(quoted(suggestion))?")
        }
        let place = table.map { "in [\($0)]" } ?? "at the top level"
        return error(entry.line, key, "unknown key (known keys \(place): \(known.joined(separator: ", ")))")
    }

    package static func path(_ parent: String?, _ key: String) -> String {
        parent.map { "\($0).\(TOML.formatKey(key))" } ?? TOML.formatKey(key)
    }
}

/// vserver.toml (docs/ARCHITECTURE.md §3) → a draft configuration.
package enum TOMLConfig {
    package static let fileName = "vserver.toml"

    package static let topLevelKeys = [
        "context", "root", "hostname", "domainname", "autostart", "marks", "after", "init", "command", "init-style",
        "on-reboot", "console", "runlevels", "rc", "kill-sequence", "stop-signal", "stop-timeout", "hook-timeout",
        "shell", "timezone", "environment", "namespaces", "network", "capabilities", "limits", "resources", "disk",
        "mount", "security",
    ]

    package static func read(
        name: String, directory: String, file: String, text: String, environment: LoaderEnvironment
    )
        -> DraftOutcome
    {
        let document: TOMLTable
        do throws(TOMLError) {
            document = try TOML.parse(text)
        } catch {
            let failure = ConfigError(
                file: file, line: error.line, column: error.column, key: error.key, message: error.message)
            return DraftOutcome(result: .failure(failure))
        }
        let reader = TOMLReader(file: file)
        return DraftOutcome { (context: inout DraftOutcome.Context?) throws(ConfigError) in
            if let entry = document.entry("context") {
                let value = try reader.integer(entry.value, "context")
                if let problem = Settings.contextProblem(value) {
                    throw reader.error(entry.value.line, "context", problem)
                }
                context = (Int(value), SettingLocation(file: file, line: entry.line, key: "context"))
            }
            var parser = TOMLConfigParser(
                reader: reader, name: name, directory: directory, file: file, environment: environment)
            return try parser.parse(document)
        }
    }
}

private struct TOMLConfigParser {
    let reader: TOMLReader
    let environment: LoaderEnvironment
    var config: VServerConfig
    var afterLocations: [SettingLocation] = []

    var rootSetting: (path: String, line: Int)?
    var entrySettings: [(key: String, line: Int)] = []
    var net: (mode: String, line: Int)?
    var initStyleLine: Int?
    var runlevelsLine: Int?
    var rcLine: Int?
    var killSequenceLine: Int?
    var networkEntry: TOMLTable.Entry?
    var seccompLine: Int?
    var nestingLine: Int?
    var added: [(number: Int, line: Int)] = []
    var dropped: [(number: Int, line: Int)] = []
    var mountSpecs: [(spec: MountSpec, key: String, lines: [MountSpec.Field: Int], line: Int)] = []

    init(reader: TOMLReader, name: String, directory: String, file: String, environment: LoaderEnvironment) {
        self.reader = reader
        self.environment = environment
        config = VServerConfig(name: name, context: 0, root: "", configDirectory: directory, configFile: file)
    }

    mutating func parse(_ document: TOMLTable) throws(ConfigError) -> VServerDraft {
        for entry in document.entries { try read(entry) }
        try finish()
        return VServerDraft(config: config, afterLocations: afterLocations)
    }

    private mutating func read(_ entry: TOMLTable.Entry) throws(ConfigError) {
        let key = TOML.formatKey(entry.key)
        let value = entry.value
        switch entry.key {
        case "context":
            config.context = Int(try reader.integer(value, key))
        case "root":
            rootSetting = (try reader.string(value, key), value.line)
        case "hostname":
            let hostname = try reader.string(value, key)
            if let problem = Validation.hostnameProblem(hostname) { throw reader.error(value.line, key, problem) }
            config.hostname = hostname
        case "domainname":
            let domainname = try reader.string(value, key)
            if let problem = Validation.hostnameProblem(domainname) { throw reader.error(value.line, key, problem) }
            config.domainname = domainname
        case "autostart":
            config.autostart = try reader.boolean(value, key)
        case "marks":
            for (mark, line) in try reader.strings(value, key) {
                if let problem = AutostartMarks.problem(mark) { throw reader.error(line, key, problem) }
                if !config.marks.contains(mark) { config.marks.append(mark) }
            }
        case "after":
            for (name, line) in try reader.strings(value, key) {
                if let problem = VServerName.problem(name) {
                    throw reader.error(line, key, "\(quoted(name)) is not a valid vserver name: \(problem)")
                }
                if name == config.name { throw reader.error(line, key, "a vserver cannot come after itself") }
                if config.after.contains(name) { continue }
                config.after.append(name)
                afterLocations.append(SettingLocation(file: reader.file, line: line, key: key))
            }
        case "init", "command":
            let argv = try reader.strings(value, key, nonEmpty: true)
            if let problem = Settings.programProblem(argv[0].text, allowsBareName: entry.key == "command") {
                throw reader.error(argv[0].line, key, problem)
            }
            config.entry = entry.key == "init" ? .initProgram(argv.map(\.text)) : .command(argv.map(\.text))
            entrySettings.append((key, entry.line))
        case "stop-signal":
            let text: String
            if case .integer(let number) = value.kind {
                text = String(number)
            } else {
                guard case .string = value.kind else {
                    throw reader.typeError(value, key, expected: "a signal name or number")
                }
                text = try reader.string(value, key)
            }
            guard let signal = Signals.parse(text) else {
                throw reader.error(
                    value.line, key, "unknown signal \(quoted(text)) (use a name like \"SIGTERM\" or \"SIGRTMIN+3\")")
            }
            config.stopSignal = VServerConfig.Signal(number: signal.number, name: signal.name)
        case "init-style":
            config.initStyle = try choice(value, key, VServerConfig.InitStyle.self)
            initStyleLine = entry.line
        case "on-reboot":
            config.onReboot = try choice(value, key, VServerConfig.RebootAction.self)
        case "console":
            config.console = try choice(value, key, VServerConfig.ConsoleKind.self)
        case "runlevels":
            try readRunlevels(try reader.table(value, key), key)
            runlevelsLine = entry.line
        case "rc":
            try readRC(try reader.table(value, key), key)
            rcLine = entry.line
        case "kill-sequence":
            let text = try reader.string(value, key)
            do throws(Problem) {
                config.killSequence = try KillSequence.parse(text)
            } catch {
                throw reader.error(value.line, key, error.message)
            }
            killSequenceLine = entry.line
        case "stop-timeout", "hook-timeout":
            let seconds = try reader.integer(value, key)
            let range = VServerConfig.timeoutRange
            guard range.contains(Int(clamping: seconds)) else {
                throw reader.error(
                    value.line, key,
                    "must be an integer from \(range.lowerBound) to \(range.upperBound) (seconds), not \(seconds)")
            }
            if entry.key == "stop-timeout" {
                config.stopTimeout = Int(seconds)
            } else {
                config.hookTimeout = Int(seconds)
            }
        case "shell":
            let argv = try reader.strings(value, key, nonEmpty: true)
            if let problem = Settings.programProblem(argv[0].text, allowsBareName: true) {
                throw reader.error(argv[0].line, key, problem)
            }
            config.shell = argv.map(\.text)
        case "timezone":
            let zone = try reader.string(value, key)
            if let problem = Validation.timezoneProblem(zone, zoneinfo: environment.zoneinfoDirectory) {
                throw reader.error(value.line, key, problem)
            }
            config.timezone = zone
        case "environment":
            for variable in try reader.table(value, key).entries {
                let variableKey = TOMLReader.path(key, variable.key)
                if let problem = Validation.environmentNameProblem(variable.key) {
                    throw reader.error(variable.line, variableKey, problem)
                }
                config.environment[variable.key] = try reader.string(variable.value, variableKey)
            }
        case "namespaces":
            try readNamespaces(try reader.table(value, key), key)
        case "network":
            _ = try reader.table(value, key)
            networkEntry = entry
        case "capabilities":
            try readCapabilities(try reader.table(value, key), key)
        case "security":
            try readSecurity(try reader.table(value, key), key)
        case "limits":
            for limit in try reader.table(value, key).entries { config.limits.append(try readLimit(limit, key)) }
        case "resources", "disk":
            try readResources(try reader.table(value, key), key)
        case "mount":
            guard case .array(let elements) = value.kind else {
                throw reader.typeError(value, key, expected: "an array of tables ([[mount]])")
            }
            for (index, element) in elements.enumerated() {
                try readMount(element, "\(key)[\(index + 1)]")
            }
        default:
            throw reader.unknownKey(entry, key, known: TOMLConfig.topLevelKeys, in: nil)
        }
    }

    /// One of an enum's raw values: `init-style = "systemd"`.
    private func choice<T: RawRepresentable & CaseIterable>(_ value: TOMLValue, _ key: String, _ type: T.Type)
        throws(ConfigError) -> T where T.RawValue == String
    {
        let text = try reader.string(value, key)
        guard let result = T(rawValue: text) else {
            let names = T.allCases.map { quoted($0.rawValue) }
            let list = names.dropLast().joined(separator: ", ") + " or " + names.last!
            throw reader.error(value.line, key, "must be \(list), not \(quoted(text))")
        }
        return result
    }

    /// `[runlevels] start = "3", stop = "6"`: what `init-style = "sysv"` passes to /etc/init.d/rc.
    private mutating func readRunlevels(_ table: TOMLTable, _ parent: String) throws(ConfigError) {
        for entry in table.entries {
            let key = TOMLReader.path(parent, entry.key)
            guard entry.key == "start" || entry.key == "stop" else {
                throw reader.unknownKey(entry, key, known: ["start", "stop"], in: parent)
            }
            let level = try reader.string(entry.value, key)
            if let problem = Settings.runlevelProblem(level) { throw reader.error(entry.value.line, key, problem) }
            if entry.key == "start" { config.startRunlevel = level } else { config.stopRunlevel = level }
        }
    }

    /// `[rc] start = [...], stop = [...]`: the boot commands `init-style = "rc"` runs under the stub init.
    private mutating func readRC(_ table: TOMLTable, _ parent: String) throws(ConfigError) {
        for entry in table.entries {
            let key = TOMLReader.path(parent, entry.key)
            guard entry.key == "start" || entry.key == "stop" else {
                throw reader.unknownKey(entry, key, known: ["start", "stop"], in: parent)
            }
            let argv = try reader.strings(entry.value, key, nonEmpty: entry.key == "start")
            if let program = argv.first, let problem = Settings.programProblem(program.text, allowsBareName: true) {
                throw reader.error(program.line, key, problem)
            }
            if entry.key == "start" { config.rcStart = argv.map(\.text) } else { config.rcStop = argv.map(\.text) }
        }
    }

    private mutating func readNamespaces(_ table: TOMLTable, _ parent: String) throws(ConfigError) {
        for entry in table.entries {
            let key = TOMLReader.path(parent, entry.key)
            switch entry.key {
            case "net":
                let mode = try reader.string(entry.value, key)
                guard TOMLNetwork.modes.contains(mode) else {
                    throw reader.error(
                        entry.value.line, key,
                        "must be \"host\", \"none\", \"bound\" or \"veth\", not \(quoted(mode))")
                }
                net = (mode, entry.line)
            case "user":
                config.userNamespace = try reader.boolean(entry.value, key)
            case "time":
                config.timeNamespace = try reader.boolean(entry.value, key)
            default:
                throw reader.unknownKey(entry, key, known: ["net", "user", "time"], in: parent)
            }
        }
    }

    /// `[security] seccomp = "default" | "unconfined"`, `nesting = bool`.
    private mutating func readSecurity(_ table: TOMLTable, _ parent: String) throws(ConfigError) {
        for entry in table.entries {
            let key = TOMLReader.path(parent, entry.key)
            switch entry.key {
            case "seccomp":
                config.seccomp = try choice(entry.value, key, VServerConfig.SeccompPolicy.self)
                seccompLine = entry.value.line
            case "nesting":
                config.nesting = try reader.boolean(entry.value, key)
                nestingLine = entry.value.line
            default:
                throw reader.unknownKey(entry, key, known: ["seccomp", "nesting"], in: parent)
            }
        }
    }

    private mutating func readCapabilities(_ table: TOMLTable, _ parent: String) throws(ConfigError) {
        for entry in table.entries {
            let key = TOMLReader.path(parent, entry.key)
            guard entry.key == "add" || entry.key == "drop" else {
                throw reader.unknownKey(entry, key, known: ["add", "drop"], in: parent)
            }
            for (name, line) in try reader.strings(entry.value, key) {
                guard let number = Capabilities.number(name) else {
                    throw reader.error(line, key, "unknown capability \(quoted(name))")
                }
                if entry.key == "add" { added.append((number, line)) } else { dropped.append((number, line)) }
            }
        }
    }

    /// `[resources]` and `[disk]`: the guest's cgroup limits and disk quota (docs/ARCHITECTURE.md §4).
    private mutating func readResources(_ table: TOMLTable, _ parent: String) throws(ConfigError) {
        for entry in table.entries {
            let key = TOMLReader.path(parent, entry.key)
            guard let resource = ResourceKey.named("\(parent).\(entry.key)") else {
                throw reader.unknownKey(entry, key, known: ResourceKey.keys(in: parent), in: parent)
            }
            if let problem = resource.read(entry.value, into: &config.resources) {
                throw reader.error(entry.value.line, key, problem)
            }
            config.resourceLines[resource] = entry.value.line
        }
    }

    private func readLimit(_ entry: TOMLTable.Entry, _ parent: String) throws(ConfigError) -> VServerConfig.Limit {
        let key = TOMLReader.path(parent, entry.key)
        guard let resource = ResourceLimits.number(entry.key) else {
            throw reader.unknownKey(entry, key, known: ResourceLimits.names, in: parent)
        }
        let expected = "an integer, \"unlimited\" or { soft = N, hard = N }"
        func amount(_ value: TOMLValue, _ key: String) throws(ConfigError) -> UInt64 {
            switch value.kind {
            case .integer(let number):
                guard number >= 0 else { throw reader.error(value.line, key, "must not be negative, not \(number)") }
                return UInt64(number)
            case .string(let text):
                guard text == "unlimited" else {
                    throw reader.error(value.line, key, "expected an integer or \"unlimited\", not \(quoted(text))")
                }
                return .max
            default:
                throw reader.typeError(value, key, expected: expected)
            }
        }
        guard case .table(let pair) = entry.value.kind else {
            let value = try amount(entry.value, key)
            return VServerConfig.Limit(name: entry.key, resource: resource, soft: value, hard: value)
        }
        var soft: UInt64?
        var hard: UInt64?
        for half in pair.entries {
            let halfKey = TOMLReader.path(key, half.key)
            switch half.key {
            case "soft": soft = try amount(half.value, halfKey)
            case "hard": hard = try amount(half.value, halfKey)
            default: throw reader.unknownKey(half, halfKey, known: ["soft", "hard"], in: key)
            }
        }
        guard let soft, let hard else {
            throw reader.error(entry.value.line, key, "needs both soft and hard: { soft = N, hard = N }")
        }
        guard soft <= hard else {
            throw reader.error(
                entry.value.line, key,
                "the soft limit \(ResourceLimits.describe(soft)) is above the hard limit "
                    + ResourceLimits.describe(hard))
        }
        return VServerConfig.Limit(name: entry.key, resource: resource, soft: soft, hard: hard)
    }

    private mutating func readMount(_ element: TOMLValue, _ key: String) throws(ConfigError) {
        guard case .table(let table) = element.kind else {
            throw reader.typeError(element, key, expected: "a table ([[mount]])")
        }
        var source: String?
        var target: String?
        var type: String?
        var options: [String] = []
        var lines: [MountSpec.Field: Int] = [:]
        for entry in table.entries {
            let fieldKey = "\(key).\(TOML.formatKey(entry.key))"
            switch entry.key {
            case "source":
                source = try reader.string(entry.value, fieldKey)
                lines[.source] = entry.value.line
            case "target":
                target = try reader.string(entry.value, fieldKey)
                lines[.target] = entry.value.line
            case "type":
                type = try reader.string(entry.value, fieldKey)
                lines[.type] = entry.value.line
            case "options":
                options = try reader.strings(entry.value, fieldKey).map(\.text)
                lines[.options] = entry.value.line
            default:
                throw reader.unknownKey(entry, fieldKey, known: ["source", "target", "type", "options"], in: "[mount]")
            }
        }
        guard let source else { throw reader.error(element.line, "\(key).source", "is required") }
        guard let target else { throw reader.error(element.line, "\(key).target", "is required") }
        let spec = MountSpec(
            source: source, target: target, type: type, options: options,
            origin: "\(TOMLConfig.fileName):\(element.line)", allowsRelativeTarget: false)
        mountSpecs.append((spec, key, lines, element.line))
    }

    /// `[runlevels]`, `[rc]` and `kill-sequence` belong to the styles that run boot scripts under the stub init.
    private func finishInitStyle() throws(ConfigError) {
        let style = config.initStyle
        if let runlevelsLine, style != .sysv {
            throw reader.error(
                runlevelsLine, "runlevels",
                "[runlevels] needs init-style = \"sysv\" (init-style is \(quoted(style.rawValue)))")
        }
        if let rcLine, style != .rc {
            throw reader.error(rcLine, "rc", "[rc] needs init-style = \"rc\" (init-style is \(quoted(style.rawValue)))")
        }
        if let killSequenceLine, !style.runsBootScripts {
            throw reader.error(
                killSequenceLine, "kill-sequence",
                "needs init-style = \"sysv\" or \"rc\" (with \(quoted(style.rawValue)) the init itself ends the rest)")
        }
        guard style.runsBootScripts, let initStyleLine else { return }
        if entrySettings.first?.key == "command" || entrySettings.first?.key == "init" {
            throw reader.error(
                initStyleLine, "init-style",
                "\(quoted(style.rawValue)) runs the guest's boot scripts under vserverd's stub init; it does not go "
                    + "with \(entrySettings[0].key)")
        }
        if style == .rc, config.rcStart.isEmpty {
            throw reader.error(initStyleLine, "init-style", "\"rc\" needs [rc] start = [\"/path/of/boot-script\", ...]")
        }
    }

    private mutating func finish() throws(ConfigError) {
        if entrySettings.count > 1 {
            let (first, second) = (entrySettings[0], entrySettings[1])
            throw reader.error(
                second.line, second.key,
                "init and command are mutually exclusive (\(first.key) is set on line \(first.line))")
        }
        try finishInitStyle()
        try finishNetwork()
        try finishCapabilities()
        if let nestingLine, config.nesting, !config.userNamespace {
            throw reader.error(
                nestingLine, "security.nesting",
                "needs [namespaces] user = true (without a user namespace the guest cannot mount at all)")
        }
        if let seccompLine, config.seccomp == .unconfined, !config.userNamespace {
            config.warnings.append(
                reader.warning(
                    seccompLine, "security.seccomp",
                    "\"unconfined\" leaves a root guest without a user namespace the host's keyrings, bpf, "
                        + "perf_event_open and new user namespaces; only kexec stays denied"))
        }

        let rootPath = rootSetting?.path ?? Path.join(environment.defaultRootDirectory, config.name)
        do throws(Problem) {
            config.root = try Settings.resolveRoot(rootPath, barrierOwner: environment.requiredOwner)
        } catch {
            throw rootSetting.map { reader.error($0.line, "root", error.message) }
                ?? ConfigError(file: reader.file, key: "root", message: error.message + " (the default root; set root)")
        }

        for (spec, key, lines, line) in mountSpecs {
            let (mount, warnings) = try spec.validate(
                fail: { field, message in reader.error(lines[field] ?? line, "\(key).\(field)", message) },
                warn: { field, message in reader.warning(lines[field] ?? line, "\(key).\(field)", message) })
            if let mount { config.mounts.append(mount) }
            config.warnings += warnings
        }
        let fstab = Path.join(config.configDirectory, "fstab")
        if let text = try environment.files.read(fstab) {
            let (mounts, warnings) = try Fstab.parse(text, file: fstab)
            config.mounts += mounts
            config.warnings += warnings
        }
    }

    private mutating func finishNetwork() throws(ConfigError) {
        let table = networkEntry.flatMap { if case .table(let table) = $0.value.kind { table } else { nil } }
        config.network = try TOMLNetwork(reader: reader).network(
            mode: net?.mode ?? "host", modeLine: net?.line, table: table, tableLine: networkEntry?.line,
            context: config.context)
    }

    private mutating func finishCapabilities() throws(ConfigError) {
        var mask = config.baseCapabilities
        for (number, line) in added {
            if case .bound = config.network, Capabilities.privateNetworkOnly.contains(number) {
                throw reader.error(
                    line, "capabilities.add",
                    "\(Capabilities.name(number)) is not for a bound vserver (net = \"bound\"): it would let it "
                        + "send from, or add, addresses that are not its own")
            }
            mask |= 1 << UInt64(number)
            if let warning = Capabilities.warning(
                adding: number, userNamespace: config.userNamespace, hostNetwork: !config.hasPrivateNetwork)
            {
                config.warnings.append(reader.warning(line, "capabilities.add", warning))
            }
        }
        for (number, line) in dropped {
            mask &= ~(1 << UInt64(number))
            if added.contains(where: { $0.number == number }) {
                config.warnings.append(
                    reader.warning(line, "capabilities.drop", "\(Capabilities.name(number)) is also in add; drop wins"))
            }
        }
        config.capabilities = mask
    }
}
