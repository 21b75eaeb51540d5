import Glibc
import Testing

import VServerConfig
import VServerTestSupport

// Issue 14: util-vserver's marks (apps/init/mark) and a marked vserver that does not read.

@Test func marksAreReadFromVServerTomlAndUtilVServersMarkFile() throws {
    let fixture = ConfigFixture()
    fixture.vserver("db", "context = 1800\nautostart = true\nmarks = [\"backend\", \"nightly\", \"backend\"]\n")
    let db = try #require(fixture.config("db"))
    #expect(db.marks == ["backend", "nightly"] && db.hasMark("default") && db.hasMark("nightly") && !db.hasMark("x"))

    fixture.tree.file("etc/legacy/context", "1801\n")
    fixture.tree.symlink("etc/legacy/vdir", to: fixture.root("legacy"))
    fixture.tree.file("etc/legacy/apps/init/mark", "backend\n")
    let legacy = try #require(fixture.config("legacy"))
    #expect(legacy.marks == ["backend"] && !legacy.autostart)
    fixture.tree.file("etc/legacy/apps/init/mark", "default\n")
    let booted = try #require(fixture.config("legacy"))
    #expect(booted.marks.isEmpty && booted.autostart)

    for (marks, message) in [
        ("[\"default\"]", "\"default\" is written autostart = true"),
        ("[\"a b\"]", "\"a b\" is not a mark name (1 to 64 letters, digits, \"-\", \"_\" or \".\")"),
    ] {
        fixture.vserver("db", "context = 1800\nmarks = \(marks)\n")
        #expect(fixture.error("db") == "\(fixture.etc)/db/vserver.toml:2: marks: \(message)")
    }
}

@Test func importWritesMarksThatReadBack() throws {
    let fixture = ConfigFixture()
    fixture.tree.file("old/web/context", "1802\n")
    fixture.tree.symlink("old/web/vdir", to: fixture.root("web"))
    fixture.tree.file("old/web/apps/init/mark", "frontend\n")
    let written = try ConfigWriter.importUtilVServer(
        from: fixture.path("old/web"), name: nil, configDirectory: fixture.etc, dryRun: true, contextRecord: nil)
    #expect(written.text.contains("marks = [\"frontend\"]\n"), "\(written.text)")
}

@Test func aMarkedVServerThatDoesNotReadKeepsItsMarksForAStartByMark() throws {
    let fixture = ConfigFixture()
    // util-vserver's: its bcapabilities name no capability; vserver.toml's: an unknown key next to its marks.
    fixture.tree.file("etc/legacy/context", "1803\n")
    fixture.tree.symlink("etc/legacy/vdir", to: fixture.root("legacy"))
    fixture.tree.file("etc/legacy/apps/init/mark", "default\n")
    fixture.tree.file("etc/legacy/bcapabilities", "CAP_NO_SUCH_THING\n")
    fixture.vserver("typo", "context = 1804\nmarks = [\"backend\"]\nautostrat = true\n")
    fixture.vserver("syntax", "context = 1805\nautostart = true\nmarks = [\n")
    let set = fixture.load()
    #expect(set.invalidMarks["legacy"] == ["default"])
    #expect(set.invalidMarks["typo"] == ["backend"])
    #expect(set.invalidMarks["syntax"] == nil, "a file that does not parse says nothing")
    #expect(set.invalidAutostart == ["legacy"])
}
