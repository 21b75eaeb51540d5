import CVServerSpawn
import VServerProtocol
import Glibc
import Logging

/// Start, stop and the end of a guest (DESIGN.md §4). Every step of a start that fails undoes the earlier
/// ones and leaves the vserver `failed` with the reason.
extension Manager {
    public func start(_ nameOrContext: String) async throws(VServerError) -> VServerInfo {
        let name = try resolve(nameOrContext)
        return try await exclusively(name) { () throws(VServerError) in
            if states[name]?.guest != nil { throw .alreadyRunning(name: name) }
            let config = try startableConfig(name)
            setState(name, .starting)
            do throws(VServerError) {
                try await launch(config)
            } catch {
                setState(name, .failed(reason: error.description))
                logger.error("start failed: \(error)", metadata: logMetadata(name))
                throw error
            }
            return info(name)
        }
    }

    public func stop(_ nameOrContext: String, timeout: Int? = nil) async throws(VServerError) -> VServerInfo {
        let name = try resolve(nameOrContext)
        return try await exclusively(name) { () throws(VServerError) in
            guard case .running(let guest) = states[name] else { throw .notRunning(name: name) }
            await stopGuest(guest, timeout: timeout ?? guest.config.stopTimeout)
            return info(name)
        }
    }

    public func restart(_ nameOrContext: String) async throws(VServerError) -> VServerInfo {
        let name = try resolve(nameOrContext)
        if states[name]?.guest != nil { _ = try await stop(name) }
        return try await start(name)
    }

    /// The config to start with, checked against what is running now (DESIGN.md §4 step 1).
    private func startableConfig(_ name: String) throws(VServerError) -> VServerConfig {
        if let error = configs.invalid[name] { throw VServerError(error, name: name) }
        guard let config = configs.configs[name] else { throw .noSuchVServer(name: name) }
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
        try checkLimitsOnlyLower(config)
        return config
    }

    /// `[limits]` may only lower what the host allows (we could not raise them anyway).
    private func checkLimitsOnlyLower(_ config: VServerConfig) throws(VServerError) {
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

    /// pre-start hooks, spawn, state file, post-start hooks; undoes what it did when a step fails.
    private func launch(_ config: VServerConfig) async throws(VServerError) {
        let name = config.name
        try await hooks.run(.preStart, for: config)

        let consoleFD = try openConsoleLog(config)
        defer { close(consoleFD) }
        let stubInit = self.stubInit
        // Under systemd: into its own scope before PID 1 runs anything (GuestPlacement).
        let whileHeld = Self.whileHeld(config, placing: options.placement?.placing(config))
        let spawned: SpawnedGuest
        do {
            spawned = try await onBlockingThread { () throws -> SpawnedGuest in
                try Spawner.spawn(config, stubInit: stubInit, consoleFD: consoleFD, whileHeld: whileHeld)
            }
        } catch let error as VServerError {
            throw error
        } catch {
            throw .internalError("\(error)")
        }

        let guest: RunningGuest
        do {
            let record = GuestRecord(
                name: name, pid: spawned.pid, startTime: try ProcFS.startTime(pid: spawned.pid),
                context: config.context, startedAt: iso8601(time(nil)), root: config.root,
                namespaces: ProcFS.namespaceInodes(pid: spawned.pid))
            guest = RunningGuest(record: record, config: config, pidfd: spawned.pidfd,
                                 exit: try watcher.watch(pidfd: spawned.pidfd))
            try stateStore.save(record)
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
        logger.info("started, PID \(guest.pid)", metadata: logMetadata(name))
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

    private func openConsoleLog(_ config: VServerConfig) throws(VServerError) -> Int32 {
        let path = "\(options.logDirectory)/\(config.name).log"
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o640)
        guard fd >= 0 else {
            throw .startFailed(name: config.name, step: "open console log",
                               reason: SystemError("open", path: path).description)
        }
        // A guest reopens /dev/console (this file) as its own root, which is not the host's with user = true.
        let owner = config.userNamespace ? config.idMapBase : getuid()
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_uid == owner || fchown(fd, owner, owner) == 0 else {
            let error = SystemError("chown", path: path)
            close(fd)
            throw .startFailed(name: config.name, step: "open console log", reason: error.description)
        }
        return fd
    }

    /// The stop sequence: pre-stop hooks, stop-signal, wait up to `timeout`, SIGKILL, then `finish`.
    func stopGuest(_ guest: RunningGuest, timeout: Int) async {
        let name = guest.record.name
        var logger = self.logger
        logger[metadataKey: "vserver"] = "\(name)"
        logger[metadataKey: "vserver_context"] = "\(guest.record.context)"
        setState(name, .stopping(guest))
        await hooks.runLoggingFailures(.preStop, for: guest.config, pid: guest.pid)
        if !guest.signal(guest.config.stopSignal) {
            let error = SystemError("pidfd_send_signal \(guest.config.stopSignalName)", path: "PID \(guest.pid)")
            logger.warning("\(error)")
        }
        if await !guest.exit.wait(timeout: .seconds(timeout)) {
            logger.notice("still running \(timeout) s after \(guest.config.stopSignalName); sending SIGKILL")
            _ = guest.signal(SIGKILL)
            await guest.exit.wait()
        }
        await finish(guest, requested: true)
    }

    /// PID 1 is gone (stopped, or it ended by itself): reap it, run post-stop hooks, drop the state file.
    /// The kernel already ended its pid and mount namespaces: nothing is left on the host.
    private func finish(_ guest: RunningGuest, requested: Bool) async {
        let name = guest.record.name
        // Reap first: no zombie stays behind (PID 1 is our child unless it was re-adopted).
        let status = guest.reap()
        let reason = requested ? nil : status.map(exitDescription) ?? "PID 1 exited"
        setState(name, .stopping(guest))
        // The kernel would remove it with the network namespace, but later: a restart needs the name now.
        if VethNetwork(guest.config) != nil {
            VethNetwork.tearDown(VethNetwork.hostInterfaceName(context: guest.record.context))
        }
        await hooks.runLoggingFailures(.postStop, for: guest.config)
        stateStore.remove(name)
        if let reason {
            logger.notice("\(reason)", metadata: logMetadata(name))
        } else {
            logger.info("stopped", metadata: logMetadata(name))
        }
        setState(name, .stopped(reason: reason))
    }

    /// What runs while PID 1 is held before its exec: its veth pair, then its systemd scope. nil when nothing
    /// has to, so that the start takes the one-step spawn.
    private static func whileHeld(_ config: VServerConfig, placing: (@Sendable (Int32) -> Void)?)
        -> (@Sendable (Int32) throws(VServerError) -> Void)?
    {
        let network = VethNetwork(config)
        if network == nil && placing == nil { return nil }
        let name = config.name
        return { (pid: Int32) throws(VServerError) in
            if let network {
                do throws(SystemError) {
                    try network.setUp(pid: pid)
                } catch {
                    throw .startFailed(name: name, step: "network", reason: "network: \(error)")
                }
            }
            placing?(pid)
        }
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
        try? await exclusively(name) { () throws(VServerError) in
            // A stop that held the lock has already finished this guest.
            guard case .running(let current) = states[name], current === guest else { return }
            await finish(guest, requested: false)
        }
    }

    private func exitDescription(_ code: Int) -> String {
        switch code {
        case 0: "PID 1 exited"
        case 128 + Int(SIGINT): "halted from inside (PID 1 ended by SIGINT)"
        case 128 + Int(SIGHUP): "rebooted from inside (PID 1 ended by SIGHUP); not restarted"
        case 129...: "PID 1 was killed by signal \(code - 128)"
        default: "PID 1 exited with status \(code)"
        }
    }

    // MARK: Re-adoption after a daemon restart (DESIGN.md §8)

    /// Finds the guests a previous vserverd started: alive ones (same PID and start time) are running
    /// again; dead ones get their post-stop hooks and their state file removed.
    public func adoptRunningGuests() async {
        let (records, problems) = stateStore.loadAll()
        for problem in problems { logger.warning("\(problem)") }
        for record in records {
            let config = configs.configs[record.name] ?? VServerConfig.leftover(from: record)
            let pidfd = vs_pidfd_open(record.pid)
            if pidfd >= 0, (try? ProcFS.startTime(pid: record.pid)) == record.startTime,
               let exit = try? watcher.watch(pidfd: pidfd)
            {
                let guest = RunningGuest(record: record, config: config, pidfd: pidfd, exit: exit)
                setState(record.name, .running(guest))
                watchForExit(guest)
                logger.info("re-adopted, PID \(record.pid)", metadata: logMetadata(record.name))
            } else {
                if pidfd >= 0 { close(pidfd) }
                logger.notice("ended while vserverd was not running", metadata: logMetadata(record.name))
                await hooks.runLoggingFailures(.postStop, for: config)
                stateStore.remove(record.name)
                setState(record.name, .stopped(reason: "ended while vserverd was not running"))
            }
        }
    }
}
