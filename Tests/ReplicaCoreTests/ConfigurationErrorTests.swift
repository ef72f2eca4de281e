import ReplicaCore
import Testing

/// One refused value per check of every checked initialiser, with the code that check must report.
private let refusals: [(name: String, code: ConfigurationError.Code, make: @Sendable () throws -> Void)] = [
    ("average size 32", .averageSizeOutOfRange, { _ = try ChunkerConfiguration(averageSize: 32) }),
    (
        "minimum 8", .minimumSizeTooSmall,
        { _ = try ChunkerConfiguration(minimumSize: 8, averageSize: 1024, maximumSize: 4096) }
    ),
    (
        "minimum above average", .minimumAboveAverage,
        {
            _ = try ChunkerConfiguration(minimumSize: 2048, averageSize: 1024, maximumSize: 4096)
        }
    ),
    (
        "maximum below average", .maximumBelowAverage,
        {
            _ = try ChunkerConfiguration(minimumSize: 256, averageSize: 1024, maximumSize: 512)
        }
    ),
    (
        "maximum 32 MiB", .maximumSizeTooLarge,
        {
            _ = try ChunkerConfiguration(minimumSize: 256, averageSize: 1024, maximumSize: 32 << 20)
        }
    ),
    (
        "normalization 4", .normalizationOutOfRange,
        {
            _ = try ChunkerConfiguration(minimumSize: 256, averageSize: 1024, maximumSize: 4096, normalization: 4)
        }
    ),
    (
        "normalization 3 at average 64", .normalizationTooStrong,
        {
            _ = try ChunkerConfiguration(minimumSize: 16, averageSize: 64, maximumSize: 256, normalization: 3)
        }
    ),
    ("lz4 level 13", .levelOutOfRange, { _ = try CodecConfiguration(.lz4, level: 13) }),
    ("zstd level 40", .levelOutOfRange, { _ = try CodecConfiguration(.zstd, level: 40) }),
    ("zstd long window log 40", .longWindowLogOutOfRange, { _ = try CodecConfiguration(.zstd, longWindowLog: 40) }),
    ("window -1", .windowSizeOutOfRange, { _ = try EncoderConfiguration(windowSize: -1) }),
    ("block 1 KiB", .blockSizeOutOfRange, { _ = try EncoderConfiguration(blockSize: 1024) }),
    ("memory limit 1000", .memoryLimitTooSmall, { _ = try DecoderOptions(memoryLimit: 1000) }),
    ("output bound -1", .negativeOutputBound, { _ = try DecoderOptions(maximumOutputSize: -1) }),
    ("key of 3 bytes", .keyTooShort, { _ = try Fingerprinter(key: [1, 2, 3]) }),
    ("capacity 1000", .capacityTooSmall, { _ = try DiskChunkStore.Options(capacity: 1000) }),
    ("segment 1 byte", .segmentSizeOutOfRange, { _ = try DiskChunkStore.Options(capacity: nil, segmentSize: 1) }),
    (
        "segment above a quarter", .segmentSizeAboveCapacity,
        {
            _ = try DiskChunkStore.Options(capacity: 8 << 20, segmentSize: 4 << 20)
        }
    ),
    ("zstd store", .unsupportedStoreCodec, { _ = try DiskChunkStore.Options(capacity: nil, compression: .zstd) }),
    (
        "snapshot every 1000 bytes", .snapshotIntervalTooSmall,
        {
            _ = try DiskChunkStore.Options(capacity: nil, snapshotInterval: 1000)
        }
    ),
    (
        "sync after -1 bytes", .negativeSyncBytes,
        {
            _ = try DiskChunkStore.Durability(syncAfterBytes: -1, syncAfterMilliseconds: nil)
        }
    ),
    (
        "sync after -5 ms", .negativeSyncInterval,
        {
            _ = try DiskChunkStore.Durability(syncAfterBytes: nil, syncAfterMilliseconds: -5)
        }
    ),
]

@Suite("Configuration errors")
struct ConfigurationErrorTests {
    @Test("each refused value throws its check's own code", arguments: refusals.indices)
    func refusedWithItsCode(index: Int) {
        let refusal = refusals[index]
        let error = #expect(throws: ConfigurationError.self, "\(refusal.name)") { try refusal.make() }
        #expect(error?.code == refusal.code, "\(refusal.name): \(error.map { "\($0)" } ?? "no error")")
    }

    @Test("every code is reached by some check, and no two checks share one")
    func codesAreOnePerCheck() {
        let reached = Set(refusals.map(\.code))
        #expect(reached == Set(ConfigurationError.Code.allCodes))
        // Only the codec level, one check over two codecs, appears twice.
        #expect(refusals.count - reached.count == 1)
        #expect(
            Set(ConfigurationError.Code.allCodes.map(\.description)).count == ConfigurationError.Code.allCodes.count)
    }

    @Test("a durability of 0 and nil is accepted as given, not clamped")
    func durabilityKeepsValidValues() throws {
        let policy = try DiskChunkStore.Durability(syncAfterBytes: 0, syncAfterMilliseconds: nil)
        #expect(policy.syncAfterBytes == 0)
        #expect(policy.syncAfterMilliseconds == nil)
        #expect(policy == .everyWrite)
        #expect(try DiskChunkStore.Durability(syncAfterBytes: 8 << 20, syncAfterMilliseconds: 1000) == .default)
    }
}
