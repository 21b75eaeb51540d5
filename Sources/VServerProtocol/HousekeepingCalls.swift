/// Parameters and replies of the housekeeping methods (`Rename`, `Delete`, `Clone`, `Export`, `ImportArchive`).

/// `Rename(name, newName)`.
public struct RenameParameters: ManagerParameters {
    public var name: String
    public var newName: String

    public init(name: String, newName: String) {
        self.name = name
        self.newName = newName
    }

    public init(parameters: [String: JSON]) throws(VarlinkError) {
        name = try parameters.requiredString("name")
        newName = try parameters.requiredString("newName")
    }

    public var parameters: [String: JSON] { ["name": .string(name), "newName": .string(newName)] }
}

public struct RenameReply: ManagerParameters, Equatable {
    public var vserver: VServerInfo
    /// The root's new path, when it moved with the name.
    public var movedRoot: String?
    /// The vservers whose `after` names the new name now.
    public var dependents: [String]

    public init(vserver: VServerInfo, movedRoot: String?, dependents: [String]) {
        self.vserver = vserver
        self.movedRoot = movedRoot
        self.dependents = dependents
    }

    public init(parameters: [String: JSON]) throws(VarlinkError) {
        vserver = try parameters.required("vserver") { (json) throws(VarlinkError) in try VServerInfo(json: json) }
        movedRoot = try parameters.optionalString("movedRoot")
        dependents = try parameters.requiredStringArray("dependents")
    }

    public var parameters: [String: JSON] {
        var result: [String: JSON] = ["vserver": vserver.json, "dependents": .array(dependents.map { .string($0) })]
        if let movedRoot { result["movedRoot"] = .string(movedRoot) }
        return result
    }
}

/// `Delete(name, keepRoot)`.
public struct DeleteParameters: ManagerParameters {
    public var name: String
    public var keepRoot: Bool

    public init(name: String, keepRoot: Bool) {
        self.name = name
        self.keepRoot = keepRoot
    }

    public init(parameters: [String: JSON]) throws(VarlinkError) {
        name = try parameters.requiredString("name")
        keepRoot = try parameters.requiredBool("keepRoot")
    }

    public var parameters: [String: JSON] { ["name": .string(name), "keepRoot": .bool(keepRoot)] }
}

public struct DeleteReply: ManagerParameters, Equatable {
    /// The root that was removed; nil with keepRoot.
    public var root: String?
    /// What could not be removed once the vserver was gone (something mounted inside it).
    public var leftOver: [String]

    public init(root: String?, leftOver: [String]) {
        self.root = root
        self.leftOver = leftOver
    }

    public init(parameters: [String: JSON]) throws(VarlinkError) {
        root = try parameters.optionalString("root")
        leftOver = try parameters.requiredStringArray("leftOver")
    }

    public var parameters: [String: JSON] {
        var result: [String: JSON] = ["leftOver": .array(leftOver.map { .string($0) })]
        if let root { result["root"] = .string(root) }
        return result
    }
}

/// How an archive of `Export` is compressed.
public enum ArchiveCompression: String, Sendable, CaseIterable {
    case zstd, gzip, none

    /// By the file name: .tar.zst/.tzst, .tar.gz/.tgz, else none.
    public static func of(path: String) -> ArchiveCompression {
        if path.hasSuffix(".zst") || path.hasSuffix(".tzst") { return .zstd }
        if path.hasSuffix(".gz") || path.hasSuffix(".tgz") { return .gzip }
        return .none
    }

    /// By the first bytes of the archive (the magic numbers of zstd and gzip).
    public static func of(magic bytes: [UInt8]) -> ArchiveCompression {
        if bytes.starts(with: [0x28, 0xB5, 0x2F, 0xFD]) { return .zstd }
        if bytes.starts(with: [0x1F, 0x8B]) { return .gzip }
        return .none
    }

    static func parse(_ parameters: [String: JSON]) throws(VarlinkError) -> ArchiveCompression? {
        guard let text = try parameters.optionalString("compression") else { return nil }
        guard let compression = ArchiveCompression(rawValue: text) else { throw .invalidParameter("compression") }
        return compression
    }
}

/// `Export(name, path, compression, runningOk)`.
public struct ExportParameters: ManagerParameters {
    public var name: String
    public var path: String
    public var compression: ArchiveCompression?
    public var runningOk: Bool

    public init(name: String, path: String, compression: ArchiveCompression?, runningOk: Bool) {
        self.name = name
        self.path = path
        self.compression = compression
        self.runningOk = runningOk
    }

    public init(parameters: [String: JSON]) throws(VarlinkError) {
        name = try parameters.requiredString("name")
        path = try parameters.requiredString("path")
        compression = try ArchiveCompression.parse(parameters)
        runningOk = try parameters.optionalBool("runningOk") ?? false
    }

    public var parameters: [String: JSON] {
        var result: [String: JSON] = ["name": .string(name), "path": .string(path), "runningOk": .bool(runningOk)]
        if let compression { result["compression"] = .string(compression.rawValue) }
        return result
    }
}

/// `ImportArchive(path, compression, name, root, trustConfig)`.
public struct ImportArchiveParameters: ManagerParameters {
    public var path: String
    public var compression: ArchiveCompression?
    public var name: String?
    public var root: String?
    public var trustConfig: Bool

    public init(path: String, compression: ArchiveCompression?, name: String?, root: String?, trustConfig: Bool) {
        self.path = path
        self.compression = compression
        self.name = name
        self.root = root
        self.trustConfig = trustConfig
    }

    public init(parameters: [String: JSON]) throws(VarlinkError) {
        path = try parameters.requiredString("path")
        compression = try ArchiveCompression.parse(parameters)
        name = try parameters.optionalString("name")
        root = try parameters.optionalString("root")
        trustConfig = try parameters.optionalBool("trustConfig") ?? false
    }

    public var parameters: [String: JSON] {
        var result: [String: JSON] = ["path": .string(path), "trustConfig": .bool(trustConfig)]
        if let compression { result["compression"] = .string(compression.rawValue) }
        if let name { result["name"] = .string(name) }
        if let root { result["root"] = .string(root) }
        return result
    }
}

/// A reply of a method called with "more" that streams progress until its result.
public protocol StreamedReply {
    /// false for a progress reply, true for the result.
    var done: Bool { get }
}

/// The replies of `Export` and `ImportArchive`: progress (done false), then the result.
public struct ArchiveReply: ManagerParameters, Equatable, StreamedReply {
    public var files: Int
    public var done: Bool
    /// ImportArchive: the vserver made.
    public var vserver: VServerInfo?
    /// ImportArchive: what its config's check says.
    public var warnings: [String]

    public init(files: Int, done: Bool, vserver: VServerInfo? = nil, warnings: [String] = []) {
        self.files = files
        self.done = done
        self.vserver = vserver
        self.warnings = warnings
    }

    public init(parameters: [String: JSON]) throws(VarlinkError) {
        files = try parameters.requiredInt("files")
        done = try parameters.requiredBool("done")
        vserver = try parameters["vserver"].map { (json) throws(VarlinkError) in try VServerInfo(json: json) }
        warnings = parameters["warnings"] == nil ? [] : try parameters.requiredStringArray("warnings")
    }

    public var parameters: [String: JSON] {
        var result: [String: JSON] = ["files": JSON(files), "done": .bool(done)]
        if let vserver { result["vserver"] = vserver.json }
        if !warnings.isEmpty { result["warnings"] = .array(warnings.map { .string($0) }) }
        return result
    }
}

/// `Clone(name, newName, root, context, hostname, runningOk)`.
public struct CloneParameters: ManagerParameters {
    public var name: String
    public var newName: String
    public var root: String?
    public var context: Int?
    public var hostname: String?
    public var runningOk: Bool

    public init(name: String, newName: String, root: String? = nil, context: Int? = nil, hostname: String? = nil,
                runningOk: Bool = false) {
        self.name = name
        self.newName = newName
        self.root = root
        self.context = context
        self.hostname = hostname
        self.runningOk = runningOk
    }

    public init(parameters: [String: JSON]) throws(VarlinkError) {
        name = try parameters.requiredString("name")
        newName = try parameters.requiredString("newName")
        root = try parameters.optionalString("root")
        context = try parameters.optionalInt("context", in: 2...49151)
        hostname = try parameters.optionalString("hostname")
        runningOk = try parameters.optionalBool("runningOk") ?? false
    }

    public var parameters: [String: JSON] {
        var result: [String: JSON] = ["name": .string(name), "newName": .string(newName), "runningOk": .bool(runningOk)]
        if let root { result["root"] = .string(root) }
        if let context { result["context"] = JSON(context) }
        if let hostname { result["hostname"] = .string(hostname) }
        return result
    }
}

/// The replies of `Clone`: progress (done false), then the result.
public struct CloneReply: ManagerParameters, Equatable, StreamedReply {
    public var files: Int
    public var bytes: Int
    public var totalBytes: Int
    public var done: Bool
    /// Whether the copy shares its extents with the original (reflinks).
    public var reflinked: Bool?
    public var vserver: VServerInfo?
    public var warnings: [String]

    public init(files: Int, bytes: Int, totalBytes: Int, done: Bool, reflinked: Bool? = nil,
                vserver: VServerInfo? = nil, warnings: [String] = []) {
        self.files = files
        self.bytes = bytes
        self.totalBytes = totalBytes
        self.done = done
        self.reflinked = reflinked
        self.vserver = vserver
        self.warnings = warnings
    }

    public init(parameters: [String: JSON]) throws(VarlinkError) {
        files = try parameters.requiredInt("files")
        bytes = try parameters.requiredInt("bytes")
        totalBytes = try parameters.requiredInt("totalBytes")
        done = try parameters.requiredBool("done")
        reflinked = try parameters.optionalBool("reflinked")
        vserver = try parameters["vserver"].map { (json) throws(VarlinkError) in try VServerInfo(json: json) }
        warnings = parameters["warnings"] == nil ? [] : try parameters.requiredStringArray("warnings")
    }

    public var parameters: [String: JSON] {
        var result: [String: JSON] = [
            "files": JSON(files), "bytes": JSON(bytes), "totalBytes": JSON(totalBytes), "done": .bool(done),
        ]
        if let reflinked { result["reflinked"] = .bool(reflinked) }
        if let vserver { result["vserver"] = vserver.json }
        if !warnings.isEmpty { result["warnings"] = .array(warnings.map { .string($0) }) }
        return result
    }
}

/// `Hashify(names, dryRun)`.
public struct HashifyParameters: ManagerParameters {
    /// Empty: every valid vserver.
    public var names: [String]
    public var dryRun: Bool

    public init(names: [String], dryRun: Bool) {
        self.names = names
        self.dryRun = dryRun
    }

    public init(parameters: [String: JSON]) throws(VarlinkError) {
        names = try parameters.requiredStringArray("names")
        dryRun = try parameters.requiredBool("dryRun")
    }

    public var parameters: [String: JSON] { ["names": .array(names.map { .string($0) }), "dryRun": .bool(dryRun)] }
}

/// The replies of `Hashify`: progress (done false), then the result.
public struct HashifyReply: ManagerParameters, Equatable, StreamedReply {
    public var filesExamined: Int
    public var bytesExamined: Int
    public var filesDeduped: Int
    /// Shared now (a dry run: would be).
    public var bytesDeduped: Int
    /// Files left alone (conffiles, excluded, already shared, changed meanwhile).
    public var skipped: Int
    public var done: Bool

    public init(filesExamined: Int, bytesExamined: Int, filesDeduped: Int, bytesDeduped: Int, skipped: Int,
                done: Bool) {
        self.filesExamined = filesExamined
        self.bytesExamined = bytesExamined
        self.filesDeduped = filesDeduped
        self.bytesDeduped = bytesDeduped
        self.skipped = skipped
        self.done = done
    }

    public init(parameters: [String: JSON]) throws(VarlinkError) {
        filesExamined = try parameters.requiredInt("filesExamined")
        bytesExamined = try parameters.requiredInt("bytesExamined")
        filesDeduped = try parameters.requiredInt("filesDeduped")
        bytesDeduped = try parameters.requiredInt("bytesDeduped")
        skipped = try parameters.requiredInt("skipped")
        done = try parameters.requiredBool("done")
    }

    public var parameters: [String: JSON] {
        ["filesExamined": JSON(filesExamined), "bytesExamined": JSON(bytesExamined),
         "filesDeduped": JSON(filesDeduped), "bytesDeduped": JSON(bytesDeduped), "skipped": JSON(skipped),
         "done": .bool(done)]
    }
}

/// `DiskUsage(names)`: empty names mean every valid vserver.
public struct DiskUsageParameters: ManagerParameters {
    public var names: [String]

    public init(names: [String]) { self.names = names }

    public init(parameters: [String: JSON]) throws(VarlinkError) {
        names = try parameters.requiredStringArray("names")
    }

    public var parameters: [String: JSON] { ["names": .array(names.map { .string($0) })] }
}

public struct DiskUsageReply: ManagerParameters, Equatable {
    public var vservers: [DiskUsageInfo]

    public init(vservers: [DiskUsageInfo]) { self.vservers = vservers }

    public init(parameters: [String: JSON]) throws(VarlinkError) {
        vservers = try parameters.requiredArray("vservers") { (json) throws(VarlinkError) in
            try DiskUsageInfo(json: json)
        }
    }

    public var parameters: [String: JSON] { ["vservers": .array(vservers.map { .object($0.json) })] }
}

/// A `RootDiskUsage` of the IDL: what one vserver's root uses.
public struct DiskUsageInfo: Sendable, Equatable {
    public var name: String
    public var root: String
    public var usedBytes: Int
    public var usedInodes: Int?
    public var sharedBytes: Int
    public var exclusiveBytes: Int
    public var limitBytes: Int?
    /// "qgroup" or "walk".
    public var source: String

    public init(name: String, root: String, usedBytes: Int, usedInodes: Int?, sharedBytes: Int, exclusiveBytes: Int,
                limitBytes: Int?, source: String) {
        self.name = name
        self.root = root
        self.usedBytes = usedBytes
        self.usedInodes = usedInodes
        self.sharedBytes = sharedBytes
        self.exclusiveBytes = exclusiveBytes
        self.limitBytes = limitBytes
        self.source = source
    }

    public init(json: JSON) throws(VarlinkError) {
        guard let fields = json.objectValue else { throw .invalidParameter("vservers") }
        name = try fields.requiredString("name")
        root = try fields.requiredString("root")
        usedBytes = try fields.requiredInt("usedBytes")
        usedInodes = try fields.optionalInt("usedInodes")
        sharedBytes = try fields.requiredInt("sharedBytes")
        exclusiveBytes = try fields.requiredInt("exclusiveBytes")
        limitBytes = try fields.optionalInt("limitBytes")
        source = try fields.requiredString("source")
    }

    public var json: [String: JSON] {
        var result: [String: JSON] = [
            "name": .string(name), "root": .string(root), "usedBytes": JSON(usedBytes),
            "sharedBytes": JSON(sharedBytes), "exclusiveBytes": JSON(exclusiveBytes), "source": .string(source),
        ]
        if let usedInodes { result["usedInodes"] = JSON(usedInodes) }
        if let limitBytes { result["limitBytes"] = JSON(limitBytes) }
        return result
    }
}
