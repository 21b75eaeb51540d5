extension HookFlavour {
    /// The script names run at this moment, in order: util-vserver's `prepre-start` runs right before
    /// `pre-start` and its `postpost-stop` right after `post-stop` (each as `scripts/NAME` then `scripts/NAME.d/*`,
    /// `.defaults/scripts` first), so they belong to those flavours.
    package var scriptNames: [String] {
        switch self {
        case .preStart: ["prepre-start", rawValue]
        case .postStop: [rawValue, "postpost-stop"]
        case .postStart, .preStop: [rawValue]
        }
    }
}
