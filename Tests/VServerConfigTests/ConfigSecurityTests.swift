import Glibc
import Testing

import VServerBuild
import VServerConfig
import VServerTestSupport

// Issue 10, finding 2: `[security] seccomp`.

// MARK: [security] seccomp

@Test func seccompIsTheDefaultFilterUnlessUnconfined() throws {
    let fixture = ConfigFixture()
    fixture.vserver("web", "[security]\nseccomp = \"default\"\n")
    let configured = try #require(fixture.config("web"))
    #expect(configured.seccomp == .default && configured.warnings.isEmpty)

    fixture.vserver("web", "[security]\nseccomp = \"unconfined\"\n")
    let unconfined = try #require(fixture.config("web"))
    #expect(unconfined.seccomp == .unconfined)
    #expect(
        unconfined.warnings == [
            "\(fixture.etc)/web/vserver.toml:2: security.seccomp: \"unconfined\" leaves a root guest without a user "
                + "namespace the host's keyrings, bpf, perf_event_open and new user namespaces; only kexec stays denied"
        ])
    // With a user namespace keyrings and user namespaces are the guest's own: nothing to warn about.
    fixture.vserver("web", "[namespaces]\nuser = true\n[security]\nseccomp = \"unconfined\"\n")
    #expect(try #require(fixture.config("web")).warnings.isEmpty)
}

@Test func aBadSeccompValueOrSecurityKeyIsNamed() {
    let fixture = ConfigFixture()
    fixture.vserver("web", "[security]\nseccomp = \"strict\"\n")
    let file = "\(fixture.etc)/web/vserver.toml"
    #expect(
        fixture.error("web") == "\(file):2: security.seccomp: must be \"default\" or \"unconfined\", not \"strict\"")
    fixture.vserver("web", "[security]\nsecomp = \"default\"\n")
    #expect(fixture.error("web") == "\(file):2: security.secomp: unknown key; did you mean \"seccomp\"?")
    fixture.vserver("web", "[security]\nseccomp = true\n")
    #expect(fixture.error("web") == "\(file):2: security.seccomp: expected a string, found a boolean")
}

@Test func nestingNeedsAUserNamespaceAndIsWrittenBack() throws {
    let fixture = ConfigFixture()
    fixture.vserver("web", "[security]\nnesting = true\n")
    #expect(
        fixture.error("web") == "\(fixture.etc)/web/vserver.toml:2: security.nesting: needs [namespaces] user = true "
            + "(without a user namespace the guest cannot mount at all)")
    fixture.vserver("web", "[namespaces]\nuser = true\n[security]\nnesting = true\n")
    let nested = try #require(fixture.config("web"))
    #expect(nested.nesting)
    #expect(TOMLWriter.render(nested, header: []).hasSuffix("\n[security]\nnesting = true\n"))
    fixture.vserver("web", "[namespaces]\nuser = true\n")
    #expect(try #require(fixture.config("web")).nesting == false)
}

@Test func anUnconfinedVServerIsWrittenBackAsSuch() throws {
    var config = VServerConfig(name: "web", context: 1042, root: "/vservers/web", configDirectory: "", configFile: "")
    config.seccomp = .unconfined
    #expect(TOMLWriter.render(config, header: []).hasSuffix("\n[security]\nseccomp = \"unconfined\"\n"))
    config.seccomp = .default
    #expect(!TOMLWriter.render(config, header: []).contains("[security]"))
}
