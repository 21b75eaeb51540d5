/// Parameters and replies of the housekeeping methods (`Rename`, `Delete`).

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
