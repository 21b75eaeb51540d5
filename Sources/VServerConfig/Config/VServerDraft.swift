import Glibc

/// One vserver directory read on its own, before the checks that need all of them: context assignment and
/// uniqueness, `after` names and cycles.
package struct VServerDraft {
    package var config: VServerConfig
    /// Where each `after` name was written, parallel to `config.after`.
    package var afterLocations: [SettingLocation] = []
    /// Where each of `config.network.claimedAddresses` was written, where the reader knows it (util-vserver's
    /// `interfaces/N/ip`); the others are named by the config file and key.
    package var addressLocations: [IPAddress: SettingLocation] = [:]
}

/// What reading one directory gave. The context is kept even when the rest is invalid, so that a vserver with
/// a typo elsewhere does not lose its context to another one while it is being fixed.
package struct DraftOutcome {
    package typealias Context = (value: Int, location: SettingLocation)

    package var explicitContext: Context?
    package var result: Result<VServerDraft, ConfigError>

    package init(explicitContext: Context? = nil, result: Result<VServerDraft, ConfigError>) {
        self.explicitContext = explicitContext
        self.result = result
    }

    /// Runs `read`, keeping the context it reports before it fails.
    package init(_ read: (inout Context?) throws(ConfigError) -> VServerDraft) {
        var context: Context?
        do throws(ConfigError) {
            result = .success(try read(&context))
        } catch {
            result = .failure(error)
        }
        explicitContext = context
    }
}

/// Settings the loader takes from the host; tests point them at temporary directories.
package struct LoaderEnvironment: Sendable {
    package var zoneinfoDirectory = "/usr/share/zoneinfo"
    /// Owner every config directory and file must have; nil turns the check off. Root when running as root.
    package var requiredOwner: uid_t? = geteuid() == 0 ? 0 : nil
    package var defaultRootDirectory = VServerConfig.defaultRootDirectory
    /// vserverd's record of assigned contexts (`LIB-DIR/contexts`, `ContextRecord`); nil: none is kept.
    package var contextRecord: String? = nil
    /// Whether loading records new assignments there (vserverd), or only reads it (`vserverctl`).
    package var writesContextRecord = false

    package init(zoneinfoDirectory: String = "/usr/share/zoneinfo", requiredOwner: uid_t? = geteuid() == 0 ? 0 : nil,
                 defaultRootDirectory: String = VServerConfig.defaultRootDirectory, contextRecord: String? = nil,
                 writesContextRecord: Bool = false) {
        self.zoneinfoDirectory = zoneinfoDirectory
        self.requiredOwner = requiredOwner
        self.defaultRootDirectory = defaultRootDirectory
        self.contextRecord = contextRecord
        self.writesContextRecord = writesContextRecord
    }

    package var files: ConfigFiles { ConfigFiles(requiredOwner: requiredOwner) }
    package var trust: TrustedTree { TrustedTree(owner: requiredOwner) }
}

package enum Settings {
    /// `root`: absolute, existing, a directory, not the host's "/" however it is spelled, and behind the barrier
    /// of `RootBarrier` (checked when `barrierOwner` is given: as root).
    package static func resolveRoot(_ path: String, barrierOwner: uid_t?) throws(Problem) -> String {
        guard path.hasPrefix("/") else { throw Problem("must be an absolute path, not \(quoted(path))") }
        let resolved: String
        do throws(SystemError) {
            resolved = try FileSystem.realPath(path)
        } catch {
            if error.errno == ENOENT { throw Problem("\(path) does not exist") }
            throw Problem("\(path): \(error.message)")
        }
        if resolved == "/" {
            throw Problem(
                path == "/"
                    ? "must not be \"/\", the host's root directory"
                    : "\(quoted(path)) resolves to \"/\", the host's root directory")
        }
        guard (try? FileSystem.status(resolved))?.isDirectory == true else {
            throw Problem("\(path) is not a directory")
        }
        if let problem = RootBarrier.problem(root: resolved, owner: barrierOwner) {
            throw Problem("\(resolved): \(problem)")
        }
        return resolved
    }

    /// Why `argv[0]` cannot start the program, or nil. `init` must be absolute; `command` and `shell` may be a
    /// bare name, looked up in PATH inside the vserver.
    package static func programProblem(_ program: String, allowsBareName: Bool) -> String? {
        if program.hasPrefix("/") { return nil }
        if allowsBareName && !program.isEmpty && !program.contains("/") { return nil }
        return allowsBareName
            ? "must start with an absolute path or a command name found via PATH, not \(quoted(program))"
            : "must start with an absolute path, not \(quoted(program))"
    }

    /// Why `level` is no runlevel /etc/init.d/rc takes ("0"-"6", "S"), or nil.
    package static func runlevelProblem(_ level: String) -> String? {
        ["0", "1", "2", "3", "4", "5", "6", "S", "s"].contains(level)
            ? nil : "must be a runlevel from \"0\" to \"6\" or \"S\", not \(quoted(level))"
    }

    package static func contextProblem(_ context: Int64) -> String? {
        VServerConfig.contextRange.contains(Int(clamping: context))
            ? nil
            : "must be an integer from \(VServerConfig.contextRange.lowerBound) to "
                + "\(VServerConfig.contextRange.upperBound), not \(context)"
    }
}
