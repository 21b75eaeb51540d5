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
            + "allocated, each hard-linked file once, not crossing into other file systems). SHARED is what sits in "
            + "extents the file system shares with another guest, a snapshot or a reflink copy (FIEMAP on a walk; "
            + "other subvolumes for a qgroup), EXCLUSIVE the rest. No daemon needed.")

    @Argument(help: "Vservers (names or context ids); default: all.", completion: .vserverNames)
    var names: [String] = []

    @Flag(help: "All vservers (the default without names).")
    var all = false

    @Flag(help: ArgumentHelp("One JSON object: {\"vservers\": [{name, root, usedBytes, usedInodes, sharedBytes, "
                             + "exclusiveBytes, limitBytes, inodesLimit, source}]}."))
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
        var rows = [["NAME", "USED", "SHARED", "EXCLUSIVE", "INODES", "LIMIT", "SOURCE", "ROOT"]]
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
            rows.append([config.name, humanBytes(Int(usage.usedBytes)), humanBytes(Int(usage.sharedBytes)),
                         humanBytes(Int(usage.exclusiveBytes)), usage.usedInodes.map { "\($0)" } ?? "-",
                         limit.map { humanBytes(Int($0)) } ?? "-", usage.source, config.root])
            var object: [String: JSON] = [
                "name": .string(config.name), "root": .string(config.root), "usedBytes": JSON(Int(usage.usedBytes)),
                "source": .string(usage.source), "sharedBytes": JSON(Int(usage.sharedBytes)),
                "exclusiveBytes": JSON(Int(usage.exclusiveBytes)),
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
