/// Reads the configuration directory (`/etc/vservers`): one vserver per subdirectory.
public enum ConfigLoader {
    /// Reads every vserver under `directory`; one bad vserver never hides the others.
    public static func load(directory: String) -> ConfigSet {
        load(directory: directory, environment: LoaderEnvironment())
    }

    /// The same with vserverd's record of assigned contexts (`ContextRecord.file(in: LIB-DIR)`): read, and when
    /// `recording` (the daemon), new assignments written to it.
    public static func load(directory: String, contextRecord: String?, recording: Bool = false) -> ConfigSet {
        var environment = LoaderEnvironment()
        environment.contextRecord = contextRecord
        environment.writesContextRecord = recording
        return load(directory: directory, environment: environment)
    }

    package static func load(directory given: String, environment: LoaderEnvironment) -> ConfigSet {
        let directory = FileSystem.absolutePath(given)
        var set = ConfigSet(directory: directory)
        let names: [String]
        do throws(SystemError) {
            names = try FileSystem.listDirectory(directory)
        } catch {
            set.ignored.append(ConfigError(file: directory, failed: error))
            return set
        }

        // Opened and checked once for every vserver's hooks; when it fails, every vserver would run them.
        let trust = environment.trust
        let trustedRoot: Result<TrustedTree.Directory?, ConfigError>
        do throws(ConfigError) {
            trustedRoot = .success(try trust.openConfigRoot(directory))
        } catch {
            trustedRoot = .failure(error)
        }

        var outcomes: [String: DraftOutcome] = [:]
        for name in names where !name.hasPrefix(".") {
            // Names from readdir are single path components: looking at one cannot leave the directory.
            let path = Path.join(directory, name)
            let status: FileStatus
            do throws(SystemError) {
                guard let found = try FileSystem.status(path) else { continue }
                status = found
            } catch {
                set.ignored.append(ConfigError(file: path, failed: error))
                continue
            }
            guard status.isDirectory else { continue }
            if let problem = VServerName.problem(name) {
                set.ignored.append(
                    ConfigError(
                        file: path,
                        message: "not a vserver: \(quoted(name)) is not a valid name (\(problem)); \(VServerName.rule)")
                )
                continue
            }
            var outcome = readVServer(name: name, path: path, status: status, environment: environment)
            if case .success = outcome.result {
                do throws(ConfigError) {
                    if let root = try trustedRoot.get() {
                        _ = try HookScripts.find(HookFlavour.allCases, root: root, configRoot: directory,
                                                 vserverDirectory: path, trust: trust)
                    }
                } catch {
                    outcome.result = .failure(error)
                }
            }
            // A util-vserver directory's files have their warnings already (UtilVServerLedger).
            if case .success(var draft) = outcome.result, draft.config.configFile != draft.config.configDirectory {
                draft.config.warnings += HookScripts.notExecutableWarnings(vserverDirectory: path)
                outcome.result = .success(draft)
            }
            outcomes[name] = outcome
        }

        var drafts: [String: VServerDraft] = [:]
        var marks: [String: Set<String>] = [:]
        for (name, outcome) in outcomes {
            switch outcome.result {
            case .success(let draft):
                drafts[name] = draft
                marks[name] = draft.config.allMarks
            case .failure(let error):
                set.invalid[name] = error
                marks[name] = AutostartMarks.probe(directory: Path.join(directory, name))
            }
        }
        assignContexts(outcomes, drafts: &drafts, set: &set, environment: environment)
        checkAddresses(drafts: &drafts, invalid: &set.invalid)
        checkAfter(known: Set(outcomes.keys), drafts: &drafts, invalid: &set.invalid)
        set.configs = drafts.mapValues(\.config)
        set.invalidMarks = marks.filter { set.invalid[$0.key] != nil && !$0.value.isEmpty }
        set.invalidAutostart = Set(set.invalidMarks.filter { $0.value.contains(AutostartMarks.boot) }.keys)
        return set
    }

    package static func readVServer(name: String, path: String, status: FileStatus, environment: LoaderEnvironment)
        -> DraftOutcome
    {
        do throws(ConfigError) {
            try environment.files.checkDirectory(path, status: status)
            let file = Path.join(path, TOMLConfig.fileName)
            if let text = try environment.files.read(file) {
                return TOMLConfig.read(name: name, directory: path, file: file, text: text, environment: environment)
            }
            guard UtilVServerConfig.isPresent(in: path) else {
                throw ConfigError(file: path, message: "no \(TOMLConfig.fileName)")
            }
            return UtilVServerConfig.read(name: name, directory: path, environment: environment)
        } catch {
            return DraftOutcome(result: .failure(error))
        }
    }

    /// Explicit contexts first, in name order: a context written twice makes the later vserver invalid. Contexts
    /// written by vservers that are invalid for another reason stay reserved. Then each vserver without one gets
    /// the context recorded for its name (`ContextRecord`) unless a config states that context; the rest get the
    /// lowest context from 1000 up that nobody states or has recorded, in name order, and are recorded.
    package static func assignContexts(
        _ outcomes: [String: DraftOutcome], drafts: inout [String: VServerDraft], set: inout ConfigSet,
        environment: LoaderEnvironment
    ) {
        var owners: [Int: (name: String, location: SettingLocation)] = [:]
        for name in outcomes.keys.sorted() {
            guard let (context, location) = outcomes[name]?.explicitContext else { continue }
            if let owner = owners[context] {
                if drafts.removeValue(forKey: name) != nil {
                    set.invalid[name] = location.error(
                        "\(context) is already used by vserver \(quoted(owner.name)) (\(owner.location.place))")
                }
                continue
            }
            owners[context] = (name, location)
            if drafts[name] != nil { set.contextOrigins[name] = .config }
        }

        var record: ContextRecord?
        if let file = environment.contextRecord {
            do throws(ConfigError) {
                record = try ContextRecord.read(file)
            } catch {
                // Without the record a context could move: only vservers that state theirs may start.
                for name in drafts.keys where outcomes[name]?.explicitContext == nil {
                    set.invalid[name] = ConfigError(file: error.file, line: error.line, key: error.key,
                                                    message: error.message + " (needed for \(name)'s context)")
                    drafts[name] = nil
                }
                return
            }
        }
        let before = record
        // A config that states a context takes it from any name it was recorded for.
        let kept = (before?.contexts ?? [:]).filter { name, context in
            owners[context] == nil && outcomes[name]?.explicitContext == nil
        }
        record?.contexts = kept
        let recorded = record?.contexts ?? [:]
        let recordedOwners = Dictionary(recorded.map { ($0.value, $0.key) }, uniquingKeysWith: { first, _ in first })

        var fresh: [String] = []
        var next = VServerConfig.firstDefaultContext
        for name in drafts.keys.sorted() where outcomes[name]?.explicitContext == nil {
            if let context = recorded[name] {
                drafts[name]!.config.assignContext(context)
                set.contextOrigins[name] = .recorded(file: record!.path)
                continue
            }
            while owners[next] != nil || recordedOwners[next] != nil { next += 1 }
            guard VServerConfig.contextRange.contains(next) else {
                set.invalid[name] = ConfigError(
                    file: drafts[name]!.config.configFile, key: "context", message: "no free context left to assign")
                drafts[name] = nil
                continue
            }
            drafts[name]!.config.assignContext(next)
            owners[next] = (name, SettingLocation(file: drafts[name]!.config.configFile))
            record?.contexts[name] = next
            fresh.append(name)
            set.contextOrigins[name] = record.map { .toBeRecorded(file: $0.path) } ?? .unrecorded
        }
        set.reservedContexts = Set(recorded.filter { drafts[$0.key] == nil }.values)

        guard let record, record != before, environment.writesContextRecord else { return }
        do throws(SystemError) {
            try record.write()
            for name in fresh { set.contextOrigins[name] = .recorded(file: record.path) }
        } catch {
            // Unrecorded, the context could move at the next load: refused rather than given for now.
            for name in fresh {
                set.invalid[name] = ConfigError(
                    file: drafts[name]!.config.configFile, key: "context",
                    message: "none given, and the one assigned (\(drafts[name]!.config.context)) could not be "
                        + "recorded: \(error); set context in the config")
                drafts[name] = nil
                set.contextOrigins[name] = nil
            }
        }
    }

    /// `after` may only name vservers that exist (valid or not), and must not loop. Every vserver on a loop
    /// is invalid, with the loop spelled out from itself: "a -> b -> a".
    package static func checkAfter(
        known: Set<String>, drafts: inout [String: VServerDraft], invalid: inout [String: ConfigError]
    ) {
        for name in drafts.keys.sorted() {
            let draft = drafts[name]!
            for (dependency, location) in zip(draft.config.after, draft.afterLocations)
            where !known.contains(dependency) {
                invalid[name] = location.error("unknown vserver \(quoted(dependency))")
                drafts[name] = nil
                break
            }
        }

        enum Mark { case visiting, done }
        var marks: [String: Mark] = [:]
        var cycles: [String: ConfigError] = [:]
        func visit(_ name: String, _ stack: inout [String]) {
            marks[name] = .visiting
            stack.append(name)
            let draft = drafts[name]!
            for (dependency, location) in zip(draft.config.after, draft.afterLocations) where drafts[dependency] != nil
            {
                switch marks[dependency] {
                case .visiting:
                    let loop = Array(stack[stack.lastIndex(of: dependency)!...])
                    for (index, member) in loop.enumerated() where cycles[member] == nil {
                        let path = loop[index...] + loop[..<index] + [member]
                        let next = loop[(index + 1) % loop.count]
                        let memberDraft = drafts[member]!
                        let at =
                            memberDraft.config.after.firstIndex(of: next).map { memberDraft.afterLocations[$0] }
                            ?? location
                        cycles[member] = at.error("dependency cycle: " + path.joined(separator: " -> "))
                    }
                case nil:
                    visit(dependency, &stack)
                case .done:
                    break
                }
            }
            stack.removeLast()
            marks[name] = .done
        }
        for name in drafts.keys.sorted() where marks[name] == nil {
            var stack: [String] = []
            visit(name, &stack)
        }
        for (name, error) in cycles {
            invalid[name] = error
            drafts[name] = nil
        }
    }
}
