/// Marks: util-vserver's `apps/init/mark` groups of vservers started together (`vserverctl start --mark NAME`).
/// "default" is what boot starts, `autostart = true`; others are `marks = [...]`.
package enum AutostartMarks {
    package static let boot = "default"

    /// Why `mark` cannot be a mark name, or nil.
    package static func problem(_ mark: String) -> String? {
        if mark == boot { return "\"default\" is written autostart = true" }
        guard !mark.isEmpty, mark.utf8.count <= 64,
              mark.utf8.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_")
                  || $0 == UInt8(ascii: ".") })
        else { return "\(quoted(mark)) is not a mark name (1 to 64 letters, digits, \"-\", \"_\" or \".\")" }
        return nil
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte)
    }

    /// The marks of a vserver whose directory did not read as a valid config: looked up on their own (the top-level
    /// `autostart` and `marks` of a vserver.toml that parses, or util-vserver's `apps/init/mark`), so that a start
    /// by mark reports it failed rather than skip it.
    package static func probe(directory: String) -> Set<String> {
        let toml = Path.join(directory, TOMLConfig.fileName)
        if FileSystem.exists(toml) {
            guard let text = try? FileSystem.readText(toml), let document = try? TOML.parse(text) else { return [] }
            var marks = Set<String>()
            if case .boolean(true)? = document.entry("autostart")?.value.kind { marks.insert(boot) }
            if case .array(let values)? = document.entry("marks")?.value.kind {
                for case .string(let mark) in values.map(\.kind) { marks.insert(mark) }
            }
            return marks
        }
        let file = Path.join(directory, "apps/init/mark")
        guard let text = try? FileSystem.readText(file) else { return [] }
        let mark = trimmed(text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
        return mark.isEmpty ? [] : [mark]
    }
}

extension VServerConfig {
    /// `autostart` for "default", else `marks`.
    public func hasMark(_ mark: String) -> Bool {
        mark == AutostartMarks.boot ? autostart : marks.contains(mark)
    }

    /// All its marks, "default" included.
    var allMarks: Set<String> { Set(marks + (autostart ? [AutostartMarks.boot] : [])) }
}
