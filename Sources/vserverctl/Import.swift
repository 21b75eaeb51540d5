import ArgumentParser
import VServerConfig

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Convert util-vserver config directories into vserver.toml files (no daemon needed).",
        discussion: """
            DIR holds util-vserver's files (context, vdir, uts/nodename, apps/init/mark, apps/init/depends, \
            bcapabilities, ulimits/, rlimits/, cgroup/, sched/, cpuset/, dlimits/, nice, fstab, scripts/); a \
            warning names each file that was approximated, ignored or refused (--report lists every file). \
            When DIR is CONFIG-DIR/NAME itself, \
            vserver.toml is written beside them: from then on vserverd reads it instead of them (fstab and \
            scripts/ still count). \
            Otherwise CONFIG-DIR/NAME is made with vserver.toml and copies of fstab and scripts/. The context \
            stays the same (the one vserverd gave it when the files name none). The new file must read back as \
            exactly what the old files said, or nothing is written. --dry-run prints it instead. \
            Several DIRs (or --all) are imported each after the ones its apps/init/depends names among them; a \
            dependency that is not there stays in `after`, with a warning.
            """)

    @Argument(help: "util-vserver vserver directories, e.g. /etc/vservers/web.")
    var directories: [String] = []

    @Option(name: .customLong("all"), help: ArgumentHelp(
        "Import every util-vserver vserver directory in this directory (e.g. a copy of the old /etc/vservers).",
        valueName: "from-etc"))
    var allFrom: String?

    @Option(help: "The vserver's name (default: the directory's name); with one DIR only.")
    var name: String?

    @Flag(help: "Print the vserver.toml instead of writing it.")
    var dryRun = false

    @Flag(help: "Print a table of every file of each directory and what became of it (used, or the warning).")
    var report = false

    @Flag(help: "Write nothing, and exit 1, when any file would be approximated, ignored or refused.")
    var strict = false

    @OptionGroup var configDirectory: ConfigDirectoryOption

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        if directories.isEmpty && allFrom == nil { throw ValidationError("give a DIR, or --all FROM-ETC") }
        if name != nil && (directories.count != 1 || allFrom != nil) {
            throw ValidationError("--name goes with one DIR only")
        }
    }

    func run() throws {
        var sources = directories.map { (directory: $0, name: name ?? Self.name(of: $0)) }
        if let allFrom {
            do throws(SystemError) {
                for entry in try FileSystem.listDirectory(allFrom) where !entry.hasPrefix(".") {
                    let directory = Path.join(allFrom, entry)
                    guard (try? FileSystem.status(directory))?.isDirectory == true,
                          !FileSystem.exists(Path.join(directory, TOMLConfig.fileName)),
                          UtilVServerConfig.isPresent(in: directory)
                    else { continue }
                    sources.append((directory, entry))
                }
            } catch {
                printToStandardError("vserverctl: import --all \(allFrom): \(error)")
                throw ExitCode.failure
            }
        }
        let environment = ConfigWriter.environment(configDirectory.contextRecord)
        let names = Set(sources.map(\.name))

        // First read them all, writing nothing: their dependencies, their warnings.
        var read: [String: ConfigWriter.Written] = [:]
        var failed = false
        for source in sources {
            do throws(ConfigError) {
                read[source.name] = try ConfigWriter.importUtilVServer(
                    from: source.directory, name: source.name, configDirectory: configDirectory.path, dryRun: true,
                    environment: environment, alongside: names.subtracting([source.name]))
            } catch {
                printToStandardError("vserverctl: import \(source.directory): \(error)")
                failed = true
            }
        }
        if strict {
            let refused = sources.compactMap { read[$0.name] }.filter { !$0.config.warnings.isEmpty }
            for written in refused {
                for warning in written.config.warnings {
                    printToStandardError("vserverctl: import --strict: \(written.config.name): \(warning)")
                }
            }
            if failed || !refused.isEmpty {
                printToStandardError("vserverctl: import --strict: nothing written")
                throw ExitCode.failure
            }
        }

        let order = ConfigWriter.importOrder(sources.map(\.name).filter { read[$0] != nil },
                                             after: read.mapValues(\.config.after))
        var pending = Set(order)
        var wrote = false
        for name in order {
            let source = sources.first { $0.name == name }!
            pending.remove(name)
            let written: ConfigWriter.Written
            if dryRun {
                written = read[name]!
            } else {
                do throws(ConfigError) {
                    written = try ConfigWriter.importUtilVServer(
                        from: source.directory, name: name, configDirectory: configDirectory.path, dryRun: false,
                        environment: environment, alongside: pending)
                } catch {
                    printToStandardError("vserverctl: import \(source.directory): \(error)")
                    failed = true
                    continue
                }
                wrote = true
            }
            show(written, from: source.directory)
        }
        if wrote { Reload.tellDaemon(connection) }
        if failed { throw ExitCode.failure }
    }

    private func show(_ written: ConfigWriter.Written, from directory: String) {
        let config = written.config
        if dryRun {
            print("# \(written.file)")
            print(written.text, terminator: "")
        } else {
            print("\(config.name): wrote \(written.file) (context \(config.context), root \(config.root))")
        }
        if report {
            let absolute = FileSystem.absolutePath(directory)
            let rows = UtilVServerLedger.report(directory: absolute, warnings: config.warnings)
            let width = max(4, rows.map(\.file.count).max() ?? 0)
            print("\(config.name): files of \(absolute):")
            print("  " + "FILE".padding(width) + "  RESULT")
            for row in rows { print("  " + row.file.padding(width) + "  " + row.result) }
            return
        }
        for warning in config.warnings {
            if dryRun {
                printToStandardError("\(config.name): warning: \(warning)")
            } else {
                print("\(config.name): warning: \(warning)")
            }
        }
    }

    private static func name(of directory: String) -> String {
        Path.components(FileSystem.absolutePath(directory)).last.map(String.init) ?? ""
    }
}

extension String {
    fileprivate func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
