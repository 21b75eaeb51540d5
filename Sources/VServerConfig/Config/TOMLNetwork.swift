/// `[namespaces] net` and the `[network]` table of vserver.toml (docs/ARCHITECTURE.md §3) → `VServerConfig.Network`.
struct TOMLNetwork {
    let reader: TOMLReader

    static let modes = ["host", "none", "bound", "veth"]
    /// VS_BOUND_MAX_ADDRESSES: the programs compare with each (bound.c).
    static let maximumBoundAddresses = 16
    static let boundKeys = ["addresses", "device", "loopback", "label"]
    static let vethKeys = ["address", "addresses", "gateway", "gateway6", "bridge", "mac", "mtu"]

    /// `table` is `[network]` (at `tableLine`), `modeLine` the line of `net`.
    func network(mode: String, modeLine: Int?, table: TOMLTable?, tableLine: Int?, context: Int)
        throws(ConfigError) -> VServerConfig.Network
    {
        switch mode {
        case "bound": return .bound(try bound(table, line: tableLine ?? modeLine ?? 1, context: context))
        case "veth": return .veth(try veth(table, line: tableLine ?? modeLine ?? 1))
        default:
            if let tableLine {
                throw reader.error(
                    tableLine, "network",
                    "a [network] table needs [namespaces] net = \"bound\" or \"veth\" (net is \(quoted(mode)))")
            }
            return mode == "none" ? .none : .host
        }
    }

    private func bound(_ table: TOMLTable?, line: Int, context: Int) throws(ConfigError) -> BoundNetwork {
        var addresses: [InterfaceAddress]?
        var device: String?
        var loopback = BoundNetwork.defaultLoopback(context: context)
        var label: String?
        for entry in table?.entries ?? [] {
            let key = TOMLReader.path("network", entry.key)
            switch entry.key {
            case "addresses":
                let list = try self.addresses(entry, key, prefixOptional: true)
                if list.isEmpty { throw reader.error(entry.value.line, key, "must not be empty") }
                for family in [IPAddress.Family.v4, .v6]
                where list.count(where: { $0.address.family == family }) > Self.maximumBoundAddresses {
                    throw reader.error(
                        entry.value.line, key, "at most \(Self.maximumBoundAddresses) addresses of each family")
                }
                addresses = list
            case "device":
                device = try interfaceName(entry, key)
            case "loopback":
                let text = try reader.string(entry.value, key)
                guard let address = BoundNetwork.loopback(text) else {
                    throw reader.error(entry.value.line, key, "\(BoundNetwork.loopbackRule), not \(quoted(text))")
                }
                loopback = address
            case "label":
                let text = try reader.string(entry.value, key)
                guard BoundNetwork.isValidLabel(text) else {
                    throw reader.error(entry.value.line, key, BoundNetwork.labelRule)
                }
                label = text
            default:
                throw reader.unknownKey(entry, key, known: Self.boundKeys, in: "network")
            }
        }
        guard let addresses else {
            throw reader.error(line, "network.addresses", "is required with [namespaces] net = \"bound\"")
        }
        return BoundNetwork(addresses: addresses, device: device, loopback: loopback, label: label)
    }

    private func veth(_ table: TOMLTable?, line: Int) throws(ConfigError) -> VethSettings {
        var settings = VethSettings()
        var addressLine: Int?
        var mtuLine = 0
        for entry in table?.entries ?? [] {
            let key = TOMLReader.path("network", entry.key)
            switch entry.key {
            case "address":
                // The one-address form of earlier versions: an IPv4 or IPv6 CIDR.
                let text = try reader.string(entry.value, key)
                guard let address = InterfaceAddress(text) else {
                    throw reader.error(
                        entry.value.line, key,
                        "must be an address with a prefix length like \"10.0.3.5/24\" or \"2001:db8::5/64\", "
                            + "not \(quoted(text))")
                }
                settings.addresses.append(address)
            case "addresses":
                settings.addresses += try addresses(entry, key, prefixOptional: false)
            case "gateway", "gateway6":
                let text = try reader.string(entry.value, key)
                let family: IPAddress.Family = entry.key == "gateway" ? .v4 : .v6
                guard let address = IPAddress(text), address.family == family else {
                    let name = family == .v4 ? "IPv4" : "IPv6"
                    throw reader.error(entry.value.line, key, "must be an \(name) address, not \(quoted(text))")
                }
                if family == .v4 { settings.gateway = address } else { settings.gateway6 = address }
            case "bridge":
                settings.bridge = try interfaceName(entry, key)
            case "mac":
                let text = try reader.string(entry.value, key)
                guard let mac = VethSettings.parseMAC(text) else {
                    throw reader.error(
                        entry.value.line, key,
                        "must be a unicast MAC address like \"02:00:00:00:04:12\", not \(quoted(text))")
                }
                settings.mac = mac
            case "mtu":
                let value = try reader.integer(entry.value, key)
                guard (68...65535).contains(value) else {
                    throw reader.error(entry.value.line, key, "must be from 68 to 65535, not \(value)")
                }
                settings.mtu = Int(value)
                mtuLine = entry.value.line
            default:
                throw reader.unknownKey(entry, key, known: Self.vethKeys, in: "network")
            }
            if entry.key == "address" || entry.key == "addresses" {
                if addressLine != nil {
                    throw reader.error(entry.line, key, "give either network.address or network.addresses, not both")
                }
                addressLine = entry.line
            }
        }
        if settings.addresses.isEmpty && settings.bridge == nil {
            throw reader.error(
                line, "network.addresses",
                "is required with [namespaces] net = \"veth\" unless the guest is on a bridge (and configures itself)")
        }
        if let mtu = settings.mtu, mtu < 1280, settings.addresses.contains(where: { $0.address.family == .v6 }) {
            throw reader.error(mtuLine, "network.mtu", "must be at least 1280 with an IPv6 address, not \(mtu)")
        }
        return settings
    }

    /// An array of "ADDRESS/PREFIX" strings, none twice, no multicast or unspecified one, no loopback.
    private func addresses(_ entry: TOMLTable.Entry, _ key: String, prefixOptional: Bool)
        throws(ConfigError) -> [InterfaceAddress]
    {
        var result: [InterfaceAddress] = []
        for (text, line) in try reader.strings(entry.value, key) {
            guard let address = InterfaceAddress(text, prefixOptional: prefixOptional) else {
                throw reader.error(
                    line, key,
                    "must be addresses with a prefix length like \"192.0.2.10/24\" or \"2001:db8::10/64\""
                        + (prefixOptional ? " (or without one: a host address)" : "") + ", not \(quoted(text))")
            }
            let ip = address.address
            if let problem = ip.ownershipProblem { throw reader.error(line, key, problem) }
            if result.contains(where: { $0.address == ip }) {
                throw reader.error(line, key, "\(ip) is there twice")
            }
            result.append(address)
        }
        return result
    }

    private func interfaceName(_ entry: TOMLTable.Entry, _ key: String) throws(ConfigError) -> String {
        let text = try reader.string(entry.value, key)
        if let problem = Validation.interfaceNameProblem(text) {
            throw reader.error(entry.value.line, key, "\(quoted(text)) \(problem)")
        }
        return text
    }
}
