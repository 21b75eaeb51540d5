// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "vserverd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "vserverd", targets: ["vserverd"]),
        .executable(name: "vserverctl", targets: ["vserverctl"]),
        .executable(name: "vserverd-init", targets: ["vserverd-init"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // The only code that runs between clone and exec, plus thin wrappers for syscalls Swift lacks.
        .target(name: "CVServerSpawn"),
        // The btrfs ioctls behind disk limits (subvolumes, qgroups) and the file ioctls behind clone, hashify and du
        // (FICLONE, FIEMAP, FIDEDUPERANGE): ioctl(2) is variadic, so Swift cannot call it.
        .target(name: "CBtrfs"),
        // libsystemd: sd_notify, sd_listen_fds, sd_journal_sendv, sd-bus.
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        // Varlink framing, JSON, the interface descriptions and a blocking client. No NIO: vserverctl links it.
        .target(name: "VServerProtocol"),
        // The configuration (vserver.toml, util-vserver trees), the host-file helpers under it and SystemError:
        // what the client links without the daemon (no Manager, no swift-log, no NIO).
        .target(name: "VServerConfig", dependencies: ["CBtrfs", "CVServerSpawn"]),
        // `vserverctl build`: Debian roots with mmdebstrap/debootstrap, run by the client.
        .target(name: "VServerBuild", dependencies: ["VServerConfig", "CVServerSpawn"]),
        // A generic Varlink server on SwiftNIO: framing, peers' credentials, per-uid connection quota.
        .target(
            name: "VarlinkServer",
            dependencies: [
                "VServerProtocol",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // vserverd's side of systemd: the journal, sd_notify, socket activation, scopes over D-Bus.
        .target(
            name: "VServerSystemd",
            dependencies: [
                "CSystemd", "VServerCore", "VServerConfig", "VServerProtocol", "VarlinkServer",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The daemon's logic: the Manager actor, starting and stopping guests, hooks, cgroups, network.
        .target(
            name: "VServerCore",
            dependencies: [
                "CVServerSpawn", "VServerConfig", "VServerProtocol", "VServerBuild",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "vserverd",
            dependencies: [
                "VServerCore", "VServerConfig", "VServerProtocol", "VServerSystemd", "VarlinkServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // vserverctl's own logic that is not argument parsing (tested on its own: the executable links statically).
        .target(name: "VServerCLI", dependencies: ["VServerProtocol"]),
        .executableTarget(
            name: "vserverctl",
            dependencies: [
                "VServerCLI", "VServerConfig", "VServerBuild", "VServerProtocol", "CVServerSpawn",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // Fully static: no dynamic loader, no symbol lookups, no relocated pages at start-up. `vserverctl list`
            // takes ~1 ms instead of 2.6 ms with --static-swift-stdlib alone (README, Performance). The two
            // libraries are what ArgumentParser's FoundationEssentials needs when the build itself is not
            // --static-swift-stdlib (debug builds, tests); that build links them on its own.
            // scripts/sanitize builds it dynamic: a sanitizer's runtime does not link into a static executable.
            linkerSettings: Context.environment["VSERVERD_SANITIZE"] != nil ? [] : [
                .unsafeFlags(["-static-executable", "-Xlinker", "-l_FoundationCShims", "-Xlinker", "-l_FoundationCollections"])
            ]
        ),
        // PID 1 of a vserver that runs `command`: reaps and forwards signals. Static, so it runs from a
        // sealed memfd inside any guest without a loader (docs/ARCHITECTURE.md §7).
        .executableTarget(
            name: "vserverd-init",
            // scripts/sanitize leaves it out: it runs inside guests, where no sanitizer runtime is.
            cSettings: Context.environment["VSERVERD_SANITIZE"] == nil ? [] : [.unsafeFlags(["-fno-sanitize=all"])],
            linkerSettings: [.unsafeFlags(["-static-executable", "-Xlinker", "--gc-sections", "-Xlinker", "-s"]
                                          + (Context.environment["VSERVERD_SANITIZE"] == nil ? []
                                             : ["-Xclang-linker", "-fno-sanitize=all"]))]
        ),
        // What the unit tests share: temporary trees and config fixtures.
        // `swift build -c release` builds it too, where the Testing module is not: its Testing parts are debug only.
        .target(
            name: "VServerTestSupport", dependencies: ["VServerConfig"], path: "Tests/Support",
            swiftSettings: [.define("TESTING_AVAILABLE", .when(configuration: .debug))]),
        // Coverage-guided fuzzers (scripts/fuzz): a normal build replays inputs, `-D FUZZING` with
        // `-sanitize=fuzzer` hands them to libFuzzer (whose driver the C target calls).
        .target(name: "CFuzzing", path: "Tests/Fuzz/CFuzzing"),
        .executableTarget(
            name: "vserverd-fuzz",
            dependencies: [
                "CFuzzing", "VServerConfig", "VServerProtocol", "VServerCore", "VarlinkServer",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            path: "Tests/Fuzz/Harnesses"
        ),
        // Unit tests, one target per library.
        .testTarget(name: "VServerProtocolTests", dependencies: ["VServerProtocol", "VServerTestSupport"]),
        .testTarget(
            name: "VServerConfigTests", dependencies: ["VServerConfig", "VServerBuild", "VServerTestSupport", "CVServerSpawn"]),
        .testTarget(
            name: "VServerCoreTests",
            dependencies: [
                "VServerCore", "VServerConfig", "VServerProtocol", "VServerTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "VarlinkServerTests",
            dependencies: [
                "VarlinkServer", "VServerProtocol", .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]),
        .testTarget(
            name: "VServerSystemdTests",
            dependencies: ["VServerSystemd", "VServerCore", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "VServerCLITests", dependencies: ["VServerCLI", "VServerProtocol"]),
        // Invalid configs and malformed Varlink messages, each with the error a user sees (scripts/fuzz finds more).
        .testTarget(
            name: "ErrorCorpusTests", dependencies: ["VServerConfig", "VServerProtocol", "VServerTestSupport"]),
        // Root tests of the built binaries: real namespaces, mounts, guests, a real Varlink client.
        .testTarget(
            name: "IntegrationTests", dependencies: ["VServerConfig", "VServerProtocol", "VServerTestSupport"]),
    ]
)
