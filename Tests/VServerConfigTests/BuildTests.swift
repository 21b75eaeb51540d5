import CVServerSpawn
import Glibc
import Testing

import VServerBuild
import VServerConfig
import VServerTestSupport

/// `vserverctl build`: the parts that need no root and no network (the builder's command line, the host's apt
/// sources, the checks before any work, the guest's preparation, signals). The builds themselves are in
/// IntegrationTests/BuildTests.swift.

// MARK: The host's apt sources

@Test func deb822SourcesGiveEachURIWithItsSuitesAndComponents() {
    let entries = AptSources.deb822Entries("""
        Types: deb
        # http://snapshot.debian.org/archive/debian/20250520T000000Z
        URIs: http://deb.debian.org/debian
        Suites: bookworm bookworm-updates
        Components: main contrib
        Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

        types: deb deb-src
        uris: http://deb.debian.org/debian-security
        suites: bookworm-security
        components: main

        Types: deb-src
        URIs: http://sources.example.org/debian
        Suites: bookworm

        Enabled: no
        Types: deb
        URIs: http://disabled.example.org/debian
        Suites: bookworm

        Types: deb
        URIs: http://one.example.org/debian
          http://two.example.org/debian
        Suites: trixie
        """)
    #expect(entries == [
        .init(uri: "http://deb.debian.org/debian", suites: ["bookworm", "bookworm-updates"],
              components: ["main", "contrib"]),
        .init(uri: "http://deb.debian.org/debian-security", suites: ["bookworm-security"], components: ["main"]),
        .init(uri: "http://one.example.org/debian", suites: ["trixie"], components: []),
        .init(uri: "http://two.example.org/debian", suites: ["trixie"], components: []),
    ])
}

@Test func oneLineSourcesSkipOptionsCommentsAndSourcePackages() {
    let entries = AptSources.oneLineEntries("""
        # deb http://commented.example.org/debian bookworm main
        deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://ftp.de.debian.org/debian bookworm main contrib
        deb-src http://ftp.de.debian.org/debian bookworm main
          deb http://security.debian.org/debian-security bookworm-security main # security

        deb http://broken.example.org
        """)
    #expect(entries == [
        .init(uri: "http://ftp.de.debian.org/debian", suites: ["bookworm"], components: ["main", "contrib"]),
        .init(uri: "http://security.debian.org/debian-security", suites: ["bookworm-security"], components: ["main"]),
    ])
}

@Test func sourcesAreReadInAptsOrderAndGiveTheMirrorAndDebLinesOfASuite() {
    let tree = TemporaryTree()
    tree.file("apt/sources.list", "deb http://mirror.example.org/debian bookworm main\n")
    tree.file("apt/sources.list.d/debian.sources", """
        Types: deb
        URIs: http://deb.debian.org/debian
        Suites: bookworm bookworm-updates
        Components: main

        Types: deb
        URIs: http://deb.debian.org/debian-security
        Suites: bookworm-security
        Components: main non-free-firmware
        """)
    tree.file("apt/sources.list.d/other.list.disabled", "deb http://disabled.example.org/debian bookworm main\n")
    let sources = AptSources.load(from: tree.absolute("apt"))
    #expect(sources.mirror(for: "bookworm") == "http://mirror.example.org/debian", "sources.list comes first")
    #expect(sources.mirror(for: "trixie") == nil)
    #expect(sources.debLines(for: "bookworm") == [
        "deb http://mirror.example.org/debian bookworm main",
        "deb http://deb.debian.org/debian bookworm-updates main",
        "deb http://deb.debian.org/debian-security bookworm-security main non-free-firmware",
    ])
    #expect(AptSources.load(from: tree.absolute("nowhere")).entries.isEmpty)
}

// MARK: The builder's command line

private let hostSources = AptSources(entries: [
    .init(uri: "http://deb.debian.org/debian", suites: ["bookworm", "bookworm-updates"], components: ["main"]),
    .init(uri: "http://deb.debian.org/debian-security", suites: ["bookworm-security"], components: ["main"]),
])

private func installed(_ name: String) -> String? { "/usr/bin/\(name)" }

private let namespaces = ["/usr/bin/unshare", "--mount", "--propagation", "private", "--pid", "--fork",
                          "--kill-child", "--"]

@Test func mmdebstrapInstallsSystemdFromTheHostsArchiveInNamespacesOfItsOwn() throws {
    let builder = try Builder.resolve(BuildRequest(name: "web", method: .mmdebstrap), sources: hostSources,
                                      locate: installed)
    #expect(builder.arguments(target: "/vservers/.web.build-abcdef/root") == namespaces + [
        "/usr/bin/mmdebstrap", "--variant=minbase", "--include=systemd-sysv,dbus", "--format=directory", "bookworm",
        "/vservers/.web.build-abcdef/root",
        "deb http://deb.debian.org/debian bookworm main",
        "deb http://deb.debian.org/debian bookworm-updates main",
        "deb http://deb.debian.org/debian-security bookworm-security main",
    ])
    #expect(builder.summary == "mmdebstrap bookworm (minbase + systemd-sysv,dbus) from http://deb.debian.org/debian")
}

@Test func debootstrapGetsTheSuitesMirrorOrTheOneGiven() throws {
    var request = BuildRequest(name: "web", method: .debootstrap)
    request.variant = "buildd"
    request.packages = []
    let builder = try Builder.resolve(request, sources: hostSources, locate: installed)
    #expect(builder.arguments(target: "/t") == namespaces + [
        "/usr/bin/debootstrap", "--variant=buildd", "bookworm", "/t", "http://deb.debian.org/debian",
    ])
    request.mirror = "http://local.example.org/debian"
    request.suite = "trixie"
    #expect(try Builder.resolve(request, sources: hostSources, locate: installed).arguments(target: "/t").suffix(3)
            == ["trixie", "/t", "http://local.example.org/debian"])
}

@Test func aTarballIsUnpackedWithNumericOwnersAndExtendedAttributes() throws {
    let tree = TemporaryTree()
    let archive = tree.file("root.tar.zst", "not really")
    let builder = try Builder.resolve(BuildRequest(name: "web", method: .tarball(archive)), sources: hostSources,
                                      locate: installed)
    #expect(builder.arguments(target: "/t") == [
        "/usr/bin/tar", "--extract", "--file=\(archive)", "--preserve-permissions", "--numeric-owner", "--xattrs",
        "--xattrs-include=*", "--directory", "/t",
    ])
    #expect(builder.summary == "unpacking \(archive)")
}

@Test func aBuilderThatCannotRunIsRefusedWithWhatToDo() {
    #expect(throws: BuildError.self) {
        try Builder.resolve(BuildRequest(name: "web", method: .tarball("/nonexistent/root.tar")),
                            sources: hostSources, locate: installed)
    }
    do {
        _ = try Builder.resolve(BuildRequest(name: "web", method: .mmdebstrap), sources: hostSources) { _ in nil }
        Issue.record("no mmdebstrap, yet resolved")
    } catch {
        #expect(error.message == "mmdebstrap not found in PATH (apt-get install mmdebstrap)")
    }
    var request = BuildRequest(name: "web", method: .debootstrap)
    request.suite = "sid"
    do {
        _ = try Builder.resolve(request, sources: hostSources, locate: installed)
        Issue.record("no archive for sid, yet resolved")
    } catch {
        #expect(error.message.hasPrefix("no Debian archive for sid in /etc/apt/sources.list"), "\(error)")
    }
}

@Test func progressPhasesComeFromTheBuildersInfoLines() throws {
    let mmdebstrap = try Builder.resolve(BuildRequest(name: "web", method: .mmdebstrap), sources: hostSources,
                                         locate: installed)
    let lines = [
        "I: chroot architecture amd64 is equal to the host's architecture", "I: running apt-get update...",
        "Get:1 http://deb.debian.org/debian bookworm InRelease", "I: downloading packages with apt...",
        "I: extracting archives...", "I: installing essential packages...",
        "I: installing remaining packages inside the chroot...", "I: cleaning package lists and apt cache...",
        "E: installing packages failed",
    ]
    #expect(lines.map(mmdebstrap.phase) == [
        nil, "updating package lists", nil, "downloading packages", "extracting packages", "installing packages",
        "installing packages", "cleaning up", nil,
    ])
    let debootstrap = try Builder.resolve(BuildRequest(name: "web", method: .debootstrap), sources: hostSources,
                                          locate: installed)
    #expect([
        "I: Retrieving InRelease", "I: Validating Packages", "I: Retrieving libacl1 2.3.1-3",
        "I: Extracting base-files...", "I: Installing core packages...", "I: Configuring dpkg...",
        "I: Base system installed successfully.",
    ].map(debootstrap.phase) == [
        "updating package lists", "updating package lists", "downloading packages", "extracting packages",
        "installing packages", "installing packages", nil,
    ])
}

@Test func theBuilderGetsACleanEnvironmentWithTheCallersProxy() {
    let caller = ["http_proxy": "http://proxy:3128", "HOME": "/root", "LD_PRELOAD": "/evil.so"]
    #expect(Builder.environment { caller[$0] } == [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C.UTF-8",
        "DEBIAN_FRONTEND=noninteractive", "http_proxy=http://proxy:3128",
    ])
}

// MARK: Checks before any work

@Test func theRootDefaultsToVServersNameAndTheConfigNamesTheCommand() {
    var request = BuildRequest(name: "web", method: .mmdebstrap)
    #expect(request.rootPath == "/vservers/web")
    #expect(request.madeBy == "vserverctl build web --method mmdebstrap --suite bookworm --variant minbase "
            + "--include systemd-sysv,dbus")
    request.root = "/srv/guests/web"
    request.userNamespace = true
    #expect(request.newVServer.root == "/srv/guests/web" && request.newVServer.userNamespace)
}

@Test func aBuildIsRefusedBeforeAnyWorkWhenNameContextOrRootAreTaken() throws {
    let fixture = ConfigFixture()
    fixture.vserver("db", "context = 1042\n")
    let roots = fixture.tree.directory("roots")
    chmod(roots, 0o700)
    let archive = fixture.tree.file("root.tar", "")
    func plan(_ name: String, context: Int? = nil, root: String? = nil) throws(BuildError) -> VServerBuild.Plan {
        var request = BuildRequest(name: name, method: .tarball(archive))
        request.configDirectory = fixture.etc
        request.context = context
        request.root = root ?? "\(roots)/\(name)"
        return try VServerBuild.Plan(request, locate: installed, environment: fixture.environment)
    }
    func refusal(_ body: () throws(BuildError) -> VServerBuild.Plan) -> String? {
        do { _ = try body() } catch { return error.message }
        return nil
    }
    let before = FileSystem.entries(fixture.etc)
    #expect(refusal { () throws(BuildError) in try plan("db") } == "\(fixture.etc)/db: already exists")
    #expect(refusal { () throws(BuildError) in try plan("web", context: 1042) }
            == "--context: context 1042 is used by vserver \"db\"")
    fixture.tree.directory("roots/taken")
    #expect(refusal { () throws(BuildError) in try plan("web", root: "\(roots)/taken") }?
        .hasPrefix("\(roots)/taken already exists") == true)
    #expect(refusal { () throws(BuildError) in try plan("web", root: "\(roots)/missing/web") }
            == "\(roots)/missing does not exist")
    #expect(refusal { () throws(BuildError) in try plan("Web!") }?.contains("Web!") == true)
    #expect(FileSystem.entries(fixture.etc) == before && FileSystem.entries(roots) == ["taken"], "nothing made")

    let accepted = try plan("web")
    #expect(accepted.root == "\(roots)/web" && accepted.parent == roots && accepted.baseName == "web")
    #expect(!accepted.makesParent)
}

// MARK: The config it writes

@Test func theConfigOfABuiltVServerSaysUserNamespaceAndLoadsAsSuch() throws {
    let fixture = ConfigFixture()
    let root = fixture.root("web")
    let new = ConfigWriter.NewVServer(name: "web", root: root, userNamespace: true,
                                      madeBy: "vserverctl build web --method tarball /srv/web.tar")
    try ConfigWriter.checkNew(new, configDirectory: fixture.etc, environment: fixture.environment)
    let written = try fixture.create(new)
    #expect(fixture.text("etc/web/vserver.toml") == """
        # Made by `vserverctl build web --method tarball /srv/web.tar`.
        # Every other key has its default; the example in vserverd's config/ directory lists them all.
        # `vserverctl check web` validates this file.

        context = 1000
        root = "\(root)"

        [namespaces]
        user = true

        """)
    let loaded = try #require(fixture.config("web"))
    // No stop-signal: init-style "auto" stops the systemd it finds with SIGRTMIN+3.
    #expect(loaded.userNamespace && loaded.stopSignal == nil && written.config.userNamespace)
}

// MARK: Preparing the guest

@Test func theGuestGetsItsHostnameAndAFreshMachineID() throws {
    let tree = TemporaryTree()
    let root = tree.directory("root")
    tree.file("root/etc/hostname", "builder-host\n")
    tree.file("root/etc/machine-id", "")
    tree.file("root/usr/lib/systemd/systemd", "")
    tree.symlink("root/sbin", to: "usr/sbin")
    tree.symlink("root/usr/sbin/init", to: "../lib/systemd/systemd")

    let findings = try GuestPreparation.prepare(root: root, hostname: "web.example.org")
    #expect(findings.systemdInit)
    #expect(tree.read("root/etc/hostname") == "web.example.org\n")
    let id = try #require(tree.read("root/etc/machine-id"))
    #expect(id.count == 33 && id.hasSuffix("\n"))
    #expect(id.dropLast().allSatisfy { "0123456789abcdef".contains($0) }, "\(id)")
    #expect(Array(id)[12] == "4", "a version 4 UUID, as systemd makes them")
    #expect(tree.mode("root/etc/machine-id") == 0o444 && tree.mode("root/etc/hostname") == 0o644)

    _ = try GuestPreparation.prepare(root: root, hostname: "web")
    #expect(tree.read("root/etc/machine-id") != id, "every build gets its own")
    #expect(FileSystem.entries(tree.absolute("root/etc")) == ["hostname", "machine-id"], "no temporary files")
}

@Test func symlinksInTheTreeNeverLeadPreparationOutOfIt() throws {
    let tree = TemporaryTree()
    let outside = tree.directory("outside")
    let hostFile = tree.file("outside/hostname", "the host's\n")
    // /etc/hostname pointing out of the tree is replaced, not written through.
    let root = tree.directory("root")
    tree.directory("root/etc")
    tree.symlink("root/etc/hostname", to: hostFile)
    tree.file("root/sbin/init", "sysvinit")
    #expect(try GuestPreparation.prepare(root: root, hostname: "web").systemdInit == false)
    #expect(tree.read("outside/hostname") == "the host's\n")
    #expect(tree.read("root/etc/hostname") == "web\n")

    // /etc itself pointing out of the tree resolves inside it, where there is nothing.
    let other = tree.directory("other")
    tree.symlink("other/etc", to: outside)
    #expect(throws: SystemError.self) { try GuestPreparation.prepare(root: other, hostname: "web") }
    #expect(FileSystem.entries(outside) == ["hostname"])
}

// MARK: Processes and signals

@Test(.timeLimit(.minutes(2))) func aChildsOutputLinesAndExitStatusComeBackThroughThePidfd() throws {
    let child = try ChildProcess(arguments: ["/bin/sh", "-c", "echo one; echo two >&2; exit 3"], environment: [],
                                 directory: "/")
    var seen: [String] = []
    var output = LineCollector(keep: 1) { seen.append($0) }
    #expect(try child.wait(lines: &output) == .exited(3))
    #expect(seen == ["one", "two"] && output.lastLines == ["two"])
}

@Test(.timeLimit(.minutes(2))) func signallingAChildsGroupReachesWhatItStarted() throws {
    let child = try ChildProcess(arguments: ["/bin/sh", "-c", "sleep 600 & echo $!; wait"], environment: [],
                                 directory: nil)
    var output = LineCollector(keep: 1) { _ in }
    let started = ContinuousClock.now + .seconds(10)
    while output.lastLines.isEmpty && ContinuousClock.now < started {
        #expect(try child.wait(until: .now + .milliseconds(20), lines: &output) == .deadlinePassed)
    }
    let grandchild = try #require(output.lastLines.first.flatMap { pid_t($0) })
    child.signalGroup(SIGKILL)
    #expect(try child.wait(lines: &output) == .exited(128 + Int(SIGKILL)))
    // Its sleep was killed too; once its parent (the reaper) has collected it, it is gone.
    let deadline = ContinuousClock.now + .seconds(10)
    while kill(grandchild, 0) == 0 && ContinuousClock.now < deadline { usleep(5_000) }
    #expect(kill(grandchild, 0) != 0)
}

@Test(.timeLimit(.minutes(2))) func aSignalIsHeldForTheWorkToStopAtAndAnIgnoredOneStaysIgnored() throws {
    // raise() signals this thread only, and the mask is the thread's: other tests run on other threads. SIGUSR1 and
    // SIGUSR2 stand in for SIGINT and SIGTERM, whose dispositions belong to the test runner.
    var before = sigset_t()
    sigprocmask(SIG_SETMASK, nil, &before)
    let previous = signal(SIGHUP, SIG_IGN)
    defer { signal(SIGHUP, previous) }
    do {
        let interruption = try Interruption(signals: [SIGUSR1, SIGUSR2, SIGHUP])
        #expect(interruption.pending == nil)
        raise(SIGHUP)
        #expect(interruption.pending == nil, "nohup stays nohup")
        raise(SIGUSR1)
        raise(SIGUSR2)
        #expect(interruption.pending == SIGUSR1)
        #expect(interruption.pending == SIGUSR1, "the first one counts")
    }
    var after = sigset_t()
    sigprocmask(SIG_SETMASK, nil, &after)
    #expect(sigismember(&after, SIGUSR1) == sigismember(&before, SIGUSR1))
    #expect(sigismember(&after, SIGUSR2) == sigismember(&before, SIGUSR2))
    var pending = sigset_t()
    sigpending(&pending)
    #expect(sigismember(&pending, SIGUSR2) == 0, "the later one was dropped, not left to strike after")
}

extension TemporaryTree {
    fileprivate func read(_ relative: String) -> String? { try? FileSystem.readText(absolute(relative)) }

    fileprivate func mode(_ relative: String) -> mode_t? {
        (try? FileSystem.status(absolute(relative)))?.flatMap { $0.permissions }
    }
}
