import Foundation
import Testing
import VServerConfig
import VServerTestSupport

private let mebibyte = 1 << 20
private let haveTools = ["/usr/bin/rsync", "/usr/bin/setfacl", "/usr/sbin/setcap", "/usr/sbin/mkfs.btrfs",
                         "/usr/sbin/mkfs.xfs"].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }

/// The storage engine of clone and hashify on real file systems (loop images each test makes): an exact copy of a
/// guest's root with reflinks where they exist, what du sees shared, and dedupe of identical files across roots.
extension Integration {
    @Suite(.requires(haveTools, "rsync, acl, libcap2-bin, btrfs-progs and xfsprogs (scripts/lib/install-deps.sh)"))
    struct StorageTests {
        @Test(arguments: ["btrfs", "xfs"])
        func aCopyWithReflinksIsExactSharesAllItsExtentsAndWritesStayApart(fileSystem: String) throws {
            try withLoopFileSystem(fileSystem) { disk in
                let source = try craftedRoot(in: disk)
                let copy = disk.mountPoint + "/copy"
                let report = try TreeCopy.copy(from: source, to: copy)
                #expect(try TreeCopy.supportsReflink(directory: disk.mountPoint))
                #expect(report.usedReflinks && report.bytesCloned == report.bytes && report.bytes > 100 * mebibyte,
                        "\(report)")
                try expectSameTree(source, copy)
                try expectNothingOutside(copy, disk)

                #expect(try run("/bin/sync", ["-f", copy]).status == 0)
                let usage = try RootUsage.walk(copy)
                // Every data extent is shared; exclusive is what btrfs keeps inline (symlinks, files up to 2 KiB).
                let data = try dataBytes(copy)
                #expect(data > 3 * mebibyte && usage.sharedBytes >= data, "\(usage), \(data) bytes in extents")
                #expect(usage.exclusiveBytes <= 4096 * (usage.usedInodes ?? 0), "\(usage)")
                let original = try RootUsage.walk(source)
                #expect(original.sharedBytes == usage.sharedBytes, "\(original) against \(usage)")

                try "changed".write(toFile: copy + "/data/a", atomically: false, encoding: .utf8)
                #expect(try String(contentsOfFile: source + "/data/a", encoding: .utf8) == "hard link pair\n")
                #expect(try String(contentsOfFile: source + "/data/b", encoding: .utf8) == "hard link pair\n")
                #expect(try String(contentsOfFile: copy + "/data/b", encoding: .utf8) == "changed", "still one inode")
            }
        }

        @Test func aCopyOnExt4CopiesTheDataAndSaysSo() throws {
            try withLoopFileSystem("ext4") { disk in
                let source = try craftedRoot(in: disk)
                #expect(try !TreeCopy.supportsReflink(directory: disk.mountPoint))
                let copy = disk.mountPoint + "/copy"
                let report = try TreeCopy.copy(from: source, to: copy)
                #expect(!report.usedReflinks && report.bytesCloned == 0 && report.bytes > 100 * mebibyte, "\(report)")
                try expectSameTree(source, copy)
                let sparse = try FileManager.default.attributesOfItem(atPath: copy + "/data/sparse")
                #expect(sparse[.size] as? Int == 100 * mebibyte)
                let usage = try RootUsage.walk(copy)
                #expect(usage.sharedBytes == 0 && usage.usedBytes < 8 * mebibyte, "the hole stays a hole: \(usage)")
            }
        }

        @Test func aCancelledOrFailedCopyLeavesNoDestination() throws {
            try withLoopFileSystem("btrfs") { disk in
                let source = try craftedRoot(in: disk)
                expectCancelledCopy(source, disk.mountPoint + "/copy", after: 40)

                try sh("head -c 20000000 /dev/urandom > \(source)/data/big")
                try withLoopFileSystem("tmpfs") { small in
                    let target = small.mountPoint + "/copy"
                    #expect(throws: StorageError.system(SystemError(call: "write", path: target + "/data/big",
                                                                    errno: ENOSPC))) {
                        try TreeCopy.copy(from: source, to: target)
                    }
                    let left = try FileManager.default.contentsOfDirectory(atPath: small.mountPoint)
                    #expect(left == [])
                }
            }
        }

        @Test func aMountInsideTheSourceIsCopiedAsAnEmptyDirectory() throws {
            try withLoopFileSystem("btrfs") { disk in
                let source = try craftedRoot(in: disk)
                try withLoopFileSystem("tmpfs") { inside in
                    try sh("mount --bind \(inside.mountPoint) \(source)/proc "
                        + "&& echo guest-mount > \(source)/proc/file")
                    defer { _ = try? run("/bin/umount", [source + "/proc"]) }
                    // From the same file system: st_dev cannot tell, the mount table can.
                    try sh("mkdir \(disk.mountPoint)/shared && echo host > \(disk.mountPoint)/shared/file "
                        + "&& mount --bind \(disk.mountPoint)/shared \(source)/home "
                        + "&& mount --bind \(disk.mountPoint)/shared/file \(source)/etc/hostname")
                    defer { _ = try? run("/bin/umount", [source + "/home"]) }
                    defer { _ = try? run("/bin/umount", [source + "/etc/hostname"]) }
                    let report = try TreeCopy.copy(from: source, to: disk.mountPoint + "/copy")
                    #expect(report.skippedMounts == ["etc/hostname", "home", "proc"], "\(report)")
                    for directory in ["proc", "home"] {
                        let path = disk.mountPoint + "/copy/" + directory
                        #expect(try FileManager.default.contentsOfDirectory(atPath: path) == [], "\(directory)")
                    }
                    #expect(!FileManager.default.fileExists(atPath: disk.mountPoint + "/copy/etc/hostname"))
                    var walk = TreeWalk()
                    try walk.add(source)
                    let copied = try RootUsage.walk(disk.mountPoint + "/copy")
                    // du -x leaves out the mount points themselves; the copy has them as empty directories.
                    #expect(walk.inodes + 2 == copied.usedInodes, "du -x counts what the copy holds")
                }
            }
        }

        @Test func aSubvolumesCopyIsASubvolumeAndItsQgroupCountsTheSharedExtents() throws {
            try withLoopFileSystem("btrfs") { disk in
                let source = disk.mountPoint + "/web"
                try Btrfs.createSubvolume(at: source)
                try sh("cp -a \(BaseRootfs.path)/. \(source) && head -c 8000000 /dev/urandom > \(source)/data")
                try DiskQuota.apply(limitBytes: 100 * UInt64(mebibyte), inodes: nil, to: source)
                let copy = disk.mountPoint + "/db"
                expectCancelledCopy(source, copy, after: 100)

                let report = try TreeCopy.copy(from: source, to: copy)
                #expect(report.madeSubvolume && report.usedReflinks, "\(report)")
                #expect(try Btrfs.isSubvolume(copy))
                try expectSameTree(source, copy, capability: false)
                try DiskQuota.apply(limitBytes: 100 * UInt64(mebibyte), inodes: nil, to: copy)
                let usage = try RootUsage.of(copy)
                #expect(usage.source == "qgroup" && usage.sharedBytes > 9 * UInt64(mebibyte), "\(usage)")
                #expect(usage.exclusiveBytes < 2 * UInt64(mebibyte), "\(usage)")
                #expect(usage.sharedBytes + usage.exclusiveBytes == usage.usedBytes, "\(usage)")
            }
        }

        @Test func duShowsACopysExtentsAsShared() async throws {
            try await withTestHost { host in
                try withLoopFileSystem("btrfs") { disk in
                    #expect(chmod(disk.mountPoint, 0o700) == 0)
                    let source = try craftedRoot(in: disk)
                    _ = try TreeCopy.copy(from: source, to: disk.mountPoint + "/copy")
                    try host.addVServer("web", config: "root = \"\(source)\"\n")
                    try host.addVServer("db", config: "root = \"\(disk.mountPoint)/copy\"\n")
                    #expect(try run("/bin/sync", []).status == 0)
                    let du = try host.ctl("du", "--config-dir", host.configDirectory, "--lib-dir", host.libDirectory,
                                          "--json")
                    let object = try JSONSerialization.jsonObject(with: Data(du.stdout.utf8)) as? [String: Any]
                    let rows = try #require(object?["vservers"] as? [[String: Any]], "\(du)")
                    #expect(rows.count == 2, "\(du)")
                    for row in rows {
                        let used = try #require(row["usedBytes"] as? Int, "\(row)")
                        let shared = try #require(row["sharedBytes"] as? Int, "\(row)")
                        #expect(row["source"] as? String == "walk" && shared > 900 * 1024, "\(row)")
                        #expect(row["exclusiveBytes"] as? Int == used - shared, "\(row)")
                    }
                    let table = try host.ctl("du", "--config-dir", host.configDirectory, "--lib-dir",
                                             host.libDirectory, "web")
                    #expect(table.stdout.split(separator: "\n").first?.split(separator: " ").prefix(4)
                        == ["NAME", "USED", "SHARED", "EXCLUSIVE"], "\(table)")
                }
            }
        }

        @Test func dedupeSharesIdenticalFilesAcrossRootsButNotConffiles() throws {
            try withLoopFileSystem("btrfs") { disk in
                let roots = ["web", "db"].map { disk.mountPoint + "/" + $0 }
                var expected = 0
                for root in roots { expected = try writeSameFiles(in: root) }
                #expect(try run("/bin/sync", []).status == 0)
                let before = try RootUsage.walk(roots[1])
                #expect(before.sharedBytes == 0, "\(before)")
                let guests = try zip(["web", "db"], roots).map { try Dedupe.Guest.reading(name: $0, root: $1) }
                #expect(guests.allSatisfy { $0.exclusions.conffiles == ["etc/app.conf"] })

                let dry = try Dedupe.run(guests, dryRun: true)
                #expect(dry.filesDeduped == 50 && dry.bytesDeduped == UInt64(expected), "\(dry)")
                #expect(try RootUsage.walk(roots[1]).sharedBytes == 0, "a dry run shares nothing")

                var asked = 0
                let stopped = try Dedupe.run(guests, isCancelled: {
                    asked += 1
                    return asked > 6
                })
                #expect(stopped.cancelled && stopped.bytesDeduped < UInt64(expected), "\(stopped)")

                var progressed: Dedupe.Progress?
                let report = try Dedupe.run(guests, progress: { progressed = $0 })
                #expect(report.filesExamined == 100 && report.filesDeduped == 50, "\(report)")
                #expect(report.bytesDeduped == UInt64(expected), "\(report.bytesDeduped) of \(expected)")
                #expect(progressed?.files == 100 && progressed?.bytesDeduped == UInt64(expected),
                        "\(String(describing: progressed))")
                #expect(report.skipped.map(\.reason) == ["conffile", "conffile"], "\(report.skipped)")
                #expect(try run("/bin/sync", []).status == 0)
                for root in roots {
                    let after = try RootUsage.walk(root)
                    #expect(after.sharedBytes >= UInt64(expected), "\(root): \(after)")
                    #expect(try sharedBytes(root + "/etc/app.conf") == 0, "the conffile stays apart")
                }
                let again = try Dedupe.run(guests)
                #expect(again.bytesDeduped == 0 && again.skipped.count == 52, "already shared: \(again)")

                let handle = try #require(FileHandle(forUpdatingAtPath: roots[0] + "/data/file0"))
                try handle.write(contentsOf: Data("written in web".utf8))
                try handle.close()
                #expect(try Data(contentsOf: URL(fileURLWithPath: roots[1] + "/data/file0")) == content(0))
                #expect(try Data(contentsOf: URL(fileURLWithPath: roots[0] + "/data/file0")).prefix(14)
                    == Data("written in web".utf8))
            }
        }

        @Test func dedupeOnExt4StopsWithTheReason() throws {
            try withLoopFileSystem("ext4") { disk in
                let root = disk.mountPoint + "/web"
                #expect(mkdir(root, 0o755) == 0)
                #expect(throws: StorageError.cannotShareExtents(path: root)) {
                    try Dedupe.run([Dedupe.Guest(name: "web", root: root), Dedupe.Guest(name: "db", root: root)])
                }
                #expect("\(StorageError.cannotShareExtents(path: root))" == "\(root): its file system cannot share "
                    + "extents between files (btrfs and XFS with reflink=1 can; ext4 cannot)")
            }
        }
    }
}

/// The test busybox root plus one of every kind of file a copy must keep, on `disk`.
private func craftedRoot(in disk: LoopFileSystem) throws -> String {
    let root = disk.mountPoint + "/source"
    try sh("cp -a \(BaseRootfs.path) \(root)")
    let data = root + "/data"
    try sh("""
        mkdir \(data) && cd \(data)
        echo 'hard link pair' > a && ln a b
        truncate -s 100M sparse && dd if=/dev/urandom of=sparse bs=4096 count=1 seek=1000 conv=notrunc status=none
        echo acl > acl && setfacl -m u:4321:rw acl && setfacl -d -m g:4321:rx . && mkdir inherits
        cp /bin/busybox cap && setcap cap_net_raw+ep cap
        echo suid > suid && chown 1234:1234 suid && chmod 4755 suid
        mknod null c 1 3 && mkfifo fifo && ln -s /etc/passwd passwd && ln -s / outside
        python3 -c 'import os; os.setxattr("a", "user.test", b"value")'
        python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind("socket")'
        touch -h -d '2001-02-03 04:05:06' passwd a fifo null ../etc . ..
        """)
    return root
}

/// A copy whose `isCancelled` says yes at its question number `calls` + 1 throws `cancelled` and leaves no
/// destination (a subvolume included).
private func expectCancelledCopy(_ source: String, _ copy: String, after calls: Int,
                                 sourceLocation: SourceLocation = #_sourceLocation)
{
    var asked = 0
    #expect(throws: StorageError.cancelled, sourceLocation: sourceLocation) {
        try TreeCopy.copy(from: source, to: copy, isCancelled: {
            asked += 1
            return asked > calls
        })
    }
    #expect(asked == calls + 1 && !FileManager.default.fileExists(atPath: copy), "asked \(asked) times",
            sourceLocation: sourceLocation)
}

/// rsync's itemized differences of a dry run: nothing when the trees are equal in everything rsync can see.
private func expectSameTree(_ source: String, _ copy: String, capability: Bool = true,
                            sourceLocation: SourceLocation = #_sourceLocation) throws
{
    let rsync = try run("/usr/bin/rsync", ["-naHAXS", "--numeric-ids", "--itemize-changes", source + "/", copy + "/"])
    #expect(rsync.status == 0 && rsync.stdout == "", "\(rsync)", sourceLocation: sourceLocation)
    guard capability else { return }
    let getcap = try run("/usr/sbin/getcap", [copy + "/data/cap"])
    #expect(getcap.stdout.contains("cap_net_raw=ep"), "\(getcap)", sourceLocation: sourceLocation)
}

/// The symlink to /etc/passwd stayed a symlink, and the copy holds only what the source holds.
private func expectNothingOutside(_ copy: String, _ disk: LoopFileSystem) throws {
    #expect(try FileManager.default.destinationOfSymbolicLink(atPath: copy + "/data/passwd") == "/etc/passwd")
    #expect(try FileManager.default.contentsOfDirectory(atPath: disk.mountPoint).sorted() == ["copy", "source"])
}

/// 50 files of different content (three over 16 MiB, for the chunked dedupe) and a conffile listed in a fake dpkg
/// status; returns the 50 files' bytes.
private func writeSameFiles(in root: String) throws -> Int {
    try FileManager.default.createDirectory(atPath: root + "/data", withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: root + "/etc", withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: root + "/var/lib/dpkg", withIntermediateDirectories: true)
    var total = 0
    for index in 0..<50 {
        let bytes = content(index)
        try bytes.write(to: URL(fileURLWithPath: "\(root)/data/file\(index)"))
        total += bytes.count
    }
    try Data(repeating: 0x61, count: 256 * 1024).write(to: URL(fileURLWithPath: root + "/etc/app.conf"))
    try "Package: app\nStatus: install ok installed\nConffiles:\n /etc/app.conf 0123456789abcdef\n"
        .write(toFile: root + "/var/lib/dpkg/status", atomically: false, encoding: .utf8)
    return total
}

/// File `index`'s bytes: the same in every root, different from every other file's.
private func content(_ index: Int) -> Data {
    let size = index < 3 ? 17 * mebibyte + 1000 * index + 123 : 64 * 1024 + 4096 * index
    var generator = UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15
    var data = Data(count: size)
    data.withUnsafeMutableBytes { raw in
        let words = raw.bindMemory(to: UInt64.self)
        for offset in words.indices {
            generator ^= generator << 13
            generator ^= generator >> 7
            generator ^= generator << 17
            words[offset] = generator
        }
    }
    return data
}

/// Blocks of the regular files over 4 KiB below `root` (hard links once): the data a reflink copy shares.
private func dataBytes(_ root: String) throws -> UInt64 {
    var seen = Set<UInt>()
    var total: UInt64 = 0
    let paths = FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []
    for relative in paths {
        var status = stat()
        guard lstat(root + "/" + relative, &status) == 0 else { throw SystemError("lstat", path: relative) }
        guard status.st_mode & S_IFMT == S_IFREG, status.st_size > 4096, seen.insert(status.st_ino).inserted else {
            continue
        }
        total += UInt64(status.st_blocks) * 512
    }
    return total
}

private func sharedBytes(_ path: String) throws -> UInt64 {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw SystemError("open", path: path) }
    defer { close(fd) }
    return try ExtentSharing.usage(fd, path: path).shared
}

private func sh(_ script: String) throws {
    let result = try run("/bin/sh", ["-ec", script])
    guard result.status == 0 else { throw TestFailure("\(script)\n\(result)") }
}
