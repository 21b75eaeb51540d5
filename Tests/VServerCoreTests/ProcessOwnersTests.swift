import Glibc
import Testing
import VServerProtocol

import VServerConfig
import VServerTestSupport

@testable import VServerCore

@Suite struct ProcessOwnersTests {
    let web = ProcessOwner(name: "web", context: 1042)
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
            == HostProcess(pid: getpid(), vserver: "web", context: 1042, command: argv))
        let webOnly = ProcessList.processes(owners: asWeb, only: web)
        #expect(webOnly.contains { $0.pid == getpid() })
        #expect(webOnly.allSatisfy { $0.vserver == "web" && $0.context == 1042 })

        let asHost = ProcessOwners(byNamespace: [own &+ 1: web], hostNamespace: own)
        let list = ProcessList.processes(owners: asHost)
        #expect(list.first { $0.pid == getpid() } == HostProcess(pid: getpid(), command: argv))
        #expect(ProcessList.processes(owners: asHost, only: web).allSatisfy { $0.pid != getpid() })
        #expect(list.map(\.pid) == list.map(\.pid).sorted())
    }
}
