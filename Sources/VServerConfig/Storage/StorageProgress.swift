/// How far a copy or a dedupe is, for a progress bar: files and bytes done of the totals a first walk found.
package struct StorageProgress: Sendable, Equatable {
    /// A copy: inodes made and regular files' bytes copied or cloned. A dedupe: files and bytes read for hashing,
    /// of those with a same-sized partner.
    package var files: UInt64 = 0
    package var bytes: UInt64 = 0
    package var totalFiles: UInt64 = 0
    package var totalBytes: UInt64 = 0
    /// A dedupe: the bytes shared so far (what a dry run would share).
    package var bytesDeduped: UInt64 = 0
}
