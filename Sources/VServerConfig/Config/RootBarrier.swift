import Glibc

/// util-vserver's barrier (docs/ARCHITECTURE.md §7): the directory holding a guest's root (`/vservers`) is root's
/// with mode 0700 or 0000, so no host user can reach into a tree whose files the guest's root writes. Without it a
/// guest could `chmod 4755` a copy of a shell and any host user could run it through the root's path to get uid 0
/// (or use a file capability). `check` and `start` refuse a root without one; `create` refuses, `build` makes a
/// missing `/vservers` so.
package enum RootBarrier {
    /// Why the parent of `root` (an absolute path, symlinks resolved) lets host users in, or nil. `owner`: who
    /// may own it besides root (unit tests); nil: not checked (not running as root: nothing runs as root then).
    package static func problem(root: String, owner: uid_t?) -> String? {
        guard let owner else { return nil }
        let parent = Path.parent(root)
        var status = stat()
        guard lstat(parent, &status) == 0 else {
            return "its parent \(parent): lstat: \(String(cString: strerror(errno)))"
        }
        let permissions = status.st_mode & 0o7777
        let isOwner = status.st_uid == 0 || status.st_uid == owner
        if isOwner && status.st_mode & S_IFMT == S_IFDIR && (permissions == 0o700 || permissions == 0) { return nil }
        let ownerName = status.st_uid == 0 ? "root" : "uid \(status.st_uid)"
        let fix = isOwner ? "chmod 0700 \(parent)" : "chown root:root \(parent) && chmod 0700 \(parent)"
        return "its parent \(parent) has mode \(octal(permissions)) and owner \(ownerName), so host users can reach "
            + "into the guest's files (setuid programs its root made): run `\(fix)` (util-vserver's barrier: "
            + "root's, mode 0700 or 0000)"
    }
}
