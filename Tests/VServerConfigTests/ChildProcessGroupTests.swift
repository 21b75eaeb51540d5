import Glibc
import Testing

import VServerConfig

/// `killsGroupOnExit` (hook scripts): what a child leaves running in its process group goes when it exits.
@Test(.timeLimit(.minutes(2))) func whatAChildLeavesInItsGroupIsKilledWhenItExits() throws {
    let child = try ChildProcess(arguments: ["/bin/sh", "-c", "sleep 600 & echo $!"], environment: [],
                                 directory: nil)
    child.killsGroupOnExit = true
    var output = LineCollector(keep: 1) { _ in }
    #expect(try child.wait(lines: &output) == .exited(0))
    #expect(child.leftProcessesInGroup)
    let grandchild = try #require(output.lastLines.first.flatMap { pid_t($0) })
    // Once its new parent (the reaper) has collected it, it is gone.
    let deadline = ContinuousClock.now + .seconds(10)
    while kill(grandchild, 0) == 0 && ContinuousClock.now < deadline { usleep(5_000) }
    #expect(kill(grandchild, 0) != 0)
}

@Test(.timeLimit(.minutes(2))) func aChildThatLeavesNothingIsNotReportedAndOthersAreLeftAlone() throws {
    let child = try ChildProcess(arguments: ["/bin/sh", "-c", "sleep 600 & echo $!"], environment: [],
                                 directory: nil)
    var output = LineCollector(keep: 1) { _ in }
    #expect(try child.wait(lines: &output) == .exited(0))
    let grandchild = try #require(output.lastLines.first.flatMap { pid_t($0) })
    defer { kill(grandchild, SIGKILL) }
    #expect(!child.leftProcessesInGroup, "not asked to look")
    #expect(kill(grandchild, 0) == 0, "without killsGroupOnExit (the builders) it keeps running")

    let quiet = try ChildProcess(arguments: ["/bin/sh", "-c", "exit 0"], environment: [], directory: nil)
    quiet.killsGroupOnExit = true
    #expect(try quiet.wait(lines: &output) == .exited(0))
    #expect(!quiet.leftProcessesInGroup)
}
