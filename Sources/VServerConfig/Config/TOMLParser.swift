/// A TOML 1.0 parser that keeps the line of every key and value.
///
/// Written here rather than taken from a package because every configuration error, including those found
/// after parsing (an unknown key, a wrong type), has to name the file, the line and the key.
public enum TOML {
    /// Parses a whole document. Redefinitions (duplicate keys, a table defined twice, appending to a static
    /// array, extending an inline table) are errors, as TOML 1.0 requires.
    public static func parse(_ text: String) throws(TOMLError) -> TOMLTable {
        var parser = TOMLParser(text)
        return try parser.parseDocument()
    }
}

private let quotationMark = UInt8(ascii: "\"")
private let apostrophe = UInt8(ascii: "'")
private let backslash = UInt8(ascii: "\\")
private let newline = UInt8(ascii: "\n")
private let space = UInt8(ascii: " ")
private let tab = UInt8(ascii: "\t")
private let hash = UInt8(ascii: "#")

private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

/// Control characters other than tab may appear in no string or comment (TOML 1.0).
private func isForbiddenControl(_ byte: UInt8) -> Bool { (byte < 0x20 && byte != tab) || byte == 0x7F }

/// Bytes a number, date or time can be made of; the token is checked as a whole afterwards.
private func isScalarTokenByte(_ byte: UInt8) -> Bool {
    TOML.isBareKeyByte(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ":")
}

/// Tables while they are being built. Reference semantics keep "the table the last header opened" simple.
private final class TableBuilder {
    enum Origin: Equatable {
        /// Created as the parent of a header (`[a.b]` creates `a`): a later `[a]` may still define it.
        case implicit
        /// Defined by a `[header]` (or is an element of an array of tables).
        case header
        /// Created by dotted keys in the given table section; only that section may add to it.
        case dotted(section: Int)
    }

    enum Item {
        /// Any value that is complete once parsed: scalars, static arrays, inline tables.
        case value(TOMLValue)
        case table(TableBuilder)
        case arrayOfTables(ArrayOfTablesBuilder)
    }

    var origin: Origin
    /// Byte offset of the header or key that made the table.
    var position: Int
    var order: [String] = []
    var items: [String: Item] = [:]
    var keyPositions: [String: Int] = [:]

    init(origin: Origin, position: Int) {
        self.origin = origin
        self.position = position
    }

    func add(_ key: String, _ item: Item, keyPosition: Int) {
        order.append(key)
        items[key] = item
        keyPositions[key] = keyPosition
    }
}

private final class ArrayOfTablesBuilder {
    var position: Int
    var tables: [TableBuilder]

    init(position: Int, first: TableBuilder) {
        self.position = position
        tables = [first]
    }
}

private struct KeyPart {
    var name: String
    var position: Int
}

private struct TOMLParser {
    private let bytes: [UInt8]
    private let lineStarts: [Int]
    private var position = 0
    private let root = TableBuilder(origin: .header, position: 0)
    private var current: TableBuilder
    private var currentPath: [String] = []
    /// Incremented at every header: tables made by dotted keys belong to the section that made them.
    private var section = 0
    /// Arrays and inline tables being parsed, to refuse nesting deep enough to exhaust the stack.
    private var depth = 0
    private static let maximumDepth = 100

    init(_ text: String) {
        // Like tomllib, treat CRLF as LF everywhere (also inside multi-line strings); a lone CR stays an error.
        var bytes = Array(text.utf8)
        if bytes.contains(13) {
            var normalized: [UInt8] = []
            normalized.reserveCapacity(bytes.count)
            var index = 0
            while index < bytes.count {
                if bytes[index] == 13, index + 1 < bytes.count, bytes[index + 1] == newline {
                    index += 1
                    continue
                }
                normalized.append(bytes[index])
                index += 1
            }
            bytes = normalized
        }
        self.bytes = bytes
        var starts = [0]
        for (index, byte) in bytes.enumerated() where byte == newline { starts.append(index + 1) }
        lineStarts = starts
        current = root
    }

    // MARK: Document

    mutating func parseDocument() throws(TOMLError) -> TOMLTable {
        while true {
            skipWhitespace()
            guard let byte = peek() else { break }
            if byte == newline {
                position += 1
                continue
            }
            if byte == hash {
                try skipComment()
                continue
            }
            let statement: String
            if byte == UInt8(ascii: "[") {
                try parseTableHeader()
                statement = "the table header"
            } else {
                let key = try parseKey()
                try parseKeyValue(key: key, into: current, path: currentPath, section: section)
                statement = "the value"
            }
            skipWhitespace()
            if peek() == hash { try skipComment() }
            if let byte = peek(), byte != newline {
                throw error("expected a newline after \(statement), found \(describe(position))")
            }
        }
        return convert(root)
    }

    private mutating func parseTableHeader() throws(TOMLError) {
        let start = position
        let isArray = peek(at: position + 1) == UInt8(ascii: "[")
        position += isArray ? 2 : 1
        skipWhitespace()
        let key = try parseKey()
        guard peek() == UInt8(ascii: "]") else {
            throw error("expected '\(isArray ? "]]" : "]")' to close the table header, found \(describe(position))")
        }
        position += 1
        if isArray {
            guard peek() == UInt8(ascii: "]") else {
                throw error("expected ']]' to close the array-of-tables header, found \(describe(position))")
            }
            position += 1
        }
        section += 1
        currentPath = key.map(\.name)
        current = isArray ? try appendArrayTable(key, headerPosition: start) : try openTable(key, headerPosition: start)
    }

    // MARK: Keys

    private mutating func parseKey() throws(TOMLError) -> [KeyPart] {
        var parts: [KeyPart] = []
        while true {
            skipWhitespace()
            let start = position
            guard let byte = peek() else { throw error("expected a key, found end of file") }
            let name: String
            if byte == quotationMark || byte == apostrophe {
                if opensMultilineString(byte) { throw error("a key cannot be a multi-line string") }
                name = try parseString(quote: byte, multiline: false)
            } else if TOML.isBareKeyByte(byte) {
                while let next = peek(), TOML.isBareKeyByte(next) { position += 1 }
                name = String(decoding: bytes[start..<position], as: UTF8.self)
            } else {
                throw error("expected a key, found \(describe(position))")
            }
            parts.append(KeyPart(name: name, position: start))
            skipWhitespace()
            guard peek() == UInt8(ascii: ".") else { return parts }
            position += 1
        }
    }

    private mutating func parseKeyValue(key: [KeyPart], into table: TableBuilder, path: [String], section: Int)
        throws(TOMLError)
    {
        guard peek() == UInt8(ascii: "=") else {
            throw error(
                "expected '=' after the key \(TOML.formatKeyPath(key.map(\.name))), found \(describe(position))")
        }
        position += 1
        skipWhitespace()
        let value = try parseValue()
        try insert(key, value, into: table, path: path, section: section)
    }

    // MARK: Building tables

    /// A `key = value` line (or inline-table entry), dotted keys creating tables on the way.
    private func insert(_ key: [KeyPart], _ value: TOMLValue, into start: TableBuilder, path: [String], section: Int)
        throws(TOMLError)
    {
        var table = start
        var path = path
        for part in key.dropLast() {
            path.append(part.name)
            guard let item = table.items[part.name] else {
                let created = TableBuilder(origin: .dotted(section: section), position: part.position)
                table.add(part.name, .table(created), keyPosition: part.position)
                table = created
                continue
            }
            let name = TOML.formatKeyPath(path)
            switch item {
            case .table(let existing):
                switch existing.origin {
                case .header:
                    throw error(
                        "cannot add to table [\(name)] with dotted keys: it is defined by a header on line "
                            + "\(line(of: existing.position))", at: part.position, key: path)
                case .dotted(let other) where other != section:
                    throw error(
                        "cannot add to table \(name) here: it was defined with dotted keys on line "
                            + "\(line(of: existing.position))", at: part.position, key: path)
                case .implicit:
                    existing.origin = .dotted(section: section)
                case .dotted:
                    break
                }
                table = existing
            case .arrayOfTables(let array):
                throw error(
                    "cannot add to \(name) with dotted keys: it is an array of tables ([[\(name)]] on line "
                        + "\(line(of: array.position)))", at: part.position, key: path)
            case .value(let existing):
                throw error(
                    "cannot use \(name) as a table: it is already \(existing.typeDescription) (line \(existing.line))"
                        + (existing.isTable ? ", and inline tables cannot be extended" : ""),
                    at: part.position, key: path)
            }
        }
        let last = key[key.count - 1]
        path.append(last.name)
        if table.items[last.name] != nil {
            let first = table.keyPositions[last.name].map { line(of: $0) } ?? 0
            throw error("duplicate key (first defined on line \(first))", at: last.position, key: path)
        }
        table.add(last.name, .value(value), keyPosition: last.position)
    }

    /// Walks to the parent of a header's table, creating implicit tables and entering the last element of
    /// arrays of tables.
    private func parentTable(for key: [KeyPart], header: String) throws(TOMLError) -> TableBuilder {
        var table = root
        var path: [String] = []
        for part in key.dropLast() {
            path.append(part.name)
            switch table.items[part.name] {
            case nil:
                let created = TableBuilder(origin: .implicit, position: part.position)
                table.add(part.name, .table(created), keyPosition: part.position)
                table = created
            case .table(let existing):
                table = existing
            case .arrayOfTables(let array):
                table = array.tables[array.tables.count - 1]
            case .value(let existing):
                throw error(
                    "cannot define \(header): \(TOML.formatKeyPath(path)) is already \(existing.typeDescription) "
                        + "(line \(existing.line))", at: part.position, key: path)
            }
        }
        return table
    }

    private func openTable(_ key: [KeyPart], headerPosition: Int) throws(TOMLError) -> TableBuilder {
        let path = key.map(\.name)
        let name = TOML.formatKeyPath(path)
        let parent = try parentTable(for: key, header: "[\(name)]")
        let last = key[key.count - 1]
        switch parent.items[last.name] {
        case nil:
            let table = TableBuilder(origin: .header, position: headerPosition)
            parent.add(last.name, .table(table), keyPosition: last.position)
            return table
        case .table(let existing):
            switch existing.origin {
            case .implicit:
                existing.origin = .header
                existing.position = headerPosition
                return existing
            case .header:
                throw error(
                    "table [\(name)] is defined twice (first on line \(line(of: existing.position)))",
                    at: last.position, key: path)
            case .dotted:
                throw error(
                    "table [\(name)] was already defined with dotted keys on line \(line(of: existing.position))",
                    at: last.position, key: path)
            }
        case .arrayOfTables(let array):
            throw error(
                "cannot define [\(name)]: it is an array of tables ([[\(name)]] on line \(line(of: array.position)))",
                at: last.position, key: path)
        case .value(let existing):
            throw error(
                "cannot define [\(name)]: the key is already \(existing.typeDescription) (line \(existing.line))",
                at: last.position, key: path)
        }
    }

    private func appendArrayTable(_ key: [KeyPart], headerPosition: Int) throws(TOMLError) -> TableBuilder {
        let path = key.map(\.name)
        let name = TOML.formatKeyPath(path)
        let parent = try parentTable(for: key, header: "[[\(name)]]")
        let last = key[key.count - 1]
        let table = TableBuilder(origin: .header, position: headerPosition)
        switch parent.items[last.name] {
        case nil:
            let array = ArrayOfTablesBuilder(position: headerPosition, first: table)
            parent.add(last.name, .arrayOfTables(array), keyPosition: last.position)
        case .arrayOfTables(let array):
            array.tables.append(table)
        case .table(let existing):
            throw error(
                "cannot define [[\(name)]]: \(name) is already a table (line \(line(of: existing.position)))",
                at: last.position, key: path)
        case .value(let existing):
            throw error(
                "cannot define [[\(name)]]: \(name) is already \(existing.typeDescription) (line \(existing.line))"
                    + (existing.isArray ? ", and static arrays cannot be appended to" : ""),
                at: last.position, key: path)
        }
        return table
    }

    private func convert(_ table: TableBuilder) -> TOMLTable {
        var result = TOMLTable()
        for key in table.order {
            guard let item = table.items[key], let keyPosition = table.keyPositions[key] else { continue }
            let value: TOMLValue
            switch item {
            case .value(let scalar):
                value = scalar
            case .table(let nested):
                value = tableValue(nested)
            case .arrayOfTables(let array):
                let (line, column) = location(of: array.position)
                value = TOMLValue(.array(array.tables.map(tableValue)), line: line, column: column)
            }
            let (line, column) = location(of: keyPosition)
            result.append(TOMLTable.Entry(key: key, line: line, column: column, value: value))
        }
        return result
    }

    private func tableValue(_ table: TableBuilder) -> TOMLValue {
        let (line, column) = location(of: table.position)
        return TOMLValue(.table(convert(table)), line: line, column: column)
    }

    // MARK: Values

    private mutating func parseValue() throws(TOMLError) -> TOMLValue {
        let start = position
        guard let byte = peek() else { throw error("expected a value, found end of file") }
        let kind: TOMLValue.Kind
        switch byte {
        case quotationMark, apostrophe:
            kind = .string(try parseString(quote: byte, multiline: opensMultilineString(byte)))
        case UInt8(ascii: "t"), UInt8(ascii: "f"):
            if startsWith("true") {
                position += 4
                kind = .boolean(true)
            } else if startsWith("false") {
                position += 5
                kind = .boolean(false)
            } else {
                throw error("expected a value, found \(describe(position))")
            }
        case UInt8(ascii: "["), UInt8(ascii: "{"):
            guard depth < Self.maximumDepth else {
                throw error("arrays and inline tables nested more than \(Self.maximumDepth) deep")
            }
            depth += 1
            defer { depth -= 1 }
            return byte == UInt8(ascii: "[") ? try parseArray() : try parseInlineTable()
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "i"),
            UInt8(ascii: "n"):
            kind = try parseNumberOrDate()
        default:
            throw error("expected a value, found \(describe(position))")
        }
        let (line, column) = location(of: start)
        return TOMLValue(kind, line: line, column: column)
    }

    private mutating func parseArray() throws(TOMLError) -> TOMLValue {
        let start = position
        position += 1
        var elements: [TOMLValue] = []
        while true {
            try skipWhitespaceCommentsAndNewlines()
            if peek() == UInt8(ascii: "]") { break }
            elements.append(try parseValue())
            try skipWhitespaceCommentsAndNewlines()
            guard let byte = peek() else { throw error("unterminated array (opened on line \(line(of: start)))") }
            if byte == UInt8(ascii: ",") {
                position += 1
            } else if byte != UInt8(ascii: "]") {
                throw error("expected ',' or ']' after an array element, found \(describe(position))")
            }
        }
        position += 1
        let (line, column) = location(of: start)
        return TOMLValue(.array(elements), line: line, column: column)
    }

    private mutating func parseInlineTable() throws(TOMLError) -> TOMLValue {
        let start = position
        position += 1
        let table = TableBuilder(origin: .header, position: start)
        // Tables made by dotted keys inside this inline table may be extended only inside it.
        let inlineSection = -1 - start
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            position += 1
        } else {
            while true {
                let key = try parseKey()
                try parseKeyValue(key: key, into: table, path: [], section: inlineSection)
                skipWhitespace()
                guard let byte = peek() else {
                    throw error("unterminated inline table (opened on line \(line(of: start)))")
                }
                if byte == UInt8(ascii: "}") {
                    position += 1
                    break
                }
                guard byte == UInt8(ascii: ",") else {
                    if byte == newline {
                        throw error("expected ',' or '}': an inline table must be on one line (TOML 1.0)")
                    }
                    throw error("expected ',' or '}' in an inline table, found \(describe(position))")
                }
                position += 1
                skipWhitespace()
            }
        }
        let (line, column) = location(of: start)
        return TOMLValue(.table(convert(table)), line: line, column: column)
    }

    // MARK: Strings

    /// A basic string (`"…"`, `"""…"""`, with escapes) or a literal one (`'…'`, `'''…'''`, without).
    private mutating func parseString(quote: UInt8, multiline: Bool) throws(TOMLError) -> String {
        let start = position
        position += multiline ? 3 : 1
        if multiline && peek() == newline { position += 1 }
        var out: [UInt8] = []
        while true {
            guard let byte = peek() else {
                throw error(multiline ? "unterminated multi-line string" : "unterminated string", at: start)
            }
            switch byte {
            case quote where !multiline:
                position += 1
                return String(decoding: out, as: UTF8.self)
            case quote where opensMultilineString(quote):
                position += 3
                appendClosingQuotes(quote, to: &out)
                return String(decoding: out, as: UTF8.self)
            case backslash where quote == quotationMark:
                try parseEscape(into: &out, multiline: multiline)
            case newline where !multiline:
                let q = quote == quotationMark ? "\"" : "'"
                throw error(
                    "unterminated string: a string in \(q)quotes\(q) ends on its line (use \(q)\(q)\(q) for more lines)"
                )
            default:
                if byte != newline && isForbiddenControl(byte) { throw controlCharacterError(in: "a string") }
                out.append(byte)
                position += 1
            }
        }
    }

    /// `""""` and `"""""` end a multi-line string with one or two quotes inside it.
    private mutating func appendClosingQuotes(_ quote: UInt8, to out: inout [UInt8]) {
        for _ in 0..<2 where peek() == quote {
            out.append(quote)
            position += 1
        }
    }

    private mutating func parseEscape(into out: inout [UInt8], multiline: Bool) throws(TOMLError) {
        let start = position
        guard let code = peek(at: position + 1) else { throw error("unterminated string") }
        position += 2
        switch code {
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "r"): out.append(0x0D)
        case quotationMark: out.append(quotationMark)
        case backslash: out.append(backslash)
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let count = code == UInt8(ascii: "u") ? 4 : 8
            var value: UInt32 = 0
            for offset in 0..<count {
                guard let byte = peek(at: position + offset), let digit = hexDigitValue(byte) else {
                    throw error("\\\(Character(Unicode.Scalar(code))) needs \(count) hexadecimal digits", at: start)
                }
                value = value << 4 | UInt32(digit)
            }
            position += count
            guard let scalar = Unicode.Scalar(value) else {
                let text = String(decoding: bytes[start..<position], as: UTF8.self)
                throw error("\(text) is not a Unicode scalar value", at: start)
            }
            UTF8.encode(scalar) { out.append($0) }
        case space where multiline, tab where multiline, newline where multiline:
            // A backslash ending a line swallows the line break and the whitespace that follows.
            if code != newline {
                while let byte = peek(), byte == space || byte == tab { position += 1 }
                guard peek() == nil || peek() == newline else {
                    throw error("invalid escape: only whitespace may follow a line-ending backslash", at: start)
                }
            }
            while let byte = peek(), byte == space || byte == tab || byte == newline { position += 1 }
        default:
            throw error("invalid escape sequence \\\(describeByte(code))", at: start)
        }
    }

    private func controlCharacterError(in context: String) -> TOMLError {
        let hex = String(bytes[position], radix: 16, uppercase: true)
        let code = "U+" + String(repeating: "0", count: 4 - hex.count) + hex
        return error("control character \(code) is not allowed in \(context)")
    }

    // MARK: Numbers and dates

    private mutating func parseNumberOrDate() throws(TOMLError) -> TOMLValue.Kind {
        let start = position
        while let byte = peek(), isScalarTokenByte(byte) { position += 1 }
        // "1979-05-27 07:32:00": a space may separate date and time.
        if position - start == 10, looksLikeDate(start), peek() == space,
            let h1 = peek(at: position + 1), let h2 = peek(at: position + 2), isDigit(h1), isDigit(h2),
            peek(at: position + 3) == UInt8(ascii: ":")
        {
            position += 1
            while let byte = peek(), isScalarTokenByte(byte) { position += 1 }
        }
        let token = bytes[start..<position]
        let text = String(decoding: token, as: UTF8.self)
        if looksLikeDate(start)
            || (token.count >= 3 && isDigit(token[start]) && isDigit(token[start + 1])
                && token[start + 2] == UInt8(ascii: ":"))
        {
            guard isValidDateTime(token) else { throw error("invalid date or time \"\(text)\"", at: start) }
            return .datetime(text)
        }
        return try number(token, text: text, at: start)
    }

    private func looksLikeDate(_ start: Int) -> Bool {
        guard start + 4 < bytes.count else { return false }
        return bytes[start..<start + 4].allSatisfy(isDigit) && bytes[start + 4] == UInt8(ascii: "-")
    }

    private func number(_ token: ArraySlice<UInt8>, text: String, at start: Int) throws(TOMLError) -> TOMLValue.Kind {
        let invalid = error("invalid number \"\(text)\"", at: start)
        var index = token.startIndex
        let end = token.endIndex

        if token.count > 2 && token[index] == UInt8(ascii: "0") {
            let radix: UInt64? =
                switch token[index + 1] {
                case UInt8(ascii: "x"): 16
                case UInt8(ascii: "o"): 8
                case UInt8(ascii: "b"): 2
                default: nil
                }
            if let radix {
                index += 2
                var value: UInt64 = 0
                guard scanDigits(token, &index, radix: radix, into: &value) == .ok, index == end else { throw invalid }
                guard value <= UInt64(Int64.max) else {
                    throw error("integer \(text) does not fit in 64 bits", at: start)
                }
                return .integer(Int64(value))
            }
        }

        var negative = false
        if token[index] == UInt8(ascii: "+") || token[index] == UInt8(ascii: "-") {
            negative = token[index] == UInt8(ascii: "-")
            index += 1
        }
        let rest = String(decoding: token[index...], as: UTF8.self)
        if rest == "inf" { return .float(negative ? -.infinity : .infinity) }
        if rest == "nan" { return .float(negative ? -.nan : .nan) }

        var ignored: UInt64 = 0
        guard index < end else { throw invalid }
        if token[index] == UInt8(ascii: "0") {
            index += 1
        } else if scanDigits(token, &index, radix: 10, into: &ignored) == .malformed {
            throw invalid
        }
        var isFloat = false
        if index < end && token[index] == UInt8(ascii: ".") {
            index += 1
            guard scanDigits(token, &index, radix: 10, into: &ignored) != .malformed else { throw invalid }
            isFloat = true
        }
        if index < end && (token[index] == UInt8(ascii: "e") || token[index] == UInt8(ascii: "E")) {
            index += 1
            if index < end && (token[index] == UInt8(ascii: "+") || token[index] == UInt8(ascii: "-")) { index += 1 }
            guard scanDigits(token, &index, radix: 10, into: &ignored) != .malformed else { throw invalid }
            isFloat = true
        }
        guard index == end else { throw invalid }

        let digits = String(decoding: token.filter { $0 != UInt8(ascii: "_") }, as: UTF8.self)
        if isFloat {
            guard let value = Double(digits) else { throw invalid }
            return .float(value)
        }
        guard let value = Int64(digits) else { throw error("integer \(text) does not fit in 64 bits", at: start) }
        return .integer(value)
    }

    private enum DigitScan { case ok, malformed }

    /// Digits of `radix` with single underscores between digits; at least one digit. Overflowing values are
    /// only accumulated for prefixed integers, where the caller checks the range.
    private func scanDigits(_ token: ArraySlice<UInt8>, _ index: inout Int, radix: UInt64, into value: inout UInt64)
        -> DigitScan
    {
        var sawDigit = false
        var overflow = false
        while index < token.endIndex {
            let byte = token[index]
            if let digit = hexDigitValue(byte), UInt64(digit) < radix {
                let (multiplied, o1) = value.multipliedReportingOverflow(by: radix)
                let (added, o2) = multiplied.addingReportingOverflow(UInt64(digit))
                overflow = overflow || o1 || o2
                value = added
                sawDigit = true
                index += 1
            } else if byte == UInt8(ascii: "_") {
                guard sawDigit, index + 1 < token.endIndex, let next = hexDigitValue(token[index + 1]),
                    UInt64(next) < radix
                else { return .malformed }
                index += 1
            } else {
                break
            }
        }
        if overflow { value = .max }
        return sawDigit ? .ok : .malformed
    }

    /// RFC 3339 date-time, date or time, as TOML 1.0 allows them (seconds required).
    private func isValidDateTime(_ token: ArraySlice<UInt8>) -> Bool {
        let t = Array(token)
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= t.count, t[from..<from + count].allSatisfy(isDigit) else { return nil }
            return t[from..<from + count].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        }
        func time(at start: Int) -> Int? {
            guard let hour = number(start, 2), hour <= 23, start + 2 < t.count, t[start + 2] == UInt8(ascii: ":"),
                let minute = number(start + 3, 2), minute <= 59, start + 5 < t.count,
                t[start + 5] == UInt8(ascii: ":"), let second = number(start + 6, 2), second <= 60
            else { return nil }
            var index = start + 8
            if index < t.count && t[index] == UInt8(ascii: ".") {
                index += 1
                let fractionStart = index
                while index < t.count && isDigit(t[index]) { index += 1 }
                guard index > fractionStart else { return nil }
            }
            return index
        }

        if t.count >= 3 && t[2] == UInt8(ascii: ":") { return time(at: 0) == t.count }

        guard t.count >= 10, let year = number(0, 4), t[4] == UInt8(ascii: "-"), let month = number(5, 2),
            (1...12).contains(month), t[7] == UInt8(ascii: "-"), let day = number(8, 2),
            day >= 1 && day <= daysIn(month: month, year: year)
        else { return false }
        if t.count == 10 { return true }
        guard [UInt8(ascii: "T"), UInt8(ascii: "t"), space].contains(t[10]), var index = time(at: 11) else {
            return false
        }
        if index == t.count { return true }
        if t[index] == UInt8(ascii: "Z") || t[index] == UInt8(ascii: "z") {
            index += 1
        } else if t[index] == UInt8(ascii: "+") || t[index] == UInt8(ascii: "-") {
            guard let hour = number(index + 1, 2), hour <= 23, index + 3 < t.count,
                t[index + 3] == UInt8(ascii: ":"), let minute = number(index + 4, 2), minute <= 59
            else { return false }
            index += 6
        }
        return index == t.count
    }

    private func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    // MARK: Scanning

    private func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }
    private func peek(at index: Int) -> UInt8? { index < bytes.count ? bytes[index] : nil }

    private func startsWith(_ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard position + count <= bytes.count else { return false }
        return text.withUTF8Buffer { prefix in
            (0..<count).allSatisfy { bytes[position + $0] == prefix[$0] }
        }
    }

    /// Three quotes in a row at the current position: they open (or close) a multi-line string.
    private func opensMultilineString(_ quote: UInt8) -> Bool {
        peek() == quote && peek(at: position + 1) == quote && peek(at: position + 2) == quote
    }

    private mutating func skipWhitespace() {
        while let byte = peek(), byte == space || byte == tab { position += 1 }
    }

    private mutating func skipComment() throws(TOMLError) {
        while let byte = peek(), byte != newline {
            if isForbiddenControl(byte) { throw controlCharacterError(in: "a comment") }
            position += 1
        }
    }

    private mutating func skipWhitespaceCommentsAndNewlines() throws(TOMLError) {
        while let byte = peek() {
            if byte == space || byte == tab || byte == newline {
                position += 1
            } else if byte == hash {
                try skipComment()
            } else {
                return
            }
        }
    }

    private func hexDigitValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    // MARK: Positions and errors

    private func line(of offset: Int) -> Int { location(of: offset).line }

    private func location(of offset: Int) -> (line: Int, column: Int) {
        var low = 0
        var high = lineStarts.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if lineStarts[middle] <= offset { low = middle } else { high = middle - 1 }
        }
        let lineStart = lineStarts[low]
        let column = bytes[lineStart..<min(offset, bytes.count)].reduce(1) { $1 & 0xC0 == 0x80 ? $0 : $0 + 1 }
        return (low + 1, column)
    }

    private func error(_ message: String, at offset: Int? = nil, key: [String]? = nil) -> TOMLError {
        let (line, column) = location(of: offset ?? position)
        return TOMLError(line: line, column: column, key: key.map(TOML.formatKeyPath), message: message)
    }

    /// The character at `offset` for messages: `"x"`, `end of line`, `end of file`.
    private func describe(_ offset: Int) -> String {
        guard offset < bytes.count else { return "end of file" }
        let byte = bytes[offset]
        if byte == newline { return "end of line" }
        if byte == quotationMark { return "'\"'" }
        if byte < 0x80 { return "\"\(describeByte(byte))\"" }
        var end = offset + 1
        while end < bytes.count && bytes[end] & 0xC0 == 0x80 { end += 1 }
        return "\"" + String(decoding: bytes[offset..<end], as: UTF8.self) + "\""
    }

    private func describeByte(_ byte: UInt8) -> String {
        if isForbiddenControl(byte) || byte >= 0x80 {
            let hex = String(byte, radix: 16, uppercase: true)
            return "\\x" + (hex.count == 1 ? "0" : "") + hex
        }
        return String(Character(Unicode.Scalar(byte)))
    }
}

extension TOMLValue {
    fileprivate var isTable: Bool {
        if case .table = kind { return true }
        return false
    }

    fileprivate var isArray: Bool {
        if case .array = kind { return true }
        return false
    }
}
