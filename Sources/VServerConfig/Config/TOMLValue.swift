/// A TOML value with the place it was written, so that checks made after parsing can still name the line.
public struct TOMLValue: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case string(String)
        case integer(Int64)
        case float(Double)
        case boolean(Bool)
        /// Offset or local date-time, local date or local time, exactly as written.
        case datetime(String)
        case array([TOMLValue])
        case table(TOMLTable)
    }

    public var kind: Kind
    /// 1-based line of the value's first character (for tables: their header, or the first key that made them).
    public var line: Int
    /// 1-based column, counted in Unicode scalars.
    public var column: Int

    public init(_ kind: Kind, line: Int, column: Int) {
        self.kind = kind
        self.line = line
        self.column = column
    }

    /// "a string", "an integer", …: for messages like "expected an integer, found a string".
    public var typeDescription: String {
        switch kind {
        case .string: "a string"
        case .integer: "an integer"
        case .float: "a float"
        case .boolean: "a boolean"
        case .datetime: "a date-time"
        case .array: "an array"
        case .table: "a table"
        }
    }
}

/// A table whose keys keep their source order and the place they were written.
public struct TOMLTable: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var line: Int
        public var column: Int
        public var value: TOMLValue
    }

    public private(set) var entries: [Entry] = []

    public init() {}

    public subscript(key: String) -> TOMLValue? {
        entries.first { $0.key == key }?.value
    }

    public func entry(_ key: String) -> Entry? {
        entries.first { $0.key == key }
    }

    public var keys: [String] { entries.map(\.key) }
    public var isEmpty: Bool { entries.isEmpty }

    /// Appends without checking for duplicates: the parser has already enforced TOML's rules.
    package mutating func append(_ entry: Entry) {
        entries.append(entry)
    }
}

/// A syntax or redefinition error, at a line (and column, where one character is to blame).
public struct TOMLError: Error, Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var column: Int?
    /// The dotted key the error is about, when there is one (duplicate keys, redefined tables).
    public var key: String?
    public var message: String

    public init(line: Int, column: Int?, key: String? = nil, message: String) {
        self.line = line
        self.column = column
        self.key = key
        self.message = message
    }

    /// "line 3, column 9: expected '=' after a key"
    public var description: String {
        var text = "line \(line)"
        if let column { text += ", column \(column)" }
        text += ": "
        if let key { text += "\(key): " }
        return text + message
    }
}

extension TOML {
    /// A key as it must be written in TOML: bare when possible, quoted otherwise.
    public static func formatKey(_ key: String) -> String {
        let bare = !key.isEmpty && key.utf8.allSatisfy { isBareKeyByte($0) }
        return bare ? key : quote(key)
    }

    /// A dotted key path for messages: `limits.nofile`, `environment."A B"`.
    public static func formatKeyPath(_ path: [String]) -> String {
        path.map(formatKey).joined(separator: ".")
    }

    /// A TOML basic string literal for `text`, escaping what must be escaped.
    public static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16, uppercase: true)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    package static func isBareKeyByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default: false
        }
    }
}
