import Glibc
import Testing
import VServerConfig
import VServerTestSupport

/// Which disk limit mechanism a root gets and the reasons an admin reads when there is none; no kernel needed
/// (the real file systems are in IntegrationTests' DiskQuotaOnBtrfs).
@Suite struct DiskQuotaMechanismTests {
    let advice = "make the root a btrfs subvolume (`btrfs subvolume create`)"

    @Test func aBtrfsSubvolumeGetsItsQgroupAndAPlainDirectoryOnBtrfsSaysHowToMakeOne() {
        let subvolume = DiskQuota.Facts(root: "/vservers/web", fileSystem: "btrfs", subvolumeID: 257)
        #expect(DiskQuota.mechanism(subvolume) == .btrfsQgroup(subvolumeID: 257))
        let plain = DiskQuota.Facts(root: "/vservers/web", fileSystem: "btrfs")
        #expect(DiskQuota.mechanism(plain) == .unavailable(reason: "/vservers/web is on btrfs but is not a "
            + "subvolume: recreate it with `btrfs subvolume create`, or move its files into one"))
    }

    @Test func ext4AndXfsSayWhatProjectQuotasNeed() {
        func reason(_ fileSystem: String, _ options: [String], quota: Bool = true) -> String? {
            let facts = DiskQuota.Facts(root: "/vservers/web", fileSystem: fileSystem, options: options,
                                        kernelHasQuota: quota)
            guard case .unavailable(let reason) = DiskQuota.mechanism(facts) else { return nil }
            return reason
        }
        #expect(reason("ext4", ["rw", "relatime"], quota: false) == "/vservers/web is on ext4: project quotas need "
            + "a kernel with quota support (CONFIG_QUOTA, QFMT_V2) and the prjquota mount option; this kernel has "
            + "no quota support")
        #expect(reason("ext4", ["rw", "relatime"]) == "/vservers/web is on ext4 without the prjquota mount option: "
            + "project quotas need it (`tune2fs -O quota,project`, a kernel with QFMT_V2), and vserverd does not set "
            + "them (yet): \(advice)")
        #expect(reason("ext4", ["rw", "prjquota"]) == "/vservers/web is on ext4 with project quotas, which vserverd "
            + "does not set (yet): \(advice)")
        #expect(reason("xfs", ["rw", "noquota"]) == "/vservers/web is on xfs without the prjquota mount option: "
            + "project quotas need it (and a kernel with XFS_QUOTA), and vserverd does not set them (yet): \(advice)")
        #expect(reason("xfs", ["rw", "pquota"]) == "/vservers/web is on xfs with project quotas, which vserverd "
            + "does not set (yet): \(advice)")
        #expect(reason("tmpfs", ["rw"]) == "/vservers/web is on tmpfs, which has no per-directory limits (only the "
            + "size of the whole mount): \(advice)")
        #expect(reason("overlay", ["rw"]) == "/vservers/web is on overlay, which has no per-directory limits "
            + "vserverd can set: \(advice)")
    }

    @Test func noLimitsNeedNoMechanismAndBtrfsRefusesInodeLimits() {
        let none = DiskQuotaMechanism.unavailable(reason: "why")
        #expect(none.refusal(bytes: nil, inodes: nil, root: "/r") == nil)
        #expect(none.refusal(bytes: 1, inodes: nil, root: "/r") == "why")
        #expect(none.refusal(bytes: nil, inodes: 1, root: "/r") == "why")
        let qgroup = DiskQuotaMechanism.btrfsQgroup(subvolumeID: 257)
        #expect(qgroup.refusal(bytes: 1 << 30, inodes: nil, root: "/r") == nil)
        #expect(qgroup.refusal(bytes: 1 << 30, inodes: 200_000, root: "/r")
            == "/r: btrfs qgroups cannot limit inodes (inodes-max); space-max can")
    }

    @Test func theMountOfADeviceIsItsLastLineInMountinfoWithMountAndSuperOptions() {
        let mountinfo = """
            22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
            40 22 0:35 / /tmp rw,nosuid,nodev shared:20 - tmpfs tmpfs rw,size=1024k
            41 22 8:17 / /srv rw,noatime - xfs /dev/sdb1 rw,attr2,inode64,prjquota
            42 22 8:1 /home /mnt/home\\040dir rw,relatime shared:1 master:3 - ext4 /dev/sda1 rw,prjquota

            """
        #expect(DiskQuota.Mount.of(device: "8:17", in: mountinfo)
            == DiskQuota.Mount(fileSystem: "xfs", options: ["rw", "noatime", "rw", "attr2", "inode64", "prjquota"]))
        #expect(DiskQuota.Mount.of(device: "8:1", in: mountinfo)
            == DiskQuota.Mount(fileSystem: "ext4", options: ["rw", "relatime", "rw", "prjquota"]))
        #expect(DiskQuota.Mount.of(device: "0:35", in: mountinfo)?.fileSystem == "tmpfs")
        #expect(DiskQuota.Mount.of(device: "8:2", in: mountinfo) == nil)
    }

    @Test func btrfsCallsOnAnotherFileSystemFailWithTheCallAndPath() throws {
        let tree = TemporaryTree()
        guard try !Btrfs.isBtrfs(tree.path) else { return }  // a developer's /tmp on btrfs: nothing to see here
        #expect(try !Btrfs.isSubvolume(tree.path))
        #expect(throws: SystemError(call: "ioctl BTRFS_IOC_INO_LOOKUP on", path: tree.path, errno: ENOTTY)) {
            try Btrfs.subvolumeID(of: tree.path)
        }
        #expect(throws: SystemError(call: "ioctl BTRFS_IOC_SUBVOL_CREATE", path: tree.path + "/web", errno: ENOTTY)) {
            try Btrfs.createSubvolume(at: tree.path + "/web")
        }
        #expect(throws: SystemError(call: "open", path: tree.path + "/missing", errno: ENOENT)) {
            try Btrfs.createSubvolume(at: tree.path + "/missing/web")
        }
        #expect("\(SystemError(call: "ioctl BTRFS_IOC_QGROUP_LIMIT on", path: "/vservers/web", errno: EPERM))"
            == "ioctl BTRFS_IOC_QGROUP_LIMIT on /vservers/web: Operation not permitted")
        #expect(throws: SystemError(call: "statfs", path: tree.path + "/missing", errno: ENOENT)) {
            try Btrfs.isBtrfs(tree.path + "/missing")
        }
        guard case .unavailable(let reason) = DiskQuota.mechanism(for: tree.path + "/missing") else {
            Issue.record("a missing root has no mechanism")
            return
        }
        #expect(reason == "statfs \(tree.path)/missing: No such file or directory")
    }
}
