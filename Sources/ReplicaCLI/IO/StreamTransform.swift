import ReplicaCore

/// One direction of work over a byte stream: encoding or decoding, behind one shape for ``StreamPump``.
protocol StreamTransform: AnyObject {
    /// Consumes the next piece of input, appending whatever output is ready.
    func process(_ bytes: UnsafeRawBufferPointer, into output: inout [UInt8]) throws
    /// Declares the end of input, appending the rest of the output.
    func finish(into output: inout [UInt8]) throws
    /// The library's counters so far.
    var statistics: StreamStatistics { get }
}

/// Compression: a ``StreamEncoder``.
final class EncodingTransform: StreamTransform {
    private let encoder: StreamEncoder

    init(_ encoder: StreamEncoder) { self.encoder = encoder }

    func process(_ bytes: UnsafeRawBufferPointer, into output: inout [UInt8]) throws {
        try encoder.encode(bytes, into: &output)
    }

    func finish(into output: inout [UInt8]) throws { try encoder.finish(into: &output) }

    var statistics: StreamStatistics { encoder.statistics }
}

/// Decompression (and `test`, `info`): a ``StreamDecoder``.
final class DecodingTransform: StreamTransform {
    /// The decoder, for its header once the stream has been read.
    let decoder: StreamDecoder

    init(_ decoder: StreamDecoder) { self.decoder = decoder }

    func process(_ bytes: UnsafeRawBufferPointer, into output: inout [UInt8]) throws {
        try decoder.decode(bytes, into: &output)
    }

    func finish(into output: inout [UInt8]) throws { try decoder.finish() }

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
        var output: [UInt8] = []
        var consumed: UInt64 = 0
        while true {
            let count = try input.read(into: &buffer)
            if count == 0 { break }
            try buffer.withUnsafeBytes { raw in
                try transform.process(UnsafeRawBufferPointer(rebasing: raw[0..<count]), into: &output)
            }
            try drain(&output, to: sink)
            consumed += UInt64(count)
            progress?.update(consumed: consumed, statistics: transform.statistics)
        }
        try transform.finish(into: &output)
        try drain(&output, to: sink)
    }

    private static func drain(_ output: inout [UInt8], to sink: (any ByteSink)?) throws(FileError) {
        guard !output.isEmpty else { return }
        try sink?.write(output[...])
        output.removeAll(keepingCapacity: true)
    }
}
