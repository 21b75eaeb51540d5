import ArgumentParser
import Glibc
import Logging
import ServiceLifecycle
import UnixSignals
import VServerSystemd
import VarlinkServer
import VServerConfig
import VServerCore
import VServerProtocol

@main
struct VServerDaemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vserverd",
        abstract: "Keeps vservers running and answers vserverctl on a Varlink socket.",
        discussion: """
            Reads one directory per vserver from the config directory, starts and stops vservers on request, \
            and re-adopts the ones a previous vserverd started. Stopping vserverd leaves the vservers running. \
            SIGHUP re-reads the configs; SIGTERM stops the daemon.
            """,
        version: vserverdVersion)

    @Option(help: "Directory with one subdirectory per vserver.")
    var configDir = "/etc/vservers"

    @Option(help: "Where running vservers are recorded (survives daemon restarts, not reboots).")
    var stateDir = "/run/vserverd/vservers"

    @Option(help: "Control socket (default: $VSERVERD_SOCKET or \(defaultManagerSocketPath)).")
    var socket: String?

    @Option(help: ArgumentHelp(
        "Persistent state: the contexts given to vservers whose config names none (default: $VSERVERD_LIB_DIR or "
            + "\(ContextRecord.defaultLibDirectory)).", valueName: "path"))
    var libDir: String?

    @Option(help: "Directory of the console logs (NAME.log: output of each vserver's PID 1).")
    var logDir = "/var/log/vserverd"

    @Option(help: "Stub init of `command` and init-style \"sysv\" vservers (default: beside vserverd, then libexec).")
    var initBinary: String?

    @Option(help: ArgumentHelp(
        "Outside systemd: the cgroup2 path below which each vserver gets its cgroup vserver-NAME (default: "
            + "vserverd's own cgroup).", valueName: "path"))
    var cgroupParent: String?

    @Option(help: "How many vservers `start --autostart`/`--all` start at once (default: number of CPUs).")
    var jobs: Int?

    @Option(help: ArgumentHelp("Where lxcfs is mounted, for vservers with [resources] lxcfs = true.",
                               valueName: "path"))
    var lxcfsDir = Lxcfs.defaultDirectory

    @Option(help: ArgumentHelp(
        "Serve Prometheus/OpenMetrics metrics over HTTP at http://ADDRESS/metrics: HOST:PORT, like 127.0.0.1:9100 "
            + "or [::1]:9100 (default: none).", valueName: "address"), transform: MetricsAddress.init)
    var metrics: MetricsAddress?

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    /// Tests only: where new guests go. `auto` (a scope under systemd, else none), `none`, or `held`: PID 1 is held
    /// before its exec as for a scope, which is then not made, so that both spawn paths run on any host.
    @Option(help: .private)
    var placement: PlacementChoice = .auto

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if let cgroupParent, !cgroupParent.hasPrefix("/") || cgroupParent.split(separator: "/").contains("..") {
            throw ValidationError("--cgroup-parent must be an absolute cgroup path without \"..\", like /vservers")
        }
    }

    func run() async throws {
        umask(0o022)
        let level = Logger.Level(rawValue: logLevel) ?? .info
        if JournalStream.isStandardErrorConnected() {
            LoggingSystem.bootstrap { label in JournalLogHandler(label: label, level: level) }
        } else {
            LoggingSystem.bootstrap { label in StandardErrorLogHandler(label: label, level: level) }
        }
        let logger = Logger(label: "vserverd")
        do {
            if let mounted = try CgroupHost.mountUnifiedWhereHybridHasIt() {
                logger.notice("mounted the cgroup2 hierarchy on \(mounted) (it was not mounted)")
            }
        } catch {
            logger.warning("\(error): guests get no cgroups of their own, and bound ones cannot start")
        }
        do { try ResourceLimits.raiseOwnOpenFilesLimit() } catch {
            logger.warning("\(error): vserverd may run out of file descriptors with many vservers")
        }
        // Bound first: a port in use stops vserverd before it touches any vserver.
        var metricsListener: MetricsServer.Listener?
        if let metrics {
            do {
                metricsListener = try await MetricsServer.listen(on: metrics, group: ControlServer.eventLoops)
            } catch {
                logger.critical("--metrics \(metrics): \(error)")
                throw ExitCode.failure
            }
        }

        let socketPath = socket ?? ManagerClient.defaultSocketPath()
        let manager: Manager
        do {
            var options = Manager.Options(
                configDirectory: configDir, stateDirectory: stateDir, logDirectory: logDir,
                stubInitPath: initBinary ?? StubInit.defaultPath())
            options.placement = switch placement {
            case .auto: SystemdScopes.ifSystemdBooted(logger: logger)
            case .none: nil
            case .held: HeldOnlyPlacement(logger: logger)
            }
            options.cgroupParent = cgroupParent
            options.libDirectory = ContextRecord.libDirectory(libDir)
            options.jobs = jobs ?? ProcessInfoCPU.count
            options.lxcfsDirectory = lxcfsDir
            manager = try Manager(options: options, logger: logger)
        } catch {
            logger.critical("\(error)")
            throw ExitCode.failure
        }
        await SystemdNotify.extendingTimeout { await manager.adoptRunningGuests() }

        let listener: Int32
        do {
            listener = try ListeningSocket.make(path: socketPath, logger: logger)
        } catch {
            logger.critical("\(error)")
            throw ExitCode.failure
        }
        let routes = ManagerRoutes(service: manager, logger: logger)
        let server = ControlServer(
            listeningSocket: listener, interfaces: [routes.interface],
            connectionsPerUID: ManagerLimits.connectionsPerUID,
            refusal: { uid, limit in
                let reason = "uid \(uid) has \(limit) connections open, the most one user may have"
                return ManagerError.permissionDenied(reason: reason).varlinkError
            },
            internalError: { ManagerError.internalError($0).varlinkError },
            vendor: "vserverd", product: "vserverd", version: vserverdVersion, url: "https://linux-vserver.org",
            logger: logger)
        let reloader = ReloadOnHangup(manager: manager, logger: logger)
        // Shut down in reverse order: the supervision first (STOPPING=1), the server last (it waits for
        // running operations).
        let supervision = SystemdSupervision(manager: manager, logger: logger)
        var services: [any Service] = [server, reloader, supervision]
        if let metricsListener {
            services.insert(MetricsServer(metricsListener, manager: manager, control: server, logger: logger), at: 1)
        }
        let group = ServiceGroup(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        let summary = await manager.summary()
        logger.info("listening on \(socketPath); \(summary)")
        SystemdNotify.ready(status: summary)
        try await group.run()
        // Its state directory removed meanwhile (rm -rf /run/vserverd): the next vserverd adopts from what this writes.
        await manager.restoreLostRecords()
    }
}

enum ProcessInfoCPU {
    static var count: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
}

/// SIGHUP re-reads the config directory, as admins expect of a daemon.
struct ReloadOnHangup: Service, CustomStringConvertible {
    let manager: Manager
    let logger: Logger
    var description: String { "ReloadOnHangup" }

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            logger.info("SIGHUP: reloading configs")
            _ = await manager.reload()
        }
    }
}

/// `--placement` (tests only).
enum PlacementChoice: String, ExpressibleByArgument {
    case auto
    case none
    case held
}
