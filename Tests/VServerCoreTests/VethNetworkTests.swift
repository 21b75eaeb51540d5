import Testing

@testable import VServerCore

/// eth0's MAC when the config gives none (issue 13): stable per host and context, and unlike another's.
@Suite struct VethDerivedMAC {
    static let machine = Array("3d1219c7c4c5404aaa1f6d2a48adfda4".utf8)

    @Test func isALocallyAdministeredUnicastAddressTheSameAtEveryStart() {
        let mac = VethNetwork.derivedMAC(machineID: Self.machine, context: 1042)
        #expect(mac.count == 6)
        #expect(mac[0] & 0x01 == 0, "unicast")
        #expect(mac[0] & 0x02 == 0x02, "locally administered: no vendor's")
        #expect(VethNetwork.derivedMAC(machineID: Self.machine, context: 1042) == mac)
    }

    @Test func differsForAnotherContextAndForTheSameContextOnAnotherHost() {
        let macs = Set((1000..<1256).map { VethNetwork.derivedMAC(machineID: Self.machine, context: $0) })
        #expect(macs.count == 256, "neighbouring contexts do not collide")
        let otherHost = Array("0123456789abcdef0123456789abcdef".utf8)
        #expect(VethNetwork.derivedMAC(machineID: otherHost, context: 1042)
            != VethNetwork.derivedMAC(machineID: Self.machine, context: 1042))
        #expect(VethNetwork.derivedMAC(machineID: [], context: 1042)
            != VethNetwork.derivedMAC(machineID: [], context: 1043), "without a machine id: by the context")
    }

    /// Neighbouring contexts give MACs that differ in their first bytes too, not only in the last one.
    @Test func spreadsNeighbouringContextsOverAllBytes() {
        let first = Set((1000..<1064).map { VethNetwork.derivedMAC(machineID: Self.machine, context: $0)[1] })
        #expect(first.count > 32)
    }
}
