import VServerConfig
import VServerProtocol
/// Starting and stopping many vservers at once: in `after` order, in parallel where the order allows,
/// with at most `jobs` operations at a time. One failure does not stop the others; its dependents are
/// skipped and reported.
extension Manager {
    /// Starts every vserver with `mark` ("default": `autostart = true`), or every valid one when `mark` is nil; at
    /// most `jobs` at once (nil: `Options.jobs`). An invalid vserver with the mark is reported failed.
    public func startMany(mark: String?, jobs: Int?) async -> BatchResult {
        var result = BatchResult()
        var wanted = Set<String>()
        for name in knownNames {
            if let config = configs.configs[name] {
                if mark.map(config.hasMark) ?? true { wanted.insert(name) }
            } else if let error = configs.invalid[name],
                      mark.map({ configs.invalidMarks[name]?.contains($0) == true }) ?? true {
                result.failed.append(name)
                result.errors.append("\(name): invalid config: \(error)")
            }
        }
        let dependencies = Dictionary(uniqueKeysWithValues: wanted.map { name in
            (name, Set(configs.configs[name]?.after ?? []).intersection(wanted))
        })
        let jobs = jobs ?? options.jobs
        let batch = await runInOrder(wanted, blockers: dependencies, jobs: jobs) { manager, name throws(ManagerError) in
            if await manager.states[name]?.guest != nil { return }
            _ = try await manager.start(name)
        }
        result.done += batch.done
        result.failed += batch.failed
        result.errors += batch.errors
        return result
    }

    /// Stops every running vserver, dependents before what they depend on, all at once where the order allows.
    public func stopAll() async -> BatchResult {
        let running = Set(states.filter { $0.value.guest != nil }.keys)
        // A guest may stop once every running guest that lists it in `after` has stopped.
        var dependents: [String: Set<String>] = [:]
        for name in running {
            dependents[name] = Set(running.filter { other in
                (states[other]?.guest?.config.after ?? []).contains(name)
            })
        }
        // Stopping is mostly waiting for guests to shut down: no CPU bound, only the order.
        return await runInOrder(running, blockers: dependents, jobs: running.count) {
            manager, name throws(ManagerError) in
            do throws(ManagerError) {
                _ = try await manager.stop(name)
            } catch .notRunning {
                // It ended by itself meanwhile: that is what we wanted.
            }
        }
    }

    /// Runs `operation` for each name once all its blockers succeeded; names whose blocker failed are
    /// skipped. At most `jobs` at a time.
    private func runInOrder(
        _ names: Set<String>, blockers: [String: Set<String>], jobs: Int,
        _ operation: @escaping @Sendable (Manager, String) async throws(ManagerError) -> Void
    ) async -> BatchResult {
        var result = BatchResult()
        var pending = names
        var succeeded = Set<String>()
        var failed = Set<String>()
        await withTaskGroup(of: (String, ManagerError?).self) { group in
            var active = 0
            while true {
                // Skip what can no longer happen, then launch what is ready, in name order.
                // Skipping one can doom another: repeat until nothing changes.
                while let name = pending.sorted().first(where: { !(blockers[$0] ?? []).isDisjoint(with: failed) }) {
                    let blocker = (blockers[name] ?? []).intersection(failed).sorted()[0]
                    pending.remove(name)
                    failed.insert(name)
                    result.failed.append(name)
                    result.errors.append("\(name): skipped because \(blocker) failed")
                }
                for name in pending.sorted()
                where active < max(1, jobs) && (blockers[name] ?? []).isSubset(of: succeeded) {
                    pending.remove(name)
                    active += 1
                    group.addTask {
                        do throws(ManagerError) {
                            try await operation(self, name)
                            return (name, nil)
                        } catch {
                            return (name, error)
                        }
                    }
                }
                guard let (name, error) = await group.next() else { break }
                active -= 1
                if let error {
                    failed.insert(name)
                    result.failed.append(name)
                    result.errors.append("\(name): \(error)")
                } else {
                    succeeded.insert(name)
                    result.done.append(name)
                }
            }
            // Whatever is left waits for something that never came (cannot happen with validated configs).
            for name in pending.sorted() {
                result.failed.append(name)
                result.errors.append("\(name): skipped: its dependencies did not finish")
            }
        }
        return result
    }
}
