// swift-tools-version: 6.2
//
// Replica: a content-defined deduplicating codec and WAN-optimization engine.
//
// ReplicaTunnel secures peer links with mutual TLS 1.3 (swift-nio-ssl, which compiles BoringSSL: a cold build
// takes several minutes) and makes certificates with swift-certificates and swift-crypto.
//
// Only ReplicaCore imports the C libraries (liblz4, libzstd, libxxhash from Debian's -dev packages), with
// `internal import`, so no C type reaches the public API; replica-bench also calls them directly for its baselines. No target passes unsafe compiler flags: OEM partners depend on us.
import PackageDescription

let upcomingFeatures: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Replica",
    // Synchronization's Mutex needs macOS 15; Linux (Glibc or the static Musl SDK) has no minimum.
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "ReplicaCore", targets: ["ReplicaCore"]),
        .library(name: "ReplicaTunnel", targets: ["ReplicaTunnel"]),
        // The C ABI (include/replica.h, docs/C-API.md): libreplica-c.so and libreplica-c-static.a (the name
        // `replica` is the CLI's).
        .library(name: "replica-c", type: .dynamic, targets: ["ReplicaC"]),
        .library(name: "replica-c-static", type: .static, targets: ["ReplicaC"]),
        .executable(name: "replica", targets: ["ReplicaCLI"]),
        .executable(name: "replica-bench", targets: ["ReplicaBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.0"),
        // `swift package generate-documentation` (make docs). A plugin only: nothing of it is linked into a
        // product, but a partner's resolve fetches it and swift-docc-symbolkit (docs/EMBEDDING.md).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"]), .brew(["zstd"])]),
        .systemLibrary(
            name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"]), .brew(["lz4"])]),
        .systemLibrary(
            name: "CXXHash", pkgConfig: "libxxhash", providers: [.apt(["libxxhash-dev"]), .brew(["xxhash"])]),
        .target(
            name: "ReplicaCore",
            dependencies: [
                "CZstd", "CLZ4", "CXXHash",
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: upcomingFeatures
        ),
        // @_cdecl functions behind Sources/ReplicaC/include/replica.h; no Swift type crosses the boundary.
        .target(
            name: "ReplicaC",
            dependencies: ["ReplicaCore"],
            exclude: ["include", "replica.pc.in"],
            swiftSettings: upcomingFeatures
        ),
        // replica-bench's baseline: the plain C FastCDC loop (no special flags; `make bench` also builds the same
        // file with cc -O3 -march=native for the bench to load).
        .target(name: "CFastCDCBaseline"),
        // glibc's mallopt, which Swift's Glibc module does not import, for the tunnel daemon's heap settings.
        .target(name: "CHeapTuning"),
        .target(
            name: "ReplicaTunnel",
            dependencies: [
                "ReplicaCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: upcomingFeatures
        ),
        .executableTarget(
            name: "ReplicaCLI",
            dependencies: [
                "CHeapTuning",
                "ReplicaCore",
                "ReplicaTunnel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: upcomingFeatures
        ),
        .executableTarget(
            name: "ReplicaBench",
            dependencies: [
                "ReplicaCore", "CLZ4", "CXXHash", "CFastCDCBaseline",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: upcomingFeatures
        ),
        .executableTarget(
            name: "StoreCrashChild",
            dependencies: ["ReplicaCore"],
            path: "Tests/StoreCrashChild",
            swiftSettings: upcomingFeatures
        ),
        .target(
            name: "ReplicaTestSupport",
            dependencies: ["ReplicaCore"],
            path: "Tests/ReplicaTestSupport",
            swiftSettings: upcomingFeatures
        ),
        .testTarget(
            name: "ReplicaCoreTests",
            dependencies: ["ReplicaCore", "ReplicaTestSupport", "CFastCDCBaseline"],
            resources: [.copy("Fixtures")],
            swiftSettings: upcomingFeatures
        ),
        .testTarget(
            name: "ReplicaCLITests",
            dependencies: ["ReplicaCore", "ReplicaTestSupport"],
            swiftSettings: upcomingFeatures
        ),
        .testTarget(
            name: "ReplicaTunnelTests",
            dependencies: [
                "ReplicaTunnel", "ReplicaCore", "ReplicaTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcomingFeatures
        ),
    ]
)
