/// util-vserver's `interfaces/` directory read as `net = "bound"`, the way util-vserver's vserver.functions
/// (`_generateInterfaceOptions`, `_processSingleInterface`, `_generateChbindOptions`) applied it: the guest keeps
/// its addresses on the host's network stack. Each subdirectory (in name order) is an interface unless it holds
/// `disabled`; a value it lacks is taken from the file of the same name in `interfaces/` itself.
///
/// - `N/ip` (required): the address, IPv4 or IPv6 → an entry of `network.addresses`.
/// - `N/prefix`, else `prefix`, else `N/mask`, else `mask` (a dotted netmask): its prefix length. With none of them
///   util-vserver added the bare address, which `ip addr add` makes a host address (/32, /128): so does vserverd.
/// - `N/dev`, else `dev`: the device. The first interface with one and without `nodev` gives `network.device`;
///   vserverd adds all of a vserver's addresses to that one device, so an interface naming another device, or
///   marked `nodev` while another has a device, gets a warning saying its address goes on `network.device` too.
///   When every interface has `nodev` (or the legacy `only_ip`), `network.device` is left out: the addresses must
///   be the host's already, as util-vserver assumed. An interface with neither a device nor `nodev` is an error,
///   as it was to util-vserver.
/// - `N/name` → `network.label` (the first one; another name gets a warning: vserverd labels all addresses alike).
/// - `lback` → `network.loopback`; without it the default derived from the context.
/// - What vserverd has no setting for (`bcast`, `scope`, `vlandev`, `novlandev`, `down`, `gw`, `peer`, tun/tap
///   and dummy-interface files, …) is ignored with a warning naming the file.
/// A value that is not what it should be (an address, a prefix length, a netmask, a device name) is an error naming
/// the file and line.
package struct UtilVServerInterfaces: UtilVServerFiles {
    typealias ReadFile = UtilVServerResources.ReadFile

    let directory: String
    let context: Int
    let readFile: ReadFile
    var warnings: [String] = []
    /// Where each claimed address was given (`interfaces/N/ip`, `interfaces/lback`), for `check`'s conflicts.
    private(set) var locations: [IPAddress: SettingLocation] = [:]

    /// Files of `interfaces/` that are defaults for every interface, or settings of the vserver.
    private static let globalFiles = ["dev", "prefix", "mask", "lback"]
    private static let interfaceFiles = ["ip", "dev", "prefix", "mask", "name", "nodev", "only_ip", "disabled"]
    /// What util-vserver did with the files vserverd ignores, for the warning.
    private static let ignored: [String: String] = [
        "bcast": "vserverd has no setting for a broadcast address",
        "scope": "vserverd has no setting for an address scope",
        "vlandev": "vserverd creates no VLAN devices: create the device on the host",
        "novlandev": "vserverd creates no VLAN devices anyway",
        "down": "vserverd has no setting for the device's link state",
        "gw": "vserverd adds no routes for a bound vserver: it uses the host's",
        "peer": "vserverd has no setting for a point-to-point peer",
        "extip": "vserverd has no setting for an external address",
        "indirect": "vserverd creates no dummy interfaces",
        "mac": "vserverd creates no dummy interfaces",
        "tun": "vserverd creates no tun/tap devices",
        "tap": "vserverd creates no tun/tap devices",
        "nocsum": "vserverd creates no tun/tap devices",
        "shared": "vserverd creates no tun/tap devices",
        "uid": "vserverd creates no tun/tap devices",
        "gid": "vserverd creates no tun/tap devices",
        "linktype": "vserverd creates no tun/tap devices",
    ]

    init(directory: String, context: Int, readFile: @escaping ReadFile) {
        self.directory = directory
        self.context = context
        self.readFile = readFile
    }

    private struct Interface {
        var address: InterfaceAddress
        /// The `ip` file.
        var file: String
        /// nil with `nodev`; else the device and the file it came from.
        var device: (name: String, file: String)?
        var nodevFile: String?
        var name: (text: String, file: String)?
    }

    /// The network `interfaces/` gives; nil when there is none (or no enabled interface in it): the host's.
    mutating func read() throws(ConfigError) -> VServerConfig.Network? {
        guard let names = try names(in: "interfaces") else {
            if FileSystem.exists(path("interfaces")) { warn(path("interfaces"), "not a directory; ignored") }
            return nil
        }
        var interfaces: [Interface] = []
        for name in names {
            let dir = "interfaces/\(name)"
            if let files = try self.names(in: dir) {
                if files.contains("disabled") { continue }
                interfaces.append(try interface(dir, files: files, known: interfaces))
            } else if !Self.globalFiles.contains(name) {
                warn(path(dir), "ignored: " + (Self.ignored[name] ?? "not a util-vserver interface setting"))
            }
        }
        var loopback = BoundNetwork.defaultLoopback(context: context)
        if let (file, text) = try line("interfaces/lback"), !text.isEmpty {
            guard let address = BoundNetwork.loopback(text) else {
                throw ConfigError(file: file, line: 1, message: "\(BoundNetwork.loopbackRule), not \(quoted(text))")
            }
            if interfaces.isEmpty {
                warn(file, "ignored: there is no enabled interface, so the vserver shares the host's "
                     + "network")
            } else {
                loopback = address
                locations[address] = SettingLocation(file: file, line: 1)
            }
        }
        for family in [IPAddress.Family.v4, .v6] {
            let ofFamily = interfaces.filter { $0.address.address.family == family }
            if ofFamily.count > TOMLNetwork.maximumBoundAddresses {
                throw ConfigError(
                    file: ofFamily[TOMLNetwork.maximumBoundAddresses].file, line: 1,
                    message: "one address too many: vserverd takes at most \(TOMLNetwork.maximumBoundAddresses) "
                        + "addresses of each family")
            }
        }
        if interfaces.isEmpty {
            warn(path("interfaces"), "no enabled interface: the vserver shares the host's network (net = \"host\")")
            return nil
        }
        let device = interfaces.first { $0.device != nil }?.device
        let label = interfaces.first { $0.device != nil && $0.name != nil }?.name
        for interface in interfaces {
            if let device, let (other, file) = interface.device, other != device.name {
                warn(file, "names device \(quoted(other)), but vserverd adds all of a vserver's addresses to one "
                     + "device, network.device = \(quoted(device.name)) (from \(relative(device.file))): "
                     + "\(interface.address) goes there")
            }
            if let device, let file = interface.nodevFile {
                warn(file, "ignored: vserverd adds all of a vserver's addresses to one device, network.device = "
                     + "\(quoted(device.name)) (from \(relative(device.file))): \(interface.address) goes there too")
            }
            if let (text, file) = interface.name {
                if interface.device == nil {
                    warn(file, "ignored: util-vserver did not label an address with nodev either")
                } else if let label, text != label.text {
                    warn(file, "ignored: vserverd labels all of a vserver's addresses alike, network.label = "
                         + "\(quoted(label.text)) (from \(relative(label.file)))")
                }
            }
        }
        return .bound(BoundNetwork(addresses: interfaces.map(\.address), device: device?.name, loopback: loopback,
                                   label: label?.text))
    }

    /// One enabled interface directory; `known` are the ones before it.
    private mutating func interface(_ dir: String, files: [String], known: [Interface])
        throws(ConfigError) -> Interface
    {
        for name in files where !Self.interfaceFiles.contains(name) {
            warn(path("\(dir)/\(name)"), "ignored: " + (Self.ignored[name] ?? "not a util-vserver interface setting"))
        }
        guard let (ipFile, text) = try line("\(dir)/ip"), !text.isEmpty else {
            throw ConfigError(file: path("\(dir)/ip"),
                              message: "missing: every enabled interface needs its address (or a disabled file)")
        }
        guard var address = InterfaceAddress(text, prefixOptional: true) else {
            throw ConfigError(file: ipFile, line: 1, message: "expected an IPv4 or IPv6 address, found \(quoted(text))")
        }
        if let problem = address.address.ownershipProblem {
            throw ConfigError(file: ipFile, line: 1, message: problem)
        }
        if let other = known.first(where: { $0.address.address == address.address }) {
            throw ConfigError(file: ipFile, line: 1,
                              message: "\(address.address) is given twice (also in \(relative(other.file)))")
        }
        if let (file, length) = try prefixLength(dir, family: address.address.family) {
            if text.contains("/") {
                throw ConfigError(file: ipFile, line: 1,
                                  message: "has a prefix length, and \(relative(file)) gives one too")
            }
            address = InterfaceAddress(address: address.address, prefixLength: length)
        }
        locations[address.address] = SettingLocation(file: ipFile, line: 1)

        var interface = Interface(address: address, file: ipFile)
        let nodev = ["nodev", "only_ip"].first { files.contains($0) }
        if let nodev {
            interface.nodevFile = path("\(dir)/\(nodev)")
        } else {
            guard let (file, device) = try value("dev", of: dir) else {
                throw ConfigError(file: path(dir),
                                  message: "no device: util-vserver needs \(dir)/dev, interfaces/dev or "
                                      + "\(dir)/nodev")
            }
            if let problem = Validation.interfaceNameProblem(device) {
                throw ConfigError(file: file, line: 1, message: "\(quoted(device)) \(problem)")
            }
            interface.device = (device, file)
        }
        if let (file, name) = try line("\(dir)/name"), !name.isEmpty {
            guard BoundNetwork.isValidLabel(name) else {
                throw ConfigError(file: file, line: 1, message: "\(BoundNetwork.labelRule), not \(quoted(name))")
            }
            interface.name = (name, file)
        }
        return interface
    }

    /// `prefix` (the interface's, else the default), else `mask` likewise, as util-vserver's _getInterfaceValue
    /// and _transformMask2Prefix take them; nil when none gives one.
    private func prefixLength(_ dir: String, family: IPAddress.Family)
        throws(ConfigError) -> (file: String, length: Int)?
    {
        if let (file, text) = try value("prefix", of: dir) {
            guard text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), text.count <= 3, let length = Int(text),
                  length <= family.bitCount
            else {
                throw ConfigError(
                    file: file, line: 1,
                    message: "expected a prefix length from 0 to \(family.bitCount), found \(quoted(text))")
            }
            return (file, length)
        }
        guard let (file, text) = try value("mask", of: dir) else { return nil }
        guard let mask = IPAddress(text), mask.family == .v4 else {
            throw ConfigError(
                file: file, line: 1, message: "expected a netmask like 255.255.255.0, found \(quoted(text))")
        }
        let bits = mask.bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let length = (~bits).leadingZeroBitCount
        guard bits << length == 0 || length == 32 else {
            throw ConfigError(file: file, line: 1, message: "\(text) is not a netmask: its ones are not contiguous")
        }
        // mask2prefix's 0 meant "no prefix" to util-vserver: the bare address.
        return length == 0 ? nil : (file, min(length, family.bitCount))
    }

    /// `name` of the interface, else of `interfaces/`: first line, trimmed; nil when both are missing or empty.
    private func value(_ name: String, of dir: String) throws(ConfigError) -> (file: String, text: String)? {
        for candidate in ["\(dir)/\(name)", "interfaces/\(name)"] {
            if let (file, text) = try line(candidate), !text.isEmpty { return (file, text) }
        }
        return nil
    }
}

extension IPAddress {
    /// Why a vserver cannot own this address (`[network] addresses`, util-vserver's `interfaces/N/ip`), or nil.
    package var ownershipProblem: String? {
        isUnspecified || isLoopback || isMulticast || isLinkLocal
            ? "\(self) is not an address a vserver can own (unspecified, loopback, multicast or link-local)" : nil
    }
}

extension BoundNetwork {
    package static let loopbackRule = "must be an address of 127.0.0.0/8 other than 127.0.0.1 (like \"127.1.4.18\")"
    package static let labelRule = "must be printable ASCII without spaces or \"/\""

    /// `text` as a guest's loopback address (`loopbackRule`), or nil.
    package static func loopback(_ text: String) -> IPAddress? {
        guard let address = IPAddress(text), address.family == .v4, address.isLoopback,
              address.bytes[3] != 0 && address.bytes[3] != 255, address.bytes[1...] != [0, 0, 1]
        else { return nil }
        return address
    }

    package static func isValidLabel(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { $0 > 32 && $0 < 127 && $0 != UInt8(ascii: "/") }
    }
}
