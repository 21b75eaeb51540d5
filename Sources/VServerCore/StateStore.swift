import CVServerSpawn
import Glibc
import VServerConfig
import VServerProtocol

/// What the daemon remembers of a running vserver across its own restarts (docs/ARCHITECTURE.md §8).
struct GuestRecord: Sendable, Equatable {
    var name: String
    var pid: Int32
    /// From /proc/PID/stat: with the PID, names the process for good (no PID-reuse mix-up).
    var startTime: UInt64
    var context: Int
    var startedAt: String
    var root: String
    var namespaces: [String: UInt64]
    /// How it is asked to stop (chosen by the init it had at start).
    var stop: StopRequest
    /// Its console is a pty (held by vserverd, made again by the next one), with this many /dev/ttyN ptys; nil: the
    /// console log file itself.
    var ptyConsoleTTYs: Int?
    /// /proc/sys/kernel/random/boot_id when it was written: a record of another boot names no process of this one.
    /// nil in a record of an older vserverd.
    var bootID: String?
    /// net = "bound": the addresses vserverd put on `addressDevice` at start, which stop takes off again.
    var addedAddresses: [InterfaceAddress] = []
    var addressDevice: String?

    var json: JSON {
        .object([
            "name": .string(name),
            "pid": .int(Int64(pid)),
            "startTime": .int(Int64(startTime)),
            "context": .int(Int64(context)),
            "startedAt": .string(startedAt),
            "root": .string(root),
            "namespaces": .object(namespaces.mapValues { .int(Int64($0)) }),
            "stop": .string(stop.description),
        ].merging(ptyConsoleTTYs.map { ["console": .string("pty"), "ttys": .int(Int64($0))] } ?? [:]) { $1 }
         .merging(bootID.map { ["bootID": .string($0)] } ?? [:]) { $1 }
         .merging(AddedAddresses.json(addedAddresses, device: addressDevice)) { $1 })
    }

    init(name: String, pid: Int32, startTime: UInt64, context: Int, startedAt: String, root: String,
         namespaces: [String: UInt64], stop: StopRequest, ptyConsoleTTYs: Int? = nil,
         bootID: String? = ProcFS.bootID, addedAddresses: [InterfaceAddress] = [], addressDevice: String? = nil) {
        self.addedAddresses = addedAddresses
        self.addressDevice = addressDevice
        self.name = name
        self.pid = pid
        self.startTime = startTime
        self.context = context
        self.startedAt = startedAt
        self.root = root
        self.namespaces = namespaces
        self.stop = stop
        self.ptyConsoleTTYs = ptyConsoleTTYs
        self.bootID = bootID
    }

    /// Reads a record as a hostile file could have it: every number is checked to fit before it is converted (a
    /// trap here would crash the daemon at every start), and a problem is an error naming the field.
    init(json: JSON) throws(StateFileProblem) {
        func field<T>(_ key: String, _ convert: (JSON) -> T?) throws(StateFileProblem) -> T {
            guard let value = json[key], let converted = convert(value) else {
                throw StateFileProblem("\(key) is missing or out of range")
            }
            return converted
        }
        let name = try field("name") { $0.stringValue }
        // PID 0 is nobody's and PID 1 the host's init (or vserverd's own pid namespace's): never a guest's.
        let pid = try field("pid") { $0.intValue.flatMap { Int32(exactly: $0) }.flatMap { $0 > 1 ? $0 : nil } }
        let startTime = try field("startTime") { $0.intValue.flatMap { UInt64(exactly: $0) } }
        let context = try field("context") {
            $0.intValue.flatMap { VServerConfig.contextRange.contains($0) ? $0 : nil }
        }
        let startedAt = try field("startedAt") { $0.stringValue }
        let root = try field("root") { $0.stringValue.flatMap { $0.hasPrefix("/") ? $0 : nil } }
        var namespaces: [String: UInt64] = [:]
        for (kind, inode) in try field("namespaces", { $0.objectValue }) {
            guard ProcFS.namespaceKinds.contains(kind), let inode = inode.intValue.flatMap({ UInt64(exactly: $0) })
            else { throw StateFileProblem("namespaces.\(kind) is not a namespace inode") }
            namespaces[kind] = inode
        }
        // A state file of an older vserverd has no "stop": SIGTERM was what it would have sent.
        let stop = json["stop"] == nil ? .signal(Signals.named("SIGTERM"))
            : try field("stop") { $0.stringValue.flatMap(StopRequest.init) }
        var ttys: Int?
        if json["console"]?.stringValue == "pty" {
            ttys = try field("ttys") { $0.intValue.flatMap { (0...Int(VS_MAX_TTYS)).contains($0) ? $0 : nil } }
        }
        let bootID = json["bootID"] == nil ? nil : try field("bootID") { $0.stringValue }
        self.init(name: name, pid: pid, startTime: startTime, context: context, startedAt: startedAt, root: root,
                  namespaces: namespaces, stop: stop, ptyConsoleTTYs: ttys, bootID: bootID)
        (addedAddresses, addressDevice) = try AddedAddresses.read(json)
    }
}

/// net = "bound": the addresses vserverd put on a device, in a record or a launch.
enum AddedAddresses {
    static func json(_ addresses: [InterfaceAddress], device: String?) -> [String: JSON] {
        guard let device else { return [:] }
        return ["addedAddresses": .object(["device": .string(device),
                                           "addresses": .array(addresses.map { .string($0.description) })])]
    }

    static func read(_ json: JSON) throws(StateFileProblem) -> ([InterfaceAddress], String?) {
        guard let added = json["addedAddresses"] else { return ([], nil) }
        let problem = StateFileProblem("addedAddresses is missing or out of range")
        guard let device = added["device"]?.stringValue, Validation.interfaceNameProblem(device) == nil else {
            throw problem
        }
        let texts = added["addresses"]?.arrayValue ?? []
        let addresses = texts.compactMap { $0.stringValue.flatMap { InterfaceAddress($0) } }
        guard addresses.count == texts.count else { throw problem }
        return (addresses, device)
    }
}

/// A start under way: written before its pre-start hooks run, replaced by its `GuestRecord` once PID 1 runs, removed
/// when the start fails. A vserverd that dies in between leaves it, and the next one undoes that start (its PID 1,
/// cgroup, veth and addresses, then its post-stop hooks: docs/ARCHITECTURE.md §8).
struct GuestLaunch: Sendable, Equatable {
    var name: String
    var context: Int
    var root: String
    var addedAddresses: [InterfaceAddress] = []
    var addressDevice: String?

    var json: JSON {
        .object(["name": .string(name),
                 "starting": .object(["context": .int(Int64(context)), "root": .string(root)]
                     .merging(AddedAddresses.json(addedAddresses, device: addressDevice)) { $1 })])
    }

    init(name: String, context: Int, root: String, addedAddresses: [InterfaceAddress], addressDevice: String?) {
        self.name = name
        self.context = context
        self.root = root
        self.addedAddresses = addedAddresses
        self.addressDevice = addressDevice
    }

    init(json: JSON) throws(StateFileProblem) {
        guard let name = json["name"]?.stringValue, let starting = json["starting"],
              let context = starting["context"]?.intValue, VServerConfig.contextRange.contains(context),
              let root = starting["root"]?.stringValue, root.hasPrefix("/")
        else { throw StateFileProblem("not a vserverd state file") }
        self.name = name
        self.context = context
        self.root = root
        (addedAddresses, addressDevice) = try AddedAddresses.read(starting)
    }
}

/// Why a state file was not taken: logged, and the file set aside.
struct StateFileProblem: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}

/// How a vserver's PID 1 ended by itself, kept until it starts again: a vserverd that restarts still shows why it
/// stopped, and how (not folded into one number).
struct GuestEnd: Sendable, Equatable {
    var name: String
    var reason: String
    var exit: ExitStatus?

    var json: JSON {
        var ended: [String: JSON] = ["reason": .string(reason)]
        if let exit { ended["exit"] = exit.json }
        return .object(["name": .string(name), "ended": .object(ended)])
    }

    init(name: String, reason: String, exit: ExitStatus?) {
        self.name = name
        self.reason = reason
        self.exit = exit
    }

    init?(json: JSON) {
        guard let name = json["name"]?.stringValue, let ended = json["ended"],
              let reason = ended["reason"]?.stringValue
        else { return nil }
        self.init(name: name, reason: reason, exit: ended["exit"].flatMap { try? ExitStatus(json: $0) })
    }
}

/// One JSON file per vserver in the state directory, written atomically (tmp + rename): the record of its running
/// PID 1, or how its last one ended by itself.
struct StateStore: Sendable {
    let directory: String

    init(directory: String) throws {
        self.directory = directory
        try FileSystem.makeDirectories(directory, mode: 0o700)
    }

    func path(_ name: String) -> String { "\(directory)/\(name).json" }

    func save(_ record: GuestRecord) throws {
        // No fsync (0.2-0.5 ms of every start on a disk): a record describes processes, which a crash of the
        // machine ends too, and the rename is atomic across a crash of the daemon, which is what re-adoption needs.
        try FileSystem.writeFileAtomically(
            path(record.name), contents: record.json.serialized() + "\n", durable: false)
    }

    /// Before anything of a start runs: a start that the daemon's death interrupts is found again.
    func save(_ launch: GuestLaunch) throws {
        try FileSystem.writeFileAtomically(path(launch.name), contents: launch.json.serialized() + "\n", durable: false)
    }

    /// In place of its record: how the guest ended (a failure to write it is only logged by the caller).
    func save(_ end: GuestEnd) throws {
        try FileSystem.writeFileAtomically(path(end.name), contents: end.json.serialized() + "\n", durable: false)
    }

    func remove(_ name: String) {
        unlink(path(name))
    }

    /// Every record, end and launch in the directory. A file that is none of them is a problem: the caller logs it
    /// and sets it aside.
    /// A write the daemon died in leaves its `NAME.json.tmp`, half written: removed, as the file it was to replace
    /// (or none) is still there.
    func loadAll() -> StateFiles {
        var records: [GuestRecord] = []
        var ends: [GuestEnd] = []
        var launches: [GuestLaunch] = []
        var problems: [(entry: String, reason: String)] = []
        let entries = FileSystem.entries(directory)
        for entry in entries where entry.hasSuffix(".json.tmp") { unlink("\(directory)/\(entry)") }
        for entry in entries where entry.hasSuffix(".json") {
            let file = "\(directory)/\(entry)"
            do {
                let json = try JSON.parse(Array(FileSystem.readText(file).utf8))
                let name = json["name"]?.stringValue ?? ""
                guard "\(name).json" == entry, VServerName.isValid(name) else {
                    problems.append((entry, "\(file): not a vserverd state file"))
                    continue
                }
                if json["ended"] != nil {
                    guard let end = GuestEnd(json: json) else {
                        problems.append((entry, "\(file): not a vserverd state file"))
                        continue
                    }
                    ends.append(end)
                } else if json["starting"] != nil {
                    launches.append(try GuestLaunch(json: json))
                } else {
                    records.append(try GuestRecord(json: json))
                }
            } catch {
                problems.append((entry, "\(file): \(error)"))
            }
        }
        return StateFiles(records: records, ends: ends, launches: launches, problems: problems)
    }

    struct StateFiles {
        var records: [GuestRecord]
        var ends: [GuestEnd]
        var launches: [GuestLaunch]
        /// Files that are no valid record, end or launch (unreadable, foreign, numbers that do not fit).
        var problems: [(entry: String, reason: String)]
    }

    /// Moves a state file that must not be read again (a refused record) to `NAME.json.refused`, where no later
    /// start of vserverd looks, and the admin can still read it. Removed when even that fails: it must not loop.
    func setAside(_ entry: String) {
        let file = "\(directory)/\(entry)"
        if rename(file, file + ".refused") != 0 { unlink(file) }
    }

    /// The file name of a vserver's state file in the directory.
    static func entry(_ name: String) -> String { "\(name).json" }
}
