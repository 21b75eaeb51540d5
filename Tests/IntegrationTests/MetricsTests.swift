import Foundation
import Testing

/// A Prometheus of the test's own (Debian's package): scrapes one target every second, answers its HTTP API on a free
/// port of 127.0.0.1, keeps its data below the TestHost's directory. Stopped by PID (SIGKILL, reaped) by `stop`, which
/// every path calls, or when it is released.
final class PrometheusServer {
    static let binary = "/usr/bin/prometheus"
    let port: Int
    let logPath: String
    private let child: ChildProcess

    struct Series: CustomStringConvertible {
        var labels: [String: String]
        var value: Double
        var description: String { "\(labels.sorted { $0.key < $1.key }) \(value)" }
    }

    init(directory: String, target: String) throws {
        port = try freeLocalPort()
        let config = "\(directory)/prometheus.yml"
        try """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: vserverd
                static_configs:
                  - targets: ["\(target)"]

            """.write(toFile: config, atomically: true, encoding: .utf8)
        logPath = "\(directory)/prometheus.log"
        let log = open(logPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard log >= 0 else { throw TestFailure("open \(logPath): errno \(errno)") }
        defer { close(log) }
        child = try ChildProcess(
            [Self.binary, "--config.file=\(config)", "--storage.tsdb.path=\(directory)/prometheus-data",
             "--web.listen-address=127.0.0.1:\(port)"],
            environment: nil, stdout: log, stderr: log)
        try poll("Prometheus to be ready on 127.0.0.1:\(port)") {
            guard child.isRunning else { throw TestFailure("prometheus exited: \(logText)") }
            return (try? httpRequest(port: port, "/-/ready"))?.status == 200
        }
    }

    var logText: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func stop() { child.stop() }

    /// The instant vector of `expression` (its API's /api/v1/query).
    func query(_ expression: String) throws -> [Series] {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        let encoded = expression.addingPercentEncoding(withAllowedCharacters: allowed) ?? expression
        let reply = try httpRequest(port: port, "/api/v1/query?query=\(encoded)")
        guard reply.status == 200,
              let json = try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any],
              json["status"] as? String == "success", let data = json["data"] as? [String: Any],
              let result = data["result"] as? [[String: Any]]
        else { throw TestFailure("query \(expression): \(reply)") }
        return try result.map { sample in
            guard let labels = sample["metric"] as? [String: String], let pair = sample["value"] as? [Any],
                  pair.count == 2, let value = (pair[1] as? String).flatMap(Double.init)
            else { throw TestFailure("sample of \(expression): \(sample)") }
            return Series(labels: labels, value: value)
        }
    }

    /// Its scrape targets' health and last scrape error, from /api/v1/targets.
    func targets() throws -> [(health: String, lastError: String)] {
        let reply = try httpRequest(port: port, "/api/v1/targets")
        guard let json = try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any],
              let data = json["data"] as? [String: Any], let active = data["activeTargets"] as? [[String: Any]]
        else { throw TestFailure("targets: \(reply)") }
        return active.map { ($0["health"] as? String ?? "", $0["lastError"] as? String ?? "") }
    }

    /// Queries `expression` until `condition` holds for its result (a scrape comes every second), at most `timeout`.
    @discardableResult
    func waitFor(_ expression: String, timeout: Duration = .seconds(60), _ condition: ([Series]) -> Bool) throws
        -> [Series]
    {
        var last: [Series] = []
        do {
            try poll("\(expression) in Prometheus", timeout: timeout) {
                last = try query(expression)
                return condition(last)
            }
        } catch {
            throw TestFailure("\(error); last result: \(last); targets: \((try? targets()) ?? [])")
        }
        return last
    }

    /// `waitUntil` at a pace for an HTTP API: every 100 ms.
    private func poll(_ what: String, timeout: Duration = .seconds(60), _ condition: () throws -> Bool) throws {
        let deadline = ContinuousClock.now + timeout
        while try !condition() {
            if ContinuousClock.now >= deadline { throw TestFailure("timed out after \(timeout) waiting for \(what)") }
            usleep(100_000)
        }
    }
}

/// Issue 12: `vserverd --metrics ADDRESS` serves OpenMetrics/Prometheus text on /metrics: per vserver its state,
/// usage and start/stop counts, and vserverd's own figures.
extension Integration {
    @Suite struct Metrics {
        static let prometheusInstalled = FileManager.default.isExecutableFile(atPath: PrometheusServer.binary)

        @Test(.requires(prometheusInstalled, "Prometheus (\(PrometheusServer.binary), Debian package prometheus)"))
        func aRealPrometheusScrapesBothGuestsSeriesAndSeesAStoppedGuestAsStopped() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: "context = 1042\n" + busyboxInit)
                try host.addVServer("db", config: "context = 1043\n" + busyboxInit)
                let metricsPort = try freeLocalPort()
                try host.startDaemon(["--metrics", "127.0.0.1:\(metricsPort)"])
                for name in ["web", "db"] {
                    let start = try host.ctl("start", name)
                    try #require(start.status == 0, "\(start)")
                }
                let prometheus = try PrometheusServer(directory: host.directory, target: "127.0.0.1:\(metricsPort)")
                defer { prometheus.stop() }

                let memory = try prometheus.waitFor("vserverd_guest_memory_bytes") {
                    Set($0.compactMap { $0.labels["name"] }) == ["web", "db"]
                }
                #expect(memory.count == 2, "\(memory)")
                for series in memory {
                    #expect(series.value > 0, "\(series)")
                    #expect(series.labels["job"] == "vserverd", "\(series)")
                    #expect(series.labels["instance"] == "127.0.0.1:\(metricsPort)", "\(series)")
                    #expect(series.labels["context"] == (series.labels["name"] == "web" ? "1042" : "1043"), "\(series)")
                }
                // Every scrape parsed: one bad line would fail the whole scrape and show here.
                let targets = try prometheus.targets()
                #expect(targets.count == 1 && targets[0].health == "up" && targets[0].lastError == "", "\(targets)")

                let running = try prometheus.query(#"vserverd_guest_state{state="running"}"#)
                #expect(Dictionary(uniqueKeysWithValues: running.map { ($0.labels["name"] ?? "", $0.value) })
                            == ["web": 1, "db": 1], "\(running)")
                let cpu = try prometheus.query("vserverd_guest_cpu_seconds_total")
                #expect(Set(cpu.map { "\($0.labels["name"] ?? "") \($0.labels["mode"] ?? "")" })
                            == ["web user", "web system", "db user", "db system"], "\(cpu)")
                let tasks = try prometheus.query("vserverd_guest_tasks")
                #expect(tasks.count == 2 && tasks.allSatisfy { $0.value >= 1 }, "\(tasks)")
                let starts = try prometheus.query("vserverd_guest_starts_total")
                #expect(starts.count == 2 && starts.allSatisfy { $0.value == 1 }, "\(starts)")
                let startTime = try prometheus.query("time() - vserverd_guest_start_time_seconds")
                #expect(startTime.count == 2 && startTime.allSatisfy { $0.value >= -1 && $0.value < 600 },
                        "started this minute: \(startTime)")
                #expect(try prometheus.query(#"vserverd_guests{state="running"}"#).map(\.value) == [2])
                let resident = try prometheus.query("vserverd_process_resident_memory_bytes")
                #expect(resident.count == 1 && resident[0].value > 1_048_576, "\(resident)")
                let fds = try prometheus.query("vserverd_process_open_fds")
                #expect(fds.count == 1 && fds[0].value >= 3, "\(fds)")

                // Stopped: its state series says so, its stop is counted, and its usage is gone from the scrape.
                let stop = try host.ctl("stop", "db")
                try #require(stop.status == 0, "\(stop)")
                try prometheus.waitFor(#"vserverd_guest_state{name="db",state="stopped"}"#) { $0.first?.value == 1 }
                #expect(try prometheus.query(#"vserverd_guest_state{name="db",state="running"}"#).map(\.value) == [0])
                #expect(try prometheus.query(#"vserverd_guest_stops_total{name="db"}"#).map(\.value) == [1])
                let stopDuration = try prometheus.query(#"vserverd_guest_stop_duration_seconds_sum{name="db"}"#)
                #expect(stopDuration.count == 1 && stopDuration[0].value > 0, "\(stopDuration)")
                #expect(try prometheus.query(#"vserverd_guest_stops_total{name="web"}"#).map(\.value) == [0])
                try prometheus.waitFor("vserverd_guest_memory_bytes") { $0.map { $0.labels["name"] } == ["web"] }
            }
        }

        @Test func metricsAnswersGETAndHEADOnSlashMetricsOnlyInTheFormatTheClientAccepts() async throws {
            try await withTestHost { host in
                try host.addVServer("web", config: "context = 1042\n" + busyboxInit)
                let port = try freeLocalPort()
                try host.startDaemon(["--metrics", "127.0.0.1:\(port)"])
                let start = try host.ctl("start", "web")
                try #require(start.status == 0, "\(start)")
                #expect(host.daemonLogText.contains("serving metrics on http://127.0.0.1:\(port)/metrics\n"))

                let plain = try httpRequest(port: port, "/metrics")
                #expect(plain.status == 200, "\(plain)")
                #expect(plain.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
                #expect(plain.body.contains(#"vserverd_guest_state{name="web",context="1042",state="running"} 1"#),
                        "\(plain.body)")
                #expect(plain.body.contains("# TYPE vserverd_guest_starts_total counter\n"))
                #expect(plain.body.contains(#"vserverd_guest_starts_total{name="web",context="1042"} 1"#))
                #expect(!plain.body.contains("# EOF"))

                let openMetrics = try httpRequest(
                    port: port, "/metrics", headers: ["Accept": "application/openmetrics-text;version=1.0.0"])
                #expect(openMetrics.status == 200)
                #expect(openMetrics.headers["content-type"]
                            == "application/openmetrics-text; version=1.0.0; charset=utf-8")
                #expect(openMetrics.body.contains("# TYPE vserverd_guest_starts counter\n"))
                #expect(openMetrics.body.hasSuffix("\n# EOF\n"))

                let head = try httpRequest(port: port, "/metrics", method: "HEAD")
                #expect(head.status == 200 && head.body.isEmpty, "\(head)")
                #expect(head.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")

                #expect(try httpRequest(port: port, "/").status == 404)
                #expect(try httpRequest(port: port, "/metrics/x").status == 404)
                let post = try httpRequest(port: port, "/metrics", method: "POST")
                #expect(post.status == 405 && post.headers["allow"] == "GET, HEAD", "\(post)")

                // Keep-alive: two requests on one connection, both answered.
                let both = try parseHTTPResponses(httpExchange(port: port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
                #expect(both.map(\.status) == [200, 404], "\(both.map(\.status))")

                // A request head past 16 KiB is refused and its connection closed; the server goes on.
                let long = try parseHTTPResponses(httpExchange(
                    port: port,
                    "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Long: \(String(repeating: "a", count: 20_000))\r\n\r\n"))
                #expect(long.map(\.status) == [400], "\(long.map(\.status))")
                #expect(try httpRequest(port: port, "/metrics").status == 200)

                // SIGTERM stops vserverd while a scraper keeps its connection open between scrapes.
                let open = try connectTCP(host: "127.0.0.1", port: port)
                defer { close(open) }
                let request = Array("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
                #expect(write(open, request, request.count) == request.count)
                var buffer = [UInt8](repeating: 0, count: 15)
                #expect(read(open, &buffer, buffer.count) == 15 && buffer == Array("HTTP/1.1 200 OK".utf8))
                host.killDaemon(signal: SIGTERM, timeout: .seconds(10))
                #expect(host.daemon?.isRunning == false)
                #expect(host.daemon?.terminationReason == .exit && host.daemon?.terminationStatus == 0,
                        "\(host.daemonLogText)")
            }
        }

        @Test func aMetricsAddressInUseOrMalformedStopsVserverdAtStartWithTheAddress() async throws {
            // Another program has the port.
            let (holder, port) = try localTCPSocket(listening: true)
            defer { close(holder) }

            try await withTestHost { host in
                try host.addVServer("web", config: busyboxInit)
                #expect(throws: TestFailure.self) { try host.startDaemon(["--metrics", "127.0.0.1:\(port)"]) }
                host.daemon?.waitUntilExit()
                #expect(host.daemon?.terminationStatus == 1)
                let message = "critical --metrics 127.0.0.1:\(port): bind: Address already in use\n"
                #expect(host.daemonLogText.hasSuffix(message), "\(host.daemonLogText)")
                #expect(!FileManager.default.fileExists(atPath: host.socket), "stopped before its control socket")
            }

            for argument in ["127.0.0.1", "127.0.0.1:0", "127.0.0.1:http", "::1:9100", ":9100", "[::1]9100"] {
                let result = try run(Products.vserverd, ["--metrics", argument])
                #expect(result.status == 64, "\(argument): \(result)")
                #expect(result.stderr.contains(
                    "--metrics \(argument): expected HOST:PORT, like 127.0.0.1:9100 or [::1]:9100"), "\(result)")
            }
        }

        @Test func metricsListensOnAnIPv6Address() async throws {
            try await withTestHost { host in
                let port = try freeLocalPort()
                try host.startDaemon(["--metrics", "[::1]:\(port)"])
                let reply = try httpRequest(host: "::1", port: port, "/metrics")
                #expect(reply.status == 200, "\(reply)")
                #expect(reply.body.contains(#"vserverd_guests{state="running"} 0"#), "\(reply.body)")
                #expect(host.daemonLogText.contains("serving metrics on http://[::1]:\(port)/metrics\n"))
            }
        }
    }
}
