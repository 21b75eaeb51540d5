/// An error reply: a fully-qualified error name from some interface's IDL and that error's parameters.
///
/// Handlers throw it to answer a call with an error; `VarlinkClient` throws it when the reply is an error.
public struct VarlinkError: Error, Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var parameters: [String: JSON]

    public init(name: String, parameters: [String: JSON] = [:]) {
        self.name = name
        self.parameters = parameters
    }

    /// `io.vserverd.Manager.NoSuchVServer {"name":"web"}`.
    public var description: String {
        parameters.isEmpty ? name : "\(name) \(JSON.object(parameters).serialized())"
    }
}

/// An error that knows its Varlink form. The server sends `varlinkError` for it instead of an internal error.
public protocol VarlinkErrorConvertible: Error {
    var varlinkError: VarlinkError { get }
}

extension VarlinkError: VarlinkErrorConvertible {
    public var varlinkError: VarlinkError { self }
}

/// The errors of `org.varlink.service` (https://varlink.org/Service).
public enum VarlinkServiceErrorName {
    public static let interfaceNotFound = "org.varlink.service.InterfaceNotFound"
    public static let methodNotFound = "org.varlink.service.MethodNotFound"
    public static let methodNotImplemented = "org.varlink.service.MethodNotImplemented"
    public static let invalidParameter = "org.varlink.service.InvalidParameter"
    public static let permissionDenied = "org.varlink.service.PermissionDenied"
    public static let expectedMore = "org.varlink.service.ExpectedMore"
}

extension VarlinkError {
    public static func interfaceNotFound(_ interface: String) -> VarlinkError {
        VarlinkError(name: VarlinkServiceErrorName.interfaceNotFound, parameters: ["interface": .string(interface)])
    }

    /// `method` is the fully-qualified name that was called, as sd-varlink reports it.
    public static func methodNotFound(_ method: String) -> VarlinkError {
        VarlinkError(name: VarlinkServiceErrorName.methodNotFound, parameters: ["method": .string(method)])
    }

    public static func methodNotImplemented(_ method: String) -> VarlinkError {
        VarlinkError(name: VarlinkServiceErrorName.methodNotImplemented, parameters: ["method": .string(method)])
    }

    public static func invalidParameter(_ parameter: String) -> VarlinkError {
        VarlinkError(name: VarlinkServiceErrorName.invalidParameter, parameters: ["parameter": .string(parameter)])
    }

    public static var permissionDenied: VarlinkError {
        VarlinkError(name: VarlinkServiceErrorName.permissionDenied)
    }

    /// For a method that only makes sense with `more` (like `Monitor`) called without it.
    public static var expectedMore: VarlinkError {
        VarlinkError(name: VarlinkServiceErrorName.expectedMore)
    }
}

// MARK: - Reading parameters

/// Typed access to call parameters (or reply parameters): a missing or mistyped parameter is
/// `org.varlink.service.InvalidParameter` naming it, which a handler can let propagate as its reply.
/// JSON `null` counts as absent, as the Varlink spec treats `?type` fields.
extension Dictionary where Key == String, Value == JSON {
    public func requiredString(_ name: String) throws(VarlinkError) -> String {
        guard let value = try optionalString(name) else { throw .invalidParameter(name) }
        return value
    }

    public func optionalString(_ name: String) throws(VarlinkError) -> String? {
        switch self[name] {
        case nil, .null?: return nil
        case .string(let value)?: return value
        default: throw .invalidParameter(name)
        }
    }

    public func requiredInt(_ name: String) throws(VarlinkError) -> Int {
        guard let value = try optionalInt(name) else { throw .invalidParameter(name) }
        return value
    }

    public func optionalInt(_ name: String) throws(VarlinkError) -> Int? {
        switch self[name] {
        case nil, .null?: return nil
        case let value?:
            guard let int = value.intValue else { throw .invalidParameter(name) }
            return int
        }
    }

    public func optionalDouble(_ name: String) throws(VarlinkError) -> Double? {
        switch self[name] {
        case nil, .null?: return nil
        case let value?:
            guard let number = value.doubleValue else { throw .invalidParameter(name) }
            return number
        }
    }

    /// An integer that must lie in `range`: anything else (too large for `Int` too) is `InvalidParameter`
    /// naming it, never a trap further on.
    public func optionalInt(_ name: String, in range: ClosedRange<Int>) throws(VarlinkError) -> Int? {
        guard let value = try optionalInt(name) else { return nil }
        guard range.contains(value) else { throw .invalidParameter(name) }
        return value
    }

    public func requiredBool(_ name: String) throws(VarlinkError) -> Bool {
        guard let value = try optionalBool(name) else { throw .invalidParameter(name) }
        return value
    }

    public func optionalBool(_ name: String) throws(VarlinkError) -> Bool? {
        switch self[name] {
        case nil, .null?: return nil
        case .bool(let value)?: return value
        default: throw .invalidParameter(name)
        }
    }

    public func requiredStringArray(_ name: String) throws(VarlinkError) -> [String] {
        guard let elements = self[name]?.arrayValue else { throw .invalidParameter(name) }
        var strings: [String] = []
        strings.reserveCapacity(elements.count)
        for element in elements {
            guard let string = element.stringValue else { throw .invalidParameter(name) }
            strings.append(string)
        }
        return strings
    }

    /// A required array of objects, each decoded by `decode`.
    public func requiredArray<Element>(
        _ name: String,
        _ decode: (JSON) throws(VarlinkError) -> Element
    ) throws(VarlinkError) -> [Element] {
        guard let elements = self[name]?.arrayValue else { throw .invalidParameter(name) }
        var decoded: [Element] = []
        decoded.reserveCapacity(elements.count)
        for element in elements { decoded.append(try decode(element)) }
        return decoded
    }

    /// A required object member, decoded by `decode`.
    public func required<Decoded>(
        _ name: String,
        _ decode: (JSON) throws(VarlinkError) -> Decoded
    ) throws(VarlinkError) -> Decoded {
        guard let value = self[name], value != .null else { throw .invalidParameter(name) }
        return try decode(value)
    }
}
