/// Vserver names (docs/ARCHITECTURE.md §1): `[a-z0-9][a-z0-9._-]{0,62}`. Checked before a name becomes part of a path.
public enum VServerName {
    public static let maximumLength = 63

    public static func isValid(_ name: String) -> Bool {
        problem(name) == nil
    }

    /// Throws an error (without a file) that says what is wrong and what is allowed.
    public static func validate(_ name: String) throws(ConfigError) {
        if let problem = problem(name) {
            throw ConfigError(file: "", message: "invalid vserver name \(quoted(name)): \(problem); \(rule)")
        }
    }

    package static let rule =
        "a name is 1 to 63 characters of a-z, 0-9, \".\", \"_\" and \"-\", starting with a letter or digit"

    /// Why `name` is not a valid name, or nil.
    package static func problem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        guard let first = bytes.first else { return "it is empty" }
        guard bytes.count <= maximumLength else { return "it is \(name.unicodeScalars.count) characters long" }
        guard isLowercaseAlphanumeric(first) else {
            return "it starts with \(quoted(String(name.unicodeScalars.first!)))"
        }
        for scalar in name.unicodeScalars {
            guard scalar.isASCII, isAllowed(UInt8(scalar.value)) else { return "it contains \(quoted(String(scalar)))" }
        }
        return nil
    }

    private static func isLowercaseAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }

    private static func isAllowed(_ byte: UInt8) -> Bool {
        isLowercaseAlphanumeric(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_")
            || byte == UInt8(ascii: "-")
    }
}

/// A value in double quotes for messages, with control characters made visible.
package func quoted(_ text: String) -> String {
    TOML.quote(text)
}
