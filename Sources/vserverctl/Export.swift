import ArgumentParser
import Glibc
import VServerConfig
import VServerProtocol

/// `export NAME FILE|-` (seed 002's "How do I move a vserver to another host?").
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a vserver's config and root as one tar archive.",
        discussion: "FILE ending in .tar.zst or .tar.gz is compressed (or --compress); - writes to stdout, so that "
            + "`vserverctl export web - | ssh other vserverctl import-archive -` moves a guest. Numeric owners, "
            + "xattrs (file capabilities), ACLs, hard links, devices and holes are kept. A file is complete or "
            + "absent: Ctrl-C removes what was written. Root only.")

    @Argument(help: "The vserver (name or context id).", completion: .vserverNames)
    var name: String

    @Argument(help: "The archive to write, or - for stdout.", completion: .file())
    var file: String

    @Option(help: "zstd, gzip or none (default: by FILE's suffix; none for -).")
    var compress: String?

    @Flag(help: "Export a running vserver (the copy is crash-consistent at best).")
    var runningOk = false

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        var compression: ArchiveCompression?
        if let compress {
            guard let chosen = ArchiveCompression(rawValue: compress) else {
                printError("export", CommandFailure("--compress must be zstd, gzip or none, not \(compress)"))
                throw ExitCode.failure
            }
            compression = chosen
        }
        if runningOk { printToStandardError("vserverctl: export \(name): a running vserver's copy is only "
                                            + "crash-consistent (as after a power cut)") }
        let pipe = file == "-" ? try? ArchivePipe(forExport: true) : nil
        if file == "-" && pipe == nil {
            printError("export \(name)", CommandFailure("cannot make a pipe to stdout"))
            throw ExitCode.failure
        }
        let path = pipe?.path ?? FileSystem.absolutePath(file)
        let call = ExportParameters(name: name, path: path, compression: compression, runningOk: runningOk)
        let reply: ArchiveReply
        do {
            defer { pipe?.finish() }
            reply = try withProgressLine("export \(name)") { (line) throws(ManagerError) in
                try connection.manager.export(call) { line.show("export \(name): \($0) files") }
            }
        }
        if pipe == nil { print("exported \(name) to \(file) (\(reply.files) files)") }
    }
}
