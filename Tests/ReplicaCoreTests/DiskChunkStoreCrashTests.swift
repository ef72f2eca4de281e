import Foundation
import ReplicaCore
import ReplicaTestSupport
import Testing

/// The crash test: a child process (`Tests/StoreCrashChild`) writes to a store and is killed with SIGKILL at a
/// random moment, which may fall in a write, an eviction, a compaction or the child's own recovery. After every
/// round the store must open, verify clean, and hold every chunk the child acknowledged as durable, byte for byte
/// (and none it acknowledged as removed).
@Suite("DiskChunkStore: kill -9 at random moments", .serialized)
struct DiskChunkStoreCrashTests {
    /// 20 rounds per mode in CI; `REPLICA_CRASH_ROUNDS=N` runs N per mode for a soak.
    static let roundsPerMode = max(
        2, ProcessInfo.processInfo.environment["REPLICA_CRASH_ROUNDS"].flatMap { Int($0) } ?? 20)

    /// The same chunk contents as the child's `chunk(round:index:)`.
    static func chunk(round: Int, index: Int) -> [UInt8] {
        let size = 256 + (index &* 7919 &+ round &* 104_729) % 16_128
        return (0..<size).map {
            UInt8(truncatingIfNeeded: ($0 &* 31) ^ (index &* 131) ^ (round &* 7) ^ ($0 >> 7 &* index))
        }
    }

    /// The same removal rule as the child's `isRemoved(_:mode:)`.
    static func isRemoved(_ index: Int, mode: String) -> Bool {
        mode == "compact" ? index % 4 != 0 : mode == "plain" && index % 5 == 1
    }

    static var childPath: String {
        let executable =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
        // On Linux the runner is `.build/<config>/<Package>PackageTests.xctest`; on macOS it sits deeper in a bundle.
        for _ in 0..<4
        where !FileManager.default.fileExists(atPath: directory.appendingPathComponent("StoreCrashChild").path) {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent("StoreCrashChild").path
    }

    @Test("the store survives SIGKILL in writes, evictions and compactions", arguments: ["plain", "evict", "compact"])
    func killRounds(mode: String) throws {
        let child = Self.childPath
        try #require(
            FileManager.default.isExecutableFile(atPath: child), "build the child first: swift build --build-tests")
        let fixture = StoreFixture()
        var generator = SplitMix64(seed: UInt64(mode.utf8.count))
        var acknowledgedRounds = 0
        var acknowledgedBytes = 0
        for round in 0..<Self.roundsPerMode {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: child)
            process.arguments = [fixture.directory, mode, String(round)]
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            // Odd rounds die at any moment from the start, so some fall in the child's own recovery; even rounds
            // die after the first acknowledgement, in the thick of writing, evicting or compacting.
            var text = ""
            if round % 2 == 0 {
                text = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
            }
            usleep(useconds_t(generator.next() % 200_000))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            text += String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(!text.contains("error"), "child: \(text)")
            let acknowledged =
                text.split(separator: "\n").compactMap { line -> Int? in
                    let words = line.split(separator: " ")
                    return words.count == 3 && words[0] == "ack" ? Int(words[1]) : nil
                }.max() ?? 0
            if acknowledged > 0 && round % 2 == 0 { acknowledgedRounds += 1 }
            acknowledgedBytes += (0..<acknowledged).reduce(0) { $0 + Self.chunk(round: round, index: $1).count }
            try check(fixture, mode: mode, round: round, acknowledged: acknowledged)
        }
        #expect(acknowledgedRounds == Self.roundsPerMode / 2, "every even round is killed after an acknowledgement")
        // Once more was written than the store holds (evict) or than four segments (compact), segments have been
        // removed, so kills could land in evictions and compactions.
        let options = try DiskChunkStore.Options(capacity: nil)
        let store = try DiskChunkStore(directory: fixture.directory, options: options)
        defer { try? store.close() }
        if mode == "evict" && acknowledgedBytes > store.capacity || mode == "compact" && acknowledgedBytes > 1 << 20 {
            #expect(store.segmentPaths.first?.hasSuffix("0000000000000001.seg") == false)
        }
    }

    private func check(_ fixture: StoreFixture, mode: String, round: Int, acknowledged: Int) throws {
        let options = try DiskChunkStore.Options(capacity: nil, compression: mode == "plain" ? .lz4 : .none)
        let store = try DiskChunkStore(directory: fixture.directory, options: options)
        defer { try? store.close() }
        let report = try store.verify()
        #expect(report.isClean, "round \(round): \(report.damaged.prefix(3))")
        #expect(store.storedBytes <= store.capacity)
        // In the evicting store only the most recent writes are sure to be held: a quarter of the capacity's worth.
        var budget = mode == "evict" ? store.capacity / 4 : Int.max
        for index in (0..<acknowledged).reversed() {
            let bytes = Self.chunk(round: round, index: index)
            budget -= bytes.count + 64
            if budget < 0 { break }
            let fingerprint = Fingerprinter().fingerprint(bytes)
            let removed = Self.isRemoved(index, mode: mode) && index + 3 < acknowledged
            let read = try store.get(fingerprint)
            if removed {
                #expect(read == nil, "round \(round): chunk \(index) was removed")
            } else if !Self.isRemoved(index, mode: mode) {
                #expect(read == bytes, "round \(round): chunk \(index) of \(acknowledged) acknowledged")
            }
        }
    }
}
