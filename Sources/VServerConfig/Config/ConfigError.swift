/// A configuration problem, precise enough to fix without searching: file, line, key and what is wrong.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    /// Only for TOML syntax errors, where one character is to blame.
    public var column: Int?
    /// The key as a dotted path (`context`, `namespaces.net`, `mount[2].target`), when there is one.
    public var key: String?
    public var message: String
    /// The failed system call behind it, when one is (reading the file, walking the directory).
    public var cause: SystemError?

    public init(file: String, line: Int? = nil, column: Int? = nil, key: String? = nil, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.key = key
        self.message = message
    }

    /// A system call failed on `file` (or below it): "FILE: CALL: errno text", keeping the error as the cause.
    public init(file: String, failed cause: SystemError) {
        self.init(file: file, message: "\(cause.call): \(cause.message)")
        self.cause = cause
    }

    /// `/etc/vservers/web/vserver.toml:3: context: must be an integer from 2 to 49151, not 70000`; the line,
    /// column and key parts are left out when unknown, the file when empty.
    public var description: String {
        var parts: [String] = []
        if !file.isEmpty {
            var place = file
            if let line {
                place += ":\(line)"
                if let column { place += ":\(column)" }
            }
            parts.append(place)
        }
        if let key { parts.append(key) }
        parts.append(message)
        return parts.joined(separator: ": ")
    }
}

/// Where a setting was written, to build errors and warnings that point back to it.
package struct SettingLocation: Sendable, Equatable {
    package var file: String
    package var line: Int?
    package var key: String?

    package func error(_ message: String) -> ConfigError {
        ConfigError(file: file, line: line, key: key, message: message)
    }

    /// `/etc/vservers/db/vserver.toml:1`, for messages about another vserver's setting.
    package var place: String { line.map { "\(file):\($0)" } ?? file }
}
