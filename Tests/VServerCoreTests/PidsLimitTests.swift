import Foundation
import Testing

import VServerConfig
import VServerTestSupport

@testable import VServerCore

@Test func pidsMaxDefaultsTo4096AndTakesANumberOrMax() throws {
    let fixture = ConfigFixture()
    fixture.vserver("web", "# nothing set\n")
    #expect(try #require(fixture.config("web")).pidsMax == 4096)
    fixture.vserver("web", "[resources]\npids-max = 64\n")
    #expect(try #require(fixture.config("web")).pidsMax == 64)
    fixture.vserver("web", "[resources]\npids-max = \"max\"\n")
    #expect(try #require(fixture.config("web")).pidsMax == nil)
}

@Test func aBadPidsMaxNamesFileLineAndKey() {
    let fixture = ConfigFixture()
    let file = "\(fixture.etc)/web/vserver.toml"
    let cases = [
        ("pids-max = 0", "2: resources.pids-max: must be an integer from 1 to 4194304 or \"max\", not 0"),
        ("pids-max = -1", "2: resources.pids-max: must be an integer from 1 to 4194304 or \"max\", not -1"),
        ("pids-max = \"lots\"", "2: resources.pids-max: must be an integer from 1 to 4194304 or \"max\", not \"lots\""),
        ("pids-max = true", "2: resources.pids-max: expected an integer or \"max\", found a boolean"),
        ("pid-max = 5", "2: resources.pid-max: unknown key; did you mean \"pids-max\"?"),
    ]
    for (line, message) in cases {
        fixture.vserver("web", "[resources]\n\(line)\n")
        #expect(fixture.error("web") == "\(file):\(message)", "\(line)")
    }
}

@Test func theLegacyPidsCgroupOfAGuestIsFoundInProcCgroup() {
    let text = "9:name=systemd:/\n8:pids:/vserverd-test.x/vserver-web\n0::/vserverd-test.x/vserver-web\n"
    let found = PidsLimit.legacyCgroup(procCgroup: text, names: ["vserver-web", "vserver-web.scope"],
                                       mount: "/sys/fs/cgroup/pids")
    #expect(found?.cgroup.directory == "/sys/fs/cgroup/pids/vserverd-test.x/vserver-web")
    let comounted = "4:cpu,pids:/machine.slice/vserver-web.scope/init.scope\n"
    let scope = PidsLimit.legacyCgroup(procCgroup: comounted, names: ["vserver-web", "vserver-web.scope"],
                                       mount: "/sys/fs/cgroup/pids")
    #expect(scope?.cgroup.directory == "/sys/fs/cgroup/pids/machine.slice/vserver-web.scope")
    #expect(scope?.processDirectory == "/sys/fs/cgroup/pids/machine.slice/vserver-web.scope/init.scope")
    #expect(scope?.cgroup.isOwn == false)
    #expect(PidsLimit.legacyCgroup(procCgroup: "8:pids:/\n", names: ["vserver-web"], mount: "/p") == nil)
}

/// A fake cgroup2 parent (files only): the v2 path of a host whose cgroup2 has the pids controller.
@Test func onCgroup2ThePidsControllerIsTurnedOnInTheParentOtherwiseV1IsUsedOrTheStartRefused() throws {
    let parent = FileManager.default.temporaryDirectory.appendingPathComponent("pids-\(getpid())").path
    try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: parent) }
    try "cpu memory pids\n".write(toFile: "\(parent)/cgroup.controllers", atomically: false, encoding: .utf8)
    try "".write(toFile: "\(parent)/cgroup.subtree_control", atomically: false, encoding: .utf8)
    #expect(try PidsLimit.place(unifiedParent: parent, legacyMount: nil, parentPath: "/x") == .unified)
    #expect(try String(contentsOfFile: "\(parent)/cgroup.subtree_control", encoding: .utf8) == "+pids")

    try "cpu memory\n".write(toFile: "\(parent)/cgroup.controllers", atomically: false, encoding: .utf8)
    #expect(try PidsLimit.place(unifiedParent: parent, legacyMount: "/sys/fs/cgroup/pids", parentPath: "/x")
        == .legacy(mount: "/sys/fs/cgroup/pids", parentPath: "/x"))
    #expect(throws: PidsLimit.Unavailable.self) {
        try PidsLimit.place(unifiedParent: parent, legacyMount: nil, parentPath: "/x")
    }
}
