import ReplicaCore

/// The parameter sweep: ratio against throughput as the average chunk size, the codec and the level vary,
/// so Replica's defaults can be chosen from data.
struct Sweep {
    /// The input's name.
    let corpus: String
    /// The input.
    let data: [UInt8]
    /// Runs per point.
    let policy: RunPolicy

    /// The average chunk sizes walked, 1 KiB to 64 KiB.
    static let averageSizes = [1 << 10, 2 << 10, 4 << 10, 8 << 10, 16 << 10, 32 << 10, 64 << 10]

    /// Every chunk size with lz4-1 and zstd-3, then every codec and level at the default 8 KiB.
    func run(into recorder: inout Recorder) throws {
        var points: [(CodecConfiguration, Int)] = []
        for average in Self.averageSizes {
            points.append((try CodecConfiguration(.lz4, level: 1), average))
            points.append((try CodecConfiguration(.zstd, level: 3), average))
        }
        let codecs: [CodecConfiguration] = [
            try CodecConfiguration(.none), try CodecConfiguration(.lz4, level: 9), try CodecConfiguration(.zstd, level: 1),
            try CodecConfiguration(.zstd, level: 9), try CodecConfiguration(.zstd, level: 19),
        ]
        points += codecs.map { ($0, 8 << 10) }
        for (codec, average) in points {
            let runner = try ReplicaRunner(codec: codec, averageChunkSize: average)
            progress("sweep \(runner.name) on \(corpus)")
            try recorder.row { try runner.run(section: "sweep", corpus: corpus, data: data, policy: policy, stages: false) }
        }
    }
}
