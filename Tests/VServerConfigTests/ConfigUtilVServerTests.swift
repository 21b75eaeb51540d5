import Glibc
import Testing

import VServerBuild
import VServerConfig
import VServerTestSupport

/// util-vserver's one-value-per-file configuration, read unchanged.
@Test func aUtilVServerDirectoryIsReadWithoutVServerToml() throws {
    let fixture = ConfigFixture()
    chmod(fixture.tree.directory("var/lib/vservers"), 0o700)
    let root = fixture.tree.directory("var/lib/vservers/old")
    fixture.vserver("db", "")
    let dir = "etc/old"
    fixture.tree.file("\(dir)/context", "1234\n")
    fixture.tree.symlink("\(dir)/vdir", to: root)
    fixture.tree.file("\(dir)/uts/nodename", "old.example.org\n")
    fixture.tree.file("\(dir)/apps/init/mark", "default\n")
    fixture.tree.file("\(dir)/apps/init/depends", "# first the database\ndb\n")
    fixture.tree.file("\(dir)/bcapabilities", "# extra\nSYS_NICE\n~NET_RAW\nCAP_SYS_TIME\n^38\n")
    fixture.tree.file("\(dir)/ulimits/nofile", "4096\n")
    fixture.tree.file("\(dir)/ulimits/core", "inf\n")
    fixture.tree.file("\(dir)/ulimits/nproc.hard", "1K\n")
    fixture.tree.file("\(dir)/ulimits/stack.soft", "0x100000\n")
    fixture.tree.file("\(dir)/ulimits/stack.hard", "2M\n")
    fixture.tree.file("\(dir)/ulimits/rss.soft", "9k")
    fixture.tree.file("\(dir)/ulimits/rss.hard", "8k")
    fixture.tree.file("\(dir)/ulimits/README", "notes")
    fixture.tree.file("\(dir)/fstab", "none /proc proc defaults 0 0\nnone /tmp tmpfs size=16m,mode=1777 0 0\n")
    fixture.tree.file("\(dir)/scripts/pre-start", "#!/bin/sh\n", mode: 0o755)
    fixture.tree.file("\(dir)/nice", "5\n")

    let config = try #require(fixture.config("old"))
    let full = fixture.etc + "/old"
    #expect(config.configFile == full && config.configDirectory == full)
    #expect(config.context == 1234)
    #expect(config.root == (try FileSystem.realPath(root)))
    #expect(config.hostname == "old.example.org")
    #expect(config.autostart)
    #expect(config.after == ["db"])
    #expect(config.entry == .initProgram(["/sbin/init"]))
    #expect(
        config.capabilities
            == (Capabilities.mask(Capabilities.defaultAllowlist) | 1 << 23 | 1 << 25 | 1 << 38) & ~(1 << 13))
    let nproc = ResourceLimits.current(6)
    #expect(
        config.limits == [
            .init(name: "stack", resource: 3, soft: 0x100000, hard: 2 * 1024 * 1024),
            .init(name: "core", resource: 4, soft: .max, hard: .max),
            .init(name: "rss", resource: 5, soft: 8000, hard: 8000),
            .init(name: "nproc", resource: 6, soft: min(nproc.soft, 1024), hard: 1024),
            .init(name: "nofile", resource: 7, soft: 4096, hard: 4096),
        ])
    #expect(
        config.mounts == [
            .init(
                source: "none", target: "/tmp", type: "tmpfs", flags: 0, data: "size=16m,mode=1777", origin: "fstab:2")
        ])
    #expect(
        config.warnings == [
            "\(full)/bcapabilities:4: CAP_SYS_TIME lets a root guest reach the host unless [namespaces] user = true",
            "\(full)/bcapabilities:5: CAP_PERFMON traces the host's kernel and every process with perf unless "
                + "[namespaces] user = true",
            utilVServerDefaultSetWarning("\(full)/bcapabilities"),
            "\(full)/ulimits/README: not a resource limit vserverd knows; ignored",
            "\(full)/ulimits/rss.soft: soft limit 9000 is above the hard limit 8000; using the hard limit, as "
                + "util-vserver does",
            "\(full)/nice: approximated as cpu-weight = 33 (nice 5)",
        ])
}

@Test func aUtilVServerWithoutVdirUsesTheDefaultRoot() throws {
    let fixture = ConfigFixture()
    let root = fixture.root("plain")
    fixture.tree.file("etc/plain/apps/init/mark", "manual\n")
    let config = try #require(fixture.config("plain"))
    #expect(config.root == (try FileSystem.realPath(root)))
    #expect(config.context == 1000)
    #expect(!config.autostart)
    #expect(config.hostname == "plain")
    // The host's network: no CAP_NET_RAW.
    #expect(config.capabilities == Capabilities.mask(Capabilities.defaultAllowlist) & ~(1 << 13))
}

@Test func utilVServerErrorsNameTheFile() {
    let fixture = ConfigFixture()
    fixture.root("old")
    let dir = fixture.etc + "/old"
    fixture.tree.file("etc/old/context", "forty-two\n")
    #expect(fixture.error("old") == "\(dir)/context:1: expected a context number, found \"forty-two\"")
    fixture.tree.file("etc/old/context", "50000\n")
    #expect(fixture.error("old") == "\(dir)/context:1: must be an integer from 2 to 49151, not 50000")
    fixture.tree.file("etc/old/context", "1500\n")
    fixture.tree.file("etc/old/bcapabilities", "CHOWN\nMAGIC\n")
    #expect(fixture.error("old") == "\(dir)/bcapabilities:2: unknown capability \"MAGIC\"")
    fixture.tree.file("etc/old/bcapabilities", "^64\n")
    #expect(fixture.error("old") == "\(dir)/bcapabilities:1: expected ^N with N from 0 to 63, found \"^64\"")
    fixture.tree.file("etc/old/bcapabilities", "")
    fixture.tree.file("etc/old/apps/init/depends", "db\nBad\n")
    #expect(
        fixture.error("old") == "\(dir)/apps/init/depends:2: \"Bad\" is not a valid vserver name: it starts with \"B\"")
    fixture.tree.file("etc/old/apps/init/depends", "ghost\n")
    #expect(fixture.error("old") == "\(dir)/apps/init/depends:1: unknown vserver \"ghost\"")
    fixture.tree.file("etc/old/apps/init/depends", "")
    fixture.tree.file("etc/old/ulimits/nofile", "lots\n")
    #expect(fixture.error("old") == "\(dir)/ulimits/nofile:1: expected a number or \"inf\", found \"lots\"")
    fixture.tree.file("etc/old/ulimits/nofile", "1024\n")
    fixture.tree.symlink("etc/old/vdir", to: "/")
    #expect(fixture.error("old") == "\(dir)/vdir: \"\(dir)/vdir\" resolves to \"/\", the host's root directory")
}

@Test func vserverTomlTakesPrecedenceOverUtilVServerFiles() throws {
    let fixture = ConfigFixture()
    fixture.vserver("web", "context = 1100\n")
    fixture.tree.file("etc/web/context", "1200\n")
    #expect(try #require(fixture.config("web")).context == 1100)
}

@Test func aUtilVServerContextCountsForDuplicates() {
    let fixture = ConfigFixture()
    fixture.root("old")
    fixture.tree.file("etc/old/context", "1042\n")
    fixture.vserver("web", "context = 1042\n")
    #expect(
        fixture.error("web")
            == "\(fixture.etc)/web/vserver.toml:1: context: 1042 is already used by vserver \"old\" "
            + "(\(fixture.etc)/old/context:1)"
    )
}

@Test func utilVServerLimitValuesFollowExecUlimit() throws {
    let file = "/x/ulimits/nofile"
    #expect(try UtilVServerConfig.limitValue("0x10\n", file: file) == 16)
    #expect(try UtilVServerConfig.limitValue("010", file: file) == 8)
    #expect(try UtilVServerConfig.limitValue("2m", file: file) == 2_000_000)
    #expect(try UtilVServerConfig.limitValue("infinity", file: file) == .max)
    #expect(throws: ConfigError(file: file, line: 1, message: "expected a number or \"inf\", found \"-1\"")) {
        try UtilVServerConfig.limitValue("-1", file: file)
    }
}

@Test func utilVServerSubdirectoriesMustNotBeWritableByOthers() {
    let fixture = ConfigFixture()
    fixture.root("old")
    fixture.tree.file("etc/old/apps/init/mark", "default\n")
    chmod(fixture.etc + "/old/apps/init", 0o777)
    let owner = geteuid() == 0 ? "root" : "uid \(geteuid())"
    #expect(
        fixture.error("old")
            == "\(fixture.etc)/old/apps/init: writable by group or others (mode 0777): config directories must be "
            + "writable by \(owner) only")
}
