import Glibc

/// Temporary files for the harnesses that read from disk, made once per process and reused by every input.
enum Scratch {
    nonisolated(unsafe) private static var made: [String] = []

    /// A new directory under $TMPDIR (scripts/fuzz points it into its own temporary directory), removed at exit.
    /// libFuzzer ends with exit() after -max_total_time; a crash or ctrl-C leaves it to whoever made TMPDIR.
    static func makeDirectory() -> String {
        let parent = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array("\(parent)/vserverd-fuzz-XXXXXX".utf8CString)
        guard let directory = mkdtemp(&template) else { fatalError("mkdtemp: \(String(cString: strerror(errno)))") }
        if made.isEmpty {
            atexit {
                for directory in Scratch.made {
                    Scratch.empty(directory)
                    rmdir(directory)
                }
            }
        }
        made.append(String(cString: directory))
        return made[made.count - 1]
    }

    static func makeDirectories(_ path: String) {
        var current = ""
        for component in path.split(separator: "/") {
            current += "/" + component
            mkdir(current, 0o755)
        }
    }

    /// Writes `bytes` to `path` (mode 0644), making its directory; false when that cannot be done.
    @discardableResult
    static func write(_ path: String, _ bytes: some Collection<UInt8>) -> Bool {
        makeDirectories(String(path[..<path.lastIndex(of: "/")!]))
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let data = Array(bytes)
        return data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == data.count
    }

    static func read(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 { return nil }
            if count == 0 { return bytes }
            bytes += chunk[..<count]
        }
    }

    /// The names in a directory, without "." and "..".
    static func names(_ directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: &entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR
    }

    /// `path` itself, or every file under it when it is a directory.
    static func files(at path: String) -> [String] {
        guard isDirectory(path) else { return [path] }
        return names(path).flatMap { files(at: path + "/" + $0) }
    }

    /// Removes everything under `directory`, keeping it.
    static func empty(_ directory: String) {
        for name in names(directory) {
            let path = directory + "/" + name
            if isDirectory(path) {
                empty(path)
                rmdir(path)
            } else {
                unlink(path)
            }
        }
    }
}
