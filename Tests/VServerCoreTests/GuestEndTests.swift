import Glibc
import Testing
import VServerProtocol

@testable import VServerCore

// How the daemon tells what happened when a guest's PID 1 ended, and what its console log keeps.

@Test func howPidOneEndedReadsAsWhatHappened() {
    let reboot = Manager.endDescription(.init(how: .killed, status: Int(SIGHUP)), onReboot: .restart)
    #expect(reboot == "rebooted from inside (PID 1 ended by SIGHUP); starting again")
    #expect(Manager.endDescription(.init(how: .killed, status: Int(SIGHUP)), onReboot: .stop)
        == "rebooted from inside (PID 1 ended by SIGHUP); not started again (on-reboot = \"stop\")")
    #expect(Manager.endDescription(.init(how: .killed, status: Int(SIGINT)), onReboot: .restart)
        == "powered off or halted from inside (PID 1 ended by SIGINT)")
    // The systemd of the issue: exit status 255 is not a signal 127.
    #expect(Manager.endDescription(.init(how: .exited, status: 255), onReboot: .restart)
        == "PID 1 exited with status 255")
    #expect(Manager.endDescription(.init(how: .killed, status: Int(SIGKILL)), onReboot: .restart)
        == "PID 1 killed by signal 9 (SIGKILL)")
    #expect(Manager.endDescription(.init(how: .dumped, status: Int(SIGSEGV)), onReboot: .restart)
        == "PID 1 dumped core on signal 11 (SIGSEGV)")
}

@Test func theConsoleLogKeepsLineFeedsWithoutTheirCarriageReturns() {
    var pending = false
    var log = ConsoleRelay.withoutCarriageReturns(ArraySlice(Array("[  OK  ] Started\r\nlogin: \r".utf8)),
                                                  pending: &pending)
    #expect(String(decoding: log, as: UTF8.self) == "[  OK  ] Started\nlogin: " && pending)
    log = ConsoleRelay.withoutCarriageReturns(ArraySlice(Array("\nx\ry".utf8)), pending: &pending)
    #expect(String(decoding: log, as: UTF8.self) == "\nx\ry" && !pending, "a CR not before LF stays")
}
