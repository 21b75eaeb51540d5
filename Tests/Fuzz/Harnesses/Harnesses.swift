import Glibc
import NIOCore
import NIOEmbedded
import VarlinkServer
import VServerConfig
import VServerProtocol

#if DEBUG
// GuestRecord and StateStore are internal to VServerCore; debug builds are built for testing.
@testable import VServerCore
#endif

/// One function per fuzz target: each takes any bytes and must neither trap nor break the property it checks.
enum Harnesses {
    // MARK: Configuration

    /// Config files are read as UTF-8 or refused (`FileSystem.readFile`); the harnesses do the same.
    private static func text(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        String(validating: bytes, as: UTF8.self)
    }

    static func toml(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let text = text(bytes) else { return }
        do throws(TOMLError) {
            _ = try TOML.parse(text)
        } catch {
            precondition(error.line >= 1, "a TOML error without a line: \(error)")
            _ = error.description
        }
    }

    /// A scratch configuration directory (etc) shaped like the unit tests' ConfigFixture, and a second one
    /// (written) for the configs TOMLWriter writes.
    private static let tree: (etc: String, written: String, environment: LoaderEnvironment) = {
        let base = Scratch.makeDirectory()
        Scratch.makeDirectories(base + "/etc")
        Scratch.makeDirectories(base + "/written")
        Scratch.makeDirectories(base + "/vservers/web")
        Scratch.makeDirectories(base + "/vservers/old")
        chmod(base + "/vservers", 0o700)
        Scratch.write(base + "/zoneinfo/UTC", Array("TZif".utf8))
        Scratch.write(base + "/zoneinfo/Europe/Berlin", Array("TZif".utf8))
        let environment = LoaderEnvironment(
            zoneinfoDirectory: base + "/zoneinfo", requiredOwner: geteuid(), defaultRootDirectory: base + "/vservers")
        return (base + "/etc", base + "/written", environment)
    }()

    /// vserver.toml as the loader reads it from /etc/vservers/web.
    static func config(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard text(bytes) != nil else { return }
        Scratch.write(tree.etc + "/web/vserver.toml", bytes)
        checkWrittenConfigsReadBack()
    }

    /// Loads the scratch directory; every valid vserver must come back the same after `TOMLWriter` wrote it
    /// (what `vserverctl create`, `build` and `import` write is what the daemon reads).
    private static func checkWrittenConfigsReadBack() {
        let loaded = ConfigLoader.load(directory: tree.etc, environment: tree.environment)
        for (_, error) in loaded.invalid { _ = error.description }
        guard !loaded.configs.isEmpty else { return }
        Scratch.empty(tree.written)
        var written: [String: String] = [:]
        for (name, config) in loaded.configs {
            written[name] = TOMLWriter.render(config, header: [])
            Scratch.write(tree.written + "/" + name + "/vserver.toml", Array(written[name]!.utf8))
        }
        let again = ConfigLoader.load(directory: tree.written, environment: tree.environment)
        for (name, text) in written {
            guard let config = again.configs[name] else {
                fatalError("a written config does not read back: \(again.invalid[name]?.description ?? "")\n\(text)")
            }
            let rewritten = TOMLWriter.render(config, header: [])
            precondition(rewritten == text, "a written config reads back different:\n\(text)\n--- then:\n\(rewritten)")
        }
    }

    /// A util-vserver directory (/etc/vservers/old): the input is "== PATH" lines, each followed by the file's
    /// text, and "== PATH -> TARGET" lines for symlinks (`vdir`). A valid one must survive being written as
    /// vserver.toml (`vserverctl import`).
    static func utilVServer(_ bytes: UnsafeBufferPointer<UInt8>) {
        let directory = tree.etc + "/old"
        Scratch.empty(directory)
        Scratch.makeDirectories(directory)
        var files: [(path: String, contents: [UInt8])] = []
        var links: [(path: String, target: String)] = []
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            if line.starts(with: "== ".utf8) {
                let spec = String(decoding: line.dropFirst(3), as: UTF8.self)
                let parts = spec.split(separator: " -> ", maxSplits: 1, omittingEmptySubsequences: false)
                guard isSafeRelativePath(parts[0]) else { continue }
                if parts.count == 2 {
                    links.append((String(parts[0]), String(parts[1])))
                } else {
                    files.append((String(parts[0]), []))
                }
            } else if !files.isEmpty {
                files[files.count - 1].contents += line + [UInt8(ascii: "\n")]
            }
        }
        guard files.count + links.count <= 32 else { return }
        // Files first, symlinks last: nothing is ever written through a symlink the input made.
        for file in files { Scratch.write(directory + "/" + file.path, file.contents) }
        for link in links { symlink(link.target, directory + "/" + link.path) }
        checkWrittenConfigsReadBack()
    }

    private static func isSafeRelativePath(_ path: Substring) -> Bool {
        let components = path.split(separator: "/", omittingEmptySubsequences: false)
        return components.count <= 4 && components.allSatisfy { component in
            !component.isEmpty && component != "." && component != ".." && component.utf8.count <= 64
                && component.utf8.allSatisfy { TOML.isBareKeyByte($0) || $0 == UInt8(ascii: ".") }
        }
    }

    // MARK: Protocol

    /// JSON as the protocol reads it: what is written must read back equal, and the text and byte entry points
    /// must agree.
    static func json(_ bytes: UnsafeBufferPointer<UInt8>) {
        let parsed: JSON
        do throws(JSONError) {
            parsed = try JSON.parse(bytes)
        } catch {
            _ = error.description
            if let text = text(bytes) { precondition((try? JSON.parse(text)) == nil, "text parses, bytes do not") }
            return
        }
        if let text = text(bytes) { precondition((try? JSON.parse(text)) == parsed, "text and bytes differ") }
        let written = parsed.serializedBytes()
        guard let again = try? JSON.parse(written) else {
            fatalError("written JSON does not parse: \(String(decoding: written, as: UTF8.self))")
        }
        precondition(again == parsed, "written JSON reads back different: \(String(decoding: written, as: UTF8.self))")
    }

    /// Every decoder of `io.vserverd.Manager`'s parameters and replies: what one accepts, its encoder must write in
    /// a form that it accepts again, unchanged.
    private static let managerTypes: [any ManagerParameters.Type] = [
        NoParameters.self, NameParameters.self, StopParameters.self, JobsParameters.self, WhoisParameters.self,
        ProcessesParameters.self, ListReply.self, VServerReply.self, SetResourcesParameters.self,
        ResourcesReply.self, BatchResult.self, ReloadResult.self, WhoisReply.self, ProcessesReply.self,
        VServerJoinInfo.self, VServerStateChange.self, RenameParameters.self, RenameReply.self,
        DeleteParameters.self, DeleteReply.self, ExportParameters.self, ImportArchiveParameters.self,
        ArchiveReply.self, CloneParameters.self, CloneReply.self, HashifyParameters.self, HashifyReply.self,
        DiskUsageParameters.self, DiskUsageReply.self,
    ]

    private static func checkRoundTrip(_ type: any ManagerParameters.Type, _ parameters: [String: JSON]) {
        guard let decoded = try? type.init(parameters: parameters) else { return }
        let written = decoded.parameters
        guard let again = try? type.init(parameters: written) else {
            fatalError("\(type) does not read back what it wrote: \(JSON.object(written).serialized())")
        }
        precondition(again.parameters == written, "\(type) reads back different: \(JSON.object(written).serialized())")
    }

    static func varlink(_ bytes: UnsafeBufferPointer<UInt8>) {
        if let call = try? VarlinkCall.parse(bytes) {
            let again = try? VarlinkCall.parse(call.encoded().dropLast())
            precondition(again == call, "a call reads back different: \(call)")
            _ = (call.interface, call.memberName, ManagerMethod(rawValue: call.memberName))
            for type in managerTypes { checkRoundTrip(type, call.parameters) }
        }
        if let reply = try? VarlinkReply.parse(bytes) {
            let again = try? VarlinkReply.parse(reply.encoded().dropLast())
            precondition(again == reply, "a reply reads back different: \(reply)")
            if let error = reply.varlinkError { _ = (ManagerError(error), error.description) }
        }
    }

    /// The server's NUL framing (`VarlinkFrameDecoder`) fed in pieces: the first byte chooses the piece size. Every
    /// NUL-terminated message up to the limit comes out whole and in order; a longer one is an error.
    static func framing(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let first = bytes.first else { return }
        let limit = 64
        let input = Array(bytes.dropFirst())
        let pieceSize = Int(first % 32) + 1
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(VarlinkFrameDecoder(maxMessageSize: limit)))
        var frames: [[UInt8]] = []
        var failed = false
        var offset = 0
        while offset < input.count && !failed {
            let piece = input[offset..<min(offset + pieceSize, input.count)]
            offset += piece.count
            do {
                try channel.writeInbound(ByteBuffer(bytes: piece))
                while let frame = try channel.readInbound(as: ByteBuffer.self) {
                    frames.append(Array(frame.readableBytesView))
                }
            } catch is VarlinkFrameDecoder.MessageTooLarge {
                failed = true
            } catch {
                fatalError("unexpected error from the frame decoder: \(error)")
            }
        }
        _ = try? channel.finish()

        let messages = input.split(separator: 0, omittingEmptySubsequences: false).map(Array.init)
        let complete = messages.dropLast()
        let tooLong = complete.firstIndex { $0.count > limit }
        let expected = Array(complete[..<(tooLong ?? complete.endIndex)])
        precondition(frames == expected, "frames \(frames) are not the messages \(expected)")
        let tailTooLong = messages.last!.count > limit
        precondition(failed == (tooLong != nil || tailTooLong), "failed: \(failed), messages: \(messages)")
    }

    // MARK: State files

    /// A state file (`STATE-DIR/NAME.json`: a record, an end or a start under way) as the daemon reads it at start: a record it takes must be
    /// written back equal.
    static func state(_ bytes: UnsafeBufferPointer<UInt8>) {
        #if DEBUG
        guard let json = try? JSON.parse(bytes) else { return }
        if json["ended"] != nil {
            if let end = GuestEnd(json: json) { precondition(GuestEnd(json: end.json) == end, "end: \(end)") }
            return
        }
        if json["starting"] != nil {
            if let launch = try? GuestLaunch(json: json) {
                precondition((try? GuestLaunch(json: launch.json)) == launch, "launch: \(launch.json.serialized())")
            }
            return
        }
        do throws(StateFileProblem) {
            let record = try GuestRecord(json: json)
            let again = try? GuestRecord(json: JSON.parse(record.json.serialized()))
            precondition(again == record, "a record reads back different: \(record.json.serialized())")
        } catch {
            _ = error.description
        }
        #endif
    }
}
