import ReplicaCore

/// One direction of work over a byte stream: encoding or decoding, behind one shape for ``StreamPump``.
///
/// Output is handed to `deliver` in bounded pieces: an encoder's output per call is at most about its input,
/// and a decoder's is capped by ``StreamPump/pieceSize`` per delivery, however much a few bytes of references
/// expand to.
protocol StreamTransform: AnyObject {
    /// Consumes the next piece of input and delivers whatever output is ready.
    func process(_ bytes: UnsafeRawBufferPointer, deliver: ([UInt8]) throws -> Void) throws
    /// Declares the end of input and delivers the rest of the output.
    func finish(deliver: ([UInt8]) throws -> Void) throws
    /// The library's counters so far.
    var statistics: StreamStatistics { get }
}

/// Compression: a ``StreamEncoder``.
final class EncodingTransform: StreamTransform {
    private let encoder: StreamEncoder
    private var output: [UInt8] = []

    init(_ encoder: StreamEncoder) { self.encoder = encoder }

    /// The encoder's configuration: a pipeline cuts and fingerprints with it on another thread.
    var configuration: EncoderConfiguration { encoder.configuration }

    /// Encodes chunks a pipeline cut and fingerprinted, appending the output to `output`.
    func encode(_ batch: ChunkBatch, into output: inout [UInt8]) throws {
        try batch.forEach { chunk, fingerprint in
            try encoder.encode(chunk: chunk, fingerprint: fingerprint, into: &output)
        }
    }

    func process(_ bytes: UnsafeRawBufferPointer, deliver: ([UInt8]) throws -> Void) throws {
        try encoder.encode(bytes, into: &output)
        try drain(deliver)
    }

    func finish(deliver: ([UInt8]) throws -> Void) throws {
        try encoder.finish(into: &output)
        try drain(deliver)
    }

    private func drain(_ deliver: ([UInt8]) throws -> Void) throws {
        guard !output.isEmpty else { return }
        try deliver(output)
        output.removeAll(keepingCapacity: true)
    }

    var statistics: StreamStatistics { encoder.statistics }
}

/// Decompression (and `test`, `info`): one ``StreamDecoder`` that accepts concatenated streams
/// (`replica -c a b > ab.rpl`, `cat a.rpl b.rpl`), as concatenated zstd frames decode as one.
final class DecodingTransform: StreamTransform {
    private let decoder: StreamDecoder

    /// Creates the transform around a decoder made with ``DecoderOptions/acceptsConcatenatedStreams``.
    init(_ decoder: StreamDecoder) { self.decoder = decoder }

    /// The header of the first stream.
    var header: StreamHeader? { decoder.firstHeader }
    /// How many streams have begun.
    var streams: Int { decoder.streamCount }

    func process(_ bytes: UnsafeRawBufferPointer, deliver: ([UInt8]) throws -> Void) throws {
        try decoder.decode(bytes, pieceSize: StreamPump.pieceSize, deliver: deliver)
    }

    func finish(deliver: ([UInt8]) throws -> Void) throws { try decoder.finish() }

    var statistics: StreamStatistics { decoder.statistics }
}

/// Moves one input through a transform to a sink in pieces of at most ``pieceSize`` bytes, so memory stays
/// constant however long the input is.
enum StreamPump {
    /// The largest piece read at once.
    static let pieceSize = 1 << 20

    /// Runs `input` through `transform` into `sink` (or nowhere, for `test` and `info`).
    ///
    /// - Throws: ``FileError`` for I/O, and whatever the transform throws for bad input.
    static func run(
        _ input: InputFile, through transform: any StreamTransform, to sink: (any ByteSink)?,
        progress: ProgressMeter?
    ) throws {
        var buffer = [UInt8](repeating: 0, count: pieceSize)
        var consumed: UInt64 = 0
        let deliver: ([UInt8]) throws -> Void = { output in try sink?.write(output[...]) }
        while true {
            let count = try input.read(into: &buffer)
            if count == 0 { break }
            try buffer.withUnsafeBytes { raw in
                try transform.process(UnsafeRawBufferPointer(rebasing: raw[0..<count]), deliver: deliver)
            }
            consumed += UInt64(count)
            progress?.update(consumed: consumed, statistics: transform.statistics)
        }
        try transform.finish(deliver: deliver)
    }
}
