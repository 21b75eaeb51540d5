import ArgumentParser
import Glibc
import VServerCLI
import VServerConfig
import VServerProtocol

/// `clone SRC NEW` (util-vserver's vserver-copy; machinectl clone).
struct Clone: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy a stopped vserver to a new one.",
        discussion: "The root is copied with reflinks where the file system shares extents (btrfs, XFS with "
            + "reflink=1), else by copy, keeping owners, modes, hard links, xattrs, ACLs, file capabilities, "
            + "devices, holes and times. The new config gets a free context, its own hostname (default: NEW), no "
            + "autostart; the new root a fresh /etc/machine-id. A failure or Ctrl-C leaves nothing.")

    @Argument(help: "The vserver to copy (name or context id).", completion: .vserverNames)
    var source: String

    @Argument(help: "The new vserver's name.")
    var newName: String

    @Option(help: "Its root directory (default: /vservers/NEW).")
    var root: String?

    @Option(help: "Its context (default: a free one).")
    var context: Int?

    @Option(help: "Its hostname (default: NEW).")
    var hostname: String?

    @Flag(help: "Copy a running vserver (the copy is crash-consistent at best).")
    var runningOk = false

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let call = CloneParameters(name: source, newName: newName, root: root.map(FileSystem.absolutePath),
                                   context: context, hostname: hostname, runningOk: runningOk)
        let reply = try withProgressLine("clone \(source)") { (line) throws(ManagerError) in
            try connection.manager.clone(call) { progress in
                guard progress.totalBytes > 0 else { return }
                let percent = min(100, progress.bytes * 100 / progress.totalBytes)
                line.show("clone \(source): \(percent)% of \(humanBytes(progress.totalBytes)), \(progress.files) files")
            }
        }
        for warning in reply.warnings { printToStandardError("vserverctl: clone \(source): warning: \(warning)") }
        let made = reply.vserver.map { "\($0.name) (context \($0.context), root \($0.root))" } ?? newName
        let how = reply.reflinked == true ? "sharing its extents with \(source)" : "copied"
        print("cloned \(source) to \(made), \(reply.files) files, \(humanBytes(reply.bytes)) \(how)")
    }
}
