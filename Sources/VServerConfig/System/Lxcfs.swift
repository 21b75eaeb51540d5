import Glibc

/// `[resources] lxcfs = true`: lxcfs's files bound over the guest's /proc, as LXC does, so that free, top and uptime
/// inside show the guest's memory limit, CPUs and load rather than the host's. lxcfs (Debian package `lxcfs`, a FUSE
/// file system) answers each read with the figures of the reader's cgroups.
package enum Lxcfs {
    package static let defaultDirectory = "/var/lib/lxcfs"

    /// The files of its proc/ that LXC binds.
    static let procFiles = ["cpuinfo", "diskstats", "loadavg", "meminfo", "slabinfo", "stat", "swaps", "uptime"]

    package struct Missing: Error, CustomStringConvertible {
        package var directory: String

        package var description: String {
            "lxcfs = true needs lxcfs mounted on \(directory) (apt install lxcfs; its service mounts "
                + "\(defaultDirectory)), and \(directory)/proc/meminfo is not there"
        }
    }

    /// Why lxcfs cannot be used from `directory`; nil when it is mounted there.
    package static func missing(in directory: String) -> Missing? {
        FileSystem.exists("\(directory)/proc/meminfo") ? nil : Missing(directory: directory)
    }

    /// Bind mounts of the files lxcfs offers in `directory`/proc onto /proc inside; this lxcfs's (versions differ).
    package static func procMounts(in directory: String) throws(Missing) -> [VServerConfig.Mount] {
        if let missing = missing(in: directory) { throw missing }
        return procFiles.filter { FileSystem.exists("\(directory)/proc/\($0)") }.map { file in
            VServerConfig.Mount(source: "\(directory)/proc/\(file)", target: "/proc/\(file)", type: nil,
                                flags: UInt(MS_BIND), data: nil, origin: "[resources] lxcfs")
        }
    }
}
