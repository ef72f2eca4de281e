import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// What a memory cap sizes (docs/OPERATIONS.md, "Memory cap"), read from the `memory cap` line a server logs at
/// start, for caps on either side of the floors.
@Suite("sizing from the memory cap", .serialized, .enabled(if: DaemonProcess.canDropPrivileges))
struct MemoryCapTests {
    /// The expected budgets under a cap, worked out by hand from the table in docs/OPERATIONS.md.
    struct Expected: Sendable, CustomStringConvertible {
        let cap: String
        let fields: [String: Int]
        var description: String { cap }
    }

    static let cases: [Expected] = [
        Expected(
            cap: "256M",
            fields: [
                "bytes": 268_435_456, "link_budget": 33_554_432, "stream_window": 1_048_576, "streams": 1024,
                "window": 16_777_216, "decoder_limit": 134_217_728, "reply_queue": 4_194_304,
                "miss_queue": 8_388_608, "known_chunks": 74_898,
                // A store created without --store-capacity: its index (48 B per 8 KiB chunk) fits a quarter.
                "store_capacity": 1_398_101 * 8192,
            ]),
        Expected(
            cap: "64M",
            fields: [
                "link_budget": 8_388_608, "stream_window": 1_048_576, "streams": 256, "window": 4_194_304,
                "decoder_limit": 33_554_432, "reply_queue": 1_048_576, "miss_queue": 4_194_304,
                "known_chunks": 18_724, "store_capacity": 349_525 * 8192,
            ]),
        Expected(
            cap: "16M",
            fields: [
                "link_budget": 2_097_152, "stream_window": 262_144, "streams": 64, "window": 1_048_576,
                "decoder_limit": 16_777_216, "reply_queue": 1_048_576, "miss_queue": 4_194_304,
                "known_chunks": 4681, "store_capacity": 87_381 * 8192,
            ]),
    ]

    @Test("budgets, windows, queues and the new store's capacity follow the cap", arguments: cases)
    func budgets(expected: Expected) throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        chmod(cli.directory.path, 0o777)  // the daemon runs as nobody and creates its store here
        let server = try DaemonProcess(
            [
                "tunnel", "server", "--listen", "127.0.0.1:\(try TunnelArguments.freePort())", "--insecure-plaintext", "--admin", "off",
                "--memory-limit", expected.cap, "--store", "store", "--log-format", "json",
            ], name: "server", directory: cli.directory)
        defer { server.stop() }
        let line = try server.waitForLine(matching: #"(\{[^\n]*"memory cap"[^\n]*\})"#)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        for (key, value) in expected.fields {
            #expect((object[key] as? String).flatMap { Int($0) } == value, "\(key) in \(line)")
        }
    }

    @Test("an explicit store capacity whose index outgrows the cap's share is kept, with a warning")
    func oversizedStoreWarns() throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        chmod(cli.directory.path, 0o777)  // the daemon runs as nobody and creates its store here
        let server = try DaemonProcess(
            [
                "tunnel", "server", "--listen", "127.0.0.1:\(try TunnelArguments.freePort())", "--insecure-plaintext", "--admin", "off",
                "--memory-limit", "256M", "--store", "store", "--store-capacity", "20G",
            ], name: "server", directory: cli.directory)
        defer { server.stop() }
        let fits = try server.waitForLine(matching: #"a store of at most (\d+) MiB fits"#)
        #expect(Int(fits) == (1_398_101 * 8192) >> 20)
        let capacity = try server.waitForLine(matching: #"store_capacity=(\d+)"#)
        #expect(Int(capacity) == 20 << 30)
    }
}
