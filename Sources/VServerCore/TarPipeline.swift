import Glibc
import Synchronization
import VServerConfig
import VServerProtocol

/// A GNU tar pipeline run by `bash -o pipefail` in a process group of its own (`ChildProcess`): what Export and
/// ImportArchive do with a guest's tree. GNU tar because every Debian host has it and it keeps what a root needs
/// (numeric owners, xattrs with file capabilities, ACLs, hard links, devices, holes), and because it refuses by
/// default what an untrusted archive tries: names with "..", absolute names (made relative), and writing through
/// a symlink the archive itself made (it extracts such links last). `--verbose` names each member: the count is
/// the progress. Cancelling the task kills the whole group.
struct TarPipeline {
    /// Exit status and the error lines of tar and the (de)compressor.
    struct Outcome: Sendable {
        var status: Int
        var files: Int
        var errors: [String]
    }

    static let environment = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"]

    /// Runs `script` with `arguments` as $1…; `progress` gets the member count every 1000 members.
    static func run(_ script: String, arguments: [String], progress: @Sendable (Int) async -> Void)
        async throws(ManagerError) -> Outcome
    {
        try await cancellableBlocking(progress: progress) { report, isCancelled throws(SystemError) in
            try runBlocking(script, arguments, isCancelled, report)
        }
    }

    private static func runBlocking(_ script: String, _ arguments: [String], _ isCancelled: () -> Bool,
                                    _ progress: @escaping (Int) -> Void) throws(SystemError) -> Outcome
    {
        let child = try ChildProcess(arguments: ["/bin/bash", "-o", "pipefail", "-c", script, "bash"] + arguments,
                                     environment: environment, directory: nil)
        var files = 0
        var errors: [String] = []
        var lines = LineCollector(keep: 0) { line in
            // Member names from --verbose; everything else tar, bash and the compressors say starts with a name.
            if ["tar: ", "bash: ", "/bin/bash: ", "zstd: ", "gzip: "].contains(where: line.hasPrefix) {
                errors = Array((errors + [line]).suffix(5))
            } else {
                files += 1
                if files % 1000 == 0 { progress(files) }
            }
        }
        let clock = ContinuousClock()
        while true {
            switch try child.wait(until: clock.now + .milliseconds(200), lines: &lines) {
            case .exited(let status):
                return Outcome(status: status, files: files, errors: isCancelled() ? ["cancelled"] : errors)
            case .deadlinePassed, .readable:
                if isCancelled() { child.signalGroup(SIGKILL) }
            }
        }
    }
}

/// Runs `body` on a blocking thread; cancelling the calling task (a client that hung up) sets the flag its loop polls
/// through `isCancelled`. What `body` reports reaches `progress` on the caller's side, the newest when it lags.
func cancellableBlocking<T: Sendable, P: Sendable>(
    progress: @Sendable (P) async -> Void,
    _ body: @escaping @Sendable (_ report: @escaping (P) -> Void, _ isCancelled: @escaping () -> Bool) throws -> T
) async throws(ManagerError) -> T {
    let cancelled = CancelFlag()
    let (reports, continuation) = AsyncStream<P>.makeStream(bufferingPolicy: .bufferingNewest(1))
    let running = Task {
        try await onBlockingThread { () throws -> T in
            defer { continuation.finish() }
            return try body({ continuation.yield($0) }, { cancelled.isCancelled })
        }
    }
    let result: Result<T, ManagerError> = await withTaskCancellationHandler {
        for await report in reports { await progress(report) }
        do {
            return .success(try await running.value)
        } catch {
            return .failure(ManagerError(thrown: error))
        }
    } onCancel: {
        cancelled.cancel()
    }
    return try result.get()
}

/// Set from a task's cancellation handler, read by a blocking loop.
final class CancelFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    func cancel() { flag.store(true, ordering: .relaxed) }
    var isCancelled: Bool { flag.load(ordering: .relaxed) }
}
