import CVServerSpawn
import Glibc
import Logging
import VServerConfig
import VServerProtocol

/// Start, stop and the end of a guest (docs/ARCHITECTURE.md §4). Every step of a start that fails undoes the earlier
/// ones and leaves the vserver `failed` with the reason.
extension Manager {
    public func start(_ nameOrContext: String) async throws(ManagerError) -> VServerInfo {
        let name = try resolve(nameOrContext)
        return try await exclusively(name) { () throws(ManagerError) in
            if states[name]?.guest != nil { throw .alreadyRunning(name: name) }
            let config = try startableConfig(name)
            setState(name, .starting)
            let began = ContinuousClock.now
            var preStartRan = false
            do throws(ManagerError) {
                try await launch(config, preStartRan: &preStartRan)
            } catch {
                let error = Self.withOpenFilesAdvice(error)
                if preStartRan { await hooks.runLoggingFailures(.postStop, for: config) }
                countStart(name, since: began, failed: true)
                setState(name, .failed(reason: error.description))
                logger.error("start failed: \(error)", metadata: logMetadata(name))
                throw error
            }
            countStart(name, since: began, failed: false)
            return info(name)
        }
    }

    public func stop(_ nameOrContext: String, timeout: Int? = nil) async throws(ManagerError) -> VServerInfo {
        let name = try resolve(nameOrContext)
        return try await exclusively(name) { () throws(ManagerError) in
            guard case .running(let guest) = states[name] else { throw .notRunning(name: name) }
            // The routes refuse other values; clamped here too, since a wait of Int.max seconds traps.
            let seconds = min(max(timeout ?? guest.config.stopTimeout, ManagerLimits.stopTimeout.lowerBound),
                              ManagerLimits.stopTimeout.upperBound)
            await stopGuest(guest, timeout: seconds)
            return info(name)
        }
    }

    public func restart(_ nameOrContext: String) async throws(ManagerError) -> VServerInfo {
        let name = try resolve(nameOrContext)
        if states[name]?.guest != nil { _ = try await stop(name) }
        return try await start(name)
    }

    /// A start that ran out of file descriptors names the limit: each running guest holds four of vserverd's (its
    /// pidfd, its console's master and slave, its log; only the pidfd with console = "none"), so a default limit ends
    /// the count long before memory does.
    static func withOpenFilesAdvice(_ error: ManagerError) -> ManagerError {
        guard case .startFailed(let name, let step, let reason) = error,
              reason.contains(String(cString: strerror(EMFILE)))
        else { return error }
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(UInt32(RLIMIT_NOFILE.rawValue)), &limit)
        return .startFailed(name: name, step: step, reason: reason + " (vserverd's limit of \(limit.rlim_cur) open "
            + "files is reached: each running vserver holds 4, 1 with console = \"none\"; raise LimitNOFILE= of "
            + "vserverd.service)")
    }

    /// The config to start with, checked against what is running now (docs/ARCHITECTURE.md §4 step 1).
    private func startableConfig(_ name: String) throws(ManagerError) -> VServerConfig {
        let config = try validConfig(name)
        for dependency in config.after where states[dependency]?.guest == nil {
            throw .dependencyNotRunning(name: name, dependency: dependency)
        }
        // Contexts are unique among configs; a guest started before a reload may still hold this one.
        let holder = states.first { $0.key != name && $0.value.guest?.record.context == config.context }
        if let (other, _) = holder {
            throw .invalidConfig(name: name, file: config.configFile,
                                 reason: "\(config.configFile): context: \(config.context) is in use by running "
                                     + "vserver \(other)")
        }
        for address in config.network.claimedAddresses {
            if let other = runningClaimant(of: address, besides: name) {
                throw .invalidConfig(name: name, file: config.configFile,
                                     reason: "\(config.configFile): network: \(address) is in use by running vserver "
                                         + "\(other)")
            }
        }
        try checkLimitsOnlyLower(config)
        return config
    }

    /// `[limits]` may only lower what the host allows (we could not raise them anyway).
    private func checkLimitsOnlyLower(_ config: VServerConfig) throws(ManagerError) {
        for limit in config.limits {
            var host = rlimit()
            guard getrlimit(__rlimit_resource_t(UInt32(limit.resource)), &host) == 0 else { continue }
            let hostHard = UInt64(host.rlim_max)
            if hostHard != UInt64.max && (limit.hard > hostHard || limit.soft > hostHard) {
                throw .invalidConfig(
                    name: config.name, file: config.configFile,
                    reason: "\(config.configFile): limits.\(limit.name): \(limit.hard) is above the host's hard limit "
                        + "\(hostHard); limits may only lower it")
            }
        }
    }

    /// pre-start hooks, its cgroup, spawn, console, state file, post-start hooks; undoes what it did when a step
    /// fails. `preStartRan` is left true when it failed after the pre-start hooks ran and before PID 1 was recorded:
    /// the caller then runs the post-stop hooks, which undo what pre-start did (a later failure stops the guest with
    /// them).
    private func launch(_ config: VServerConfig, preStartRan: inout Bool) async throws(ManagerError) {
        let name = config.name
        let guestInit = GuestInit.of(config)
        try checkManagerFor(guestInit, config)
        if let problem = config.resourceProblems().first {
            throw .startFailed(name: name, step: "resources", reason: problem)
        }
        if config.hasDiskLimits { try await applyDiskLimits(config.resources, root: config.root, name: name) }
        // The tree may have changed since the configs were loaded: checked again before anything runs.
        try hooks.check(config)
        if let problem = RootBarrier.problem(root: config.root, owner: hooks.trust.owner) {
            throw .startFailed(name: name, step: "check root", reason: "root \(config.root): \(problem)")
        }
        // Until PID 1 is recorded, a failure takes back what the start did (each step below says what).
        var recorded = false
        let boundNetwork = BoundGuestNetwork(config)
        let addedAddresses = try addAddresses(boundNetwork)
        defer {
            if !recorded, let device = boundNetwork?.bound.device {
                BoundGuestNetwork.removeAddresses(addedAddresses, device: device)
            }
        }
        // From here a vserverd that dies leaves this file, and the next one undoes the start (undoInterruptedStart).
        do {
            try stateStore.save(GuestLaunch(name: name, context: config.context, root: config.root,
                                            addedAddresses: addedAddresses,
                                            addressDevice: addedAddresses.isEmpty ? nil : boundNetwork?.bound.device))
        } catch {
            throw .startFailed(name: name, step: "record state", reason: "\(error)")
        }
        defer { if !recorded { stateStore.remove(name) } }
        try await hooks.run(.preStart, for: config)
        CrashPoint.afterPreStart.reached()
        preStartRan = true

        var plan = SpawnPlan()
        plan.mountRun = GuestFiles.isDirectory("/run", root: config.root)
        // A tree already shifted into the guest's id range (chown -R, as before idmapped mounts) is used as it is.
        plan.idmap = config.userNamespace && (try? FileSystem.status(config.root))??.owner != config.idMapBase
        // Writable for a guest whose root may manage cgroups (its own namespaces, or one trusted with mounts).
        let cgroupMount = Int32(config.mayMount ? VS_CGROUP_WRITABLE : VS_CGROUP_READ_ONLY)
        let ownCgroup = try makeOwnCgroup(config)
        defer { if !recorded { try? ownCgroup?.remove() } }
        if let boundNetwork, let ownCgroup { try Self.attach(boundNetwork, to: ownCgroup.directory) }
        if let ownCgroup {
            do throws(SystemError) {
                plan.cgroupFD = try ownCgroup.openDirectory()
            } catch {
                throw .startFailed(name: name, step: "cgroup", reason: "cgroup: \(error)")
            }
            plan.cgroupMount = cgroupMount
        }
        defer { if plan.cgroupFD >= 0 { close(plan.cgroupFD) } }
        let legacyCgroups = try applyLimits(config, ownCgroup: ownCgroup)
        defer { if !recorded { legacyCgroups.remove() } }
        do throws(SystemError) {
            plan.legacyTasksFDs = try legacyCgroups.openTasks()
        } catch {
            throw .startFailed(name: name, step: "resources", reason: "resources: \(error)")
        }
        defer { for fd in plan.legacyTasksFDs { close(fd) } }
        // Every console is a pty of the guest's devpts that vserverd reads into the log (docs/ARCHITECTURE.md §4):
        // systemd writes nothing to a /dev/console that is no terminal, gettys need their ttys, and a host file bound
        // there could be made setuid by the guest's root.
        plan.ttyCount = guestInit == .sysvinit && config.console == .pty
            ? GuestInit.gettyTerminals(root: config.root) : 0
        if config.resources.lxcfs {
            do throws(Lxcfs.Missing) {
                plan.procMounts = try Lxcfs.procMounts(in: options.lxcfsDirectory)
            } catch {
                throw .startFailed(name: name, step: "lxcfs", reason: "\(error)")
            }
        }

        let stubInit = self.stubInit
        let whileHeld = Self.whileHeld(config, placing: options.placement?.placing(config), bound: boundNetwork,
                                       // Outside systemd, only a guest with its own cgroup gets one mounted.
                                       cgroupMount: ownCgroup == nil && options.placement == nil
                                           ? Int32(VS_CGROUP_NONE) : cgroupMount)
        let spawned: SpawnedGuest
        do {
            spawned = try await onBlockingThread { [plan] () throws -> SpawnedGuest in
                try Spawner.spawn(config, plan: plan, stubInit: stubInit, whileHeld: CrashPoint.holding(whileHeld))
            }
        } catch {
            throw error as? ManagerError ?? .internalError("\(error)")
        }
        CrashPoint.afterClone.reached()
        if spawned.console < 0 && config.console == .pty {
            logger.warning("\(Self.noConsolePty)", metadata: logMetadata(name))
        }
        if let idmapError = spawned.idmapError {
            let advice = "its files show with the ids they have on disk; shift them into its range (chown -R "
                + "\(config.idMapBase):\(config.idMapBase) for a tree of root's files) or use a file system that "
                + "supports idmapped mounts"
            logger.warning("\(idmapError): \(advice)", metadata: logMetadata(name))
        }

        let guest: RunningGuest
        do {
            let console = spawned.console < 0 ? nil
                : try consoles.attach(master: spawned.console, ttys: spawned.ttys, logPath: consoleLogPath(name))
            let record = GuestRecord(
                name: name, pid: spawned.pid, startTime: try ProcFS.startTime(pid: spawned.pid),
                context: config.context, startedAt: iso8601(time(nil)), root: config.root,
                namespaces: ProcFS.namespaceInodes(pid: spawned.pid), stop: StopRequest.of(config, init: guestInit),
                ptyConsoleTTYs: spawned.console < 0 ? nil : spawned.ttys.count,
                addedAddresses: addedAddresses,
                addressDevice: addedAddresses.isEmpty ? nil : boundNetwork?.bound.device)
            guest = RunningGuest(record: record, config: config, pidfd: spawned.pidfd,
                                 exit: try watcher.watch(pidfd: spawned.pidfd), console: console)
            CrashPoint.beforeStateFile.reached()
            try stateStore.save(record)
            CrashPoint.afterStateFile.reached()
        } catch {
            // PID 1 exists but cannot be tracked: kill it rather than leave a guest nobody manages.
            vs_pidfd_send_signal(spawned.pidfd, SIGKILL)
            var exited: Int32 = 0
            var code: Int32 = 0
            vs_pidfd_wait(spawned.pidfd, 0, &exited, &code)
            close(spawned.pidfd)
            stateStore.remove(name)
            throw .startFailed(name: name, step: "record state", reason: "\(error)")
        }
        recorded = true
        preStartRan = false
        logger.info("started, PID \(guest.pid) (\(guestInit.rawValue) init)", metadata: logMetadata(name))
        setState(name, .running(guest))
        watchForExit(guest)

        do {
            try await hooks.run(.postStart, for: config, pid: guest.pid)
        } catch {
            logger.error("\(error); stopping it again", metadata: logMetadata(name))
            await stopGuest(guest, timeout: config.stopTimeout)
            throw error
        }
    }

    /// What an init needs from vserverd that not every host or config gives; refused with a reason before anything
    /// runs, rather than a guest that exits at once.
    private func checkManagerFor(_ guestInit: GuestInit, _ config: VServerConfig) throws(ManagerError) {
        if case .bound = config.network, GuestCgroup.Mounts.host.unified == nil {
            throw .startFailed(
                name: config.name, step: "check network",
                reason: "net = \"bound\" holds the guest to its addresses with cgroup BPF programs, which need a "
                    + "cgroup2 hierarchy, and this host has none mounted (on /sys/fs/cgroup or /sys/fs/cgroup/unified)")
        }
        guard guestInit == .systemd else { return }
        if GuestCgroup.Mounts.host.unified == nil {
            throw .startFailed(
                name: config.name, step: "check init",
                reason: "systemd as init needs a cgroup2 hierarchy, and this host has none mounted (on "
                    + "/sys/fs/cgroup or /sys/fs/cgroup/unified)")
        }
        if !config.mayMount {
            throw .startFailed(
                name: config.name, step: "check init",
                reason: "systemd as init mounts file systems: set [namespaces] user = true (recommended), or add "
                    + "CAP_SYS_ADMIN to [capabilities] add (which lets the guest's root reach the host)")
        }
    }

    /// Outside systemd: `vserver-NAME` below vserverd's cgroup (or --cgroup-parent), delegated to the guest. nil
    /// under systemd (its scope comes while PID 1 is held) and on a host without cgroup2.
    private func makeOwnCgroup(_ config: VServerConfig) throws(ManagerError) -> GuestCgroup? {
        guard let parent = cgroupParent else { return nil }
        do throws(SystemError) {
            return try GuestCgroup.create(name: config.name, parent: parent,
                                          owner: config.userNamespace ? config.idMapBase : nil)
        } catch {
            throw .startFailed(name: config.name, step: "cgroup", reason: "cgroup: \(error)")
        }
    }

    /// Outside systemd, `[resources]` (docs/ARCHITECTURE.md §4): written into its own cgroup2 cgroup where the
    /// guests' parent offers the controller, else into `vserver-NAME` of the v1 hierarchy, which are returned (PID 1
    /// joins them while held).
    private func applyLimits(_ config: VServerConfig, ownCgroup: GuestCgroup?) throws(ManagerError) -> LegacyCgroups {
        var legacy = LegacyCgroups()
        guard options.placement == nil else { return legacy }
        do {
            for controller in CgroupLimits.controllers(config.resources) {
                let unified = try CgroupLimits.applyUnified(config.resources, controller: controller, own: ownCgroup,
                                                            parent: cgroupParent, resetting: false)
                if !unified {
                    try legacy.add(controller, resources: config.resources, name: config.name,
                                   parentPath: options.cgroupParent, host: .current)
                }
            }
        } catch {
            legacy.remove()
            throw .startFailed(name: config.name, step: "resources", reason: "resources: \(error)")
        }
        return legacy
    }

    /// `[disk]` on the root's file system (a btrfs qgroup): off the actor, as the first limit on a file system turns
    /// qgroups on, which counts every extent on it.
    func applyDiskLimits(_ resources: ResourceSettings, root: String, name: String) async throws(ManagerError) {
        do {
            try await onBlockingThread {
                try DiskQuota.apply(limitBytes: resources.diskSpaceMax, inodes: resources.diskInodesMax, to: root)
            }
        } catch {
            throw .startFailed(name: name, step: "disk limits", reason: "disk limits: \(error)")
        }
    }

    func consoleLogPath(_ name: String) -> String { "\(options.logDirectory)/\(name).log" }

    static let noConsolePty = "no pty was left on the host for its console (kernel.pty.max, less kernel.pty.reserve "
        + "for containers): its console and PID 1's output go to /dev/null"


    /// The stop sequence: pre-stop hooks, stop-signal, wait up to `timeout`, SIGKILL, then `finish`.
    func stopGuest(_ guest: RunningGuest, timeout: Int) async {
        let name = guest.record.name
        let logger = logger.about(vserver: name, context: guest.record.context)
        let began = ContinuousClock.now
        defer { countStop(name, since: began) }
        setState(name, .stopping(guest))
        await hooks.runLoggingFailures(.preStop, for: guest.config, pid: guest.pid)
        requestStop(guest, logger: logger)
        CrashPoint.afterStopSignal.reached()
        if await !guest.exit.wait(timeout: .seconds(timeout)) {
            logger.notice("still running \(timeout) s after \(guest.stopRequest); sending SIGKILL")
            _ = guest.signal(SIGKILL)
            await guest.exit.wait()
        }
        await finish(guest, requested: true)
    }

    /// Asks PID 1 to shut down the way its init understands (a signal, or sysvinit's runlevel 0).
    private func requestStop(_ guest: RunningGuest, logger: Logger) {
        switch guest.stopRequest {
        case .signal(let signal):
            if !guest.signal(signal.number) {
                logger.warning("\(SystemError("pidfd_send_signal \(signal.name)", path: "PID \(guest.pid)"))")
            }
        case .runlevel(let level):
            do throws(SystemError) {
                try SysvInitControl.requestRunlevel(level, pid: guest.pid)
            } catch {
                // Its init does not listen: SIGINT runs inittab's ctrlaltdel entry, a shutdown -r (which ends it
                // here, as the stop was asked for).
                logger.warning("\(error); sending SIGINT instead")
                _ = guest.signal(SIGINT)
            }
        }
    }

    /// PID 1 is gone (stopped, or it ended by itself): reap it, run post-stop hooks, drop the state file and its
    /// cgroup. The kernel already ended its pid and mount namespaces: nothing else is left on the host. Returns how
    /// PID 1 ended, when it was our child.
    @discardableResult
    private func finish(_ guest: RunningGuest, requested: Bool) async -> ExitStatus? {
        let name = guest.record.name
        // Reap first: no zombie stays behind (PID 1 is our child unless it was re-adopted; then its parent reaps it,
        // which may take a moment: off the actor).
        let exit = guest.adopted ? (try? await onBlockingThread { guest.reap() }) ?? nil : guest.reap(patience: .zero)
        if let console = guest.console { consoles.detach(console) }
        let reason = requested ? nil : Self.endDescription(exit, onReboot: guest.config.onReboot)
        setState(name, .stopping(guest))
        for cgroup in [guest.cgroup].compactMap({ $0 }) + guest.legacyCgroups.cgroups where cgroup.isOwn {
            // The last processes of the namespace may take a moment to go: then remove() waits for them, off the actor.
            do {
                if (try? cgroup.remove(patience: .zero)) == nil {
                    try await onBlockingThread { try cgroup.remove() }
                }
            } catch {
                logger.warning("\(error)", metadata: logMetadata(name))
            }
        }
        releaseNetwork(guest.config, context: guest.record.context, addresses: guest.record.addedAddresses,
                       device: guest.record.addressDevice)
        CrashPoint.beforePostStop.reached()
        await hooks.runLoggingFailures(.postStop, for: guest.config)
        if let reason {
            keepEnd(GuestEnd(name: name, reason: reason, exit: exit))
            logger.notice("\(reason)", metadata: logMetadata(name))
        } else {
            stateStore.remove(name)
            logger.info("stopped", metadata: logMetadata(name))
        }
        setState(name, .stopped(reason: reason, exit: requested ? nil : exit))
        return exit
    }

    /// What runs while PID 1 is held before its exec: its veth pair, then its systemd scope (given to the guest's root
    /// with a user namespace). Returns what the guest gets on /sys/fs/cgroup: `cgroupMount` when it has a cgroup of its
    /// own, else nothing. nil when nothing has to run, so that the start takes the one-step spawn.
    private static func whileHeld(_ config: VServerConfig, placing: (@Sendable (Int32) -> Void)?,
                                  bound: BoundGuestNetwork?, cgroupMount: Int32)
        -> (@Sendable (Int32) throws(ManagerError) -> Int32)?
    {
        let network = VethNetwork(config)
        if network == nil && placing == nil { return nil }
        let name = config.name
        return { (pid: Int32) throws(ManagerError) -> Int32 in
            if let network {
                do throws(SystemError) {
                    try network.setUp(pid: pid)
                } catch {
                    throw .startFailed(name: name, step: "network", reason: "network: \(error)")
                }
            }
            guard let placing else { return cgroupMount }
            placing(pid)
            // A guest left in vserverd's cgroup (its scope failed, which was logged) gets no cgroup mount: it would
            // show vserverd's cgroup.
            guard let scope = GuestCgroup(pid: pid, name: name), !scope.isOwn else {
                // Its programs need a cgroup of its own: vserverd's would bind vserverd too.
                if bound != nil {
                    throw .startFailed(name: name, step: "network", reason: "network: the guest got no systemd scope")
                }
                return Int32(VS_CGROUP_NONE)
            }
            if let bound { try attach(bound, to: scope.directory) }
            if config.userNamespace {
                do throws(SystemError) {
                    try scope.delegate(to: config.idMapBase)
                } catch {
                    throw .startFailed(name: name, step: "cgroup", reason: "cgroup: \(error)")
                }
            }
            return cgroupMount
        }
    }

    /// net = "bound": its addresses on its device (or checked to be the host's), before the pre-start hooks run.
    private func addAddresses(_ network: BoundGuestNetwork?) throws(ManagerError) -> [InterfaceAddress] {
        guard let network else { return [] }
        do throws(SystemError) {
            return try network.addAddresses()
        } catch where error.errno == EADDRNOTAVAIL && network.bound.device == nil {
            throw .startFailed(
                name: network.name, step: "network",
                reason: "network: \(error.call): it is not an address of this host, and [network] device is not set "
                    + "(set it, and vserverd adds the addresses at start)")
        } catch {
            throw .startFailed(name: network.name, step: "network", reason: "network: \(error)")
        }
    }

    private static func attach(_ network: BoundGuestNetwork, to cgroup: String) throws(ManagerError) {
        do throws(SpawnFailure) {
            try network.attachPrograms(toCgroup: cgroup)
        } catch {
            throw .startFailed(name: network.name, step: "network", reason: "network: \(error)")
        }
    }

    /// The running guest other than `name` that has `address`: a start of `name` may not take it, and a stop of
    /// `name` leaves it on the device.
    func runningClaimant(of address: IPAddress, besides name: String) -> String? {
        states.first {
            $0.key != name && $0.value.guest?.config.network.claimedAddresses.contains(address) == true
        }?.key
    }

    /// Notices at once when a guest's PID 1 ends by itself (it ran `halt`, its command exited).
    private func watchForExit(_ guest: RunningGuest) {
        Task { [weak self] in
            await guest.exit.wait()
            await self?.guestExited(guest)
        }
    }

    private func guestExited(_ guest: RunningGuest) async {
        let name = guest.record.name
        try? await exclusively(name) { () throws(ManagerError) in
            // A stop that held the lock has already finished this guest.
            guard case .running(let current) = states[name], current === guest else { return }
            let exit = await finish(guest, requested: false)
            countExit(name)
            guard exit == Self.rebootExit, guest.config.onReboot == .restart else { return }
            // Rebooted from inside: a new PID 1, with its config as it is now, in the same turn of the lock (a stop
            // asked for meanwhile comes after it).
            setState(name, .starting)
            let began = ContinuousClock.now
            var preStartRan = false
            do throws(ManagerError) {
                try await launch(try startableConfig(name), preStartRan: &preStartRan)
                countStart(name, since: began, failed: false)
            } catch {
                if preStartRan { await hooks.runLoggingFailures(.postStop, for: guest.config) }
                countStart(name, since: began, failed: true)
                setState(name, .failed(reason: "start after a reboot from inside: \(error)"))
                logger.error("start after a reboot from inside failed: \(error)", metadata: logMetadata(name))
            }
        }
    }

    /// How a guest ended by itself, in place of its record; when that cannot be written, no record stays behind.
    private func keepEnd(_ end: GuestEnd) {
        do {
            try stateStore.save(end)
        } catch {
            logger.warning("\(error)", metadata: logMetadata(end.name))
            stateStore.remove(end.name)
        }
    }

    /// A reboot() in a pid namespace ends its init as if by SIGHUP; poweroff and halt as if by SIGINT.
    static let rebootExit = ExitStatus(how: .killed, status: Int(SIGHUP))
    static let poweroffExit = ExitStatus(how: .killed, status: Int(SIGINT))

    /// Why a guest stopped by itself, from how its PID 1 ended (nil: not our child, after a daemon restart).
    static func endDescription(_ exit: ExitStatus?, onReboot: VServerConfig.RebootAction) -> String {
        guard let exit else { return "PID 1 ended" }
        switch exit {
        case rebootExit:
            return "rebooted from inside (PID 1 ended by SIGHUP)"
                + (onReboot == .restart ? "; starting again" : "; not started again (on-reboot = \"stop\")")
        case poweroffExit:
            return "powered off or halted from inside (PID 1 ended by SIGINT)"
        default:
            let signal = exit.how == .exited ? ""
                : Int32(exactly: exit.status).flatMap(Signals.name).map { " (\($0))" } ?? ""
            return "PID 1 \(exit)\(signal)"
        }
    }

    // MARK: Re-adoption after a daemon restart (docs/ARCHITECTURE.md §8)

    /// New console ptys for a re-adopted guest: the masters of its old ones closed with the previous vserverd, and a
    /// hung-up console costs systemd a second per message. nil (logged) when that fails: the guest runs on.
    private func reattachConsole(_ record: GuestRecord, pidfd: Int32, ttys: Int) async
        -> ConsoleRelay.Console?
    {
        // As it was started (the config may have changed since): its user namespace is not ours.
        let userNamespace = record.namespaces["user"] != ProcFS.namespaceInodes(pid: getpid())["user"]
        let attached = try? await onBlockingThread { () -> Result<[Int32], SpawnFailure> in
            var masters = [Int32](repeating: -1, count: 1 + Int(VS_MAX_TTYS))
            var failure = vs_error()
            guard vs_console_attach(pidfd, userNamespace ? 1 : 0, Int32(ttys), &masters, &failure) == 0 else {
                return .failure(SpawnFailure(failure))
            }
            return .success(masters)
        }
        let masters: [Int32]
        switch attached {
        case .success(let fds): masters = fds
        case .failure(let error):
            logger.warning("no console: \(error)", metadata: logMetadata(record.name))
            return nil
        case nil: return nil
        }
        do throws(SystemError) {
            return try consoles.attach(master: masters[0], ttys: Array(masters[1..<(1 + ttys)]),
                                       logPath: consoleLogPath(record.name))
        } catch {
            logger.warning("no console: \(error)", metadata: logMetadata(record.name))
            return nil
        }
    }

    /// Finds the guests a previous vserverd started: alive ones (same PID, start time and namespaces, this boot)
    /// are running again; dead ones get their post-stop hooks and their state file removed. A file that cannot be a
    /// record of ours is logged and set aside, and the process it names is left alone.
    public func adoptRunningGuests() async {
        let files = stateStore.loadAll()
        for problem in files.problems {
            logger.warning("\(problem.reason); set aside as \(problem.entry).refused")
            stateStore.setAside(problem.entry)
        }
        for launch in files.launches { await undoInterruptedStart(launch) }
        for end in files.ends where configs.configs[end.name] != nil || configs.invalid[end.name] != nil {
            states[end.name] = .stopped(reason: end.reason, exit: end.exit)
        }
        for record in files.records {
            let config = configs.configs[record.name] ?? VServerConfig.leftover(from: record)
            switch Readoption.check(record) {
            case .alive(let pidfd):
                guard let exit = try? watcher.watch(pidfd: pidfd) else {
                    close(pidfd)
                    logger.error("cannot watch PID \(record.pid); not re-adopted", metadata: logMetadata(record.name))
                    continue
                }
                var console: ConsoleRelay.Console?
                if let ttys = record.ptyConsoleTTYs {
                    console = await reattachConsole(record, pidfd: pidfd, ttys: ttys)
                }
                let guest = RunningGuest(record: record, config: config, pidfd: pidfd, exit: exit, console: console,
                                         adopted: true)
                setState(record.name, .running(guest))
                watchForExit(guest)
                logger.info("re-adopted, PID \(record.pid)", metadata: logMetadata(record.name))
            case .ended:
                let reason = "ended while vserverd was not running"
                logger.notice("\(reason)", metadata: logMetadata(record.name))
                await removeRemains(config, context: record.context, addresses: record.addedAddresses,
                                    device: record.addressDevice)
                await hooks.runLoggingFailures(.postStop, for: config)
                keepEnd(GuestEnd(name: record.name, reason: reason, exit: nil))
                setState(record.name, .stopped(reason: reason))
            case .refused(let why):
                let entry = StateStore.entry(record.name)
                let message = "state file refused: \(why); set aside as \(entry).refused, PID \(record.pid) left alone"
                logger.warning("\(message)", metadata: .vserver(record.name, context: nil))
                stateStore.setAside(entry)
                if configs.configs[record.name] != nil || configs.invalid[record.name] != nil {
                    setState(record.name, .stopped(reason: "state file refused: \(why)"))
                }
            }
        }
    }
}
