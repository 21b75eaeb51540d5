import Glibc
import VServerConfig

/// The program that makes a new root, resolved before any work starts: its executable, what it installs from,
/// its arguments, and how its output lines map to progress phases.
package struct Builder: Equatable {
    /// What errors call it: "mmdebstrap", "debootstrap", "tar".
    package var name: String
    /// What the first progress line says it does.
    package var summary: String
    /// argv before and after the target directory; argv[0] is absolute.
    package var leading: [String]
    package var trailing: [String]
    package let method: BuildMethod

    /// Where programs are looked for besides $PATH: debootstrap lives in /usr/sbin, which a user's PATH may lack.
    package static let systemPath = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]

    /// The environment of the builder: a clean one, plus the caller's proxy settings, which apt honours.
    package static let passedVariables = [
        "http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "all_proxy", "HTTP_PROXY",
        "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY", "APT_CONFIG", "TMPDIR",
    ]

    /// The builder for `request`; `locate` finds an executable by name (nil: not installed).
    package static func resolve(_ request: BuildRequest, sources: AptSources,
                                locate: (String) -> String? = { Builder.locate($0) }) throws(BuildError) -> Builder
    {
        func executable(_ name: String, package: String) throws(BuildError) -> String {
            guard let path = locate(name) else {
                throw BuildError("\(name) not found in PATH (apt-get install \(package))")
            }
            return path
        }
        switch request.method {
        case .tarball(let file):
            let tar = try executable("tar", package: "tar")
            guard (try? FileSystem.status(file))?.isRegularFile == true else {
                throw BuildError("\(file): no such archive")
            }
            guard access(file, R_OK) == 0 else { throw BuildError("\(file): \(SystemError("open").message)") }
            // tar recognises gzip, bzip2, xz and zstd archives by their first bytes. Owners by number: the names
            // in the archive are the guest's, not the host's. File capabilities and ACLs are extended attributes.
            return Builder(name: "tar", summary: "unpacking \(file)",
                           leading: [tar, "--extract", "--file=\(FileSystem.absolutePath(file))",
                                     "--preserve-permissions", "--numeric-owner", "--xattrs", "--xattrs-include=*",
                                     "--directory"],
                           trailing: [], method: request.method)
        case .mmdebstrap, .debootstrap:
            let name = request.method.name
            let program = try executable(name, package: name)
            // Its own mount namespace (private: nothing propagates to the host) and pid namespace: what the
            // builder mounts in the tree (proc, sys, dev) and every process it starts go away with it, however it
            // ends, even killed. The tree is then safe to remove.
            let unshare = try executable("unshare", package: "util-linux")
            let wrapper = [unshare, "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child", "--"]
            let suite = request.suite
            let mirrors: [String]
            if let mirror = request.mirror {
                mirrors = [mirror]
            } else if request.method == .mmdebstrap {
                // With explicit mirrors mmdebstrap adds no updates and security suites: give the host's.
                mirrors = sources.debLines(for: suite)
            } else {
                mirrors = sources.mirror(for: suite).map { [$0] } ?? []
            }
            guard let archive = mirrors.first else {
                throw BuildError("no Debian archive for \(suite) in \(request.aptDirectory)/sources.list or "
                                     + "sources.list.d/ (give one with --mirror URI)")
            }
            let uri = archive.hasPrefix("deb ") ? String(archive.split(separator: " ")[1]) : archive
            var options = [program, "--variant=\(request.variant)"]
            if !request.packages.isEmpty { options.append("--include=\(request.packages.joined(separator: ","))") }
            if request.method == .mmdebstrap { options.append("--format=directory") }
            let packages = request.packages.isEmpty ? "" : " + " + request.packages.joined(separator: ",")
            return Builder(name: name, summary: "\(name) \(suite) (\(request.variant)\(packages)) from \(uri)",
                           leading: wrapper + options + [suite], trailing: mirrors, method: request.method)
        }
    }

    package func arguments(target: String) -> [String] {
        leading + [target] + trailing
    }

    package static func environment(_ lookup: (String) -> String? = { getenv($0).map { String(cString: $0) } })
        -> [String]
    {
        ["PATH=\(systemPath.joined(separator: ":"))", "LC_ALL=C.UTF-8", "DEBIAN_FRONTEND=noninteractive"]
            + passedVariables.compactMap { name in lookup(name).map { "\(name)=\($0)" } }
    }

    /// The phase a line of the builder's output starts ("downloading packages"), from its `I:` lines; nil for
    /// lines that start none.
    package func phase(of line: String) -> String? {
        guard line.hasPrefix("I: ") else { return nil }
        let text = line.dropFirst(3)
        let phases: [(prefixes: [String], phase: String)]
        switch method {
        case .mmdebstrap:
            phases = [
                (["running apt-get update"], "updating package lists"),
                (["downloading packages"], "downloading packages"),
                (["extracting archives"], "extracting packages"),
                (["installing essential packages", "installing remaining packages"], "installing packages"),
                (["cleaning package lists", "cleaning apt cache"], "cleaning up"),
            ]
        case .debootstrap:
            phases = [
                (["Retrieving InRelease", "Retrieving Release", "Retrieving Packages", "Checking Release",
                  "Valid Release", "Validating Packages", "Resolving dependencies", "Checking component"],
                 "updating package lists"),
                (["Retrieving ", "Validating "], "downloading packages"),
                (["Extracting "], "extracting packages"),
                (["Installing core packages", "Unpacking ", "Configuring "], "installing packages"),
            ]
        case .tarball:
            phases = []
        }
        return phases.first { $0.prefixes.contains { text.hasPrefix($0) } }?.phase
    }

    /// The absolute path of an executable in $PATH or `systemPath`, or nil.
    package static func locate(_ name: String) -> String? {
        let path = getenv("PATH").map { String(cString: $0) } ?? ""
        let directories = path.split(separator: ":").map(String.init) + systemPath
        return directories.filter { $0.hasPrefix("/") }.map { Path.join($0, name) }.first(where: isExecutableFile)
    }
}

/// Why a build failed, as one line; the builder's last output lines when it was the builder that failed.
public struct BuildError: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// The signal that interrupted the build: the command then exits 128 + it.
    public var signal: Int32?
    public var builderOutput: [String]

    package init(_ message: String, signal: Int32? = nil, builderOutput: [String] = []) {
        self.message = message
        self.signal = signal
        self.builderOutput = builderOutput
    }

    public var description: String { message }
}
