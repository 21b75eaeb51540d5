import Glibc
import VServerConfig
import VServerProtocol

/// Which vserver a host process belongs to (`ps`, `whois`): the one whose pid namespace it is in, found by the
/// namespace inode. A process in a pid namespace nested inside a vserver (a container run by the guest) belongs
/// to the vserver of its nearest ancestor in a namespace we know; so does one whose namespace we may not read
/// (a non-dumpable process when we lack CAP_SYS_PTRACE).
struct ProcessOwners: Sendable {
    /// What the walk up the ancestry needs of a process.
    struct Entry: Sendable, Equatable {
        var parent: Int32
        /// Inode of its pid namespace, nil when it may not be read.
        var namespace: UInt64?
    }

    /// Running vservers by the inode of their pid namespace.
    var byNamespace: [UInt64: ProcessOwner]
    /// The pid namespace of the host (the daemon's own).
    var hostNamespace: UInt64?

    /// The owner of a process, nil for the host's own. `entry` gives parent and namespace of a process, nil once
    /// it is gone. Gives up (host) after 64 levels: nested pid namespaces stop at 32.
    func owner(of pid: Int32, entry: (Int32) -> Entry?) -> ProcessOwner? {
        var current = pid
        for _ in 0..<64 {
            guard let found = entry(current) else { return nil }
            if let namespace = found.namespace {
                if let owner = byNamespace[namespace] { return owner }
                if namespace == hostNamespace { return nil }
            }
            if found.parent <= 0 { return nil }
            current = found.parent
        }
        return nil
    }
}

/// One walk over /proc for `Processes`: every host process, each with its owner.
enum ProcessList {
    /// Processes sorted by PID; only those of `only` when given.
    static func processes(owners: ProcessOwners, only: ProcessOwner? = nil) -> [HostProcess] {
        var parents: [Int32: ProcessOwners.Entry] = [:]
        let entry = { (pid: Int32) -> ProcessOwners.Entry? in
            if let known = parents[pid] { return known }
            let found = ProcFS.processEntry(pid: pid)
            parents[pid] = found
            return found
        }
        var result: [HostProcess] = []
        for pid in ProcessTable.pids() {
            // Most processes are in a known namespace: their parent is only read for the others.
            let namespace = ProcFS.pidNamespace(pid: pid)
            let owner = namespace.flatMap { owners.byNamespace[$0] }
                ?? (namespace != nil && namespace == owners.hostNamespace ? nil : owners.owner(of: pid, entry: entry))
            if let only, owner != only { continue }
            guard let command = ProcFS.command(pid: pid) else { continue }
            result.append(HostProcess(pid: pid, vserver: owner?.name, context: owner?.context, command: command))
        }
        return result.sorted { $0.pid < $1.pid }
    }
}

extension ProcFS {
    /// Parent PID (field 4 of /proc/PID/stat) and pid namespace, nil when the process is gone.
    static func processEntry(pid: Int32) -> ProcessOwners.Entry? {
        guard let stat = try? FileSystem.readText("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else {
            return nil
        }
        // Fields after the last ')' are plain: state, then the parent PID.
        let fields = stat[stat.index(after: close)...].split(separator: " ", maxSplits: 2)
        guard fields.count > 1, let parent = Int32(fields[1]) else { return nil }
        return ProcessOwners.Entry(parent: parent, namespace: pidNamespace(pid: pid))
    }

    /// The command line as ps shows it: arguments joined by spaces, or "[comm]" for a kernel thread (or a
    /// zombie). nil when the process is gone.
    static func command(pid: Int32) -> String? {
        if let bytes = try? FileSystem.readBytes("/proc/\(pid)/cmdline").bytes, !bytes.isEmpty {
            // Empty arguments inside stay (as spaces); trailing ones are the NUL padding of a process that
            // rewrote its argv (busybox init).
            var arguments = bytes.split(separator: 0, omittingEmptySubsequences: false)[...]
            while arguments.last?.isEmpty == true { arguments = arguments.dropLast() }
            return arguments.map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
        }
        guard let comm = try? FileSystem.readText("/proc/\(pid)/comm") else { return nil }
        return "[\(comm.hasSuffix("\n") ? String(comm.dropLast()) : comm)]"
    }
}

/// The processes of the host: the one walk over /proc (`ps`, `whois`, `list`), and what they use. `list` for 1000
/// vservers sums up processes and memory per pid namespace in one walk, never one per guest.
enum ProcessTable {
    struct Usage: Sendable, Equatable {
        var processes = 0
        /// The kernel's count for its memory cgroup where it has one, else the sum of resident memory.
        var residentBytes: UInt64 = 0
        /// The rest only where its cgroups count it (CgroupStatistics).
        var memoryPeakBytes: UInt64?
        var cpuUserMicroseconds: UInt64?
        var cpuSystemMicroseconds: UInt64?
        var ioReadBytes: UInt64?
        var ioWriteBytes: UInt64?
    }

    /// Every process of the host (as /proc lists them now), unsorted.
    static func pids(procRoot: String = "/proc") -> [Int32] {
        FileSystem.entries(procRoot).compactMap { Int32($0) }
    }

    /// Usage of the processes inside the given pid namespaces (by namespace inode).
    static func usage(inPidNamespaces wanted: Set<UInt64>) -> [UInt64: Usage] {
        guard !wanted.isEmpty else { return [:] }
        var result: [UInt64: Usage] = [:]
        for pid in pids() {
            guard let namespace = ProcFS.pidNamespace(pid: pid), wanted.contains(namespace) else { continue }
            var usage = result[namespace] ?? Usage(cpuUserMicroseconds: 0, cpuSystemMicroseconds: 0)
            usage.processes += 1
            if let stat = processStat(pid: pid) {
                usage.residentBytes += stat.residentBytes
                usage.cpuUserMicroseconds? += stat.userMicroseconds
                usage.cpuSystemMicroseconds? += stat.systemMicroseconds
            }
            result[namespace] = usage
        }
        return result
    }

    /// What /proc/PID/stat says of a process's memory and CPU time, its waited-for children's included: one read
    /// per process gives `list` both (the guest's cgroup2 cpu.stat would be one more read per guest, ~50 µs each).
    /// nil when it is gone.
    static func processStat(pid: Int32, procRoot: String = "/proc")
        -> (residentBytes: UInt64, userMicroseconds: UInt64, systemMicroseconds: UInt64)?
    {
        let path = "\(procRoot)/\(pid)/stat"
        // Parsed in place from one read into the stack: `list` reads one per guest process, and splitting the text
        // into Strings cost three times what the kernel takes to write it.
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1024) { buffer in
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return nil }
            let count = read(fd, buffer.baseAddress, buffer.count)
            close(fd)
            guard count > 0 else { return nil }
            let bytes = UnsafeBufferPointer(rebasing: buffer[..<count])
            // After the command's ')': state (field 3) first; utime, stime, cutime, cstime are 14-17, rss 24.
            guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
            var times: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
            var pages: UInt64?
            var field = 2
            var index = close + 1
            while index < bytes.count && field < 24 {
                while index < bytes.count && bytes[index] == UInt8(ascii: " ") { index += 1 }
                field += 1
                var value: UInt64 = 0
                while index < bytes.count && bytes[index] != UInt8(ascii: " ") {
                    value = value &* 10 &+ UInt64(bytes[index] &- UInt8(ascii: "0"))
                    index += 1
                }
                switch field {
                case 14: times.0 = value
                case 15: times.1 = value
                case 16: times.2 = value
                case 17: times.3 = value
                case 24: pages = value
                default: break
                }
            }
            guard let pages else { return nil }
            let tick = 1_000_000 / clockTicks
            return (pages * pageSize, (times.0 + times.2) * tick, (times.1 + times.3) * tick)
        }
    }

    private static let clockTicks = UInt64(max(1, sysconf(Int32(_SC_CLK_TCK))))

    /// Usage of the given processes (a cgroup's): `memoryBytes` when the kernel counts it, else their resident memory.
    static func usage(of pids: [Int32], memoryBytes: UInt64?, procRoot: String = "/proc") -> Usage {
        Usage(processes: pids.count,
              residentBytes: memoryBytes ?? pids.reduce(0) { $0 + residentBytes(pid: $1, procRoot: procRoot) })
    }

    /// Resident memory of one process from /proc/PID/statm ("size resident shared ..." in pages); 0 when gone.
    static func residentBytes(pid: Int32, procRoot: String = "/proc") -> UInt64 {
        guard let statm = try? FileSystem.readText("\(procRoot)/\(pid)/statm"),
              let pages = statm.split(separator: " ").dropFirst().first.flatMap({ UInt64($0) })
        else { return 0 }
        return pages * pageSize
    }

    private static let pageSize = UInt64(sysconf(Int32(_SC_PAGESIZE)))
}
