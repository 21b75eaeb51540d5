import VServerConfig
import VServerProtocol

extension Manager {
    /// Usage of every running guest by pid namespace inode. Processes and memory come from the guest's own cgroup
    /// when the memory controller accounts it, else from one walk over /proc for all the others (per guest, a few
    /// reads of its cgroup plus one of each of its processes cost more than its share of one walk: 94 against 38 ms
    /// for 1000 guests); then what its cgroups count is added (CgroupStatistics).
    func guestUsage() -> [UInt64: ProcessTable.Usage] {
        var usage: [UInt64: ProcessTable.Usage] = [:]
        var uncounted = Set<UInt64>()
        for state in states.values {
            guard let guest = state.guest, let pidNamespace = guest.record.namespaces["pid"] else { continue }
            if let cgroup = guest.cgroup, cgroup.accountsMemory {
                usage[pidNamespace] = cgroup.usage()
            } else {
                uncounted.insert(pidNamespace)
            }
        }
        usage.merge(ProcessTable.usage(inPidNamespaces: uncounted)) { fromCgroup, _ in fromCgroup }
        for state in states.values {
            guard let guest = state.guest, let pidNamespace = guest.record.namespaces["pid"],
                  var used = usage[pidNamespace]
            else { continue }
            CgroupStatistics.add(cgroup: guest.cgroup, legacy: guest.legacyCgroups, to: &used)
            usage[pidNamespace] = used
        }
        return usage
    }

    /// Usage of one running guest (Get): from its cgroup's processes, not a walk over all of /proc, which costs
    /// ~10 ms on a host of 1000 guests and holds up every start and stop meanwhile (they wait on the same actor).
    func guestUsage(of name: String) -> [UInt64: ProcessTable.Usage] {
        guard let guest = states[name]?.guest, let pidNamespace = guest.record.namespaces["pid"] else { return [:] }
        var used = guest.cgroup?.usage()
            ?? ProcessTable.usage(inPidNamespaces: [pidNamespace])[pidNamespace] ?? ProcessTable.Usage()
        CgroupStatistics.add(cgroup: guest.cgroup, legacy: guest.legacyCgroups, to: &used)
        return [pidNamespace: used]
    }
}
