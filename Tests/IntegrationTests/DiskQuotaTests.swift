import Foundation
import Testing
import VServerConfig
import VServerTestSupport

private let mebibyte: UInt64 = 1 << 20
private let haveMkfsBtrfs = FileManager.default.isExecutableFile(atPath: "/usr/sbin/mkfs.btrfs")
    && FileManager.default.isExecutableFile(atPath: "/usr/bin/btrfs")

/// Disk limits on a real btrfs (a loop image each test makes): subvolumes, qgroups, what a writer sees past the
/// limit, and `vserverctl build` making the root a subvolume. Never a file system of the machine.
extension Integration {
    @Suite(.requires(haveMkfsBtrfs, "mkfs.btrfs and btrfs (apt-get install btrfs-progs)"))
    struct DiskQuotaOnBtrfs {
        @Test func aSubvolumeIsFoundAndItsQgroupLimitStopsAWriterAtTheLimit() throws {
            try withLoopFileSystem("btrfs") { disk in
                let root = disk.mountPoint + "/web"
                try Btrfs.createSubvolume(at: root)
                #expect(try Btrfs.isBtrfs(root) && Btrfs.isSubvolume(root))
                let rootID = try run("/usr/bin/btrfs", ["inspect-internal", "rootid", root])
                #expect(rootID.status == 0, "\(rootID)")
                let id = try Btrfs.subvolumeID(of: root)
                #expect("\(id)\n" == rootID.stdout && id > 5, "btrfs inspect-internal rootid: \(rootID.stdout)")
                #expect(DiskQuota.mechanism(for: root) == .btrfsQgroup(subvolumeID: id))
                #expect(throws: DiskQuotaError.unavailable(
                    "\(root): btrfs qgroups are off on its file system (setting a limit turns them on)")) {
                    try DiskQuota.usage(of: root)
                }

                try DiskQuota.apply(limitBytes: 20 * mebibyte, inodes: nil, to: root)
                let shown = try run("/usr/bin/btrfs", ["qgroup", "show", "-r", "--raw", disk.mountPoint])
                #expect(shown.status == 0, "\(shown)")
                // Qgroupid Referenced Exclusive "Max referenced" Path
                let rows = shown.stdout.split(separator: "\n").map { $0.split(separator: " ") }
                let row = rows.first { $0.first == "0/\(id)" }
                #expect(row?.count == 5 && row?[3] == "\(20 * mebibyte)", "btrfs qgroup show: \(shown.stdout)")

                let file = root + "/data"
                let tooMuch = try dd(to: file, mebibytes: 30)
                #expect(tooMuch.status == 1 && tooMuch.stderr.contains("Disk quota exceeded"), "\(tooMuch)")
                let written = try size(of: file)
                #expect((15 * mebibyte...21 * mebibyte).contains(written), "\(written) bytes written")

                #expect(try run("/bin/sync", ["-f", file]).status == 0)
                let usage = try DiskQuota.usage(of: root)
                #expect(usage.limitBytes == 20 * mebibyte && usage.usedInodes == nil)
                #expect(usage.usedBytes >= written && usage.usedBytes < written + mebibyte,
                        "\(usage.usedBytes) used for \(written) written")

                try DiskQuota.apply(limitBytes: 40 * mebibyte, inodes: nil, to: root)
                let more = try dd(to: file, mebibytes: 10, append: true)
                #expect(more.status == 0, "a raised limit lets the write go on: \(more)")
                #expect(try size(of: file) == written + 10 * mebibyte)
                let pastForty = try dd(to: file, mebibytes: 20, append: true)
                #expect(pastForty.status == 1 && pastForty.stderr.contains("Disk quota exceeded"), "\(pastForty)")
                #expect(try size(of: file) <= 41 * mebibyte)

                try DiskQuota.apply(limitBytes: nil, inodes: nil, to: root)
                #expect(try DiskQuota.usage(of: root).limitBytes == nil)
                let unlimited = try dd(to: file, mebibytes: 40, append: true)
                #expect(unlimited.status == 0, "no limit: \(unlimited)")
                #expect(try size(of: file) > 70 * mebibyte)
            }
        }

        @Test func clearingALimitWithQuotasOffDoesNothingAndInodeLimitsAreRefused() throws {
            try withLoopFileSystem("btrfs") { disk in
                let root = disk.mountPoint + "/web"
                try Btrfs.createSubvolume(at: root)
                try DiskQuota.apply(limitBytes: nil, inodes: nil, to: root)
                let status = try run("/usr/bin/btrfs", ["qgroup", "show", disk.mountPoint])
                #expect(status.status != 0, "quotas stay off: \(status)")
                #expect(throws: DiskQuotaError.unavailable(
                    "\(root): btrfs qgroups cannot limit inodes (inodes-max); space-max can")) {
                    try DiskQuota.apply(limitBytes: 20 * mebibyte, inodes: 1000, to: root)
                }
                #expect(throws: SystemError(call: "ioctl BTRFS_IOC_SUBVOL_CREATE", path: root, errno: EEXIST)) {
                    try Btrfs.createSubvolume(at: root)
                }
                #expect("\(SystemError(call: "ioctl BTRFS_IOC_SUBVOL_CREATE", path: root, errno: EEXIST))"
                        == "ioctl BTRFS_IOC_SUBVOL_CREATE \(root): File exists")
            }
        }

        @Test func aPlainDirectoryOnBtrfsTmpfsAndExt4SayWhyTheyCannotBeLimited() throws {
            try withLoopFileSystem("btrfs") { disk in
                let plain = disk.mountPoint + "/plain"
                #expect(mkdir(plain, 0o755) == 0)
                #expect(try Btrfs.isBtrfs(plain) && !Btrfs.isSubvolume(plain))
                let reason = "\(plain) is on btrfs but is not a subvolume: recreate it with `btrfs subvolume create`, "
                    + "or move its files into one"
                #expect(DiskQuota.mechanism(for: plain) == .unavailable(reason: reason))
                #expect(throws: DiskQuotaError.unavailable(reason)) {
                    try DiskQuota.apply(limitBytes: 20 * mebibyte, inodes: nil, to: plain)
                }
                try DiskQuota.apply(limitBytes: nil, inodes: nil, to: plain)
            }
            let advice = "make the root a btrfs subvolume (`btrfs subvolume create`)"
            try withLoopFileSystem("tmpfs") { disk in
                let onBtrfs = try Btrfs.isBtrfs(disk.mountPoint)
                #expect(!onBtrfs)
                #expect(DiskQuota.mechanism(for: disk.mountPoint) == .unavailable(reason: "\(disk.mountPoint) is on "
                    + "tmpfs, which has no per-directory limits (only the size of the whole mount): \(advice)"))
            }
            try withLoopFileSystem("ext4") { disk in
                let root = disk.mountPoint + "/web"
                #expect(mkdir(root, 0o755) == 0)
                let reason = FileManager.default.fileExists(atPath: "/proc/sys/fs/quota")
                    ? "\(root) is on ext4 without the prjquota mount option: project quotas need it (`tune2fs -O "
                        + "quota,project`, a kernel with QFMT_V2), and vserverd does not set them (yet): \(advice)"
                    : "\(root) is on ext4: project quotas need a kernel with quota support (CONFIG_QUOTA, QFMT_V2) "
                        + "and the prjquota mount option; this kernel has no quota support"
                #expect(DiskQuota.mechanism(for: root) == .unavailable(reason: reason))
                #expect(throws: DiskQuotaError.unavailable(reason)) {
                    try DiskQuota.usage(of: root)
                }
            }
        }

        @Test func buildOnBtrfsMakesTheRootASubvolumeAndAFailedBuildLeavesNone() async throws {
            try await withTestHost { host in
                try withLoopFileSystem("btrfs") { disk in
                    let guests = disk.mountPoint + "/guests"
                    #expect(mkdir(guests, 0o700) == 0)
                    let tarball = disk.directory + "/busybox.tar"
                    #expect(try run("/bin/tar", ["-C", BaseRootfs.path, "-cf", tarball, "."]).status == 0)
                    let build = try host.ctl("build", "web", "--method", "tarball", tarball, "--root", "\(guests)/web",
                                             "--config-dir", host.configDirectory)
                    #expect(build.status == 0, "\(build)")
                    let show = try run("/usr/bin/btrfs", ["subvolume", "show", "\(guests)/web"])
                    #expect(show.status == 0, "btrfs subvolume show: \(show)")
                    #expect(FileManager.default.fileExists(atPath: "\(guests)/web/bin/busybox"))
                    let id = try Btrfs.subvolumeID(of: "\(guests)/web")
                    #expect(DiskQuota.mechanism(for: "\(guests)/web") == .btrfsQgroup(subvolumeID: id))

                    let broken = disk.directory + "/broken.tar"
                    #expect(FileManager.default.createFile(atPath: broken, contents: Data("not a tarball".utf8)))
                    let failed = try host.ctl("build", "db", "--method", "tarball", broken, "--root", "\(guests)/db",
                                              "--config-dir", host.configDirectory)
                    #expect(failed.status == 1, "\(failed)")
                    #expect(try FileManager.default.contentsOfDirectory(atPath: guests) == ["web"], "no staging left")
                    let list = try run("/usr/bin/btrfs", ["subvolume", "list", "-o", guests])
                    #expect(list.status == 0 && list.stdout.split(separator: "\n").map { $0.hasSuffix(" guests/web") }
                        == [true], "btrfs subvolume list: \(list)")
                }
            }
        }
    }
}

/// `dd if=/dev/zero of=FILE bs=1M count=N`, as a user fills a disk; appended with `append`.
private func dd(to file: String, mebibytes: Int, append: Bool = false) throws -> CommandResult {
    try run("/bin/dd", ["if=/dev/zero", "of=\(file)", "bs=1M", "count=\(mebibytes)"]
        + (append ? ["oflag=append", "conv=notrunc"] : []))
}

private func size(of path: String) throws -> UInt64 {
    (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.uint64Value ?? 0
}

/// A file system of its own for one test: a loop image (btrfs 256 MB, XFS with reflinks 320 MB, ext4 32 MB) or a
/// tmpfs, mounted in a root-only temporary directory. `cleanup` unmounts it, detaches the loop device and removes the
/// directory, also after a failure half-way through `init`.
final class LoopFileSystem {
    let directory: String
    var mountPoint: String { directory + "/mnt" }
    private var loopDevice: String?
    private var mounted = false

    init(_ type: String) throws {
        var template = Array((NSTemporaryDirectory() + "vserverd-disk.XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw TestFailure("mkdtemp failed") }
        directory = String(cString: made)
        do {
            guard chmod(directory, 0o700) == 0, mkdir(mountPoint, 0o755) == 0 else {
                throw TestFailure("mkdir \(mountPoint): \(String(cString: strerror(errno)))")
            }
            if type == "tmpfs" {
                try check(run("/bin/mount", ["-t", "tmpfs", "-o", "size=16m", "tmpfs", mountPoint]))
                mounted = true
                return
            }
            let image = directory + "/image"
            let size = ["btrfs": "256M", "xfs": "320M"][type] ?? "32M"
            try check(run("/usr/bin/truncate", ["-s", size, image]))
            switch type {
            case "btrfs": try check(run("/usr/sbin/mkfs.btrfs", ["-q", image]))
            case "xfs": try check(run("/usr/sbin/mkfs.xfs", ["-q", "-m", "reflink=1", image]))
            default: try check(run("/usr/sbin/mkfs.ext4", ["-q", "-F", image]))
            }
            let losetup = try check(run("/usr/sbin/losetup", ["--find", "--show", image]))
            loopDevice = losetup.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            try check(run("/bin/mount", ["-t", type, loopDevice!, mountPoint]))
            mounted = true
        } catch {
            cleanup()
            throw error
        }
    }

    func cleanup() {
        if mounted {
            // A process of the test that still has a file open there (a killed dd) lets go in a moment.
            try? waitUntil("umount \(mountPoint)") { (try run("/bin/umount", [mountPoint])).status == 0 }
            mounted = hostMountPoints().contains(mountPoint)
        }
        if let loopDevice { _ = try? run("/usr/sbin/losetup", ["-d", loopDevice]) }
        loopDevice = nil
        // Never into a file system that is still mounted: that would empty it, and the image stays busy anyway.
        if !mounted { try? FileManager.default.removeItem(atPath: directory) }
    }

    @discardableResult
    private func check(_ result: CommandResult) throws -> CommandResult {
        guard result.status == 0 else { throw TestFailure("\(result)") }
        return result
    }
}

private func hostMountPoints() -> [String] {
    let table = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
    return table.split(separator: "\n").compactMap { $0.split(separator: " ").dropFirst(4).first.map(String.init) }
}

func withLoopFileSystem(_ type: String, _ body: (LoopFileSystem) throws -> Void) throws {
    let disk = try LoopFileSystem(type)
    defer { disk.cleanup() }
    try body(disk)
}
