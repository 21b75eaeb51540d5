import CSystemd
import Glibc
import Logging
import VarlinkServer

/// Logs to journald with structured fields (docs/ARCHITECTURE.md §9): `journalctl VSERVER=web` shows everything about
/// one vserver, hook output included. Metadata keys become fields (`vserver` → VSERVER, `vserver_context` →
/// VSERVER_CONTEXT, `hook` → HOOK, `script` → SCRIPT, `peer_uid` → PEER_UID, ...), besides MESSAGE, PRIORITY,
/// SYSLOG_IDENTIFIER and CODE_FILE/CODE_LINE/CODE_FUNC.
package struct JournalLogHandler: LogHandler {
    /// Holds level and metadata, and writes what the journal does not take.
    private var standardError: StandardErrorLogHandler

    package init(label: String, level: Logger.Level) {
        standardError = StandardErrorLogHandler(label: label, level: level)
    }

    package var logLevel: Logger.Level {
        get { standardError.logLevel }
        set { standardError.logLevel = newValue }
    }

    package var metadata: Logger.Metadata {
        get { standardError.metadata }
        set { standardError.metadata = newValue }
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { standardError[metadataKey: key] }
        set { standardError[metadataKey: key] = newValue }
    }

    package func log(event: LogEvent) {
        var fields = metadata
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        let entry = JournalEntry(level: event.level, message: "\(event.message)", metadata: fields,
                                 file: event.file, function: event.function, line: event.line)
        if entry.send() < 0 {
            // journald is gone (restarting): stderr is its stream socket, which it keeps across restarts.
            standardError.log(event: event)
        }
    }
}

/// One journal entry as `FIELD=value` pairs.
package struct JournalEntry {
    package var fields: [(name: String, value: String)]

    package init(
        level: Logger.Level, message: String, metadata: Logger.Metadata, file: String, function: String, line: UInt
    ) {
        fields = [
            ("MESSAGE", Self.message(message, metadata: metadata)),
            ("PRIORITY", "\(Self.priority(level))"),
            ("SYSLOG_IDENTIFIER", "vserverd"),
            ("CODE_FILE", file),
            ("CODE_LINE", "\(line)"),
            ("CODE_FUNC", function),
        ]
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            fields.append((Self.fieldName(key), "\(value)"))
        }
    }

    /// syslog priorities (sd-daemon.h): journalctl -p filters and colours by them.
    package static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// The text `journalctl` shows: which vserver (and hook script) it is about, then the message. The other
    /// metadata (callers' uid and pid) stays in fields.
    package static func message(_ message: String, metadata: Logger.Metadata) -> String {
        guard let vserver = metadata["vserver"] else { return message }
        var prefix = "\(vserver)"
        if let hook = metadata["hook"] {
            prefix += " \(hook)"
            if let script = metadata["script"] { prefix += " \(script)" }
        }
        return "\(prefix): \(message)"
    }

    /// Journal field names are upper-case letters, digits and "_", not starting with "_" (trusted fields) or a
    /// digit, at most 64 bytes. A metadata key that would shadow one of our own fields gets a prefix.
    package static func fieldName(_ key: String) -> String {
        var name = String(key.uppercased().unicodeScalars.map { scalar -> Character in
            let value = scalar.value
            let allowed = (value >= 65 && value <= 90) || (value >= 48 && value <= 57)
            return allowed ? Character(scalar) : "_"
        })
        while name.hasPrefix("_") { name.removeFirst() }
        if name.isEmpty || name.first!.isNumber || reserved.contains(name) { name = "META_" + name }
        return String(name.prefix(64))
    }

    private static let reserved: Set<String> = [
        "MESSAGE", "MESSAGE_ID", "PRIORITY", "SYSLOG_IDENTIFIER", "SYSLOG_FACILITY", "SYSLOG_PID", "CODE_FILE",
        "CODE_LINE", "CODE_FUNC", "ERRNO", "INVOCATION_ID", "USER_INVOCATION_ID", "UNIT", "USER_UNIT",
    ]

    /// sd_journal_sendv: one datagram to journald, every field as "NAME=value" (values may hold newlines).
    package func send() -> Int32 {
        var bytes: [UInt8] = []
        var ranges: [Range<Int>] = []
        for (name, value) in fields {
            let start = bytes.count
            bytes += Array("\(name)=\(value)".utf8)
            ranges.append(start..<bytes.count)
        }
        return bytes.withUnsafeMutableBytes { buffer in
            var vectors = ranges.map { range in
                iovec(iov_base: buffer.baseAddress! + range.lowerBound, iov_len: range.count)
            }
            return sd_journal_sendv(&vectors, Int32(vectors.count))
        }
    }
}

/// `$JOURNAL_STREAM` ("DEVICE:INODE", set by systemd when stdout or stderr is connected to journald): log
/// to the journal only when stderr still is that stream, not when the variable was merely inherited.
package enum JournalStream {
    package static func parse(_ value: String) -> (device: UInt64, inode: UInt64)? {
        let parts = value.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return nil }
        return (device, inode)
    }

    package static func isStandardErrorConnected() -> Bool {
        guard let value = getenv("JOURNAL_STREAM") else { return false }
        return isConnected(fd: 2, journalStream: String(cString: value))
    }

    package static func isConnected(fd: Int32, journalStream value: String) -> Bool {
        guard let stream = parse(value) else { return false }
        var status = stat()
        guard fstat(fd, &status) == 0 else { return false }
        return UInt64(status.st_dev) == stream.device && UInt64(status.st_ino) == stream.inode
    }
}
