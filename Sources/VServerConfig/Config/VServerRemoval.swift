import Glibc

/// `vserverctl delete NAME`: first the config directory and (unless kept) the root are renamed to hidden names
/// beside them (`.NAME.deleted`: the loader skips names that start with a dot), all or nothing; only then is what
/// was hidden removed, which cannot make the vserver half-there. The guest must be stopped; no other vserver may
/// name it in `after`.
package struct VServerRemoval {
    let name: String
    let configDirectory: String
    let keepRoot: Bool

    package init(name: String, configDirectory: String, keepRoot: Bool) {
        self.name = name
        self.configDirectory = FileSystem.absolutePath(configDirectory)
        self.keepRoot = keepRoot
    }

    /// Paths a root never is: removing one of them would take the host with it.
    static let hostDirectories: Set<String> = [
        "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/opt", "/proc", "/root", "/run", "/sbin",
        "/srv", "/sys", "/tmp", "/usr", "/var", "/vservers",
    ]

    /// The checks and the renames; `removeHidden` then deletes what they hid.
    package func hide(configs: ConfigSet) throws(ConfigError) -> (config: String, root: String?) {
        let directory = Path.join(configDirectory, name)
        let dependents = configs.configs.values.filter { $0.after.contains(name) }.map(\.name).sorted()
        if !dependents.isEmpty {
            let one = dependents.count == 1
            throw ConfigError(file: directory, message: dependents.joined(separator: ", ")
                + (one ? " names" : " name") + " it in after: change " + (one ? "that" : "those") + " first")
        }
        var root: String?
        if !keepRoot {
            guard let config = configs.configs[name] else {
                let reason = configs.invalid[name].map { "its config is invalid (\($0.message))" } ?? "it has no config"
                throw ConfigError(file: directory, message: "\(reason), so its root is unknown: delete it with "
                                      + "--keep-root and remove the root yourself")
            }
            if Self.hostDirectories.contains(config.root) || !FileSystem.exists(config.root) {
                throw ConfigError(file: config.root, message: FileSystem.exists(config.root)
                    ? "is a directory of the host, not only this guest's: not removed (use --keep-root)"
                    : "does not exist (use --keep-root)")
            }
            // Another guest's root (or its config) inside this one would go with it.
            let inside = configs.configs.values.filter {
                $0.name != name
                    && ($0.root.hasPrefix(config.root + "/") || configDirectory.hasPrefix(config.root + "/"))
            }
            if let other = inside.first {
                throw ConfigError(file: config.root, message: "holds \(other.name)'s root \(other.root) (or the config "
                                      + "directory): not removed (use --keep-root)")
            }
            root = config.root
        }
        let hiddenConfig = try hide(directory)
        guard let root else { return (hiddenConfig, nil) }
        do throws(ConfigError) {
            return (hiddenConfig, try hide(root))
        } catch {
            rename(hiddenConfig, directory)
            throw error
        }
    }

    /// Removes the hidden config directory and root (`rm -rf --one-file-system`); what stays is reported.
    package static func removeHidden(_ paths: [String]) -> [String] {
        var leftOver: [String] = []
        for path in paths {
            FileSystem.removeTree(path)
            if FileSystem.exists(path) { leftOver.append(path) }
        }
        return leftOver
    }

    /// Renames `path` to `.NAME.deleted-N` in its directory.
    private func hide(_ path: String) throws(ConfigError) -> String {
        let parent = Path.parent(path)
        for attempt in 0..<100 {
            let suffix = attempt == 0 ? "" : "-\(attempt)"
            let hidden = Path.join(parent, ".\(name).deleted\(suffix)")
            if FileSystem.exists(hidden) { continue }
            guard rename(path, hidden) == 0 else {
                throw ConfigError(file: path, failed: SystemError("rename", path: "\(path) to \(hidden)"))
            }
            return hidden
        }
        throw ConfigError(file: path, message: "too many .\(name).deleted-N beside it: remove them first")
    }
}
