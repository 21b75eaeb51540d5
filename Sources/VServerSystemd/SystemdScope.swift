import CSystemd
import Glibc
import Logging
import VarlinkServer
import VServerConfig
import VServerCore

/// When systemd is PID 1, each guest gets its own transient scope `vserver-NAME.scope` in machine.slice
/// (Delegate=yes) and is registered with systemd-machined (docs/ARCHITECTURE.md §9): `machinectl list`, `machinectl
/// status NAME` and `systemd-cgls` show it, and a restart of vserverd.service never touches it.
///
/// PID 1 of the guest waits before its exec while this runs (vs_spawn_hold), so nothing of the guest has forked
/// yet when systemd moves it: every guest process is in the scope. A failure is a warning: the guest still
/// runs, in vserverd.service's cgroup (KillMode=process keeps it alive across daemon restarts there too).
package struct SystemdScopes: GuestPlacement {
    package let logger: Logger

    /// Per D-Bus call; the held guest gives up after VS_SPAWN_HOLD_TIMEOUT_MS, far beyond.
    package static let callTimeoutMicroseconds: UInt64 = 10_000_000

    /// Scopes when the host runs systemd (sd_booted: /run/systemd/system exists), else nil.
    package static func ifSystemdBooted(logger: Logger) -> SystemdScopes? {
        sd_booted() > 0 ? SystemdScopes(logger: logger) : nil
    }

    package func place(_ guest: PlacedGuest) {
        let logger = logger.about(vserver: guest.name, context: guest.context)
        let scope = GuestCgroup.scopeName(guest.name)
        do {
            let bus = try SystemBus()
            try retryWhileExists {
                try bus.call(Self.startTransientUnit(scope: scope, guest: guest, bus: bus))
            }
            try waitUntilInCgroup(pid: guest.pid, scope: scope)
            logger.debug("in \(scope)")
            do {
                try retryWhileExists { try bus.call(Self.registerMachine(guest, bus: bus)) }
            } catch {
                logger.warning("not registered with systemd-machined: \(error)")
            }
        } catch {
            logger.warning("runs without its own scope \(scope): \(error)")
        }
    }

    /// StartTransientUnit(name, mode, properties a(sv), aux a(sa(sv))).
    package static func startTransientUnit(scope: String, guest: PlacedGuest, bus: SystemBus) throws -> BusMessage {
        let message = try BusMessage(
            bus: bus, destination: "org.freedesktop.systemd1", path: "/org/freedesktop/systemd1",
            interface: "org.freedesktop.systemd1.Manager", member: "StartTransientUnit")
        try message.append(scope)
        try message.append("fail")
        try message.append(properties: scopeProperties(scope: scope, guest: guest))
        try message.container("a", "(sa(sv))") {}
        return message
    }

    /// The value of a unit property in a D-Bus call.
    package enum PropertyValue: Equatable {
        case string(String)
        case boolean(Bool)
        case uint64(UInt64)
        case pids([UInt32])
        case strings([String])
        case bytes([UInt8])
    }

    /// The properties of a guest's scope, in order.
    package static func scopeProperties(scope: String, guest: PlacedGuest) -> [(name: String, value: PropertyValue)] {
        [
            ("Description", .string("vserver \(guest.name) (context \(guest.context))")),
            ("Slice", .string(GuestCgroup.scopeSlice)),
            ("PIDs", .pids([UInt32(bitPattern: guest.pid)])),
            // The guest's own init (a systemd guest) manages the cgroups below the scope.
            ("Delegate", .boolean(true)),
            ("TasksAccounting", .boolean(true)),
            ("MemoryAccounting", .boolean(true)),
            ("CPUAccounting", .boolean(true)),
            ("IOAccounting", .boolean(true)),
            // A scope that ended badly must not block the next start of the same vserver.
            ("CollectMode", .string("inactive-or-failed")),
            // At shutdown vservers.service stops the guests in order first; only then may systemd end the scopes.
            ("Before", .strings(["vservers.service"])),
        ] + resourceProperties(guest.resources, resetting: false)
    }

    /// `[resources]` as unit properties. TasksMax= is always set (pids-max has a default); the others only when
    /// configured, unless `resetting` (a live change): then an unset limit goes back to systemd's infinity.
    package static func resourceProperties(_ resources: ResourceSettings, resetting: Bool)
        -> [(name: String, value: PropertyValue)]
    {
        // UInt64.max is systemd's "infinity" for the limits and "unset" for the weights.
        let values: [(String, UInt64?)] = [
            ("MemoryMax", resources.memoryMax),
            ("MemoryHigh", resources.memoryHigh),
            ("MemorySwapMax", resources.swapMax),
            // CPUQuota=150% is 1.5 s of CPU time per second.
            ("CPUQuotaPerSecUSec", resources.cpuMaxPercent.map { $0 * 10_000 }),
            ("CPUWeight", resources.cpuWeight),
            ("IOWeight", resources.ioWeight),
        ]
        var properties = values.compactMap { name, value in
            value != nil || resetting ? (name: name, value: PropertyValue.uint64(value ?? .max)) : nil
        }
        if resources.cpuset != nil || resetting {
            properties.append(("AllowedCPUs", .bytes(cpuMask(resources.cpuset))))
        }
        properties.append(("TasksMax", .uint64(resources.pidsMax ?? .max)))
        return properties
    }

    /// AllowedCPUs= as systemd takes it over D-Bus: a bit mask, CPU 0 in bit 0 of the first byte; empty is all.
    package static func cpuMask(_ cpuset: String?) -> [UInt8] {
        guard let cpuset, let list = CPUList(cpuset), let highest = list.cpus.max() else { return [] }
        var mask = [UInt8](repeating: 0, count: highest / 8 + 1)
        for cpu in list.cpus { mask[cpu / 8] |= 1 << (cpu % 8) }
        return mask
    }

    /// SetUnitProperties(name, runtime, properties): a live change of a running guest's limits. Runtime only:
    /// vserver.toml holds what lasts.
    package func setResources(_ resources: ResourceSettings, name: String) throws {
        let bus = try SystemBus()
        let message = try BusMessage(
            bus: bus, destination: "org.freedesktop.systemd1", path: "/org/freedesktop/systemd1",
            interface: "org.freedesktop.systemd1.Manager", member: "SetUnitProperties")
        try message.append(GuestCgroup.scopeName(name))
        try message.append(true)
        try message.append(properties: Self.resourceProperties(resources, resetting: true))
        try bus.call(message)
    }

    /// RegisterMachine(name, id ay, service, class, leader, root_directory): registers the leader's unit (our
    /// scope) as a machine, without machined creating a scope of its own.
    package static func registerMachine(_ guest: PlacedGuest, bus: SystemBus) throws -> BusMessage {
        let message = try BusMessage(
            bus: bus, destination: "org.freedesktop.machine1", path: "/org/freedesktop/machine1",
            interface: "org.freedesktop.machine1.Manager", member: "RegisterMachine")
        try message.append(guest.name)
        try message.append(bytes: [])
        try message.append("vserverd")
        try message.append("container")
        try message.append(UInt32(bitPattern: guest.pid))
        try message.append(guest.root)
        return message
    }

    /// StartTransientUnit returns once the job is queued; the move into the cgroup happens when the job runs.
    /// RegisterMachine looks the unit up from the leader's cgroup, and the guest must not exec before: wait.
    private func waitUntilInCgroup(pid: Int32, scope: String) throws {
        let suffix = "/\(scope)"
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(5)
        while true {
            let file = "/proc/\(pid)/cgroup"
            let fd = open(file, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw BusError("open \(file): \(String(cString: strerror(errno)))") }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = read(fd, &buffer, buffer.count)
            close(fd)
            let text = String(decoding: buffer.prefix(max(0, count)), as: UTF8.self)
            if text.split(separator: "\n").contains(where: { $0.hasSuffix(suffix) }) { return }
            guard clock.now < deadline else {
                let found = text.split(separator: "\n").joined(separator: ", ")
                throw BusError("PID \(pid) did not arrive in \(scope) within 5 s (\(file): \(found))")
            }
            usleep(1_000)
        }
    }

    /// A scope (or machine) of the same name may still be going away after the guest's previous run: systemd
    /// notices an empty cgroup asynchronously. Retries for up to 3 s.
    private func retryWhileExists(_ call: () throws -> Void) throws {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(3)
        while true {
            do {
                return try call()
            } catch let error as BusError where error.isAlreadyExists && clock.now < deadline {
                usleep(20_000)
            }
        }
    }
}

/// A failed sd-bus step: the D-Bus error name and message, or an errno.
package struct BusError: Error, CustomStringConvertible {
    package var description: String
    package var name: String?

    package init(_ description: String, name: String? = nil) {
        self.description = description
        self.name = name
    }

    package init(_ step: String, code: Int32) {
        self.init("\(step): \(String(cString: strerror(-code)))")
    }

    package var isAlreadyExists: Bool {
        name == "org.freedesktop.systemd1.UnitExists" || name == "org.freedesktop.machine1.MachineExists"
    }
}

/// A connection to the system bus; one per guest start: sd-bus objects must not be shared between threads,
/// and starts run in parallel.
package final class SystemBus {
    package let bus: OpaquePointer

    package init() throws {
        var bus: OpaquePointer?
        let result = sd_bus_open_system(&bus)
        guard result >= 0, let bus else { throw BusError("connect to the system bus", code: result) }
        self.bus = bus
    }

    deinit { sd_bus_flush_close_unref(bus) }

    package func call(_ message: BusMessage) throws {
        var error = sd_bus_error()
        var reply: OpaquePointer?
        defer {
            sd_bus_error_free(&error)
            sd_bus_message_unref(reply)
        }
        let result = sd_bus_call(bus, message.message, SystemdScopes.callTimeoutMicroseconds, &error, &reply)
        guard result >= 0 else {
            let name = error.name.map { String(cString: $0) }
            let text = error.message.map { String(cString: $0) } ?? String(cString: strerror(-result))
            throw BusError("\(message.member): \(text)", name: name)
        }
    }
}

/// A method call being built with the non-variadic sd_bus_message_append_* functions (Swift cannot call
/// sd_bus_message_append).
package final class BusMessage {
    package let message: OpaquePointer
    package let member: String

    package init(bus: SystemBus, destination: String, path: String, interface: String, member: String) throws {
        var message: OpaquePointer?
        let result = sd_bus_message_new_method_call(bus.bus, &message, destination, path, interface, member)
        guard result >= 0, let message else { throw BusError("build \(member)", code: result) }
        self.message = message
        self.member = member
    }

    deinit { sd_bus_message_unref(message) }

    private func check(_ result: Int32, _ step: String) throws {
        if result < 0 { throw BusError("build \(member): \(step)", code: result) }
    }

    private static func type(_ character: Unicode.Scalar) -> CChar { CChar(UInt8(ascii: character)) }

    package func append(_ string: String) throws {
        try check(string.withCString { sd_bus_message_append_basic(message, Self.type("s"), $0) }, "string")
    }

    package func append(_ value: UInt32) throws {
        var value = value
        try check(sd_bus_message_append_basic(message, Self.type("u"), &value), "uint32")
    }

    package func append(_ value: UInt64) throws {
        var value = value
        try check(sd_bus_message_append_basic(message, Self.type("t"), &value), "uint64")
    }

    package func append(_ value: Bool) throws {
        var value: Int32 = value ? 1 : 0
        try check(sd_bus_message_append_basic(message, Self.type("b"), &value), "boolean")
    }

    package func append(bytes: [UInt8]) throws {
        try check(bytes.withUnsafeBytes { sd_bus_message_append_array(message, Self.type("y"), $0.baseAddress,
                                                                      $0.count) }, "byte array")
    }

    /// An array ("a"), struct ("r"), dict entry ("e") or variant ("v") holding `contents`.
    package func container(_ type: Unicode.Scalar, _ contents: String, _ body: () throws -> Void) throws {
        try check(sd_bus_message_open_container(message, Self.type(type), contents), "open \(contents)")
        try body()
        try check(sd_bus_message_close_container(message), "close \(contents)")
    }

    /// A unit's properties, a(sv).
    package func append(properties: [(name: String, value: SystemdScopes.PropertyValue)]) throws {
        try container("a", "(sv)") {
            for (name, value) in properties {
                switch value {
                case .string(let text): try property(name, "s") { try append(text) }
                case .boolean(let flag): try property(name, "b") { try append(flag) }
                case .uint64(let number): try property(name, "t") { try append(number) }
                case .pids(let pids):
                    try property(name, "au") { try container("a", "u") { for pid in pids { try append(pid) } } }
                case .strings(let texts):
                    try property(name, "as") { try container("a", "s") { for text in texts { try append(text) } } }
                case .bytes(let bytes):
                    try property(name, "ay") { try append(bytes: bytes) }
                }
            }
        }
    }

    /// One (sv) entry of a property array.
    package func property(_ name: String, _ signature: String, _ value: () throws -> Void) throws {
        try container("r", "sv") {
            try append(name)
            try container("v", signature, value)
        }
    }
}
