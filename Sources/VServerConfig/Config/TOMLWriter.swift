import Glibc

/// Writes a `vserver.toml` for `vserverctl create`, `build` and `import`: the keys whose value is not the
/// default, plus `context` and `root`, which are always written so that the vserver keeps them whatever else
/// appears in the config directory later. Mounts are not written: `import` keeps them in `fstab`.
package enum TOMLWriter {
    package static func render(_ config: VServerConfig, header: [String]) -> String {
        var lines = header.map { "# \($0)" }
        if !lines.isEmpty { lines.append("") }
        lines.append("context = \(config.context)")
        lines.append("root = \(TOML.quote(config.root))")
        if config.hostname != config.name { lines.append("hostname = \(TOML.quote(config.hostname))") }
        if let domainname = config.domainname { lines.append("domainname = \(TOML.quote(domainname))") }
        if config.autostart { lines.append("autostart = true") }
        if !config.marks.isEmpty { lines.append("marks = \(array(config.marks))") }
        if !config.after.isEmpty { lines.append("after = \(array(config.after))") }
        switch config.entry {
        case .initProgram(let argv) where argv != VServerConfig.defaultInit: lines.append("init = \(array(argv))")
        case .command(let argv): lines.append("command = \(array(argv))")
        case .initProgram: break
        }
        if config.initStyle != .auto { lines.append("init-style = \(TOML.quote(config.initStyle.rawValue))") }
        if config.onReboot != .restart { lines.append("on-reboot = \(TOML.quote(config.onReboot.rawValue))") }
        if config.console != .pty { lines.append("console = \(TOML.quote(config.console.rawValue))") }
        if let signal = config.stopSignal { lines.append("stop-signal = \(TOML.quote(signal.name))") }
        if config.killSequence != .standard {
            lines.append("kill-sequence = \(TOML.quote(config.killSequence.description))")
        }
        if let shell = config.shell { lines.append("shell = \(array(shell))") }
        let net = config.network.mode
        if config.userNamespace || config.timeNamespace || net != "host" {
            lines += ["", "[namespaces]"]
            if config.userNamespace { lines.append("user = true") }
            if config.timeNamespace { lines.append("time = true") }
            if net != "host" { lines.append("net = \(TOML.quote(net))") }
        }
        lines += network(config.network, context: config.context)

        let base = config.baseCapabilities
        if config.capabilities != base {
            lines += ["", "[capabilities]"]
            let added = Capabilities.names(in: config.capabilities & ~base)
            let dropped = Capabilities.names(in: base & ~config.capabilities)
            if !added.isEmpty { lines.append("add = \(array(added))") }
            if !dropped.isEmpty { lines.append("drop = \(array(dropped))") }
        }
        if config.seccomp != .default || config.nesting {
            lines += ["", "[security]"]
            if config.seccomp != .default { lines.append("seccomp = \(TOML.quote(config.seccomp.rawValue))") }
            if config.nesting { lines.append("nesting = true") }
        }
        let defaults = VServerConfig(name: "", context: 0, root: "", configDirectory: "", configFile: "")
        if config.initStyle == .sysv,
           (config.startRunlevel, config.stopRunlevel) != (defaults.startRunlevel, defaults.stopRunlevel) {
            lines += ["", "[runlevels]", "start = \(TOML.quote(config.startRunlevel))",
                      "stop = \(TOML.quote(config.stopRunlevel))"]
        }
        if config.initStyle == .rc {
            lines += ["", "[rc]", "start = \(array(config.rcStart))"]
            if !config.rcStop.isEmpty { lines.append("stop = \(array(config.rcStop))") }
        }
        if !config.environment.isEmpty {
            lines += ["", "[environment]"]
            for (name, value) in config.environment.sorted(by: { $0.key < $1.key }) {
                lines.append("\(TOML.formatKey(name)) = \(TOML.quote(value))")
            }
        }
        if !config.limits.isEmpty {
            lines += ["", "[limits]"]
            for limit in config.limits {
                let value = limit.soft == limit.hard
                    ? amount(limit.hard) : "{ soft = \(amount(limit.soft)), hard = \(amount(limit.hard)) }"
                lines.append("\(limit.name) = \(value)")
            }
        }
        lines += resources(config.resources)
        return lines.joined(separator: "\n") + "\n"
    }

    /// `[network]` of `net = "bound"` and `"veth"`: what is set, and a bound loopback that is not the default.
    private static func network(_ network: VServerConfig.Network, context: Int) -> [String] {
        var lines = ["", "[network]"]
        switch network {
        case .host, .none:
            return []
        case .bound(let bound):
            lines.append("addresses = \(array(bound.addresses.map(\.description)))")
            if let device = bound.device { lines.append("device = \(TOML.quote(device))") }
            if bound.loopback != BoundNetwork.defaultLoopback(context: context) {
                lines.append("loopback = \(TOML.quote(bound.loopback.description))")
            }
            if let label = bound.label { lines.append("label = \(TOML.quote(label))") }
        case .veth(let veth):
            if !veth.addresses.isEmpty { lines.append("addresses = \(array(veth.addresses.map(\.description)))") }
            if let gateway = veth.gateway { lines.append("gateway = \(TOML.quote(gateway.description))") }
            if let gateway6 = veth.gateway6 { lines.append("gateway6 = \(TOML.quote(gateway6.description))") }
            if let bridge = veth.bridge { lines.append("bridge = \(TOML.quote(bridge))") }
            if let mac = veth.mac { lines.append("mac = \(TOML.quote(VethSettings.formatMAC(mac)))") }
            if let mtu = veth.mtu { lines.append("mtu = \(mtu)") }
        }
        return lines
    }

    /// `[resources]` and `[disk]`: the keys whose value is not the default, as `show` describes them.
    private static func resources(_ settings: ResourceSettings) -> [String] {
        let defaults = ResourceSettings()
        var lines: [String] = []
        for table in ["resources", "disk"] {
            let keys = ResourceKey.allCases.filter {
                $0.table == table && $0.describe(settings) != $0.describe(defaults)
            }
            if keys.isEmpty { continue }
            lines += ["", "[\(table)]"]
            lines += keys.map { "\($0.rawValue) = \($0.literal($0.describe(settings) ?? "max"))" }
        }
        return lines
    }

    private static func amount(_ value: UInt64) -> String {
        value == .max ? "\"unlimited\"" : "\(value)"
    }

    private static func array(_ values: [String]) -> String {
        "[" + values.map(TOML.quote).joined(separator: ", ") + "]"
    }
}
