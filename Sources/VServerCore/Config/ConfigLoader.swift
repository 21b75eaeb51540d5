/// Reads the configuration directory (`/etc/vservers`): one vserver per subdirectory.
public enum ConfigLoader {
    /// Reads every vserver under `directory`; one bad vserver never hides the others.
    public static func load(directory: String) -> ConfigSet {
        load(directory: directory, environment: LoaderEnvironment())
    }

    static func load(directory given: String, environment: LoaderEnvironment) -> ConfigSet {
        let directory = FileSystem.absolutePath(given)
        var set = ConfigSet(directory: directory)
        let names: [String]
        do throws(SystemError) {
            names = try FileSystem.listDirectory(directory)
        } catch {
            set.ignored.append(ConfigError(file: directory, message: "\(error.call): \(error.message)"))
            return set
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
                set.ignored.append(ConfigError(file: path, message: "\(error.call): \(error.message)"))
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
            outcomes[name] = readVServer(name: name, path: path, status: status, environment: environment)
        }

        var drafts: [String: VServerDraft] = [:]
        for (name, outcome) in outcomes {
            switch outcome.result {
            case .success(let draft): drafts[name] = draft
            case .failure(let error): set.invalid[name] = error
            }
        }
        let autostart = Set(drafts.filter { $0.value.config.autostart }.keys)
        assignContexts(outcomes, drafts: &drafts, invalid: &set.invalid)
        checkAfter(known: Set(outcomes.keys), drafts: &drafts, invalid: &set.invalid)
        set.configs = drafts.mapValues(\.config)
        set.invalidAutostart = autostart.intersection(set.invalid.keys)
        return set
    }

    static func readVServer(name: String, path: String, status: FileStatus, environment: LoaderEnvironment)
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

    /// Explicit contexts first, in name order: a context written twice makes the later vserver invalid. Then
    /// vservers without one get the lowest free context from 1000 up, in name order. Contexts written by
    /// vservers that are invalid for another reason stay reserved.
    static func assignContexts(
        _ outcomes: [String: DraftOutcome], drafts: inout [String: VServerDraft], invalid: inout [String: ConfigError]
    ) {
        var owners: [Int: (name: String, location: SettingLocation)] = [:]
        for name in outcomes.keys.sorted() {
            guard let (context, location) = outcomes[name]?.explicitContext else { continue }
            if let owner = owners[context] {
                if drafts.removeValue(forKey: name) != nil {
                    invalid[name] = location.error(
                        "\(context) is already used by vserver \(quoted(owner.name)) (\(owner.location.place))")
                }
                continue
            }
            owners[context] = (name, location)
        }
        var next = VServerConfig.firstDefaultContext
        for name in drafts.keys.sorted() where outcomes[name]?.explicitContext == nil {
            while owners[next] != nil { next += 1 }
            guard VServerConfig.contextRange.contains(next) else {
                invalid[name] = ConfigError(
                    file: drafts[name]!.config.configFile, key: "context", message: "no free context left to assign")
                drafts[name] = nil
                continue
            }
            drafts[name]!.config.context = next
            owners[next] = (name, SettingLocation(file: drafts[name]!.config.configFile))
        }
    }

    /// `after` may only name vservers that exist (valid or not), and must not loop. Every vserver on a loop
    /// is invalid, with the loop spelled out from itself: "a -> b -> a".
    static func checkAfter(
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
