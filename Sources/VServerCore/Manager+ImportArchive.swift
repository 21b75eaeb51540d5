import Glibc
import VServerConfig
import VServerProtocol

/// ImportArchive: an archive of Export (untrusted) becomes a vserver. It is unpacked into a hidden directory beside
/// the new root (`.import-XXXXXX`, 0700), checked, and only then moved into place: root first, config last, so a
/// failure at any step (or a hang-up) removes all of it and the vserver never half-exists.
extension Manager {
    public func importArchive(_ call: ImportArchiveParameters, progress: @Sendable (ArchiveReply) async -> Void)
        async throws(ManagerError) -> ArchiveReply
    {
        let defaultRoots = LoaderEnvironment().defaultRootDirectory
        let staging = try temporaryDirectory("import", in: call.root.map(Path.parent) ?? defaultRoots)
        defer { FileSystem.removeTree(staging) }
        let compression = call.compression ?? Self.compression(of: call.path)
        let decompress = switch compression {
        case .zstd: "zstd -q -dc"
        case .gzip: "gzip -dc"
        case .none: "cat"
        }
        let script = "\(decompress) < \"$1\" | tar --extract --file=- --numeric-owner --same-owner "
            + "--preserve-permissions --xattrs '--xattrs-include=*' --acls --verbose -C \"$2\""
        let outcome = try await TarPipeline.run(script, arguments: [call.path, staging]) {
            await progress(ArchiveReply(files: $0, done: false))
        }
        guard outcome.status == 0 else {
            throw .internalError("\(outcome.errors.joined(separator: "; ")) (exit status \(outcome.status)); "
                                     + "nothing was made")
        }
        let archivedName = try Self.archivedName(in: staging, path: call.path)
        let name = call.name ?? archivedName
        if let problem = VServerName.problem(name) {
            throw .invalidConfig(name: name, file: call.path, reason: "\(quoted(name)) is not a valid name: \(problem)")
        }
        return try await exclusively(name) { () throws(ManagerError) -> ArchiveReply in
            let root = call.root ?? Path.join(defaultRoots, name)
            let configDirectory = Path.join(options.configDirectory, name)
            if configs.configs[name] != nil || configs.invalid[name] != nil || FileSystem.exists(configDirectory) {
                throw .invalidConfig(name: name, file: configDirectory, reason: "\(configDirectory): already exists")
            }
            if FileSystem.exists(root) {
                throw .invalidConfig(name: name, file: root, reason: "\(root): already exists")
            }
            let stagedConfig = Path.join(staging, "vserver/\(archivedName)")
            try checkTrust(stagedConfig, name: name, trusted: call.trustConfig)
            try rewriteConfig(stagedConfig, name: name, root: root)
            try install(staging: staging, config: stagedConfig, as: name, root: root)
            let config = try loadNew(name, configDirectory: configDirectory, root: root)
            logger.notice("imported \(name) from \(call.path) (\(outcome.files) files), root \(root)",
                          metadata: .vserver(name, context: config.context))
            return ArchiveReply(files: outcome.files, done: true, vserver: info(name), warnings: config.warnings)
        }
    }

    /// By the first bytes of a file; a pipe cannot be read twice, so it is taken as an uncompressed tar.
    private static func compression(of path: String) -> ArchiveCompression {
        guard let status = try? FileSystem.status(path), status.isRegularFile else { return .none }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .none }
        defer { close(fd) }
        var magic = [UInt8](repeating: 0, count: 4)
        let count = read(fd, &magic, 4)
        return ArchiveCompression.of(magic: Array(magic.prefix(max(0, count))))
    }

    /// The archive holds `vserver/NAME/vserver.toml` and `root/`, nothing else.
    private static func archivedName(in staging: String, path: String) throws(ManagerError) -> String {
        func refuse(_ why: String) -> ManagerError {
            .invalidConfig(name: "", file: path, reason: "\(path): not an archive of vserverctl export: \(why)")
        }
        let top = FileSystem.entries(staging).sorted()
        guard top == ["root", "vserver"] else { throw refuse("it holds \(top.joined(separator: ", "))") }
        for entry in top {
            guard (try? FileSystem.status(Path.join(staging, entry)))??.isDirectory == true,
                  (try? FileSystem.readLink(Path.join(staging, entry))) == nil else {
                throw refuse("\(entry) is not a directory")
            }
        }
        let names = FileSystem.entries(Path.join(staging, "vserver"))
        guard names.count == 1, let name = names.first, VServerName.problem(name) == nil,
              FileSystem.exists(Path.join(staging, "vserver/\(name)/\(TOMLConfig.fileName)")) else {
            throw refuse("vserver/ must hold one NAME/vserver.toml")
        }
        return name
    }

    /// Hooks run on the host as root and bind mounts reach host paths: an archive's are taken only when trusted.
    private func checkTrust(_ directory: String, name: String, trusted: Bool) throws(ManagerError) {
        guard !trusted else { return }
        var reaching: [String] = []
        if !FileSystem.entries(Path.join(directory, "scripts")).isEmpty { reaching.append("hook scripts (scripts/)") }
        let toml = (try? FileSystem.readText(Path.join(directory, TOMLConfig.fileName))) ?? ""
        let fstab = (try? FileSystem.readText(Path.join(directory, "fstab"))) ?? ""
        if toml.contains("[[mount]]") || fstab.contains("bind") { reaching.append("mounts ([[mount]] or fstab)") }
        guard !reaching.isEmpty else { return }
        throw .invalidConfig(
            name: name, file: directory,
            reason: "the archive's config has \(reaching.joined(separator: " and ")), which act on this host: "
                + "check them and import with --trust-config, or remove them from the archive")
    }

    /// Its vserver.toml with the new root, and a free context when another vserver has its own.
    private func rewriteConfig(_ directory: String, name: String, root: String) throws(ManagerError) {
        let file = Path.join(directory, TOMLConfig.fileName)
        do {
            var text = try FileSystem.readText(file)
            text = try TOMLEditor.setting(text, topLevelKey: "root", to: TOML.quote(root))
            if case .integer(let context) = (try TOML.parse(text))["context"]?.kind,
               configs.configs.values.contains(where: { $0.context == Int(context) })
                || configs.reservedContexts.contains(Int(context)) {
                text = try TOMLEditor.setting(text, topLevelKey: "context", to: "\(ConfigWriter.freeContext(configs))")
            }
            try FileSystem.writeFileAtomically(file, contents: text, mode: 0o644)
        } catch {
            throw .invalidConfig(name: name, file: file, reason: "\(file): \(error)")
        }
    }

    /// The root into place, then the config directory (a rename each); the first undone when the second fails.
    private func install(staging: String, config: String, as name: String, root: String) throws(ManagerError) {
        guard Glibc.rename(Path.join(staging, "root"), root) == 0 else {
            throw ManagerError(SystemError("rename", path: "\(staging)/root to \(root)"))
        }
        let configDirectory = Path.join(options.configDirectory, name)
        guard Glibc.rename(config, configDirectory) == 0 else {
            let error = SystemError("rename", path: "\(config) to \(configDirectory)")
            Glibc.rename(root, Path.join(staging, "root"))
            throw ManagerError(error)
        }
    }
}
