import Testing
import VServerProtocol

import VServerCLI

@Suite struct PSColumnsTests {
    let processes = [
        HostProcess(pid: 1, command: "/sbin/init"),
        HostProcess(pid: 4242, vserver: "web", context: 1042, command: "init"),
        HostProcess(pid: 4250, vserver: "web", context: 1042, command: "sleep 100"),
    ]

    @Test func tableShowsHostProcessesAsContextZeroHost() {
        #expect(PSColumns.table(processes) == """
              PID CONTEXT VSERVER COMMAND
                1       0 host    /sbin/init
             4242    1042 web     init
             4250    1042 web     sleep 100

            """)
    }

    @Test func columnsGoRightAfterThePIDColumnAndKeepTheRestOfEachLine() {
        let ps = """
            USER         PID %CPU COMMAND
            root           1  0.0 /sbin/init splash
            root        4250  0.0 sleep 100
            root        9999  0.0 ps aux

            """
        #expect(PSColumns.insert(into: ps, processes: processes, onlyListed: false) == """
            USER         PID CONTEXT VSERVER %CPU COMMAND
            root           1       0 host     0.0 /sbin/init splash
            root        4250    1042 web      0.0 sleep 100
            root        9999       - -        0.0 ps aux

            """)
    }

    @Test func withANameOnlyItsProcessesStay() {
        let ps = "  PID TTY          TIME CMD\n    1 ?        00:00:01 init\n 4250 ?        00:00:00 sleep\n"
        let only = processes.filter { $0.vserver == "web" }
        #expect(PSColumns.insert(into: ps, processes: only, onlyListed: true) == """
              PID CONTEXT VSERVER TTY          TIME CMD
             4250    1042 web     ?        00:00:00 sleep

            """)
    }

    @Test func outputWithoutAPIDColumnIsRefused() {
        #expect(PSColumns.insert(into: "COMMAND\ninit\n", processes: processes, onlyListed: false) == nil)
        #expect(PSColumns.insert(into: "", processes: processes, onlyListed: false) == nil)
    }
}
