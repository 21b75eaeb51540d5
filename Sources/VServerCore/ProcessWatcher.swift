import CVServerSpawn
import Glibc
import Synchronization

/// Something that happens once (a process ended); any number of tasks can wait for it, with or without a
/// deadline, and waiting is cancellable.
public final class ExitEvent: Sendable {
    private struct State {
        var fired = false
        var nextWaiter = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }
    private let state = Mutex(State())

    public init() {}

    public var hasFired: Bool { state.withLock { $0.fired } }

    func fire() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.fired = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the event fired, or early when the task is cancelled.
    public func wait() async {
        let id = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.fired || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// True when the event fired within `timeout`.
    public func wait(timeout: Duration) async -> Bool {
        if hasFired { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.wait()
                return self.hasFired
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return self.hasFired
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first || hasFired
        }
    }
}

/// Tells when processes end, for any number of them, from one thread: epoll over their pidfds. A pidfd
/// becomes readable when its process exits, whether or not it is our child (re-adopted guests are not).
final class ProcessWatcher: Sendable {
    private let epollFD: Int32
    private let events = Mutex<[Int32: ExitEvent]>([:])

    init() throws {
        epollFD = vs_epoll_create()
        guard epollFD >= 0 else { throw SystemError("epoll_create1") }
        // A dedicated thread: it sleeps in epoll_wait for the daemon's whole life.
        Thread.detach { [self] in run() }
    }

    /// The event that fires when the process behind `pidfd` has exited. Call once per pidfd.
    func watch(pidfd: Int32) throws -> ExitEvent {
        let event = ExitEvent()
        events.withLock { $0[pidfd] = event }
        guard vs_epoll_add_oneshot(epollFD, pidfd) == 0 else {
            let error = SystemError("epoll_ctl add pidfd")
            _ = events.withLock { $0.removeValue(forKey: pidfd) }
            throw error
        }
        return event
    }

    private func run() {
        var ready = [Int32](repeating: -1, count: 64)
        while true {
            let count = vs_epoll_wait(epollFD, &ready, Int32(ready.count), -1)
            if count < 0 {
                if errno == EINTR { continue }
                return
            }
            for index in 0..<Int(count) {
                let fd = ready[index]
                vs_epoll_remove(epollFD, fd)
                events.withLock { $0.removeValue(forKey: fd) }?.fire()
            }
        }
    }
}

/// A detached pthread for loops that live as long as the daemon (no Foundation here).
enum Thread {
    static func detach(_ body: @escaping @Sendable () -> Void) {
        final class Box: @unchecked Sendable {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { argument in
            let box = Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue()
            box.body()
            return nil
        }, box)
        precondition(result == 0, "pthread_create failed: \(result)")
        pthread_detach(thread)
    }
}
