import ArgumentParser
import Glibc
import VServerCLI
import VServerProtocol

/// `hashify NAME…|--all` (util-vserver's vhashify/vunify, done with FIDEDUPERANGE).
struct Hashify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Let identical files of vservers share their disk extents.",
        discussion: "Regular files of 4 KiB or more that are the same in several vservers (or twice in one) share "
            + "their extents through the kernel's FIDEDUPERANGE, which compares the bytes itself; a later write "
            + "copies, so running vservers are fine. dpkg's conffiles of each guest and util-vserver's "
            + "apps/vunify/exclude are left alone. Needs btrfs or XFS with reflink=1; ext4 is refused.")

    @Argument(help: "Vservers (names or context ids).", completion: .vserverNames)
    var names: [String] = []

    @Flag(help: "All vservers.")
    var all = false

    @Flag(help: "Only count what would be shared.")
    var dryRun = false

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        if names.isEmpty != all { throw ValidationError("name vservers or give --all (not both)") }
    }

    func run() throws {
        let call = HashifyParameters(names: names, dryRun: dryRun)
        let reply = try withProgressLine("hashify") { (line) throws(ManagerError) in
            try connection.manager.hashify(call) { progress in
                line.show("hashify: \(progress.filesExamined) files, \(humanBytes(progress.bytesExamined)) read, "
                          + "\(humanBytes(progress.bytesDeduped)) shared")
            }
        }
        let verb = dryRun ? "would share" : "shared"
        print("examined \(reply.filesExamined) files (\(humanBytes(reply.bytesExamined))); \(verb) "
              + "\(reply.filesDeduped) files, \(humanBytes(reply.bytesDeduped)) (\(reply.bytesDeduped) bytes) saved; "
              + "\(reply.skipped) left alone")
    }
}
