import Glibc
import Testing
import VServerProtocol

@testable import VServerCore

@Suite struct ExecArgumentsTests {
    @Test func nameDashDashAndCommandIsThePlainShape() {
        #expect(ExecArguments.parse(["web", "--", "sh", "-c", "exit 7"])
                == ExecArguments(name: "web", command: ["sh", "-c", "exit 7"]))
        #expect(ExecArguments.parse(["--all", "--", "hostname"])
                == ExecArguments(name: nil, all: true, command: ["hostname"]))
    }

    @Test func socketMayComeBeforeOrAfterTheName() {
        let expected = ExecArguments(name: "web", socket: "/tmp/s", command: ["true"])
        #expect(ExecArguments.parse(["--socket", "/tmp/s", "web", "--", "true"]) == expected)
        #expect(ExecArguments.parse(["web", "--socket", "/tmp/s", "--", "true"]) == expected)
        #expect(ExecArguments.parse(["web", "--socket=/tmp/s", "--", "true"]) == expected)
    }

    @Test func everythingAfterTheFirstDashDashIsTheCommandVerbatim() {
        #expect(ExecArguments.parse(["web", "--", "ls", "--", "--all", "*", ""])?.command
                == ["ls", "--", "--all", "*", ""])
    }

    @Test func otherShapesAreLeftToArgumentParser() {
        for arguments in [
            ["--help"], ["web", "--help", "--", "true"], ["web"], ["web", "--"], ["--", "true"],
            ["web", "db", "--", "true"], ["--all", "web", "--", "true"], ["--all", "--all", "--", "true"],
            ["web", "--socket", "--", "true"], ["web", "--socket", "a", "--socket", "b", "--", "true"],
            ["-x", "web", "--", "true"], ["", "--", "true"],
        ] {
            #expect(ExecArguments.parse(arguments) == nil, "\(arguments)")
        }
    }
}

@Suite struct PSColumnsTests {
    let processes = [
        ProcessInfo(pid: 1, command: "/sbin/init"),
        ProcessInfo(pid: 4242, vserver: "web", context: 1042, command: "init"),
        ProcessInfo(pid: 4250, vserver: "web", context: 1042, command: "sleep 100"),
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

@Suite struct ProcessOwnersTests {
    let web = ProcessOwners.Owner(name: "web", context: 1042)
    var owners: ProcessOwners { ProcessOwners(byNamespace: [100: web], hostNamespace: 1) }

    @Test func aProcessBelongsToTheVServerOfItsPidNamespace() {
        let table: [Int32: ProcessOwners.Entry] = [4242: .init(parent: 1, namespace: 100)]
        #expect(owners.owner(of: 4242, entry: { table[$0] }) == web)
    }

    @Test func hostProcessesAndVanishedOnesBelongToNoVServer() {
        let table: [Int32: ProcessOwners.Entry] = [1: .init(parent: 0, namespace: 1)]
        #expect(owners.owner(of: 1, entry: { table[$0] }) == nil)
        #expect(owners.owner(of: 77, entry: { table[$0] }) == nil)
    }

    @Test func aNestedPidNamespaceBelongsToTheVServerOfItsNearestKnownAncestor() {
        // A container inside web: its init (5000) and a child (5001) are in namespace 200, started by 4300 in web.
        let table: [Int32: ProcessOwners.Entry] = [
            5001: .init(parent: 5000, namespace: 200), 5000: .init(parent: 4300, namespace: 200),
            4300: .init(parent: 4242, namespace: 100), 4242: .init(parent: 1, namespace: 100),
        ]
        #expect(owners.owner(of: 5001, entry: { table[$0] }) == web)
        // One in an unknown namespace under a host process is the host's.
        let hostTable: [Int32: ProcessOwners.Entry] = [6000: .init(parent: 1, namespace: 300),
                                                       1: .init(parent: 0, namespace: 1)]
        #expect(owners.owner(of: 6000, entry: { hostTable[$0] }) == nil)
    }

    @Test func aProcessWhoseNamespaceCannotBeReadBelongsWhereItsParentDoes() {
        let table: [Int32: ProcessOwners.Entry] = [
            4300: .init(parent: 4242, namespace: nil), 4242: .init(parent: 1, namespace: 100),
            1: .init(parent: 0, namespace: nil),
        ]
        #expect(owners.owner(of: 4300, entry: { table[$0] }) == web)
        #expect(owners.owner(of: 1, entry: { table[$0] }) == nil)
    }

    /// The walk over the real /proc finds this process by the pid namespace it reads for it: mapped to web, the
    /// process is web's (and is in web's list); mapped as the host's, it is the host's; its command is its argv.
    @Test func theWalkOverProcFindsThisProcessByTheNamespaceItReads() throws {
        let own = try #require(ProcFS.pidNamespace(pid: getpid()))
        let argv = try FileSystem.readBytes("/proc/self/cmdline").bytes
            .split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
        let asWeb = ProcessOwners(byNamespace: [own: web], hostNamespace: own &+ 1)
        #expect(ProcessList.processes(owners: asWeb).first { $0.pid == getpid() }
            == ProcessInfo(pid: getpid(), vserver: "web", context: 1042, command: argv))
        let webOnly = ProcessList.processes(owners: asWeb, only: web)
        #expect(webOnly.contains { $0.pid == getpid() })
        #expect(webOnly.allSatisfy { $0.vserver == "web" && $0.context == 1042 })

        let asHost = ProcessOwners(byNamespace: [own &+ 1: web], hostNamespace: own)
        let list = ProcessList.processes(owners: asHost)
        #expect(list.first { $0.pid == getpid() } == ProcessInfo(pid: getpid(), command: argv))
        #expect(ProcessList.processes(owners: asHost, only: web).allSatisfy { $0.pid != getpid() })
        #expect(list.map(\.pid) == list.map(\.pid).sorted())
    }
}

@Suite struct JoinInfoTests {
    @Test func joinReplyRoundTripsThroughJSON() throws {
        let info = VServerJoinInfo(pid: 4242, startTime: 123_456, environment: ["PATH": "/bin", "LANG": "C.UTF-8"],
                                   capabilities: 0xA80_425FB, shell: ["/bin/sh", "-l"],
                                   cgroup: "/sys/fs/cgroup/machine.slice/vserver-web.scope")
        #expect(info.parameters["cgroup"] == .string("/sys/fs/cgroup/machine.slice/vserver-web.scope"))
        let text = JSON.object(info.parameters).serialized()
        #expect(try VServerJoinInfo(parameters: JSON.parse(text).objectValue ?? [:]) == info)
    }

    @Test func joinReplyWithoutPidIsInvalid() {
        #expect(throws: VarlinkError.invalidParameter("pid")) {
            try VServerJoinInfo(parameters: ["startTime": 1, "capabilities": 0, "environment": [:], "shell": []])
        }
    }
}
