/// A JSON value (RFC 8259), small enough to live without Foundation: `vserverctl` must start in about a millisecond.
///
/// Numbers without a fraction or exponent that fit in `Int64` parse as `.int`; every other number is `.double`.
public enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([String: JSON])
}

/// Why a document is not JSON, and where: `offset` counts bytes from the start of the document.
public struct JSONError: Error, Equatable, Sendable, CustomStringConvertible {
    public var offset: Int
    public var reason: String

    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

// MARK: - Accessors

extension JSON {
    /// The member `key` of an object; nil for a missing member or when this is not an object.
    public subscript(key: String) -> JSON? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// The element at `index` of an array; nil when out of range or when this is not an array.
    public subscript(index: Int) -> JSON? {
        if case .array(let elements) = self, elements.indices.contains(index) { return elements[index] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The value of an `.int`, or of a `.double` that is a whole number in range (some encoders write `3.0`).
    public var intValue: Int? {
        switch self {
        case .int(let value): return Int(exactly: value)
        case .double(let value): return Int(exactly: value)
        default: return nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .int(let value): return Double(value)
        case .double(let value): return value
        default: return nil
        }
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var arrayValue: [JSON]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var objectValue: [String: JSON]? {
        if case .object(let value) = self { return value }
        return nil
    }

    public var isNull: Bool { self == .null }
}

extension JSON: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringInterpolation, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }

    public init(dictionaryLiteral elements: (String, JSON)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

extension JSON {
    /// An `.int` from any integer type; integers beyond `Int64` (only `UInt64`) become `.double`.
    public init(_ value: some BinaryInteger) {
        if let exact = Int64(exactly: value) {
            self = .int(exact)
        } else {
            self = .double(Double(value))
        }
    }

    /// `.null` for nil, so optional fields can be written inline when a null is wanted rather than an omission.
    public init(_ value: String?) {
        self = value.map(JSON.string) ?? .null
    }
}

// MARK: - Parsing

extension JSON {
    /// Nesting deeper than this is rejected, so hostile input cannot exhaust the stack.
    public static let maxDepth = 128

    /// Parses one JSON document; whitespace may surround it, anything else after it is an error.
    public static func parse(_ bytes: some Collection<UInt8>) throws(JSONError) -> JSON {
        if let result = bytes.withContiguousStorageIfAvailable(parse(buffer:)) { return try result.get() }
        return try parse(Array(bytes))
    }

    public static func parse(_ text: String) throws(JSONError) -> JSON {
        var text = text
        return try text.withUTF8(parse(buffer:)).get()
    }

    private static func parse(buffer: UnsafeBufferPointer<UInt8>) -> Result<JSON, JSONError> {
        do throws(JSONError) {
            var parser = JSONParser(buffer)
            return .success(try parser.parseDocument())
        } catch {
            return .failure(error)
        }
    }
}

private enum ASCII {
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
    static let slash = UInt8(ascii: "/")
    static let comma = UInt8(ascii: ",")
    static let colon = UInt8(ascii: ":")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
    static let minus = UInt8(ascii: "-")
    static let plus = UInt8(ascii: "+")
    static let dot = UInt8(ascii: ".")
    static let zero = UInt8(ascii: "0")
    static let nine = UInt8(ascii: "9")
    static let lowerE = UInt8(ascii: "e")
    static let upperE = UInt8(ascii: "E")
}

private struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0
    var depth = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    mutating func parseDocument() throws(JSONError) -> JSON {
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        if position < bytes.count { throw error("unexpected \(describe(bytes[position])) after the document") }
        return value
    }

    func error(_ reason: String, at offset: Int? = nil) -> JSONError {
        JSONError(offset: offset ?? position, reason: reason)
    }

    func describe(_ byte: UInt8) -> String {
        if byte >= 0x20 && byte < 0x7F { return "character '\(Character(Unicode.Scalar(byte)))'" }
        let hex = String(byte, radix: 16, uppercase: true)
        return "byte 0x\(hex.count == 1 ? "0" + hex : hex)"
    }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    mutating func parseValue() throws(JSONError) -> JSON {
        guard position < bytes.count else { throw error("unexpected end of input") }
        switch bytes[position] {
        case ASCII.openBrace: return try parseObject()
        case ASCII.openBracket: return try parseArray()
        case ASCII.quote: return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        case ASCII.minus, ASCII.zero...ASCII.nine: return try parseNumber()
        case let byte: throw error("unexpected \(describe(byte))")
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONError) {
        let start = position
        for expected in UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount) {
            guard position < bytes.count, bytes[position] == expected else {
                throw error("invalid literal, expected '\(literal)'", at: start)
            }
            position += 1
        }
    }

    mutating func enterContainer() throws(JSONError) {
        depth += 1
        if depth > JSON.maxDepth { throw error("nesting deeper than \(JSON.maxDepth)") }
    }

    mutating func parseArray() throws(JSONError) -> JSON {
        try enterContainer()
        position += 1
        var elements: [JSON] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == ASCII.closeBracket {
            position += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue())
            skipWhitespace()
            guard position < bytes.count else { throw error("unterminated array") }
            switch bytes[position] {
            case ASCII.comma:
                position += 1
            case ASCII.closeBracket:
                position += 1
                depth -= 1
                return .array(elements)
            case let byte:
                throw error("expected ',' or ']' in array, found \(describe(byte))")
            }
        }
    }

    mutating func parseObject() throws(JSONError) -> JSON {
        try enterContainer()
        position += 1
        // Collected first so the dictionary is built at its final size: rehashing while growing costs more.
        var pairs: [(key: String, value: JSON, offset: Int)] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == ASCII.closeBrace {
            position += 1
            depth -= 1
            return .object([:])
        }
        while true {
            skipWhitespace()
            guard position < bytes.count else { throw error("unterminated object") }
            guard bytes[position] == ASCII.quote else {
                throw error("expected a string key in object, found \(describe(bytes[position]))")
            }
            let keyOffset = position
            let key = try parseString()
            skipWhitespace()
            guard position < bytes.count, bytes[position] == ASCII.colon else {
                throw error("expected ':' after object key")
            }
            position += 1
            skipWhitespace()
            pairs.append((key, try parseValue(), keyOffset))
            skipWhitespace()
            guard position < bytes.count else { throw error("unterminated object") }
            switch bytes[position] {
            case ASCII.comma:
                position += 1
            case ASCII.closeBrace:
                position += 1
                depth -= 1
                var members = [String: JSON](minimumCapacity: pairs.count)
                for pair in pairs {
                    // Duplicate keys are refused: parsers that keep different duplicates read different documents.
                    if members.updateValue(pair.value, forKey: pair.key) != nil {
                        throw error("duplicate key \"\(pair.key)\"", at: pair.offset)
                    }
                }
                return .object(members)
            case let byte:
                throw error("expected ',' or '}' in object, found \(describe(byte))")
            }
        }
    }

    mutating func parseString() throws(JSONError) -> String {
        let start = position
        position += 1
        let contentStart = position
        var allBits: UInt8 = 0
        // Fast path: no escapes, so the bytes between the quotes are the string.
        while position < bytes.count {
            let byte = bytes[position]
            if byte == ASCII.quote {
                let content = UnsafeBufferPointer(rebasing: bytes[contentStart..<position])
                guard let string = makeString(content, isASCII: allBits < 0x80) else {
                    throw error("invalid UTF-8 in string", at: start)
                }
                position += 1
                return string
            }
            if byte == ASCII.backslash { break }
            if byte < 0x20 { throw error("unescaped control character in string") }
            allBits |= byte
            position += 1
        }
        guard position < bytes.count else { throw error("unterminated string", at: start) }

        var decoded: [UInt8] = []
        decoded.reserveCapacity(position - contentStart + 16)
        decoded.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[contentStart..<position]))
        while position < bytes.count {
            let byte = bytes[position]
            switch byte {
            case ASCII.quote:
                position += 1
                let string = decoded.withUnsafeBufferPointer { makeString($0, isASCII: false) }
                guard let string else { throw error("invalid UTF-8 in string", at: start) }
                return string
            case ASCII.backslash:
                try parseEscape(into: &decoded)
            case 0..<0x20:
                throw error("unescaped control character in string")
            default:
                decoded.append(byte)
                position += 1
            }
        }
        throw error("unterminated string", at: start)
    }

    /// The string of valid UTF-8 `bytes`, nil for invalid UTF-8. `String(validating:as:)` would do, but is
    /// generic and unspecialized: it takes a third of the time of parsing a large reply.
    func makeString(_ bytes: UnsafeBufferPointer<UInt8>, isASCII: Bool) -> String? {
        let string = String(decoding: bytes, as: UTF8.self)
        // Decoding replaces invalid sequences with U+FFFD, so the input was valid exactly when nothing changed.
        if isASCII || string.utf8.elementsEqual(bytes) { return string }
        return nil
    }

    mutating func parseEscape(into decoded: inout [UInt8]) throws(JSONError) {
        let escapeStart = position
        position += 1
        guard position < bytes.count else { throw error("unterminated string") }
        let byte = bytes[position]
        position += 1
        switch byte {
        case ASCII.quote: decoded.append(ASCII.quote)
        case ASCII.backslash: decoded.append(ASCII.backslash)
        case ASCII.slash: decoded.append(ASCII.slash)
        case UInt8(ascii: "b"): decoded.append(0x08)
        case UInt8(ascii: "f"): decoded.append(0x0C)
        case UInt8(ascii: "n"): decoded.append(0x0A)
        case UInt8(ascii: "r"): decoded.append(0x0D)
        case UInt8(ascii: "t"): decoded.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = UInt32(try parseHex4())
            if (0xD800..<0xDC00).contains(scalar) {
                // A high surrogate must be followed by an escaped low one; alone, it cannot be a Swift
                // String, so it becomes U+FFFD as in Go and browsers rather than failing the whole document.
                let afterHigh = position
                if position + 1 < bytes.count, bytes[position] == ASCII.backslash,
                    bytes[position + 1] == UInt8(ascii: "u")
                {
                    position += 2
                    let low = UInt32(try parseHex4())
                    if (0xDC00..<0xE000).contains(low) {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        scalar = 0xFFFD
                        position = afterHigh
                    }
                } else {
                    scalar = 0xFFFD
                }
            } else if (0xDC00..<0xE000).contains(scalar) {
                scalar = 0xFFFD
            }
            appendUTF8(Unicode.Scalar(scalar) ?? "\u{FFFD}", to: &decoded)
        default:
            throw error("invalid escape sequence", at: escapeStart)
        }
    }

    mutating func parseHex4() throws(JSONError) -> UInt16 {
        guard position + 4 <= bytes.count else { throw error("truncated \\u escape") }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case ASCII.zero...ASCII.nine: digit = byte - ASCII.zero
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("invalid hex digit in \\u escape")
            }
            value = value << 4 | UInt16(digit)
            position += 1
        }
        return value
    }

    func appendUTF8(_ scalar: Unicode.Scalar, to decoded: inout [UInt8]) {
        let value = scalar.value
        switch value {
        case 0..<0x80:
            decoded.append(UInt8(value))
        case 0x80..<0x800:
            decoded.append(UInt8(0xC0 | value >> 6))
            decoded.append(UInt8(0x80 | value & 0x3F))
        case 0x800..<0x10000:
            decoded.append(UInt8(0xE0 | value >> 12))
            decoded.append(UInt8(0x80 | value >> 6 & 0x3F))
            decoded.append(UInt8(0x80 | value & 0x3F))
        default:
            decoded.append(UInt8(0xF0 | value >> 18))
            decoded.append(UInt8(0x80 | value >> 12 & 0x3F))
            decoded.append(UInt8(0x80 | value >> 6 & 0x3F))
            decoded.append(UInt8(0x80 | value & 0x3F))
        }
    }

    func isDigit(at index: Int) -> Bool {
        index < bytes.count && bytes[index] >= ASCII.zero && bytes[index] <= ASCII.nine
    }

    mutating func parseNumber() throws(JSONError) -> JSON {
        let start = position
        let negative = bytes[position] == ASCII.minus
        if negative { position += 1 }
        guard isDigit(at: position) else { throw error("expected a digit") }

        // Accumulated negatively so that Int64.min parses; nil once it no longer fits.
        var integer: Int64? = 0
        if bytes[position] == ASCII.zero {
            position += 1
            if isDigit(at: position) { throw error("leading zero in number", at: start) }
        } else {
            while isDigit(at: position) {
                if let value = integer {
                    let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
                    let (next, overflow2) = shifted.subtractingReportingOverflow(Int64(bytes[position] - ASCII.zero))
                    integer = overflow1 || overflow2 ? nil : next
                }
                position += 1
            }
        }

        var isInteger = true
        if position < bytes.count, bytes[position] == ASCII.dot {
            isInteger = false
            position += 1
            guard isDigit(at: position) else { throw error("expected a digit after the decimal point") }
            while isDigit(at: position) { position += 1 }
        }
        if position < bytes.count, bytes[position] == ASCII.lowerE || bytes[position] == ASCII.upperE {
            isInteger = false
            position += 1
            if position < bytes.count, bytes[position] == ASCII.plus || bytes[position] == ASCII.minus {
                position += 1
            }
            guard isDigit(at: position) else { throw error("expected a digit in the exponent") }
            while isDigit(at: position) { position += 1 }
        }

        if isInteger, let value = integer {
            if negative { return .int(value) }
            if value != .min { return .int(-value) }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        guard let double = Double(text), double.isFinite else {
            throw error("number out of range", at: start)
        }
        return .double(double)
    }
}

// MARK: - Serialization

extension JSON {
    /// Compact JSON text with object keys sorted, so equal values serialize to equal bytes.
    public func serialized() -> String {
        String(decoding: serializedBytes(), as: UTF8.self)
    }

    /// The UTF-8 bytes of `serialized()`. Never contains a NUL byte: control characters are escaped.
    public func serializedBytes() -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(128)
        write(to: &output)
        return output
    }

    /// Appends the serialization to `output`.
    public func write(to output: inout [UInt8]) {
        switch self {
        case .null:
            output.append(contentsOf: "null".utf8)
        case .bool(let value):
            output.append(contentsOf: value ? "true".utf8 : "false".utf8)
        case .int(let value):
            JSON.writeInteger(value, to: &output)
        case .double(let value):
            // JSON has no NaN or infinity; null is what JavaScript writes for them.
            if value.isFinite {
                output.append(contentsOf: value.description.utf8)
            } else {
                output.append(contentsOf: "null".utf8)
            }
        case .string(let value):
            JSON.writeString(value, to: &output)
        case .array(let elements):
            output.append(ASCII.openBracket)
            for (index, element) in elements.enumerated() {
                if index > 0 { output.append(ASCII.comma) }
                element.write(to: &output)
            }
            output.append(ASCII.closeBracket)
        case .object(let members):
            output.append(ASCII.openBrace)
            var first = true
            for (key, value) in members.sorted(by: { $0.key < $1.key }) {
                if !first { output.append(ASCII.comma) }
                first = false
                JSON.writeString(key, to: &output)
                output.append(ASCII.colon)
                value.write(to: &output)
            }
            output.append(ASCII.closeBrace)
        }
    }

    static func writeInteger(_ value: Int64, to output: inout [UInt8]) {
        if value == 0 {
            output.append(ASCII.zero)
            return
        }
        var magnitude = value.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var count = 0
            while magnitude > 0 {
                digits[count] = ASCII.zero + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            }
            if value < 0 { output.append(ASCII.minus) }
            while count > 0 {
                count -= 1
                output.append(digits[count])
            }
        }
    }

    static func writeString(_ value: String, to output: inout [UInt8]) {
        output.append(ASCII.quote)
        var value = value
        value.withUTF8 { utf8 in
            var runStart = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == ASCII.quote || byte == ASCII.backslash else { continue }
                output.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
                runStart = index + 1
                output.append(ASCII.backslash)
                switch byte {
                case ASCII.quote: output.append(ASCII.quote)
                case ASCII.backslash: output.append(ASCII.backslash)
                case 0x08: output.append(UInt8(ascii: "b"))
                case 0x0C: output.append(UInt8(ascii: "f"))
                case 0x0A: output.append(UInt8(ascii: "n"))
                case 0x0D: output.append(UInt8(ascii: "r"))
                case 0x09: output.append(UInt8(ascii: "t"))
                default:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    output.append(contentsOf: "u00".utf8)
                    output.append(hex[Int(byte >> 4)])
                    output.append(hex[Int(byte & 0xF)])
                }
            }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<utf8.count]))
        }
        output.append(ASCII.quote)
    }
}

extension JSON: CustomStringConvertible {
    public var description: String { serialized() }
}

extension JSON {
    /// An array of strings.
    public static func strings(_ values: [String]) -> JSON { .array(values.map { .string($0) }) }
}
