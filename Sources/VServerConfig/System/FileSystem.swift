import Glibc

/// What the loader needs to know about a file: its type, owner and permission bits.
package struct FileStatus: Sendable, Equatable {
    package var mode: mode_t
    package var owner: uid_t
    package var size: Int

    package init(_ st: stat) {
        mode = st.st_mode
        owner = st.st_uid
        size = Int(st.st_size)
    }

    package var isDirectory: Bool { mode & S_IFMT == S_IFDIR }
    package var isRegularFile: Bool { mode & S_IFMT == S_IFREG }
    package var isSymbolicLink: Bool { mode & S_IFMT == S_IFLNK }
    package var permissions: mode_t { mode & 0o7777 }
}

/// Small Glibc wrappers for files and directories. Foundation stays out of VServerCore (client start-up time).
package enum FileSystem {
    /// Config files are small; anything bigger is a mistake (or /dev/zero behind a symlink).
    package static let maximumFileSize = 1 << 20

    /// `stat` (follows symlinks), or nil when the path does not exist.
    package static func status(_ path: String) throws(SystemError) -> FileStatus? {
        var st = stat()
        guard stat(path, &st) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw SystemError(call: "stat", path: path, errno: errno)
        }
        return FileStatus(st)
    }

    package static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// Reads a regular file as UTF-8 text, with the status of the opened file (not of a path that may have
    /// changed meanwhile). FIFOs and devices are refused without blocking on them.
    package static func readFile(_ path: String) throws(SystemError) -> (text: String, status: FileStatus) {
        let (bytes, status) = try readBytes(path)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw SystemError(call: "read", path: path, errno: EILSEQ)
        }
        return (text, status)
    }

    /// A /proc entry or a state file as text; bytes that are not UTF-8 (a command name) become U+FFFD.
    package static func readText(_ path: String) throws(SystemError) -> String {
        String(decoding: try readBytes(path).bytes, as: UTF8.self)
    }

    /// The bytes of a regular file up to `maximumFileSize`, read to EOF (/proc files report size 0).
    package static func readBytes(_ path: String) throws(SystemError) -> (bytes: [UInt8], status: FileStatus) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        guard fd >= 0 else { throw SystemError(call: "open", path: path, errno: errno) }
        defer { close(fd) }
        return try readBytes(fd: fd, path: path)
    }

    /// The same from an open fd (opened with O_NONBLOCK), up to `limit` bytes; `path` names it in errors.
    package static func readBytes(fd: Int32, path: String, limit: Int = maximumFileSize)
        throws(SystemError) -> (bytes: [UInt8], status: FileStatus)
    {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SystemError(call: "fstat", path: path, errno: errno) }
        let status = FileStatus(st)
        guard !status.isDirectory else { throw SystemError(call: "read", path: path, errno: EISDIR) }
        guard status.isRegularFile else { throw SystemError(call: "open", path: path, errno: EINVAL) }
        guard status.size <= limit else { throw SystemError(call: "read", path: path, errno: EFBIG) }

        var bytes: [UInt8] = []
        bytes.reserveCapacity(status.size)
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SystemError(call: "read", path: path, errno: errno)
            }
            if count == 0 { break }
            bytes.append(contentsOf: buffer[0..<count])
            guard bytes.count <= limit else { throw SystemError(call: "read", path: path, errno: EFBIG) }
        }
        return (bytes, status)
    }

    /// The target of a symbolic link (or of a /proc/self/fd/N magic link: the path of what the fd is open on).
    package static func readLink(_ path: String) throws(SystemError) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink(path, &buffer, buffer.count - 1)
        guard length >= 0 else { throw SystemError(call: "readlink", path: path, errno: errno) }
        return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The first component of an absolute path that is a symbolic link, with where it points
    /// ("/vservers/db/srv/share (-> /)"); nil when none is.
    package static func firstSymlink(in path: String) -> String? {
        var prefix = ""
        for component in Path.components(path) {
            prefix += "/\(component)"
            var st = stat()
            guard lstat(prefix, &st) == 0 else { return nil }
            guard st.st_mode & S_IFMT == S_IFLNK else { continue }
            return (try? readLink(prefix)).map { "\(prefix) (-> \($0))" } ?? prefix
        }
        return nil
    }

    /// Names in a directory, or none when it cannot be listed (a missing `scripts/FLAVOUR.d`).
    package static func entries(_ path: String) -> [String] {
        (try? listDirectory(path)) ?? []
    }

    /// Names in a directory, without "." and "..", sorted bytewise so every scan has the same order.
    package static func listDirectory(_ path: String) throws(SystemError) -> [String] {
        guard let dir = opendir(path) else { throw SystemError(call: "opendir", path: path, errno: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw SystemError(call: "readdir", path: path, errno: errno) }
                break
            }
            let name = withUnsafeBytes(of: &entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// Writes a file atomically: a temporary file beside it, fsync, rename. Readers see the old or the new
    /// content, never half of it. `durable: false` skips the fsync: the rename alone is atomic for every reader
    /// and across a crash of the writer; only a crash of the machine may then lose the file.
    package static func writeFileAtomically(
        _ path: String, contents: String, mode: mode_t = 0o600, durable: Bool = true
    )
        throws(SystemError)
    {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw SystemError("open", path: temporary) }
        var ok = false
        defer {
            if !ok { unlink(temporary) }
        }
        do {
            defer { close(fd) }
            try writeAll(fd, Array(contents.utf8), path: temporary)
            guard !durable || fsync(fd) == 0 else { throw SystemError("fsync", path: temporary) }
        }
        guard rename(temporary, path) == 0 else { throw SystemError("rename", path: path) }
        ok = true
    }

    /// Writes every byte (a short write goes on where it stopped; EINTR is retried); `path` names fd in errors.
    /// Writes `text` in one write(2) to an existing file of /proc/sys or a cgroup, where each write is one setting
    /// (O_TRUNC, as the shell's `>`, which those files ignore and a fake cgroupfs tree of tests needs).
    package static func writeKernelFile(_ path: String, _ text: String) throws(SystemError) {
        let fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open", path: path) }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard write(fd, bytes, bytes.count) == bytes.count else { throw SystemError("write", path: path) }
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(SystemError) {
        var rest = bytes[...]
        while !rest.isEmpty {
            let written = rest.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw SystemError(call: "write", path: path, errno: written < 0 ? errno : EIO) }
            rest = rest.dropFirst(written)
        }
    }

    /// mkdir -p with a mode for the directories it creates.
    package static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, mode) != 0 && errno != EEXIST {
                throw SystemError("mkdir", path: current)
            }
        }
    }

    /// `cp -a` without owners: directories, regular files and symlinks with their modes cut to `modeMask`;
    /// `destination` must not exist. Other file types (devices, sockets) are skipped: config directories hold none.
    /// The copies belong to whoever copies (root for `vserverctl import`), never to the source's owners.
    package static func copyTree(_ source: String, to destination: String, modeMask: mode_t = 0o7777)
        throws(SystemError)
    {
        var status = stat()
        guard lstat(source, &status) == 0 else { throw SystemError(call: "lstat", path: source, errno: errno) }
        let permissions = status.st_mode & 0o7777 & modeMask
        switch status.st_mode & S_IFMT {
        case S_IFDIR:
            guard mkdir(destination, permissions) == 0 else {
                throw SystemError(call: "mkdir", path: destination, errno: errno)
            }
            guard chmod(destination, permissions) == 0 else {
                throw SystemError(call: "chmod", path: destination, errno: errno)
            }
            for name in try listDirectory(source) {
                try copyTree(Path.join(source, name), to: Path.join(destination, name), modeMask: modeMask)
            }
        case S_IFREG:
            let (bytes, _) = try readBytes(source)
            let fd = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, permissions)
            guard fd >= 0 else { throw SystemError(call: "open", path: destination, errno: errno) }
            defer { close(fd) }
            try writeAll(fd, bytes, path: destination)
            // The umask must not narrow an executable hook.
            guard fchmod(fd, permissions) == 0 else {
                throw SystemError(call: "chmod", path: destination, errno: errno)
            }
        case S_IFLNK:
            guard symlink(try readLink(source), destination) == 0 else {
                throw SystemError(call: "symlink", path: destination, errno: errno)
            }
        default:
            break
        }
    }

    /// `rm -rf --one-file-system` of a tree this process made: symlinks are removed, never followed, and a
    /// directory of another file system (something mounted inside, a builder's /proc or /dev) is not entered.
    package static func removeTree(_ path: String) {
        var status = stat()
        guard lstat(path, &status) == 0 else { return }
        removeTree(path, status, device: status.st_dev)
    }

    private static func removeTree(_ path: String, _ status: stat, device: dev_t) {
        guard status.st_mode & S_IFMT == S_IFDIR else {
            unlink(path)
            return
        }
        guard status.st_dev == device else { return }
        for name in entries(path) {
            let entry = Path.join(path, name)
            var entryStatus = stat()
            if lstat(entry, &entryStatus) == 0 { removeTree(entry, entryStatus, device: device) }
        }
        rmdir(path)
    }

    /// `path` itself when absolute, else joined to the working directory (symlinks are left alone).
    package static func absolutePath(_ path: String) -> String {
        guard !path.hasPrefix("/"), let cwd = getcwd(nil, 0) else { return path }
        defer { free(cwd) }
        return Path.join(String(cString: cwd), path)
    }

    /// `realpath(3)`: absolute, symlinks and ".." resolved; the path must exist.
    package static func realPath(_ path: String) throws(SystemError) -> String {
        guard let resolved = realpath(path, nil) else { throw SystemError(call: "realpath", path: path, errno: errno) }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

/// Path helpers on plain strings.
package enum Path {
    package static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// The directory an absolute path is in ("/a/b/c" → "/a/b", "/a" → "/").
    package static func parent(_ path: String) -> String {
        "/" + components(path).dropLast().joined(separator: "/")
    }

    /// The components of a path, without empty ones ("/a//b/" → ["a", "b"]).
    package static func components(_ path: String) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: true)
    }
}

/// A regular file this process may execute (stat follows symlinks).
package func isExecutableFile(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && access(path, X_OK) == 0
}
