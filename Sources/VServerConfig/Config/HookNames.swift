extension HookFlavour {
    /// The script names run at this moment, in order: util-vserver's `prepre-start` runs right before
    /// `pre-start` and its `postpost-stop` right after `post-stop` (each as `scripts/NAME` then `scripts/NAME.d/*`,
    /// `.defaults/scripts` first), so they belong to those flavours.
    package var scriptNames: [String] {
        switch self {
        case .preStart: ["prepre-start", rawValue]
        case .postStop: [rawValue, "postpost-stop"]
        case .postStart, .preStop: [rawValue]
        }
    }
}

extension HookScripts {
    /// Warnings for the hook scripts in `vserverDirectory/scripts` that are not executable, which the runner skips:
    /// util-vserver's execScriptlets sourced them into its own shell (`. FILE`), which vserverd cannot do.
    package static func notExecutableWarnings(vserverDirectory: String) -> [String] {
        let scripts = Path.join(vserverDirectory, "scripts")
        var candidates: [String] = []
        for name in UtilVServerLedger.hookNames {
            candidates.append(Path.join(scripts, name))
            let parts = Path.join(scripts, name + ".d")
            for entry in FileSystem.entries(parts) where isPart(entry) { candidates.append(Path.join(parts, entry)) }
        }
        return candidates.compactMap { path in
            guard let status = try? FileSystem.status(path), status.isRegularFile, status.permissions & 0o111 == 0
            else { return nil }
            return ConfigError(
                file: path,
                message: "ignored: not executable; util-vserver sourced such a script into its own shell "
                    + "(\". FILE\"), vserverd runs only executable scripts (chmod +x it if it runs on its own)"
            ).description
        }
    }
}
