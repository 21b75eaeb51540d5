import Glibc
import VServerConfig

/// `vserverctl build` (util-vserver's `vserver NAME build -m debootstrap`): makes a new vserver's root with a
/// builder and writes its config, with no daemon. All or nothing: every check comes before any work; the tree is
/// made in a hidden directory beside the final root (`/vservers/.web.build-XXXXXX`, same file system), prepared
/// (`GuestPreparation`), renamed into place, and only then is the config written. A failure, or SIGINT, SIGTERM
/// or SIGHUP (which kill the builder's process group), removes all of it again: no config, no root, no temporary
/// directory.
public enum VServerBuild {
    /// How many of the builder's last output lines a failure reports.
    package static let outputLinesKept = 15

    /// Builds `request`, saying what it does through `progress` (one phase a line, without the name).
    public static func run(_ request: BuildRequest, progress: (String) -> Void) throws(BuildError)
        -> ConfigWriter.Written
    {
        guard geteuid() == 0 else { throw BuildError("building a vserver needs root") }
        let interruption: Interruption
        do { interruption = try Interruption() } catch { throw BuildError("\(error)") }
        let plan = try Plan(request)
        try stopIfInterrupted(interruption)

        var work = Work()
        defer { work.undo() }
        do throws(SystemError) {
            if plan.makesParent {
                // util-vserver's barrier: no user of the host reaches into a guest's tree (setuid programs there).
                guard mkdir(plan.parent, 0o700) == 0 || errno == EEXIST else {
                    throw SystemError("mkdir", path: plan.parent)
                }
            }
            work.staging = try makeTemporaryDirectory(in: plan.parent, prefix: ".\(plan.baseName).build-")
        } catch {
            throw BuildError("\(error)")
        }
        let staging = work.staging!
        let tree = Path.join(staging, "root")
        do throws(SystemError) { try makeRoot(tree, in: staging) } catch { throw BuildError("\(error)") }

        progress("building \(plan.root): \(plan.builder.summary)")
        try runBuilder(plan.builder, target: tree, log: Path.join(staging, "build.log"), interruption: interruption,
                       progress: progress)
        try stopIfInterrupted(interruption)

        progress("preparing the guest (hostname, machine-id)")
        let findings: GuestPreparation.Findings
        do {
            findings = try GuestPreparation.prepare(root: tree, hostname: request.hostname ?? request.name)
        } catch {
            throw BuildError("prepare the guest: \(error)")
        }
        try stopIfInterrupted(interruption)

        guard rename(tree, plan.root) == 0 else {
            let error = errno
            throw BuildError(error == EEXIST || error == ENOTEMPTY
                ? "\(plan.root) already exists (made while the build ran)"
                : "\(SystemError(call: "rename", path: plan.root, errno: error))")
        }
        work.root = plan.root
        work.removeStaging()
        try stopIfInterrupted(interruption)

        let new = request.newVServer
        let configDirectory = Path.join(FileSystem.absolutePath(request.configDirectory), request.name)
        progress("writing \(Path.join(configDirectory, TOMLConfig.fileName))")
        let written: ConfigWriter.Written
        do {
            written = try ConfigWriter.create(new, configDirectory: request.configDirectory,
                                              contextRecord: request.contextRecord)
        } catch {
            throw BuildError("\(error)")
        }
        work.root = nil
        if findings.systemdInit && !request.userNamespace {
            progress("note: systemd as PID 1 needs a user namespace (build --user-namespace) or CAP_SYS_ADMIN "
                         + "([capabilities] add in \(TOMLConfig.fileName))")
        }
        return written
    }

    /// Every check that needs no work: root, config, builder.
    package struct Plan {
        package let root: String
        package let parent: String
        /// The root's last component, for the temporary directory's name.
        package let baseName: String
        /// The parent is the missing default /vservers, made root-only.
        package let makesParent: Bool
        package let builder: Builder

        package init(_ request: BuildRequest, locate: (String) -> String? = { Builder.locate($0) },
                     environment: LoaderEnvironment = LoaderEnvironment()) throws(BuildError)
        {
            do {
                var environment = environment
                environment.contextRecord = environment.contextRecord ?? request.contextRecord
                try ConfigWriter.checkNew(request.newVServer, configDirectory: request.configDirectory,
                                          environment: environment)
            } catch {
                throw BuildError("\(error)")
            }
            let components = Path.components(request.rootPath)
            guard let last = components.last else { throw BuildError("--root: must not be \"/\"") }
            root = "/" + components.joined(separator: "/")
            baseName = String(last)
            parent = Path.parent(root)
            if FileSystem.exists(root) {
                throw BuildError("\(root) already exists (`vserverctl create` makes a config for an existing root)")
            }
            let parentStatus = (try? FileSystem.status(parent)) ?? nil
            makesParent = parentStatus == nil && parent == VServerConfig.defaultRootDirectory
            if !makesParent && parentStatus?.isDirectory != true {
                throw BuildError("\(parent) " + (parentStatus == nil ? "does not exist" : "is not a directory"))
            }
            if !makesParent, let problem = RootBarrier.problem(root: root, owner: environment.requiredOwner) {
                throw BuildError("--root \(root): \(problem)")
            }
            let sources = request.method.installsPackages && request.mirror == nil
                ? AptSources.load(from: request.aptDirectory) : AptSources(entries: [])
            builder = try Builder.resolve(request, sources: sources, locate: locate)
        }
    }

    /// What a build made so far, removed again unless the build got through.
    private struct Work {
        var staging: String?
        /// The root once renamed into place, until the config is written.
        var root: String?

        mutating func removeStaging() {
            if let staging {
                // The root first: a subvolume is another device, which removeTree does not enter.
                FileSystem.removeTree(Path.join(staging, "root"))
                FileSystem.removeTree(staging)
            }
            staging = nil
        }

        mutating func undo() {
            removeStaging()
            if let root { FileSystem.removeTree(root) }
            root = nil
        }
    }

    /// Runs the builder with its output in `log` and a progress line per phase; stops it (its whole process group)
    /// when `interruption` sees a signal.
    private static func runBuilder(_ builder: Builder, target: String, log: String, interruption: Interruption,
                                   progress: (String) -> Void) throws(BuildError)
    {
        let logFD = open(log, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o600)
        guard logFD >= 0 else { throw BuildError("\(SystemError("open", path: log))") }
        defer { close(logFD) }
        let child: ChildProcess
        do {
            child = try ChildProcess(arguments: builder.arguments(target: target),
                                     environment: Builder.environment(), directory: "/")
        } catch {
            throw BuildError("start \(builder.name): \(error)")
        }
        // The collector keeps its closure only while this function runs.
        let result = withoutActuallyEscaping(progress) { progress -> Result<Void, BuildError> in
            var phase: String?
            var output = LineCollector(keep: outputLinesKept) { line in
                let bytes = Array((line + "\n").utf8)
                _ = bytes.withUnsafeBytes { write(logFD, $0.baseAddress, $0.count) }
                if let next = builder.phase(of: line), next != phase {
                    progress(next)
                    phase = next
                }
            }
            return Result { () throws(BuildError) in
                try superviseBuilder(child, builder, interruption: interruption, output: &output)
            }
        }
        try result.get()
    }

    /// Waits for the builder to exit, or kills its process group on a signal.
    private static func superviseBuilder(_ child: ChildProcess, _ builder: Builder, interruption: Interruption,
                                         output: inout LineCollector) throws(BuildError)
    {
        while true {
            let event: ChildProcess.Event
            do { event = try child.wait(orReadable: interruption.fd, lines: &output) } catch {
                throw BuildError("\(builder.name): \(error)")
            }
            switch event {
            case .readable, .deadlinePassed:
                guard let signal = interruption.pending else { continue }
                child.signalGroup(SIGKILL)
                _ = try? child.wait(lines: &output)
                waitForGroupToEnd(child.pid)
                throw interrupted(signal)
            case .exited(let code):
                waitForGroupToEnd(child.pid)
                guard code == 0 else {
                    let lines = output.lastLines
                    // The first error is the cause; the later ones say what failed because of it.
                    let reason = lines.first { $0.hasPrefix("E: ") } ?? lines.last ?? "no output"
                    throw BuildError("\(builder.name) exited \(code): \(reason)", builderOutput: lines)
                }
                return
            }
        }
    }

    /// A killed builder's process group is gone once its last member is; the tree is not removed before (with
    /// the builder's namespaces its mounts go too). Bounded: a process that left the group does not count.
    private static func waitForGroupToEnd(_ group: pid_t) {
        let deadline = ContinuousClock.now + .seconds(10)
        while kill(-group, 0) == 0 && ContinuousClock.now < deadline { usleep(10_000) }
    }

    private static func stopIfInterrupted(_ interruption: Interruption) throws(BuildError) {
        if let signal = interruption.pending { throw interrupted(signal) }
    }

    private static func interrupted(_ signal: Int32) -> BuildError {
        BuildError("interrupted by \(Signals.name(signal) ?? "signal \(signal)"); nothing was kept", signal: signal)
    }

    /// The new root, mode 0755: a btrfs subvolume where its parent is on btrfs (disk limits are qgroups of one),
    /// else a directory.
    private static func makeRoot(_ tree: String, in parent: String) throws(SystemError) {
        if try Btrfs.isBtrfs(parent) {
            try Btrfs.createSubvolume(at: tree)
        } else {
            guard mkdir(tree, 0o755) == 0 else { throw SystemError("mkdir", path: tree) }
        }
        guard chmod(tree, 0o755) == 0 else { throw SystemError("chmod", path: tree) }
    }

    /// mkdtemp(3): a new directory, mode 0700, named `prefix` + 6 random characters.
    private static func makeTemporaryDirectory(in parent: String, prefix: String) throws(SystemError) -> String {
        var template = Array(Path.join(parent, prefix + "XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw SystemError("mkdtemp", path: Path.join(parent, prefix)) }
        return String(cString: made)
    }
}
