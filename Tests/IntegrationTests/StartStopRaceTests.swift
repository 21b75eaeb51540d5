import Foundation
import Testing
import VServerProtocol

extension Integration {
    @Suite struct StartStopRace {
        /// A start returns as soon as the stub init was exec'd, before its main() ran. A SIGTERM arriving in
        /// that window used to meet SIG_DFL in a namespace's PID 1 and vanish, so the stop waited stop-timeout.
        @Test func stopRightAfterStartOfCommandGuestNeedsNoStopTimeout() async throws {
            try await withTestHost { host in
                try host.addVServer("app", config: """
                    command = ["/bin/sleep", "1000"]
                    stop-timeout = 3

                    """)
                try host.startDaemon()
                let client = try VarlinkClient(path: host.socket)
                defer { client.close() }
                let clock = ContinuousClock()
                for round in 1...100 {
                    _ = try client.call(ManagerMethod.start, ["name": .string("app")])
                    let began = clock.now
                    _ = try client.call(ManagerMethod.stop, ["name": .string("app")])
                    let took = clock.now - began
                    #expect(took < .seconds(2), "round \(round): stop took \(took)")
                    if took >= .seconds(2) { break }
                }
            }
        }
    }
}
