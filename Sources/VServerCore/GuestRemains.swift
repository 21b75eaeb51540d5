import Glibc
import VServerConfig

/// What a guest leaves on the host besides its namespaces, which the kernel ends with its last process: its cgroups,
/// its veth and the addresses vserverd added for it. Removed when it ends, and after a restart of vserverd for the
/// guests the previous one lost while they ended or were being started (docs/ARCHITECTURE.md §8).
extension Manager {
    /// A start that the previous vserverd died in (its `GuestLaunch`): a PID 1 it cloned but never recorded is
    /// killed with everything in the guest's cgroup, what the start made is removed, and the post-stop hooks run,
    /// as the pre-start hooks may have.
    func undoInterruptedStart(_ launch: GuestLaunch) async {
        let name = launch.name
        let config = configs.configs[name]
            ?? VServerConfig.leftover(name: name, context: launch.context, root: launch.root)
        let killed = await removeRemains(config, context: launch.context, addresses: launch.addedAddresses,
                                         device: launch.addressDevice)
        await hooks.runLoggingFailures(.postStop, for: config)
        stateStore.remove(name)
        let reason = "its start was cut short when vserverd ended; undone"
        let processes = killed == 0 ? "" : " (\(killed) of its processes killed)"
        logger.notice("\(reason)\(processes)", metadata: logMetadata(name))
        if configs.configs[name] != nil || configs.invalid[name] != nil {
            setState(name, .stopped(reason: reason))
        }
    }

    /// Kills whatever still runs in the guest's cgroups (nothing, when its PID 1 ended), removes the cgroups vserverd
    /// made (systemd removes an empty scope itself), its veth, and the added addresses no running guest claims.
    /// Returns how many processes were killed.
    @discardableResult
    func removeRemains(_ config: VServerConfig, context: Int, addresses: [InterfaceAddress], device: String?) async
        -> Int
    {
        let name = config.name
        let unified = cgroupParent.map { [Path.join($0, GuestCgroup.ownName(name))] } ?? []
        let scope = options.placement == nil ? []
            : [GuestCgroup.Mounts.host.unified].compactMap { $0 }
                .map { "\($0)/\(GuestCgroup.scopeSlice)/\(GuestCgroup.scopeName(name))" }
        let legacy = CgroupHost.current.legacyMounts.map { controller, mount in
            Path.join(LegacyCgroups.parent(controller: controller, mount: mount, parentPath: options.cgroupParent),
                      GuestCgroup.ownName(name))
        }
        var killed = 0
        for directory in unified + scope where FileSystem.exists(directory) {
            let cgroup = GuestCgroup(directory: directory)
            killed += cgroup.pids().count
            do {
                try await onBlockingThread { try cgroup.killAll() }
            } catch {
                logger.warning("\(error)", metadata: logMetadata(name))
            }
        }
        for directory in unified + legacy where FileSystem.exists(directory) {
            do {
                try await onBlockingThread { try GuestCgroup(directory: directory).remove() }
            } catch {
                logger.warning("\(error)", metadata: logMetadata(name))
            }
        }
        releaseNetwork(config, context: context, addresses: addresses, device: device)
        return killed
    }

    /// Its veth (the kernel would remove it with the network namespace, but later: a restart needs the name now) and
    /// the addresses vserverd added that no other running guest has.
    func releaseNetwork(_ config: VServerConfig, context: Int, addresses: [InterfaceAddress], device: String?) {
        if VethNetwork(config) != nil {
            VethNetwork.tearDown(VethNetwork.hostInterfaceName(context: context))
        }
        if let device {
            let unclaimed = addresses.filter { runningClaimant(of: $0.address, besides: config.name) == nil }
            BoundGuestNetwork.removeAddresses(unclaimed, device: device)
        }
    }
}

extension GuestCgroup {
    /// SIGKILL to every process in it and below (cgroup.kill), then waits up to `patience` until the kernel has
    /// taken them all out.
    func killAll(patience: Duration = .seconds(10)) throws(SystemError) {
        try FileSystem.writeKernelFile("\(directory)/cgroup.kill", "1")
        let deadline = ContinuousClock.now + patience
        while (try? FileSystem.readText("\(directory)/cgroup.events"))?.contains("populated 1") == true {
            guard ContinuousClock.now < deadline else {
                throw SystemError("wait for an empty cgroup", path: directory, errno: EBUSY)
            }
            usleep(1000)
        }
    }
}
