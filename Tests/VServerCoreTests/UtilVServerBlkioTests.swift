import Testing

import VServerConfig
@testable import VServerCore

/// `vserverctl import` turns util-vserver's cgroup/blkio.weight back into io-weight: the way back must meet the
/// way vserverd writes io-weight to a v1 blkio cgroup (its copy of that way too).
@Test func utilVServerBlkioWeightsComeBackAsTheNearestIOWeightVServerdWrites() {
    var written = Set<UInt64>()
    for weight in UInt64(1)...10_000 {
        let blkio = CgroupLimits.blkioWeight(weight)
        written.insert(blkio)
        #expect(UtilVServerResources.blkioWeight(weight) == Int64(blkio), "io \(weight)")
    }
    #expect(UtilVServerResources.ioWeight(blkio: 10) == 1)
    #expect(UtilVServerResources.ioWeight(blkio: 500) == 100)
    #expect(UtilVServerResources.ioWeight(blkio: 1000) == 10_000)
    for blkio in UInt64(10)...1000 {
        let weight = UtilVServerResources.ioWeight(blkio: blkio)
        let back = CgroupLimits.blkioWeight(weight)
        let nearest = written.map { $0 > blkio ? $0 - blkio : blkio - $0 }.min()!
        #expect(max(back, blkio) - min(back, blkio) == nearest, "blkio \(blkio) → io \(weight) → blkio \(back)")
        if back == blkio {
            #expect(weight == 1 || CgroupLimits.blkioWeight(weight - 1) != blkio, "the lowest: blkio \(blkio)")
        }
    }
}
