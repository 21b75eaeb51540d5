import Glibc

/// Reads configuration files and checks directories, refusing what someone other than the required owner
/// (root, when vserverd runs as root) could have written: such a file could start a vserver with any
/// capability or mount any host path into it.
package struct ConfigFiles {
    /// nil: no ownership checks (vserverd not running as root, e.g. `vserverctl check` by a user).
    package var requiredOwner: uid_t?

    /// The file's text, or nil when it does not exist. The check is made on the opened file.
    package func read(_ path: String) throws(ConfigError) -> String? {
        let file: (text: String, status: FileStatus)
        do throws(SystemError) {
            file = try FileSystem.readFile(path)
        } catch {
            if error.errno == ENOENT || error.errno == ENOTDIR { return nil }
            throw ConfigError(file: path, message: Self.describe(error))
        }
        try check(file.status, path: path, kind: "config files")
        return file.text
    }

    package func checkDirectory(_ path: String, status: FileStatus) throws(ConfigError) {
        try check(status, path: path, kind: "config directories")
    }

    package func check(_ status: FileStatus, path: String, kind: String) throws(ConfigError) {
        guard let requiredOwner else { return }
        let owner = requiredOwner == 0 ? "root" : "uid \(requiredOwner)"
        if status.owner != requiredOwner {
            throw ConfigError(file: path, message: "owned by uid \(status.owner): \(kind) must be owned by \(owner)")
        }
        if status.permissions & 0o022 != 0 {
            let octal = String(status.permissions, radix: 8)
            let mode = String(repeating: "0", count: max(0, 4 - octal.count)) + octal
            throw ConfigError(
                file: path,
                message: "writable by group or others (mode \(mode)): \(kind) must be writable by \(owner) only")
        }
    }

    /// Messages for the ways reading a config file fails.
    package static func describe(_ error: SystemError) -> String {
        switch error.errno {
        case EISDIR: "is a directory, not a file"
        case EINVAL where error.call == "open": "is not a regular file"
        case EFBIG: "is larger than \(FileSystem.maximumFileSize / 1024) KiB"
        case EILSEQ: "is not valid UTF-8"
        default: "\(error.call): \(error.message)"
        }
    }
}

/// Lines of a small text file with their 1-based numbers, trimmed, without blank lines and `#` comments.
package func meaningfulLines(_ text: String) -> [(number: Int, text: String)] {
    text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().compactMap { index, line in
        let trimmed = trimmed(line)
        return trimmed.isEmpty || trimmed.hasPrefix("#") ? nil : (index + 1, trimmed)
    }
}

/// Without leading and trailing spaces, tabs and carriage returns.
package func trimmed(_ text: Substring) -> String {
    let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\r\n" }
    guard let start = text.firstIndex(where: { !isBlank($0) }), let end = text.lastIndex(where: { !isBlank($0) })
    else { return "" }
    return String(text[start...end])
}
