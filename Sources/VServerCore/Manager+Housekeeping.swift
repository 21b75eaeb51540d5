import Glibc
import VServerConfig
import VServerProtocol

/// Rename and Delete of stopped vservers (`VServerRename`, `VServerRemoval` do the files): under the vserver's lock,
/// so that no start slips in between, followed by a reload so that list shows the result at once.
extension Manager {
    public func rename(_ nameOrContext: String, to newName: String) async throws(ManagerError) -> RenameReply {
        let name = try resolve(nameOrContext)
        return try await exclusively(name) { () throws(ManagerError) -> RenameReply in
            try checkStopped(name)
            if states[newName]?.guest != nil { throw .alreadyRunning(name: newName) }
            var rename = VServerRename(old: name, new: newName, configDirectory: options.configDirectory,
                                       defaultRootDirectory: LoaderEnvironment().defaultRootDirectory)
            let result: VServerRename.Result
            do throws(ConfigError) {
                result = try rename.run(configs: configs)
            } catch {
                throw ManagerError(error, name: name)
            }
            do throws(SystemError) {
                let putBack = try moveRecordedContext(from: name, to: newName)
                do throws(SystemError) {
                    try moveConsoleLog(from: name, to: newName)
                } catch {
                    putBack()
                    throw error
                }
            } catch {
                rename.undoAll()
                throw ManagerError(error)
            }
            states.removeValue(forKey: name)
            stateStore.remove(name)
            _ = reload()
            let moved = result.movedRoot.map { ", its root to \($0.to)" } ?? ""
            logger.notice("renamed \(name) to \(newName)\(moved)", metadata: .vserver(newName, context: nil))
            return RenameReply(vserver: info(newName), movedRoot: result.movedRoot?.to, dependents: result.dependents)
        }
    }

    public func delete(_ nameOrContext: String, keepRoot: Bool) async throws(ManagerError) -> DeleteReply {
        let name = try resolve(nameOrContext)
        return try await exclusively(name) { () throws(ManagerError) -> DeleteReply in
            try checkStopped(name)
            let removal = VServerRemoval(name: name, configDirectory: options.configDirectory, keepRoot: keepRoot)
            let root = configs.configs[name]?.root
            let hidden: (config: String, root: String?)
            do throws(ConfigError) {
                hidden = try removal.hide(configs: configs)
            } catch {
                throw ManagerError(error, name: name)
            }
            unlink(Path.join(options.logDirectory, "\(name).log"))
            states.removeValue(forKey: name)
            stateStore.remove(name)
            _ = reload()
            let hiddenPaths = [hidden.config] + (hidden.root.map { [$0] } ?? [])
            // The slow part (a whole root) on a thread of its own; the vserver is gone already.
            let leftOver = (try? await onBlockingThread { VServerRemoval.removeHidden(hiddenPaths) }) ?? hiddenPaths
            let note = (hidden.root == nil ? " (root kept)" : "")
                + (leftOver.isEmpty ? "" : "; left over: \(leftOver.joined(separator: ", "))")
            logger.notice("deleted \(name)\(note)", metadata: .vserver(name, context: nil))
            return DeleteReply(root: hidden.root == nil ? nil : root, leftOver: leftOver)
        }
    }

    private func checkStopped(_ name: String) throws(ManagerError) {
        if let state = states[name], state.guest != nil || state.state == .starting || state.state == .stopping {
            throw .alreadyRunning(name: name)
        }
    }

    private func moveConsoleLog(from old: String, to new: String) throws(SystemError) {
        let from = Path.join(options.logDirectory, "\(old).log")
        guard FileSystem.exists(from) else { return }
        let to = Path.join(options.logDirectory, "\(new).log")
        guard Glibc.rename(from, to) == 0 else { throw SystemError("rename", path: "\(from) to \(to)") }
    }

    /// A context vserverd gave (none in the config) goes with the name, so the guest keeps its uid range.
    /// Returns what puts the record back.
    private func moveRecordedContext(from old: String, to new: String) throws(SystemError) -> () -> Void {
        guard let directory = options.libDirectory,
              let original = try? ContextRecord.read(ContextRecord.file(in: directory)),
              let context = original.contexts[old] else { return {} }
        var record = original
        record.contexts[new] = context
        record.contexts.removeValue(forKey: old)
        try record.write()
        return { try? original.write() }
    }
}
