import CBtrfs
import Glibc

/// btrfs subvolumes and qgroups, as disk limits of a vserver's root need them (`machinectl set-limit` does the
/// same): the root is a subvolume, and qgroup 0/ID of it limits the bytes it refers to. Failures read as the call
/// and path ("ioctl BTRFS_IOC_QGROUP_LIMIT on /vservers/web: Operation not permitted").
package enum Btrfs {
    /// What qgroup 0/ID of a subvolume counts, as of the last transaction commit (at most `commit=` seconds old,
    /// 30 by default; `sync` commits).
    package struct Usage: Sendable, Equatable {
        /// Bytes of the extents the subvolume refers to, shared (snapshots, reflinks) or not: what the limit counts.
        package var referenced: UInt64
        /// Of them, the bytes no other subvolume shares.
        package var exclusive: UInt64
        /// The limit of referenced bytes, nil when there is none.
        package var limit: UInt64?
    }

    /// Whether `path` is on a btrfs (statfs).
    package static func isBtrfs(_ path: String) throws(SystemError) -> Bool {
        var result: Int32 = 0
        try check(path: path) { call in
            result = vs_btrfs_is_btrfs(path, call)
            return result
        }
        return result == 1
    }

    /// Whether `path` is the top directory of a subvolume: on btrfs, with inode number 256 (what
    /// `btrfs subvolume show` checks).
    package static func isSubvolume(_ path: String) throws(SystemError) -> Bool {
        var st = stat()
        guard stat(path, &st) == 0 else { throw SystemError("stat", path: path) }
        guard st.st_mode & S_IFMT == S_IFDIR && st.st_ino == VS_BTRFS_SUBVOLUME_INODE else { return false }
        return try isBtrfs(path)
    }

    /// `btrfs subvolume create PATH`: a new empty subvolume (mode 0755) whose parent directory exists.
    package static func createSubvolume(at path: String) throws(SystemError) {
        let components = Path.components(path)
        guard let name = components.last else {
            throw SystemError(call: "ioctl BTRFS_IOC_SUBVOL_CREATE", path: path, errno: EINVAL)
        }
        let parent = components.count == 1 && !path.hasPrefix("/")
            ? "." : (path.hasPrefix("/") ? "/" : "") + components.dropLast().joined(separator: "/")
        var call: UnsafePointer<CChar>? = nil
        let result = vs_btrfs_subvolume_create(parent, String(name), &call)
        guard result < 0 else { return }
        let failed = call.map { String(cString: $0) } ?? "ioctl BTRFS_IOC_SUBVOL_CREATE"
        throw SystemError(call: failed, path: failed == "open" ? parent : path, errno: -result)
    }

    /// The id of the subvolume `path` is in (5 for the top level).
    package static func subvolumeID(of path: String) throws(SystemError) -> UInt64 {
        var id: UInt64 = 0
        try check(path: path) { vs_btrfs_subvolume_id(path, &id, $0) }
        return id
    }

    /// Turns qgroups on for the file system of `path` and waits until they count what is on it; a no-op when
    /// they are on. The first time it reads every extent of the file system (the rescan).
    package static func enableQuota(on path: String) throws(SystemError) {
        try check(path: path) { vs_btrfs_quota_enable(path, $0) }
    }

    /// Commits what was written so far: qgroups count committed extents only.
    package static func sync(_ path: String) throws(SystemError) {
        try check(path: path) { vs_btrfs_sync(path, $0) }
    }

    /// Sets the limit of referenced bytes of the subvolume `path` is in (qgroup 0/ID; as `btrfs qgroup limit`, the
    /// top level's for a plain directory: check `isSubvolume` first); nil clears it. Quotas must be on (ENOTCONN).
    package static func setLimit(of path: String, bytes: UInt64?) throws(SystemError) {
        let id = try subvolumeID(of: path)
        try check(path: path) { vs_btrfs_qgroup_limit(path, id, bytes ?? UInt64.max, $0) }
    }

    /// What qgroup 0/ID of the subvolume `path` is in counts. ENOTCONN when quotas are off.
    package static func usage(of path: String) throws(SystemError) -> Usage {
        let id = try subvolumeID(of: path)
        var qgroup = vs_btrfs_qgroup()
        try check(path: path) { vs_btrfs_qgroup_read(path, id, &qgroup, $0) }
        return Usage(referenced: qgroup.referenced, exclusive: qgroup.exclusive,
                     limit: qgroup.has_limit != 0 ? qgroup.max_referenced : nil)
    }

    /// Runs a wrapper; its -errno becomes a SystemError with the call it names.
    private static func check(path: String, _ body: (UnsafeMutablePointer<UnsafePointer<CChar>?>) -> Int32)
        throws(SystemError)
    {
        var call: UnsafePointer<CChar>? = nil
        let result = body(&call)
        guard result < 0 else { return }
        throw SystemError(call: call.map { String(cString: $0) } ?? "ioctl", path: path, errno: -result)
    }
}
