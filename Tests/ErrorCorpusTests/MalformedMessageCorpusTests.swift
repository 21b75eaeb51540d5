import Glibc
import Testing

import VServerProtocol

/// Malformed and hostile Varlink messages, each with what the daemon answers it, as a client sees it: either the
/// connection is closed (the text is what vserverd logs as the reason) or an error reply, written as
/// `NAME {parameters}`.
///
/// `answer` goes the way a message goes through the daemon: the frame limit and `VarlinkCall.parse`
/// (ControlServer), the interface and method lookup (ControlServer, vserverd's ManagerRoutes), then
/// `ManagerService.handle`, which decodes the parameters of the real methods. The service behind it knows no
/// vserver: a call whose parameters are valid ends in `NoSuchVServer` (or, for the calls without a name, a reply).
enum MalformedMessageCorpus {
    static let manager = "io.vserverd.Manager"

    /// (message, answer)
    static let cases: [(String, String)] = [
        // Not JSON.
        ("", "closed: invalid JSON at byte 0: unexpected end of input"),
        (" ", "closed: invalid JSON at byte 1: unexpected end of input"),
        ("{", "closed: invalid JSON at byte 1: unterminated object"),
        (#"{"method":"#, "closed: invalid JSON at byte 10: unexpected end of input"),
        (#"{"method":"io.vserverd.Manager.List""#, "closed: invalid JSON at byte 36: unterminated object"),
        (
            #"{"method":"io.vserverd.Manager.List",}"#,
            "closed: invalid JSON at byte 37: expected a string key in object, found character '}'"
        ),
        (
            #"{method:"io.vserverd.Manager.List"}"#,
            "closed: invalid JSON at byte 1: expected a string key in object, found character 'm'"
        ),
        (
            #"{'method':'io.vserverd.Manager.List'}"#,
            "closed: invalid JSON at byte 1: expected a string key in object, found character '''"
        ),
        (#"{"method" "io.vserverd.Manager.List"}"#, #"closed: invalid JSON at byte 10: expected ':' after object key"#),
        (
            #"{"method":"io.vserverd.Manager.List"}}"#,
            "closed: invalid JSON at byte 37: unexpected character '}' after the document"
        ),
        (
            #"{"method":"io.vserverd.Manager.List"} {}"#,
            "closed: invalid JSON at byte 38: unexpected character '{' after the document"
        ),
        (
            #"{"method":"io.vserverd.Manager.Get","parameters":{"name":"web\u00"}}"#,
            "closed: invalid JSON at byte 65: invalid hex digit in \\u escape"
        ),
        (
            #"{"method":"io.vserverd.Manager.Get","parameters":{"name":"we\qb"}}"#,
            "closed: invalid JSON at byte 60: invalid escape sequence"
        ),
        (
            "{\"method\":\"io.vserverd.Manager.Get\",\"parameters\":{\"name\":\"we\tb\"}}",
            "closed: invalid JSON at byte 60: unescaped control character in string"
        ),
        (
            #"{"method":"io.vserverd.Manager.Stop","parameters":{"name":"web","timeout":01}}"#,
            "closed: invalid JSON at byte 74: leading zero in number"
        ),
        (
            #"{"method":"io.vserverd.Manager.Stop","parameters":{"name":"web","timeout":1.}}"#,
            "closed: invalid JSON at byte 76: expected a digit after the decimal point"
        ),
        (
            #"{"method":"io.vserverd.Manager.Stop","parameters":{"name":"web","timeout":-}}"#,
            "closed: invalid JSON at byte 75: expected a digit"
        ),
        (
            #"{"method":"io.vserverd.Manager.Stop","parameters":{"name":"web","timeout":1e}}"#,
            "closed: invalid JSON at byte 76: expected a digit in the exponent"
        ),
        (
            #"{"method":"io.vserverd.Manager.List","more":tru}"#,
            "closed: invalid JSON at byte 44: invalid literal, expected 'true'"
        ),
        (
            #"{"method":"io.vserverd.Manager.List","method":"io.vserverd.Manager.Get"}"#,
            #"closed: invalid JSON at byte 37: duplicate key "method""#
        ),
        (String(repeating: "[", count: 200), "closed: invalid JSON at byte 128: nesting deeper than 128"),
        (#"{"method":"io.vserverd.Manager.Get","parameters":{"name":"#
            + String(repeating: "{\"a\":", count: 130), "closed: invalid JSON at byte 687: nesting deeper than 128"),
        // JSON, but not a call.
        ("null", "closed: a call must be a JSON object"),
        ("42", "closed: a call must be a JSON object"),
        (#""io.vserverd.Manager.List""#, "closed: a call must be a JSON object"),
        (#"[{"method":"io.vserverd.Manager.List"}]"#, "closed: a call must be a JSON object"),
        (#"{"parameters":{"name":"web"}}"#, #"closed: "method" must be a string"#),
        (#"{"method":null}"#, #"closed: "method" must be a string"#),
        (#"{"method":["io.vserverd.Manager.List"]}"#, #"closed: "method" must be a string"#),
        (#"{"method":""}"#, #"closed: "" is not a method name of the form interface.Method"#),
        (#"{"method":"Start"}"#, #"closed: "Start" is not a method name of the form interface.Method"#),
        (
            #"{"method":"io.vserverd.Manager.start"}"#,
            #"closed: "io.vserverd.Manager.start" is not a method name of the form interface.Method"#
        ),
        (
            #"{"method":"io.vserverd.Manager."}"#,
            #"closed: "io.vserverd.Manager." is not a method name of the form interface.Method"#
        ),
        (
            #"{"method":"io.vserverd.Manager.Start\u0000"}"#,
            #"closed: "io.vserverd.Manager.Start\#u{0}" is not a method name of the form interface.Method"#
        ),
        (
            #"{"method":"io.vserverd.Manager.List","parameters":null,"more":"yes"}"#,
            #"closed: "more" must be a boolean"#
        ),
        (#"{"method":"io.vserverd.Manager.List","upgrade":1}"#, #"closed: "upgrade" must be a boolean"#),
        (#"{"method":"io.vserverd.Manager.Start","parameters":["web"]}"#, #"closed: "parameters" must be an object"#),
        (#"{"method":"io.vserverd.Manager.Start","parameters":"web"}"#, #"closed: "parameters" must be an object"#),
        (
            #"{"method":"io.vserverd.Manager.List","oneway":true,"upgrade":true}"#,
            #"closed: only one of "more", "oneway" and "upgrade" may be set"#
        ),
        // Too long: more than 1 MiB before the NUL (VarlinkFrameDecoder).
        (#"{"method":"io.vserverd.Manager.Get","parameters":{"name":""# + String(repeating: "x", count: 1 << 20)
            + #""}}"#, "closed: message longer than 1048576 bytes"),
        // Unknown interface or method.
        (
            #"{"method":"io.vserverd.Managers.List"}"#,
            #"org.varlink.service.InterfaceNotFound {"interface":"io.vserverd.Managers"}"#
        ),
        (
            #"{"method":"io.linux-vserver.Manager.Start","parameters":{"name":"web"}}"#,
            #"org.varlink.service.InterfaceNotFound {"interface":"io.linux-vserver.Manager"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.Launch","parameters":{"name":"web"}}"#,
            #"org.varlink.service.MethodNotFound {"method":"io.vserverd.Manager.Launch"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.StartWeb"}"#,
            #"org.varlink.service.MethodNotFound {"method":"io.vserverd.Manager.StartWeb"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.NoSuchVServer"}"#,
            #"org.varlink.service.MethodNotFound {"method":"io.vserverd.Manager.NoSuchVServer"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.List","upgrade":true}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"upgrade"}"#
        ),
        // Bad parameters for real methods.
        (#"{"method":"io.vserverd.Manager.Start"}"#, #"org.varlink.service.InvalidParameter {"parameter":"name"}"#),
        (
            #"{"method":"io.vserverd.Manager.Start","parameters":{}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"name"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.Start","parameters":{"name":null}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"name"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.Start","parameters":{"name":1042}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"name"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.Start","parameters":{"name":["web"]}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"name"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.Start","parameters":{"Name":"web"}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"name"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.Get","parameters":{"name":true}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"name"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.Restart","parameters":{"name":{}}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"name"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.Stop","parameters":{"name":"web","timeout":"10"}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"timeout"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.Stop","parameters":{"name":"web","timeout":-1}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"timeout"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.Stop","parameters":{"name":"web","timeout":3601}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"timeout"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.Stop","parameters":{"name":"web","timeout":1.5}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"timeout"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.Stop","parameters":{"name":"web","timeout":1e400}}"#,
            "closed: invalid JSON at byte 74: number out of range"
        ),
        (
            #"{"method":"io.vserverd.Manager.Stop","parameters":{"name":"web","timeout":99999999999999999999}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"timeout"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.Stop","parameters":{"timeout":10}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"name"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.StartAll","parameters":{"jobs":0}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"jobs"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.StartAll","parameters":{"jobs":1025}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"jobs"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.StartAutostart","parameters":{"mark":7}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"mark"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.Whois","parameters":{}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"pid"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.Whois","parameters":{"pid":0}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"pid"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.Whois","parameters":{"pid":-5}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"pid"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.Whois","parameters":{"pid":4294967297}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"pid"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.Processes","parameters":{"name":false}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"name"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.SetResources","parameters":{"name":"web","runtime":true}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"assignments"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.SetResources","parameters":{"name":"web","assignments":["cpu=1",2],"ru"#
            + #"ntime":true}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"assignments"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.SetResources","parameters":{"name":"web","assignments":[],"runtime":"n"#
            + #"o"}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"runtime"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.Rename","parameters":{"name":"web"}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"newName"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.Delete","parameters":{"name":"web"}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"keepRoot"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.Clone","parameters":{"name":"web","newName":"web2","context":1}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"context"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.Clone","parameters":{"name":"web","newName":"web2","runningOk":"yes"}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"runningOk"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.Export","parameters":{"name":"web","path":"/tmp/web.tar","compression""#
            + #":"rar"}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"compression"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.ImportArchive","parameters":{"name":"web"}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"path"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.Hashify","parameters":{"names":"web","dryRun":false}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"names"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.DiskUsage","parameters":{"names":[null]}}"#,
            #"org.varlink.service.InvalidParameter {"parameter":"names"}"#
        ),
        (#"{"method":"io.vserverd.Manager.Monitor"}"#, "org.varlink.service.ExpectedMore"),
        // Valid parameters reach the method: the service knows no vserver.
        (
            #"{"method":"io.vserverd.Manager.Start","parameters":{"name":"web","extra":1}}"#,
            #"io.vserverd.Manager.NoSuchVServer {"name":"web"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.Start","parameters":{"name":""}}"#,
            #"io.vserverd.Manager.NoSuchVServer {"name":""}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.Stop","parameters":{"name":"web","timeout":null},"oneway":true}"#,
            #"io.vserverd.Manager.NoSuchVServer {"name":"web"}"#
        ),
        (
            #"{"method":"io.vserverd.Manager.Whois","parameters":{"pid":2147483647}}"#,
            #"io.vserverd.Manager.NoSuchProcess {"pid":2147483647}"#
        ),
    ]
}

/// Knows no vserver and no process: every call that names one fails as the daemon's would.
private struct EmptyManager: ManagerService {
    func list() async -> [VServerInfo] { [] }
    func get(_ name: String) async throws(ManagerError) -> VServerInfo { throw .noSuchVServer(name: name) }
    func start(_ name: String) async throws(ManagerError) -> VServerInfo { throw .noSuchVServer(name: name) }
    func stop(_ name: String, timeout: Int?) async throws(ManagerError) -> VServerInfo {
        throw .noSuchVServer(name: name)
    }
    func restart(_ name: String) async throws(ManagerError) -> VServerInfo { throw .noSuchVServer(name: name) }
    func resources(_ name: String) async throws(ManagerError) -> ResourcesReply { throw .noSuchVServer(name: name) }
    func setResources(_ name: String, assignments: [String], runtime: Bool) async throws(ManagerError)
        -> ResourcesReply
    { throw .noSuchVServer(name: name) }
    func startMany(mark: String?, jobs: Int?) async -> BatchResult { BatchResult(done: [], failed: [], errors: []) }
    func stopAll() async -> BatchResult { BatchResult(done: [], failed: [], errors: []) }
    func reload() async -> ReloadResult { ReloadResult(added: [], removed: [], changed: []) }
    func whois(pid: Int32) async throws(ManagerError) -> ProcessOwner? { throw .noSuchProcess(pid: pid) }
    func processes(_ name: String?) async throws(ManagerError) -> [HostProcess] {
        if let name { throw .noSuchVServer(name: name) }
        return []
    }
    func joinInfo(_ name: String) async throws(ManagerError) -> VServerJoinInfo { throw .noSuchVServer(name: name) }
    func monitor() async -> AsyncStream<VServerStateChange> { AsyncStream { $0.finish() } }
    func rename(_ name: String, to newName: String) async throws(ManagerError) -> RenameReply {
        throw .noSuchVServer(name: name)
    }
    func delete(_ name: String, keepRoot: Bool) async throws(ManagerError) -> DeleteReply {
        throw .noSuchVServer(name: name)
    }
    func clone(_ call: CloneParameters, progress: @Sendable (CloneReply) async -> Void) async throws(ManagerError)
        -> CloneReply
    { throw .noSuchVServer(name: call.name) }
    func diskUsage(_ names: [String]) async throws(ManagerError) -> DiskUsageReply {
        throw .noSuchVServer(name: names.first ?? "")
    }
    func hashify(_ call: HashifyParameters, progress: @Sendable (HashifyReply) async -> Void)
        async throws(ManagerError) -> HashifyReply
    { throw .noSuchVServer(name: call.names.first ?? "") }
    func export(_ call: ExportParameters, progress: @Sendable (ArchiveReply) async -> Void) async throws(ManagerError)
        -> ArchiveReply
    { throw .noSuchVServer(name: call.name) }
    func importArchive(_ call: ImportArchiveParameters, progress: @Sendable (ArchiveReply) async -> Void)
        async throws(ManagerError) -> ArchiveReply
    { throw .noSuchVServer(name: call.name ?? "") }
}

extension MalformedMessageCorpus {
    static func answer(_ message: String) async -> String { await daemonAnswer(Array(message.utf8)) }
}

/// What the daemon does with one message (without its NUL), as the client sees it.
private func daemonAnswer(_ message: [UInt8]) async -> String {
    // VarlinkFrameDecoder's limit and text (VarlinkServer, which this test target does not link).
    if message.count > varlinkMaxMessageSize { return "closed: message longer than \(varlinkMaxMessageSize) bytes" }
    let call: VarlinkCall
    do throws(VarlinkMessageError) {
        call = try VarlinkCall.parse(message)
    } catch {
        return "closed: \(error.reason)"
    }
    do {
        guard call.interface == managerInterfaceName else { throw VarlinkError.interfaceNotFound(call.interface) }
        guard let method = ManagerMethod(rawValue: call.memberName) else {
            throw VarlinkError.methodNotFound(call.method)
        }
        if call.upgrade { throw VarlinkError.invalidParameter("upgrade") }
        let collected = Collected()
        try await EmptyManager().handle(method, parameters: call.parameters, more: call.more) { parameters, _ in
            collected.append(JSON.object(parameters).serialized())
        }
        return "reply " + collected.values.joined(separator: " ")
    } catch let error as any VarlinkErrorConvertible {
        return error.varlinkError.description
    } catch {
        return "internal error: \(error)"
    }
}

private final class Collected: @unchecked Sendable {
    var values: [String] = []
    func append(_ value: String) { values.append(value) }
}

@Suite struct MalformedMessageCorpusTests {
    @Test(arguments: MalformedMessageCorpus.cases)
    func eachMalformedMessageGetsItsAnswer(message: String, expected: String) async {
        let answer = await daemonAnswer(Array(message.utf8))
        #expect(answer == expected)
    }

    @Test func invalidUTF8InAStringClosesTheConnection() async {
        let message = Array(#"{"method":"io.vserverd.Manager.Get","parameters":{"name":""#.utf8) + [0xC3, 0x28]
            + Array(#""}}"#.utf8)
        let answer = await daemonAnswer(message)
        // The offset is the string's: its bytes are checked as a whole.
        #expect(answer == "closed: invalid JSON at byte 57: invalid UTF-8 in string")
    }

}
