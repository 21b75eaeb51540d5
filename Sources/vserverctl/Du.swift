import ArgumentParser
import Glibc
import VServerCLI
import VServerConfig
import VServerProtocol

/// `du` (util-vserver's vdu): what each guest's root uses on disk, against its `[disk]` limit.
struct Du: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the disk space and inodes each vserver's root uses, against its [disk] limit.",
        discussion: "A root that is a btrfs subvolume with qgroups on is read from its qgroup (its referenced "
            + "bytes, as of now: the file system is synced first); any other root is walked like `du -sx` (blocks "
            + "allocated, each hard-linked file once, not crossing into other file systems). No daemon needed.")

    @Argument(help: "Vservers (names or context ids); default: all.", completion: .vserverNames)
    var names: [String] = []

    @Flag(help: "All vservers (the default without names).")
    var all = false

    @Flag(help: ArgumentHelp("One JSON object: {\"vservers\": [{name, root, usedBytes, usedInodes, limitBytes, "
                             + "inodesLimit, source}]}."))
    var json = false

    @OptionGroup var configDirectory: ConfigDirectoryOption

    func run() throws {
        let configs = ConfigLoader.load(directory: configDirectory.path, contextRecord: configDirectory.contextRecord)
        var chosen: [VServerConfig] = []
        for name in names {
            guard let resolved = configs.resolve(name), let config = configs.configs[resolved] else {
                printToStandardError("vserverctl: du \(name): no vserver named \(name) with a valid config in "
                                     + configDirectory.path)
                throw ExitCode.failure
            }
            chosen.append(config)
        }
        if names.isEmpty || all { chosen = configs.configs.keys.sorted().compactMap { configs.configs[$0] } }
        var rows = [["NAME", "USED", "INODES", "LIMIT", "SOURCE", "ROOT"]]
        var objects: [JSON] = []
        var failed = false
        for config in chosen {
            let usage: RootUsage
            do {
                usage = try RootUsage.of(config.root)
            } catch {
                printToStandardError("vserverctl: du \(config.name): \(error)")
                failed = true
                continue
            }
            let limit = usage.limitBytes ?? config.resources.diskSpaceMax
            rows.append([config.name, humanBytes(Int(usage.usedBytes)), usage.usedInodes.map { "\($0)" } ?? "-",
                         limit.map { humanBytes(Int($0)) } ?? "-", usage.source, config.root])
            var object: [String: JSON] = [
                "name": .string(config.name), "root": .string(config.root), "usedBytes": JSON(Int(usage.usedBytes)),
                "source": .string(usage.source),
            ]
            if let inodes = usage.usedInodes { object["usedInodes"] = JSON(Int(inodes)) }
            if let limit { object["limitBytes"] = JSON(Int(limit)) }
            if let inodes = config.resources.diskInodesMax { object["inodesLimit"] = JSON(Int(inodes)) }
            objects.append(.object(object))
        }
        if json {
            print(JSON.object(["vservers": .array(objects)]).serialized())
        } else {
            printTable(rows)
        }
        if failed { throw ExitCode.failure }
    }
}

/// What a root uses: its btrfs qgroup where it has one, else a walk.
struct RootUsage {
    var usedBytes: UInt64
    var usedInodes: UInt64?
    var limitBytes: UInt64?
    /// "qgroup" or "walk".
    var source: String

    static func of(_ root: String) throws -> RootUsage {
        if case .btrfsQgroup = DiskQuota.mechanism(for: root) {
            // The qgroup counts what is committed: commit what was written until now.
            try? Btrfs.sync(root)
            if let usage = try? DiskQuota.usage(of: root) {
                return RootUsage(usedBytes: usage.usedBytes, usedInodes: nil, limitBytes: usage.limitBytes,
                                 source: "qgroup")
            }
        }
        var walk = TreeWalk()
        try walk.add(root)
        return RootUsage(usedBytes: walk.bytes, usedInodes: walk.inodes, limitBytes: nil, source: "walk")
    }
}

/// `du -sx`: blocks allocated below a directory, hard links once, without crossing into another file system.
struct TreeWalk {
    var bytes: UInt64 = 0
    var inodes: UInt64 = 0
    private var seen = Swift.Set<[UInt64]>()

    mutating func add(_ root: String) throws(SystemError) {
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open", path: root) }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            close(fd)
            throw SystemError("stat", path: root)
        }
        count(status)
        walk(fd, device: status.st_dev)
    }

    private mutating func count(_ status: stat) {
        if status.st_nlink > 1 && (status.st_mode & S_IFMT) != S_IFDIR {
            guard seen.insert([UInt64(status.st_dev), UInt64(status.st_ino)]).inserted else { return }
        }
        bytes += UInt64(status.st_blocks) * 512
        inodes += 1
    }

    /// Takes `fd` (closed here).
    private mutating func walk(_ fd: Int32, device: dev_t) {
        guard let directory = fdopendir(fd) else {
            close(fd)
            return
        }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: &entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            var status = stat()
            guard fstatat(fd, name, &status, AT_SYMLINK_NOFOLLOW) == 0, status.st_dev == device else { continue }
            count(status)
            if (status.st_mode & S_IFMT) == S_IFDIR {
                let child = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if child >= 0 { walk(child, device: device) }
            }
        }
    }
}
