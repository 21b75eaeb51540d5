import CBtrfs
import Glibc

/// What a guest's root uses on disk (util-vserver's vdu): its btrfs qgroup where it has one, else a walk. Shared bytes
/// are in extents the file system marks shared (with another guest, a snapshot or a reflink copy); exclusive bytes
/// are the rest, directories and inline data included.
package struct RootUsage: Sendable, Equatable {
    package var usedBytes: UInt64
    package var usedInodes: UInt64?
    package var limitBytes: UInt64?
    package var sharedBytes: UInt64
    package var exclusiveBytes: UInt64
    /// "qgroup" or "walk".
    package var source: String

    /// The qgroup's counts when the root is a subvolume with qgroups on (fast; shared there means shared with
    /// another subvolume), else a walk with FIEMAP of every file.
    package static func of(_ root: String) throws(SystemError) -> RootUsage {
        if case .btrfsQgroup = DiskQuota.mechanism(for: root) {
            // The qgroup counts what is committed: commit what was written until now.
            try? Btrfs.sync(root)
            if let usage = try? Btrfs.usage(of: root) {
                let exclusive = min(usage.exclusive, usage.referenced)
                return RootUsage(usedBytes: usage.referenced, usedInodes: nil, limitBytes: usage.limit,
                                 sharedBytes: usage.referenced - exclusive, exclusiveBytes: exclusive, source: "qgroup")
            }
        }
        return try walk(root)
    }

    /// The walk alone, whatever the root is on.
    package static func walk(_ root: String) throws(SystemError) -> RootUsage {
        var walk = TreeWalk(extents: true)
        try walk.add(root)
        return RootUsage(usedBytes: walk.bytes, usedInodes: walk.inodes, limitBytes: nil, sharedBytes: walk.sharedBytes,
                         exclusiveBytes: walk.bytes - walk.sharedBytes, source: "walk")
    }
}

/// `du -sx`: blocks allocated below a directory, hard links once, without crossing into another file system; with
/// `extents`, also how many of them FIEMAP marks shared. Unreadable entries are skipped, as du does.
package struct TreeWalk {
    package var bytes: UInt64 = 0
    package var inodes: UInt64 = 0
    /// The regular files' apparent sizes (each file once): what a copy reads.
    package var fileBytes: UInt64 = 0
    /// Of `bytes`, those in shared extents (with `extents` only).
    package var sharedBytes: UInt64 = 0
    private let extents: Bool
    private var seen = Set<FileKey>()

    package init(extents: Bool = false) {
        self.extents = extents
    }

    package mutating func add(_ root: String) throws(SystemError) {
        let (fd, status) = try TreeFiles.openRoot(root)
        count(status, in: fd, name: nil)
        walk(fd, device: status.st_dev)
    }

    private mutating func count(_ status: stat, in directory: Int32, name: String?) {
        let isDirectory = status.st_mode & S_IFMT == S_IFDIR
        if status.st_nlink > 1 && !isDirectory {
            guard seen.insert(FileKey(status)).inserted else { return }
        }
        let allocated = UInt64(status.st_blocks) * 512
        bytes += allocated
        inodes += 1
        guard status.st_mode & S_IFMT == S_IFREG, let name else { return }
        fileBytes += UInt64(status.st_size)
        if extents && allocated > 0 { sharedBytes += min(ExtentSharing.sharedBytes(directory, name), allocated) }
    }

    /// Takes `fd` (closed here).
    private mutating func walk(_ fd: Int32, device: dev_t) {
        defer { close(fd) }
        for name in (try? TreeFiles.names(fd, path: "")) ?? [] {
            var status = stat()
            guard fstatat(fd, name, &status, AT_SYMLINK_NOFOLLOW) == 0,
                !TreeFiles.isMount(fd, name, status, device: device)
            else { continue }
            count(status, in: fd, name: name)
            if status.st_mode & S_IFMT == S_IFDIR,
                let child = try? TreeFiles.openChild(fd, name, isDirectory: true, path: name)
            {
                walk(child, device: device)
            }
        }
    }
}

/// FIEMAP's view of a file's data: which bytes sit in extents another file shares.
package enum ExtentSharing {
    /// Bytes of `fd`'s data in extents and, of them, in shared ones.
    package static func usage(_ fd: Int32, path: String) throws(SystemError) -> (bytes: UInt64, shared: UInt64) {
        var usage = vs_extent_usage()
        try TreeFiles.check(path: path) { vs_extent_usage(fd, &usage, $0) }
        return (usage.bytes, usage.shared)
    }

    /// Whether two files share all their data already (the same physical extents).
    package static func shareAllExtents(_ a: Int32, _ b: Int32, path: String) throws(SystemError) -> Bool {
        try TreeFiles.check(path: path) { vs_same_extents(a, b, $0) } == 1
    }

    /// Shared bytes of the regular file `name` in `directory`; 0 where FIEMAP cannot tell (tmpfs).
    static func sharedBytes(_ directory: Int32, _ name: String) -> UInt64 {
        guard let fd = try? TreeFiles.openChild(directory, name, isDirectory: false, path: name) else { return 0 }
        defer { close(fd) }
        return (try? usage(fd, path: name).shared) ?? 0
    }
}
