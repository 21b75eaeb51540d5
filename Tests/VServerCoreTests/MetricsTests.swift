import Glibc
import Testing
import VServerProtocol

@testable import VServerCore

/// /metrics as text: OpenMetrics 1.0 for scrapers that ask for it, Prometheus 0.0.4 for the others.
@Suite struct MetricsText {
    /// One family of each kind: a gauge with a unit, a counter, a summary and an info.
    static let families: [MetricFamily] = {
        var memory = MetricFamily("vserverd_guest_memory_bytes", .gauge, unit: "bytes", help: "Memory.")
        memory.add(1_048_576, [.init("name", "web"), .init("context", "1042")])
        var cpu = MetricFamily("vserverd_guest_cpu_seconds", .counter, unit: "seconds", help: "CPU time.")
        cpu.add(1.25, [.init("name", "web"), .init("mode", "user")])
        var starts = MetricFamily("vserverd_guest_start_duration_seconds", .summary, unit: "seconds", help: "Starts.")
        starts.add(0.5, [.init("name", "web")], suffix: "_sum")
        starts.add(2, [.init("name", "web")], suffix: "_count")
        var build = MetricFamily("vserverd_build", .info, help: "The running vserverd.")
        build.add(1, [.init("version", "0.1.0")])
        var uptime = MetricFamily("vserverd_up", .gauge, help: "Up.")
        uptime.add(1)
        return [memory, cpu, starts, build, uptime]
    }()

    @Test func openMetricsHasTypeUnitAndHelpBeforeEachFamilyCountersEndInTotalAndTheTextEndsInEOF() {
        #expect(MetricsExposition.render(Self.families, format: .openMetrics) == """
            # TYPE vserverd_guest_memory_bytes gauge
            # UNIT vserverd_guest_memory_bytes bytes
            # HELP vserverd_guest_memory_bytes Memory.
            vserverd_guest_memory_bytes{name="web",context="1042"} 1048576
            # TYPE vserverd_guest_cpu_seconds counter
            # UNIT vserverd_guest_cpu_seconds seconds
            # HELP vserverd_guest_cpu_seconds CPU time.
            vserverd_guest_cpu_seconds_total{name="web",mode="user"} 1.25
            # TYPE vserverd_guest_start_duration_seconds summary
            # UNIT vserverd_guest_start_duration_seconds seconds
            # HELP vserverd_guest_start_duration_seconds Starts.
            vserverd_guest_start_duration_seconds_sum{name="web"} 0.5
            vserverd_guest_start_duration_seconds_count{name="web"} 2
            # TYPE vserverd_build info
            # HELP vserverd_build The running vserverd.
            vserverd_build_info{version="0.1.0"} 1
            # TYPE vserverd_up gauge
            # HELP vserverd_up Up.
            vserverd_up 1
            # EOF

            """)
    }

    @Test func prometheusTextNamesCountersAndInfosByTheirSamplesHasNoUnitAndNoEOF() {
        #expect(MetricsExposition.render(Self.families, format: .prometheus) == """
            # HELP vserverd_guest_memory_bytes Memory.
            # TYPE vserverd_guest_memory_bytes gauge
            vserverd_guest_memory_bytes{name="web",context="1042"} 1048576
            # HELP vserverd_guest_cpu_seconds_total CPU time.
            # TYPE vserverd_guest_cpu_seconds_total counter
            vserverd_guest_cpu_seconds_total{name="web",mode="user"} 1.25
            # HELP vserverd_guest_start_duration_seconds Starts.
            # TYPE vserverd_guest_start_duration_seconds summary
            vserverd_guest_start_duration_seconds_sum{name="web"} 0.5
            vserverd_guest_start_duration_seconds_count{name="web"} 2
            # HELP vserverd_build_info The running vserverd.
            # TYPE vserverd_build_info gauge
            vserverd_build_info{version="0.1.0"} 1
            # HELP vserverd_up Up.
            # TYPE vserverd_up gauge
            vserverd_up 1

            """)
    }

    @Test func labelValuesEscapeBackslashQuoteAndNewlineAndHelpEscapesQuotesOnlyInOpenMetrics() {
        var family = MetricFamily("x", .gauge, help: "a \"b\" c\\d\ne")
        family.add(1, [.init("path", "C:\\dir \"q\"\nnext")])
        #expect(MetricsExposition.render([family], format: .openMetrics) == """
            # TYPE x gauge
            # HELP x a \\"b\\" c\\\\d\\ne
            x{path="C:\\\\dir \\"q\\"\\nnext"} 1
            # EOF

            """)
        #expect(MetricsExposition.render([family], format: .prometheus) == """
            # HELP x a "b" c\\\\d\\ne
            # TYPE x gauge
            x{path="C:\\\\dir \\"q\\"\\nnext"} 1

            """)
    }

    @Test func numbersAreWholeWithoutFractionOtherwiseShortestAndInfinityAndNaNAsTheFormatsSpellThem() {
        #expect(MetricsExposition.number(0) == "0")
        #expect(MetricsExposition.number(123_456_789_012) == "123456789012")
        #expect(MetricsExposition.number(-3) == "-3")
        #expect(MetricsExposition.number(0.125) == "0.125")
        #expect(MetricsExposition.number(1e-6) == "1e-06")
        #expect(MetricsExposition.number(.infinity) == "+Inf")
        #expect(MetricsExposition.number(-.infinity) == "-Inf")
        #expect(MetricsExposition.number(.nan) == "NaN")
    }

    @Test func openMetricsOnlyWhenTheScraperAcceptsIt() {
        // What Prometheus 2 sends.
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
            + "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        #expect(MetricsFormat(accept: prometheus) == .openMetrics)
        #expect(MetricsFormat(accept: "Application/OpenMetrics-Text; version=1.0.0") == .openMetrics)
        #expect(MetricsFormat(accept: nil) == .prometheus)
        #expect(MetricsFormat(accept: "*/*") == .prometheus)
        #expect(MetricsFormat(accept: "text/plain;version=0.0.4") == .prometheus)
        #expect(MetricsFormat(accept: "application/openmetrics-text; q=0, text/plain") == .prometheus)
        #expect(MetricsFormat.openMetrics.contentType == "application/openmetrics-text; version=1.0.0; charset=utf-8")
        #expect(MetricsFormat.prometheus.contentType == "text/plain; version=0.0.4; charset=utf-8")
    }
}

/// What vserverd puts on /metrics: each guest by name and context, and itself.
@Suite struct VServerMetricsFamilies {
    static var running: VServerInfo {
        var web = VServerInfo(name: "web", context: 1042, state: .running, root: "/vservers/web", hostname: "web",
                              autostart: true, pid: 4242, startedAt: "2026-11-23T18:30:00Z", processes: 7,
                              memoryBytes: 52_428_800)
        web.memoryPeakBytes = 60_000_000
        web.cpuUserSeconds = 1.5
        web.cpuSystemSeconds = 0.25
        web.ioReadBytes = 4096
        web.ioWriteBytes = 8192
        web.diskBytes = 1_000_000
        web.diskLimitBytes = 2_000_000
        return web
    }

    static let stopped = VServerInfo(name: "db", context: 1043, state: .stopped, root: "/vservers/db",
                                     hostname: "db", autostart: false)

    static func text() -> String {
        var counts = GuestLifecycleCounts()
        counts.starts = 2
        counts.startSeconds = 0.75
        counts.failedStarts = 1
        counts.stops = 1
        counts.stopSeconds = 0.5
        counts.exits = 3
        var daemon = DaemonFigures(version: "0.1.0")
        daemon.residentBytes = 10_485_760
        daemon.openFDs = 12
        daemon.varlinkConnections = 2
        let metrics = GuestMetrics(guests: [running, stopped], counts: ["web": counts])
        return VServerMetrics.render(metrics, daemon: daemon, format: .openMetrics)
    }

    /// The samples of a family, without its metadata.
    static func samples(_ prefix: String, in text: String) -> [String] {
        text.split(separator: "\n").map(String.init).filter { $0.hasPrefix(prefix + "{") || $0.hasPrefix(prefix + " ") }
    }

    @Test func everyGuestHasOneStateSeriesPerStateWithOneForItsOwn() {
        let text = Self.text()
        #expect(Self.samples("vserverd_guest_state", in: text) == [
            #"vserverd_guest_state{name="web",context="1042",state="stopped"} 0"#,
            #"vserverd_guest_state{name="web",context="1042",state="starting"} 0"#,
            #"vserverd_guest_state{name="web",context="1042",state="running"} 1"#,
            #"vserverd_guest_state{name="web",context="1042",state="stopping"} 0"#,
            #"vserverd_guest_state{name="web",context="1042",state="failed"} 0"#,
            #"vserverd_guest_state{name="db",context="1043",state="stopped"} 1"#,
            #"vserverd_guest_state{name="db",context="1043",state="starting"} 0"#,
            #"vserverd_guest_state{name="db",context="1043",state="running"} 0"#,
            #"vserverd_guest_state{name="db",context="1043",state="stopping"} 0"#,
            #"vserverd_guest_state{name="db",context="1043",state="failed"} 0"#,
        ])
        #expect(Self.samples("vserverd_guests", in: text) == [
            #"vserverd_guests{state="stopped"} 1"#, #"vserverd_guests{state="starting"} 0"#,
            #"vserverd_guests{state="running"} 1"#, #"vserverd_guests{state="stopping"} 0"#,
            #"vserverd_guests{state="failed"} 0"#,
        ])
    }

    @Test func aRunningGuestsUsageIsThereAndAStoppedGuestHasNone() {
        let text = Self.text()
        let web = #"{name="web",context="1042""#
        #expect(Self.samples("vserverd_guest_start_time_seconds", in: text)
                    == ["vserverd_guest_start_time_seconds\(web)} 1795458600"])
        #expect(Self.samples("vserverd_guest_tasks", in: text) == ["vserverd_guest_tasks\(web)} 7"])
        #expect(Self.samples("vserverd_guest_memory_bytes", in: text)
                    == ["vserverd_guest_memory_bytes\(web)} 52428800"])
        #expect(Self.samples("vserverd_guest_memory_peak_bytes", in: text)
                    == ["vserverd_guest_memory_peak_bytes\(web)} 60000000"])
        #expect(Self.samples("vserverd_guest_cpu_seconds_total", in: text) == [
            "vserverd_guest_cpu_seconds_total\(web),mode=\"user\"} 1.5",
            "vserverd_guest_cpu_seconds_total\(web),mode=\"system\"} 0.25",
        ])
        #expect(Self.samples("vserverd_guest_io_bytes_total", in: text) == [
            "vserverd_guest_io_bytes_total\(web),direction=\"read\"} 4096",
            "vserverd_guest_io_bytes_total\(web),direction=\"write\"} 8192",
        ])
        #expect(Self.samples("vserverd_guest_disk_bytes", in: text) == ["vserverd_guest_disk_bytes\(web)} 1000000"])
        #expect(Self.samples("vserverd_guest_disk_limit_bytes", in: text)
                    == ["vserverd_guest_disk_limit_bytes\(web)} 2000000"])
        #expect(text.contains("# TYPE vserverd_guest_memory_bytes gauge\n# UNIT vserverd_guest_memory_bytes bytes\n"))
        #expect(text.hasSuffix("\n# EOF\n"))
    }

    @Test func startsStopsAndExitsAreCountersWithZeroForAGuestWithoutAnyAndDurationsAreSummaries() {
        let text = Self.text()
        let web = #"{name="web",context="1042"}"#
        let db = #"{name="db",context="1043"}"#
        #expect(Self.samples("vserverd_guest_starts_total", in: text)
                    == ["vserverd_guest_starts_total\(web) 2", "vserverd_guest_starts_total\(db) 0"])
        #expect(Self.samples("vserverd_guest_start_failures_total", in: text)
                    == ["vserverd_guest_start_failures_total\(web) 1", "vserverd_guest_start_failures_total\(db) 0"])
        #expect(Self.samples("vserverd_guest_stops_total", in: text)
                    == ["vserverd_guest_stops_total\(web) 1", "vserverd_guest_stops_total\(db) 0"])
        #expect(Self.samples("vserverd_guest_exits_total", in: text)
                    == ["vserverd_guest_exits_total\(web) 3", "vserverd_guest_exits_total\(db) 0"])
        #expect(Self.samples("vserverd_guest_start_duration_seconds_sum", in: text).first
                    == "vserverd_guest_start_duration_seconds_sum\(web) 0.75")
        #expect(Self.samples("vserverd_guest_start_duration_seconds_count", in: text).first
                    == "vserverd_guest_start_duration_seconds_count\(web) 2")
        #expect(Self.samples("vserverd_guest_stop_duration_seconds_sum", in: text).first
                    == "vserverd_guest_stop_duration_seconds_sum\(web) 0.5")
        #expect(text.contains("# TYPE vserverd_guest_starts counter\n"))
        #expect(text.contains("# TYPE vserverd_guest_start_duration_seconds summary\n"))
    }

    @Test func vserverdsOwnFiguresAreThoseItCouldRead() {
        let text = Self.text()
        #expect(Self.samples("vserverd_build_info", in: text) == [#"vserverd_build_info{version="0.1.0"} 1"#])
        #expect(Self.samples("vserverd_process_resident_memory_bytes", in: text)
                    == ["vserverd_process_resident_memory_bytes 10485760"])
        #expect(Self.samples("vserverd_process_open_fds", in: text) == ["vserverd_process_open_fds 12"])
        #expect(Self.samples("vserverd_varlink_connections", in: text) == ["vserverd_varlink_connections 2"])
        #expect(!text.contains("vserverd_process_cpu_seconds"), "not read: left out")
    }

    @Test func thisProcessFiguresComeFromProc() throws {
        let figures = DaemonFigures.current(version: "0.1.0", varlinkConnections: nil)
        #expect(try #require(figures.residentBytes) > 1 << 20)
        #expect(try #require(figures.openFDs) >= 3)
        #expect(try #require(figures.threads) >= 1)
        #expect(try #require(figures.cpuSeconds) > 0)
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let started = try #require(figures.startTimeSeconds)
        #expect(started <= Double(now.tv_sec) + 1 && started > Double(now.tv_sec) - 3600, "\(started)")
    }
}
