/// Mounts that hand a guest a piece of the host (docs/ARCHITECTURE.md §7): allowed, since an admin may mean them, but
/// `vserverctl check` warns about each.
package enum MountWarnings {
    /// Why binding `source` into a guest reaches the host, or nil: the host's whole tree, its runtime state (the
    /// sockets of systemd, D-Bus and vserverd), or its kernel's interfaces, which a guest's /proc and /sys mask and
    /// keep read-only. A source with a symlink on its way (`/var/run`) is refused before this (`MountSpec`).
    package static func bindSourceProblem(_ path: String) -> String? {
        switch path {
        case "/":
            return "binds the host's whole file system into the guest"
        case "/run":
            return "binds the host's /run (the sockets of systemd, D-Bus and vserverd) into the guest"
        default:
            for interface in ["/proc", "/sys"] where path == interface || path.hasPrefix(interface + "/") {
                return "binds the host's \(path) into the guest, past the masks and read-only paths of its own "
                    + interface
            }
            return nil
        }
    }

    /// Why mounting a file system of `type` reaches the host, or nil.
    package static func typeProblem(_ type: String) -> String? {
        switch type {
        case "cgroup", "cgroup2":
            return "mounts the host's cgroup hierarchy (its limits, and with cgroup v1 release_agent: CVE-2022-0492); "
                + "vserverd mounts the guest's own cgroup on /sys/fs/cgroup"
        case "debugfs", "tracefs":
            return "mounts the host kernel's \(type) (kernel internals, tracing of every process)"
        case "bpf":
            return "mounts the host's BPF file system (pinned programs and maps of the host)"
        default:
            return nil
        }
    }
}
