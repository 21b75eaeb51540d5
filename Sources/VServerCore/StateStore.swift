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

/// One JSON file per running vserver in the state directory, written atomically (tmp + rename).
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

    func remove(_ name: String) {
        unlink(path(name))
    }

    /// Every record in the directory; unreadable or foreign files are reported, not fatal.
    func loadAll() -> (records: [GuestRecord], problems: [String]) {
        var records: [GuestRecord] = []
        var problems: [String] = []
        for entry in FileSystem.entries(directory) where entry.hasSuffix(".json") {
            let file = "\(directory)/\(entry)"
            do {
                let text = try FileSystem.readText(file)
                guard let record = GuestRecord(json: try JSON.parse(Array(text.utf8))),
                      "\(record.name).json" == entry, VServerName.isValid(record.name)
                else {
                    problems.append("\(file): not a vserverd state file")
                    continue
                }
                records.append(record)
            } catch {
                problems.append("\(file): \(error)")
            }
        }
        return (records, problems)
    }
}
