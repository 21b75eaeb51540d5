import Glibc
import Testing

import VServerBuild
import VServerConfig
import VServerTestSupport

/// Hooks run as root, so the loader refuses a vserver whose hooks anyone but their owner could change (finding 1 of
/// issue 10), and a root outside util-vserver's barrier (finding 3). The fixture's owner is the test's own user.

private func realPath(_ path: String) -> String { (try? FileSystem.realPath(path)) ?? path }

@Test func hookScriptsOthersCouldChangeMakeTheVServerInvalid() throws {
    let fixture = ConfigFixture()
    let etc = realPath(fixture.etc)
    for name in ["script", "part", "scripts", "parts", "link", "fine"] { fixture.vserver(name, "") }
    fixture.tree.file("etc/script/scripts/pre-start", "#!/bin/sh\n", mode: 0o775)
    fixture.tree.file("etc/part/scripts/post-stop.d/10-x", "#!/bin/sh\n", mode: 0o757)
    fixture.tree.file("etc/scripts/scripts/pre-stop", "#!/bin/sh\n", mode: 0o755)
    chmod(fixture.path("etc/scripts/scripts"), 0o777)
    fixture.tree.file("etc/parts/scripts/post-start.d/10-x", "#!/bin/sh\n", mode: 0o755)
    chmod(fixture.path("etc/parts/scripts/post-start.d"), 0o775)
    let outside = fixture.tree.file("outside.sh", "#!/bin/sh\n", mode: 0o755)
    fixture.tree.symlink("etc/link/scripts/pre-start", to: outside)
    fixture.tree.file("etc/fine/scripts/pre-start", "#!/bin/sh\n", mode: 0o755)
    // Not a hook name: not checked.
    fixture.tree.file("etc/fine/scripts/notes", "", mode: 0o666)

    let set = fixture.load()
    #expect(set.invalid["script"]?.description.hasPrefix(
        "\(etc)/script/scripts/pre-start: writable by group (mode 0775): hook scripts run as root") == true)
    #expect(set.invalid["part"]?.description.hasPrefix(
        "\(etc)/part/scripts/post-stop.d/10-x: writable by others (mode 0757)") == true)
    #expect(set.invalid["scripts"]?.description.hasPrefix(
        "\(etc)/scripts/scripts: writable by group and others (mode 0777)") == true)
    #expect(set.invalid["parts"]?.description.hasPrefix(
        "\(etc)/parts/scripts/post-start.d: writable by group (mode 0775)") == true)
    #expect(set.invalid["link"]?.description == "\(etc)/link/scripts/pre-start: is a symbolic link: hook scripts and "
                + "their directories must be real files and directories in the config tree")
    #expect(set.configs["fine"] != nil, "\(set.invalid["fine"]?.description ?? "")")
}

@Test func globalHooksAndTheConfigRootsAncestorsCountForEveryVServer() throws {
    let fixture = ConfigFixture()
    fixture.vserver("web", "")
    fixture.tree.file("etc/.defaults/scripts/pre-start", "#!/bin/sh\n", mode: 0o777)
    #expect(fixture.load().invalid["web"]?.description.hasPrefix(
        "\(realPath(fixture.etc))/.defaults/scripts/pre-start: writable by group and others (mode 0777)") == true)
    chmod(fixture.path("etc/.defaults/scripts/pre-start"), 0o755)
    #expect(fixture.load().configs["web"] != nil)

    // Above the config root: a directory others may write, not sticky, lets them swap the whole tree.
    let ancestor = fixture.tree.directory("shared")
    chmod(ancestor, 0o777)
    let etc = fixture.tree.directory("shared/etc")
    fixture.tree.file("shared/etc/web/vserver.toml", "root = \"\(fixture.root("web"))\"\n")
    let loaded = ConfigLoader.load(directory: etc, environment: fixture.environment)
    #expect(loaded.invalid["web"]?.description.hasPrefix(
        "\(realPath(ancestor)): writable by group and others (mode 0777)") == true)
    // Sticky, as /tmp: its entries only their owner may rename, and etc below is the owner's.
    chmod(ancestor, 0o1777)
    #expect(ConfigLoader.load(directory: etc, environment: fixture.environment).configs["web"] != nil)
}

@Test func aRootWhoseParentHostUsersCanEnterIsInvalid() throws {
    let fixture = ConfigFixture()
    fixture.vserver("web", "")
    #expect(fixture.load().configs["web"] != nil, "the fixture's roots are behind a 0700 directory")
    chmod(fixture.path("vservers"), 0o755)
    let roots = realPath(fixture.path("vservers"))
    #expect(fixture.error("web") == "\(fixture.etc)/web/vserver.toml: root: \(roots)/web: its parent \(roots) has mode "
                + "0755 and owner \(geteuid() == 0 ? "root" : "uid \(geteuid())"), so host users can reach into the "
                + "guest's files (setuid programs its root made): run `chmod 0700 \(roots)` (util-vserver's barrier: "
                + "root's, mode 0700 or 0000) (the default root; set root)")
    // create refuses the same root, naming the fix.
    let new = ConfigWriter.NewVServer(name: "new", root: fixture.path("vservers/web"))
    #expect(throws: ConfigError.self) {
        try ConfigWriter.create(new, configDirectory: fixture.etc, environment: fixture.environment)
    }
    do {
        _ = try ConfigWriter.create(new, configDirectory: fixture.etc, environment: fixture.environment)
    } catch {
        #expect(error.description.hasPrefix("--root: \(roots)/web: its parent \(roots) has mode 0755"))
        #expect(error.description.contains("run `chmod 0700 \(roots)`"))
    }
    chmod(fixture.path("vservers"), 0)
    #expect(fixture.load().configs["web"] != nil || geteuid() != 0, "mode 0000 is util-vserver's own barrier")
}

@Test func importCopiesHooksWithoutSetuidBitsOrWriteForOthers() throws {
    let fixture = ConfigFixture()
    let source = fixture.tree.directory("old/web")
    fixture.tree.file("old/web/context", "1042\n")
    fixture.tree.symlink("old/web/vdir", to: fixture.root("web"))
    fixture.tree.file("old/web/scripts/pre-start", "#!/bin/sh\n", mode: 0o6777)
    fixture.tree.file("old/web/scripts/post-stop.d/10-x", "#!/bin/sh\n", mode: 0o4775)
    chmod(fixture.path("old/web/scripts"), 0o1777)
    _ = try ConfigWriter.importUtilVServer(from: source, name: nil, configDirectory: fixture.etc, dryRun: false,
                                           environment: fixture.environment)
    func mode(_ relative: String) throws -> mode_t {
        try #require(try FileSystem.status(fixture.path(relative))).permissions
    }
    #expect(try mode("etc/web/scripts") == 0o755)
    #expect(try mode("etc/web/scripts/pre-start") == 0o755)
    #expect(try mode("etc/web/scripts/post-stop.d/10-x") == 0o755)
    #expect(fixture.load().configs["web"] != nil)
}
