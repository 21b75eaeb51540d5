import Glibc
import VServerConfig
import VServerProtocol

/// vserverd's own figures for /metrics: its process (from /proc/self, as Prometheus' client libraries report theirs)
/// and its Varlink connections.
package struct DaemonFigures: Sendable, Equatable {
    package var version: String
    /// Seconds since the epoch.
    package var startTimeSeconds: Double?
    package var cpuSeconds: Double?
    package var residentBytes: Int?
    package var openFDs: Int?
    package var maxFDs: Int?
    package var threads: Int?
    /// Open Varlink connections (vserverctl calls, monitors).
    package var varlinkConnections: Int?

    package init(version: String) {
        self.version = version
    }

    /// This process now; a figure that cannot be read is left out.
    package static func current(version: String, varlinkConnections: Int?) -> DaemonFigures {
        var figures = DaemonFigures(version: version)
        figures.varlinkConnections = varlinkConnections
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        if let stat = try? FileSystem.readText("/proc/self/stat"), let fields = ProcFS.statFields(stat),
           fields.count > 21, ticks > 0 {
            // fields[0] is field 3 of proc(5): utime 14, stime 15, num_threads 20, starttime 22, rss 24.
            if let user = Double(fields[11]), let system = Double(fields[12]) {
                figures.cpuSeconds = (user + system) / ticks
            }
            figures.threads = Int(fields[17])
            if let started = Double(fields[19]), let bootTime {
                figures.startTimeSeconds = bootTime + started / ticks
            }
            figures.residentBytes = Int(fields[21]).map { $0 * Int(sysconf(Int32(_SC_PAGESIZE))) }
        }
        // Less the one opendir holds while listing.
        figures.openFDs = (try? FileSystem.listDirectory("/proc/self/fd")).map { max($0.count - 1, 0) }
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max {
            figures.maxFDs = Int(limit.rlim_cur)
        }
        return figures
    }

    /// When the machine booted, in seconds since the epoch (`btime` of /proc/stat).
    private static let bootTime: Double? = (try? FileSystem.readText("/proc/stat"))?.split(separator: "\n")
        .first { $0.hasPrefix("btime ") }.flatMap { Double($0.dropFirst(6)) }
}

/// The metric families of /metrics: every guest `list` shows, by name and context, and vserverd itself.
package enum VServerMetrics {
    package static func render(_ guests: GuestMetrics, daemon: DaemonFigures, format: MetricsFormat) -> String {
        MetricsExposition.render(families(guests, daemon: daemon), format: format)
    }

    package static func families(_ metrics: GuestMetrics, daemon: DaemonFigures) -> [MetricFamily] {
        guestFamilies(metrics) + daemonFamilies(metrics.guests, daemon)
    }

    private static func guestFamilies(_ metrics: GuestMetrics) -> [MetricFamily] {
        typealias Label = MetricFamily.Label
        var state = MetricFamily("vserverd_guest_state", .gauge,
                                 help: "1 for the state the vserver is in, 0 for the others.")
        var startTime = MetricFamily("vserverd_guest_start_time_seconds", .gauge, unit: "seconds",
                                     help: "When the running vserver was started, in seconds since the epoch.")
        var tasks = MetricFamily("vserverd_guest_tasks", .gauge, help: "Processes in the vserver.")
        var memory = MetricFamily("vserverd_guest_memory_bytes", .gauge, unit: "bytes",
                                  help: "Memory the vserver uses (its cgroup's, else its processes' resident memory).")
        var memoryPeak = MetricFamily("vserverd_guest_memory_peak_bytes", .gauge, unit: "bytes",
                                      help: "Most memory the vserver used since it started, where its cgroup counts "
                                          + "it.")
        var cpu = MetricFamily("vserverd_guest_cpu_seconds", .counter, unit: "seconds",
                               help: "CPU time of the vserver's processes since it started, by mode.")
        var io = MetricFamily("vserverd_guest_io_bytes", .counter, unit: "bytes",
                              help: "Bytes the vserver read from and wrote to block devices since it started.")
        var disk = MetricFamily("vserverd_guest_disk_bytes", .gauge, unit: "bytes",
                                help: "Space the vserver's root uses, where the file system accounts it.")
        var diskLimit = MetricFamily("vserverd_guest_disk_limit_bytes", .gauge, unit: "bytes",
                                     help: "The vserver's [disk] space-max, where the file system enforces it.")
        var starts = MetricFamily("vserverd_guest_starts", .counter,
                                  help: "Starts that left the vserver running, since vserverd started.")
        var failedStarts = MetricFamily("vserverd_guest_start_failures", .counter,
                                        help: "Starts that failed, since vserverd started.")
        var stops = MetricFamily("vserverd_guest_stops", .counter,
                                 help: "Stops vserverd made, since vserverd started.")
        var exits = MetricFamily("vserverd_guest_exits", .counter,
                                 help: "Times the vserver's PID 1 ended by itself, since vserverd started.")
        var startDuration = MetricFamily("vserverd_guest_start_duration_seconds", .summary, unit: "seconds",
                                         help: "How long the starts took, hooks included.")
        var stopDuration = MetricFamily("vserverd_guest_stop_duration_seconds", .summary, unit: "seconds",
                                        help: "How long the stops took, hooks included.")
        for guest in metrics.guests {
            let labels = [Label("name", guest.name), Label("context", "\(guest.context)")]
            for each in VServerState.allCases {
                state.add(each == guest.state ? 1 : 0, labels + [Label("state", each.rawValue)])
            }
            if let started = guest.startedAt.flatMap(epochSeconds) { startTime.add(started, labels) }
            if let processes = guest.processes { tasks.add(processes, labels) }
            if let bytes = guest.memoryBytes { memory.add(bytes, labels) }
            if let bytes = guest.memoryPeakBytes { memoryPeak.add(bytes, labels) }
            if let seconds = guest.cpuUserSeconds { cpu.add(seconds, labels + [Label("mode", "user")]) }
            if let seconds = guest.cpuSystemSeconds { cpu.add(seconds, labels + [Label("mode", "system")]) }
            if let bytes = guest.ioReadBytes { io.add(bytes, labels + [Label("direction", "read")]) }
            if let bytes = guest.ioWriteBytes { io.add(bytes, labels + [Label("direction", "write")]) }
            if let bytes = guest.diskBytes { disk.add(bytes, labels) }
            if let bytes = guest.diskLimitBytes { diskLimit.add(bytes, labels) }
            let counts = metrics.counts[guest.name] ?? GuestLifecycleCounts()
            starts.add(counts.starts, labels)
            failedStarts.add(counts.failedStarts, labels)
            stops.add(counts.stops, labels)
            exits.add(counts.exits, labels)
            startDuration.add(counts.startSeconds, labels, suffix: "_sum")
            startDuration.add(counts.starts, labels, suffix: "_count")
            stopDuration.add(counts.stopSeconds, labels, suffix: "_sum")
            stopDuration.add(counts.stops, labels, suffix: "_count")
        }
        return [state, startTime, tasks, memory, memoryPeak, cpu, io, disk, diskLimit, starts, failedStarts, stops,
                exits, startDuration, stopDuration]
    }

    private static func daemonFamilies(_ guests: [VServerInfo], _ daemon: DaemonFigures) -> [MetricFamily] {
        var families: [MetricFamily] = []
        var build = MetricFamily("vserverd_build", .info, help: "The running vserverd.")
        build.add(1, [.init("version", daemon.version)])
        families.append(build)
        var byState = MetricFamily("vserverd_guests", .gauge, help: "Vservers by state.")
        for state in VServerState.allCases {
            byState.add(guests.count { $0.state == state }, [.init("state", state.rawValue)])
        }
        families.append(byState)
        let figures: [(String, MetricFamily.Kind, String?, String, Double?)] = [
            ("vserverd_varlink_connections", .gauge, nil, "Open connections to the control socket.",
             daemon.varlinkConnections.map(Double.init)),
            ("vserverd_process_start_time_seconds", .gauge, "seconds", "When vserverd started, in seconds since the "
                + "epoch.", daemon.startTimeSeconds),
            ("vserverd_process_cpu_seconds", .counter, "seconds", "CPU time vserverd used (user and system).",
             daemon.cpuSeconds),
            ("vserverd_process_resident_memory_bytes", .gauge, "bytes", "vserverd's resident memory.",
             daemon.residentBytes.map(Double.init)),
            ("vserverd_process_open_fds", .gauge, nil, "File descriptors vserverd has open.",
             daemon.openFDs.map(Double.init)),
            ("vserverd_process_max_fds", .gauge, nil, "vserverd's limit of open file descriptors.",
             daemon.maxFDs.map(Double.init)),
            ("vserverd_process_threads", .gauge, nil, "vserverd's threads.", daemon.threads.map(Double.init)),
        ]
        for (name, kind, unit, help, value) in figures {
            guard let value else { continue }
            var family = MetricFamily(name, kind, unit: unit, help: help)
            family.add(value)
            families.append(family)
        }
        return families
    }

    /// Seconds since the epoch of a `startedAt` ("2026-11-23T18:30:00Z").
    static func epochSeconds(_ timestamp: String) -> Double? {
        let numbers = timestamp.split(whereSeparator: { "-T:Z".contains($0) }).compactMap { Int32($0) }
        guard numbers.count == 6, timestamp.hasSuffix("Z") else { return nil }
        var parts = tm()
        (parts.tm_year, parts.tm_mon, parts.tm_mday) = (numbers[0] - 1900, numbers[1] - 1, numbers[2])
        (parts.tm_hour, parts.tm_min, parts.tm_sec) = (numbers[3], numbers[4], numbers[5])
        return Double(timegm(&parts))
    }
}
