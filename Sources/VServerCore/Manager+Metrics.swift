import VServerProtocol

/// What vserverd counted of one guest's starts and stops since vserverd started. A restart of vserverd sets them back
/// to zero, which Prometheus takes as a counter reset.
package struct GuestLifecycleCounts: Sendable, Equatable {
    /// Starts that left it running.
    package var starts = 0
    package var failedStarts = 0
    /// Seconds the `starts` took, summed: with `starts`, the average start (pre-start hooks to post-start hooks).
    package var startSeconds = 0.0
    /// Stops vserverd made (asked for, or after a failed post-start hook).
    package var stops = 0
    package var stopSeconds = 0.0
    /// Its PID 1 ended by itself (halt inside, a command that exited, a crash).
    package var exits = 0

    package init() {}
}

/// What `/metrics` shows of the guests: each as `list` shows it, with its counts.
package struct GuestMetrics: Sendable {
    package var guests: [VServerInfo]
    package var counts: [String: GuestLifecycleCounts]

    package init(guests: [VServerInfo], counts: [String: GuestLifecycleCounts]) {
        self.guests = guests
        self.counts = counts
    }
}

extension Manager {
    package func metrics() -> GuestMetrics {
        GuestMetrics(guests: list(), counts: lifecycleCounts)
    }

    func countStart(_ name: String, since began: ContinuousClock.Instant, failed: Bool) {
        if failed {
            lifecycleCounts[name, default: .init()].failedStarts += 1
        } else {
            lifecycleCounts[name, default: .init()].starts += 1
            lifecycleCounts[name, default: .init()].startSeconds += Self.seconds(since: began)
        }
    }

    func countStop(_ name: String, since began: ContinuousClock.Instant) {
        lifecycleCounts[name, default: .init()].stops += 1
        lifecycleCounts[name, default: .init()].stopSeconds += Self.seconds(since: began)
    }

    func countExit(_ name: String) {
        lifecycleCounts[name, default: .init()].exits += 1
    }

    private static func seconds(since began: ContinuousClock.Instant) -> Double {
        let elapsed = (ContinuousClock.now - began).components
        return Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
    }
}
