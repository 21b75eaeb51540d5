import CSystemd
import Glibc
import Logging
import ServiceLifecycle
import VarlinkServer
import VServerCore

/// What systemd hears from a running vserverd besides READY=1 (vserverd.service is Type=notify): STATUS=
/// whenever the counts change, WATCHDOG=1 when WatchdogSec= is set, and at shutdown STOPPING=1 followed by
/// EXTEND_TIMEOUT_USEC= while operations still finish (a guest's stop may take its stop-timeout and hooks).
/// Outside systemd (no $NOTIFY_SOCKET) it only waits for the shutdown.
package struct SystemdSupervision: Service, CustomStringConvertible {
    package let manager: Manager
    package let logger: Logger
    package var description: String { "SystemdSupervision" }

    package init(manager: Manager, logger: Logger) {
        self.manager = manager
        self.logger = logger
    }

    /// Coalesces a burst of state changes (a boot starting hundreds of vservers) into one update per period.
    package static let statusPeriod: Duration = .milliseconds(200)

    package func run() async throws {
        guard SystemdNotify.isSupervised else {
            try? await gracefulShutdown()
            return
        }
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await updateStatus() }
                if let interval = SystemdNotify.watchdogInterval() {
                    logger.debug("systemd watchdog every \(interval)")
                    group.addTask { await keepWatchdogFed(every: interval / 2) }
                }
            }
        }
        SystemdNotify.stopping()
        // The ServiceGroup now waits for running operations before vserverd exits; keep systemd patient until
        // then. The task ends with the process.
        Task.detached {
            while true {
                SystemdNotify.extendTimeout(by: .seconds(30))
                try? await Task.sleep(for: .seconds(10))
            }
        }
    }

    private func updateStatus() async {
        let (ticks, tick) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await _ in await manager.monitor() { tick.yield() }
                tick.finish()
            }
            group.addTask {
                var last = ""
                for await _ in ticks {
                    let status = await manager.summary()
                    if status != last {
                        SystemdNotify.status(status)
                        last = status
                    }
                    try? await Task.sleep(for: Self.statusPeriod)
                }
            }
        }
    }

    /// Each ping first goes through the Manager actor: a daemon whose actor hangs stops pinging and systemd
    /// restarts it (guests keep running).
    private func keepWatchdogFed(every period: Duration) async {
        while !Task.isCancelled {
            _ = await manager.summary()
            SystemdNotify.watchdog()
            try? await Task.sleep(for: period)
        }
    }
}

extension SystemdNotify {
    /// Whether systemd listens (Type=notify): $NOTIFY_SOCKET is set.
    package static var isSupervised: Bool {
        guard let socket = getenv("NOTIFY_SOCKET") else { return false }
        return socket.pointee != 0
    }

    /// WatchdogSec= of the unit, when it is set and meant for this process.
    package static func watchdogInterval() -> Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(microseconds)
    }

    package static func watchdog() {
        _ = sd_notify(0, "WATCHDOG=1")
    }

    /// Moves systemd's start or stop timeout to `duration` from now.
    package static func extendTimeout(by duration: Duration) {
        _ = sd_notify(0, extendTimeoutMessage(duration))
    }

    package static func extendTimeoutMessage(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return "EXTEND_TIMEOUT_USEC=\(seconds * 1_000_000 + attoseconds / 1_000_000_000_000)"
    }

    /// Runs `body`, extending systemd's timeout every 10 s until it returns (start-up work of unknown length:
    /// re-adoption runs the post-stop hooks of guests that died while the daemon was away).
    package static func extendingTimeout<T: Sendable>(_ body: () async -> T) async -> T {
        guard isSupervised else { return await body() }
        let ticker = Task {
            while !Task.isCancelled {
                extendTimeout(by: .seconds(30))
                try? await Task.sleep(for: .seconds(10))
            }
        }
        defer { ticker.cancel() }
        return await body()
    }
}
