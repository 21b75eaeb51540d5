import Glibc
import Testing
import VServerProtocol

import VServerConfig
import VServerTestSupport

@testable import VServerCore

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

    @Test func theProcessListOfThisHostHasThisProcessAsAHostProcess() {
        let owners = ProcessOwners(byNamespace: [:], hostNamespace: ProcFS.pidNamespace(pid: getpid()))
        let list = ProcessList.processes(owners: owners)
        let me = list.first { $0.pid == getpid() }
        #expect(me != nil)
        #expect(me?.vserver == nil)
        #expect(me?.command.isEmpty == false)
        #expect(list.map(\.pid) == list.map(\.pid).sorted())
    }
}
