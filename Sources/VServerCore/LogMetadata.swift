import Logging

extension Logger.Metadata {
    /// Metadata naming a vserver: `vserver` and, when known, `vserver_context` (journald VSERVER=, VSERVER_CONTEXT=:
    /// `journalctl VSERVER=web` shows everything about one guest).
    package static func vserver(_ name: String, context: Int?) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["vserver": "\(name)"]
        if let context { metadata["vserver_context"] = "\(context)" }
        return metadata
    }
}

extension Logger {
    /// This logger with a vserver's metadata on every line.
    package func about(vserver name: String, context: Int?) -> Logger {
        var logger = self
        for (key, value) in Logger.Metadata.vserver(name, context: context) { logger[metadataKey: key] = value }
        return logger
    }
}

extension Manager {
    /// Log metadata naming a vserver: `vserver` and, when known, `vserver_context` (journald VSERVER_CONTEXT=).
    func logMetadata(_ name: String) -> Logger.Metadata {
        .vserver(name, context: states[name]?.guest?.record.context ?? configs.configs[name]?.context)
    }
}
