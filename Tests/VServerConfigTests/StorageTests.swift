import Glibc
import Testing
import VServerConfig
import VServerTestSupport

/// TreeCopy, TreeWalk, the dedupe exclusions and hash on the machine's own temporary file system (no reflinks
/// needed); the reflink and dedupe paths are in IntegrationTests' StorageTests, on loop images.
@Suite struct StorageTests {
    @Test func aCopyKeepsHardLinksSymlinksHolesModesAndTimesAndLeavesNothingOutside() throws {
        let tree = TemporaryTree()
        let source = tree.directory("source")
        tree.file("source/etc/hostname", "web\n", mode: 0o4755)
        #expect(link(tree.absolute("source/etc/hostname"), tree.absolute("source/etc/hardlink")) == 0)
        tree.symlink("source/etc/passwd", to: "/etc/passwd")
        #expect(mkfifo(tree.absolute("source/fifo"), 0o640) == 0)
        let sparse = tree.file("source/sparse", "")
        #expect(truncate(sparse, 64 << 20) == 0)
        var times = [timespec(tv_sec: 1_000_000_000, tv_nsec: 5), timespec(tv_sec: 1_100_000_000, tv_nsec: 7)]
        #expect(utimensat(AT_FDCWD, tree.absolute("source/etc"), &times, 0) == 0)
        #expect(chmod(source, 0o711) == 0)

        let destination = tree.absolute("copy")
        let report = try TreeCopy.copy(from: source, to: destination)
        #expect(report.files == 6 && report.bytes == 4 + (64 << 20), "\(report)")

        let hostname = try lstatus(destination + "/etc/hostname")
        let linked = try lstatus(destination + "/etc/hardlink")
        #expect(hostname.st_ino == linked.st_ino && hostname.st_nlink == 2)
        #expect(hostname.st_mode & 0o7777 == 0o4755)
        #expect(try FileSystem.readLink(destination + "/etc/passwd") == "/etc/passwd")
        #expect(try lstatus(destination + "/fifo").st_mode == S_IFIFO | 0o640)
        let copiedSparse = try lstatus(destination + "/sparse")
        #expect(copiedSparse.st_size == 64 << 20 && copiedSparse.st_blocks == 0, "holes kept")
        let etc = try lstatus(destination + "/etc")
        #expect(etc.st_mtim.tv_sec == 1_100_000_000 && etc.st_mtim.tv_nsec == 7, "times set after the children")
        #expect(try lstatus(destination).st_mode & 0o7777 == 0o711)
    }

    @Test func anExistingDestinationIsRefusedAndLeftAlone() throws {
        let tree = TemporaryTree()
        let source = tree.directory("source")
        tree.file("source/a", "a")
        let destination = tree.file("existing/keep", "mine")
        let refused = SystemError(call: "mkdir", path: tree.absolute("existing"), errno: EEXIST)
        #expect(throws: StorageError.system(refused)) {
            try TreeCopy.copy(from: source, to: tree.absolute("existing"))
        }
        #expect(try FileSystem.readText(destination) == "mine")
    }

    @Test func aCancelledCopyLeavesNoDestination() throws {
        let tree = TemporaryTree()
        let source = tree.directory("source")
        for index in 0..<20 { tree.file("source/dir/file\(index)", "\(index)") }
        var asked = 0
        #expect(throws: StorageError.cancelled) {
            try TreeCopy.copy(from: source, to: tree.absolute("copy"), isCancelled: {
                asked += 1
                return asked > 10
            })
        }
        #expect(asked > 10)
        #expect(!FileSystem.exists(tree.absolute("copy")))
    }

    @Test func aFileThatVanishesDuringTheCopyIsLeftOutAndNamed() throws {
        let tree = TemporaryTree()
        let source = tree.directory("source")
        tree.file("source/a", "a")
        let vanishing = tree.file("source/z", "z")
        let report = try TreeCopy.copy(from: source, to: tree.absolute("copy"), progress: { _ in unlink(vanishing) })
        #expect(report.vanished == ["z"] && report.files == 2, "\(report)")
        #expect(!FileSystem.exists(tree.absolute("copy/z")) && FileSystem.exists(tree.absolute("copy/a")))
    }

    @Test func aSymlinkAsTheSourceIsNotFollowed() throws {
        let tree = TemporaryTree()
        tree.file("real/a", "a")
        let source = tree.symlink("link", to: tree.absolute("real"))
        #expect(throws: StorageError.system(SystemError(call: "open", path: source, errno: ENOTDIR))) {
            try TreeCopy.copy(from: source, to: tree.absolute("copy"))
        }
        #expect(!FileSystem.exists(tree.absolute("copy")))
    }

    @Test func aWalkCountsHardLinksOnceAndProgressEndsAtTheTotal() throws {
        let tree = TemporaryTree()
        let source = tree.directory("source")
        tree.file("source/a", String(repeating: "x", count: 10_000))
        #expect(link(tree.absolute("source/a"), tree.absolute("source/b")) == 0)
        var walk = TreeWalk()
        try walk.add(source)
        #expect(walk.inodes == 2 && walk.fileBytes == 10_000)
        var last: TreeCopy.Progress?
        _ = try TreeCopy.copy(from: source, to: tree.absolute("copy"), progress: { last = $0 })
        #expect(last?.files == 2 && last?.totalFiles == 2, "\(String(describing: last))")
        #expect(last?.bytes == 10_000 && last?.totalBytes == 10_000, "\(String(describing: last))")
    }

    @Test func conffilesComeFromEveryPackagesConffilesField() {
        let status = """
            Package: base-files
            Status: install ok installed
            Conffiles:
             /etc/debian_version 2a9f2f46e1e1f1d0a2b4e5c6d7e8f901
             /etc/host.conf 4eb63731c9f5e30903ac4fc07a7fe3d6 obsolete
            Description: Debian base system miscellaneous files

            Package: bash
            Conffiles:
             /etc/bash.bashrc 89269e1298235f1b12b4c16e4065ad0d
            Description: GNU Bourne Again SHell
             /etc/not-a-conffile is part of a description
            """
        #expect(DedupeExclusions.conffiles(dpkgStatus: status)
            == ["etc/debian_version", "etc/host.conf", "etc/bash.bashrc"])
    }

    @Test func excludeListRulesMatchPathsPatternsAndIncludesLastRuleWins() {
        let rules = DedupeExclusions.rules(excludeList: """
            # util-vserver's vunify exclude list
            /etc/
            -~/var/lib/*/state
            +/etc/init.d/
            /usr/lib/locale/locale-archive\t
            """)
        #expect(rules.count == 4)
        let exclusions = DedupeExclusions(conffiles: ["etc/motd"], rules: rules)
        #expect(exclusions.reason("etc/motd") == "conffile")
        #expect(exclusions.reason("etc/passwd") == "exclude list")
        #expect(exclusions.reason("etc/init.d/rc") == nil)
        #expect(exclusions.reason("var/lib/apt/state") == "exclude list")
        #expect(exclusions.reason("usr/lib/locale/locale-archive") == "exclude list")
        #expect(exclusions.reason("etcetera/x") == nil)
        #expect(exclusions.reason("usr/bin/perl") == nil)
    }

    @Test func dedupeOnATmpfsOrExt4SaysItsFileSystemCannotShareExtents() throws {
        let tree = TemporaryTree()
        let root = tree.directory("web")
        guard try !TreeCopy.supportsReflink(directory: root) else { return }
        #expect(throws: StorageError.cannotShareExtents(path: root)) {
            try Dedupe.run([Dedupe.Guest(name: "web", root: root)])
        }
    }
}

private func lstatus(_ path: String) throws -> stat {
    var status = stat()
    guard lstat(path, &status) == 0 else { throw SystemError("lstat", path: path) }
    return status
}
