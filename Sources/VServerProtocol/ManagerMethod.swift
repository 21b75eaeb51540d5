/// The methods of `io.vserverd.Manager`, as named in its IDL (a test checks the two agree). A method is this case,
/// its parameter and reply types (ManagerCalls.swift), its requirement in `ManagerService` with the line that
/// dispatches to it, and its `ManagerClient` call.
public enum ManagerMethod: String, CaseIterable, Sendable {
    case list = "List"
    case get = "Get"
    case start = "Start"
    case stop = "Stop"
    case restart = "Restart"
    case getResources = "GetResources"
    case setResources = "SetResources"
    case startAutostart = "StartAutostart"
    case startAll = "StartAll"
    case stopAll = "StopAll"
    case reload = "Reload"
    case whois = "Whois"
    case processes = "Processes"
    case join = "Join"
    case monitor = "Monitor"
    case rename = "Rename"
    case delete = "Delete"
    case clone = "Clone"
    case hashify = "Hashify"
    case diskUsage = "DiskUsage"
    case export = "Export"
    case importArchive = "ImportArchive"

    /// Who may call a method (docs/ARCHITECTURE.md §6).
    public enum Access: Sendable {
        /// Anyone who can reach the socket: it only reads.
        case anyone
        /// Root or the group vserverd: it changes something.
        case administrator
        /// Root only: the caller joins a guest's namespaces with what it gets (Join).
        case root
    }

    public var access: Access {
        switch self {
        case .list, .get, .getResources, .whois, .processes, .monitor, .diskUsage: .anyone
        case .start, .stop, .restart, .setResources, .startAutostart, .startAll, .stopAll, .reload, .rename, .delete,
             .clone, .hashify:
            .administrator
        // Export and ImportArchive open any path the caller names, as root.
        case .join, .export, .importArchive: .root
        }
    }

    /// The long copies that a client's hang-up (Ctrl-C) stops, removing what they made: they run in the
    /// connection's task, not in one of their own that finishes regardless.
    public var stopsOnHangUp: Bool {
        switch self {
        case .clone, .hashify, .export, .importArchive: true
        default: false
        }
    }

    /// "io.vserverd.Manager.Start".
    public var qualifiedName: String { "\(managerInterfaceName).\(rawValue)" }
}

/// What the daemon accepts of the numbers and connections of callers (docs/ARCHITECTURE.md §6): a number outside
/// its range is an `InvalidParameter` error naming it, so no value from the socket reaches a conversion that traps.
public enum ManagerLimits {
    /// `Stop(timeout:)` in seconds: 0 kills at once, an hour is as long as `stop-timeout` may be.
    public static let stopTimeout = 0...3600
    /// `jobs` of `StartAutostart`/`StartAll`: parallel starts.
    public static let jobs = 1...1024
    /// Connections one uid may hold open at once; more are answered with PermissionDenied and closed, so that
    /// one local user cannot use up the daemon's file descriptors for everybody else.
    public static let connectionsPerUID = 64
}

