public import ReplicaCore

/// Streams made by the real encoder, for seed corpora, and the store that resolves their references.
///
/// Every codec, window references, store references and store-prefixed (codec 3) blocks appear. Contents are
/// small (fuzzers work best on inputs of a few KiB) and seeded, so every build writes the same seeds.
public enum Corpus {
    /// Chunking small enough that a few KiB hold many chunks and several blocks.
    public static let chunker: ChunkerConfiguration = {
        do { return try ChunkerConfiguration(averageSize: 256) } catch { fatalError("\(error)") }
    }()

    /// Seeded text with repeats: words from a small vocabulary, so chunks recur.
    public static func text(_ size: Int, seed: UInt64) -> [UInt8] {
        let words = ["replica ", "chunk ", "store ", "stream ", "block ", "zstd ", "lz4 ", "window\n", "delta "]
        var state = seed
        var bytes: [UInt8] = []
        bytes.reserveCapacity(size)
        while bytes.count < size {
            bytes += words[Int(next(&state) % UInt64(words.count))].utf8
        }
        return Array(bytes.prefix(size))
    }

    /// Seeded noise (incompressible).
    public static func noise(_ size: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        return (0..<size).map { _ in UInt8(truncatingIfNeeded: next(&state)) }
    }

    /// SplitMix64.
    static func next(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The content the reference store holds: what the sender sent before the store-backed seeds.
    public static let baseContent: [UInt8] = text(6000, seed: 1) + noise(3000, seed: 2) + text(3000, seed: 3)

    /// The chunks of ``baseContent``, as a store that received it holds them.
    public static let baseChunks: [(Fingerprint, [UInt8])] = {
        var chunker = Chunker(Corpus.chunker)
        let fingerprinter = Fingerprinter()
        var chunks: [(Fingerprint, [UInt8])] = []
        baseContent.withUnsafeBytes { buffer in
            chunker.append(buffer) { chunks.append((fingerprinter.fingerprint($0), Array($0))) }
        }
        chunker.finish { chunks.append((fingerprinter.fingerprint($0), Array($0))) }
        return chunks
    }()

    /// A fresh store holding ``baseChunks``: store references in the seeds resolve against it.
    public static func referenceStore(capacity: Int = 1 << 20) -> MemoryChunkStore {
        let store = MemoryChunkStore(capacity: capacity)
        for (fingerprint, bytes) in baseChunks {
            bytes.withUnsafeBytes { store.put($0, as: fingerprint) }
        }
        return store
    }

    static func configuration(_ codec: CodecKind, level: Int? = nil, window: Int = 64 << 10) throws
        -> EncoderConfiguration
    {
        try EncoderConfiguration(
            chunker: chunker, codec: CodecConfiguration(codec, level: level), windowSize: window,
            blockSize: EncoderConfiguration.blockSizeRange.lowerBound)
    }

    static func encode(
        _ content: [UInt8], _ configuration: EncoderConfiguration, store: (any ChunkWriting)? = nil,
        flushEvery: Int? = nil, keepingChunks: Bool = false
    ) throws -> [UInt8] {
        let encoder = try StreamEncoder(configuration: configuration, store: store)
        var output: [UInt8] = []
        var offset = 0
        while offset < content.count {
            let end = min(content.count, offset + (flushEvery ?? content.count))
            try encoder.encode(Array(content[offset..<end]), into: &output)
            if flushEvery != nil { try encoder.flush(into: &output, cutChunk: !keepingChunks) }
            offset = end
        }
        try encoder.finish(into: &output)
        return output
    }

    /// Named seed streams: each codec, with and without window references, flushed (cutting chunks, and keeping
    /// them: transient literals, transient store prefixes and skips), and store-backed ones (store references,
    /// and an edited copy that gives store-prefixed zstd blocks).
    public static func streams() throws -> [(name: String, bytes: [UInt8])] {
        let repeated = text(3000, seed: 4) + noise(1500, seed: 5) + text(3000, seed: 4) + noise(1500, seed: 5)
        var edited = baseContent
        for position in stride(from: 100, to: edited.count, by: 700) { edited[position] ^= 0x55 }
        var seeds: [(String, [UInt8])] = []
        for codec in CodecKind.allCases {
            seeds.append(("\(codec)-empty", try encode([], configuration(codec))))
            seeds.append(("\(codec)-small", try encode(Array("hello, hello, hello".utf8), configuration(codec))))
            seeds.append(("\(codec)-window", try encode(repeated, configuration(codec))))
            seeds.append(("\(codec)-nowindow", try encode(repeated, configuration(codec, window: 0))))
            seeds.append(("\(codec)-flushed", try encode(repeated, configuration(codec), flushEvery: 1000)))
            seeds.append((
                "\(codec)-flushed-whole",
                try encode(repeated, configuration(codec), flushEvery: 777, keepingChunks: true)
            ))
            seeds.append((
                "\(codec)-store-flushed-whole",
                try encode(
                    edited, configuration(codec), store: referenceStore(), flushEvery: 1500, keepingChunks: true)
            ))
            seeds.append(("\(codec)-store", try encode(baseContent + repeated, configuration(codec), store: referenceStore())))
            seeds.append(("\(codec)-store-edited", try encode(edited, configuration(codec), store: referenceStore())))
        }
        seeds.append(("zstd-level19", try encode(repeated, configuration(.zstd, level: 19))))
        seeds.append(("lz4-hc", try encode(repeated, configuration(.lz4, level: 9))))
        return seeds
    }
}
