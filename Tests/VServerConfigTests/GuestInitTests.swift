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
         "\(file):1: init-style: must be \"auto\", \"systemd\", \"sysv\", \"plain\" or \"rc\", not \"upstart\""),
        ("on-reboot = \"halt\"\n", "\(file):1: on-reboot: must be \"restart\" or \"stop\", not \"halt\""),
        ("[runlevels]\nstart = \"2\"\n",
         "\(file):1: runlevels: [runlevels] needs init-style = \"sysv\" (init-style is \"auto\")"),
        ("init-style = \"sysv\"\n[runlevels]\nstop = \"7\"\n",
         "\(file):3: runlevels.stop: must be a runlevel from \"0\" to \"6\" or \"S\", not \"7\""),
        ("init-style = \"sysv\"\ncommand = [\"nginx\"]\n",
         "\(file):1: init-style: \"sysv\" runs the guest's boot scripts under vserverd's stub init; it does not "
            + "go with command"),
        ("init-style = \"rc\"\ninit = [\"/sbin/init\"]\n[rc]\nstart = [\"/etc/rc.multi\"]\n",
         "\(file):1: init-style: \"rc\" runs the guest's boot scripts under vserverd's stub init; it does not "
            + "go with init"),
        ("init-style = \"rc\"\n", "\(file):1: init-style: \"rc\" needs [rc] start = [\"/path/of/boot-script\", ...]"),
        ("[rc]\nstart = [\"/etc/rc.multi\"]\n",
         "\(file):1: rc: [rc] needs init-style = \"rc\" (init-style is \"auto\")"),
        ("init-style = \"rc\"\n[rc]\nstart = []\n", "\(file):3: rc.start: must not be an empty array"),
        ("init-style = \"rc\"\n[rc]\nstart = [\"etc/rc.multi\"]\n",
         "\(file):3: rc.start: must start with an absolute path or a command name found via PATH, not "
            + "\"etc/rc.multi\""),
        ("init-style = \"rc\"\n[rc]\nstart = [\"/etc/rc.multi\"]\nboot = [\"x\"]\n",
         "\(file):4: rc.boot: unknown key (known keys in [rc]: start, stop)"),
        ("kill-sequence = \"SIGTERM 5 SIGKILL\"\n",
         "\(file):1: kill-sequence: needs init-style = \"sysv\" or \"rc\" (with \"auto\" the init itself ends the "
            + "rest)"),
        ("init-style = \"sysv\"\nkill-sequence = \"SIGTERM 5\"\n",
         "\(file):2: kill-sequence: must be \"SIGNAL [SECONDS SIGNAL]...\" (as \"SIGTERM 5 SIGKILL\"), not "
            + "\"SIGTERM 5\""),
        ("init-style = \"sysv\"\nkill-sequence = \"SIGTERM soon SIGKILL\"\n",
         "\(file):2: kill-sequence: \"soon\" is no wait in seconds (0 to 3600) in \"SIGTERM soon SIGKILL\""),
        ("init-style = \"sysv\"\nkill-sequence = \"SIGTERM 5 SIGNOPE\"\n",
         "\(file):2: kill-sequence: unknown signal \"SIGNOPE\" in \"SIGTERM 5 SIGNOPE\""),
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

@Test func rcStyleRunsItsStartAndStopCommandsWithAKillSequence() throws {
    let fixture = ConfigFixture()
    fixture.vserver("web", """
        init-style = "rc"
        kill-sequence = "15 2 SIGINT 3 9"
        [rc]
        start = ["/lib/rc/sh/init-vserver.sh", "default"]
        stop = ["env", "-i", "RUNLEVEL=0", "/sbin/rc", "shutdown"]

        """)
    let config = try #require(fixture.config("web"))
    #expect(config.initStyle == .rc && config.rcStart == ["/lib/rc/sh/init-vserver.sh", "default"])
    #expect(config.rcStop == ["env", "-i", "RUNLEVEL=0", "/sbin/rc", "shutdown"])
    #expect(config.killSequence.description == "SIGTERM 2 SIGINT 3 SIGKILL")
    #expect(config.killSequence.numeric == "15 2 2 3 9")
    #expect(GuestInit.of(config) == .stub)
    // Without kill-sequence: SIGTERM, up to 5 s, SIGKILL (util-vserver's default killseq).
    fixture.vserver("web", "init-style = \"sysv\"\n")
    #expect(try #require(fixture.config("web")).killSequence.numeric == "15 5 9")
}

/// util-vserver's apps/init/ of each style, as its _generateInitOptions reads it.
struct UtilVServerInitStyles {
    let fixture = ConfigFixture()
    let root: String

    init() {
        root = fixture.tree.directory("vservers/old")
        fixture.tree.file("etc/old/context", "1234\n")
        fixture.tree.symlink("etc/old/vdir", to: root)
    }

    func write(_ files: [String: String], guest: [String] = []) {
        for (name, text) in files { fixture.tree.file("etc/old/apps/init/\(name)", text) }
        for program in guest { fixture.tree.file("vservers/old\(program)", "#!/bin/sh\n", mode: 0o755) }
    }

    func init_(_ files: [String: String], guest: [String] = []) throws -> VServerConfig {
        write(files, guest: guest)
        return try #require(fixture.config("old"))
    }

    func error(_ files: [String: String]) -> String? {
        write(files)
        return fixture.error("old")
    }
}

/// The warnings about apps/init/ (every util-vserver config also gets the one about the default capabilities).
private func initWarnings(_ config: VServerConfig) -> [String] {
    config.warnings.filter { $0.contains("/apps/init/") }
}

@Test func utilVServerSysvStyleIsTheDefaultWhereTheGuestHasAnRc() throws {
    var styles = UtilVServerInitStyles()
    var config = try styles.init_(["style": "sysv\n", "runlevel.start": "2\n", "runlevel.stop": "0\n"])
    #expect(config.initStyle == .sysv && (config.startRunlevel, config.stopRunlevel) == ("2", "0"))
    #expect(config.warnings.contains("\(styles.fixture.etc)/old/apps/init/style: sysv runs /etc/init.d/rc or "
        + "/etc/rc.d/rc, which \(styles.root) does not have: nothing will run in it but vserverd's stub init"))

    // No style file: sysv when the guest has an rc (util-vserver's default), else its own init, named.
    styles = UtilVServerInitStyles()
    config = try styles.init_(["runlevel": "4\n", "killseq": "15\n3\n9\n"], guest: ["/etc/rc.d/rc"])
    #expect(config.initStyle == .sysv && config.startRunlevel == "4" && initWarnings(config).isEmpty)
    #expect(config.killSequence.description == "SIGTERM 3 SIGKILL")
    styles = UtilVServerInitStyles()
    config = try styles.init_([:], guest: ["/sbin/init"])
    #expect(config.initStyle == .auto && config.entry == .initProgram(["/sbin/init"]))
    #expect(initWarnings(config) == [
        "\(styles.fixture.etc)/old/apps/init/style: missing: util-vserver's default style is "
        + "sysv, which runs /etc/init.d/rc or /etc/rc.d/rc, and \(styles.root) has neither (util-vserver would not "
        + "start it): vserverd starts its /sbin/init (init-style = \"auto\")"])

    // cmd.start/cmd.stop replace rc's commands: the general form, init-style = "rc".
    styles = UtilVServerInitStyles()
    config = try styles.init_(["cmd.start": "/etc/init.d/rc\n3\n", "cmd.stop": "/sbin/my-halt\n\n--now\n"],
                              guest: ["/etc/init.d/rc"])
    #expect(config.initStyle == .rc && config.rcStart == ["/etc/init.d/rc", "3"])
    #expect(config.rcStop == ["/sbin/my-halt", "--now"])
    styles = UtilVServerInitStyles()
    config = try styles.init_(["cmd.start": "/sbin/my-boot\n"], guest: ["/etc/init.d/rc"])
    #expect(config.rcStart == ["/sbin/my-boot"] && config.rcStop == ["/etc/init.d/rc", "6"])
}

@Test func utilVServerPlainAndMinitRunTheirInitAsPidOne() throws {
    var styles = UtilVServerInitStyles()
    var config = try styles.init_(["style": "plain\n", "runlevel.start": "3\n", "cmd.stop": "/sbin/halt\n"],
                                  guest: ["/sbin/init"])
    #expect(config.initStyle == .auto && config.entry == .initProgram(["/sbin/init", "3"]))
    #expect(config.stopSignal == nil)
    #expect(initWarnings(config) == [
        "\(styles.fixture.etc)/old/apps/init/cmd.stop: ignored: util-vserver sent SIGINT to "
        + "a plain init instead of running it; vserverd asks the init to stop the way it wants"])

    styles = UtilVServerInitStyles()
    config = try styles.init_(["style": "minit\n", "killseq": "15\n1\n9\n", "runlevel.stop": "6\n"])
    #expect(config.initStyle == .plain && config.entry == .initProgram(["/sbin/minit-start"]))
    #expect(config.stopSignal?.name == "SIGINT")
    let etc = styles.fixture.etc
    #expect(initWarnings(config) == [
        "\(etc)/old/apps/init/runlevel.stop: ignored: util-vserver stopped a minit init with SIGINT, not a runlevel",
        "\(etc)/old/apps/init/killseq: ignored: PID 1 is the guest's own init, which stops its processes itself; "
            + "what is left when it ends is killed with SIGKILL",
    ])
}

@Test func utilVServerGentooAndArchBootThroughTheirScripts() throws {
    var styles = UtilVServerInitStyles()
    var config = try styles.init_(["style": "gentoo\n"], guest: ["/lib/rc/sh/init-vserver.sh"])
    #expect(config.initStyle == .rc && config.rcStart == ["/lib/rc/sh/init-vserver.sh", "default"])
    #expect(config.rcStop == ["env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "RUNLEVEL=0", "/sbin/rc", "shutdown"])
    #expect(initWarnings(config).isEmpty)
    styles = UtilVServerInitStyles()
    #expect(styles.error(["style": "openrc\n"])
        == "\(styles.fixture.etc)/old/apps/init/style:1: \"openrc\" boots through "
        + "/lib/rcscripts/sh/init-vserver.sh or /lib/rc/sh/init-vserver.sh, which \(styles.root) does not have")

    styles = UtilVServerInitStyles()
    config = try styles.init_(["style": "arch\n", "runlevel.start": "3\n"])
    #expect(config.initStyle == .rc && config.rcStart == ["/etc/rc.multi"] && config.rcStop == ["/etc/rc.shutdown"])

    styles = UtilVServerInitStyles()
    #expect(styles.error(["style": "upstart\n"]) == "\(styles.fixture.etc)/old/apps/init/style:1: unknown init style "
        + "\"upstart\" (util-vserver's styles: sysv, plain, minit, gentoo, openrc, arch)")
    styles = UtilVServerInitStyles()
    #expect(styles.error(["style": "sysv\n", "killseq": "15\n9\n"])
        == "\(styles.fixture.etc)/old/apps/init/killseq: must be \"SIGNAL [SECONDS "
        + "SIGNAL]...\" (as \"SIGTERM 5 SIGKILL\"), not \"15 9\"")
}
