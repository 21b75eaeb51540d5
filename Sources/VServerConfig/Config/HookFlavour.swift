/// The four moments a vserver's scripts run at (util-vserver's names).
public enum HookFlavour: String, Sendable, CaseIterable {
    case preStart = "pre-start"
    case postStart = "post-start"
    case preStop = "pre-stop"
    case postStop = "post-stop"

    /// PID 1 of the guest exists during these, so scripts get VSERVER_PID.
    package var hasGuestPID: Bool { self == .postStart || self == .preStop }
}
