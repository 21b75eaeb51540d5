import Glibc
import Logging
import VarlinkServer

/// One line per message on stderr: `LEVEL [vserver=web hook=pre-start] message`. No timestamps: under
/// systemd the journal adds them, in a terminal they are noise.
package struct StandardErrorLogHandler: LogHandler {
    package let label: String
    package var logLevel: Logger.Level
    package var metadata: Logger.Metadata = [:]

    package init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
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
