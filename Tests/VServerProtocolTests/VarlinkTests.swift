import Glibc
import Testing
import VServerTestSupport
import VServerProtocol

@Suite struct VarlinkMessageTests {
    // MARK: Calls

    @Test func callLeavesOutFalseFlagsAndEmptyParameters() {
        #expect(
            VarlinkCall(method: "io.vserverd.Manager.List").json.serialized()
                == #"{"method":"io.vserverd.Manager.List"}"#)
        let call = VarlinkCall(method: "io.vserverd.Manager.Monitor", parameters: ["a": 1], more: true)
        #expect(call.json.serialized() == #"{"method":"io.vserverd.Manager.Monitor","more":true,"parameters":{"a":1}}"#)
        #expect(VarlinkCall(method: "a.b.C", oneway: true).json.serialized() == #"{"method":"a.b.C","oneway":true}"#)
    }

    @Test func callIsFramedWithOneTrailingNUL() throws {
        let call = VarlinkCall(method: "io.vserverd.Manager.Get", parameters: ["name": "web\u{0}"])
        let bytes = call.encoded()
        #expect(bytes.last == 0)
        #expect(bytes.dropLast().contains(0) == false)
        #expect(try VarlinkCall.parse(bytes.dropLast()) == call)
    }

    @Test func callParsingIgnoresUnknownFieldsAndTreatsNullAsAbsent() throws {
        let call = try VarlinkCall.parse(
            Array(
                #"{"method":"org.varlink.service.GetInfo","parameters":null,"more":null,"org.example.x":{"y":1}}"#.utf8)
        )
        #expect(call == VarlinkCall(method: "org.varlink.service.GetInfo"))
        #expect(call.interface == "org.varlink.service")
        #expect(call.memberName == "GetInfo")
    }

    @Test(arguments: [
        (#"[1]"#, "a call must be a JSON object"),
        (#"{}"#, #""method" must be a string"#),
        (#"{"method":1}"#, #""method" must be a string"#),
        (#"{"method":"GetInfo"}"#, #""GetInfo" is not a method name of the form interface.Method"#),
        (#"{"method":"a.b.C","parameters":[]}"#, #""parameters" must be an object"#),
        (#"{"method":"a.b.C","parameters":"x"}"#, #""parameters" must be an object"#),
        (#"{"method":"a.b.C","more":1}"#, #""more" must be a boolean"#),
        (#"{"method":"a.b.C","oneway":"yes"}"#, #""oneway" must be a boolean"#),
        (#"{"method":"a.b.C","more":true,"oneway":true}"#, #"only one of "more", "oneway" and "upgrade" may be set"#),
        (#"{"method":"a.b.C","more":true,"upgrade":true}"#, #"only one of "more", "oneway" and "upgrade" may be set"#),
        (#"{"method":"a.b.C""#, "invalid JSON at byte 17: unterminated object"),
    ])
    func invalidCallsAreRejected(message: String, reason: String) {
        #expect(throws: VarlinkMessageError(reason)) { try VarlinkCall.parse(Array(message.utf8)) }
    }

    @Test(arguments: [
        "io.vserverd.Manager.List", "org.varlink.service.GetInfo", "a.b.C", "com.example-corp.v2.Do2",
        "xn--bcher-kva.example.Get",
    ])
    func methodNamesOfTheFormInterfaceDotMethodAreValid(name: String) {
        #expect(VarlinkCall.isValidMethodName(name))
    }

    @Test(arguments: [
        "", "List", ".List", "io.List", "io..x.List", "io.x.list", "io.x.", "1io.x.List", "io.-x.List",
        "io.x-.List", "io.x.Li_st", "io.x.List ", "io.x.Lïst", "-io.x.List",
    ])
    func otherMethodNamesAreInvalid(name: String) {
        #expect(!VarlinkCall.isValidMethodName(name))
    }

    @Test func interfaceNamesNeedTwoParts() {
        #expect(VarlinkCall.isValidInterfaceName("io.vserverd.Manager"))
        #expect(!VarlinkCall.isValidInterfaceName("vserverd"))
    }

    // MARK: Replies

    @Test func replyAlwaysCarriesParameters() {
        #expect(VarlinkReply().json.serialized() == #"{"parameters":{}}"#)
        #expect(
            VarlinkReply(parameters: ["a": 1], continues: true).json.serialized()
                == #"{"continues":true,"parameters":{"a":1}}"#)
        let error = VarlinkReply(error: ManagerError.noSuchVServer(name: "web").varlinkError)
        #expect(
            error.json.serialized() == #"{"error":"io.vserverd.Manager.NoSuchVServer","parameters":{"name":"web"}}"#)
    }

    @Test func replyRoundTripsAndCarriesItsError() throws {
        let reply = VarlinkReply(parameters: ["name": "web"], continues: true)
        #expect(try VarlinkReply.parse(reply.encoded().dropLast()) == reply)
        let error = try VarlinkReply.parse(Array(#"{"error":"org.varlink.service.ExpectedMore"}"#.utf8))
        #expect(error.parameters.isEmpty)
        #expect(error.varlinkError == .expectedMore)
        #expect(VarlinkReply(parameters: [:]).varlinkError == nil)
    }

    @Test(arguments: [
        (#""x""#, "a reply must be a JSON object"),
        (#"{"continues":"yes"}"#, #""continues" must be a boolean"#),
        (#"{"error":5}"#, #""error" must be a string"#),
        (#"{"parameters":[1]}"#, #""parameters" must be an object"#),
    ])
    func invalidRepliesAreRejected(message: String, reason: String) {
        #expect(throws: VarlinkMessageError(reason)) { try VarlinkReply.parse(Array(message.utf8)) }
    }

    // MARK: Errors

    @Test func standardErrorsHaveTheirSpecNamesAndParameters() {
        #expect(
            VarlinkError.interfaceNotFound("a.b")
                == VarlinkError(name: "org.varlink.service.InterfaceNotFound", parameters: ["interface": "a.b"]))
        #expect(
            VarlinkError.methodNotFound("a.b.C")
                == VarlinkError(name: "org.varlink.service.MethodNotFound", parameters: ["method": "a.b.C"]))
        #expect(
            VarlinkError.methodNotImplemented("a.b.C")
                == VarlinkError(name: "org.varlink.service.MethodNotImplemented", parameters: ["method": "a.b.C"]))
        #expect(
            VarlinkError.invalidParameter("name")
                == VarlinkError(name: "org.varlink.service.InvalidParameter", parameters: ["parameter": "name"]))
        #expect(VarlinkError.permissionDenied == VarlinkError(name: "org.varlink.service.PermissionDenied"))
        #expect(VarlinkError.expectedMore == VarlinkError(name: "org.varlink.service.ExpectedMore"))
    }

    @Test func managerErrorsHaveTheParametersOfTheIDL() {
        func wire(_ error: ManagerError) -> VarlinkError { error.varlinkError }
        #expect(wire(.noSuchVServer(name: "web")).parameters == ["name": "web"])
        #expect(
            wire(.invalidConfig(name: "web", file: "/etc/vservers/web/vserver.toml", reason: "bad")).parameters
                == ["name": "web", "file": "/etc/vservers/web/vserver.toml", "reason": "bad"])
        #expect(wire(.alreadyRunning(name: "web")).name == "io.vserverd.Manager.AlreadyRunning")
        #expect(wire(.notRunning(name: "web")).name == "io.vserverd.Manager.NotRunning")
        #expect(
            wire(.dependencyNotRunning(name: "web", dependency: "db")).parameters == [
                "name": "web", "dependency": "db",
            ])
        let hook = HookFailure(name: "web", hook: "pre-start", script: "/s", exitCode: 3, output: "o")
        #expect(
            wire(.hookFailed(hook)).parameters
                == ["name": "web", "hook": "pre-start", "script": "/s", "exitCode": 3, "output": "o"])
        #expect(
            wire(.startFailed(name: "web", step: "mount proc", reason: "ENOENT")).parameters
                == ["name": "web", "step": "mount proc", "reason": "ENOENT"])
        #expect(wire(.permissionDenied(reason: "uid 1000")).name == "io.vserverd.Manager.PermissionDenied")
        #expect(wire(.internalError("x")) == VarlinkError(name: "io.vserverd.Manager.InternalError",
                                                             parameters: ["reason": "x"]))
    }

    @Test func errorDescriptionShowsNameAndParameters() {
        #expect(
            ManagerError.noSuchVServer(name: "web").varlinkError.description
                == #"io.vserverd.Manager.NoSuchVServer {"name":"web"}"#)
        #expect(VarlinkError.expectedMore.description == "org.varlink.service.ExpectedMore")
    }

    // MARK: Parameters

    @Test func parameterAccessorsNameTheBadParameter() throws {
        let parameters: [String: JSON] = ["name": "web", "timeout": 5, "none": nil, "flag": true, "list": ["a"]]
        #expect(try parameters.requiredString("name") == "web")
        #expect(try parameters.optionalInt("timeout") == 5)
        #expect(try parameters.optionalInt("none") == nil)
        #expect(try parameters.optionalString("missing") == nil)
        #expect(try parameters.requiredBool("flag"))
        #expect(try parameters.requiredStringArray("list") == ["a"])
        #expect(throws: VarlinkError.invalidParameter("none")) { try parameters.requiredString("none") }
        #expect(throws: VarlinkError.invalidParameter("timeout")) { try parameters.optionalString("timeout") }
        #expect(throws: VarlinkError.invalidParameter("name")) { try parameters.requiredInt("name") }
        #expect(throws: VarlinkError.invalidParameter("flag")) { try parameters.requiredStringArray("flag") }
    }

    @Test func numbersFromTheWireOutsideTheirRangeAreInvalidParametersNotTraps() throws {
        let parameters: [String: JSON] = [
            "huge": .int(.max), "negative": -1, "fits": 3600, "fraction": 1.5, "overflowing": .double(1e300),
        ]
        #expect(try parameters.optionalInt("fits", in: ManagerLimits.stopTimeout) == 3600)
        #expect(try parameters.optionalInt("absent", in: ManagerLimits.stopTimeout) == nil)
        for name in ["huge", "negative", "fraction", "overflowing"] {
            #expect(throws: VarlinkError.invalidParameter(name)) {
                try parameters.optionalInt(name, in: ManagerLimits.stopTimeout)
            }
        }
        #expect(throws: VarlinkError.invalidParameter("negative")) {
            try parameters.optionalInt("negative", in: ManagerLimits.jobs)
        }
    }

    // MARK: Framing

    @Test func frameBufferSplitsMessagesAtNUL() throws {
        var frames = VarlinkFrameBuffer()
        frames.append(Array("{\"a\":1}\u{0}{\"b\"".utf8))
        #expect(try frames.nextMessage().map(Array.init) == Array("{\"a\":1}".utf8))
        #expect(try frames.nextMessage() == nil)
        frames.append(Array(":2}\u{0}\u{0}".utf8))
        #expect(try frames.nextMessage().map(Array.init) == Array("{\"b\":2}".utf8))
        #expect(try frames.nextMessage().map(Array.init) == [])
        #expect(try frames.nextMessage() == nil)
        #expect(frames.pendingByteCount == 0)
    }

    @Test func frameBufferAcceptsTheLimitAndRefusesOneByteMore() throws {
        var frames = VarlinkFrameBuffer(maxMessageSize: 8)
        frames.append(Array("12345678\u{0}".utf8))
        #expect(try frames.nextMessage()?.count == 8)
        frames.append(Array("123456789".utf8))
        #expect(throws: VarlinkMessageError("message longer than 8 bytes")) { try frames.nextMessage() }
        var terminated = VarlinkFrameBuffer(maxMessageSize: 8)
        terminated.append(Array("123456789\u{0}".utf8))
        #expect(throws: VarlinkMessageError.self) { try terminated.nextMessage() }
    }

    @Test func theServerLimitIsOneMebibyte() {
        #expect(varlinkMaxMessageSize == 1_048_576)
    }
}

@Suite struct VarlinkManagerInterfaceTests {
    @Test func vserverRoundTripsAndLeavesOutAbsentFields() throws {
        let minimal = VServerInfo(
            name: "web", context: 1042, state: .stopped, root: "/vservers/web", hostname: "web", autostart: false
        )
        #expect(
            minimal.json.serialized()
                == #"{"autostart":false,"context":1042,"hostname":"web","name":"web","root":"/vservers/web","state":"stopped"}"#
        )
        #expect(try VServerInfo(json: minimal.json) == minimal)
        var full = minimal
        full.state = .running
        full.pid = 4242
        full.startedAt = "2025-01-01T00:00:00Z"
        full.processes = 7
        full.memoryBytes = 1 << 33
        full.reason = "why"
        full.exit = ExitStatus(how: .exited, status: 255)
        #expect(try VServerInfo(json: JSON.parse(full.json.serialized())) == full)
        #expect(full.json["exit"] == ["how": "exited", "status": 255], "an exit status is not folded into 128+N")
    }

    @Test func vserverAcceptsNullForAbsentFields() throws {
        let json: JSON = [
            "name": "web", "context": 1042, "state": "stopped", "root": "/r", "hostname": "h", "autostart": true,
            "pid": nil, "startedAt": nil, "processes": nil, "memoryBytes": nil, "reason": nil,
        ]
        let vserver = try VServerInfo(json: json)
        #expect(vserver.pid == nil && vserver.reason == nil)
    }

    @Test func vserverWithAWrongFieldNamesIt() {
        let base: [String: JSON] = [
            "name": "web", "context": 1042, "state": "stopped", "root": "/r", "hostname": "h", "autostart": true,
        ]
        var wrong = base
        wrong["context"] = "1042"
        #expect(throws: VarlinkError.invalidParameter("context")) { try VServerInfo(json: .object(wrong)) }
        wrong = base
        wrong["pid"] = .int(1 << 40)
        #expect(throws: VarlinkError.invalidParameter("pid")) { try VServerInfo(json: .object(wrong)) }
        wrong = base
        wrong.removeValue(forKey: "autostart")
        #expect(throws: VarlinkError.invalidParameter("autostart")) { try VServerInfo(json: .object(wrong)) }
        #expect(throws: VarlinkError.invalidParameter("vserver")) { try VServerInfo(json: "web") }
    }

    @Test func processRoundTrips() throws {
        let host = HostProcess(pid: 1, command: "/sbin/init")
        #expect(host.json.serialized() == #"{"command":"/sbin/init","pid":1}"#)
        #expect(try HostProcess(json: host.json) == host)
        let guest = HostProcess(pid: 4242, vserver: "web", context: 1042, command: "nginx: master process")
        #expect(try HostProcess(json: guest.json) == guest)
    }

    @Test func stateChangeRoundTrips() throws {
        let change = VServerStateChange(name: "web", state: .failed, reason: "exit status 1")
        #expect(try VServerStateChange(parameters: change.parameters) == change)
        #expect(VServerStateChange(name: "web", state: .running).parameters == ["name": "web", "state": "running"])
    }

    @Test func managerInterfaceDeclaresEverythingOfTheDesign() {
        // docs/ARCHITECTURE.md §6, declaration by declaration (comments may be added between them), plus `exit` (issue 9).
        let declarations = [
            "interface io.vserverd.Manager",
            "type ExitStatus (how: string, status: int)",
            """
            type VServer (name: string, context: int, state: string, root: string, hostname: string,
                          autostart: bool, pid: ?int, startedAt: ?string, processes: ?int, memoryBytes: ?int,
                          memoryPeakBytes: ?int, cpuUserSeconds: ?float, cpuSystemSeconds: ?float, ioReadBytes: ?int,
                          ioWriteBytes: ?int, diskBytes: ?int, diskLimitBytes: ?int, reason: ?string, exit: ?ExitStatus)
            """,
            "type Limit (key: string, value: string)",
            "method GetResources(name: string) -> (vserver: VServer, limits: []Limit)",
            "method SetResources(name: string, assignments: []string, runtime: bool) -> (vserver: VServer, limits: []Limit)",
            "type Process (pid: int, vserver: ?string, context: ?int, command: string)",
            "method List() -> (vservers: []VServer)",
            "method Get(name: string) -> (vserver: VServer)",
            "method Start(name: string) -> (vserver: VServer)",
            "method Stop(name: string, timeout: ?int) -> (vserver: VServer)",
            "method Restart(name: string) -> (vserver: VServer)",
            "method StartAutostart(jobs: ?int, mark: ?string) -> (started: []string, failed: []string, errors: []string)",
            "method StartAll(jobs: ?int) -> (started: []string, failed: []string, errors: []string)",
            "method StopAll() -> (stopped: []string, failed: []string, errors: []string)",
            "method Reload() -> (added: []string, removed: []string, changed: []string)",
            "method Whois(pid: int) -> (vserver: ?string, context: ?int)",
            "method Processes(name: ?string) -> (processes: []Process)",
            "method Monitor() -> (name: string, state: string, reason: ?string)",
            "error NoSuchVServer (name: string)",
            "error InvalidConfig (name: string, file: string, reason: string)",
            "error AlreadyRunning (name: string)",
            "error NotRunning (name: string)",
            "error DependencyNotRunning (name: string, dependency: string)",
            "error HookFailed (name: string, hook: string, script: string, exitCode: int, output: string, timeout: ?int)",
            "error StartFailed (name: string, step: string, reason: string)",
            "error PermissionDenied (reason: string)",
            "error InternalError (reason: string)",
            "error NoSuchProcess (pid: int)",
        ]
        for declaration in declarations {
            #expect(managerInterfaceDescription.contains("\n" + declaration + "\n"), "\(declaration)")
        }
    }

    @Test(.requires(Python.hasVarlink, "python3 with the varlink package (pip install varlink)"))
    func interfaceDescriptionsParseWithPythonVarlink() throws {
        let directory = try TemporaryDirectory()
        for (name, text) in [
            ("io.vserverd.Manager", managerInterfaceDescription),
            ("org.varlink.service", varlinkServiceInterfaceDescription),
        ] {
            try writeFile(directory.path + "/\(name).varlink", text)
        }
        try writeFile(directory.path + "/check.py", Python.idlChecker)
        let (status, output) = shell("python3 \(directory.path)/check.py \(directory.path)")
        #expect(status == 0, "\(output)")
        #expect(
            output.contains(
                "io.vserverd.Manager: ExitStatus VServer Process List Get Start Stop Restart Limit GetResources SetResources"
                    + " StartAutostart StartAll StopAll Reload Whois"
                    + " Processes Join Rename Delete Clone RootDiskUsage DiskUsage Hashify Export ImportArchive Monitor NoSuchVServer InvalidConfig AlreadyRunning NotRunning DependencyNotRunning"
                    + " HookFailed StartFailed PermissionDenied InternalError NoSuchProcess"
            ),
            "\(output)"
        )
        #expect(
            output.contains(
                "org.varlink.service: GetInfo GetInterfaceDescription InterfaceNotFound MethodNotFound"
                    + " MethodNotImplemented InvalidParameter PermissionDenied ExpectedMore"
            ),
            "\(output)"
        )
    }
}

@Suite(.timeLimit(.minutes(2))) struct VarlinkClientTests {
    @Test func connectingToAMissingSocketSaysWhy() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/io.vserverd.Manager"
        #expect(throws: VarlinkConnectionError("cannot connect to \(path): No such file or directory", errno: ENOENT)) {
            try VarlinkClient(path: path)
        }
    }

    @Test func aPathTooLongForSunPathIsRefused() {
        let path = "/" + String(repeating: "x", count: 200)
        #expect(throws: VarlinkConnectionError("cannot connect to \(path): File name too long", errno: ENAMETOOLONG)) {
            try VarlinkClient(path: path)
        }
    }

    @Test func theDefaultSocketIsUnderRun() {
        #expect(defaultManagerSocketPath == "/run/vserverd/io.vserverd.Manager")
    }

    @Test(.requires(Python.hasVarlink, "python3 with the varlink package (pip install varlink)"))
    func clientTalksToThePythonReferenceServer() throws {
        let server = try PythonVarlinkServer()
        defer { server.stop() }
        let client = try VarlinkClient(path: server.socketPath)
        defer { client.close() }

        let info = try client.call("org.varlink.service.GetInfo")
        #expect(try info.requiredStringArray("interfaces") == ["org.varlink.service", "io.vserverd.Manager"])

        let reply = try client.call(ManagerMethod.get, ["name": "web"])
        let web = try reply.required("vserver") { (json) throws(VarlinkError) in try VServerInfo(json: json) }
        #expect(web.hostname == "web.example.org" && web.pid == 4242 && web.reason == nil)

        #expect(throws: ManagerError.noSuchVServer(name: "nope").varlinkError) {
            try client.call(ManagerMethod.get, ["name": "nope"])
        }
        #expect(throws: VarlinkError.expectedMore) { try client.call(ManagerMethod.monitor) }

        var stream = try client.callMore(ManagerMethod.monitor)
        #expect(throws: VarlinkConnectionError.self) { try client.call(ManagerMethod.list) }
        var states: [String] = []
        while let event = try stream.next() { states.append(try VServerStateChange(parameters: event).name) }
        #expect(states == ["vs0", "vs1", "vs2", "last"])

        // Free again once the stream ended.
        let list = try client.call(ManagerMethod.list)
        #expect(
            try list.requiredArray("vservers") { (json) throws(VarlinkError) in try VServerInfo(json: json) }.count == 2
        )
    }

    @Test(.requires(Python.hasVarlink, "python3 with the varlink package (pip install varlink)"))
    func aClosedClientFailsWithAConnectionError() throws {
        let server = try PythonVarlinkServer()
        defer { server.stop() }
        let client = try VarlinkClient(path: server.socketPath)
        client.close()
        #expect(throws: VarlinkConnectionError("\(server.socketPath): connection closed")) {
            try client.call(ManagerMethod.list)
        }
    }
}

// MARK: - Helpers (no Foundation: plain libc)

private struct TestFailure: Error, CustomStringConvertible {
    var description: String
}

/// A fresh directory under /tmp, removed (with its contents) when the test is done.
private final class TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/vserverd-test-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw TestFailure(description: "mkdtemp failed") }
        path = String(cString: made)
    }

    deinit {
        _ = shell("rm -rf '\(path)'")
    }
}

private func writeFile(_ path: String, _ text: String) throws {
    guard let file = fopen(path, "w") else { throw TestFailure(description: "cannot create \(path)") }
    defer { fclose(file) }
    guard fputs(text, file) >= 0 else { throw TestFailure(description: "cannot write \(path)") }
}

private func readFile(_ path: String) -> String {
    guard let file = fopen(path, "r") else { return "" }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = fread(&buffer, 1, buffer.count, file)
        if count <= 0 { break }
        bytes += buffer[..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Runs a shell command; returns its exit status and its output (stdout and stderr).
@discardableResult
private func shell(_ command: String) -> (status: Int32, output: String) {
    var template = Array("/tmp/vserverd-test-output-XXXXXX".utf8CString)
    let fd = mkstemp(&template)
    let outputPath = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    if fd >= 0 { close(fd) }
    defer { unlink(outputPath) }
    let status = system("(\(command)) > '\(outputPath)' 2>&1")
    let exitStatus = status == -1 ? -1 : (status >> 8) & 0xFF
    return (exitStatus, readFile(outputPath))
}

private enum Python {
    static let hasVarlink = shell("python3 -c 'import varlink'").status == 0

    /// Parses each interface file with the reference scanner, checks that every named type is declared, and
    /// prints "NAME: MEMBER …".
    static let idlChecker = """
        import os, sys
        import varlink.scanner as scanner

        def custom_types(t):
            if isinstance(t, scanner._CustomType):
                yield t.name
            elif isinstance(t, (scanner._Maybe, scanner._Array, scanner._Dict)):
                yield from custom_types(t.element_type)
            elif isinstance(t, scanner._Struct):
                for field in t.fields.values():
                    yield from custom_types(field)

        directory = sys.argv[1]
        for name in sorted(os.listdir(directory)):
            if not name.endswith(".varlink"):
                continue
            interface = scanner.Interface(open(os.path.join(directory, name)).read())
            assert interface.name + ".varlink" == name, interface.name
            aliases = {n for n, m in interface.members.items() if isinstance(m, scanner._Alias)}
            for member in interface.members.values():
                types = [member.type] if hasattr(member, "type") else [member.in_type, member.out_type]
                for t in types:
                    for used in custom_types(t):
                        assert used in aliases, "%s uses undeclared type %s" % (member.name, used)
            print("%s: %s" % (interface.name, " ".join(interface.members)))
        """

    /// Serves io.vserverd.Manager with the reference implementation, to test the client against it.
    static let server = """
        import sys, varlink

        socket_path, interface_dir = sys.argv[1], sys.argv[2]
        service = varlink.Service(vendor="test", product="python", version="1", url="https://example.org",
                                  interface_dir=interface_dir)

        def vserver(name):
            return {"name": name, "context": 1042, "state": "running", "root": "/vservers/" + name,
                    "hostname": name + ".example.org", "autostart": True, "pid": 4242}

        @service.interface("io.vserverd.Manager")
        class Manager:
            def Get(self, name):
                if name != "web":
                    raise varlink.VarlinkError({"error": "io.vserverd.Manager.NoSuchVServer",
                                                "parameters": {"name": name}})
                return {"vserver": vserver(name)}

            def List(self):
                return {"vservers": [vserver("web"), vserver("db")]}

            def Monitor(self, _more=False):
                if not _more:
                    raise varlink.VarlinkError({"error": "org.varlink.service.ExpectedMore", "parameters": {}})
                for index in range(3):
                    yield {"name": "vs%d" % index, "state": "running", "_continues": True}
                yield {"name": "last", "state": "stopped", "_continues": False}

        class Handler(varlink.RequestHandler):
            service = service

        with varlink.ThreadingServer("unix:" + socket_path, Handler) as server:
            server.serve_forever()
        """
}

/// The Python reference server, in the background until `stop()`.
private final class PythonVarlinkServer {
    let directory: TemporaryDirectory
    let socketPath: String
    private let pid: Int32

    init() throws {
        directory = try TemporaryDirectory()
        socketPath = directory.path + "/io.vserverd.Manager"
        try writeFile(directory.path + "/io.vserverd.Manager.varlink", managerInterfaceDescription)
        try writeFile(directory.path + "/server.py", Python.server)
        let dir = directory.path
        let started = shell(
            "python3 \(dir)/server.py \(socketPath) \(dir) > \(dir)/server.log 2>&1 & echo $! > \(dir)/server.pid"
        )
        guard started.status == 0, let pid = Int32(readFile(dir + "/server.pid").split(separator: "\n").first ?? "")
        else { throw TestFailure(description: "cannot start the Python server: \(started.output)") }
        self.pid = pid
        // Up to 10 s for the interpreter to start and listen: the socket file exists from bind(), but a connect
        // is refused until listen(), so a connect is what is polled.
        for _ in 0..<1000 {
            if (try? VarlinkClient(path: socketPath)) != nil { return }
            usleep(10_000)
        }
        stop()
        throw TestFailure(description: "the Python server did not start: \(readFile(dir + "/server.log"))")
    }

    func stop() {
        kill(pid, SIGKILL)
    }
}
