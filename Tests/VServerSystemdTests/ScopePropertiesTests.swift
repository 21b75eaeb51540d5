import Testing
import VServerConfig
import VServerCore

import VServerSystemd

@Test func pidsMaxBecomesTheScopesTasksMaxAndMaxBecomesInfinity() {
    func tasksMax(_ pidsMax: UInt64?) -> [SystemdScopes.PropertyValue] {
        var resources = ResourceSettings()
        resources.pidsMax = pidsMax
        let guest = PlacedGuest(name: "web", context: 1042, pid: 4242, root: "/vservers/web", resources: resources)
        return SystemdScopes.scopeProperties(scope: "vserver-web.scope", guest: guest)
            .filter { $0.name == "TasksMax" }.map(\.value)
    }
    #expect(tasksMax(64) == [.uint64(64)])
    #expect(tasksMax(nil) == [.uint64(.max)], "\"max\" is systemd's infinity")
}

@Test func resourcesBecomeScopePropertiesAndALiveChangeResetsWhatWasTakenAway() {
    var resources = ResourceSettings()
    resources.memoryMax = 128 << 20
    resources.cpuMaxPercent = 150
    resources.cpuset = "0-1,9"
    let properties = SystemdScopes.resourceProperties(resources, resetting: false)
    #expect(properties.map(\.name) == ["MemoryMax", "CPUQuotaPerSecUSec", "AllowedCPUs", "TasksMax"])
    #expect(properties.map(\.value) == [.uint64(128 << 20), .uint64(1_500_000), .bytes([0b11, 0b10]), .uint64(4096)])
    let reset = SystemdScopes.resourceProperties(ResourceSettings(), resetting: true)
    #expect(reset.map(\.name) == ["MemoryMax", "MemoryHigh", "MemorySwapMax", "CPUQuotaPerSecUSec", "CPUWeight",
                                  "IOWeight", "AllowedCPUs", "TasksMax"])
    #expect(reset.dropLast(2).allSatisfy { $0.value == .uint64(.max) }, "systemd's infinity")
}
