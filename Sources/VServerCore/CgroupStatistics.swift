import VServerConfig

/// What the kernel counts for a cgroup, read from its files: CPU time (cgroup2's cpu.stat, there in every cgroup2
/// cgroup, with or without controllers; for guests counted by a walk over /proc, the processes' own times), memory
/// and its peak, and bytes read and written (cgroup2's memory and io files, or the v1 memory and blkio controllers of
/// a hybrid host).
enum CgroupStatistics {
    /// `KEY VALUE` lines (cpu.stat, memory.stat): the values of `keys`.
    static func fields(_ text: String, _ keys: [String]) -> [String: UInt64] {
        var found: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, keys.contains(String(parts[0])), let value = UInt64(parts[1]) else { continue }
            found[String(parts[0])] = value
        }
        return found
    }

    static func number(_ path: String) -> UInt64? {
        (try? FileSystem.readText(path)).flatMap { UInt64($0.trimmingNewline) }
    }

    /// User and system time of a cgroup2 cgroup and all below it, in microseconds.
    static func cpuTime(unified directory: String) -> (user: UInt64, system: UInt64)? {
        guard let text = try? FileSystem.readText("\(directory)/cpu.stat") else { return nil }
        let values = fields(text, ["user_usec", "system_usec"])
        guard let user = values["user_usec"], let system = values["system_usec"] else { return nil }
        return (user, system)
    }

    /// Bytes read and written by a cgroup2 cgroup (io.stat: "MAJ:MIN rbytes=N wbytes=N …" per device).
    static func io(unified directory: String) -> (read: UInt64, write: UInt64)? {
        guard let text = try? FileSystem.readText("\(directory)/io.stat") else { return nil }
        var read: UInt64 = 0
        var written: UInt64 = 0
        for line in text.split(separator: "\n") {
            for field in line.split(separator: " ") {
                if field.hasPrefix("rbytes=") { read += UInt64(field.dropFirst(7)) ?? 0 }
                if field.hasPrefix("wbytes=") { written += UInt64(field.dropFirst(7)) ?? 0 }
            }
        }
        return (read, written)
    }

    /// Bytes read and written by a v1 blkio cgroup and those below it ("MAJ:MIN Read N" lines).
    static func io(legacy directory: String) -> (read: UInt64, write: UInt64)? {
        guard let text = try? FileSystem.readText("\(directory)/blkio.throttle.io_service_bytes_recursive") else {
            return nil
        }
        var read: UInt64 = 0
        var written: UInt64 = 0
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 3, let value = UInt64(parts[2]) else { continue }
            if parts[1] == "Read" { read += value }
            if parts[1] == "Write" { written += value }
        }
        return (read, written)
    }

    /// Adds what `cgroup` (cgroup2) and `legacy` (v1) count to `usage`, which holds the processes and their
    /// resident memory: the kernel's memory figures replace the sum of resident memory.
    static func add(cgroup: GuestCgroup?, legacy: LegacyCgroups, to usage: inout ProcessTable.Usage) {
        if let cgroup {
            // A walk over /proc already summed the processes' times; else the cgroup counts them.
            if usage.cpuUserMicroseconds == nil, let time = cpuTime(unified: cgroup.directory) {
                usage.cpuUserMicroseconds = time.user
                usage.cpuSystemMicroseconds = time.system
            }
            if cgroup.accountsIO, let io = io(unified: cgroup.directory) {
                (usage.ioReadBytes, usage.ioWriteBytes) = (io.read, io.write)
            }
            if cgroup.accountsMemory { usage.memoryPeakBytes = number("\(cgroup.directory)/memory.peak") }
        }
        if let memory = legacy.byController["memory"], usage.memoryPeakBytes == nil,
           let current = number("\(memory.directory)/memory.usage_in_bytes") {
            usage.residentBytes = current
            usage.memoryPeakBytes = number("\(memory.directory)/memory.max_usage_in_bytes")
        }
        if let blkio = legacy.byController["blkio"], usage.ioReadBytes == nil, let io = io(legacy: blkio.directory) {
            (usage.ioReadBytes, usage.ioWriteBytes) = (io.read, io.write)
        }
    }
}
