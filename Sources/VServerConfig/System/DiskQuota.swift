import Glibc

/// How the disk limits of a vserver ([disk] space-max, inodes-max) can be enforced on its root.
package enum DiskQuotaMechanism: Sendable, Equatable {
    /// The root is the top of a btrfs subvolume: qgroup 0/ID limits its referenced bytes.
    case btrfsQgroup(subvolumeID: UInt64)
    /// None: the reason says what the administrator can do about it.
    case unavailable(reason: String)

    /// Why limits of `bytes` and `inodes` cannot be set on `root` this way; nil when they can (or there are none).
    package func refusal(bytes: UInt64?, inodes: UInt64?, root: String) -> String? {
        switch self {
        case .unavailable(let reason):
            return bytes == nil && inodes == nil ? nil : reason
        case .btrfsQgroup:
            return inodes == nil ? nil : "\(root): btrfs qgroups cannot limit inodes (inodes-max); space-max can"
        }
    }
}

/// What a vserver's root uses, and its limit.
package struct DiskUsage: Sendable, Equatable {
    package var usedBytes: UInt64
    package var limitBytes: UInt64?
    /// nil where counting would mean walking the tree (btrfs).
    package var usedInodes: UInt64?

    package init(usedBytes: UInt64, limitBytes: UInt64?, usedInodes: UInt64?) {
        self.usedBytes = usedBytes
        self.limitBytes = limitBytes
        self.usedInodes = usedInodes
    }
}

package enum DiskQuotaError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The limits cannot be set or read on this root; the reason is the admin's to act on.
    case unavailable(String)
    case system(SystemError)

    package var description: String {
        switch self {
        case .unavailable(let reason): reason
        case .system(let error): "\(error)"
        }
    }
}

/// Disk limits of a vserver's root: which mechanism applies, setting the limits, reading the usage.
package enum DiskQuota {
    /// What decides the mechanism for a root, gathered by `facts(of:)` and judged by `mechanism(_:)` (which
    /// needs no kernel).
    package struct Facts: Sendable, Equatable {
        package var root: String
        /// The file system's type as /proc/self/mountinfo names it ("btrfs", "ext4", "xfs"); nil when unknown.
        package var fileSystem: String?
        /// btrfs: the id of the subvolume whose top directory the root is; nil when it is not one.
        package var subvolumeID: UInt64?
        /// The mount's and the super block's options ("rw", "prjquota").
        package var options: [String]
        /// The kernel has quota support (CONFIG_QUOTA: /proc/sys/fs/quota exists).
        package var kernelHasQuota: Bool

        package init(root: String, fileSystem: String?, subvolumeID: UInt64? = nil, options: [String] = [],
                     kernelHasQuota: Bool = false)
        {
            self.root = root
            self.fileSystem = fileSystem
            self.subvolumeID = subvolumeID
            self.options = options
            self.kernelHasQuota = kernelHasQuota
        }
    }

    /// The mechanism for `root`; a root that cannot be examined is `.unavailable` with the failed call.
    package static func mechanism(for root: String) -> DiskQuotaMechanism {
        do { return mechanism(try facts(of: root)) } catch { return .unavailable(reason: "\(error)") }
    }

    package static func mechanism(_ facts: Facts) -> DiskQuotaMechanism {
        let root = facts.root
        let advice = "make the root a btrfs subvolume (`btrfs subvolume create`)"
        let projectQuotas = facts.options.contains { ["prjquota", "pquota", "pqnoenforce"].contains($0) }
        switch facts.fileSystem {
        case "btrfs":
            guard let id = facts.subvolumeID else {
                return .unavailable(reason: "\(root) is on btrfs but is not a subvolume: recreate it with "
                    + "`btrfs subvolume create`, or move its files into one")
            }
            return .btrfsQgroup(subvolumeID: id)
        case let type? where projectQuotas && ["ext4", "xfs"].contains(type):
            return .unavailable(reason: "\(root) is on \(type) with project quotas, which vserverd does not set "
                + "(yet): \(advice)")
        case "ext4" where !facts.kernelHasQuota:
            return .unavailable(reason: "\(root) is on ext4: project quotas need a kernel with quota support "
                + "(CONFIG_QUOTA, QFMT_V2) and the prjquota mount option; this kernel has no quota support")
        case "ext4":
            return .unavailable(reason: "\(root) is on ext4 without the prjquota mount option: project quotas "
                + "need it (`tune2fs -O quota,project`, a kernel with QFMT_V2), and vserverd does not set them "
                + "(yet): \(advice)")
        case "xfs":
            return .unavailable(reason: "\(root) is on xfs without the prjquota mount option: project quotas need "
                + "it (and a kernel with XFS_QUOTA), and vserverd does not set them (yet): \(advice)")
        case "tmpfs":
            return .unavailable(reason: "\(root) is on tmpfs, which has no per-directory limits (only the size of "
                + "the whole mount): \(advice)")
        case let type?:
            return .unavailable(reason: "\(root) is on \(type), which has no per-directory limits vserverd can "
                + "set: \(advice)")
        case nil:
            return .unavailable(reason: "\(root) is on a file system that /proc/self/mountinfo does not show: "
                + advice)
        }
    }

    /// Examines `root` (which must exist): statfs, and for btrfs its subvolume; else its mount in
    /// /proc/self/mountinfo.
    package static func facts(of root: String) throws(SystemError) -> Facts {
        let kernelHasQuota = FileSystem.exists("/proc/sys/fs/quota")
        if try Btrfs.isBtrfs(root) {
            let id = try Btrfs.isSubvolume(root) ? try Btrfs.subvolumeID(of: root) : nil
            return Facts(root: root, fileSystem: "btrfs", subvolumeID: id, kernelHasQuota: kernelHasQuota)
        }
        var st = stat()
        guard stat(root, &st) == 0 else { throw SystemError("stat", path: root) }
        // glibc's dev_t: major(3) and minor(3) are macros, which Swift does not see.
        let major = (st.st_dev >> 8) & 0xfff | (st.st_dev >> 32) & ~0xfff
        let minor = st.st_dev & 0xff | (st.st_dev >> 12) & ~0xff
        let mount = Mount.of(device: "\(major):\(minor)", in: try FileSystem.readText("/proc/self/mountinfo"))
        return Facts(root: root, fileSystem: mount?.fileSystem, options: mount?.options ?? [],
                     kernelHasQuota: kernelHasQuota)
    }

    /// Sets (or, with nil, clears) the limits of `root`. btrfs: turns qgroups on for its file system when a limit
    /// is set (the first time that counts every extent on it) and sets qgroup 0/ID's limit of referenced bytes;
    /// a write past it fails with EDQUOT ("Disk quota exceeded"). Clearing limits that cannot exist does nothing.
    package static func apply(limitBytes: UInt64?, inodes: UInt64?, to root: String) throws(DiskQuotaError) {
        let mechanism = mechanism(for: root)
        if let reason = mechanism.refusal(bytes: limitBytes, inodes: inodes, root: root) {
            throw .unavailable(reason)
        }
        guard case .btrfsQgroup = mechanism else { return }
        do throws(SystemError) {
            if let limitBytes {
                try Btrfs.enableQuota(on: root)
                try setLimitOfFullQgroup(root, bytes: limitBytes)
            } else {
                try Btrfs.setLimit(of: root, bytes: nil)
            }
        } catch where limitBytes == nil && error.errno == ENOTCONN {
            // Qgroups are off: there is no limit to clear.
        } catch {
            throw .system(error)
        }
    }

    /// A qgroup at its limit also refuses the metadata the change itself reserves (EDQUOT) until the writes that
    /// filled it, and the reservations of those that failed, are committed: commit, then try, a few times.
    private static func setLimitOfFullQgroup(_ root: String, bytes: UInt64) throws(SystemError) {
        var attempt = 0
        while true {
            try Btrfs.sync(root)
            do throws(SystemError) {
                return try Btrfs.setLimit(of: root, bytes: bytes)
            } catch where error.errno == EDQUOT && attempt < 20 {
                attempt += 1
                usleep(50_000)
            }
        }
    }

    /// What `root` uses and its limit; btrfs: as of the last transaction commit (at most 30 s old by default).
    package static func usage(of root: String) throws(DiskQuotaError) -> DiskUsage {
        switch mechanism(for: root) {
        case .unavailable(let reason):
            throw .unavailable(reason)
        case .btrfsQgroup:
            do {
                let usage = try Btrfs.usage(of: root)
                return DiskUsage(usedBytes: usage.referenced, limitBytes: usage.limit, usedInodes: nil)
            } catch where error.errno == ENOTCONN {
                throw .unavailable("\(root): btrfs qgroups are off on its file system (setting a limit turns "
                    + "them on)")
            } catch {
                throw .system(error)
            }
        }
    }

    /// A mount as /proc/self/mountinfo shows it.
    package struct Mount: Sendable, Equatable {
        package var fileSystem: String
        /// The mount's options, then the super block's.
        package var options: [String]

        package init(fileSystem: String, options: [String]) {
            self.fileSystem = fileSystem
            self.options = options
        }

        /// The last mount of the device `majorMinor` ("8:1") in `mountinfo`'s text (bind mounts of one file system
        /// share its type and super block options).
        package static func of(device majorMinor: String, in mountinfo: String) -> Mount? {
            var found: Mount?
            for line in mountinfo.split(separator: "\n") {
                // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER-OPTIONS
                let fields = line.split(separator: " ", omittingEmptySubsequences: false)
                guard fields.count >= 10, fields[2] == majorMinor,
                      let dash = fields[6...].firstIndex(of: "-"), dash + 3 < fields.count else { continue }
                let options = (fields[5].split(separator: ",") + fields[dash + 3].split(separator: ","))
                found = Mount(fileSystem: String(fields[dash + 1]), options: options.map(String.init))
            }
            return found
        }
    }
}
