import CBtrfs
import Glibc

/// `cp -a --reflink=auto -x` of a guest's root, exactly and safely: owners (numeric), modes, xattrs (POSIX ACLs, file
/// capabilities), hard links, symlinks, device nodes, FIFOs, sockets, holes and timestamps; regular files share their
/// extents (FICLONE) where the file system can, else their data is copied. The source is untrusted: no symlink is
/// ever followed, and a mount inside is copied as an empty directory. On a failure or cancellation nothing of the
/// destination is left. Not copied: inode flags (chattr), which the guest's tools manage.
package enum TreeCopy {
    package typealias Progress = StorageProgress

    package struct Report: Sendable, Equatable {
        /// Inodes made (hard links once), the root included.
        package var files: UInt64 = 0
        /// Regular files' apparent sizes (holes included), cloned or copied.
        package var bytes: UInt64 = 0
        /// Of them, the bytes that share extents with the source (FICLONE).
        package var bytesCloned: UInt64 = 0
        package var usedReflinks = false
        /// The destination is a btrfs subvolume, as the source is (so that disk limits apply to it as well).
        package var madeSubvolume = false
        /// Mount points inside the source (relative paths), copied as empty directories.
        package var skippedMounts: [String] = []
        /// Files that disappeared while they were copied (from a running guest), left out.
        package var vanished: [String] = []
    }

    /// Copies the tree `source` to the new directory `destination` (its parent must exist; it must not), a btrfs
    /// subvolume when `source` is one and the parent is on btrfs. Calls `progress` after each file and each 16 MiB
    /// of data, and stops when `isCancelled` says so.
    package static func copy(
        from source: String, to destination: String, progress: @escaping (Progress) -> Void = { _ in },
        isCancelled: @escaping () -> Bool = { false }
    ) throws(StorageError) -> Report {
        var totals = TreeWalk()
        do { try totals.add(source) } catch { throw .system(error) }
        let total = Progress(totalFiles: totals.inodes, totalBytes: totals.fileBytes)
        var copier = TreeCopier(source: source, destination: destination, total: total, progress: progress,
                                isCancelled: isCancelled)
        do {
            try copier.run()
        } catch {
            if copier.madeDestination { FileSystem.removeTree(destination) }
            if let error = error as? StorageError { throw error }
            throw .system(error as? SystemError ?? SystemError(call: "copy", path: destination, errno: EIO))
        }
        return copier.report
    }

    /// Whether files in `directory` can share extents (btrfs, XFS with reflink=1; not ext4 or tmpfs): a FICLONE
    /// between two unnamed temporary files there.
    package static func supportsReflink(directory: String) throws(SystemError) -> Bool {
        try TreeFiles.check(path: directory) { vs_reflink_probe(directory, $0) } == 1
    }
}

/// The state of one copy: counters, the hard links seen, whether FICLONE still works.
private struct TreeCopier {
    let source: String
    let destination: String
    var total: TreeCopy.Progress
    let progress: (TreeCopy.Progress) -> Void
    let isCancelled: () -> Bool
    var report = TreeCopy.Report()
    var madeDestination = false
    private var reflinks = true
    /// The first destination path (relative) of each source inode with more than one link.
    private var links: [FileKey: String] = [:]
    private var device: dev_t = 0
    private var destinationRoot: Int32 = -1
    private static let chunk: UInt64 = 16 << 20

    init(source: String, destination: String, total: TreeCopy.Progress,
         progress: @escaping (TreeCopy.Progress) -> Void, isCancelled: @escaping () -> Bool)
    {
        self.source = source
        self.destination = destination
        self.total = total
        self.progress = progress
        self.isCancelled = isCancelled
    }

    mutating func run() throws {
        let (sourceRoot, status) = try TreeFiles.openRoot(source)
        defer { close(sourceRoot) }
        device = status.st_dev
        try makeDestination()
        destinationRoot = try TreeFiles.openRoot(destination).fd
        defer { close(destinationRoot) }
        try copyDirectory(sourceRoot, destinationRoot, relative: "")
        try NodeMetadata.copy(status, from: .open(sourceRoot), to: .open(destinationRoot), path: destination)
        report.files += 1
        reportProgress()
    }

    /// The top directory, for root only until the copy is complete (its own mode comes last).
    private mutating func makeDestination() throws {
        let above = Path.components(destination).dropLast().joined(separator: "/")
        let parent = destination.hasPrefix("/") ? "/" + above : (above.isEmpty ? "." : above)
        if try Btrfs.isSubvolume(source), try Btrfs.isBtrfs(parent) {
            try Btrfs.createSubvolume(at: destination)
            madeDestination = true
            report.madeSubvolume = true
            guard chmod(destination, 0o700) == 0 else { throw SystemError("chmod", path: destination) }
        } else {
            guard mkdir(destination, 0o700) == 0 else { throw SystemError("mkdir", path: destination) }
            madeDestination = true
        }
    }

    private mutating func copyDirectory(_ source: Int32, _ target: Int32, relative: String) throws {
        for name in try TreeFiles.names(source, path: sourcePath(relative)) {
            if isCancelled() { throw StorageError.cancelled }
            let child = relative.isEmpty ? name : relative + "/" + name
            let path = sourcePath(child)
            guard let status = try unlessVanished(child, { () throws(SystemError) in
                try TreeFiles.status(source, name, path: path)
            }) else { continue }
            try copyEntry(source, target, name, relative: child, status)
            reportProgress()
        }
    }

    private mutating func copyEntry(_ source: Int32, _ target: Int32, _ name: String, relative: String,
                                    _ status: stat) throws
    {
        let type = status.st_mode & S_IFMT
        if type != S_IFDIR && TreeFiles.isMount(source, name, status, device: device) {
            report.skippedMounts.append(relative)  // a file bind-mounted over one of the root's
            return
        }
        let linked = type != S_IFDIR && status.st_nlink > 1
        if linked, let first = links[FileKey(status)] {
            guard linkat(destinationRoot, first, target, name, 0) == 0 else {
                throw SystemError("link", path: Path.join(destination, relative))
            }
            return
        }
        switch type {
        case S_IFDIR: try copySubdirectory(source, target, name, relative: relative, status)
        case S_IFREG: guard try copyFile(source, target, name, relative: relative, status) else { return }
        case S_IFLNK: try copySymlink(source, target, name, relative: relative, status)
        default: try copySpecial(source, target, name, relative: relative, status)
        }
        report.files += 1
        if linked { links[FileKey(status)] = relative }
    }

    private mutating func copySubdirectory(_ source: Int32, _ target: Int32, _ name: String, relative: String,
                                           _ status: stat) throws
    {
        let path = Path.join(destination, relative)
        guard mkdirat(target, name, 0o700) == 0 else { throw SystemError("mkdir", path: path) }
        let made = try TreeFiles.openChild(target, name, isDirectory: true, path: path)
        defer { close(made) }
        guard !TreeFiles.isMount(source, name, status, device: device) else {
            // Mounted there, not part of the root (a bind mount, another file system, a nested subvolume).
            report.skippedMounts.append(relative)
            try NodeMetadata.copy(status, from: nil, to: .open(made), path: path)
            return
        }
        let opened = try TreeFiles.openChild(source, name, isDirectory: true, path: sourcePath(relative))
        defer { close(opened) }
        try Self.checkSame(opened, status, path: sourcePath(relative))
        try copyDirectory(opened, made, relative: relative)
        // Last: making the children changed the directory's times, and a read-only mode would refuse them.
        try NodeMetadata.copy(status, from: .open(opened), to: .open(made), path: path)
    }

    /// False when the file vanished before it was opened.
    private mutating func copyFile(_ source: Int32, _ target: Int32, _ name: String, relative: String,
                                   _ status: stat) throws -> Bool
    {
        let shown = sourcePath(relative)
        guard let opened = try unlessVanished(relative, { () throws(SystemError) in
            try TreeFiles.openChild(source, name, isDirectory: false, path: shown)
        }) else { return false }
        defer { close(opened) }
        try Self.checkSame(opened, status, path: sourcePath(relative))
        let path = Path.join(destination, relative)
        let made = openat(target, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard made >= 0 else { throw SystemError("open", path: path) }
        defer { close(made) }
        try copyData(opened, made, size: UInt64(status.st_size), path: path)
        try NodeMetadata.copy(status, from: .open(opened), to: .open(made), path: path)
        return true
    }

    private mutating func copyData(_ source: Int32, _ target: Int32, size: UInt64, path: String) throws {
        if reflinks && size > 0 {
            var call: UnsafePointer<CChar>? = nil
            let result = vs_clone_file(target, source, &call)
            if result == 0 {
                report.bytes += size
                report.bytesCloned += size
                report.usedReflinks = true
                return
            }
            switch -result {
            case EOPNOTSUPP, EXDEV, ENOTTY: reflinks = false
            case EINVAL: break  // this file only (btrfs: a NOCOW file beside COW ones)
            default: throw SystemError(call: "ioctl FICLONE", path: path, errno: -result)
            }
        }
        var offset: UInt64 = 0
        while offset < size {
            if isCancelled() { throw StorageError.cancelled }
            let before = offset
            try TreeFiles.check(path: path) { vs_copy_data(source, target, size, &offset, Self.chunk, $0) }
            report.bytes += offset - before
            reportProgress()
        }
        // A trailing hole: SEEK_DATA skipped it, the size must still be there.
        guard ftruncate(target, off_t(size)) == 0 else { throw SystemError("ftruncate", path: path) }
    }

    private mutating func copySymlink(_ source: Int32, _ target: Int32, _ name: String, relative: String,
                                      _ status: stat) throws
    {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlinkat(source, name, &buffer, buffer.count - 1)
        guard length >= 0 else { throw SystemError("readlink", path: sourcePath(relative)) }
        buffer[length] = 0
        let path = Path.join(destination, relative)
        guard symlinkat(buffer, target, name) == 0 else { throw SystemError("symlink", path: path) }
        try NodeMetadata.copy(status, from: .named(source, name), to: .named(target, name), path: path)
    }

    /// Device nodes, FIFOs and sockets: made anew (mknod), never opened.
    private mutating func copySpecial(_ source: Int32, _ target: Int32, _ name: String, relative: String,
                                      _ status: stat) throws
    {
        let path = Path.join(destination, relative)
        guard mknodat(target, name, status.st_mode & (S_IFMT | 0o700), status.st_rdev) == 0 else {
            throw SystemError("mknod", path: path)
        }
        try NodeMetadata.copy(status, from: .named(source, name), to: .named(target, name), path: path)
    }

    /// What `body` returns, or nil when it failed because `relative` is gone (deleted by a running guest).
    private mutating func unlessVanished<Value>(_ relative: String, _ body: () throws(SystemError) -> Value)
        throws(SystemError) -> Value?
    {
        do {
            return try body()
        } catch {
            guard error.errno == ENOENT else { throw error }
            report.vanished.append(relative)
            return nil
        }
    }

    /// A running guest may swap an entry between the lstat and the open: copy only what was looked at.
    private static func checkSame(_ fd: Int32, _ status: stat, path: String) throws {
        var opened = stat()
        guard fstat(fd, &opened) == 0 else { throw SystemError("fstat", path: path) }
        guard opened.st_ino == status.st_ino && opened.st_dev == status.st_dev else {
            throw SystemError(call: "open (replaced while copying)", path: path, errno: EAGAIN)
        }
    }

    private func sourcePath(_ relative: String) -> String {
        relative.isEmpty ? source : Path.join(source, relative)
    }

    private func reportProgress() {
        var now = total
        now.files = report.files
        now.bytes = report.bytes
        progress(now)
    }
}
