import Foundation
import ReplicaCore

/// A compressor a user might pick instead of Replica, run through the linked library on the same bytes.
enum Baseline: Hashable {
    /// libzstd at a level, with long-distance matching at window log 27 when `long`.
    case zstd(level: Int, long: Bool)
    /// libzstd with long-distance matching and one worker thread per core, as `zstd -T0 --long=27`.
    case zstdThreaded(level: Int)
    /// liblz4: level 1 is `LZ4_compress_fast` (acceleration 1, what `LZ4_compress_default` does), 2...12 is HC.
    case lz4(level: Int)
    /// One `LZ4_compress_default` call, as a user of liblz4 would write it: the yardstick of the lz4 path.
    case lz4Default

    /// The window log of zstd's long mode, as `zstd --long` uses.
    static let longWindowLog = 27

    /// The baselines of the issue: zstd 1, 3 and 19 with and without long mode, lz4 default and HC (level 9).
    static let standard: [Baseline] =
        [1, 3, 19].flatMap { level in [Baseline.zstd(level: level, long: false), .zstd(level: level, long: true)] }
        + [.zstdThreaded(level: 3), .lz4(level: 1), .lz4(level: 9)]

    /// Every name ``named(_:)`` accepts.
    static var all: [Baseline] { standard + [.lz4Default] }

    /// The baseline called `name` in reports, if any.
    static func named(_ name: String) -> Baseline? { all.first { $0.name == name } }

    /// The name in reports: `zstd-3`, `zstd-3-long`, `lz4-1`, `lz4hc-9`.
    var name: String {
        switch self {
        case .zstd(let level, let long): "zstd-\(level)" + (long ? "-long" : "")
        case .zstdThreaded(let level): "zstd-\(level)-long-T0"
        case .lz4(let level): level > 1 ? "lz4hc-\(level)" : "lz4-\(level)"
        case .lz4Default: "LZ4_compress_default"
        }
    }

    /// Compresses and decompresses `data` up to the policy's runs, checking every decompression.
    ///
    /// - Throws: ``RoundTripMismatch`` when a decompression differs; ``CodecError`` from the library.
    func run(section: String, corpus: String, data: [UInt8], policy: RunPolicy) throws -> ResultRow {
        var row = ResultRow(section: section, corpus: corpus, engine: name, inputBytes: data.count)
        var compressed = [UInt8](repeating: 0, count: bound(data.count))
        let compress = try makeCompressor()
        let (encode, size) = try measure(bytes: data.count, policy: policy) {
            try data.withUnsafeBytes { source in
                try compressed.withUnsafeMutableBytes { destination in try compress(source, destination) }
            }
        }
        compressed.removeLast(compressed.count - size)
        var restored = [UInt8](repeating: 0, count: data.count)
        let decompressor = try ZstdDecompressor(windowLogMax: Self.longWindowLog)
        row.decode = try measure(bytes: data.count, policy: policy) {
            try compressed.withUnsafeBytes { source in
                try restored.withUnsafeMutableBytes { destination in
                    switch self {
                    case .zstd, .zstdThreaded: try decompressor.decompress(source, into: destination)
                    case .lz4, .lz4Default: try LZ4Decompressor.decompress(source, into: destination)
                    }
                }
            }
        } verify: { count in
            try checkRoundTrip(Array(restored[0..<count]), data, what: "\(name) on \(corpus)")
        }.0
        row.encode = encode
        row.outputBytes = size
        row.ratio = Double(data.count) / Double(max(1, size))
        row.peakRSSBytes = peakResidentBytes()
        return row
    }

    private func bound(_ count: Int) -> Int {
        switch self {
        case .zstd, .zstdThreaded: ZstdCompressor.bound(count)
        case .lz4, .lz4Default: LZ4Compressor.bound(count)
        }
    }

    private func makeCompressor() throws
        -> (UnsafeRawBufferPointer, UnsafeMutableRawBufferPointer) throws -> Int
    {
        switch self {
        case .zstd(let level, let long):
            let compressor = try ZstdCompressor(level: level, longDistanceWindowLog: long ? Self.longWindowLog : nil)
            return { source, destination in try compressor.compress(source, into: destination) }
        case .zstdThreaded(let level):
            let compressor = try ZstdCompressor(
                level: level, longDistanceWindowLog: Self.longWindowLog, workers: ProcessInfo.processInfo.activeProcessorCount)
            return { source, destination in try compressor.compress(source, into: destination) }
        case .lz4(let level):
            let compressor = LZ4Compressor(level: level)
            return { source, destination in try compressor.compress(source, into: destination) }
        case .lz4Default:
            return { source, destination in try Baselines.lz4CompressDefault(source, into: destination) }
        }
    }
}
