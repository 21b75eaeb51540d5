import Glibc

/// The files of a util-vserver directory the reader read (relative paths), shared by the reader and the readers
/// it hands its `readFile` to (`UtilVServerResources`, `UtilVServerInterfaces`).
final class UtilVServerReads {
    private(set) var files: Set<String> = []

    func record(_ relative: String) { files.insert(relative) }
}

/// Nothing in a util-vserver directory is silent: every file is used, or named by a warning (approximated,
/// ignored, refused). `warnings` gives one to each file that nothing read and no warning names yet; `report`
/// turns a vserver's warnings into a table file → result (`vserverctl import --report`).
package enum UtilVServerLedger {
    /// A file (or a symlink, not followed) of the directory tree.
    package struct Entry: Equatable, Sendable {
        /// Relative to the vserver directory.
        package var path: String
        /// Where it points, for a symbolic link.
        package var linkTarget: String?
        package var isExecutable: Bool
    }

    package struct Row: Equatable, Sendable {
        /// Relative to the vserver directory (absolute for a file outside it).
        package var file: String
        /// "used", or a warning without the file's name ("line 3: ignored: …").
        package var result: String

        package init(file: String, result: String) {
            self.file = file
            self.result = result
        }
    }

    /// Hook names util-vserver runs (`scripts/NAME` and `scripts/NAME.d/*`) and vserverd's runner runs too.
    package static let hookNames = ["prepre-start", "pre-start", "post-start", "pre-stop", "post-stop",
                                    "postpost-stop"]

    /// Every file and symlink below `directory`, sorted. Symlinks are listed, not followed (`vdir` is the root,
    /// `run` and `cache` point at the host's run and cache directories).
    package static func entries(in directory: String) -> [Entry] {
        var found: [Entry] = []
        walk(directory, relative: "", into: &found)
        return found
    }

    private static func walk(_ directory: String, relative: String, into found: inout [Entry]) {
        for name in FileSystem.entries(directory) {
            let full = Path.join(directory, name)
            let path = relative.isEmpty ? name : relative + "/" + name
            var st = stat()
            guard lstat(full, &st) == 0 else { continue }
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                walk(full, relative: path, into: &found)
            case S_IFLNK:
                found.append(Entry(path: path, linkTarget: (try? FileSystem.readLink(full)) ?? "?",
                                   isExecutable: false))
            default:
                found.append(Entry(path: path, linkTarget: nil, isExecutable: st.st_mode & 0o111 != 0))
            }
        }
    }

    /// The warnings a vserver read from `directory` gets for files nothing read and no warning in `existing`
    /// names (nor a directory above them): "FILE: ignored: vserverd does not read it". `vdir` is the root and
    /// `scripts/` holds hooks (used by the hook runner, when executable).
    package static func warnings(directory: String, read: Set<String>, existing: [String]) -> [String] {
        var result: [String] = []
        for entry in entries(in: directory) where !read.contains(entry.path) && entry.path != "vdir" {
            let full = Path.join(directory, entry.path)
            if isMarkerOrDisabled(entry.path, directory: directory) { continue }
            // A symlinked directory (`apps/init` -> …) that files were read through.
            if entry.linkTarget != nil, read.contains(where: { $0.hasPrefix(entry.path + "/") }) { continue }
            guard !isNamed(entry.path, directory: directory, in: existing) else { continue }
            if let message = scriptProblem(entry) {
                if !message.isEmpty { result.append(ConfigError(file: full, message: message).description) }
                continue
            }
            let what = entry.linkTarget.map { " (a symlink to \($0), not followed)" } ?? ""
            result.append(ConfigError(file: full, message: "ignored: vserverd does not read it\(what)").description)
        }
        return result
    }

    /// Files whose presence is what they say (`nodev`, `disabled`, `cpuset/name`), and the files of an
    /// interface or disk limit that has `disabled`, which util-vserver skips as vserverd does.
    private static func isMarkerOrDisabled(_ relative: String, directory: String) -> Bool {
        let parts = relative.split(separator: "/").map(String.init)
        guard parts.count >= 2 else { return false }
        switch parts[0] {
        case "interfaces":
            if ["nodev", "only_ip", "disabled"].contains(parts.last!) { return true }
            // A prefix wins over a mask, in util-vserver's _getInterfaceValue as in vserverd.
            if parts.last == "mask" {
                let own = Path.join(directory, parts.dropLast().joined(separator: "/") + "/prefix")
                if FileSystem.exists(own) || FileSystem.exists(Path.join(directory, "interfaces/prefix")) {
                    return true
                }
            }
            return parts.count == 3 && FileSystem.exists(Path.join(directory, "interfaces/\(parts[1])/disabled"))
        case "dlimits":
            return parts.count == 3 && FileSystem.exists(Path.join(directory, "dlimits/\(parts[1])/disabled"))
        case "cpuset":
            return parts.count == 2 && ["name", "nocreate"].contains(parts[1])
        default:
            return false
        }
    }

    /// For a file below `scripts/`: "" when the hook runner runs it, else why not; nil for other files.
    private static func scriptProblem(_ entry: Entry) -> String? {
        let parts = entry.path.split(separator: "/").map(String.init)
        guard parts.count >= 2, parts[0] == "scripts" else { return nil }
        let isHook: Bool
        switch parts.count {
        case 2: isHook = hookNames.contains(parts[1])
        case 3:
            isHook = parts[1].hasSuffix(".d") && hookNames.contains(String(parts[1].dropLast(2)))
                && HookScripts.isPart(parts[2])
        default: isHook = false
        }
        guard isHook else {
            return "ignored: not a hook vserverd runs (scripts/ holds \(hookNames.joined(separator: ", ")) "
                + "and their .d directories)"
        }
        if entry.linkTarget != nil || entry.isExecutable { return "" }
        return "ignored: not executable; util-vserver sourced such a script into its own shell (\". FILE\"), "
            + "vserverd runs only executable scripts (chmod +x it if it runs on its own)"
    }

    /// The file a warning names: what comes before ":LINE: " or ": ".
    private static func file(of warning: String) -> String {
        guard let colon = warning.firstIndex(of: ":") else { return "" }
        return String(warning[..<colon])
    }

    /// Whether a warning names `relative` or a directory above it (below `directory`).
    private static func isNamed(_ relative: String, directory: String, in warnings: [String]) -> Bool {
        let named = Set(warnings.map(file(of:)))
        var path = relative
        while true {
            if named.contains(Path.join(directory, path)) { return true }
            guard let slash = path.lastIndex(of: "/") else { return false }
            path = String(path[..<slash])
        }
    }

    /// One row for each file of `directory` ("used" or each warning naming it or a directory above it), and one
    /// for each warning that names no file of the tree (a directory, or a file elsewhere).
    package static func report(directory: String, warnings: [String]) -> [Row] {
        var rows: [Row] = []
        var shown = Set<Int>()
        for entry in entries(in: directory) {
            var found = false
            for (index, warning) in warnings.enumerated() {
                let named = file(of: warning)
                let prefix = Path.join(directory, entry.path)
                guard named == prefix || prefix.hasPrefix(named + "/") && named.hasPrefix(directory + "/")
                else { continue }
                let above = named == prefix ? "" : String(named.dropFirst(directory.count + 1)) + ": "
                rows.append(Row(file: entry.path, result: above + result(warning, file: named)))
                shown.insert(index)
                found = true
            }
            if !found { rows.append(Row(file: entry.path, result: "used")) }
        }
        for (index, warning) in warnings.enumerated() where !shown.contains(index) {
            let named = file(of: warning)
            // A warning on the directory itself (util-vserver's default capabilities) is the row ".".
            let relative = named == directory ? "."
                : named.hasPrefix(directory + "/") ? String(named.dropFirst(directory.count + 1)) : named
            rows.append(Row(file: relative.isEmpty ? "-" : relative, result: result(warning, file: named)))
        }
        return rows
    }

    /// "FILE:3: message" → "line 3: message"; "FILE: message" → "message".
    private static func result(_ warning: String, file: String) -> String {
        var rest = Substring(warning.dropFirst(file.count))
        if rest.hasPrefix(": ") { return String(rest.dropFirst(2)) }
        rest = rest.dropFirst()
        guard let colon = rest.firstIndex(of: ":"), Int(rest[..<colon]) != nil else { return String(rest) }
        return "line \(rest[..<colon])" + rest[colon...]
    }
}
