import CVServerSpawn
import Glibc
import VServerConfig
import VServerProtocol

/// Whether a state file names a guest a restarted vserverd may take over (docs/ARCHITECTURE.md §8). The file is
/// only as good as the directory it lies in, so every claim is checked against the live process: a record must
/// never make vserverd manage, signal or kill a process that is no guest of its own.
enum Readoption {
    enum Verdict {
        /// The guest runs: the pidfd names its PID 1 (the caller owns it).
        case alive(pidfd: Int32)
        /// Its PID 1 is gone (or the PID now names another process that started later).
        case ended
        /// The record cannot be a guest of this vserverd: logged, set aside, the process left alone.
        case refused(String)
    }

    /// What a guest never shares with vserverd: the pid namespace. Read once at start.
    static let ownPidNamespace = ProcFS.pidNamespace(pid: getpid())

    static func check(_ record: GuestRecord, bootID: String? = ProcFS.bootID,
                      ownPidNamespace: UInt64? = ownPidNamespace) -> Verdict {
        if let recorded = record.bootID, recorded != bootID {
            return .refused("written in another boot (boot id \(recorded))")
        }
        guard let pidNamespace = record.namespaces["pid"], let mountNamespace = record.namespaces["mnt"] else {
            return .refused("it records no pid and mount namespace")
        }
        if pidNamespace == ownPidNamespace { return .refused("it records the host's pid namespace") }
        let pidfd = vs_pidfd_open(record.pid)
        guard pidfd >= 0 else { return .ended }
        // Start time and namespaces come from /proc/PID; the pidfd, still alive after reading them, proves the
        // PID was not recycled meanwhile.
        let startTime = try? ProcFS.startTime(pid: record.pid)
        let live = ProcFS.namespaceInodes(pid: record.pid)
        // A pidfd turns readable when its process exits; not even signal 0 goes to a process we may not own.
        var exited = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
        let stillThere = poll(&exited, 1, 0) == 0
        let verdict: Verdict
        if !stillThere || startTime != record.startTime {
            verdict = .ended
        } else if live["pid"] == ownPidNamespace {
            verdict = .refused("PID \(record.pid) is a process of the host's pid namespace")
        } else if live["pid"] != pidNamespace || live["mnt"] != mountNamespace {
            verdict = .refused("PID \(record.pid) is not in the recorded pid and mount namespaces")
        } else {
            return .alive(pidfd: pidfd)
        }
        close(pidfd)
        return verdict
    }
}
