import Foundation
import Testing

@testable import VServerConfig

/// man/vserver.toml.5 describes every key: those of the commented example config/web/vserver.toml (commented-out
/// ones too) and those the config reader knows. A key added to either without a word in the man page fails here.
@Suite struct ManualPageTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func read(_ path: String) throws -> String {
        try String(contentsOf: repository.appendingPathComponent(path), encoding: .utf8)
    }

    /// The keys the page defines: the first word of `.B`/`.BR` lines (`.TP` tags, the [limits] list), with roff's
    /// `\-` as "-", and the `.SH [table]` headings.
    static func documented() throws -> (keys: Set<String>, tables: Set<String>) {
        var keys: Set<String> = []
        var tables: Set<String> = []
        for line in try read("man/vserver.toml.5").split(separator: "\n") {
            let text = line.replacingOccurrences(of: "\\-", with: "-")
            let words = text.split(separator: " ")
            guard words.count >= 2 else { continue }
            switch words[0] {
            case ".B", ".BR": keys.insert(String(words[1]))
            case ".SH": tables.insert(words[1].trimmingCharacters(in: CharacterSet(charactersIn: "[]")))
            default: break
            }
        }
        return (keys, tables)
    }

    /// `key =` and `[table]`/`[[table]]` at the start of a line of the example, after an optional `#`.
    static func exampleKeys() throws -> (keys: Set<String>, tables: Set<String>) {
        let key = try Regex(#"^\s*#?\s*([a-z0-9][a-z0-9-]*)\s*="#)
        let table = try Regex(#"^\s*#?\s*\[\[?([a-z0-9-]+)\]\]?"#)
        var keys: Set<String> = []
        var tables: Set<String> = []
        for line in try read("config/web/vserver.toml").split(separator: "\n") {
            if let match = line.firstMatch(of: key), let name = match.output[1].substring {
                keys.insert(String(name))
            } else if let match = line.firstMatch(of: table), let name = match.output[1].substring {
                tables.insert(String(name))
            }
        }
        return (keys, tables)
    }

    @Test func everyKeyOfTheExampleConfigIsDescribed() throws {
        let page = try Self.documented()
        let example = try Self.exampleKeys()
        #expect(example.keys.count >= 45 && example.tables.count >= 9, "the example's keys were not found")
        #expect(example.keys.subtracting(page.keys).sorted() == [], "keys of config/web/vserver.toml")
        #expect(example.tables.subtracting(page.tables).sorted() == [], "tables of config/web/vserver.toml")
    }

    @Test func everyKeyTheReaderKnowsIsDescribed() throws {
        let page = try Self.documented()
        let keys = TOMLConfig.topLevelKeys + TOMLNetwork.boundKeys + TOMLNetwork.vethKeys + ResourceLimits.names
            + ResourceKey.allCases.map(\.rawValue)
        #expect(Set(keys).subtracting(page.keys.union(page.tables)).sorted() == [])
        let tables = ResourceKey.allCases.map(\.table)
        #expect(Set(tables).subtracting(page.tables).sorted() == [])
    }
}
