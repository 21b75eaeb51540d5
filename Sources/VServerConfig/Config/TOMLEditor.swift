/// Changes one value of a `vserver.toml` in place, for `vserverctl set NAME KEY=VALUE`: every comment, blank
/// line, key order, spacing and line ending outside the edited value stays byte for byte.
///
/// The text is first read by `TOML.parse`, so the scanner below only ever sees valid TOML and needs no error
/// handling of its own; it only has to know where statements, values and comments begin and end.
package enum TOMLEditor {
    /// `text` with `key` of table `table` (e.g. "resources") set to `literal`, a TOML value already formatted
    /// (`"128M"`, `100`, `true`); a nil `literal` removes the key's line(s).
    ///
    /// An existing value is replaced where it is written (also as a dotted key, `resources.pids-max = 1`); a new
    /// key goes after the table's last key, or in a new `[table]` at the end. Values this cannot change without
    /// rewriting more than one line (an inline table, a multi-line value) are refused.
    package static func setting(_ text: String, table: String, key: String, to literal: String?)
        throws(TOMLEditError) -> String
    {
        try setting(text, path: [table, key], to: literal)
    }

    /// The same for a key at the top level (`after`, `root`).
    package static func setting(_ text: String, topLevelKey key: String, to literal: String?)
        throws(TOMLEditError) -> String
    {
        try setting(text, path: [key], to: literal)
    }

    private static func setting(_ text: String, path: [String], to literal: String?) throws(TOMLEditError) -> String {
        let document: TOMLTable
        do { document = try TOML.parse(text) } catch { throw TOMLEditError(error) }
        if let literal { try checkValue(literal) }
        if literal == nil, !document.contains(path) { return text }

        let bytes = Array(text.utf8)
        let edit = try Edit(bytes: bytes, path: path, literal: literal)
        var edited = Array(bytes[..<edit.range.lowerBound])
        edited += edit.replacement.utf8
        edited += bytes[edit.range.upperBound...]
        let result = String(decoding: edited, as: UTF8.self)
        // The checks above should make this impossible; it keeps a mistake here from ever writing a broken file.
        do { _ = try TOML.parse(result) } catch {
            throw TOMLEditError(line: error.line, message: "the edit would make the file invalid: \(error)")
        }
        return result
    }

    /// One literal on one line: anything else would add keys or lines of its own.
    private static func checkValue(_ literal: String) throws(TOMLEditError) {
        let refusal = "\(literal) is not a TOML value"
        guard !literal.utf8.contains(where: { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }) else {
            throw TOMLEditError(line: nil, message: "\(refusal): it has a line break")
        }
        do { _ = try TOML.parse("v = \(literal)") } catch {
            throw TOMLEditError(line: nil, message: "\(refusal): \(error.message)")
        }
    }
}

/// Why a `vserver.toml` was not edited. `message` names the line when there is one.
package struct TOMLEditError: Error, Equatable, CustomStringConvertible {
    package var line: Int?
    package var message: String

    package init(line: Int?, message: String) {
        self.line = line
        self.message = message
    }

    init(_ error: TOMLError) {
        self.init(line: error.line, message: error.description)
    }

    package var description: String { message }
}

extension TOMLTable {
    fileprivate func contains(_ path: [String]) -> Bool {
        guard path.count > 1 else { return self[path[0]] != nil }
        guard case .table(let inner) = self[path[0]]?.kind else { return false }
        return inner.contains(Array(path.dropFirst()))
    }
}

/// The bytes to replace and what replaces them.
private struct Edit {
    var range: Range<Int>
    var replacement: String

    init(bytes: [UInt8], path: [String], literal: String?) throws(TOMLEditError) {
        var scanner = Scanner(bytes)
        let statements = scanner.statements()
        let table = Array(path.dropLast())
        let key = path[path.count - 1]
        let name = TOML.formatKeyPath(path)
        var found: Statement?
        var header: Statement?
        var lastKey: Statement?
        func refusal(_ what: String, at statement: Statement) -> TOMLEditError {
            let line = statement.line(in: bytes)
            return TOMLEditError(line: line, message: "\(what) at line \(line): edit it by hand")
        }
        for statement in statements {
            let defined = statement.defines
            if case .header(_, isArray: true) = statement.kind, path.starts(with: defined) {
                throw refusal("\(TOML.formatKeyPath(defined)) is an array of tables", at: statement)
            }
            if defined.starts(with: path), defined.count > path.count || statement.isHeader {
                throw refusal("\(name) is a table", at: statement)
            }
            guard case .keyValue(let section, _) = statement.kind else {
                if defined == table { header = statement }
                continue
            }
            if defined == path {
                if literal != nil, statement.value.contains(where: { bytes[$0] == UInt8(ascii: "\n") }) {
                    throw refusal("\(name) has a multi-line value", at: statement)
                }
                found = statement
            } else if path.starts(with: defined) {
                let what = bytes[statement.value.lowerBound] == UInt8(ascii: "{") ? "an inline table" : "not a table"
                throw refusal("\(TOML.formatKeyPath(defined)) is \(what)", at: statement)
            } else if section == table || (section.count < table.count && defined.starts(with: table)) {
                // A key of the table: under its header, or a dotted key naming it from a parent table.
                lastKey = statement
            }
        }

        let newline = bytes.firstIndex(of: UInt8(ascii: "\n")).map { $0 > 0 && bytes[$0 - 1] == 13 } == true
            ? "\r\n" : "\n"
        guard let literal else {
            // The caller returns early when the key is not there, so it is here unless the scan is wrong.
            guard let found else { throw TOMLEditError(line: nil, message: "\(name) was not found") }
            range = found.start..<found.end(in: bytes)
            replacement = ""
            return
        }
        if let found {
            range = found.value
            replacement = literal
        } else if let anchor = lastKey ?? header {
            // Written as the table's other keys are: `key` under a header, `resources.key` beside dotted keys.
            var line = TOML.formatKey(key) + " = " + literal
            if case .keyValue(let section, let written) = anchor.kind {
                let prefix = written.prefix(table.count - section.count)
                line = String(decoding: bytes[anchor.start..<anchor.keyStart], as: UTF8.self)
                    + TOML.formatKeyPath(prefix + [key]) + " = " + literal
            }
            let end = anchor.end(in: bytes)
            range = end..<end
            replacement = end > 0 && bytes[end - 1] == UInt8(ascii: "\n") ? line + newline : newline + line
        } else {
            range = bytes.count..<bytes.count
            replacement = Self.appendedTable(to: bytes, table: table, key: key, literal, newline)
        }
    }

    /// `[table]` and its key at the end, after one blank line (none at the start of an empty file).
    private static func appendedTable(to bytes: [UInt8], table: [String], key: String, _ literal: String,
                                      _ newline: String) -> String {
        var text = ""
        var lastLine = bytes[(bytes.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0)...]
        if !lastLine.isEmpty {
            text += newline
        } else if let end = bytes.indices.last {
            lastLine = bytes[(bytes[..<end].lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0)..<end]
        }
        if lastLine.contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") && $0 != 13 }) {
            text += newline
        }
        return text + "[\(TOML.formatKeyPath(table))]" + newline + TOML.formatKey(key) + " = " + literal + newline
    }
}

/// A table header or a `key = value` line, as written.
private struct Statement {
    enum Kind {
        case header([String], isArray: Bool)
        /// `key` (its dotted parts) under the header `section`.
        case keyValue(section: [String], key: [String])
    }

    var kind: Kind
    /// The start of its first line and of its key (after the indentation).
    var start: Int
    var keyStart: Int
    /// The value's bytes; empty for a header.
    var value: Range<Int>
    /// Past the newline of its last line (or the end of the file).
    var lineEnd: Int
    /// The offset of its trailing `#` from the start of its last line, in Unicode scalars.
    var commentColumn: Int?

    var isHeader: Bool {
        if case .header = kind { return true }
        return false
    }

    /// The full key path it defines.
    var defines: [String] {
        switch kind {
        case .header(let path, _): path
        case .keyValue(let section, let key): section + key
        }
    }

    func line(in bytes: [UInt8]) -> Int {
        bytes[..<start].reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
    }

    /// Past its last line and the comment lines aligned under its trailing comment: those continue that comment
    /// (as in the example config), so a new key goes after them and a removed key takes them along.
    func end(in bytes: [UInt8]) -> Int {
        var end = lineEnd
        guard let commentColumn else { return end }
        while end < bytes.count {
            var index = end
            while index < bytes.count, bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") {
                index += 1
            }
            guard index < bytes.count, bytes[index] == UInt8(ascii: "#"), scalars(bytes[end..<index]) == commentColumn
            else { break }
            end = bytes[index...].firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? bytes.count
        }
        return end
    }
}

private func scalars(_ bytes: ArraySlice<UInt8>) -> Int {
    bytes.reduce(0) { $1 & 0xC0 == 0x80 ? $0 : $0 + 1 }
}

/// Splits valid TOML into statements, skipping values whole so that a `[` inside a multi-line string or array
/// is never taken for a header.
private struct Scanner {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    mutating func statements() -> [Statement] {
        var statements: [Statement] = []
        var section: [String] = []
        while position < bytes.count {
            let start = position
            skipSpaces()
            let keyStart = position
            switch peek() {
            case nil, UInt8(ascii: "#"), UInt8(ascii: "\n"), 13:
                _ = skipLine()
            case UInt8(ascii: "["):
                let isArray = peek(at: position + 1) == UInt8(ascii: "[")
                position += isArray ? 2 : 1
                section = key()
                position += isArray ? 2 : 1
                let comment = skipLine()
                statements.append(Statement(
                    kind: .header(section, isArray: isArray), start: start, keyStart: keyStart,
                    value: position..<position, lineEnd: position,
                    commentColumn: comment.map { scalars(bytes[start..<$0]) }))
            default:
                let key = key()
                position += 1
                skipSpaces()
                let valueStart = position
                skipValue()
                let value = valueStart..<position
                let lastLineStart = (bytes[..<position].lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 }) ?? 0
                let comment = skipLine()
                statements.append(Statement(
                    kind: .keyValue(section: section, key: key), start: start, keyStart: keyStart, value: value,
                    lineEnd: position, commentColumn: comment.map { scalars(bytes[max(start, lastLineStart)..<$0]) }))
            }
        }
        return statements
    }

    private func peek() -> UInt8? { peek(at: position) }
    private func peek(at index: Int) -> UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipSpaces() {
        while peek() == UInt8(ascii: " ") || peek() == UInt8(ascii: "\t") { position += 1 }
    }

    /// To the start of the next line; returns where a comment on the way begins.
    private mutating func skipLine() -> Int? {
        var comment: Int?
        while let byte = peek() {
            position += 1
            if byte == UInt8(ascii: "\n") { break }
            if byte == UInt8(ascii: "#") && comment == nil { comment = position - 1 }
        }
        return comment
    }

    /// Spaces, newlines and comments between array elements.
    private mutating func skipBlank() {
        while let byte = peek() {
            if byte == UInt8(ascii: "#") {
                while let next = peek(), next != UInt8(ascii: "\n") { position += 1 }
            } else if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n")
                || byte == 13
            {
                position += 1
            } else {
                return
            }
        }
    }

    /// A dotted key, each part as the parser reads it; stops after the spaces that follow it.
    private mutating func key() -> [String] {
        var parts: [String] = []
        while true {
            skipSpaces()
            let start = position
            if let quote = peek(), quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") {
                skipString(quote)
                // Escapes and all: the parser decodes a quoted key exactly as in the file.
                let written = String(decoding: bytes[start..<position], as: UTF8.self)
                parts.append((try? TOML.parse("\(written) = 0"))?.keys.first ?? written)
            } else {
                while let byte = peek(), TOML.isBareKeyByte(byte) { position += 1 }
                parts.append(String(decoding: bytes[start..<position], as: UTF8.self))
            }
            skipSpaces()
            guard peek() == UInt8(ascii: ".") else { return parts }
            position += 1
        }
    }

    private mutating func skipValue() {
        switch peek() {
        case UInt8(ascii: "\""), UInt8(ascii: "'"):
            skipString(bytes[position])
        case UInt8(ascii: "["):
            position += 1
            while true {
                skipBlank()
                if peek() == UInt8(ascii: "]") || peek() == nil { break }
                skipValue()
                skipBlank()
                if peek() == UInt8(ascii: ",") { position += 1 }
            }
            position += 1
        case UInt8(ascii: "{"):
            position += 1
            while true {
                skipSpaces()
                if peek() == UInt8(ascii: "}") || peek() == nil { break }
                _ = key()
                position += 1
                skipSpaces()
                skipValue()
                skipSpaces()
                if peek() == UInt8(ascii: ",") { position += 1 }
            }
            position += 1
        default:
            // A number, boolean, date or time: up to what may follow a value; a date and a time may have a space
            // between them, so trailing spaces are dropped instead of stopping at the first.
            let terminators: [UInt8] = [UInt8(ascii: ","), UInt8(ascii: "]"), UInt8(ascii: "}"), UInt8(ascii: "#"),
                                        UInt8(ascii: "\n"), 13]
            while let byte = peek(), !terminators.contains(byte) { position += 1 }
            while position > 0, bytes[position - 1] == UInt8(ascii: " ") || bytes[position - 1] == UInt8(ascii: "\t") {
                position -= 1
            }
        }
    }

    private mutating func skipString(_ quote: UInt8) {
        let multiline = peek(at: position + 1) == quote && peek(at: position + 2) == quote
        position += multiline ? 3 : 1
        while let byte = peek() {
            if byte == UInt8(ascii: "\\") && quote == UInt8(ascii: "\"") {
                position += 2
            } else if byte != quote {
                position += 1
            } else if !multiline {
                position += 1
                return
            } else if peek(at: position + 1) == quote && peek(at: position + 2) == quote {
                // Up to two quotes right before the closing three belong to the string.
                position += 3
                while peek() == quote { position += 1 }
                return
            } else {
                position += 1
            }
        }
    }
}
