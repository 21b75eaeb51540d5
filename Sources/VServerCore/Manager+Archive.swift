import Glibc
import VServerConfig
import VServerProtocol

/// Export and ImportArchive (`TarPipeline` runs GNU tar): a guest moved between hosts as one archive,
/// `vserver/NAME/` (its config directory) and `root/` (its tree).
extension Manager {
    public func export(_ call: ExportParameters, progress: @Sendable (ArchiveReply) async -> Void)
        async throws(ManagerError) -> ArchiveReply
    {
        let name = try resolve(call.name)
        return try await exclusively(name) { () async throws(ManagerError) -> ArchiveReply in
            let config = try validConfig(name)
            if states[name]?.guest != nil && !call.runningOk { throw .alreadyRunning(name: name) }
            let staging = try temporaryDirectory("export")
            defer { FileSystem.removeTree(staging) }
            do {
                let directory = Path.join(staging, "vserver/\(config.name)")
                try FileSystem.makeDirectories(directory, mode: 0o755)
                try copyConfigDirectory(of: config, to: directory,
                                        header: "Exported by vserverd from util-vserver files.")
            } catch {
                throw ManagerError(thrown: error)
            }

            // A file is written beside its final name and renamed once complete; a pipe as it goes.
            let isFile = (try? FileSystem.status(call.path)).map { $0?.isRegularFile ?? true } ?? true
            let output = isFile ? call.path + ".partial" : call.path
            let compress = switch call.compression ?? .of(path: call.path) {
            case .zstd: "zstd -q -T0"
            case .gzip: "gzip -c"
            case .none: "cat"
            }
            let script = "tar --create --file=- --format=posix --numeric-owner --xattrs '--xattrs-include=*' --acls "
                + "--sparse --one-file-system --verbose -C \"$1\" vserver -C \"$2\" '--transform=s,^\\./,root/,S' "
                + "'--transform=s,^\\.$,root,S' . | \(compress) > \"$3\""
            let outcome = try await TarPipeline.run(script, arguments: [staging, config.root, output]) {
                await progress(ArchiveReply(files: $0, done: false))
            }
            guard outcome.status == 0 else {
                if isFile { unlink(output) }
                throw .internalError("writing \(call.path): \(outcome.errors.joined(separator: "; "))"
                                         + " (exit status \(outcome.status)); nothing was kept")
            }
            if isFile && Glibc.rename(output, call.path) != 0 {
                let error = SystemError("rename", path: "\(output) to \(call.path)")
                unlink(output)
                throw ManagerError(error)
            }
            logger.notice("exported \(name) to \(call.path) (\(outcome.files) files)",
                          metadata: .vserver(name, context: config.context))
            return ArchiveReply(files: outcome.files, done: true)
        }
    }

    /// A vserver's config directory as a copy of it holds it, in the existing `directory`: vserver.toml (util-vserver's
    /// files converted, as `import` does, under the comment `header`) with `edit` applied, fstab and scripts/.
    func copyConfigDirectory(of config: VServerConfig, to directory: String, header: String,
                             edit: (String) throws -> String = { $0 }) throws
    {
        let toml = Path.join(config.configDirectory, TOMLConfig.fileName)
        let text = FileSystem.exists(toml) ? try FileSystem.readText(toml)
            : TOMLWriter.render(config, header: [header])
        try FileSystem.writeFileAtomically(Path.join(directory, TOMLConfig.fileName), contents: try edit(text),
                                           mode: 0o644)
        for extra in ["fstab", "scripts"] where FileSystem.exists(Path.join(config.configDirectory, extra)) {
            try FileSystem.copyTree(Path.join(config.configDirectory, extra), to: Path.join(directory, extra))
        }
    }

    /// A new 0700 directory below the state directory (same host, root only).
    func temporaryDirectory(_ purpose: String, in parent: String? = nil) throws(ManagerError) -> String {
        var template = Array(Path.join(parent ?? options.stateDirectory, ".\(purpose)-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw ManagerError(SystemError("mkdtemp", path: parent ?? options.stateDirectory))
        }
        return String(cString: made)
    }
}
