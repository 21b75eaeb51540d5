import Glibc

/// Files of a guest that hashify leaves alone: its dpkg conffiles (what an admin edits; sharing their extents would
/// be harmless, but util-vserver never unified them and admins expect the same) and the lines of util-vserver's
/// `apps/vunify/exclude` list. Paths are relative to the guest's root, without a leading "/".
package struct DedupeExclusions: Sendable, Equatable {
    /// One line of a vunify exclude list: "+" includes, "-" (or nothing) excludes; "~" makes the rest an fnmatch
    /// pattern, else it is a path naming a file or everything below a directory. The last matching rule wins.
    package struct Rule: Sendable, Equatable {
        package var include: Bool
        package var pattern: Bool
        package var path: String
    }

    package var conffiles: Set<String> = []
    package var rules: [Rule] = []

    package init(conffiles: Set<String> = [], rules: [Rule] = []) {
        self.conffiles = conffiles
        self.rules = rules
    }

    /// Why `path` is excluded ("conffile", "exclude list"), nil when it is not.
    package func reason(_ path: String) -> String? {
        if conffiles.contains(path) { return "conffile" }
        var excluded = false
        for rule in rules where rule.matches("/" + path) { excluded = !rule.include }
        return excluded ? "exclude list" : nil
    }

    /// The conffiles listed in a dpkg status file (every package's "Conffiles:" field).
    package static func conffiles(dpkgStatus text: String) -> Set<String> {
        var result: Set<String> = []
        var inConffiles = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix(" ") && inConffiles {
                if let path = line.split(separator: " ").first, path.hasPrefix("/") {
                    result.insert(String(path.dropFirst()))
                }
                continue
            }
            inConffiles = line.hasPrefix("Conffiles:")
        }
        return result
    }

    /// The rules of a vunify exclude list; blank lines and "#" comments are skipped.
    package static func rules(excludeList text: String) -> [Rule] {
        text.split(separator: "\n").compactMap { raw in
            var line = raw.drop { $0 == " " || $0 == "\t" }
            while let last = line.last, last == " " || last == "\t" || last == "\r" { line = line.dropLast() }
            guard !line.isEmpty, !line.hasPrefix("#") else { return nil }
            let include = line.hasPrefix("+")
            if include || line.hasPrefix("-") { line = line.dropFirst() }
            let pattern = line.hasPrefix("~")
            if pattern { line = line.dropFirst() }
            guard !line.isEmpty else { return nil }
            return Rule(include: include, pattern: pattern, path: String(line))
        }
    }
}

extension DedupeExclusions.Rule {
    /// `path` is absolute within the guest ("/etc/passwd").
    func matches(_ path: String) -> Bool {
        if pattern { return fnmatch(self.path, path, 0) == 0 }
        let directory = self.path.hasSuffix("/") ? self.path : self.path + "/"
        return path == self.path || path.hasPrefix(directory)
    }
}
