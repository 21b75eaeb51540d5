import Foundation
import Testing
import VServerProtocol

@Suite struct VersionTests {
    /// Version.swift repeats the VERSION file (no build-time file reading in SwiftPM without a plugin).
    @Test func versionMatchesTheVersionFile() throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let file = try String(contentsOf: repository.appendingPathComponent("VERSION"), encoding: .utf8)
        #expect(
            vserverdVersion == file.trimmingCharacters(in: .whitespacesAndNewlines),
            "VERSION and Sources/VServerProtocol/Version.swift disagree: change both")
    }
}
