import Testing

import VarlinkServer

@Test func eachUIDHoldsAtMostItsQuotaOfConnectionsAndClosingOneFreesASlot() {
    let quota = ConnectionQuota(perUID: 2)
    #expect(quota.acquire(1000))
    #expect(quota.acquire(1000))
    #expect(!quota.acquire(1000), "a third connection of uid 1000 is refused")
    #expect(quota.acquire(0), "other uids are not affected")
    quota.release(1000)
    #expect(quota.acquire(1000))
    #expect(!quota.acquire(1000))
}
