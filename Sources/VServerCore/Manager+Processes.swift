import Glibc
import VServerConfig
import VServerProtocol

/// `Processes`, `Whois` and `Join`: which process is where, and what a client needs to run one inside.
extension Manager {
    /// Vservers whose PID 1 exists (running or being stopped), by pid namespace.
    var processOwners: ProcessOwners {
        var byNamespace: [UInt64: ProcessOwner] = [:]
        for (name, state) in states {
            guard let guest = state.guest, let namespace = guest.record.namespaces["pid"] else { continue }
            byNamespace[namespace] = ProcessOwner(name: name, context: guest.record.context)
        }
        return ProcessOwners(byNamespace: byNamespace, hostNamespace: ProcFS.pidNamespace(pid: getpid()))
    }

    private func owner(ofRunning nameOrContext: String) throws(ManagerError) -> ProcessOwner {
        let name = try resolve(nameOrContext)
        guard let guest = states[name]?.guest else { throw .notRunning(name: name) }
        return ProcessOwner(name: name, context: guest.record.context)
    }

    /// Every process of the host, or only those of one running vserver, sorted by PID. The /proc walk runs
    /// off the actor: on a busy host it takes milliseconds.
    public nonisolated func processes(_ nameOrContext: String?) async throws(ManagerError) -> [HostProcess] {
        let owners = await processOwners
        guard let nameOrContext else { return ProcessList.processes(owners: owners) }
        let only = try await owner(ofRunning: nameOrContext)
        return ProcessList.processes(owners: owners, only: only)
    }

    /// The vserver a host PID belongs to, nil for a process of the host.
    public nonisolated func whois(pid: Int32) async throws(ManagerError) -> ProcessOwner? {
        let owners = await processOwners
        guard pid > 0, let first = ProcFS.processEntry(pid: pid) else { throw .noSuchProcess(pid: pid) }
        // The walk up starts at `pid` itself: its entry was just read.
        let entry = { (next: Int32) in next == pid ? first : ProcFS.processEntry(pid: next) }
        return owners.owner(of: pid, entry: entry)
    }

    /// What `vserverctl enter/exec` needs: PID 1 with its start time, the environment, bounding set and shell
    /// of the config the vserver was started with (not one reloaded since; without `shell`, its root's login shell
    /// from its own /etc/passwd, else /bin/sh -l), and PID 1's cgroup in its own cgroup
    /// (read now: a systemd guest moves itself below the scope): a command run inside counts and is limited
    /// with the vserver, as one started by its init.
    public func joinInfo(_ nameOrContext: String) throws(ManagerError) -> VServerJoinInfo {
        let name = try resolve(nameOrContext)
        guard case .running(let guest) = states[name] else { throw .notRunning(name: name) }
        let procCgroup = (try? FileSystem.readText("/proc/\(guest.pid)/cgroup")) ?? ""
        return VServerJoinInfo(
            pid: guest.pid, startTime: guest.record.startTime,
            environment: Spawner.environmentVariables(of: guest.config),
            capabilities: guest.config.capabilities,
            shell: guest.config.shell ?? GuestFiles.loginShell(pid: guest.pid) ?? VServerConfig.defaultShell,
            cgroup: GuestCgroup(procCgroup: procCgroup, name: name)?.processDirectory,
            seccomp: guest.config.seccomp.rawValue,
            legacyCgroups: LegacyCgroups.of(procCgroup: procCgroup, name: name).processDirectories.values.sorted())
    }
}
