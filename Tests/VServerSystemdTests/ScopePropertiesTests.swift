import Testing
import VServerCore

import VServerSystemd

@Test func pidsMaxBecomesTheScopesTasksMaxAndMaxBecomesInfinity() {
    func tasksMax(_ pidsMax: UInt64?) -> [SystemdScopes.PropertyValue] {
        let guest = PlacedGuest(name: "web", context: 1042, pid: 4242, root: "/vservers/web", pidsMax: pidsMax)
        return SystemdScopes.scopeProperties(scope: "vserver-web.scope", guest: guest)
            .filter { $0.name == "TasksMax" }.map(\.value)
    }
    #expect(tasksMax(64) == [.uint64(64)])
    #expect(tasksMax(nil) == [.uint64(.max)], "\"max\" is systemd's infinity")
}
