import Glibc
import VServerConfig

/// `[resources]` outside systemd (docs/ARCHITECTURE.md §4): vserverd writes the limits into the guest's cgroups
/// itself. A controller that the guests' cgroup2 parent offers takes them in the guest's own cgroup
/// (`vserver-NAME`); on a hybrid host every v1 hierarchy a limit needs gets a `vserver-NAME` of its own, which PID 1
/// joins first thing (a fork bomb must not outrun its pids limit). Under systemd the scope's properties do it all.
enum CgroupLimits {
    /// One value for one cgroup file.
    struct Write: Equatable, CustomStringConvertible {
        var file: String
        var value: String

        var description: String { "\(file) = \(value)" }
    }

    /// A v1 cgroup's limits are CFS bandwidth per this period (the kernel's and systemd's default).
    static let cpuPeriodMicroseconds: UInt64 = 100_000

    /// Every controller a limit may need, in the order they are written.
    static let allControllers = ["memory", "cpu", "cpuset", "pids", "io"]

    /// The cgroup2 controllers the set limits need, in a fixed order.
    static func controllers(_ resources: ResourceSettings) -> [String] {
        var needed: [String] = []
        for key in ResourceKey.allCases {
            guard let controller = CgroupHost.controller(of: key), key.describe(resources) != nil,
                  !(key == .pidsMax && resources.pidsMax == nil), !needed.contains(controller)
            else { continue }
            needed.append(controller)
        }
        return needed
    }

    /// cgroup2 files of `controller`. A start writes the set limits only; a live change (`resetting`) every file, so
    /// that a limit taken away goes back to the kernel's default.
    static func unifiedWrites(_ resources: ResourceSettings, controller: String, resetting: Bool) -> [Write] {
        func bytes(_ value: UInt64?) -> String { value.map(String.init) ?? "max" }
        var writes: [(file: String, value: String, isSet: Bool)] = []
        switch controller {
        case "memory":
            writes = [("memory.max", bytes(resources.memoryMax), resources.memoryMax != nil),
                      ("memory.high", bytes(resources.memoryHigh), resources.memoryHigh != nil),
                      ("memory.swap.max", bytes(resources.swapMax), resources.swapMax != nil)]
        case "cpu":
            let quota = resources.cpuMaxPercent.map { String($0 * cpuPeriodMicroseconds / 100) } ?? "max"
            writes = [("cpu.max", "\(quota) \(cpuPeriodMicroseconds)", resources.cpuMaxPercent != nil),
                      ("cpu.weight", String(resources.cpuWeight ?? 100), resources.cpuWeight != nil)]
        case "cpuset":
            writes = [("cpuset.cpus", resources.cpuset ?? "", resources.cpuset != nil)]
        case "io":
            writes = [("io.weight", "default \(resources.ioWeight ?? 100)", resources.ioWeight != nil)]
        case "pids":
            writes = [("pids.max", bytes(resources.pidsMax), resources.pidsMax != nil)]
        default:
            break
        }
        return writes.filter { $0.isSet || resetting }.map { Write(file: $0.file, value: $0.value) }
    }

    /// v1 files of the hierarchy of `controller` (its v1 name: blkio for io). memory.memsw (memory + swap) must
    /// never be below memory.limit_in_bytes: it is lifted first and set last.
    static func legacyWrites(_ resources: ResourceSettings, controller: String, resetting: Bool,
                             ioWeightFile: String = "blkio.bfq.weight") -> [Write] {
        func bytes(_ value: UInt64?) -> String { value.map(String.init) ?? "-1" }
        var writes: [(file: String, value: String, isSet: Bool)] = []
        switch controller {
        case "memory":
            let swapSet = resources.swapMax != nil
            let memsw = resources.swapMax.flatMap { swap in resources.memoryMax.map { $0 + swap } }
            writes = [("memory.memsw.limit_in_bytes", "-1", swapSet),
                      ("memory.limit_in_bytes", bytes(resources.memoryMax), resources.memoryMax != nil),
                      ("memory.soft_limit_in_bytes", bytes(resources.memoryHigh), resources.memoryHigh != nil),
                      ("memory.memsw.limit_in_bytes", bytes(memsw), swapSet)]
        case "cpu":
            let quota = resources.cpuMaxPercent.map { String($0 * cpuPeriodMicroseconds / 100) } ?? "-1"
            writes = [("cpu.cfs_period_us", String(cpuPeriodMicroseconds), resources.cpuMaxPercent != nil),
                      ("cpu.cfs_quota_us", quota, resources.cpuMaxPercent != nil),
                      ("cpu.shares", String(shares(weight: resources.cpuWeight)), resources.cpuWeight != nil)]
        case "cpuset":
            writes = [("cpuset.cpus", resources.cpuset ?? "", resources.cpuset != nil)]
        case "blkio":
            writes = [(ioWeightFile, String(blkioWeight(resources.ioWeight)), resources.ioWeight != nil)]
        case "pids":
            writes = [("pids.max", resources.pidsMax.map(String.init) ?? "max", resources.pidsMax != nil)]
        default:
            break
        }
        return writes.filter { $0.isSet || resetting }.map { Write(file: $0.file, value: $0.value) }
    }

    /// cpu.weight 100 (cgroup2's default) is cpu.shares 1024 (v1's), as systemd converts them.
    static func shares(weight: UInt64?) -> UInt64 {
        max(2, min(262_144, (weight ?? 100) * 1024 / 100))
    }

    /// io.weight 1..10000 (default 100) to blkio weights 10..1000 (default 500)... as systemd scales them: the
    /// default maps to the default, and each end to its end.
    static func blkioWeight(_ weight: UInt64?) -> UInt64 {
        let weight = weight ?? 100
        if weight <= 100 { return 10 + (weight - 1) * 490 / 99 }
        return 500 + (weight - 100) * 500 / 9900
    }

    /// Writes `writes` in order into `directory`; the first failure names file and value.
    static func apply(_ writes: [Write], in directory: String) throws(SystemError) {
        for write in writes {
            do throws(SystemError) {
                try FileSystem.writeKernelFile("\(directory)/\(write.file)", write.value)
            } catch {
                throw SystemError(call: "write \(write.value) to", path: error.path, errno: error.errno)
            }
        }
    }

    /// Writes `controller`'s limits into the guest's own cgroup2 cgroup when the guests' parent offers that
    /// controller (turned on there first); false when it does not, and they go to a v1 hierarchy instead.
    static func applyUnified(_ resources: ResourceSettings, controller: String, own: GuestCgroup?, parent: String?,
                             resetting: Bool) throws(SystemError) -> Bool {
        guard let own, own.isOwn, let parent, try enableController(controller, in: parent) else { return false }
        try apply(unifiedWrites(resources, controller: controller, resetting: resetting), in: own.directory)
        return true
    }

    /// Turns `controller` on for the children of the cgroup2 cgroup `parent`; false when the hierarchy does not
    /// offer it there. A cgroup that holds processes itself cannot (EBUSY): point --cgroup-parent elsewhere.
    static func enableController(_ controller: String, in parent: String) throws(SystemError) -> Bool {
        guard CgroupHost.names(in: "\(parent)/cgroup.controllers").contains(controller) else { return false }
        let control = "\(parent)/cgroup.subtree_control"
        if CgroupHost.names(in: control).contains(controller) { return true }
        do throws(SystemError) {
            try FileSystem.writeKernelFile(control, "+\(controller)")
        } catch where error.errno == EBUSY {
            throw SystemError(call: "write +\(controller) (the cgroup holds processes itself: give vserverd a "
                                + "--cgroup-parent without any) to", path: control, errno: EBUSY)
        }
        return true
    }
}
