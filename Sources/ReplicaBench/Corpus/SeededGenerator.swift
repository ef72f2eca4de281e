/// SplitMix64: a tiny, fast generator whose output depends only on its seed.
///
/// The standard library's `random(in:using:)` may change its algorithm between releases, so the corpora draw
/// through ``below(_:)`` and ``fill(_:count:)`` only: the same seed gives the same bytes on every toolchain.
struct SeededGenerator {
    private var state: UInt64

    /// Creates a generator; distinct `stream` values give unrelated sequences from one seed.
    init(seed: UInt64, stream: UInt64 = 0) {
        state = seed ^ (stream &* 0xD1B5_4A32_D192_ED03)
    }

    /// The next 64 random bits.
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `0..<bound` (with a negligible bias for the small bounds used here).
    /// - Precondition: `bound > 0`.
    mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0, "below(_:) needs a positive bound")
        return Int(truncatingIfNeeded: (next() >> 1) % UInt64(bound))
    }

    /// A number in `range`.
    mutating func within(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + below(range.count)
    }

    /// True with probability `percent` / 100.
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }

    /// Appends `count` random bytes to `bytes`.
    mutating func fill(_ bytes: inout [UInt8], count: Int) {
        var left = count
        while left > 0 {
            var word = next()
            for _ in 0..<min(8, left) {
                bytes.append(UInt8(truncatingIfNeeded: word))
                word >>= 8
            }
            left -= 8
        }
    }
}
