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
        for other in running {
            for name in states[other]?.guest?.config.after ?? [] where running.contains(name) {
                dependents[name, default: []].insert(other)
            }
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
    /// skipped. At most `jobs` at a time, the ready ones in name order. Each finished operation costs only its
    /// dependents' bookkeeping: 10 000 names must not be sorted again after each of 10 000 starts.
    private func runInOrder(
        _ names: Set<String>, blockers: [String: Set<String>], jobs: Int,
        _ operation: @escaping @Sendable (Manager, String) async throws(ManagerError) -> Void
    ) async -> BatchResult {
        var result = BatchResult()
        var queue = BatchQueue(names, blockers: blockers)
        await withTaskGroup(of: (String, ManagerError?).self) { group in
            var active = 0
            while true {
                while active < max(1, jobs), let name = queue.nextReady() {
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
                    result.failed.append(name)
                    result.errors.append("\(name): \(error)")
                    for (skipped, blocker) in queue.failed(name) {
                        result.failed.append(skipped)
                        result.errors.append("\(skipped): skipped because \(blocker) failed")
                    }
                } else {
                    result.done.append(name)
                    queue.succeeded(name)
                }
            }
            // Whatever is left waits for something that never came (cannot happen with validated configs).
            for name in queue.left {
                result.failed.append(name)
                result.errors.append("\(name): skipped: its dependencies did not finish")
            }
        }
        return result
    }
}

/// The names of a batch by what they wait for: those whose blockers all succeeded are ready, taken in name order.
struct BatchQueue {
    private let blockers: [String: Set<String>]
    /// Who waits for each name.
    private var dependents: [String: [String]] = [:]
    /// How many of its blockers have not succeeded yet, for each name not ready yet.
    private var waiting: [String: Int] = [:]
    /// Sorted backwards: the next one is at the end.
    private var ready: [String] = []
    private var failedNames = Set<String>()

    init(_ names: Set<String>, blockers: [String: Set<String>]) {
        self.blockers = blockers
        for name in names {
            let own = blockers[name] ?? []
            if own.isEmpty {
                ready.append(name)
            } else {
                waiting[name] = own.count
                for blocker in own { dependents[blocker, default: []].append(name) }
            }
        }
        ready.sort(by: >)
    }

    mutating func nextReady() -> String? { ready.popLast() }

    mutating func succeeded(_ name: String) {
        var woken: [String] = []
        for dependent in dependents[name] ?? [] {
            guard let count = waiting[dependent] else { continue }
            if count == 1 {
                waiting.removeValue(forKey: dependent)
                woken.append(dependent)
            } else {
                waiting[dependent] = count - 1
            }
        }
        if !woken.isEmpty {
            ready.append(contentsOf: woken)
            ready.sort(by: >)
        }
    }

    /// `name` failed: everything that waits for it, directly or not, is skipped. Returns each with the failed
    /// blocker it names (the first by name), in name order per round, as they are found.
    mutating func failed(_ name: String) -> [(name: String, blocker: String)] {
        failedNames.insert(name)
        var skipped: [(name: String, blocker: String)] = []
        var round = [name]
        while !round.isEmpty {
            var next: [String] = []
            for dependent in Set(round.flatMap { dependents[$0] ?? [] }).sorted()
            where waiting.removeValue(forKey: dependent) != nil {
                failedNames.insert(dependent)
                let blocker = (blockers[dependent] ?? []).intersection(failedNames).sorted()[0]
                skipped.append((dependent, blocker))
                next.append(dependent)
            }
            round = next
        }
        return skipped
    }

    /// Names still waiting (for a blocker outside the batch, or a cycle), in name order.
    var left: [String] { waiting.keys.sorted() }
}
