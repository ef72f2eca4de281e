import Foundation
import ReplicaTestSupport
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

    @Test("store stats and reopen survive index rows out of order (the index is rebuilt, no trap)")
    func outOfOrderIndexRows() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try cli.write("v1", Self.data(3 << 20, seed: 3))
        #expect(try cli.run(["store", "init", "S", "--capacity", "16M"]).status == 0)
        #expect(try cli.run(["compress", "--store", "S", "-o", "v1.rpl", "v1"]).status == 0)
        let index = cli.url("S/index").path
        #expect(try IndexSnapshotEditor.rowCount(index) >= 2)
        try IndexSnapshotEditor.edit(index) { get, set in
            let first = get(0, .number)
            set(0, .number, get(1, .number))
            set(1, .number, first)
            set(2, .liveBytes, UInt64(bitPattern: -7))
        }
        let stats = try cli.run(["store", "stats", "S"])
        #expect(stats.status == 0 && !stats.signaled, "\(stats.stderr)")
        #expect(try cli.run(["store", "stats", "S"]).status == 0)
        #expect(try cli.run(["store", "verify", "S"]).status == 0)
        #expect(try cli.run(["decompress", "--store", "S", "-o", "v1.out", "v1.rpl"]).status == 0)
        #expect(try cli.read("v1.out") == Self.data(3 << 20, seed: 3))
    }

    @Test("info --store and test --store open the store read-only: no byte of it changes")
    func readOnlyStoreForInfoAndTest() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try cli.write("v1", Self.data(1 << 20, seed: 4))
        #expect(try cli.run(["compress", "--store", "S", "-o", "v1.rpl", "v1"]).status == 0)
        func snapshot() throws -> [String: [UInt8]] {
            var result: [String: [UInt8]] = [:]
            for name in FileManager.default.subpaths(atPath: cli.url("S").path) ?? [] {
                var isDirectory: ObjCBool = false
                let url = cli.url("S/" + name)
                if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue {
                    result[name] = [UInt8](try Data(contentsOf: url))
                }
            }
            return result
        }
        let before = try snapshot()
        let test = try cli.run(["test", "--store", "S", "v1.rpl"])
        #expect(test.status == 0, "\(test.stderr)")
        let info = try cli.run(["info", "--store", "S", "v1.rpl"])
        #expect(info.status == 0, "\(info.stderr)")
        #expect(try snapshot() == before)
    }
}
