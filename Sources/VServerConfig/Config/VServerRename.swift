import Glibc

/// `vserverctl rename OLD NEW` on a config directory: the config directory, the root when it is at its default place
/// (`/vservers/OLD`, written as `root` or as util-vserver's `vdir`, or not written at all), and every other vserver's
/// `after` (`apps/init/depends`) that names OLD, all or nothing: every change is planned (and each edited file
/// parsed) before the first is made, and a failing step undoes the ones before it. The guest must be stopped; the
/// daemon moves its console log and state itself (`Manager.rename`).
package struct VServerRename {
    package struct Result: Sendable, Equatable {
        /// The root's old and new path, when it moved.
        package var movedRoot: (from: String, to: String)?
        /// The vservers whose `after` now names the new name.
        package var dependents: [String]

        package static func == (a: Result, b: Result) -> Bool {
            a.movedRoot?.from == b.movedRoot?.from && a.movedRoot?.to == b.movedRoot?.to && a.dependents == b.dependents
        }
    }

    let old: String
    let new: String
    let configDirectory: String
    let defaultRootDirectory: String
    /// What was done, undone in reverse when a later step fails.
    private var undo: [() -> Void] = []

    package init(old: String, new: String, configDirectory: String, defaultRootDirectory: String) {
        self.old = old
        self.new = new
        self.configDirectory = FileSystem.absolutePath(configDirectory)
        self.defaultRootDirectory = defaultRootDirectory
    }

    /// Renames OLD, a valid vserver of `configs` (read from `configDirectory`). Throws what failed, with nothing
    /// changed.
    package mutating func run(configs: ConfigSet) throws(ConfigError) -> Result {
        let plan = try self.plan(configs)
        do throws(ConfigError) {
            try move(Path.join(configDirectory, old), to: Path.join(configDirectory, new))
            if let (from, to) = plan.root {
                try move(from, to: to)
                let directory = Path.join(configDirectory, new)
                if let edit = plan.rootEdit { try write(edit.text, to: Path.join(directory, edit.relative)) }
                if plan.relinksVdir { try relink(Path.join(directory, "vdir"), to: to) }
            }
            for edit in plan.dependents { try write(edit.text, to: edit.file) }
        } catch {
            undoAll()
            throw error
        }
        undo = []
        return Result(movedRoot: plan.root, dependents: plan.dependents.map(\.name))
    }

    /// Puts back everything `run` did (after a later step of the caller failed).
    package mutating func undoAll() {
        for step in undo.reversed() { step() }
        undo = []
    }

    // MARK: Plan

    private struct Plan {
        var root: (from: String, to: String)?
        /// vserver.toml's new text with `root` changed (relative to the config directory of NEW).
        var rootEdit: (relative: String, text: String)?
        var relinksVdir = false
        var dependents: [(name: String, file: String, text: String)] = []
    }

    private func plan(_ configs: ConfigSet) throws(ConfigError) -> Plan {
        let oldDirectory = Path.join(configDirectory, old)
        try VServerName.validate(new)
        guard let config = configs.configs[old] else {
            throw configs.invalid[old].map {
                ConfigError(file: $0.file, message: "the config of \(old) is invalid (\($0.message)): fix it first")
            } ?? ConfigError(file: oldDirectory, message: "no vserver named \(old)")
        }
        let newDirectory = Path.join(configDirectory, new)
        if configs.configs[new] != nil || configs.invalid[new] != nil || FileSystem.exists(newDirectory) {
            throw ConfigError(file: newDirectory, message: "already exists")
        }
        var plan = Plan()
        let defaultRoots = (try? FileSystem.realPath(defaultRootDirectory)) ?? defaultRootDirectory
        if config.root == Path.join(defaultRoots, old) {
            let newRoot = Path.join(defaultRoots, new)
            if FileSystem.exists(newRoot) { throw ConfigError(file: newRoot, message: "already exists") }
            plan.root = (config.root, newRoot)
            if config.configFile.hasSuffix("/\(TOMLConfig.fileName)") {
                let text = try read(config.configFile)
                if (try? TOML.parse(text))?["root"] != nil {
                    let edited = try edit(text, "root", TOML.quote(newRoot), config.configFile)
                    plan.rootEdit = (TOMLConfig.fileName, edited)
                }
            } else {
                plan.relinksVdir = (try? FileSystem.readLink(Path.join(oldDirectory, "vdir"))) != nil
            }
        }
        for name in configs.configs.keys.sorted() where configs.configs[name]!.after.contains(old) {
            plan.dependents.append(try dependentEdit(configs.configs[name]!))
        }
        return plan
    }

    /// The dependent's config with OLD replaced by NEW in `after` (vserver.toml) or `apps/init/depends`.
    private func dependentEdit(_ config: VServerConfig) throws(ConfigError)
        -> (name: String, file: String, text: String)
    {
        if config.configFile.hasSuffix("/\(TOMLConfig.fileName)") {
            let after = config.after.map { $0 == old ? new : $0 }
            let literal = "[" + after.map(TOML.quote).joined(separator: ", ") + "]"
            let text = try edit(try read(config.configFile), "after", literal, config.configFile)
            return (config.name, config.configFile, text)
        }
        let file = Path.join(config.configDirectory, "apps/init/depends")
        let lines = try read(file).split(separator: "\n", omittingEmptySubsequences: false)
        let text = lines.map { trimmed($0) == old ? new : String($0) }.joined(separator: "\n")
        return (config.name, file, text)
    }

    private func read(_ file: String) throws(ConfigError) -> String {
        do throws(SystemError) {
            return try FileSystem.readText(file)
        } catch {
            throw ConfigError(file: file, failed: error)
        }
    }

    private func edit(_ text: String, _ key: String, _ literal: String, _ file: String) throws(ConfigError) -> String {
        do throws(TOMLEditError) {
            return try TOMLEditor.setting(text, topLevelKey: key, to: literal)
        } catch {
            throw ConfigError(file: file, line: error.line, key: key, message: error.message)
        }
    }

    // MARK: Steps, each with its undo

    private mutating func move(_ from: String, to: String) throws(ConfigError) {
        guard !FileSystem.exists(to) else { throw ConfigError(file: to, message: "already exists") }
        guard rename(from, to) == 0 else {
            throw ConfigError(file: from, failed: SystemError("rename", path: "\(from) to \(to)"))
        }
        undo.append { rename(to, from) }
    }

    private mutating func write(_ text: String, to file: String) throws(ConfigError) {
        do throws(SystemError) {
            let (original, status) = try FileSystem.readFile(file)
            try FileSystem.writeFileAtomically(file, contents: text, mode: status.mode & 0o7777)
            undo.append { try? FileSystem.writeFileAtomically(file, contents: original, mode: status.mode & 0o7777) }
        } catch {
            throw ConfigError(file: file, failed: error)
        }
    }

    /// util-vserver's `vdir` symlink pointed at the new root: a new link renamed over the old one.
    private mutating func relink(_ link: String, to target: String) throws(ConfigError) {
        do throws(SystemError) {
            let original = try FileSystem.readLink(link)
            let temporary = link + ".rename"
            unlink(temporary)
            guard symlink(target, temporary) == 0 else { throw SystemError("symlink", path: temporary) }
            guard rename(temporary, link) == 0 else {
                unlink(temporary)
                throw SystemError("rename", path: temporary)
            }
            undo.append {
                if symlink(original, temporary) == 0 { rename(temporary, link) }
            }
        } catch {
            throw ConfigError(file: link, failed: error)
        }
    }
}
