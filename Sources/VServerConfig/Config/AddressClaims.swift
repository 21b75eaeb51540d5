extension ConfigLoader {
    /// No two vservers may claim one address (`VServerConfig.Network.claimedAddresses`: a bound vserver's addresses
    /// and loopback, a veth vserver's addresses). In name order, as with contexts: the later claimant is invalid,
    /// with the address and the vserver that has it.
    package static func checkAddresses(drafts: inout [String: VServerDraft], invalid: inout [String: ConfigError]) {
        var owners: [IPAddress: (name: String, location: SettingLocation)] = [:]
        for name in drafts.keys.sorted() {
            let draft = drafts[name]!
            let claims = draft.config.network.claimedAddresses.map { ($0, location(of: $0, in: draft)) }
            if let (address, location) = claims.first(where: { owners[$0.0] != nil }), let owner = owners[address] {
                invalid[name] = location.error(
                    "\(address) is already claimed by vserver \(quoted(owner.name)) (\(owner.location.place))"
                        + (isDefaultLoopback(address, of: draft.config) ? "; it is the default for context "
                            + "\(draft.config.context): set another network.loopback" : ""))
                drafts[name] = nil
                continue
            }
            for (address, location) in claims { owners[address] = (name, location) }
        }
    }

    /// Where the reader saw it; else the config file and the key it is under.
    private static func location(of address: IPAddress, in draft: VServerDraft) -> SettingLocation {
        if let location = draft.addressLocations[address] { return location }
        var key = "network.addresses"
        if case .bound(let bound) = draft.config.network, bound.loopback == address { key = "network.loopback" }
        return SettingLocation(file: draft.config.configFile, key: key)
    }

    private static func isDefaultLoopback(_ address: IPAddress, of config: VServerConfig) -> Bool {
        guard case .bound(let bound) = config.network else { return false }
        return bound.loopback == address && address == BoundNetwork.defaultLoopback(context: config.context)
    }
}

extension VServerConfig {
    /// Gives it the context found after it was read (assigned, recorded, or the one `import` keeps). A bound
    /// network's loopback that is the default for the context it was read with follows the context.
    package mutating func assignContext(_ new: Int) {
        if case .bound(var bound) = network, bound.loopback == BoundNetwork.defaultLoopback(context: context) {
            bound.loopback = BoundNetwork.defaultLoopback(context: new)
            network = .bound(bound)
        }
        context = new
    }
}
