import ReplicaCore

/// ``StreamPump``'s work spread over three threads for `-T N` (N > 1): reading, the transform, and writing on
/// the caller's thread, joined by bounded queues (``Pipeline``).
///
/// Compression also cuts and fingerprints on the reading thread, so the encoding thread only looks chunks up,
/// compresses and frames them. The encoder sees the same chunks with the same fingerprints in the same order,
/// so the output is byte for byte what one thread writes. Decompression reads ahead and writes behind; the
/// decoder itself verifies every block's checksums before it hands out any of its bytes, as with one thread.
enum PipelinedPump {
    /// Items each queue holds: with pieces of at most ``StreamPump/pieceSize`` (1 MiB), the pipeline holds
    /// about 2 x depth MiB beyond what the transform holds.
    static let depth = 4

    /// What the transform's thread hands to the writer: output bytes and the progress behind them.
    struct Delivery: Sendable {
        var bytes: [UInt8]
        /// Input bytes read so far.
        var consumed: UInt64
        var statistics: StreamStatistics
    }

    /// Runs `input` through `transform` into `sink`, as ``StreamPump/run(_:through:to:progress:)`` does.
    ///
    /// - Throws: ``FileError`` for I/O, and whatever the transform throws for bad input.
    static func run(
        _ input: InputFile, through transform: any StreamTransform, to sink: (any ByteSink)?,
        progress: ProgressMeter?
    ) throws {
        let deliver: (Delivery) throws -> Void = { delivery in
            if !delivery.bytes.isEmpty { try sink?.write(delivery.bytes[...]) }
            progress?.update(consumed: delivery.consumed, statistics: delivery.statistics)
        }
        if let encoding = transform as? EncodingTransform {
            try runEncoding(HandedOver(value: input), HandedOver(value: encoding), deliver: deliver)
        } else {
            try runPlain(HandedOver(value: input), HandedOver(value: transform), deliver: deliver)
        }
    }

    /// Read ahead | transform | write.
    private static func runPlain(
        _ input: HandedOver<InputFile>, _ transform: HandedOver<any StreamTransform>,
        deliver: (Delivery) throws -> Void
    ) throws {
        let consumed = Counter()
        try Pipeline.run(
            depth: depth,
            produce: { (emit: ([UInt8]) throws -> Void) in
                while true {
                    var piece = [UInt8](repeating: 0, count: StreamPump.pieceSize)
                    let count = try input.value.read(into: &piece)
                    if count == 0 { return }
                    piece.removeSubrange(count...)
                    try emit(piece)
                }
            },
            transform: { (piece: [UInt8]?, emit: (Delivery) throws -> Void) in
                let transform = transform.value
                func output(_ bytes: [UInt8]) throws {
                    try emit(Delivery(bytes: bytes, consumed: consumed.value, statistics: transform.statistics))
                }
                guard let piece else { return try transform.finish(deliver: output) }
                try piece.withUnsafeBytes { try transform.process($0, deliver: output) }
                consumed.value += UInt64(piece.count)
                try output([])
            },
            consume: deliver)
    }

    /// Read, cut and fingerprint | encode | write.
    private static func runEncoding(
        _ input: HandedOver<InputFile>, _ transform: HandedOver<EncodingTransform>,
        deliver: (Delivery) throws -> Void
    ) throws {
        let configuration = transform.value.configuration
        let consumed = Counter()
        try Pipeline.run(
            depth: depth,
            produce: { (emit: (ChunkBatch) throws -> Void) in
                var chunker = Chunker(configuration.chunker)
                let fingerprinter = configuration.fingerprinter
                var buffer = [UInt8](repeating: 0, count: StreamPump.pieceSize)
                while true {
                    let count = try input.value.read(into: &buffer)
                    var batch = ChunkBatch(inputCount: count)
                    if count == 0 {
                        chunker.finish { batch.append($0, fingerprint: fingerprinter.fingerprint($0)) }
                        return try emit(batch)
                    }
                    buffer.withUnsafeBytes { raw in
                        chunker.append(UnsafeRawBufferPointer(rebasing: raw[0..<count])) {
                            batch.append($0, fingerprint: fingerprinter.fingerprint($0))
                        }
                    }
                    try emit(batch)
                }
            },
            transform: { (batch: ChunkBatch?, emit: (Delivery) throws -> Void) in
                let transform = transform.value
                var output: [UInt8] = []
                if let batch {
                    try transform.encode(batch, into: &output)
                    consumed.value += UInt64(batch.inputCount)
                } else {
                    try transform.finish { output += $0 }
                }
                try emit(Delivery(bytes: output, consumed: consumed.value, statistics: transform.statistics))
            },
            consume: deliver)
    }
}

/// Chunks cut and fingerprinted ahead of the encoder: their bytes back to back, their lengths and fingerprints.
struct ChunkBatch: Sendable {
    /// Input bytes read for this batch (the chunks may include bytes of earlier reads).
    let inputCount: Int
    private(set) var bytes: [UInt8] = []
    private(set) var lengths: [Int] = []
    private(set) var fingerprints: [Fingerprint] = []

    init(inputCount: Int) {
        self.inputCount = inputCount
    }

    mutating func append(_ chunk: UnsafeRawBufferPointer, fingerprint: Fingerprint) {
        bytes.append(contentsOf: chunk)
        lengths.append(chunk.count)
        fingerprints.append(fingerprint)
    }

    /// Calls `body` with each chunk and its fingerprint, in order.
    func forEach(_ body: (UnsafeRawBufferPointer, Fingerprint) throws -> Void) rethrows {
        try bytes.withUnsafeBytes { all in
            var start = 0
            for (length, fingerprint) in zip(lengths, fingerprints) {
                try body(UnsafeRawBufferPointer(rebasing: all[start..<(start + length)]), fingerprint)
                start += length
            }
        }
    }
}

/// A count owned by the transform's thread of a pipeline.
private final class Counter: @unchecked Sendable {
    var value: UInt64 = 0
}
