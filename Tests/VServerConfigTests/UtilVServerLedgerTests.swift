import Glibc
import Testing

import VServerConfig
import VServerTestSupport

/// Nothing in a util-vserver directory is silent: every file is used or named by a warning.
@Suite struct UtilVServerLedgerTests {
    let fixture = ConfigFixture()
    let dir = "etc/old"
    var full: String { fixture.etc + "/old" }

    func file(_ relative: String, _ text: String, mode: mode_t = 0o644) {
        fixture.tree.file("\(dir)/\(relative)", text, mode: mode)
    }

    /// What util-vserver's `vserver NAME build` leaves, and some of what it leaves that vserverd knows nothing of.
    func writeTree() {
        let root = fixture.root("old")
        file("name", "old\n")
        file("context", "1042\n")
        fixture.tree.symlink("\(dir)/vdir", to: root)
        fixture.tree.symlink("\(dir)/run", to: "/var/run/vservers/old")
        fixture.tree.symlink("\(dir)/cache", to: "/etc/vservers/.defaults/cachebase/old")
        file("uts/nodename", "old\n")
        file("apps/init/mark", "default\n")
        file("apps/vunify/hash/0", "")
        file("fstab", "none /tmp tmpfs size=16m,mode=1777 0 0\n")
        file("scripts/pre-start", "#!/bin/sh\n", mode: 0o755)
        file("scripts/prepre-start.d/10-net", "#!/bin/sh\n", mode: 0o755)
        file("scripts/post-stop", "echo sourced\n")
        file("scripts/README", "notes\n")
        file("nice", "5\n")
    }

    @Test func filesNothingReadGetAWarningAndSymlinksAreNotFollowed() throws {
        writeTree()
        let config = try #require(fixture.config("old"))
        #expect(config.warnings == [
            utilVServerDefaultSetWarning(full),
            "\(full)/nice: approximated as cpu-weight = 33 (nice 5)",
            "\(full)/apps/vunify/hash/0: ignored: vserverd does not read it",
            "\(full)/cache: ignored: vserverd does not read it (a symlink to /etc/vservers/.defaults/cachebase/old, "
                + "not followed)",
            "\(full)/run: ignored: vserverd does not read it (a symlink to /var/run/vservers/old, not followed)",
            "\(full)/scripts/README: ignored: not a hook vserverd runs (scripts/ holds prepre-start, pre-start, "
                + "post-start, pre-stop, post-stop, postpost-stop and their .d directories)",
            "\(full)/scripts/post-stop: ignored: not executable; util-vserver sourced such a script into its own "
                + "shell (\". FILE\"), vserverd runs only executable scripts (chmod +x it if it runs on its own)",
        ])
    }

    @Test func theReportHasARowForEveryFile() throws {
        writeTree()
        let config = try #require(fixture.config("old"))
        let rows = UtilVServerLedger.report(directory: full, warnings: config.warnings)
        let result = Dictionary(rows.map { ($0.file, $0.result) }, uniquingKeysWith: { $0 + "; " + $1 })
        #expect(Set(rows.map(\.file)) == [
            "name", "context", "vdir", "run", "cache", "uts/nodename", "apps/init/mark", "apps/vunify/hash/0",
            "fstab", "scripts/pre-start", "scripts/prepre-start.d/10-net", "scripts/post-stop", "scripts/README",
            "nice", ".",
        ])
        for used in ["name", "context", "vdir", "uts/nodename", "apps/init/mark", "fstab", "scripts/pre-start",
                     "scripts/prepre-start.d/10-net"] {
            #expect(result[used] == "used", "\(used)")
        }
        #expect(result["nice"] == "approximated as cpu-weight = 33 (nice 5)")
        #expect(result["run"]?.hasPrefix("ignored: vserverd does not read it (a symlink") == true)
    }

    @Test func aWarningOnADirectoryOrALineIsShownForTheFilesInIt() {
        fixture.tree.file("\(dir)/dlimits/x/directory", "/srv\n")
        fixture.tree.file("\(dir)/bcapabilities", "SYS_TIME\n")
        let rows = UtilVServerLedger.report(directory: full, warnings: [
            "\(full)/dlimits/x: ignored: a limit on /srv",
            "\(full)/bcapabilities:1: CAP_SYS_TIME lets a root guest reach the host",
            "/elsewhere/file: something",
        ])
        #expect(rows == [
            .init(file: "bcapabilities", result: "line 1: CAP_SYS_TIME lets a root guest reach the host"),
            .init(file: "dlimits/x/directory", result: "dlimits/x: ignored: a limit on /srv"),
            .init(file: "/elsewhere/file", result: "something"),
        ])
    }

    @Test func prepreStartAndPostpostStopRunWithPreStartAndPostStopInUtilVServersOrder() throws {
        let defaults = fixture.tree.directory("etc/.defaults/scripts")
        for name in ["pre-start", "prepre-start", "post-stop", "postpost-stop", "postpost-stop.d/1"] {
            fixture.tree.file("etc/.defaults/scripts/\(name)", "#!/bin/sh\n", mode: 0o755)
            file("scripts/\(name)", "#!/bin/sh\n", mode: 0o755)
        }
        let found = try HookScripts.find([.preStart, .postStop], configRoot: fixture.etc, vserverDirectory: full,
                                         trust: TrustedTree(owner: nil))
        #expect(found[.preStart]?.map(\.display) == [
            "\(defaults)/prepre-start", "scripts/prepre-start", "\(defaults)/pre-start", "scripts/pre-start",
        ])
        #expect(found[.preStart]?.map(\.hook) == ["prepre-start", "prepre-start", "pre-start", "pre-start"])
        #expect(found[.postStop]?.map(\.display) == [
            "\(defaults)/post-stop", "scripts/post-stop", "\(defaults)/postpost-stop", "\(defaults)/postpost-stop.d/1",
            "scripts/postpost-stop", "scripts/postpost-stop.d/1",
        ])
        // Checked as root does it: through the trusted tree, the same order.
        if geteuid() == 0 {
            let checked = try HookScripts.find([.preStart, .postStop], configRoot: fixture.etc,
                                               vserverDirectory: full, trust: TrustedTree(owner: 0))
            #expect(checked[.preStart]?.map(\.display) == found[.preStart]?.map(\.display))
            #expect(checked[.postStop]?.map(\.display) == found[.postStop]?.map(\.display))
        }
    }
}

/// A vserver.toml guest's hook that is not executable is not run, and not silently.
@Test func aHookScriptThatIsNotExecutableIsAWarningForAVServerTomlGuestToo() throws {
    let fixture = ConfigFixture()
    fixture.vserver("web", "")
    fixture.tree.file("etc/web/scripts/pre-start.d/10-sourced", "FOO=1\n")
    fixture.tree.file("etc/web/scripts/post-stop", "#!/bin/sh\n", mode: 0o755)
    fixture.tree.file("etc/web/scripts/prepre-start", "FOO=1\n", mode: 0o600)
    let config = try #require(fixture.config("web"))
    let message = "ignored: not executable; util-vserver sourced such a script into its own shell (\". FILE\"), "
        + "vserverd runs only executable scripts (chmod +x it if it runs on its own)"
    #expect(config.warnings == [
        "\(fixture.etc)/web/scripts/prepre-start: \(message)",
        "\(fixture.etc)/web/scripts/pre-start.d/10-sourced: \(message)",
    ])
}

/// `vserverctl import` of guests that depend on each other.
@Suite struct UtilVServerImportOrderTests {
    let fixture = ConfigFixture()

    func guest(_ name: String, context: Int, depends: String? = nil) -> String {
        fixture.tree.symlink("old/\(name)/vdir", to: fixture.root(name))
        fixture.tree.file("old/\(name)/context", "\(context)\n")
        if let depends { fixture.tree.file("old/\(name)/apps/init/depends", depends) }
        return fixture.path("old/\(name)")
    }

    func importUtil(_ source: String, alongside: Set<String> = []) throws(ConfigError) -> ConfigWriter.Written {
        try ConfigWriter.importUtilVServer(from: source, name: nil, configDirectory: fixture.etc, dryRun: false,
                                           environment: fixture.environment, alongside: alongside)
    }

    @Test func dependenciesComeFirstWhateverTheOrderGiven() {
        #expect(ConfigWriter.importOrder(["web", "db", "mail"], after: ["web": ["db", "cache"], "db": []])
                    == ["db", "web", "mail"])
        // A loop is the loader's to refuse: the order given, each once.
        #expect(ConfigWriter.importOrder(["a", "b"], after: ["a": ["b"], "b": ["a"]]) == ["b", "a"])
    }

    @Test func aDependencyNotYetThereIsKeptWithAWarning() throws {
        _ = fixture.tree.directory("etc")
        let web = guest("web", context: 1101, depends: "db\n")
        let db = guest("db", context: 1100)
        let written = try importUtil(web)
        #expect(written.config.after == ["db"])
        #expect(written.config.warnings == [
            utilVServerDefaultSetWarning(web),
            "\(web)/apps/init/depends:1: vserver \"db\" does not exist (yet); kept in after: web is not valid until "
                + "it is made or imported",
        ])
        #expect(fixture.error("web") == "\(fixture.etc)/web/vserver.toml:4: after[0]: unknown vserver \"db\""
                    || fixture.error("web")?.contains("unknown vserver \"db\"") == true)
        _ = try importUtil(db)
        #expect(fixture.error("web") == nil)
        #expect(fixture.config("web")?.after == ["db"])
    }

    /// In place (the util-vserver directory inside the config directory): the loader refuses it while `db` is
    /// missing, and the import still converts it, keeping the dependency with the same warning.
    @Test func aDependencyNotYetThereIsKeptInAnInPlaceImportToo() throws {
        fixture.tree.symlink("etc/web/vdir", to: fixture.root("web"))
        fixture.tree.file("etc/web/context", "1101\n")
        fixture.tree.file("etc/web/apps/init/depends", "db\n")
        let web = fixture.path("etc/web")
        #expect(fixture.error("web")?.contains("unknown vserver \"db\"") == true)
        let written = try importUtil(web)
        #expect(written.file == "\(web)/vserver.toml" && written.config.after == ["db"])
        #expect(written.config.context == 1101)
        #expect(written.config.warnings.contains(
            "\(web)/apps/init/depends:1: vserver \"db\" does not exist (yet); kept in after: web is not valid until "
                + "it is made or imported"))
        fixture.vserver("db", "context = 1100\n")
        #expect(fixture.config("web")?.after == ["db"])
    }

    @Test func aDependencyImportedAlongsideGivesNoWarning() throws {
        _ = fixture.tree.directory("etc")
        let web = guest("web", context: 1101, depends: "db\n")
        let written = try importUtil(web, alongside: ["db"])
        #expect(written.config.warnings == [utilVServerDefaultSetWarning(web)], "\(written.config.warnings)")
    }
}
