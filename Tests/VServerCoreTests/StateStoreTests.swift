import Foundation
import Testing
import VServerConfig
import VServerProtocol
import VServerTestSupport

@testable import VServerCore

// The state directory across a daemon that dies at any point (issue 17): a start under way is found again, a write
// cut short leaves nothing that is read, and a launch file that is not ours is a problem, not a guest.

@Test func aStartUnderWayIsReadBackAsALaunch() throws {
    let tree = TemporaryTree()
    let store = try StateStore(directory: tree.absolute("run"))
    let address = try #require(InterfaceAddress("192.0.2.7/24"))
    let launch = GuestLaunch(name: "web", context: 1234, root: "/vservers/web", addedAddresses: [address],
                             addressDevice: "eth0")
    try store.save(launch)
    let files = store.loadAll()
    #expect(files.launches == [launch])
    #expect(files.records.isEmpty && files.ends.isEmpty && files.problems.isEmpty)
}

@Test func aWriteCutShortIsRemovedAndTheFileBeforeItKept() throws {
    let tree = TemporaryTree()
    let store = try StateStore(directory: tree.absolute("run"))
    try store.save(GuestLaunch(name: "web", context: 1234, root: "/vservers/web", addedAddresses: [],
                               addressDevice: nil))
    try "{\"name\": \"web\", \"pid\": 12".write(toFile: tree.absolute("run/web.json.tmp"), atomically: false,
                                                 encoding: .utf8)
    let files = store.loadAll()
    #expect(files.launches.map(\.name) == ["web"])
    #expect(!FileManager.default.fileExists(atPath: tree.absolute("run/web.json.tmp")))
}

@Test(arguments: [
    #"{"name": "web", "starting": {"context": 0, "root": "/vservers/web"}}"#,
    #"{"name": "web", "starting": {"context": 1234, "root": "relative"}}"#,
    #"{"name": "web", "starting": {"root": "/vservers/web"}}"#,
    #"{"name": "web", "starting": {"context": 1234, "root": "/v", "addedAddresses": {"device": "a b"}}}"#,
])
func aLaunchFileThatIsNotOursIsAProblem(_ text: String) throws {
    let tree = TemporaryTree()
    let store = try StateStore(directory: tree.absolute("run"))
    try text.write(toFile: tree.absolute("run/web.json"), atomically: false, encoding: .utf8)
    let files = store.loadAll()
    #expect(files.launches.isEmpty)
    #expect(files.problems.map(\.entry) == ["web.json"])
}
