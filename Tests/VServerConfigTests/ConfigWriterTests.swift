import Glibc
import Testing

import VServerBuild
import VServerConfig
import VServerTestSupport

/// `vserverctl create` and `vserverctl import`: what they write loads as what was asked for, and a refusal
/// leaves the config directory as it was.
extension ConfigFixture {
    func create(_ new: ConfigWriter.NewVServer) throws(ConfigError) -> ConfigWriter.Written {
        try ConfigWriter.create(new, configDirectory: etc, environment: environment)
    }

    func importUtil(_ directory: String, name: String? = nil, dryRun: Bool = false)
        throws(ConfigError) -> ConfigWriter.Written
    {
        try ConfigWriter.importUtilVServer(from: path(directory), name: name, configDirectory: etc, dryRun: dryRun,
                                           environment: environment)
    }

    /// Every entry of etc/, hidden ones too: nothing half-made may stay behind.
    var etcEntries: [String] { FileSystem.entries(etc) }

    func text(_ relative: String) -> String? { try? FileSystem.readText(path(relative)) }

    /// util-vserver files of a vserver in `directory`, with most of what they can say.
    func utilVServer(_ directory: String, context: Int?, root: String) {
        if let context { tree.file("\(directory)/context", "\(context)\n") }
        tree.symlink("\(directory)/vdir", to: root)
        tree.file("\(directory)/uts/nodename", "old.example.org\n")
        tree.file("\(directory)/apps/init/mark", "default\n")
        tree.file("\(directory)/apps/init/depends", "db\n")
        tree.file("\(directory)/bcapabilities", "SYS_NICE\n~NET_RAW\n")
        tree.file("\(directory)/ulimits/nofile", "4096\n")
        tree.file("\(directory)/ulimits/core", "inf\n")
        tree.file("\(directory)/ulimits/stack.soft", "1M\n")
        tree.file("\(directory)/ulimits/stack.hard", "2M\n")
        tree.file("\(directory)/fstab", "none /tmp tmpfs size=16m,mode=1777 0 0\n")
        tree.file("\(directory)/scripts/pre-start", "#!/bin/sh\necho hi\n", mode: 0o750)
    }
}

/// Everything but where it was read from.
private func sameSettings(_ a: VServerConfig?, _ b: VServerConfig?) -> Bool {
    func strip(_ config: VServerConfig?) -> VServerConfig? {
        guard var config else { return nil }
        config.configDirectory = ""
        config.configFile = ""
        config.warnings = []
        config.mounts = config.mounts.map { var mount = $0; mount.origin = ""; return mount }
        return config
    }
    return strip(a) != nil && strip(a) == strip(b)
}

@Test func createWritesAVServerTomlThatLoadsWithTheNextFreeContext() throws {
    let fixture = ConfigFixture()
    fixture.vserver("db", "")  // context 1000
    fixture.vserver("mail", "context = 1001\n")
    let root = fixture.root("web")

    let written = try fixture.create(.init(name: "web", root: root, hostname: "web.example.org", autostart: true))
    #expect(written.file == fixture.etc + "/web/vserver.toml")
    #expect(written.config.context == 1002)
    #expect(fixture.text("etc/web/vserver.toml") == """
        # Made by `vserverctl create web`. Every other key has its default; the example in vserverd's
        # config/ directory lists them all. `vserverctl check web` validates this file.

        context = 1002
        root = "\(root)"
        hostname = "web.example.org"
        autostart = true

        """)
    let loaded = try #require(fixture.config("web"))
    #expect(sameSettings(loaded, written.config))
    #expect(loaded.context == 1002 && loaded.autostart && loaded.hostname == "web.example.org")
    #expect(fixture.config("db")?.context == 1000, "the others keep theirs")
    #expect(fixture.etcEntries == ["db", "mail", "web"])

    // With a context of its own; a root given through a symlink stays a symlink in the file.
    fixture.tree.symlink("roots/small", to: fixture.root("small"))
    let small = try fixture.create(.init(name: "small", root: fixture.path("roots/small"), context: 4242))
    #expect(small.config.context == 4242)
    #expect(fixture.text("etc/small/vserver.toml")?.contains("root = \"\(fixture.path("roots/small"))\"") == true)
    #expect(fixture.config("small")?.root == (try FileSystem.realPath(fixture.root("small"))))
}

@Test func createMakesTheConfigDirectoryOfAFreshHost() throws {
    let fixture = ConfigFixture()
    let root = fixture.root("web")
    let etc = fixture.path("fresh/vservers")
    fixture.tree.directory("fresh")
    let written = try ConfigWriter.create(.init(name: "web", root: root), configDirectory: etc,
                                          environment: fixture.environment)
    #expect(written.file == etc + "/web/vserver.toml")
    #expect(ConfigLoader.load(directory: etc, environment: fixture.environment).configs["web"]?.context == 1000)
}

@Test func createRefusesBadInputAndLeavesNothingBehind() {
    let fixture = ConfigFixture()
    fixture.vserver("db", "context = 1042\n")
    let root = fixture.root("web")
    let cases: [(ConfigWriter.NewVServer, String)] = [
        (.init(name: "db", root: root), "\(fixture.etc)/db: already exists"),
        (.init(name: "Web!", root: root), "invalid vserver name \"Web!\""),
        (.init(name: "web", root: "/"), "--root: must not be \"/\", the host's root directory"),
        (.init(name: "web", root: fixture.path("nowhere")), "--root: \(fixture.path("nowhere")) does not exist"),
        (.init(name: "web", root: root, context: 1042), "--context: context 1042 is used by vserver \"db\""),
        (.init(name: "web", root: root, context: 1), "--context: must be an integer from 2 to 49151, not 1"),
        (.init(name: "web", root: root, hostname: "-bad"), "--hostname: "),
    ]
    for (new, expected) in cases {
        do {
            let written = try fixture.create(new)
            Issue.record("created \(written.file) for \(new)")
        } catch {
            #expect(error.description.contains(expected), "\(error)")
        }
        #expect(fixture.etcEntries == ["db"], "\(new)")
    }
}

@Test func importInPlaceWritesVServerTomlThatReadsAsTheUtilVServerFilesDid() throws {
    let fixture = ConfigFixture()
    fixture.vserver("db", "")
    fixture.utilVServer("etc/old", context: nil, root: fixture.root("old-root"))
    let before = try #require(fixture.config("old"))
    #expect(before.context == 1001, "assigned by the loader: the util files name none")

    let preview = try fixture.importUtil("etc/old", dryRun: true)
    #expect(!FileSystem.exists(fixture.path("etc/old/vserver.toml")), "a dry run writes nothing")

    let written = try fixture.importUtil("etc/old")
    #expect(written.text == preview.text)
    #expect(written.file == fixture.path("etc/old/vserver.toml"))
    let rootPath = try FileSystem.realPath(fixture.root("old-root"))
    #expect(fixture.text("etc/old/vserver.toml") == """
        # Converted by `vserverctl import \(fixture.etc)/old` from its util-vserver files in this directory,
        # which vserverd no longer reads now that this file exists; fstab and scripts/ it still reads.

        context = 1001
        root = "\(rootPath)"
        hostname = "old.example.org"
        autostart = true
        after = ["db"]

        [capabilities]
        add = ["CAP_SYS_NICE"]

        [limits]
        stack = { soft = 1048576, hard = 2097152 }
        core = "unlimited"
        nofile = 4096

        """)
    let after = try #require(fixture.config("old"))
    #expect(sameSettings(after, before))
    #expect(after.configFile == fixture.path("etc/old/vserver.toml"), "read from vserver.toml now")
    #expect(after.mounts.map(\.target) == ["/tmp"], "fstab still counts")
    #expect(FileSystem.exists(fixture.path("etc/old/context")) == false && FileSystem.exists(fixture.path("etc/old/vdir")),
            "the util-vserver files stay")

    do {
        _ = try fixture.importUtil("etc/old")
        Issue.record("a second import succeeded")
    } catch {
        #expect(error.description == "\(fixture.etc)/old/vserver.toml: exists: this vserver is in vserverd's format already")
    }
}

@Test func importFromElsewhereCopiesFstabAndScriptsAndKeepsTheContext() throws {
    let fixture = ConfigFixture()
    fixture.vserver("db", "context = 1042\n")
    fixture.utilVServer("old-host/vservers/old", context: 1043, root: fixture.root("old-root"))
    fixture.utilVServer("old-host/vservers/clash", context: 1042, root: fixture.root("old-root"))

    let written = try fixture.importUtil("old-host/vservers/old")
    #expect(written.file == fixture.path("etc/old/vserver.toml"))
    let loaded = try #require(fixture.config("old"))
    #expect(loaded.context == 1043 && loaded.hostname == "old.example.org" && loaded.after == ["db"])
    #expect(loaded.mounts.map(\.target) == ["/tmp"])
    #expect(fixture.text("etc/old/scripts/pre-start") == "#!/bin/sh\necho hi\n")
    var status = stat()
    #expect(stat(fixture.path("etc/old/scripts/pre-start"), &status) == 0 && status.st_mode & 0o7777 == 0o750)
    #expect(!FileSystem.exists(fixture.path("etc/old/context")), "only vserver.toml, fstab and scripts/")
    #expect(fixture.text("etc/old/vserver.toml")?.contains("Its fstab and scripts/, where it had them, were copied here") == true)

    do {
        _ = try fixture.importUtil("old-host/vservers/clash")
        Issue.record("imported a context that is taken")
    } catch {
        #expect(error.description
                == "\(fixture.path("old-host/vservers/clash"))/context:1: context 1042 is used by vserver \"db\"")
    }
    do {
        _ = try fixture.importUtil("old-host/vservers/old", name: "db")
        Issue.record("imported over an existing vserver")
    } catch {
        #expect(error.description == "\(fixture.etc)/db: already exists")
    }
    #expect(fixture.etcEntries == ["db", "old"])
}

@Test func importRefusesWhatVServerTomlCannotSayAndWritesNothing() throws {
    let fixture = ConfigFixture()
    fixture.root("odd")
    fixture.tree.file("etc/odd/context", "1500\n")
    fixture.tree.file("etc/odd/bcapabilities", "^60\n")  // a capability without a name
    #expect(fixture.config("odd") != nil)
    do {
        _ = try fixture.importUtil("etc/odd")
        Issue.record("imported a bit the TOML cannot name")
    } catch {
        #expect(error.description.hasPrefix("\(fixture.etc)/odd/vserver.toml:"), "\(error)")
        #expect(error.description.hasSuffix("(the file would say this; nothing was written)"), "\(error)")
    }
    #expect(!FileSystem.exists(fixture.path("etc/odd/vserver.toml")))
    #expect(fixture.config("odd")?.context == 1500)
}

/// Each util-vserver init style imports to a vserver.toml that reads back as the util-vserver files did: its style,
/// its start and stop commands, its kill sequence, its init's environment.
@Test func importWritesEveryInitStyleSoThatItReadsBack() throws {
    let fixture = ConfigFixture()
    let guests: [(name: String, files: [String: String], guest: [String], toml: [String])] = [
        ("gentoo", ["style": "gentoo\n", "runlevel.start": "default\n", "environment": "TERM=linux\n"],
         ["/lib/rcscripts/sh/init-vserver.sh"],
         ["init-style = \"rc\"", "[rc]", "start = [\"/lib/rcscripts/sh/init-vserver.sh\", \"default\"]",
          "stop = [\"env\", \"-i\", \"PATH=/usr/sbin:/usr/bin:/sbin:/bin\", \"RUNLEVEL=0\", \"/sbin/rc\", "
            + "\"shutdown\"]",
          "[environment]", "TERM = \"linux\""]),
        ("minit", ["style": "minit\n", "runlevel": "2\n"], [],
         ["init = [\"/sbin/minit-start\", \"2\"]", "init-style = \"plain\"", "stop-signal = \"SIGINT\""]),
        ("sysv", ["killseq": "SIGTERM\n20\nSIGKILL\n", "runlevel.start": "2\n"], ["/etc/init.d/rc"],
         ["init-style = \"sysv\"", "kill-sequence = \"SIGTERM 20 SIGKILL\"", "[runlevels]", "start = \"2\""]),
    ]
    for (index, guest) in guests.enumerated() {
        let directory = "old-host/\(guest.name)"
        fixture.tree.file("\(directory)/context", "\(1100 + index)\n")
        fixture.tree.symlink("\(directory)/vdir", to: fixture.root("root-\(guest.name)"))
        for (name, text) in guest.files { fixture.tree.file("\(directory)/apps/init/\(name)", text) }
        for program in guest.guest {
            fixture.tree.file("vservers/root-\(guest.name)\(program)", "#!/bin/sh\n", mode: 0o755)
        }
        let written = try fixture.importUtil(directory)
        let lines = written.text.split(separator: "\n").map(String.init)
        for line in guest.toml { #expect(lines.contains(line), "\(guest.name): \(line) in\n\(written.text)") }
        let loaded = try #require(fixture.config(guest.name))
        #expect(loaded.configFile == fixture.path("etc/\(guest.name)/vserver.toml"))
    }
}

/// A root at the default place moves with the name: vserver.toml's `root` and util-vserver's `vdir` follow it.
@Test func renameMovesARootAtTheDefaultPlaceWithTheConfig() throws {
    let fixture = ConfigFixture()
    let webRoot = try FileSystem.realPath(fixture.root("web"))
    fixture.vserver("web", "# the web server\nroot = \"\(webRoot)\"\ncontext = 1200\n")
    fixture.tree.file("etc/old/context", "1201\n")
    fixture.tree.symlink("etc/old/vdir", to: fixture.root("old"))
    let roots = try FileSystem.realPath(fixture.path("vservers"))
    for (old, new) in [("web", "www"), ("old", "older")] {
        var rename = VServerRename(old: old, new: new, configDirectory: fixture.etc, defaultRootDirectory: roots)
        let result = try rename.run(configs: ConfigLoader.load(directory: fixture.etc, environment: fixture.environment))
        #expect(result.movedRoot?.from == "\(roots)/\(old)" && result.movedRoot?.to == "\(roots)/\(new)")
        let config = try #require(fixture.config(new))
        #expect(config.root == "\(roots)/\(new)" && !FileSystem.exists("\(roots)/\(old)"))
    }
    #expect(fixture.text("etc/www/vserver.toml") == "# the web server\nroot = \"\(roots)/www\"\ncontext = 1200\n")
    #expect(try FileSystem.readLink(fixture.path("etc/older/vdir")) == "\(roots)/older")
    #expect(fixture.etcEntries == ["older", "www"])
}
