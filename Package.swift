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
        // libsystemd: sd_notify, sd_listen_fds, sd_journal_sendv, sd-bus.
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        // Varlink framing, JSON, the interface descriptions and a blocking client. No NIO: vserverctl links it.
        .target(name: "VServerProtocol"),
        .target(
            name: "VServerCore",
            dependencies: [
                "CVServerSpawn", "VServerProtocol",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "vserverd",
            dependencies: [
                "VServerCore", "VServerProtocol", "CSystemd",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "vserverctl",
            dependencies: [
                "VServerCore", "VServerProtocol", "CVServerSpawn",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // Fully static: no dynamic loader, no symbol lookups, no relocated pages at start-up. `vserverctl list`
            // takes ~1 ms instead of 2.6 ms with --static-swift-stdlib alone (README, Performance). The two
            // libraries are what ArgumentParser's FoundationEssentials needs when the build itself is not
            // --static-swift-stdlib (debug builds, tests); that build links them on its own.
            linkerSettings: [
                .unsafeFlags(["-static-executable", "-Xlinker", "-l_FoundationCShims", "-Xlinker", "-l_FoundationCollections"])
            ]
        ),
        // PID 1 of a vserver that runs `command`: reaps and forwards signals. Static, so it runs from a
        // sealed memfd inside any guest without a loader (docs/ARCHITECTURE.md §7).
        .executableTarget(
            name: "vserverd-init",
            linkerSettings: [.unsafeFlags(["-static-executable", "-Xlinker", "--gc-sections", "-Xlinker", "-s"])]
        ),
        .testTarget(name: "VServerCoreTests", dependencies: ["VServerCore", "VServerProtocol"]),
        .testTarget(name: "IntegrationTests", dependencies: ["VServerProtocol"]),
        // The daemon's own logic that needs no systemd: journal fields, JOURNAL_STREAM, sd_notify texts.
        .testTarget(name: "VServerDaemonTests", dependencies: ["vserverd"]),
    ]
)
