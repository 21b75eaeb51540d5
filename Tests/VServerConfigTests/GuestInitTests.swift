import Glibc
import Testing
import VServerProtocol

import VServerBuild
import VServerConfig
import VServerTestSupport

/// What a start decides from the guest's tree and config (issue 9): its init, how it is stopped, its gettys, its
/// shell, and how the end of its PID 1 reads.

@Test func theInitIsFoundThroughSymlinksInsideTheRoot() {
    let tree = TemporaryTree()
    tree.file("sd/lib/systemd/systemd", "", mode: 0o755)
    tree.symlink("sd/sbin/init", to: "/lib/systemd/systemd")
    tree.file("bb/bin/busybox", "", mode: 0o755)
    tree.symlink("bb/sbin/init", to: "../bin/busybox")
    tree.file("bb/etc/inittab", "::sysinit:/bin/true\n")
    tree.file("sv/sbin/init", "", mode: 0o755)
    tree.file("sv/etc/inittab", "id:2:initdefault:\n")
    tree.file("other/sbin/init", "", mode: 0o755)
    // An absolute symlink means the guest's /lib, never the host's: a host systemd must not make it a systemd guest.
    tree.symlink("escape/sbin/init", to: "/../../../../../../lib/systemd/systemd")
    let detected = ["sd", "bb", "sv", "other", "escape", "missing"].map {
        GuestInit.detect(program: "/sbin/init", root: tree.absolute($0))
    }
    #expect(detected == [.systemd, .busybox, .sysvinit, .other, .other, .other])
}

@Test func initStyleDecidesWithoutLookingWhenItIsNotAuto() {
    var config = VServerConfig(name: "web", context: 1000, root: "/nonexistent", configDirectory: "", configFile: "")
    #expect(GuestInit.of(config) == .other)
    config.initStyle = .systemd
    #expect(GuestInit.of(config) == .systemd)
    config.initStyle = .sysv
    #expect(GuestInit.of(config) == .stub)
    config.initStyle = .plain
    config.entry = .command(["nginx"])
    #expect(GuestInit.of(config) == .stub)
}

@Test func eachInitIsAskedToStopItsOwnWayUnlessStopSignalSays() {
    var config = VServerConfig(name: "web", context: 1000, root: "/", configDirectory: "", configFile: "")
    #expect(StopRequest.of(config, init: .systemd) == .signal(.init(number: 37, name: "SIGRTMIN+3")))
    #expect(StopRequest.of(config, init: .sysvinit) == .runlevel("0"))
    #expect(StopRequest.of(config, init: .busybox) == .signal(.init(number: SIGUSR2, name: "SIGUSR2")))
    #expect(StopRequest.of(config, init: .stub) == .signal(.init(number: SIGTERM, name: "SIGTERM")))
    config.stopSignal = .init(number: SIGPWR, name: "SIGPWR")
    #expect(StopRequest.of(config, init: .sysvinit) == .signal(.init(number: SIGPWR, name: "SIGPWR")))
    // As the state file keeps it, so that a re-adopted guest is stopped the same way.
    for request in [StopRequest.runlevel("0"), .signal(.init(number: 37, name: "SIGRTMIN+3"))] {
        #expect(StopRequest(request.description) == request, "\(request)")
    }
    #expect(StopRequest("runlevel 9") == nil && StopRequest("SIGFOO") == nil)
}

@Test func theInitctlRequestIsWhatTelinitSends() {
    let request = SysvInitControl.runlevelRequest("0")
    #expect(request.count == 384)
    // magic 0x03091969, cmd 1 (INIT_CMD_RUNLVL), runlevel '0', sleeptime 5; little-endian ints.
    #expect(Array(request[0..<16]) == [0x69, 0x19, 0x09, 0x03, 1, 0, 0, 0, 0x30, 0, 0, 0, 5, 0, 0, 0])
    #expect(request[16...].allSatisfy { $0 == 0 })
}

@Test func gettysOfTheInittabGetTheirTerminalsAndNoMore() {
    let debian = """
        # The default runlevel.
        id:2:initdefault:
        si::sysinit:/etc/init.d/rcS
        1:2345:respawn:/sbin/getty --noclear 38400 tty1
        2:23:respawn:/sbin/getty 38400 tty2
        6:23:respawn:/sbin/getty 38400 tty6
        #7:23:respawn:/sbin/getty 38400 tty7
        T0:23:respawn:/sbin/getty -L ttyS0 9600 vt100
        ca:12345:ctrlaltdel:/sbin/shutdown -t1 -a -r now

        """
    #expect(GuestInit.gettyTerminals(inittab: debian) == 6)
    #expect(GuestInit.gettyTerminals(inittab: "::sysinit:/bin/true\n") == 0)
    #expect(GuestInit.gettyTerminals(inittab: "1:2:respawn:/sbin/getty 38400 tty99\n") == 12)
}

@Test func theLoginShellComesFromTheGuestsPasswd() {
    let passwd = "daemon:x:1:1::/usr/sbin:/usr/sbin/nologin\nroot:x:0:0:root:/root:/bin/bash\n"
    #expect(GuestFiles.loginShell(passwd: passwd, user: "root") == "/bin/bash")
    #expect(GuestFiles.loginShell(passwd: "root:x:0:0:root:/root:\n", user: "root") == nil)
    #expect(GuestFiles.loginShell(passwd: "root:x:0:0:root:/root:bash\n", user: "root") == nil)
}

@Test func initStyleOnRebootAndRunlevelsAreChecked() throws {
    let fixture = ConfigFixture()
    fixture.vserver("web", "init-style = \"sysv\"\non-reboot = \"stop\"\n[runlevels]\nstart = \"2\"\nstop = \"0\"\n")
    let config = try #require(fixture.config("web"))
    #expect(config.initStyle == .sysv && config.onReboot == .stop)
    #expect((config.startRunlevel, config.stopRunlevel) == ("2", "0"))

    let file = "\(fixture.etc)/web/vserver.toml"
    for (toml, error) in [
        ("init-style = \"upstart\"\n",
         "\(file):1: init-style: must be \"auto\", \"systemd\", \"sysv\" or \"plain\", not \"upstart\""),
        ("on-reboot = \"halt\"\n", "\(file):1: on-reboot: must be \"restart\" or \"stop\", not \"halt\""),
        ("[runlevels]\nstart = \"2\"\n",
         "\(file):1: runlevels: [runlevels] needs init-style = \"sysv\" (init-style is \"auto\")"),
        ("init-style = \"sysv\"\n[runlevels]\nstop = \"7\"\n",
         "\(file):3: runlevels.stop: must be a runlevel from \"0\" to \"6\" or \"S\", not \"7\""),
        ("init-style = \"sysv\"\ncommand = [\"nginx\"]\n",
         "\(file):1: init-style: \"sysv\" runs the guest's /etc/init.d/rc under vserverd's stub init; it does not "
            + "go with command"),
    ] {
        fixture.vserver("web", toml)
        #expect(fixture.error("web") == error, "\(toml)")
    }
}

@Test func aUserNamespaceWidensTheDefaultBoundingSetToNspawns() throws {
    let fixture = ConfigFixture()
    fixture.vserver("web", "[namespaces]\nuser = true\n")
    let config = try #require(fixture.config("web"))
    let names = Capabilities.names(in: config.capabilities)
    #expect(names.contains("CAP_SYS_ADMIN") && names.contains("CAP_SYS_BOOT") && names.contains("CAP_SYS_PTRACE"))
    for absent in ["CAP_SYS_RAWIO", "CAP_SYS_MODULE", "CAP_SYS_TIME", "CAP_NET_ADMIN", "CAP_MAC_ADMIN"] {
        #expect(!names.contains(absent), "\(absent): systemd's units that need it are skipped")
    }
    #expect(config.warnings.isEmpty)
}

@Test func utilVServerInitStyleAndRunlevelsAreImported() throws {
    let fixture = ConfigFixture()
    let root = fixture.tree.directory("vservers/old")
    fixture.tree.file("etc/old/context", "1234\n")
    fixture.tree.symlink("etc/old/vdir", to: root)
    fixture.tree.file("etc/old/apps/init/style", "sysv\n")
    fixture.tree.file("etc/old/apps/init/runlevel.start", "2\n")
    fixture.tree.file("etc/old/apps/init/runlevel.stop", "0\n")
    let config = try #require(fixture.config("old"))
    #expect(config.initStyle == .sysv && (config.startRunlevel, config.stopRunlevel) == ("2", "0"))

    fixture.tree.file("etc/old/apps/init/style", "gentoo\n")
    #expect(fixture.error("old")
        == "\(fixture.etc)/old/apps/init/style:1: init style \"gentoo\" is not supported (vserverd runs \"sysv\" and "
        + "\"plain\")")
}
