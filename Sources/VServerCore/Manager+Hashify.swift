import VServerConfig
import VServerProtocol

/// Hashify (`Dedupe` does the work): safe on running guests, so it takes no vserver's lock.
extension Manager {
    public func hashify(_ call: HashifyParameters, progress: @Sendable (HashifyReply) async -> Void)
        async throws(ManagerError) -> HashifyReply
    {
        let targets = try validConfigs(call.names).map { (name: $0.name, root: $0.root, directory: $0.configDirectory) }
        let dryRun = call.dryRun
        let report = try await cancellableBlocking(progress: { (done: StorageProgress) in
            await progress(HashifyReply(filesExamined: Int(done.files), bytesExamined: Int(done.bytes),
                                        filesDeduped: 0, bytesDeduped: Int(done.bytesDeduped), skipped: 0,
                                        done: false))
        }, { report, isCancelled in
            let guests = try targets.map { target in
                let list = Path.join(target.directory, "apps/vunify/exclude")
                return try Dedupe.Guest.reading(name: target.name, root: target.root,
                                                excludeList: FileSystem.exists(list) ? list : nil)
            }
            return try Dedupe.run(guests, dryRun: dryRun, progress: report, isCancelled: isCancelled)
        })
        let verb = dryRun ? "would be shared" : "shared"
        let names = targets.map(\.name).joined(separator: " ")
        logger.notice("hashify \(names): \(report.bytesDeduped) bytes \(verb) of \(report.bytesExamined) examined")
        return HashifyReply(filesExamined: Int(report.filesExamined), bytesExamined: Int(report.bytesExamined),
                            filesDeduped: Int(report.filesDeduped), bytesDeduped: Int(report.bytesDeduped),
                            skipped: report.skipped.count, done: true)
    }
}

/// DiskUsage: `RootUsage` of each root, on a blocking thread (a walk reads every inode).
extension Manager {
    public func diskUsage(_ names: [String]) async throws(ManagerError) -> DiskUsageReply {
        let targets = try validConfigs(names).map { (name: $0.name, root: $0.root, limit: $0.resources.diskSpaceMax) }
        do {
            return DiskUsageReply(vservers: try await onBlockingThread {
                try targets.map { target in
                    let usage = try RootUsage.of(target.root)
                    return DiskUsageInfo(
                        name: target.name, root: target.root, usedBytes: Int(usage.usedBytes),
                        usedInodes: usage.usedInodes.map { Int($0) }, sharedBytes: Int(usage.sharedBytes),
                        exclusiveBytes: Int(usage.exclusiveBytes), limitBytes: (usage.limitBytes ?? target.limit)
                            .map { Int($0) }, source: usage.source)
                }
            })
        } catch {
            throw ManagerError(thrown: error)
        }
    }
}
