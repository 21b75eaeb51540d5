import Glibc
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
        ].merging(ptyConsoleTTYs.map { ["console": .string("pty"), "ttys": .int(Int64($0))] } ?? [:]) { $1 })
    }

    init(name: String, pid: Int32, startTime: UInt64, context: Int, startedAt: String, root: String,
         namespaces: [String: UInt64], stop: StopRequest, ptyConsoleTTYs: Int? = nil) {
        self.name = name
        self.pid = pid
        self.startTime = startTime
        self.context = context
        self.startedAt = startedAt
        self.root = root
        self.namespaces = namespaces
        self.stop = stop
        self.ptyConsoleTTYs = ptyConsoleTTYs
    }

    init?(json: JSON) {
        guard let name = json["name"]?.stringValue, let pid = json["pid"]?.intValue,
              let startTime = json["startTime"]?.intValue, let context = json["context"]?.intValue,
              let startedAt = json["startedAt"]?.stringValue, let root = json["root"]?.stringValue
        else { return nil }
        var namespaces: [String: UInt64] = [:]
        for (kind, inode) in json["namespaces"]?.objectValue ?? [:] {
            if let inode = inode.intValue { namespaces[kind] = UInt64(inode) }
        }
        // A state file of an older vserverd has no "stop": SIGTERM was what it would have sent.
        let stop = json["stop"]?.stringValue.flatMap(StopRequest.init) ?? .signal(Signals.named("SIGTERM"))
        let ttys = json["console"]?.stringValue == "pty" ? Int(json["ttys"]?.intValue ?? 0) : nil
        self.init(name: name, pid: Int32(pid), startTime: UInt64(startTime), context: Int(context),
                  startedAt: startedAt, root: root, namespaces: namespaces, stop: stop, ptyConsoleTTYs: ttys)
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

    private func path(_ name: String) -> String { "\(directory)/\(name).json" }

    func save(_ record: GuestRecord) throws {
        // No fsync (0.2-0.5 ms of every start on a disk): a record describes processes, which a crash of the
        // machine ends too, and the rename is atomic across a crash of the daemon, which is what re-adoption needs.
        try FileSystem.writeFileAtomically(
            path(record.name), contents: record.json.serialized() + "\n", durable: false)
    }

    /// In place of its record: how the guest ended (a failure to write it is only logged by the caller).
    func save(_ end: GuestEnd) throws {
        try FileSystem.writeFileAtomically(path(end.name), contents: end.json.serialized() + "\n", durable: false)
    }

    func remove(_ name: String) {
        unlink(path(name))
    }

    /// Every record and end in the directory; unreadable or foreign files are reported, not fatal.
    func loadAll() -> (records: [GuestRecord], ends: [GuestEnd], problems: [String]) {
        var records: [GuestRecord] = []
        var ends: [GuestEnd] = []
        var problems: [String] = []
        for entry in FileSystem.entries(directory) where entry.hasSuffix(".json") {
            let file = "\(directory)/\(entry)"
            do {
                let json = try JSON.parse(Array(FileSystem.readText(file).utf8))
                let name = json["name"]?.stringValue ?? ""
                guard "\(name).json" == entry, VServerName.isValid(name) else {
                    problems.append("\(file): not a vserverd state file")
                    continue
                }
                if let record = GuestRecord(json: json) {
                    records.append(record)
                } else if let end = GuestEnd(json: json) {
                    ends.append(end)
                } else {
                    problems.append("\(file): not a vserverd state file")
                }
            } catch {
                problems.append("\(file): \(error)")
            }
        }
        return (records, ends, problems)
    }
}
