import Logging
import VServerConfig

extension Manager {
    /// Writes again the record of each running guest whose state file is gone (its state directory removed under
    /// the daemon, as by `rm -rf /run/vserverd`), so that the next vserverd adopts it rather than lose it. Called as
    /// vserverd shuts down; what cannot be written is logged.
    public func restoreLostRecords() {
        var restored: [String] = []
        for case .running(let guest) in states.values where !FileSystem.exists(stateStore.path(guest.record.name)) {
            do {
                try FileSystem.makeDirectories(stateStore.directory, mode: 0o700)
                try stateStore.save(guest.record)
                restored.append(guest.record.name)
            } catch {
                logger.error("\(error): the next vserverd will not know this running guest",
                             metadata: logMetadata(guest.record.name))
            }
        }
        if !restored.isEmpty {
            let names = restored.sorted().joined(separator: ", ")
            logger.warning("state files were missing; wrote them again for \(names)")
        }
    }
}
