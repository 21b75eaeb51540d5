import CVServerSpawn
import Glibc
import VServerConfig
import VServerProtocol

/// The steps of a start and a stop where the reliability tests make vserverd die (docs/ARCHITECTURE.md §8,
/// Tests/IntegrationTests/CrashRecoveryTests.swift): `VSERVERD_FAIL_AT=STEP` in the environment of a debug build
/// makes the daemon `_exit(CrashPoint.exitStatus)` when it gets there, as a `kill -9` would. A release build reads
/// no such variable: the checks compile to nothing.
package enum CrashPoint: String, CaseIterable, Sendable {
    /// Its pre-start hooks have run; nothing of the guest exists yet.
    case afterPreStart = "after-pre-start"
    /// PID 1 is cloned and set up, waiting before its exec (every start is held with this step set).
    case whileHeld = "while-held"
    /// PID 1 runs its init; vserverd has not recorded it yet.
    case afterClone = "after-clone"
    /// Right before the record of PID 1 replaces the start's state file.
    case beforeStateFile = "before-state-file"
    /// The record is written; the post-start hooks have not run.
    case afterStateFile = "after-state-file"
    /// A post-start hook is running (it has written its first line).
    case duringPostStart = "during-post-start"
    /// The stop signal (or runlevel request) went to PID 1.
    case afterStopSignal = "after-stop-signal"
    /// PID 1 is gone and reaped; the post-stop hooks have not run.
    case beforePostStop = "before-post-stop"
    /// A post-stop hook is running (it has written its first line).
    case duringPostStop = "during-post-stop"

    /// How a daemon that died at a crash point exits: neither a clean exit nor a signal of its own.
    package static let exitStatus: Int32 = 86

    #if DEBUG
    /// The step named by VSERVERD_FAIL_AT, read once.
    package static let armed: CrashPoint? = getenv("VSERVERD_FAIL_AT").flatMap {
        CrashPoint(rawValue: String(cString: $0))
    }
    #else
    package static let armed: CrashPoint? = nil
    #endif

    /// The step of a hook of this flavour that is running.
    static func during(_ flavour: HookFlavour) -> CrashPoint? {
        switch flavour {
        case .postStart: .duringPostStart
        case .postStop: .duringPostStop
        default: nil
        }
    }

    /// With `whileHeld` armed, every start holds PID 1 (most take the one-step spawn), and dies while it waits.
    static func holding(_ whileHeld: (@Sendable (Int32) throws(ManagerError) -> Int32)?)
        -> (@Sendable (Int32) throws(ManagerError) -> Int32)?
    {
        guard armed == .whileHeld else { return whileHeld }
        return { @Sendable (pid: Int32) throws(ManagerError) -> Int32 in
            let cgroupMount = try whileHeld?(pid) ?? Int32(VS_CGROUP_NONE)
            CrashPoint.whileHeld.reached()
            return cgroupMount
        }
    }

    /// Dies here when this is the armed step.
    @inline(__always)
    func reached() {
        #if DEBUG
        if Self.armed == self { _exit(Self.exitStatus) }
        #endif
    }
}
