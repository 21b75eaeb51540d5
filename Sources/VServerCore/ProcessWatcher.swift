import CVServerSpawn
import Glibc
import Synchronization
import VServerConfig
import VServerProtocol

/// Tells when processes end, for any number of them, from one thread: epoll over their pidfds. A pidfd
/// becomes readable when its process exits, whether or not it is our child (re-adopted guests are not).
final class ProcessWatcher: Sendable {
    private let epollFD: Int32
    private let events = Mutex<[Int32: OneShotEvent]>([:])

    init() throws {
        epollFD = vs_epoll_create()
        guard epollFD >= 0 else { throw SystemError("epoll_create1") }
        // A dedicated thread: it sleeps in epoll_wait for the daemon's whole life.
        Thread.detach { [self] in run() }
    }

    /// The event that fires when the process behind `pidfd` has exited. Call once per pidfd.
    func watch(pidfd: Int32) throws -> OneShotEvent {
        let event = OneShotEvent()
        events.withLock { $0[pidfd] = event }
        guard vs_epoll_add_oneshot(epollFD, pidfd) == 0 else {
            let error = SystemError("epoll_ctl add pidfd")
            _ = events.withLock { $0.removeValue(forKey: pidfd) }
            throw error
        }
        return event
    }

    private func run() {
        Epoll.forEachReady(epollFD) { fd in
            vs_epoll_remove(epollFD, fd)
            events.withLock { $0.removeValue(forKey: fd) }?.fire()
        }
    }
}

enum Epoll {
    /// Calls `ready` with each fd that epoll reports, for as long as the thread lives (a dedicated thread).
    static func forEachReady(_ epollFD: Int32, _ ready: (Int32) -> Void) {
        var fds = [Int32](repeating: -1, count: 64)
        while true {
            let count = vs_epoll_wait(epollFD, &fds, Int32(fds.count), -1)
            if count < 0 {
                if errno == EINTR { continue }
                return
            }
            for index in 0..<Int(count) { ready(fds[index]) }
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
