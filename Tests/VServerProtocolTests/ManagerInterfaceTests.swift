import Testing
import VServerProtocol

/// The typed interface and the IDL text say the same: every method and error of one is in the other.
@Suite struct ManagerInterfaceTests {
    /// The names declared with `keyword` in the IDL: "method List(" -> "List", "error NoSuchVServer (" -> ...
    private func declared(_ keyword: String) -> Set<String> {
        var names = Set<String>()
        for line in managerInterfaceDescription.split(separator: "\n") where line.hasPrefix(keyword + " ") {
            let rest = line.dropFirst(keyword.count + 1)
            names.insert(String(rest.prefix { $0.isLetter || $0.isNumber }))
        }
        return names
    }

    @Test func everyMethodOfTheIDLIsACaseAndEveryCaseAMethodOfTheIDL() {
        #expect(declared("method") == Set(ManagerMethod.allCases.map(\.rawValue)))
        for method in ManagerMethod.allCases {
            #expect(VarlinkCall.isValidMethodName(method.qualifiedName), "\(method)")
        }
    }

    /// What the daemon can send as a Manager error is exactly what the IDL declares: each case's wire name.
    @Test func everyErrorTheDaemonCanSendIsDeclaredInTheIDL() {
        #expect(declared("error") == Set(ManagerErrorName.allCases.map(\.rawValue)))
        let sendable: [ManagerError] = [
            .noSuchVServer(name: "w"), .invalidConfig(name: "w", file: "f", reason: "r"), .alreadyRunning(name: "w"),
            .notRunning(name: "w"), .dependencyNotRunning(name: "w", dependency: "d"),
            .hookFailed(HookFailure(name: "w", hook: "pre-start", script: "s", exitCode: 1, output: "")),
            .startFailed(name: "w", step: "s", reason: "r"), .permissionDenied(reason: "r"), .noSuchProcess(pid: 1),
            .internalError("r"),
        ]
        #expect(Set(sendable.compactMap(\.errorName)) == Set(ManagerErrorName.allCases))
        for error in sendable {
            let name = error.varlinkError.name
            let member = String(name.dropFirst("io.vserverd.Manager.".count))
            #expect(name.hasPrefix("io.vserverd.Manager.") && declared("error").contains(member), "\(name)")
            // What the client reads back is what was sent.
            #expect(ManagerError(error.varlinkError) == error, "\(name)")
        }
    }

    /// Each method's parameters and reply survive their own encoder and decoder.
    @Test func parametersAndRepliesRoundTrip() throws {
        #expect(try StopParameters(parameters: StopParameters(name: "web", timeout: 5).parameters).timeout == 5)
        #expect(throws: VarlinkError.invalidParameter("timeout")) {
            try StopParameters(parameters: ["name": "web", "timeout": 3601])
        }
        #expect(throws: VarlinkError.invalidParameter("jobs")) { try JobsParameters(parameters: ["jobs": 0]) }
        #expect(throws: VarlinkError.invalidParameter("pid")) { try WhoisParameters(parameters: ["pid": 0]) }
        let owner = WhoisReply(owner: ProcessOwner(name: "web", context: 1042))
        #expect(try WhoisReply(parameters: owner.parameters).owner == owner.owner)
        #expect(WhoisReply(owner: nil).parameters == ["vserver": .null, "context": .null])
        let batch = BatchResult(done: ["a"], failed: ["b"], errors: ["b: no"])
        #expect(try BatchResult(parameters: batch.parameters(doneKey: "stopped")) == batch)
        let reload = ReloadResult(added: ["a"], removed: [], changed: ["c"])
        #expect(try ReloadResult(parameters: reload.parameters) == reload)
    }

    @Test func aClientOfAnUnknownManagerErrorKeepsItAsItCame() {
        let future = VarlinkError(name: "io.vserverd.Manager.QuotaExceeded", parameters: ["name": "web"])
        #expect(ManagerError(future) == .otherError(future))
        #expect(ManagerError(.methodNotFound("x.y.Z")) == .otherError(.methodNotFound("x.y.Z")))
    }
}
