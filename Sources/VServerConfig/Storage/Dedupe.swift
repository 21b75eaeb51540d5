import CBtrfs
import Glibc

/// util-vserver's vhashify done with FIDEDUPERANGE: identical regular files across (and within) guests' roots come
/// to share their extents. The kernel compares the bytes before it shares them and later writes are copy-on-write,
/// so it is safe on running guests and needs no immutable bits. It shares data only: owners, modes, xattrs and times
/// stay each file's own, so files that differ in them are deduped too. Files are grouped by size, then by a 64-bit
/// hash of their content (a collision costs one ioctl that answers "differs", never wrong sharing).
package enum Dedupe {
    /// A guest's root and what to leave alone in it.
    package struct Guest: Sendable {
        package var name: String
        package var root: String
        package var exclusions: DedupeExclusions

        package init(name: String, root: String, exclusions: DedupeExclusions = DedupeExclusions()) {
            self.name = name
            self.root = root
            self.exclusions = exclusions
        }

        /// With the conffiles of its var/lib/dpkg/status (read inside its root, no symlink followed) and the rules of
        /// a vunify exclude list on the host, when one is given.
        package static func reading(name: String, root: String, excludeList: String? = nil) throws(SystemError)
            -> Guest
        {
            var exclusions = DedupeExclusions()
            if let excludeList {
                exclusions.rules = DedupeExclusions.rules(excludeList: try FileSystem.readText(excludeList))
            }
            if let status = try dpkgStatus(root) {
                exclusions.conffiles = DedupeExclusions.conffiles(dpkgStatus: status)
            }
            return Guest(name: name, root: root, exclusions: exclusions)
        }

        private static func dpkgStatus(_ root: String) throws(SystemError) -> String? {
            let (rootFD, _) = try TreeFiles.openRoot(root)
            defer { close(rootFD) }
            let path = Path.join(root, "var/lib/dpkg/status")
            let fd: Int32
            do {
                fd = try TreeFiles.openBeneath(rootFD, "var/lib/dpkg/status", flags: O_RDONLY | O_NONBLOCK,
                                               shown: path)
            } catch where error.errno == ENOENT {
                return nil
            }
            defer { close(fd) }
            let bytes = try FileSystem.readBytes(fd: fd, path: path, limit: 256 << 20).bytes
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// A file left alone, and why ("conffile", "already shares its extents with web:/usr/bin/perl", an error).
    package struct Skip: Sendable, Equatable {
        package var guest: String
        package var path: String
        package var reason: String
    }

    package typealias Progress = StorageProgress

    package struct Report: Sendable, Equatable {
        /// Regular files of at least `minimumSize`, hard links once, not excluded, and their bytes.
        package var filesExamined: UInt64 = 0
        package var bytesExamined: UInt64 = 0
        /// Files that now share their data with an identical one, and the bytes the kernel shared (what a dry run
        /// would share).
        package var filesDeduped: UInt64 = 0
        package var bytesDeduped: UInt64 = 0
        /// Files under `minimumSize`, not looked at.
        package var smallFiles: UInt64 = 0
        package var skipped: [Skip] = []
        /// Stopped by `isCancelled`: what was shared until then stays shared.
        package var cancelled = false
    }

    /// Smaller files are skipped: btrfs keeps those of up to 2 KiB inline in its metadata, where they cannot be
    /// shared, and sharing the others would save at most a block each.
    package static let minimumSize: UInt64 = 4096
    /// What btrfs dedupes in one call (BTRFS_MAX_DEDUPE_LEN); longer files take several.
    package static let chunk: UInt64 = 16 << 20

    /// Shares the extents of identical files in `guests`; with `dryRun`, counts what it would share. Throws
    /// `cannotShareExtents` up front when a root's file system cannot (ext4).
    package static func run(
        _ guests: [Guest], dryRun: Bool = false, progress: @escaping (Progress) -> Void = { _ in },
        isCancelled: @escaping () -> Bool = { false }
    ) throws(StorageError) -> Report {
        for guest in guests {
            let supported: Bool
            do { supported = try TreeCopy.supportsReflink(directory: guest.root) } catch { throw .system(error) }
            guard supported else { throw .cannotShareExtents(path: guest.root) }
        }
        var deduper = Deduper(guests: guests, dryRun: dryRun, progress: progress, isCancelled: isCancelled)
        do { try deduper.run() } catch { throw .system(error) }
        return deduper.report
    }
}

/// A regular file found by the walk: its guest (index), path in the root, size and inode.
private struct Candidate {
    var guest: Int
    var path: String
    var size: UInt64
    var key: FileKey
}

private struct Deduper {
    let guests: [Dedupe.Guest]
    let dryRun: Bool
    let progress: (Dedupe.Progress) -> Void
    let isCancelled: () -> Bool
    var report = Dedupe.Report()
    private var state = Dedupe.Progress()
    private var roots: [Int32] = []
    private var seen = Set<FileKey>()

    init(guests: [Dedupe.Guest], dryRun: Bool, progress: @escaping (Dedupe.Progress) -> Void,
         isCancelled: @escaping () -> Bool)
    {
        self.guests = guests
        self.dryRun = dryRun
        self.progress = progress
        self.isCancelled = isCancelled
    }

    mutating func run() throws(SystemError) {
        defer { roots.forEach { close($0) } }
        var candidates: [Candidate] = []
        for (index, guest) in guests.enumerated() {
            let (fd, status) = try TreeFiles.openRoot(guest.root)
            roots.append(fd)
            collect(index, fd, relative: "", device: status.st_dev, into: &candidates)
        }
        let groups = Dictionary(grouping: candidates) { [UInt64($0.key.device), $0.size] }.values
            .filter { $0.count > 1 }.sorted { $0[0].size > $1[0].size }
        state.totalFiles = UInt64(groups.reduce(0) { $0 + $1.count })
        state.totalBytes = groups.reduce(0) { $0 + $1[0].size * UInt64($1.count) }
        for group in groups where !stopped() {
            try dedupe(sameSize: group)
        }
    }

    /// Regular files below `fd` on the root's file system, without following symlinks.
    private mutating func collect(_ guest: Int, _ fd: Int32, relative: String, device: dev_t,
                                  into candidates: inout [Candidate])
    {
        let names: [String]
        do { names = try TreeFiles.names(fd, path: shown(guest, relative)) } catch {
            report.skipped.append(Dedupe.Skip(guest: guests[guest].name, path: "/" + relative, reason: "\(error)"))
            return
        }
        for name in names {
            let child = relative.isEmpty ? name : relative + "/" + name
            var status = stat()
            guard fstatat(fd, name, &status, AT_SYMLINK_NOFOLLOW) == 0,
                !TreeFiles.isMount(fd, name, status, device: device)
            else { continue }
            if status.st_mode & S_IFMT == S_IFREG { consider(guest, child, status, into: &candidates) }
            guard status.st_mode & S_IFMT == S_IFDIR,
                let directory = try? TreeFiles.openChild(fd, name, isDirectory: true, path: shown(guest, child))
            else { continue }
            collect(guest, directory, relative: child, device: device, into: &candidates)
            close(directory)
        }
    }

    private mutating func consider(_ guest: Int, _ path: String, _ status: stat, into candidates: inout [Candidate]) {
        // Another link of a file already taken: it shares its data by being the same file.
        guard seen.insert(FileKey(status)).inserted else { return }
        let size = UInt64(status.st_size)
        guard size >= Dedupe.minimumSize else {
            report.smallFiles += 1
            return
        }
        if let reason = guests[guest].exclusions.reason(path) {
            report.skipped.append(Dedupe.Skip(guest: guests[guest].name, path: "/" + path, reason: reason))
            return
        }
        report.filesExamined += 1
        report.bytesExamined += size
        candidates.append(Candidate(guest: guest, path: path, size: size, key: FileKey(status)))
    }

    /// Hashes a group of same-sized files and shares each set of equal hashes.
    private mutating func dedupe(sameSize group: [Candidate]) throws(SystemError) {
        var byHash: [UInt64: [Candidate]] = [:]
        for candidate in group where !stopped() {
            if let hash = hash(candidate) { byHash[hash, default: []].append(candidate) }
        }
        let sets = byHash.values.filter { $0.count > 1 }
            .sorted { ($0[0].guest, $0[0].path) < ($1[0].guest, $1[0].path) }
        for same in sets where !stopped() {
            share(same)
        }
    }

    private mutating func hash(_ candidate: Candidate) -> UInt64? {
        guard let fd = open(candidate) else { return nil }
        defer { close(fd) }
        var hash = ContentHash()
        do {
            try hash.add(fd: fd, path: shown(candidate.guest, candidate.path))
        } catch {
            skip(candidate, "\(error)")
            return nil
        }
        state.files += 1
        state.bytes += candidate.size
        progress(state)
        return hash.value
    }

    /// Shares the first file's extents with each of the others.
    private mutating func share(_ same: [Candidate]) {
        let source = same[0]
        guard let sourceFD = open(source) else { return }
        defer { close(sourceFD) }
        for target in same.dropFirst() where !stopped() {
            guard let targetFD = open(target) else { continue }
            defer { close(targetFD) }
            let name = "\(guests[source.guest].name):/\(source.path)"
            let path = shown(target.guest, target.path)
            if (try? ExtentSharing.shareAllExtents(sourceFD, targetFD, path: path)) == true {
                skip(target, "already shares its extents with \(name)")
                continue
            }
            if dryRun {
                count(target.size)
                continue
            }
            share(sourceFD, targetFD, target, sourceName: name)
        }
    }

    /// FIDEDUPERANGE chunk by chunk: each call is atomic, so a cancellation between two leaves both files intact.
    private mutating func share(_ source: Int32, _ target: Int32, _ candidate: Candidate, sourceName: String) {
        var offset: UInt64 = 0
        var shared: UInt64 = 0
        while offset < candidate.size && !stopped() {
            let length = min(Dedupe.chunk, candidate.size - offset)
            var deduped: UInt64 = 0
            let result: Int32
            do {
                result = try TreeFiles.check(path: shown(candidate.guest, candidate.path)) {
                    vs_dedupe_range(source, offset, length, target, &deduped, $0)
                }
            } catch {
                skip(candidate, "\(error)")
                break
            }
            if result == 1 {
                skip(candidate, "its bytes differ from \(sourceName) (changed since it was read)")
                break
            }
            shared += deduped
            offset += length
        }
        if shared > 0 { count(shared) }
    }

    private mutating func count(_ bytes: UInt64) {
        report.filesDeduped += 1
        report.bytesDeduped += bytes
        state.bytesDeduped = report.bytesDeduped
        progress(state)
    }

    /// The file the walk found, opened again inside its root (no symlinks), or nil (skipped) when it changed.
    private mutating func open(_ candidate: Candidate) -> Int32? {
        let path = shown(candidate.guest, candidate.path)
        let fd: Int32
        do {
            fd = try TreeFiles.openBeneath(roots[candidate.guest], candidate.path,
                                           flags: O_RDONLY | O_NONBLOCK | O_NOCTTY, shown: path)
        } catch {
            skip(candidate, "\(error)")
            return nil
        }
        var status = stat()
        guard fstat(fd, &status) == 0, FileKey(status) == candidate.key, UInt64(status.st_size) == candidate.size else {
            close(fd)
            skip(candidate, "changed while hashify ran")
            return nil
        }
        return fd
    }

    private mutating func stopped() -> Bool {
        if !report.cancelled && isCancelled() { report.cancelled = true }
        return report.cancelled
    }

    private mutating func skip(_ candidate: Candidate, _ reason: String) {
        report.skipped.append(Dedupe.Skip(guest: guests[candidate.guest].name, path: "/" + candidate.path,
                                          reason: reason))
    }

    private func shown(_ guest: Int, _ relative: String) -> String {
        relative.isEmpty ? guests[guest].root : Path.join(guests[guest].root, relative)
    }
}

/// A fast 64-bit hash of a file's content (xxHash64's round, one lane): equal hashes only propose a pair, the kernel
/// compares the bytes before it shares anything.
struct ContentHash {
    private(set) var value: UInt64 = 0x27D4_EB2F_1656_67C5

    mutating func add(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset + 8 <= bytes.count {
            mix(bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            offset += 8
        }
        var tail: UInt64 = 0
        for byte in bytes[offset...] { tail = tail << 8 | UInt64(byte) }
        if offset < bytes.count { mix(tail ^ UInt64(bytes.count - offset) << 56) }
    }

    /// The whole file, in full 1 MiB blocks (a short read must not move the blocks' edges).
    mutating func add(fd: Int32, path: String) throws(SystemError) {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            var filled = 0
            while filled < buffer.count {
                let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
                if count < 0 && errno == EINTR { continue }
                guard count >= 0 else { throw SystemError("read", path: path) }
                if count == 0 { break }
                filled += count
            }
            buffer.withUnsafeBytes { add(UnsafeRawBufferPointer(rebasing: $0[0..<filled])) }
            if filled < buffer.count { return }
        }
    }

    private mutating func mix(_ word: UInt64) {
        let round = (word &* 0xC2B2_AE3D_27D4_EB4F).rotatedLeft(31) &* 0x9E37_79B1_85EB_CA87
        value = (value ^ round).rotatedLeft(27) &* 0x9E37_79B1_85EB_CA87 &+ 0x85EB_CA77_C2B2_AE63
    }
}

extension UInt64 {
    fileprivate func rotatedLeft(_ count: UInt64) -> UInt64 { self << count | self >> (64 - count) }
}
