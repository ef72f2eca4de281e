// swift-tools-version: 6.1
//
// Replica's regression gate: ordo-one/benchmark suites over ReplicaCore.
//
// A nested package, as swift-nio's `Benchmarks/` is, so the benchmark plugin, its dependencies and the malloc
// interposer stay out of the library's dependency graph and out of `make test`. Run it with `make bench-gate`
// (see docs/PERFORMANCE.md). Only the `MallocInterposer` trait is enabled: it counts allocations with nothing to
// install, and the default `RuntimeInterposer` trait needs a package this project does not mirror.
//
// The root package is named explicitly (`name: "Replica"`): a path dependency's identity is otherwise its folder's
// name, which depends on where the repository was cloned.
import PackageDescription

let package = Package(
    name: "ReplicaBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "Replica", path: "../"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "ReplicaBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "ReplicaCore", package: "Replica"),
            ],
            path: "ReplicaBenchmarks",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)
