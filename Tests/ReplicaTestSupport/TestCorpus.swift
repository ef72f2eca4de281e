/// Deterministic inputs with known redundancy, for round-trip and property tests.
public enum TestCorpus {
    /// Incompressible bytes.
    public static func random(_ count: Int, seed: UInt64 = 1) -> [UInt8] {
        var generator = SplitMix64(seed: seed)
        return generator.bytes(count)
    }

    /// Compressible text-like bytes: words from a small vocabulary, so LZ codecs find matches but chunks differ.
    public static func text(_ count: Int, seed: UInt64 = 2) -> [UInt8] {
        let words = [
            "replica", "chunk", "window", "stream", "block", "the", "of", "and", "link", "fingerprint", "store",
            "encoder", "decoder", "tunnel", "zstd", "lz4", "gear", "hash", "boundary", "literal", "reference",
        ].map { Array($0.utf8) }
        var generator = SplitMix64(seed: seed)
        var output: [UInt8] = []
        output.reserveCapacity(count + 16)
        while output.count < count {
            let word = words[Int(generator.next() % UInt64(words.count))]
            output += word
            output.append(generator.next() % 11 == 0 ? 0x0A : 0x20)
        }
        return Array(output.prefix(count))
    }

    /// A stream of segments in which about `uniqueFraction` are new random data and the rest repeat earlier
    /// segments. Chunks that straddle two segments are new too, so the deduplicated share is a little lower.
    public static func redundant(
        _ count: Int, uniqueFraction: Double = 0.1, segment: Int = 64 << 10, seed: UInt64 = 3
    ) -> [UInt8] {
        var generator = SplitMix64(seed: seed)
        var pool: [[UInt8]] = []
        var output: [UInt8] = []
        output.reserveCapacity(count + segment)
        while output.count < count {
            let roll = Double(generator.next() % 1_000_000) / 1_000_000
            if pool.isEmpty || roll < uniqueFraction {
                let fresh = generator.bytes(segment)
                pool.append(fresh)
                output += fresh
            } else {
                output += pool[Int(generator.next() % UInt64(pool.count))]
            }
        }
        return Array(output.prefix(count))
    }

    /// Splits `bytes` into pieces at random points, with piece sizes from 1 byte to `largest`.
    public static func randomSplits(_ bytes: [UInt8], largest: Int, seed: UInt64) -> [ArraySlice<UInt8>] {
        var generator = SplitMix64(seed: seed)
        var pieces: [ArraySlice<UInt8>] = []
        var start = 0
        while start < bytes.count {
            let size = 1 + Int(generator.next() % UInt64(max(1, largest)))
            let end = min(bytes.count, start + size)
            pieces.append(bytes[start..<end])
            start = end
        }
        return pieces
    }
}
