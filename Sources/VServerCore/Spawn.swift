import CVServerSpawn
import Glibc
import VServerConfig
import VServerProtocol

/// PID 1 of a freshly started vserver.
struct SpawnedGuest: Sendable {
    var pid: Int32
    var pidfd: Int32
    /// The master of its console pty, or -1: the host had no pty left (its console is /dev/null).
    var console: Int32
    /// The masters of its /dev/tty1..N.
    var ttys: [Int32]
    /// Why its root could not be idmapped (it was bound as it is), or nil.
    var idmapError: SystemError?
}

/// What a start decided beside the config, from the host and the guest's tree: how PID 1 is run and set up.
struct SpawnPlan: Sendable {
    /// The directory of the guest's own cgroup (vserverd's, outside systemd), to clone PID 1 into; or -1.
    var cgroupFD: Int32 = -1
    /// VS_CGROUP_*: what goes on its /sys/fs/cgroup (when held: what to use if it got a cgroup of its own).
    var cgroupMount: Int32 = Int32(VS_CGROUP_NONE)
    /// Show the root (and bind sources) through an idmapped mount of its user namespace.
    var idmap = false
    /// tmpfs on /run and /run/lock.
    var mountRun = false
    /// How many /dev/ttyN ptys besides the console (for the gettys of a sysvinit guest).
    var ttyCount = 0
    /// Bound over its /proc once that is mounted: lxcfs's files (`[resources] lxcfs`).
    var procMounts: [VServerConfig.Mount] = []
    /// `tasks` of its cgroups in the v1 hierarchies (its limits on a hybrid host), which PID 1 joins first thing.
    var legacyTasksFDs: [Int32] = []
}

/// Turns a validated config into the one C struct the spawn shim takes (`struct vs_spawn_config`) and
/// runs it. Every string the child needs is allocated here, before clone: the child must not allocate.
enum Spawner {
    /// The environment every guest init starts with; the config's `environment` adds to it and wins.
    /// `container=` is how systemd (and other inits) learn they run in a container.
    static let baseEnvironment = [
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "container": "vserverd",
    ]

    static func environmentVariables(of config: VServerConfig) -> [String: String] {
        baseEnvironment.merging(config.environment) { _, configured in configured }
    }

    static func environment(of config: VServerConfig) -> [String] {
        environmentVariables(of: config)
            .sorted { $0.key < $1.key }
            .map { "\($0.key)=\($0.value)" }
    }

    /// argv of PID 1 and the fd to exec instead of argv[0] (the stub init's memfd), or -1.
    static func program(of config: VServerConfig, stubInit: StubInit?) throws(ManagerError)
        -> (argv: [String], execFD: Int32)
    {
        switch (config.entry, config.initStyle) {
        case (.initProgram(let program), let style) where !style.runsBootScripts:
            return (program, -1)
        default:
            guard let stubInit else {
                throw .startFailed(name: config.name, step: "stub init",
                                   reason: "vserverd-init was not found; it is needed for `command` and "
                                       + "init-style = \"sysv\" or \"rc\"")
            }
            return (stubInitArguments(of: config), stubInit.fd)
        }
    }

    /// vserverd-init's argv (Sources/vserverd-init/main.c says what each form does).
    static func stubInitArguments(of config: VServerConfig) -> [String] {
        if case .command(let command) = config.entry { return ["vserverd-init", "--"] + command }
        let kill = config.killSequence.numeric
        if config.initStyle == .rc {
            return ["vserverd-init", "--rc", kill, String(config.rcStart.count)] + config.rcStart + config.rcStop
        }
        return ["vserverd-init", "--runlevels", config.startRunlevel, config.stopRunlevel, kill]
    }

    /// Clones the guest and waits until its init was exec'd; blocks, so call it from a blocking thread.
    /// With `whileHeld`, PID 1 waits before its exec until `whileHeld(pid)` has returned (vs_spawn_hold) what to
    /// mount on its /sys/fs/cgroup (VS_CGROUP_*). A failing `whileHeld` aborts the start: PID 1 exits without
    /// running anything and is reaped.
    static func spawn(_ config: VServerConfig, plan: SpawnPlan, stubInit: StubInit?,
                      whileHeld: ((Int32) throws(ManagerError) -> Int32)? = nil) throws(ManagerError)
        -> SpawnedGuest
    {
        var extraCloneFlags: Int32 = 0
        if config.hasPrivateNetwork { extraCloneFlags |= Int32(VS_CLONE_NEWNET) }
        if config.userNamespace { extraCloneFlags |= Int32(VS_CLONE_NEWUSER) }

        let arena = CStringArena()
        let (argv, execFD) = try program(of: config, stubInit: stubInit)
        let mounts = (config.mounts + plan.procMounts).map { mount in
            vs_mount(source: arena.copy(mount.source), target: arena.copy(mount.target),
                     fstype: mount.type.map(arena.copy), flags: mount.flags, data: mount.data.map(arena.copy))
        }
        var limits = config.limits.map { vs_rlimit(resource: $0.resource, soft: $0.soft, hard: $0.hard) }
        // vserverd's own nofile is raised (ResourceLimits.raiseOwnOpenFilesLimit); the guest's is not.
        if !limits.contains(where: { $0.resource == ResourceLimits.openFiles }) {
            let inherited = ResourceLimits.current(ResourceLimits.openFiles)
            limits.append(vs_rlimit(resource: ResourceLimits.openFiles, soft: inherited.soft, hard: inherited.hard))
        }
        let argvPointers = arena.nullTerminated(argv)
        let envPointers = arena.nullTerminated(environment(of: config))

        var spawned = vs_spawned()
        var failure = vs_error()
        var heldFailure: ManagerError?
        let result = mounts.withUnsafeBufferPointer { mountBuffer in
          plan.legacyTasksFDs.withUnsafeBufferPointer { tasksBuffer in
            limits.withUnsafeBufferPointer { limitBuffer in
                argvPointers.withUnsafeBufferPointer { argvBuffer in
                    envPointers.withUnsafeBufferPointer { envBuffer in
                        var spawnConfig = vs_spawn_config(
                            root: arena.copy(config.root),
                            hostname: arena.copy(config.hostname),
                            domainname: config.domainname.map(arena.copy),
                            extra_clone_flags: extraCloneFlags,
                            id_map_base: config.idMapBase,
                            idmap: plan.idmap ? 1 : 0,
                            mounts: mountBuffer.baseAddress,
                            mount_count: mountBuffer.count,
                            proc_mount_count: plan.procMounts.count,
                            mount_run: plan.mountRun ? 1 : 0,
                            cgroup_fd: plan.cgroupFD,
                            cgroup_mount: plan.cgroupMount,
                            timezone_file: config.timezone.map { arena.copy("/usr/share/zoneinfo/\($0)") },
                            rlimits: limitBuffer.baseAddress,
                            rlimit_count: limitBuffer.count,
                            keep_capabilities: config.capabilities,
                            exec_fd: execFD,
                            argv: argvBuffer.baseAddress,
                            envp: envBuffer.baseAddress,
                            tty_count: Int32(plan.ttyCount),
                            seccomp: config.seccomp.spawnValue,
                            nesting: config.nesting ? 1 : 0,
                            legacy_tasks_fds: tasksBuffer.baseAddress,
                            legacy_tasks_count: tasksBuffer.count,
                            time_namespace: config.timeNamespace ? 1 : 0,
                            null_console: config.console == .none ? 1 : 0)
                        guard let whileHeld else { return vs_spawn(&spawnConfig, &spawned, &failure) }
                        var pending = vs_spawn_pending()
                        guard vs_spawn_hold(&spawnConfig, &pending, &failure) == 0 else { return -1 }
                        let cgroupMount: Int32
                        do throws(ManagerError) {
                            cgroupMount = try whileHeld(pending.pid)
                        } catch {
                            heldFailure = error
                            return vs_spawn_abort(&pending)
                        }
                        return vs_spawn_release(&pending, cgroupMount, &spawned, &failure)
                    }
                }
            }
          }
        }
        withExtendedLifetime(arena) {}
        if let heldFailure { throw heldFailure }
        guard result == 0 else {
            let failure = SpawnFailure(failure)
            var reason = failure.description
            if failure.errno == ELOOP, failure.step == "open bind source" || failure.step == "open root",
               let link = FileSystem.firstSymlink(in: failure.path)
            {
                reason = "\(failure.step) \(failure.path): \(link) is a symbolic link; roots and bind sources are "
                    + "opened without following symlinks (docs/ARCHITECTURE.md §7): give the real path"
            }
            throw .startFailed(name: config.name, step: failure.step, reason: reason)
        }
        let idmapError = spawned.idmap_error == 0 ? nil
            : SystemError("idmapped mount of", path: config.root, errno: spawned.idmap_error)
        let ttys = withUnsafeBytes(of: spawned.tty_fds) {
            Array($0.bindMemory(to: Int32.self).prefix(Int(spawned.tty_count)))
        }
        return SpawnedGuest(pid: spawned.pid, pidfd: spawned.pidfd, console: spawned.console_fd, ttys: ttys,
                            idmapError: idmapError)
    }
}
