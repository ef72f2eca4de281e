// swift-tools-version: 6.1
//
// Replica's libFuzzer harnesses (see docs/FUZZING.md). A nested package, as Benchmarks/ is, so fuzzing flags and
// harness code never reach the library's users. Build with `make fuzz-build`, which runs
//
//   swift build -c release --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address
//
// (`--sanitize=fuzzer --sanitize=address` would build without coverage: the second flag replaces the first).
// Every harness is an executable target whose only entry point is `LLVMFuzzerTestOneInput`; libFuzzer brings
// `main`. Harnesses reach ReplicaCore, ReplicaTunnel and the C ABI through their public API only.
import PackageDescription

let settings: [SwiftSetting] = [.swiftLanguageMode(.v6)]

func harness(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .executableTarget(name: name, dependencies: ["FuzzSupport"] + dependencies, swiftSettings: settings)
}

let core = Target.Dependency.product(name: "ReplicaCore", package: "Replica")

let package = Package(
    name: "ReplicaFuzz",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "Replica", path: "../"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
    ],
    targets: [
        // XXH3-64 for recomputing checks, LZ4 for hand-made streams, and allocation accounting through the sanitizer's allocator hooks.
        .target(name: "CFuzzSupport", linkerSettings: [.linkedLibrary("xxhash"), .linkedLibrary("lz4")]),
        .target(name: "FuzzSupport", dependencies: ["CFuzzSupport", core], swiftSettings: settings),
        harness("FuzzDecoderRaw", [core]),
        harness("FuzzDecoderChecked", [core]),
        harness("FuzzDecoderMemory", [core]),
        harness("FuzzStore", [core]),
        harness("FuzzTunnelFrame", [
            .product(name: "ReplicaTunnel", package: "Replica"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        harness("FuzzCAPI", [.product(name: "replica-c-static", package: "Replica")]),
    ]
)
