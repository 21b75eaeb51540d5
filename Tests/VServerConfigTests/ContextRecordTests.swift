import Glibc
import Testing

import VServerBuild
import VServerConfig
import VServerTestSupport

/// vserverd's record of assigned contexts (finding 11 of issue 10): a context, once given, stays.

private func parseError(_ text: String) -> String? {
    do throws(ConfigError) {
        _ = try ContextRecord.parse(text, file: "/lib/contexts")
        return nil
    } catch {
        return error.description
    }
}

@Test func recordLinesAreNameAndContextAndErrorsNameFileAndLine() throws {
    #expect(try ContextRecord.parse("# comment\n\ndb 1000\nweb\t1001\n", file: "f") == ["db": 1000, "web": 1001])
    #expect(parseError("db 1000\nweb\n") == "/lib/contexts:2: expected \"NAME CONTEXT\", not \"web\"")
    #expect(parseError("db 1000 extra\n") == "/lib/contexts:1: expected \"NAME CONTEXT\", not \"db 1000 extra\"")
    #expect(parseError("db 1000\nweb 70000\n")
                == "/lib/contexts:2: context of web must be an integer from 2 to 49151, not \"70000\"")
    #expect(parseError("db -5\n") == "/lib/contexts:1: context of db must be an integer from 2 to 49151, not \"-5\"")
    #expect(parseError("db 1000\n\nWeb 1001\n")?
                .hasPrefix("/lib/contexts:3: \"Web\" is not a vserver name") == true)
    #expect(parseError("db 1000\ndb 1001\n") == "/lib/contexts:2: db is recorded twice")
    #expect(parseError("db 1000\nweb 1000\n") == "/lib/contexts:2: context 1000 is recorded for db too (line 1)")
}

@Test func recordIsWrittenWholeByRenameAndReadsBack() throws {
    let tree = TemporaryTree()
    let path = tree.absolute("lib/vserverd/contexts")
    // A temporary file left by a crash in the middle of a write is replaced, never read.
    tree.file("lib/vserverd/contexts.tmp", "half a li")
    let record = ContextRecord(path: path, contexts: ["web": 1001, "db": 1000])
    try record.write()
    #expect(try ContextRecord.read(path) == record)
    #expect(FileSystem.entries(tree.absolute("lib/vserverd")) == ["contexts"], "no temporary file left")
    let text = try FileSystem.readFile(path)
    #expect(text.text.hasSuffix("\ndb 1000\nweb 1001\n"))
    #expect(text.status.permissions == 0o644)
    // A missing record is an empty one.
    #expect(try ContextRecord.read(tree.absolute("nothing/contexts")).contexts.isEmpty)
    // A write that cannot happen leaves the old file as it was.
    chmod(tree.absolute("lib/vserverd"), 0o500)
    defer { chmod(tree.absolute("lib/vserverd"), 0o755) }
    if geteuid() != 0 {
        #expect(throws: SystemError.self) { try ContextRecord(path: path, contexts: ["x": 2]).write() }
        #expect(try ContextRecord.read(path) == record)
    }
}

/// A loader that records, as vserverd's does.
private func recording(_ fixture: ConfigFixture, writes: Bool = true) -> LoaderEnvironment {
    var environment = fixture.environment
    environment.contextRecord = fixture.path("lib/contexts")
    environment.writesContextRecord = writes
    return environment
}

@Test func anAssignedContextStaysWhenAVServerThatSortsFirstIsAdded() throws {
    let fixture = ConfigFixture()
    fixture.vserver("db", "")
    fixture.vserver("web", "")
    let first = ConfigLoader.load(directory: fixture.etc, environment: recording(fixture))
    #expect(first.configs["db"]?.context == 1000 && first.configs["web"]?.context == 1001)
    #expect(first.contextOrigins["db"] == .recorded(file: fixture.path("lib/contexts")))
    #expect(try ContextRecord.read(fixture.path("lib/contexts")).contexts == ["db": 1000, "web": 1001])

    fixture.vserver("app", "")
    let second = ConfigLoader.load(directory: fixture.etc, environment: recording(fixture))
    #expect(second.configs["app"]?.context == 1002)
    #expect(second.configs["db"]?.context == 1000 && second.configs["web"]?.context == 1001)

    // Without a record (the old way) the newcomer would have taken db's context.
    #expect(fixture.load().configs["app"]?.context == 1000)
}

@Test func aRemovedVServerKeepsItsContextUnlessAConfigStatesIt() throws {
    let fixture = ConfigFixture()
    fixture.tree.file("lib/contexts", "gone 1000\nclaimed 1001\n")
    fixture.vserver("new", "")
    fixture.vserver("stater", "context = 1001\n")
    let set = ConfigLoader.load(directory: fixture.etc, environment: recording(fixture))
    #expect(set.configs["new"]?.context == 1002, "1000 is kept for gone, 1001 is stated")
    #expect(set.reservedContexts == [1000])
    #expect(try ContextRecord.read(fixture.path("lib/contexts")).contexts == ["gone": 1000, "new": 1002])

    fixture.vserver("gone", "")
    #expect(ConfigLoader.load(directory: fixture.etc, environment: recording(fixture)).configs["gone"]?.context == 1000)
}

@Test func checkReadsTheRecordButNeverWritesIt() throws {
    let fixture = ConfigFixture()
    fixture.vserver("db", "")
    let set = ConfigLoader.load(directory: fixture.etc, environment: recording(fixture, writes: false))
    #expect(set.configs["db"]?.context == 1000)
    let file = fixture.path("lib/contexts")
    #expect(set.contextOrigins["db"]?.description
                == " (assigned now; vserverd records it in \(file) when it next loads the configs)")
    #expect(!FileSystem.exists(fixture.path("lib/contexts")))
}

@Test func aBrokenRecordLeavesOnlyVServersThatStateTheirContext() throws {
    let fixture = ConfigFixture()
    fixture.tree.file("lib/contexts", "db 1000\nweb\n")
    fixture.vserver("db", "")
    fixture.vserver("fixed", "context = 1500\n")
    let set = ConfigLoader.load(directory: fixture.etc, environment: recording(fixture))
    let file = fixture.path("lib/contexts")
    #expect(set.invalid["db"]?.description
                == "\(file):2: expected \"NAME CONTEXT\", not \"web\" (needed for db's context)")
    #expect(set.configs["fixed"]?.context == 1500)
}
