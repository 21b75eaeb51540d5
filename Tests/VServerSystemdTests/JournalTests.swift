import Glibc
import Logging
import Testing

import VServerSystemd

private func entry(_ level: Logger.Level = .info, _ message: String, _ metadata: Logger.Metadata = [:])
    -> [String: String]
{
    let entry = JournalEntry(level: level, message: message, metadata: metadata, file: "vserverd/Lifecycle.swift",
                             function: "launch(_:)", line: 42)
    return Dictionary(entry.fields.map { ($0.name, $0.value) }) { first, _ in first }
}

@Test func journalEntryHasTheFieldsJournalctlFiltersOn() {
    let fields = entry(.info, "hello from the hook", [
        "vserver": "web", "vserver_context": "1042", "hook": "post-start", "script": "scripts/post-start",
    ])
    #expect(fields["VSERVER"] == "web")
    #expect(fields["VSERVER_CONTEXT"] == "1042")
    #expect(fields["HOOK"] == "post-start")
    #expect(fields["SCRIPT"] == "scripts/post-start")
    #expect(fields["SYSLOG_IDENTIFIER"] == "vserverd")
    #expect(fields["PRIORITY"] == "6")
    #expect(fields["CODE_FILE"] == "vserverd/Lifecycle.swift")
    #expect(fields["CODE_LINE"] == "42")
    #expect(fields["CODE_FUNC"] == "launch(_:)")
    #expect(fields["MESSAGE"] == "web post-start scripts/post-start: hello from the hook")
}

@Test func journalMessageNamesTheVServerButNotTheCaller() {
    #expect(entry(.info, "started, PID 7", ["vserver": "web", "vserver_context": "1042"])["MESSAGE"]
        == "web: started, PID 7")
    let call = entry(.info, "Start web", ["peer_uid": "0", "peer_pid": "99"])
    #expect(call["MESSAGE"] == "Start web")
    #expect(call["PEER_UID"] == "0")
    #expect(call["PEER_PID"] == "99")
}

@Test func journalPrioritiesAreSyslogs() {
    let expected: [(Logger.Level, String)] = [
        (.trace, "7"), (.debug, "7"), (.info, "6"), (.notice, "5"), (.warning, "4"), (.error, "3"), (.critical, "2"),
    ]
    for (level, priority) in expected { #expect(entry(level, "x")["PRIORITY"] == priority, "\(level)") }
}

@Test func metadataKeysBecomeValidJournalFieldNames() {
    #expect(JournalEntry.fieldName("vserver") == "VSERVER")
    #expect(JournalEntry.fieldName("peer-uid.x") == "PEER_UID_X")
    #expect(JournalEntry.fieldName("_trusted") == "TRUSTED", "fields starting with _ are journald's own")
    #expect(JournalEntry.fieldName("2fa") == "META_2FA")
    #expect(JournalEntry.fieldName("message") == "META_MESSAGE", "must not replace MESSAGE")
    #expect(JournalEntry.fieldName("priority") == "META_PRIORITY")
    #expect(JournalEntry.fieldName(String(repeating: "a", count: 80)).count == 64)
}

@Test func journalStreamIsParsedAsDeviceAndInode() {
    #expect(JournalStream.parse("8:123456")! == (8, 123_456))
    for bad in ["", "8", "8:", ":1", "8:1:2", "a:b", "-1:2"] { #expect(JournalStream.parse(bad) == nil, "\(bad)") }
}

@Test func journalStreamCountsOnlyWhenTheFdIsThatStream() throws {
    var template = Array("/tmp/vserverd-journal-test-XXXXXX".utf8CString)
    let fd = mkstemp(&template)
    try #require(fd >= 0)
    defer {
        close(fd)
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
    }
    var status = stat()
    try #require(fstat(fd, &status) == 0)
    #expect(JournalStream.isConnected(fd: fd, journalStream: "\(status.st_dev):\(status.st_ino)"))
    #expect(!JournalStream.isConnected(fd: fd, journalStream: "\(status.st_dev):\(status.st_ino + 1)"),
            "inherited from a parent whose stderr was the journal: ours is something else")
    #expect(!JournalStream.isConnected(fd: fd, journalStream: "garbage"))
}

@Test func extendTimeoutIsInMicroseconds() {
    #expect(SystemdNotify.extendTimeoutMessage(.seconds(30)) == "EXTEND_TIMEOUT_USEC=30000000")
    #expect(SystemdNotify.extendTimeoutMessage(.milliseconds(1500)) == "EXTEND_TIMEOUT_USEC=1500000")
}
