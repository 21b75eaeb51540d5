import CVServerSpawn
import Glibc

/// PID 1 of a freshly started vserver.
struct SpawnedGuest: Sendable {
    var pid: Int32
    var pidfd: Int32
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

    /// Clones the guest and waits until its init was exec'd; blocks, so call it from a blocking thread.
    /// With `whileHeld`, PID 1 waits before its exec until `whileHeld(pid)` has returned (vs_spawn_hold).
    /// A failing `whileHeld` aborts the start: PID 1 exits without running anything and is reaped.
    static func spawn(_ config: VServerConfig, stubInit: StubInit?, consoleFD: Int32,
                      whileHeld: ((Int32) throws(VServerError) -> Void)? = nil) throws(VServerError)
        -> SpawnedGuest
    {
        var extraCloneFlags: Int32 = 0
        if config.hasPrivateNetwork { extraCloneFlags |= Int32(VS_CLONE_NEWNET) }
        if config.userNamespace { extraCloneFlags |= Int32(VS_CLONE_NEWUSER) }

        let arena = CStringArena()
        let argv: [String]
        var execFD: Int32 = -1
        switch config.entry {
        case .initProgram(let program):
            argv = program
        case .command(let command):
            guard let stubInit else {
                throw .startFailed(name: config.name, step: "stub init",
                                   reason: "vserverd-init was not found; it is needed for `command`")
            }
            execFD = stubInit.fd
            argv = ["vserverd-init", "--"] + command
        }
        let mounts = config.mounts.map { mount in
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
        var heldFailure: VServerError?
        let result = mounts.withUnsafeBufferPointer { mountBuffer in
            limits.withUnsafeBufferPointer { limitBuffer in
                argvPointers.withUnsafeBufferPointer { argvBuffer in
                    envPointers.withUnsafeBufferPointer { envBuffer in
                        var spawnConfig = vs_spawn_config(
                            root: arena.copy(config.root),
                            hostname: arena.copy(config.hostname),
                            extra_clone_flags: extraCloneFlags,
                            id_map_base: config.idMapBase,
                            mounts: mountBuffer.baseAddress,
                            mount_count: mountBuffer.count,
                            timezone_file: config.timezone.map { arena.copy("/usr/share/zoneinfo/\($0)") },
                            rlimits: limitBuffer.baseAddress,
                            rlimit_count: limitBuffer.count,
                            keep_capabilities: config.capabilities,
                            exec_fd: execFD,
                            argv: argvBuffer.baseAddress,
                            envp: envBuffer.baseAddress,
                            console_fd: consoleFD)
                        guard let whileHeld else { return vs_spawn(&spawnConfig, &spawned, &failure) }
                        var pending = vs_spawn_pending()
                        guard vs_spawn_hold(&spawnConfig, &pending, &failure) == 0 else { return -1 }
                        do throws(VServerError) {
                            try whileHeld(pending.pid)
                        } catch {
                            heldFailure = error
                            return vs_spawn_abort(&pending)
                        }
                        return vs_spawn_release(&pending, &spawned, &failure)
                    }
                }
            }
        }
        withExtendedLifetime(arena) {}
        if let heldFailure { throw heldFailure }
        guard result == 0 else {
            let step = cString(of: &failure.step)
            let path = cString(of: &failure.path)
            let text = String(cString: strerror(failure.err))
            // "mount proc on /vservers/web/proc: ...", but "exec /sbin/init: ..." and "setrlimit nofile: ...".
            let reason = path.isEmpty ? "\(step): \(text)"
                : step == "exec" ? "exec \(path): \(text)" : "\(step) on \(path): \(text)"
            throw .startFailed(name: config.name, step: step, reason: reason)
        }
        return SpawnedGuest(pid: spawned.pid, pidfd: spawned.pidfd)
    }
}

/// Reads a fixed-size C char array (a struct field imported as a tuple) as a String.
func cString<T>(of tuple: inout T) -> String {
    withUnsafeBytes(of: &tuple) { raw in
        let bytes = raw.prefix { $0 != 0 }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// C strings that live as long as the arena: what a C struct points to during one call.
final class CStringArena {
    private var pointers: [UnsafeMutablePointer<CChar>] = []

    func copy(_ string: String) -> UnsafePointer<CChar> {
        let pointer = strdup(string)!
        pointers.append(pointer)
        return UnsafePointer(pointer)
    }

    /// A NULL-terminated array of C strings (argv, envp).
    func nullTerminated(_ strings: [String]) -> [UnsafePointer<CChar>?] {
        strings.map { copy($0) } + [nil]
    }

    deinit {
        for pointer in pointers { free(pointer) }
    }
}
