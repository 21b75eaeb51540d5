import Foundation
import Testing

/// Roots and bind sources are host paths resolved again at every start (docs/ARCHITECTURE.md §7): a symlink planted
/// on the way, by a guest whose tree holds the path or by anyone who can write there, must never lead a mount
/// elsewhere. The start is refused, naming the path.
extension Integration {
    @Suite struct HostPaths {
        /// Guest `web` binds a directory of guest `db`'s tree; db's root replaces it by a symlink to "/". Before,
        /// web's next start mounted the host's "/" into web. With `user = true` the source is idmapped by the daemon,
        /// another way in.
        @Test(arguments: [false, true])
        func aBindSourceSwappedForASymlinkByAnotherGuestNeverMountsTheHostsRoot(userNamespace: Bool) async throws {
            try await withTestHost { host in
                let dbRoot = try host.addVServer("db", config: busyboxInit + "context = 1001\n")
                let share = "\(dbRoot)/srv/share"
                try FileManager.default.createDirectory(atPath: share, withIntermediateDirectories: true)
                try "db's share\n".write(toFile: "\(share)/share-marker", atomically: true, encoding: .utf8)
                try host.addVServer("web", config: busyboxInit + """
                    context = 1000

                    [namespaces]
                    user = \(userNamespace)

                    [[mount]]
                    source = "\(share)"
                    target = "/mnt/share"
                    options = ["rbind"]

                    """)
                try host.startDaemon()
                #expect(try host.ctl("start", "db").status == 0)
                let first = try host.ctl("start", "web")
                #expect(first.status == 0, "\(first)")
                #expect(try host.ctl("exec", "web", "--", "cat", "/mnt/share/share-marker").stdout == "db's share\n")
                #expect(try host.ctl("stop", "web").status == 0)

                // Root inside db, as it could: the shared directory becomes a symlink to "/".
                let swap = try host.ctl("exec", "db", "--", "sh", "-c", "rm -r /srv/share && ln -s / /srv/share")
                #expect(swap.status == 0, "\(swap)")
                #expect(try FileManager.default.destinationOfSymbolicLink(atPath: share) == "/")

                let second = try host.ctl("start", "web")
                // The host's "/" shows itself by this test's own directory, which no guest tree has.
                let hostRootInside = try host.ctl("exec", "web", "--", "sh", "-c",
                                                  "ls -d /mnt/share\(host.directory) 2>/dev/null; cat /proc/mounts")
                #expect(second.status == 1, "web started with the swapped source: \(hostRootInside)")
                #expect(second.stderr == "vserverctl: start web: open bind source \(share): \(share) (-> /) is a "
                            + "symbolic link; roots and bind sources are opened without following symlinks (docs/ARCHITECTURE.md §7): give the real path\n", "\(second)")
                #expect(!hostRootInside.stdout.contains(host.directory), "the host's / is in web: \(hostRootInside)")
                #expect(second.stderr.contains("open bind source \(share)"), "\(second)")
                #expect(second.stderr.contains("\(share) (-> /) is a symbolic link"), "\(second)")
                #expect(try host.ctl("status", "web").status == 3, "web is not running")
            }
        }

        /// The root itself, a directory when the config was loaded, is a symlink to another tree at the start.
        @Test func aRootSwappedForASymlinkAfterLoadIsRefused() async throws {
            try await withTestHost { host in
                let root = try host.addVServer("web", config: busyboxInit)
                let elsewhere = try host.addVServer("elsewhere", config: busyboxInit)
                try host.startDaemon()
                #expect(try host.ctl("start", "web").status == 0)
                #expect(try host.ctl("stop", "web").status == 0)

                try FileManager.default.moveItem(atPath: root, toPath: root + ".moved")
                try FileManager.default.createSymbolicLink(atPath: root, withDestinationPath: elsewhere)
                let start = try host.ctl("start", "web")
                let marker = try host.ctl("exec", "web", "--", "cat", "/vserver-marker")
                #expect(start.status == 1, "web started on the tree the symlink points to: \(marker)")
                #expect(start.stderr == "vserverctl: start web: open root \(root): \(root) (-> \(elsewhere)) is a "
                            + "symbolic link; roots and bind sources are opened without following symlinks (docs/ARCHITECTURE.md §7): give the real path\n", "\(start)")
                #expect(marker.stdout != "elsewhere\n")
                #expect(start.stderr.contains("open root \(root): \(root) (-> \(elsewhere)) is a symbolic link"),
                        "\(start)")
            }
        }
    }
}
