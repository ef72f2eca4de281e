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

/// Decompression (and `test`, `info`): a ``StreamDecoder`` per stream, so concatenated streams
/// (`replica -c a b > ab.rpl`, `cat a.rpl b.rpl`) decode as one, as concatenated zstd frames do.
final class DecodingTransform: StreamTransform {
    private let makeDecoder: () throws -> StreamDecoder
    private var decoder: StreamDecoder
    /// The header of the first stream.
    private(set) var header: StreamHeader?
    /// How many streams have begun.
    private(set) var streams = 1
    /// The counters of the streams before the current one.
    private var earlier = StreamStatistics()
    /// Where the current stream starts in the input.
    private var streamStart: UInt64 = 0
    /// How much input has been given to decoders.
    private var consumed: UInt64 = 0

    /// Creates the transform; `makeDecoder` makes the decoder of each stream.
    init(_ makeDecoder: @escaping () throws -> StreamDecoder) throws {
        self.makeDecoder = makeDecoder
        self.decoder = try makeDecoder()
    }

    func process(_ bytes: UnsafeRawBufferPointer, deliver: ([UInt8]) throws -> Void) throws {
        var rest = bytes
        while true {
            do {
                try decoder.decode(rest, pieceSize: StreamPump.pieceSize, deliver: deliver)
                header = header ?? decoder.header
                consumed += UInt64(rest.count)
                return
            } catch let error as FormatError where error.code == .trailingData && decoder.isComplete {
                // The next stream starts where this one's trailer ends, inside `rest`.
                header = header ?? decoder.header
                let length = Int(streamStart + error.offset - consumed)
                guard (0..<rest.count).contains(length) else { throw error }
                var finished = decoder.statistics
                finished.encodedBytes = error.offset
                earlier += finished
                decoder = try makeDecoder()
                streams += 1
                streamStart += error.offset
                consumed += UInt64(length)
                rest = UnsafeRawBufferPointer(rebasing: rest[length...])
            } catch let error as FormatError {
                throw located(error)
            }
        }
    }

    func finish(deliver: ([UInt8]) throws -> Void) throws {
        do {
            try decoder.finish()
        } catch let error as FormatError {
            throw located(error)
        }
    }

    /// The error with its offset in the whole input, naming the stream when it is not the first.
    private func located(_ error: FormatError) -> FormatError {
        guard streams > 1 else { return error }
        return FormatError(
            error.code, at: streamStart + error.offset,
            "\(error.message) (in stream \(streams), which starts at offset \(streamStart))")
    }

    var statistics: StreamStatistics {
        var total = earlier
        total += decoder.statistics
        return total
    }
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
