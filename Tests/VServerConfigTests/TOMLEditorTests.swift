import Foundation
import Testing
import VServerTestSupport

import VServerConfig

private func set(_ text: String, in table: String = "resources", _ key: String, _ literal: String?) throws -> String {
    try TOMLEditor.setting(text, table: table, key: key, to: literal)
}

/// The error an edit gives, or "no error".
private func refusal(_ text: String, in table: String = "resources", _ key: String, _ literal: String?) -> String {
    do {
        _ = try TOMLEditor.setting(text, table: table, key: key, to: literal)
        return "no error"
    } catch {
        return error.description
    }
}

struct TOMLEditorTests {
    // MARK: 1. Replacing a value

    @Test func replacingAValueKeepsItsSpacingCommentAndLineEnd() throws {
        let text = "# guest\n[resources]\npids-max   =    4096   # tasks\nmemory-max = \"1G\"\n"
        #expect(try set(text, "pids-max", "100")
            == "# guest\n[resources]\npids-max   =    100   # tasks\nmemory-max = \"1G\"\n")
        #expect(try set(text, "memory-max", "\"128M\"")
            == "# guest\n[resources]\npids-max   =    4096   # tasks\nmemory-max = \"128M\"\n")
    }

    @Test func quotedAndIndentedKeysAreReplacedInPlace() throws {
        let text = "[resources]\n  \"memory-max\" = \"1G\" # soft\n\t'pids-max'=1\n"
        #expect(try set(text, "memory-max", "\"2G\"")
            == "[resources]\n  \"memory-max\" = \"2G\" # soft\n\t'pids-max'=1\n")
        #expect(try set(text, "pids-max", "\"max\"")
            == "[resources]\n  \"memory-max\" = \"1G\" # soft\n\t'pids-max'=\"max\"\n")
    }

    // MARK: 2. A new key in an existing table

    @Test func newKeyGoesAfterTheTablesLastKeyNotBeforeTheNextHeader() throws {
        let text = "[resources]\npids-max = 10\n\n# the disk\n[disk]\nquota = \"1G\"\n"
        #expect(try set(text, "memory-max", "\"128M\"")
            == "[resources]\npids-max = 10\nmemory-max = \"128M\"\n\n# the disk\n[disk]\nquota = \"1G\"\n")
    }

    @Test func newKeyInAnEmptyTableGoesRightAfterItsHeader() throws {
        let text = "[resources]\n\n[disk]\n"
        #expect(try set(text, "pids-max", "10") == "[resources]\npids-max = 10\n\n[disk]\n")
    }

    @Test func newKeyKeepsTheIndentationOfTheKeyBefore() throws {
        #expect(try set("[resources]\n    a = 1\n", "b", "2") == "[resources]\n    a = 1\n    b = 2\n")
    }

    @Test func newKeyGoesAfterTheCommentLinesAlignedUnderTheLastKeysComment() throws {
        let text = "[resources]\npids-max = 4096   # tasks,\n                  # continued\n# about disk\n[disk]\n"
        #expect(try set(text, "memory-max", "\"1G\"")
            == "[resources]\npids-max = 4096   # tasks,\n                  # continued\nmemory-max = \"1G\"\n"
                + "# about disk\n[disk]\n")
    }

    @Test func newKeyInTheExampleConfigGoesAfterPidsMaxAndItsComment() throws {
        let example = try Self.example()
        let comment = "# a fork bomb stops there (TasksMax=, pids.max)\n"
        let end = try #require(example.range(of: comment)).upperBound
        #expect(try set(example, "memory-max", "\"1G\"")
            == example[..<end] + "memory-max = \"1G\"\n" + example[end...])
    }

    @Test func newKeyAfterALastLineWithoutNewlineStartsANewLine() throws {
        #expect(try set("[resources]\na = 1", "b", "2") == "[resources]\na = 1\nb = 2")
    }

    // MARK: 3. A new table

    @Test func missingTableIsAppendedAfterOneBlankLine() throws {
        #expect(try set("a = 1\n", "pids-max", "10") == "a = 1\n\n[resources]\npids-max = 10\n")
        #expect(try set("a = 1", "pids-max", "10") == "a = 1\n\n[resources]\npids-max = 10\n")
        #expect(try set("a = 1\n\n", "pids-max", "10") == "a = 1\n\n[resources]\npids-max = 10\n")
        #expect(try set("a = 1\n  \t", "pids-max", "10") == "a = 1\n  \t\n[resources]\npids-max = 10\n")
        #expect(try set("", "pids-max", "10") == "[resources]\npids-max = 10\n")
        #expect(try set("[disk]\nquota = 1\n", "memory max", "1")
            == "[disk]\nquota = 1\n\n[resources]\n\"memory max\" = 1\n")
    }

    @Test func tableKnownOnlyFromItsSubtableGetsItsOwnHeader() throws {
        #expect(try set("[resources.io]\nweight = 1\n", "pids-max", "10")
            == "[resources.io]\nweight = 1\n\n[resources]\npids-max = 10\n")
    }

    // MARK: 4. Dotted keys, inline tables, multi-line values

    @Test func dottedKeyIsReplacedInPlace() throws {
        let text = "context = 1\nresources.pids-max = 1 # x\nresources . \"memory-max\" = 2\n[disk]\n"
        #expect(try set(text, "pids-max", "5")
            == "context = 1\nresources.pids-max = 5 # x\nresources . \"memory-max\" = 2\n[disk]\n")
        #expect(try set(text, "memory-max", "\"1G\"")
            == "context = 1\nresources.pids-max = 1 # x\nresources . \"memory-max\" = \"1G\"\n[disk]\n")
    }

    @Test func newKeyBesideDottedKeysIsDottedToo() throws {
        #expect(try set("resources.pids-max = 1\n\n[disk]\n", "memory-max", "2")
            == "resources.pids-max = 1\nresources.memory-max = 2\n\n[disk]\n")
    }

    @Test func inlineTableIsRefusedNamingItsLine() {
        let text = "context = 1\n\nresources = { pids-max = 10 }\n"
        #expect(refusal(text, "pids-max", "5") == "resources is an inline table at line 3: edit it by hand")
        #expect(refusal(text, "memory-max", "5") == "resources is an inline table at line 3: edit it by hand")
        #expect(refusal(text, "pids-max", nil) == "resources is an inline table at line 3: edit it by hand")
        #expect(refusal("resources = 1\n", "pids-max", "5") == "resources is not a table at line 1: edit it by hand")
    }

    @Test func multiLineValueIsRefusedNamingItsLine() {
        #expect(refusal("[resources]\nio = [\n  1,\n]\n", "io", "2")
            == "resources.io has a multi-line value at line 2: edit it by hand")
        #expect(refusal("[resources]\na = 1\nio = \"\"\"\nx\"\"\"\n", "io", "2")
            == "resources.io has a multi-line value at line 3: edit it by hand")
    }

    @Test func keyThatIsATableOrAnArrayOfTablesIsRefused() {
        #expect(refusal("[resources.io]\nw = 1\n", "io", "2") == "resources.io is a table at line 1: edit it by hand")
        #expect(refusal("[resources]\nio.w = 1\n", "io", "2") == "resources.io is a table at line 2: edit it by hand")
        #expect(refusal("[[resources]]\n", "io", "2") == "resources is an array of tables at line 1: edit it by hand")
    }

    // MARK: 5. Removing

    @Test func removingDropsTheKeysLine() throws {
        let text = "[resources]\n# the limit\npids-max = 10 # tasks\nmemory-max = 1\n"
        #expect(try set(text, "pids-max", nil) == "[resources]\n# the limit\nmemory-max = 1\n")
        #expect(try set("resources.a = 1\nresources.b = 2", "b", nil) == "resources.a = 1\n")
        #expect(try set("[resources]\nio = [\n 1,\n]\nb = 2\n", "io", nil) == "[resources]\nb = 2\n")
    }

    @Test func removingAKeyTakesTheCommentLinesAlignedUnderItsComment() throws {
        let text = "[resources]\npids-max = 1  # a\n              # b\n  # c\nx = 2\n"
        #expect(try set(text, "pids-max", nil) == "[resources]\n  # c\nx = 2\n")
    }

    @Test func removingAMissingKeyReturnsTheTextUnchanged() throws {
        let text = "# c\n[resources]\npids-max = 1\r\n"
        #expect(try set(text, "memory-max", nil) == text)
        #expect(try set(text, in: "disk", "quota", nil) == text)
        #expect(try set("resources = { a = 1 }", "b", nil) == "resources = { a = 1 }")
    }

    // MARK: 6. Where headers are

    @Test func headersInsideMultiLineStringsAndArraysAreNotHeaders() throws {
        let text = "a = \"\"\"\n[resources]\npids-max = 1\n\"\"\"\nb = '''\n[resources]\n'''\nc = [\n[1],\n"
            + "\"[resources]\"]\n[resources] # real\n"
        #expect(try set(text, "pids-max", "2") == text + "pids-max = 2\n")
    }

    @Test func arrayTablesAndSubtablesAreOtherTables() throws {
        let text = "[resources]\na = 1\n[resources.io]\nb = 2\n[[mount]]\npids-max = 3\n"
        #expect(try set(text, "pids-max", "4")
            == "[resources]\na = 1\npids-max = 4\n[resources.io]\nb = 2\n[[mount]]\npids-max = 3\n")
        #expect(try set(text, "b", "5")
            == "[resources]\na = 1\nb = 5\n[resources.io]\nb = 2\n[[mount]]\npids-max = 3\n")
    }

    @Test func headersWithSpacesQuotesAndCommentsAreRecognised() throws {
        #expect(try set("[ resources ]  # limits\n", "a", "1") == "[ resources ]  # limits\na = 1\n")
        #expect(try set("[\t\"resources\"\t]\n", "a", "1") == "[\t\"resources\"\t]\na = 1\n")
        #expect(try set("# [resources]\n", "a", "1") == "# [resources]\n\n[resources]\na = 1\n")
    }

    @Test func crlfFilesKeepCRLF() throws {
        let text = "a = 1\r\n[resources]\r\npids-max = 1\r\n"
        #expect(try set(text, "pids-max", "2") == "a = 1\r\n[resources]\r\npids-max = 2\r\n")
        #expect(try set(text, "memory-max", "2") == "a = 1\r\n[resources]\r\npids-max = 1\r\nmemory-max = 2\r\n")
        #expect(try set(text, in: "disk", "quota", "2") == text + "\r\n[disk]\r\nquota = 2\r\n")
        #expect(try set(text, "pids-max", nil) == "a = 1\r\n[resources]\r\n")
    }

    // MARK: 7. What it does not edit

    @Test func unparsableInputIsRefusedWithItsLine() {
        #expect(throws: TOMLEditError(line: 2, message: "line 2, column 11: expected a value, found end of line")) {
            try set("[resources]\npids-max =\n", "pids-max", "1")
        }
        #expect(throws: TOMLEditError(line: 3, message: "line 3, column 2: resources: table [resources] is defined "
                                            + "twice (first on line 1)")) {
            try set("[resources]\n\n[resources]\n", "pids-max", nil)
        }
    }

    @Test func literalThatIsNotOneTOMLValueIsRefused() {
        #expect(refusal("", "memory-max", "128M") == "128M is not a TOML value: invalid number \"128M\"")
        #expect(refusal("", "a", "1\nb = 2") == "1\nb = 2 is not a TOML value: it has a line break")
        #expect(refusal("", "a", "") == " is not a TOML value: expected a value, found end of file")
    }

    // MARK: Properties

    /// After every edit: the document reads as before with only that key changed, and the lines outside the
    /// edited one are the same bytes.
    @Test func everyEditChangesOnlyItsKeyAndLine() throws {
        var edited = 0
        var refused = 0
        for document in try Self.documents() {
            for edit in Self.edits(of: document) {
                switch Self.check(edit) {
                case .some: edited += 1
                case nil: refused += 1
                }
            }
        }
        #expect(edited > 3000, "edited \(edited), refused \(refused)")
        #expect(refused > 50, "refusals are exercised too: \(refused)")
    }

    /// Every edited document reads the same to Python's tomllib as to the parser (which the test above checked).
    @Test(.requires(TOMLReference.isAvailable, "python3 with tomllib (Python 3.11 or newer)"))
    func editedDocumentsAgreeWithTomllib() throws {
        let edited = try Self.documents().flatMap(Self.edits).compactMap {
            try? TOMLEditor.setting($0.document, table: $0.table, key: $0.key, to: $0.literal)
        }
        let results = Array(Set(edited))
        let reference = try TOMLReference.parse(results)
        for (result, python) in zip(results, reference) {
            guard case .accepted = python else {
                Issue.record("tomllib refuses an edited document (\(python)):\n\(result)")
                continue
            }
            TOMLDifferential.expectAgreement(result, python)
        }
    }

    /// Documents where a header or key is easy to misplace.
    static let tricky: [String] = [
        "[resources]\nnote = \"\"\"\n[disk]\npids-max = 1\n\"\"\"\n[disk]\nquota = 1",
        "[resources]\nnote = '''\n[disk]\n''' # ]\nlist = [\n  [1], # [disk]\n  [\"[disk]\"],\n]\n\n\n[disk]\n",
        "x = \"\\\"\\\"\\\"[resources]\" # [resources]\n[ resources ] # [disk]\npids-max = 1 # x\n\n#\n"
            + "[[mount]]\na = 1\n",
        "[resources]\r\npids-max = 1\r\n\r\n[disk]\r\nquota = 2",
        "resources.pids-max = 1\nresources . io . weight = 2\ndisk = { quota = 1 }\n[other]\npids-max = 9",
        "[[mount]]\npids-max = 1\n[mount.resources]\npids-max = 2\n[[mount]]\n",
        "[resources.io]\nweight = 1\n[resources]\n\tpids-max = 1   # tasks\n\t               # more\n\n[disk]\n",
        "a = 1979-05-27 07:32:00 # [resources]\n[resources]\nwhen = 1979-05-27 07:32:00Z\nf = [ 1.5 , 2 ]",
        "[resources]\ns = \"\"\"\"quoted\"\"\"\"\nt = '''''x'''''\nu = 'a#b' # c\nv = { a = \"}\" , b = [ \"]\" ] }",
        "[resources]\n\"\\u0070ids-max\" = 1\n'memory.max' = 2\n",
        "",
        "# only a comment",
    ]

    /// config/web/vserver.toml of the repository.
    static func example() throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return try String(contentsOf: root.appendingPathComponent("config/web/vserver.toml"), encoding: .utf8)
    }

    static func documents() throws -> [String] {
        var generator = TOMLDocumentGenerator(seed: 0xED17)
        return [try example()] + tricky + TOMLDifferential.valid + (0..<100).map { _ in generator.document() }
    }

    struct Edit {
        var document: String
        var table: String
        var key: String
        var literal: String?
    }

    /// For each of the document's top-level names and resources/disk: set and remove a few of its keys and two
    /// new ones.
    static func edits(of document: String) -> [Edit] {
        guard let parsed = try? TOML.parse(document) else { return [] }
        let literals = ["42", "\"128M\"", "true", "{ a = 1 }", "[1, \"x\"]", "1979-05-27", "'a\"b'"]
        var edits: [Edit] = []
        for table in ["resources", "disk"] + parsed.keys {
            var keys = ["pids-max", "new key"]
            if case .table(let inner)? = parsed[table]?.kind { keys += inner.keys.prefix(4) }
            for key in keys {
                edits.append(Edit(document: document, table: table, key: key, literal: literals[edits.count % 7]))
                edits.append(Edit(document: document, table: table, key: key, literal: nil))
            }
        }
        return edits
    }

    /// The edited text, or nil when the editor refused for a reason it may refuse for.
    static func check(_ edit: Edit, sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        let result: String
        do {
            result = try TOMLEditor.setting(edit.document, table: edit.table, key: edit.key, to: edit.literal)
        } catch {
            #expect(error.message.hasSuffix(": edit it by hand"), "\(error) for \(edit)",
                    sourceLocation: sourceLocation)
            return nil
        }
        guard let before = try? Plain(TOML.parse(edit.document)), let after = try? Plain(TOML.parse(result)) else {
            Issue.record("the edit \(edit) made a document the parser refuses:\n\(result)",
                         sourceLocation: sourceLocation)
            return nil
        }
        var expected = before
        let value = edit.literal.map { try! Plain(TOML.parse("v = \($0)")).entries["v"]! }
        expected.set(edit.table, edit.key, value)
        // Removing the last dotted key of a table (`site.x = 1`) removes the table it made.
        var emptied = expected
        if expected.entries[edit.table] == .table([:]) { emptied.remove(edit.table) }
        #expect(after == expected || (edit.literal == nil && after == emptied), "\(edit) gave:\n\(result)",
                sourceLocation: sourceLocation)

        // One hunk of lines: one line for one, one new line (or a new table) added, or the key's lines dropped.
        // A final newline the edit added to the file's last line is not counted as a change of that line.
        // Bytes, not Characters: "\r\n" is one Character.
        func lines(_ text: String) -> [ArraySlice<UInt8>] {
            let bytes = Array(text.utf8)
            let newline: [UInt8] = edit.document.contains("\r\n") ? [13, 10] : [10]
            let ended = bytes.isEmpty || bytes.last == 10 ? bytes : bytes + newline
            return ended.split(separator: 10, omittingEmptySubsequences: false)
        }
        let (old, new) = (lines(edit.document), lines(result))
        let prefix = zip(old, new).prefix { $0 == $1 }.count
        let suffix = zip(old.reversed(), new.reversed()).prefix { $0 == $1 }.count
        let common = min(suffix, min(old.count, new.count) - prefix)
        let (removed, added) = (old.count - prefix - common, new.count - prefix - common)
        let existed = before.contains(edit.table, edit.key)
        let shape =
            switch (existed, edit.literal) {
            case (true, .some): (removed, added) == (1, 1) || result == edit.document
            case (false, .some): removed == 0 && (1...4).contains(added)
            case (true, nil): added == 0 && removed >= 1
            case (false, nil): result == edit.document
            }
        #expect(shape, "\(edit) changed \(removed) lines into \(added):\n\(result)", sourceLocation: sourceLocation)
        return result
    }
}

/// A TOML value without positions and with tables unordered, to compare documents by what they say.
private indirect enum Plain: Equatable {
    case string(String), integer(Int64), float(UInt64), boolean(Bool), datetime(String)
    case array([Plain])
    case table([String: Plain])

    init(_ table: TOMLTable) {
        self = .table(Dictionary(uniqueKeysWithValues: table.entries.map { ($0.key, Plain($0.value)) }))
    }

    init(_ value: TOMLValue) {
        switch value.kind {
        case .string(let string): self = .string(string)
        case .integer(let integer): self = .integer(integer)
        case .float(let float): self = .float(float.bitPattern)
        case .boolean(let boolean): self = .boolean(boolean)
        case .datetime(let text): self = .datetime(text)
        case .array(let elements): self = .array(elements.map(Plain.init))
        case .table(let table): self = Plain(table)
        }
    }

    var entries: [String: Plain] {
        if case .table(let entries) = self { return entries }
        return [:]
    }

    func contains(_ table: String, _ key: String) -> Bool {
        entries[table]?.entries[key] != nil
    }

    mutating func remove(_ table: String) {
        guard case .table(var root) = self else { return }
        root[table] = nil
        self = .table(root)
    }

    /// The document with `table.key` set to `value` (or removed), creating the table if it is missing.
    mutating func set(_ table: String, _ key: String, _ value: Plain?) {
        guard case .table(var root) = self else { return }
        if case .table(var inner)? = root[table] {
            inner[key] = value
            root[table] = .table(inner)
        } else if root[table] == nil, let value {
            root[table] = .table([key: value])
        }
        self = .table(root)
    }
}
