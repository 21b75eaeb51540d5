import Glibc
#if TESTING_AVAILABLE
import Testing
#endif

import VServerConfig

/// A temporary directory tree for configuration tests, removed when the value goes away.
package final class TemporaryTree {
    package let path: String

    package init() {
        var template = Array("/tmp/vserverd-config-test-XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else { fatalError("mkdtemp: \(String(cString: strerror(errno)))") }
        path = String(cString: created)
    }

    deinit { Self.remove(path) }

    package func absolute(_ relative: String) -> String { relative.hasPrefix("/") ? relative : path + "/" + relative }

    /// Creates the directory and its parents (mode 0755).
    @discardableResult
    package func directory(_ relative: String) -> String {
        let full = absolute(relative)
        var current = ""
        for component in full.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) == 0 { chmod(current, 0o755) }
        }
        return full
    }

    /// Writes a file (mode 0644), creating its directory.
    @discardableResult
    package func file(_ relative: String, _ text: String, mode: mode_t = 0o644) -> String {
        let full = absolute(relative)
        directory(String(full[..<full.lastIndex(of: "/")!]))
        let fd = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        precondition(fd >= 0, "open \(full): \(String(cString: strerror(errno)))")
        let bytes = Array(text.utf8)
        precondition(bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count)
        close(fd)
        chmod(full, mode)
        return full
    }

    @discardableResult
    package func symlink(_ relative: String, to target: String) -> String {
        let full = absolute(relative)
        directory(String(full[..<full.lastIndex(of: "/")!]))
        precondition(Glibc.symlink(target, full) == 0, "symlink \(full): \(String(cString: strerror(errno)))")
        return full
    }

    private static func remove(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if st.st_mode & S_IFMT == S_IFDIR {
            if let dir = opendir(path) {
                var names: [String] = []
                while let entry = readdir(dir) {
                    let name = withUnsafeBytes(of: &entry.pointee.d_name) {
                        String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
                    }
                    if name != "." && name != ".." { names.append(name) }
                }
                closedir(dir)
                for name in names { remove(path + "/" + name) }
            }
            rmdir(path)
        } else {
            unlink(path)
        }
    }
}

/// A configuration directory (`etc/`) with roots under `vservers/` and a fake zoneinfo, loaded with the
/// ownership check set to the test's own user, so the tests mean the same as root and as a user.
package final class ConfigFixture {
    package let tree = TemporaryTree()
    package var etc: String { tree.absolute("etc") }
    package var requiredOwner: uid_t? = geteuid()

    package init() {
        tree.directory("etc")
        // util-vserver's barrier, which the loader requires of a root's parent.
        chmod(tree.directory("vservers"), 0o700)
        tree.file("zoneinfo/Europe/Berlin", "TZif")
        tree.file("zoneinfo/UTC", "TZif")
    }

    /// Writes etc/NAME/vserver.toml; the root /vservers/NAME is created unless `root: false`.
    @discardableResult
    package func vserver(_ name: String, _ toml: String, root: Bool = true) -> String {
        if root { tree.directory("vservers/\(name)") }
        return tree.file("etc/\(name)/vserver.toml", toml)
    }

    @discardableResult
    package func root(_ name: String) -> String { tree.directory("vservers/\(name)") }

    package var environment: LoaderEnvironment {
        LoaderEnvironment(
            zoneinfoDirectory: tree.absolute("zoneinfo"), requiredOwner: requiredOwner,
            defaultRootDirectory: tree.absolute("vservers"))
    }

    package func load() -> ConfigSet { ConfigLoader.load(directory: etc, environment: environment) }

    /// The error of the one invalid vserver `name`, as the user reads it.
    package func error(_ name: String) -> String? { load().invalid[name]?.description }

    #if TESTING_AVAILABLE
    /// The config of `name`, an issue of the calling test when it is invalid. (`swift build` builds this target
    /// too, where Testing is not there.)
    package func config(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) -> VServerConfig? {
        let set = load()
        #expect(
            set.invalid[name] == nil, "unexpected error: \(set.invalid[name]?.description ?? "")",
            sourceLocation: sourceLocation)
        return set.configs[name]
    }
    #endif

    package func path(_ relative: String) -> String { tree.absolute(relative) }
}
