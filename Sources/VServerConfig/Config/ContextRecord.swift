import Glibc

/// The contexts vserverd gave to vservers whose config names none (docs/ARCHITECTURE.md §3), kept in
/// `LIB-DIR/contexts` (`/var/lib/vserverd/contexts`) so that a context, once given, stays with its vserver: adding
/// a vserver that sorts first, or restarting vserverd, moves nobody's (with `user = true` a moved context would
/// give one guest another's uid range on disk). One `NAME CONTEXT` line per vserver, `#` comments; written
/// atomically (temporary file, fsync, rename, fsync of the directory) by the daemon only. A name whose config is
/// gone keeps its line, so that a vserver made again under that name gets its old context back.
public struct ContextRecord: Sendable, Equatable {
    public static let fileName = "contexts"

    /// The file: `LIB-DIR/contexts`.
    public var path: String
    /// Context by vserver name.
    public var contexts: [String: Int]

    public init(path: String, contexts: [String: Int] = [:]) {
        self.path = path
        self.contexts = contexts
    }

    public static let defaultLibDirectory = "/var/lib/vserverd"

    /// `--lib-dir` of vserverd and vserverctl: given, else `$VSERVERD_LIB_DIR`, else `/var/lib/vserverd`.
    public static func libDirectory(_ given: String?) -> String {
        if let given { return given }
        if let value = getenv("VSERVERD_LIB_DIR"), value.pointee != 0 { return String(cString: value) }
        return defaultLibDirectory
    }

    /// The record in `directory` (vserverd's `--lib-dir`).
    public static func file(in directory: String) -> String {
        Path.join(FileSystem.absolutePath(directory), fileName)
    }

    /// Reads the record; a missing file (or directory) is an empty record. Errors name the file and line.
    package static func read(_ path: String) throws(ConfigError) -> ContextRecord {
        let text: String
        do throws(SystemError) {
            text = try FileSystem.readFile(path).text
        } catch {
            if error.errno == ENOENT || error.errno == ENOTDIR { return ContextRecord(path: path) }
            throw ConfigError(file: path, message: ConfigFiles.describe(error))
        }
        return ContextRecord(path: path, contexts: try parse(text, file: path))
    }

    package static func parse(_ text: String, file: String) throws(ConfigError) -> [String: Int] {
        var contexts: [String: Int] = [:]
        var lines: [Int: (name: String, line: Int)] = [:]
        for (number, line) in meaningfulLines(text) {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard fields.count == 2 else {
                throw ConfigError(file: file, line: number, message: "expected \"NAME CONTEXT\", not \(quoted(line))")
            }
            let (name, value) = (fields[0], fields[1])
            if let problem = VServerName.problem(name) {
                throw ConfigError(file: file, line: number,
                                  message: "\(quoted(name)) is not a vserver name (\(problem))")
            }
            guard let context = Int(value), value.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
                  VServerConfig.contextRange.contains(context)
            else {
                throw ConfigError(file: file, line: number, message: "context of \(name) must be an integer from "
                                      + "\(VServerConfig.contextRange.lowerBound) to "
                                      + "\(VServerConfig.contextRange.upperBound), not \(quoted(value))")
            }
            if contexts[name] != nil {
                throw ConfigError(file: file, line: number, message: "\(name) is recorded twice")
            }
            if let other = lines[context] {
                throw ConfigError(file: file, line: number,
                                  message: "context \(context) is recorded for \(other.name) too (line \(other.line))")
            }
            contexts[name] = context
            lines[context] = (name, number)
        }
        return contexts
    }

    /// The file's text: a header, then the lines sorted by name.
    package func render() -> String {
        var text = "# Contexts vserverd gave to vservers whose config names none: they keep them for good.\n"
            + "# NAME CONTEXT. Written by vserverd; a context set in a vserver's config overrides its line here.\n"
        for name in contexts.keys.sorted() { text += "\(name) \(contexts[name]!)\n" }
        return text
    }

    /// Writes the record durably: a crash at any moment leaves the old file or the new one. Makes the directory
    /// (mode 0755) when missing.
    package func write() throws(SystemError) {
        let directory = Path.parent(path)
        do { try FileSystem.makeDirectories(directory) } catch let error as SystemError { throw error } catch {
            throw SystemError(call: "mkdir", path: directory, errno: EIO)
        }
        try FileSystem.writeFileAtomically(path, contents: render(), mode: 0o644)
        // The rename is durable only once the directory is.
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError(call: "open", path: directory, errno: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw SystemError(call: "fsync", path: directory, errno: errno) }
    }
}

/// Where a vserver's context came from, as `vserverctl check` says it.
public enum ContextOrigin: Sendable, Equatable {
    /// Its config names it.
    case config
    /// Assigned by the loader and recorded in the file (now or earlier).
    case recorded(file: String)
    /// Assigned now by a reader that does not write the record (`vserverctl check`): vserverd records it.
    case toBeRecorded(file: String)
    /// Assigned with no record kept (a loader without one): it may change when vservers are added.
    case unrecorded

    /// Text after "context N", empty for `config`.
    public var description: String {
        switch self {
        case .config: ""
        case .recorded(let file): " (assigned, recorded in \(file))"
        case .toBeRecorded(let file): " (assigned now; vserverd records it in \(file) when it next loads the configs)"
        case .unrecorded: " (assigned: the lowest free one, which may change)"
        }
    }
}
