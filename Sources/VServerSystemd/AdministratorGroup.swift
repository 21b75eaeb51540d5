import Glibc

/// The group whose members may change things without root (socket mode 0660, docs/ARCHITECTURE.md §6).
package enum AdministratorGroup {
    package static let name = "vserverd"

    /// Its gid, nil when the host has no such group.
    package static func id() -> UInt32? { getgrnam(name).map { $0.pointee.gr_gid } }
}
