/// util-vserver's `fstab`: `SOURCE TARGET TYPE [OPTIONS [DUMP [PASS]]]`, TARGET inside the vserver's root.
package enum Fstab {
    package static func parse(_ text: String, file: String) throws(ConfigError) -> (
        mounts: [VServerConfig.Mount], warnings: [String]
    ) {
        var mounts: [VServerConfig.Mount] = []
        var warnings: [String] = []
        for (number, line) in meaningfulLines(text) {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map { unescape(String($0)) }
            guard (3...6).contains(fields.count) else {
                throw ConfigError(
                    file: file, line: number,
                    message: "expected SOURCE TARGET TYPE [OPTIONS [DUMP [PASS]]], found \(fields.count) field"
                        + (fields.count == 1 ? "" : "s"))
            }
            for (index, name) in [(4, "dump"), (5, "pass")] where index < fields.count {
                guard Int(fields[index]) != nil else {
                    throw ConfigError(
                        file: file, line: number, key: name, message: "must be a number, not \(quoted(fields[index]))")
                }
            }
            let spec = MountSpec(
                source: fields[0], target: fields[1], type: fields[2],
                options: fields.count > 3
                    ? fields[3].split(separator: ",", omittingEmptySubsequences: false).map(String.init) : [],
                origin: "fstab:\(number)", allowsRelativeTarget: true)
            let (mount, found) = try spec.validate(
                fail: { field, message in ConfigError(file: file, line: number, key: "\(field)", message: message) },
                warn: { field, message in
                    ConfigError(file: file, line: number, key: "\(field)", message: message).description
                })
            if let mount { mounts.append(mount) }
            warnings += found
        }
        return (mounts, warnings)
    }

    /// fstab(5) writes spaces and other separators in paths as octal escapes: `\040`.
    package static func unescape(_ field: String) -> String {
        guard field.contains("\\") else { return field }
        let bytes = Array(field.utf8)
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "\\"), let value = octal(bytes[(index + 1)..<min(index + 4, bytes.count)]) {
                out.append(value)
                index += 4
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func octal(_ digits: ArraySlice<UInt8>) -> UInt8? {
        guard digits.count == 3, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "7") }) else {
            return nil
        }
        let value = digits.reduce(0) { $0 * 8 + Int($1 - UInt8(ascii: "0")) }
        return value <= 255 ? UInt8(value) : nil
    }
}
