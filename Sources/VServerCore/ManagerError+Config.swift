import VServerConfig
import VServerProtocol

/// The daemon's own failures as the errors it sends.
extension ManagerError {
    init(_ error: ConfigError, name: String) {
        self = .invalidConfig(name: name, file: error.file, reason: error.description)
    }

    init(_ error: SystemError) {
        self = .internalError(error.description)
    }
}
