import Glibc

/// Why a value is wrong, before it is placed at a file, line and key.
package struct Problem: Error, Equatable {
    package var message: String

    package init(_ message: String) { self.message = message }
}

/// Checks shared by both configuration formats. Each returns why a value is wrong, or nil.
package enum Validation {
    /// Hostnames: 1 to 64 characters (the kernel's limit) of letters, digits, "-", "." and "_", starting with a
    /// letter or digit. "_" is allowed because vserver names may contain it and a name is the default hostname.
    package static func hostnameProblem(_ hostname: String) -> String? {
        let bytes = Array(hostname.utf8)
        guard !bytes.isEmpty else { return "must not be empty" }
        guard bytes.count <= 64 else { return "must be at most 64 characters, not \(bytes.count)" }
        guard isAlphanumeric(bytes[0]) else { return "must start with a letter or digit: \(quoted(hostname))" }
        for scalar in hostname.unicodeScalars
        where !(scalar.isASCII && (isAlphanumeric(UInt8(scalar.value)) || "-._".unicodeScalars.contains(scalar))) {
            return "\(quoted(String(scalar))) is not allowed in a hostname (letters, digits, \"-\", \".\", \"_\")"
        }
        return nil
    }

    package static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
            || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }

    /// Dotted-quad IPv4 without leading zeros (which inet_aton would read as octal).
    package static func isIPv4Address(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy(isDecimal(upTo: 255))
    }

    /// "10.0.3.5/24".
    package static func isIPv4CIDR(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 2 && isIPv4Address(String(parts[0])) && isDecimal(upTo: 32)(parts[1])
    }

    private static func isDecimal(upTo maximum: Int) -> (Substring) -> Bool {
        { part in
            guard !part.isEmpty, part.count <= 3, part.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
                part == "0" || !part.hasPrefix("0"), let value = Int(part)
            else { return false }
            return value <= maximum
        }
    }

    /// Network interface names: 1 to 15 bytes (IFNAMSIZ - 1), no "/", ":" or whitespace, not "." or "..".
    package static func interfaceNameProblem(_ name: String) -> String? {
        guard !name.isEmpty, name.utf8.count <= 15 else { return "must be 1 to 15 characters" }
        guard name != "." && name != ".." else { return "is not an interface name" }
        guard name.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: ":") })
        else { return "must not contain \"/\", \":\", spaces or control characters" }
        return nil
    }

    /// Environment names: anything execve can carry, i.e. non-empty, no "=" and no NUL.
    package static func environmentNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "an environment variable name must not be empty" }
        if name.utf8.contains(UInt8(ascii: "=")) { return "an environment variable name must not contain \"=\"" }
        if name.utf8.contains(0) { return "an environment variable name must not contain NUL" }
        return nil
    }

    /// A path inside the vserver, normalised to "/a/b". Relative paths are taken from the root when allowed
    /// (util-vserver's fstab resolves them in the guest's root); ".." is refused either way, so a target can
    /// never name something outside the root even before openat2 resolves it there.
    package static func guestPath(_ path: String, allowRelative: Bool) -> (path: String?, problem: String?) {
        guard !path.isEmpty else { return (nil, "must not be empty") }
        guard allowRelative || path.hasPrefix("/") else { return (nil, "must be an absolute path inside the vserver") }
        let components = Path.components(path).filter { $0 != "." }
        if components.contains("..") { return (nil, "must not contain \"..\"") }
        guard !components.isEmpty else { return (nil, "must not be the vserver's root directory") }
        return ("/" + components.joined(separator: "/"), nil)
    }

    /// A zone name relative to the zoneinfo directory, naming a file there.
    package static func timezoneProblem(_ zone: String, zoneinfo: String) -> String? {
        guard !zone.isEmpty else { return "must not be empty" }
        guard !zone.hasPrefix("/") else { return "must be a zone name like \"Europe/Berlin\", not a path" }
        let components = zone.split(separator: "/", omittingEmptySubsequences: false)
        guard !components.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            return "must be a zone name like \"Europe/Berlin\""
        }
        let status = try? FileSystem.status(Path.join(zoneinfo, zone))
        guard status?.isRegularFile == true else { return "\(quoted(zone)) is not a time zone in \(zoneinfo)" }
        return nil
    }

    /// The known key closest to an unknown one, when it is close enough to be a typo.
    package static func suggestion(for key: String, among known: [String]) -> String? {
        let lowered = key.lowercased().replacing("_", with: "-")
        if let exact = known.first(where: { $0 == lowered }) { return exact }
        let scored = known.map { ($0, editDistance(Array(lowered.utf8), Array($0.utf8))) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(1, min(2, key.count / 3)) else { return nil }
        return best.0
    }

    private static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var row = [i + 1]
            for (j, y) in b.enumerated() {
                row.append(min(previous[j + 1] + 1, row[j] + 1, previous[j] + (x == y ? 0 : 1)))
            }
            previous = row
        }
        return previous[b.count]
    }
}
