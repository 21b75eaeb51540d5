/// Varlink messages (https://varlink.org/Method-Call): JSON objects, each terminated by a NUL byte.

/// A message longer than this (without its NUL) is refused and the connection closed: it bounds what one
/// unauthenticated peer can make the daemon buffer.
public let varlinkMaxMessageSize = 1 << 20

/// The name of `org.varlink.service`, the interface every Varlink service serves about itself.
public let varlinkServiceInterfaceName = "org.varlink.service"

/// A message that is not a valid Varlink call or reply. The server closes the connection on it.
public struct VarlinkMessageError: Error, Equatable, Sendable, CustomStringConvertible {
    public var reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { "invalid Varlink message: \(reason)" }
}

// MARK: - Names

extension VarlinkCall {
    /// Whether `name` is a fully-qualified method name: a reverse-domain interface name (at least two
    /// dot-separated parts of letters, digits and inner dashes, the first starting with a letter), a dot and a
    /// member name (`[A-Z][A-Za-z0-9]*`).
    public static func isValidMethodName(_ name: String) -> Bool {
        let utf8 = Array(name.utf8)
        guard let lastDot = utf8.lastIndex(of: UInt8(ascii: ".")) else { return false }
        return isValidInterfaceName(utf8[..<lastDot]) && isValidMemberName(utf8[(lastDot + 1)...])
    }

    /// Whether `name` is a reverse-domain interface name such as `io.vserverd.Manager`.
    public static func isValidInterfaceName(_ name: String) -> Bool {
        isValidInterfaceName(Array(name.utf8)[...])
    }

    static func isValidInterfaceName(_ name: ArraySlice<UInt8>) -> Bool {
        let parts = name.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count >= 2, let first = parts.first?.first, isLetter(first) else { return false }
        return parts.allSatisfy { part in
            guard let head = part.first, let tail = part.last, isAlphanumeric(head), isAlphanumeric(tail) else {
                return false
            }
            return part.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") }
        }
    }

    static func isValidMemberName(_ name: ArraySlice<UInt8>) -> Bool {
        guard let first = name.first, first >= UInt8(ascii: "A"), first <= UInt8(ascii: "Z") else { return false }
        return name.allSatisfy(isAlphanumeric)
    }

    private static func isLetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        isLetter(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}

// MARK: - Call

/// A method call: `{"method": "interface.Method", "parameters": {…}, "more": true}`.
public struct VarlinkCall: Sendable, Equatable {
    /// Fully qualified: `io.vserverd.Manager.List`.
    public var method: String
    public var parameters: [String: JSON]
    /// The client accepts several replies; all but the last carry `continues: true`.
    public var more: Bool
    /// The client wants no reply at all.
    public var oneway: Bool
    /// The client asks to take the connection over for another protocol after the reply.
    public var upgrade: Bool

    public init(
        method: String,
        parameters: [String: JSON] = [:],
        more: Bool = false,
        oneway: Bool = false,
        upgrade: Bool = false
    ) {
        self.method = method
        self.parameters = parameters
        self.more = more
        self.oneway = oneway
        self.upgrade = upgrade
    }

    /// The interface part of `method`: `io.vserverd.Manager`.
    public var interface: String {
        guard let dot = method.lastIndex(of: ".") else { return "" }
        return String(method[..<dot])
    }

    /// The member part of `method`: `List`.
    public var memberName: String {
        guard let dot = method.lastIndex(of: ".") else { return method }
        return String(method[method.index(after: dot)...])
    }

    /// Validates a decoded message. Unknown top-level fields are ignored, as the spec leaves room for
    /// vendor extensions; at most one of `more`, `oneway` and `upgrade` may be set (as sd-varlink enforces).
    public init(json: JSON) throws(VarlinkMessageError) {
        guard case .object(let message) = json else { throw VarlinkMessageError("a call must be a JSON object") }
        guard let method = message["method"]?.stringValue else {
            throw VarlinkMessageError("\"method\" must be a string")
        }
        guard VarlinkCall.isValidMethodName(method) else {
            throw VarlinkMessageError("\"\(method)\" is not a method name of the form interface.Method")
        }
        self.method = method
        self.parameters = try decodeParameters(message["parameters"])
        self.more = try decodeFlag(message, "more")
        self.oneway = try decodeFlag(message, "oneway")
        self.upgrade = try decodeFlag(message, "upgrade")
        if [more, oneway, upgrade].filter({ $0 }).count > 1 {
            throw VarlinkMessageError("only one of \"more\", \"oneway\" and \"upgrade\" may be set")
        }
    }

    /// Parses one message without its NUL terminator.
    public static func parse(_ message: some Collection<UInt8>) throws(VarlinkMessageError) -> VarlinkCall {
        try VarlinkCall(json: parseMessage(message))
    }

    /// The message as JSON; false flags and empty parameters are left out, as the reference clients do.
    public var json: JSON {
        var message: [String: JSON] = ["method": .string(method)]
        if !parameters.isEmpty { message["parameters"] = .object(parameters) }
        if more { message["more"] = true }
        if oneway { message["oneway"] = true }
        if upgrade { message["upgrade"] = true }
        return .object(message)
    }

    /// The message framed for the wire: JSON text followed by NUL.
    public func encoded() -> [UInt8] {
        varlinkFrame(json)
    }
}

// MARK: - Reply

/// A reply: `{"parameters": {…}, "continues": true}` or `{"error": "interface.Error", "parameters": {…}}`.
public struct VarlinkReply: Sendable, Equatable {
    public var parameters: [String: JSON]
    /// More replies to the same call follow.
    public var continues: Bool
    /// Set for an error reply: the fully-qualified error name.
    public var error: String?

    public init(parameters: [String: JSON] = [:], continues: Bool = false, error: String? = nil) {
        self.parameters = parameters
        self.continues = continues
        self.error = error
    }

    public init(error: VarlinkError) {
        self.init(parameters: error.parameters, error: error.name)
    }

    public init(json: JSON) throws(VarlinkMessageError) {
        guard case .object(let message) = json else { throw VarlinkMessageError("a reply must be a JSON object") }
        self.parameters = try decodeParameters(message["parameters"])
        self.continues = try decodeFlag(message, "continues")
        switch message["error"] {
        case nil, .null?:
            self.error = nil
        case .string(let name)?:
            self.error = name
        default:
            throw VarlinkMessageError("\"error\" must be a string")
        }
    }

    /// Parses one message without its NUL terminator.
    public static func parse(_ message: some Collection<UInt8>) throws(VarlinkMessageError) -> VarlinkReply {
        try VarlinkReply(json: parseMessage(message))
    }

    /// `parameters` is always written, even when empty: the oldest clients expect it.
    public var json: JSON {
        var message: [String: JSON] = ["parameters": .object(parameters)]
        if continues { message["continues"] = true }
        if let error { message["error"] = .string(error) }
        return .object(message)
    }

    /// The message framed for the wire: JSON text followed by NUL.
    public func encoded() -> [UInt8] {
        varlinkFrame(json)
    }

    /// The error carried by this reply, if it is an error reply.
    public var varlinkError: VarlinkError? {
        error.map { VarlinkError(name: $0, parameters: parameters) }
    }
}

/// JSON text followed by the NUL that ends a Varlink message.
public func varlinkFrame(_ message: JSON) -> [UInt8] {
    var bytes = message.serializedBytes()
    bytes.append(0)
    return bytes
}

private func parseMessage(_ message: some Collection<UInt8>) throws(VarlinkMessageError) -> JSON {
    do {
        return try JSON.parse(message)
    } catch {
        throw VarlinkMessageError(error.description)
    }
}

private func decodeParameters(_ value: JSON?) throws(VarlinkMessageError) -> [String: JSON] {
    switch value {
    case nil, .null?: return [:]
    case .object(let parameters)?: return parameters
    default: throw VarlinkMessageError("\"parameters\" must be an object")
    }
}

private func decodeFlag(_ message: [String: JSON], _ name: String) throws(VarlinkMessageError) -> Bool {
    switch message[name] {
    case nil, .null?: return false
    case .bool(let value)?: return value
    default: throw VarlinkMessageError("\"\(name)\" must be a boolean")
    }
}

// MARK: - Framing

/// Splits a byte stream into NUL-terminated messages, refusing any message longer than `maxMessageSize`.
public struct VarlinkFrameBuffer: Sendable {
    public let maxMessageSize: Int
    private var buffer: [UInt8] = []
    private var start = 0
    /// Bytes after `start` already known to hold no NUL, so a slow sender does not cost a rescan each time.
    private var scanned = 0

    public init(maxMessageSize: Int = varlinkMaxMessageSize) {
        self.maxMessageSize = maxMessageSize
    }

    /// Bytes received but not yet returned as a message.
    public var pendingByteCount: Int { buffer.count - start }

    public mutating func append(_ bytes: some Sequence<UInt8>) {
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > 1 << 16 {
            buffer.removeSubrange(..<start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete message without its NUL, nil when more bytes are needed.
    /// Throws when the pending message has grown past `maxMessageSize` without a NUL.
    public mutating func nextMessage() throws(VarlinkMessageError) -> ArraySlice<UInt8>? {
        let searchFrom = start + scanned
        if let nul = buffer[searchFrom...].firstIndex(of: 0) {
            guard nul - start <= maxMessageSize else { throw tooLarge() }
            let message = buffer[start..<nul]
            start = nul + 1
            scanned = 0
            return message
        }
        scanned = buffer.count - start
        if scanned > maxMessageSize { throw tooLarge() }
        return nil
    }

    private func tooLarge() -> VarlinkMessageError {
        VarlinkMessageError("message longer than \(maxMessageSize) bytes")
    }
}
