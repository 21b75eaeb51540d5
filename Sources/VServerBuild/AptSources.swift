import VServerConfig
/// The host's apt sources (`/etc/apt/sources.list` in one-line style, `sources.list.d/*.list` and deb822
/// `sources.list.d/*.sources`): `vserverctl build` installs a guest from the archive the host itself uses.
public struct AptSources: Sendable, Equatable {
    /// One `deb` source: an archive URI with its suites and components (deb-src entries are left out).
    public struct Entry: Sendable, Equatable {
        public var uri: String
        public var suites: [String]
        public var components: [String]

        public init(uri: String, suites: [String], components: [String]) {
            self.uri = uri
            self.suites = suites
            self.components = components
        }
    }

    public var entries: [Entry]

    public init(entries: [Entry]) {
        self.entries = entries
    }

    /// The sources of the apt configuration in `directory` (normally /etc/apt), in apt's order: sources.list,
    /// then sources.list.d/ by name. Unreadable files are skipped, as apt would fail on them anyway.
    public static func load(from directory: String = "/etc/apt") -> AptSources {
        var entries: [Entry] = []
        if let text = try? FileSystem.readFile(Path.join(directory, "sources.list")).text {
            entries += oneLineEntries(text)
        }
        let parts = Path.join(directory, "sources.list.d")
        for name in FileSystem.entries(parts) {
            guard let text = try? FileSystem.readFile(Path.join(parts, name)).text else { continue }
            if name.hasSuffix(".list") {
                entries += oneLineEntries(text)
            } else if name.hasSuffix(".sources") {
                entries += deb822Entries(text)
            }
        }
        return AptSources(entries: entries)
    }

    /// The URI the host installs `suite` from, or nil when no entry lists that suite.
    public func mirror(for suite: String) -> String? {
        entries.first { $0.suites.contains(suite) }?.uri
    }

    /// One-line-style `deb` lines for a new system of `suite`: the suite itself and, where the host has them,
    /// its `-updates` and `-security` suites, each from the host's archive for it with the host's components.
    public func debLines(for suite: String) -> [String] {
        [suite, "\(suite)-updates", "\(suite)-security"].compactMap { wanted in
            guard let entry = entries.first(where: { $0.suites.contains(wanted) }) else { return nil }
            let components = entry.components.isEmpty ? ["main"] : entry.components
            return (["deb", entry.uri, wanted] + components).joined(separator: " ")
        }
    }

    /// `deb [OPTIONS] URI SUITE [COMPONENT...]` lines; `#` starts a comment.
    package static func oneLineEntries(_ text: String) -> [Entry] {
        var entries: [Entry] = []
        for rawLine in text.split(separator: "\n") {
            var line = rawLine.prefix { $0 != "#" }
            // Options in brackets may contain spaces: [arch=amd64 signed-by=/usr/share/keyrings/x.gpg]
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.first == "deb" else { continue }
            line = line.drop(while: { $0 == " " || $0 == "\t" }).dropFirst(3)
            if let open = line.firstIndex(where: { $0 != " " && $0 != "\t" }), line[open] == "[" {
                guard let close = line[open...].firstIndex(of: "]") else { continue }
                line = line[line.index(after: close)...]
            }
            let rest = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard rest.count >= 2 else { continue }
            entries.append(Entry(uri: rest[0], suites: [rest[1]], components: Array(rest.dropFirst(2))))
        }
        return entries
    }

    /// deb822 stanzas (`Types:`, `URIs:`, `Suites:`, `Components:`, `Enabled:`), separated by empty lines; field
    /// names are case-insensitive, a line starting with white space continues the field before it.
    package static func deb822Entries(_ text: String) -> [Entry] {
        var entries: [Entry] = []
        var fields: [String: String] = [:]
        var current: String?
        func endStanza() {
            defer { fields = [:]; current = nil }
            let words = { (key: String) in (fields[key] ?? "").split(whereSeparator: \.isWhitespace).map(String.init) }
            guard words("types").contains("deb"), fields["enabled"]?.lowercased() != "no" else { return }
            for uri in words("uris") {
                entries.append(Entry(uri: uri, suites: words("suites"), components: words("components")))
            }
        }
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(rawLine)
            if line.hasPrefix("#") { continue }
            if line.allSatisfy(\.isWhitespace) {
                endStanza()
            } else if line.first == " " || line.first == "\t" {
                if let current { fields[current, default: ""] += "\n" + line }
            } else if let colon = line.firstIndex(of: ":") {
                let key = line[..<colon].lowercased()
                fields[key] = String(line[line.index(after: colon)...].drop(while: \.isWhitespace))
                current = key
            }
        }
        endStanza()
        return entries
    }
}
