import Glibc
import Testing

import VServerConfig
import VServerTestSupport

// Issue 14: util-vserver's apps/init/environment, the environment its init was started with.

@Test func utilVServersInitEnvironmentBecomesTheGuestsEnvironment() throws {
    let fixture = ConfigFixture()
    fixture.tree.file("etc/web/context", "1810\n")
    fixture.tree.symlink("etc/web/vdir", to: fixture.root("web"))
    fixture.tree.file("etc/web/apps/init/environment", "# comment\nLANG=C.UTF-8\nTZ=Europe/Berlin\nEMPTY=\n")
    let config = try #require(fixture.config("web"))
    #expect(config.environment == ["LANG": "C.UTF-8", "TZ": "Europe/Berlin", "EMPTY": ""])

    fixture.tree.file("etc/web/apps/init/environment", "LANG=C\nnot-an-assignment\n")
    #expect(fixture.error("web")
        == "\(fixture.etc)/web/apps/init/environment:2: expected VAR=VALUE, found \"not-an-assignment\"")
}

// Found by scripts/fuzz (utilvserver): a NUL in apps/init/cmd.start was taken into the rc command, and the
// vserver.toml `vserverctl import` wrote from it did not load ("rc.start: must not contain a NUL character").
@Test func aNULInAUtilVServerFileIsAnErrorNamingFileAndLine() {
    let fixture = ConfigFixture()
    fixture.tree.file("etc/web/context", "1810\n")
    fixture.tree.symlink("etc/web/vdir", to: fixture.root("web"))
    fixture.tree.file("etc/web/apps/init/style", "sysv\n")
    fixture.tree.file("etc/web/apps/init/cmd.start", "/etc/init.d/rc\n3\u{0}\n")
    #expect(fixture.error("web") == "\(fixture.etc)/web/apps/init/cmd.start:2: must not contain a NUL character")
    fixture.tree.file("etc/web/apps/init/cmd.start", "/etc/init.d/rc\n3\n")
    fixture.tree.file("etc/web/apps/init/environment", "LANG=C\u{0}.UTF-8\n")
    #expect(fixture.error("web") == "\(fixture.etc)/web/apps/init/environment:1: must not contain a NUL character")
}
