/// Which hook scripts a vserver has (docs/ARCHITECTURE.md §5): `.defaults/scripts/FLAVOUR`, its `FLAVOUR.d/*`, then
/// the vserver's own `scripts/FLAVOUR` and `scripts/FLAVOUR.d/*`. Executable regular files only; `.d` entries sorted
/// by name, without hidden files and editor or dpkg leftovers (as run-parts). When vserverd runs as root every
/// script and every directory from `/` down to it must be root's alone (`TrustedTree`): the loader checks this for
/// `vserverctl check` and reload, each start checks it again before anything runs, and each hook run before its
/// exec.
package enum HookScripts {
    package struct Script: Equatable, Sendable {
        /// What is exec'd: the checked path, symlinks of the config root's path resolved.
        package var path: String
        /// How errors and logs name it: relative to the vserver's config dir, absolute for global hooks.
        package var display: String
        /// The name it was found under ("prepre-start" for a pre-start flavour script), its first argument as
        /// util-vserver gives it; empty: the flavour's own name.
        package var hook = ""
    }

    /// The scripts of each of `flavours`, in the order they run; refused with the offending path when anyone but
    /// root could have changed one.
    package static func find(
        _ flavours: [HookFlavour], configRoot: String, vserverDirectory: String, trust: TrustedTree
    )
        throws(ConfigError) -> [HookFlavour: [Script]]
    {
        guard let root = try trust.openConfigRoot(configRoot) else {
            return unchecked(flavours, configRoot: configRoot, vserverDirectory: vserverDirectory)
        }
        return try find(flavours, root: root, configRoot: configRoot, vserverDirectory: vserverDirectory,
                        trust: trust)
    }

    /// The same from an already checked config root (the loader opens it once for every vserver).
    package static func find(_ flavours: [HookFlavour], root: TrustedTree.Directory, configRoot: String,
                             vserverDirectory: String, trust: TrustedTree)
        throws(ConfigError) -> [HookFlavour: [Script]]
    {
        var global: TrustedTree.Directory?
        if let defaults = try trust.openDirectory(".defaults", in: root) {
            global = try trust.openDirectory("scripts", in: defaults)
        }
        let name = Path.components(vserverDirectory).last.map(String.init) ?? ""
        let ownParent: TrustedTree.Directory?
        if Path.join(configRoot, name) == vserverDirectory {
            ownParent = try trust.openDirectory(name, in: root)
        } else {
            // Not below the config root (never so today): checked from "/" on its own.
            ownParent = try trust.openConfigRoot(vserverDirectory)
        }
        var own: TrustedTree.Directory?
        if let ownParent { own = try trust.openDirectory("scripts", in: ownParent) }

        var found: [HookFlavour: [Script]] = [:]
        for flavour in flavours {
            var scripts: [Script] = []
            for single in flavour.scriptNames {
                if let global {
                    try collect(single, in: global, trust: trust, into: &scripts) {
                        Path.join(configRoot, ".defaults/scripts/\($0)")
                    }
                }
                if let own {
                    try collect(single, in: own, trust: trust, into: &scripts) { "scripts/\($0)" }
                }
            }
            found[flavour] = scripts
        }
        return found
    }

    private static func collect(_ single: String, in scripts: TrustedTree.Directory, trust: TrustedTree,
                                into found: inout [Script], display: (String) -> String) throws(ConfigError)
    {
        if try trust.isScript(single, in: scripts) {
            found.append(Script(path: Path.join(scripts.path, single), display: display(single), hook: single))
        }
        guard let parts = try trust.openDirectory(single + ".d", in: scripts) else { return }
        let entries: [String]
        do throws(SystemError) {
            // Listed through the checked fd: the directory read is the one checked.
            entries = try FileSystem.listDirectory("/proc/self/fd/\(parts.fd)")
        } catch {
            throw ConfigError(file: parts.path, failed: error)
        }
        for entry in entries where isPart(entry) {
            if try trust.isScript(entry, in: parts) {
                found.append(Script(path: Path.join(parts.path, entry), display: display("\(single).d/\(entry)"),
                                    hook: single))
            }
        }
    }

    /// Skips hidden files and editor/dpkg leftovers, as run-parts does.
    package static func isPart(_ entry: String) -> Bool {
        !(entry.hasPrefix(".") || entry.hasSuffix("~") || entry.contains(".dpkg-"))
    }

    /// Without root nothing runs as root: scripts found by path, as a user's vserverd always did.
    private static func unchecked(_ flavours: [HookFlavour], configRoot: String, vserverDirectory: String)
        -> [HookFlavour: [Script]]
    {
        var found: [HookFlavour: [Script]] = [:]
        for flavour in flavours {
            var scripts: [Script] = []
            let places = [(Path.join(configRoot, ".defaults/scripts"), false),
                          (Path.join(vserverDirectory, "scripts"), true)]
            for (single, (directory, relative)) in flavour.scriptNames.flatMap({ name in places.map { (name, $0) } }) {
                let display = { (name: String) in relative ? "scripts/\(name)" : Path.join(directory, name) }
                if isExecutableFile(Path.join(directory, single)) {
                    scripts.append(Script(path: Path.join(directory, single), display: display(single), hook: single))
                }
                let parts = Path.join(directory, single + ".d")
                for entry in FileSystem.entries(parts) where isPart(entry) {
                    let path = Path.join(parts, entry)
                    if isExecutableFile(path) {
                        scripts.append(Script(path: path, display: display("\(single).d/\(entry)"), hook: single))
                    }
                }
            }
            found[flavour] = scripts
        }
        return found
    }
}
