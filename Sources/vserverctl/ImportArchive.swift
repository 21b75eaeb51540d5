import ArgumentParser
import Glibc
import VServerConfig
import VServerProtocol

/// `import-archive FILE|-`: a vserver from an archive of `export`.
struct ImportArchive: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-archive",
        abstract: "Make a vserver from an archive written by `vserverctl export`.",
        discussion: "FILE may be compressed with zstd or gzip (found from its first bytes); - reads stdin. The "
            + "archive is untrusted: nothing lands outside the new root, and hooks or mounts in its config are "
            + "refused unless --trust-config. A failure or Ctrl-C leaves nothing behind. Root only.")

    @Argument(help: "The archive, or - for stdin.", completion: .file())
    var file: String

    @Option(help: "Its name here (default: the archived one).")
    var name: String?

    @Option(help: "Its root directory (default: /vservers/NAME).")
    var root: String?

    @Flag(help: "Take the archive's hook scripts and mounts, which act on this host.")
    var trustConfig = false

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        var pipe: ArchivePipe?
        var compression: ArchiveCompression?
        if file == "-" {
            // The daemon cannot look at a pipe's first bytes without taking them: they are looked at here.
            var magic = [UInt8](repeating: 0, count: 4)
            var count = 0
            while count < 4 {
                let got = magic.withUnsafeMutableBytes { read(0, $0.baseAddress! + count, 4 - count) }
                if got < 0 && errno == EINTR { continue }
                if got <= 0 { break }
                count += got
            }
            compression = ArchiveCompression.of(magic: Array(magic.prefix(count)))
            do { pipe = try ArchivePipe(forExport: false, prefix: Array(magic.prefix(count))) } catch {
                printError("import-archive", error)
                throw ExitCode.failure
            }
        }
        let path = pipe?.path ?? FileSystem.absolutePath(file)
        let call = ImportArchiveParameters(path: path, compression: compression, name: name,
                                           root: root.map(FileSystem.absolutePath), trustConfig: trustConfig)
        let reply: ArchiveReply
        do {
            defer { pipe?.finish() }
            reply = try withProgressLine("import-archive \(file)") { (line) throws(ManagerError) in
                try connection.manager.importArchive(call) { line.show("import-archive: \($0) files") }
            }
        }
        for warning in reply.warnings { printToStandardError("vserverctl: warning: \(warning)") }
        let made = reply.vserver.map { "\($0.name) (context \($0.context), root \($0.root))" } ?? "?"
        print("imported \(made) from \(file) (\(reply.files) files)")
    }
}
