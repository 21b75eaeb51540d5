/// Why a copy, a walk or a dedupe of guest roots stopped: a failed call (with its path and errno), the caller's
/// cancellation, or a file system that cannot share extents.
package enum StorageError: Error, Sendable, Equatable, CustomStringConvertible {
    case system(SystemError)
    case cancelled
    /// FIDEDUPERANGE and FICLONE need a file system with shared extents (btrfs, XFS with reflink=1).
    case cannotShareExtents(path: String)

    package var description: String {
        switch self {
        case .system(let error): "\(error)"
        case .cancelled: "cancelled"
        case .cannotShareExtents(let path):
            "\(path): its file system cannot share extents between files (btrfs and XFS with reflink=1 can; ext4 "
                + "cannot)"
        }
    }
}
