import Glibc
import VServerBuild
import VServerConfig
import VServerProtocol

/// Clone: `TreeCopy` makes the new root (reflinks where the file system has them), then the config is written beside
/// the others under a hidden name and renamed into place. Root first, config last, and each removed again when a
/// later step fails or the client hangs up: a clone either exists whole or not at all.
extension Manager {
    public func clone(_ call: CloneParameters, progress: @Sendable (CloneReply) async -> Void)
        async throws(ManagerError) -> CloneReply
    {
        let name = try resolve(call.name)
        let newName = call.newName
        if let problem = VServerName.problem(newName) {
            throw .invalidConfig(name: newName, file: "", reason: "\(quoted(newName)) is not a valid name: \(problem)")
        }
        return try await exclusively(name) { () async throws(ManagerError) -> CloneReply in
            let source = try validConfig(name)
            if states[name]?.guest != nil && !call.runningOk { throw .alreadyRunning(name: name) }
            let configDirectory = Path.join(options.configDirectory, newName)
            if configs.configs[newName] != nil || configs.invalid[newName] != nil
                || FileSystem.exists(configDirectory) {
                throw .invalidConfig(name: newName, file: configDirectory, reason: "\(configDirectory): already exists")
            }
            let root = call.root ?? Path.join(LoaderEnvironment().defaultRootDirectory, newName)
            if FileSystem.exists(root) {
                throw .invalidConfig(name: newName, file: root, reason: "\(root): already exists")
            }
            let context = call.context ?? ConfigWriter.freeContext(configs)
            if let owner = configs.configs.values.first(where: { $0.context == context }) {
                throw .invalidConfig(name: newName, file: "", reason: "context \(context) is used by \(owner.name)")
            }

            let sourceRoot = source.root
            let report = try await cancellableBlocking(progress: { (copied: StorageProgress) in
                await progress(CloneReply(files: Int(copied.files), bytes: Int(copied.bytes),
                                          totalBytes: Int(copied.totalBytes), done: false))
            }, { report, isCancelled in
                try TreeCopy.copy(from: sourceRoot, to: root, progress: report, isCancelled: isCancelled)
            })
            var warnings = report.skippedMounts.map { "\(sourceRoot)/\($0): a mount point, copied empty" }
                + report.vanished.map { "\(sourceRoot)/\($0): vanished while it was copied, left out" }
            if !report.usedReflinks && report.bytes > 0 {
                warnings.append("\(root): copied, not shared: its file system has no reflinks (btrfs and XFS have)")
            }
            if call.runningOk && states[name]?.guest != nil {
                warnings.append("\(name) was running: the copy is crash-consistent at best")
            }
            do throws(ManagerError) {
                let hostname = call.hostname ?? newName
                do {
                    _ = try GuestPreparation.prepare(root: root, hostname: hostname)
                } catch {
                    warnings.append("\(root): no fresh /etc/hostname and /etc/machine-id (\(error))")
                }
                try writeClonedConfig(of: source, as: newName, root: root, context: context, hostname: hostname)
            } catch {
                FileSystem.removeTree(root)
                throw error
            }
            _ = try loadNew(newName, configDirectory: configDirectory, root: root)
            logger.notice("cloned \(name) to \(newName) (\(report.files) files, \(report.bytesCloned) bytes shared)",
                          metadata: .vserver(newName, context: context))
            return CloneReply(files: Int(report.files), bytes: Int(report.bytes), totalBytes: Int(report.bytes),
                              done: true, reflinked: report.usedReflinks, vserver: info(newName), warnings: warnings)
        }
    }

    /// The source's config directory (vserver.toml, or util-vserver's files converted; fstab, scripts/) with the new
    /// root, context and hostname and without autostart and marks, made under a hidden name and renamed into place.
    private func writeClonedConfig(of source: VServerConfig, as newName: String, root: String, context: Int,
                                   hostname: String) throws(ManagerError)
    {
        let staging = try temporaryDirectory("clone-\(newName)", in: options.configDirectory)
        do {
            try copyConfigDirectory(of: source, to: staging,
                                    header: "Cloned by vserverd from \(source.name)'s util-vserver files.") { text in
                var text = try TOMLEditor.setting(text, topLevelKey: "root", to: TOML.quote(root))
                text = try TOMLEditor.setting(text, topLevelKey: "context", to: "\(context)")
                text = try TOMLEditor.setting(text, topLevelKey: "hostname", to: TOML.quote(hostname))
                text = try TOMLEditor.setting(text, topLevelKey: "autostart", to: nil)
                return try TOMLEditor.setting(text, topLevelKey: "marks", to: nil)
            }
            chmod(staging, 0o755)
            let target = Path.join(options.configDirectory, newName)
            guard Glibc.rename(staging, target) == 0 else {
                throw SystemError("rename", path: "\(staging) to \(target)")
            }
        } catch {
            FileSystem.removeTree(staging)
            throw .invalidConfig(name: newName, file: options.configDirectory, reason: "\(error)")
        }
    }

    /// A vserver just made (config and root in place): loaded, or both removed again with the loader's error.
    func loadNew(_ name: String, configDirectory: String, root: String) throws(ManagerError) -> VServerConfig {
        _ = reload()
        if let config = configs.configs[name] { return config }
        let error = configs.invalid[name]
        FileSystem.removeTree(configDirectory)
        FileSystem.removeTree(root)
        _ = reload()
        throw error.map { ManagerError($0, name: name) } ?? .noSuchVServer(name: name)
    }
}
