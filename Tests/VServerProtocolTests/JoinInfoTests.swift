import Testing
import VServerProtocol

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
