import Glibc
import Logging

/// One line per message on stderr: `LEVEL [vserver=web hook=pre-start] message`. No timestamps: under
/// systemd the journal adds them, in a terminal they are noise.
struct StandardErrorLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields = metadata
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        var line = "\(event.level)"
        if !fields.isEmpty {
            let pairs = fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            line += " [" + pairs.joined(separator: " ") + "]"
        }
        line += " \(event.message)\n"
        // One write per line: lines from concurrent tasks never interleave.
        line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }
}
