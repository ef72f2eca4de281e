import Foundation
import Testing

/// `replica store` and `--store DIR`, end to end through the binary.
@Suite("replica store")
struct StoreCommandTests {
    static func data(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
    }

    @Test("init, a warm transfer through --store, stats, verify, gc, compact and purge, with --json")
    func lifecycle() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let first = Self.data(1 << 20, seed: 1)
        let second = Array(first[0..<400_000]) + Array("an edit".utf8) + Array(first[400_000...])
        try cli.write("v1", first)
        try cli.write("v2", second)
        #expect(try cli.run(["store", "init", "A", "--capacity", "64M"]).status == 0)
        let initB = try cli.run(["store", "init", "--json", "B"])
        #expect(initB.status == 0 && initB.stdoutText.hasPrefix("{\"storeID\":"))
        #expect(try cli.run(["store", "init", "A"]).stderr.contains("is already a Replica store"))
        for step in [
            ["compress", "--store", "A", "-o", "v1.rpl", "v1"],
            ["decompress", "--store", "B", "-o", "v1.out", "v1.rpl"],
            ["compress", "--store", "A", "-o", "v2.rpl", "v2"],
            ["decompress", "--store", "B", "-o", "v2.out", "v2.rpl"],
        ] {
            let outcome = try cli.run(step)
            #expect(outcome.status == 0, "\(step): \(outcome.stderr)")
        }
        #expect(try cli.read("v2.out") == second)
        #expect(try cli.read("v2.rpl").count * 10 < first.count)
        let stats = try cli.run(["store", "stats", "--json", "B"])
        #expect(stats.status == 0 && stats.stdoutText.contains("\"chunks\":"))
        #expect(try cli.run(["store", "verify", "B"]).stdoutText.contains("clean"))
        #expect(try cli.run(["store", "gc", "--json", "A"]).stdoutText.contains("\"segmentsRemoved\":"))
        #expect(try cli.run(["store", "compact", "A"]).status == 0)
        #expect(try cli.run(["store", "purge", "--new-id", "B"]).status == 0)
        let missing = try cli.run(["decompress", "--store", "B", "-o", "again.out", "v2.rpl"])
        #expect(missing.status == 1 && missing.stderr.contains("lacks"))
        #expect(!cli.exists("again.out"))
    }

    @Test("verify exits 1 on a damaged store; a non-store is refused")
    func damage() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try cli.write("v1", Self.data(300_000, seed: 2))
        #expect(try cli.run(["compress", "--store", "S", "-o", "v1.rpl", "v1"]).status == 0)
        let segment = cli.url("S/segments/0000000000000001.seg")
        var bytes = [UInt8](try Data(contentsOf: segment))
        bytes[5000] ^= 0xFF
        try Data(bytes).write(to: segment)
        let verify = try cli.run(["store", "verify", "--json", "S"])
        #expect(verify.status == 1 && verify.stdoutText.contains("\"clean\":false"))
        #expect(try cli.run(["store", "compact", "S"]).status == 0)
        #expect(try cli.run(["store", "verify", "S"]).status == 0)
        let none = try cli.run(["store", "stats", "nowhere"])
        #expect(none.status == 1 && none.stderr.contains("is not a Replica store"))
    }
}
