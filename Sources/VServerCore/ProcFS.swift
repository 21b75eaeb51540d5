import Glibc
import VServerConfig
import VServerProtocol

/// What the daemon reads from /proc about a process.
enum ProcFS {
    /// Field 22 of /proc/PID/stat (clock ticks after boot): with the PID it names one process for good,
    /// so a recycled PID is never mistaken for a guest.
    static func startTime(pid: Int32) throws -> UInt64 {
        let path = "/proc/\(pid)/stat"
        // fields[0] is field 3 (state), so field 22 is fields[19].
        guard let fields = try statFields(FileSystem.readText(path)), fields.count > 19,
              let ticks = UInt64(fields[19])
        else { throw SystemError("parse", path: path, errno: EINVAL) }
        return ticks
    }

    /// The fields of a /proc/PID/stat text from field 3 (state) on. The command name (field 2) may hold spaces and
    /// ')': fields after the last ')' are plain. nil without one.
    static func statFields(_ stat: String) -> [Substring]? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: close)...].split(whereSeparator: { $0 == " " || $0 == "\n" })
    }

    /// Field 52 of /proc/PID/stat (the wait status) while PID is a zombie that is the process started at
    /// `startTime`; nil when it is not (still running, reaped, or the PID was reused).
    static func zombieExitCode(pid: Int32, startTime: UInt64) -> Int32? {
        guard let stat = try? FileSystem.readText("/proc/\(pid)/stat"), let fields = statFields(stat) else {
            return nil
        }
        // fields[0] is field 3 (state); field 22 (start time) is fields[19], field 52 (exit code) fields[49].
        guard fields.count > 49, fields[0] == "Z", UInt64(fields[19]) == startTime else { return nil }
        return Int32(fields[49])
    }

    static let namespaceKinds = ["mnt", "pid", "uts", "ipc", "net", "user", "cgroup"]

    /// This boot's id: a state file written in another boot names no process of this one. nil when unreadable.
    static let bootID: String? = (try? FileSystem.readText("/proc/sys/kernel/random/boot_id"))
        .map { String($0.prefix { $0 != "\n" }) }

    /// Inode of each namespace of a process: equal inodes mean the same namespace.
    static func namespaceInodes(pid: Int32) -> [String: UInt64] {
        var result: [String: UInt64] = [:]
        for kind in namespaceKinds {
            var info = stat()
            if stat("/proc/\(pid)/ns/\(kind)", &info) == 0 { result[kind] = UInt64(info.st_ino) }
        }
        return result
    }

    /// Inode of the pid namespace of a process, nil when it is gone.
    static func pidNamespace(pid: Int32) -> UInt64? {
        var info = stat()
        return stat("/proc/\(pid)/ns/pid", &info) == 0 ? UInt64(info.st_ino) : nil
    }
}
