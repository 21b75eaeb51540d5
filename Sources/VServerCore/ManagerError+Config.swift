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

    /// Whatever a blocking step threw: a ManagerError as it is, anything else as an InternalError saying it.
    init(thrown error: any Error) {
        switch error {
        case let error as ManagerError: self = error
        case let error as SystemError: self.init(error)
        default: self = .internalError("\(error)")
        }
    }
}
