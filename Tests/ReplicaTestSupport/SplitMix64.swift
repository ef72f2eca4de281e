/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fast, repeatable generator for test and benchmark data.
///
/// As a byte stream each output is written little-endian, 8 bytes at a time; the derived FastCDC vectors use
/// exactly this stream (`splitmix64:SEED/LENGTH`).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Creates a generator from a seed.
    public init(seed: UInt64) { state = seed }

    /// The next 64-bit output.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// `count` bytes of the generator's little-endian byte stream.
    public mutating func bytes(_ count: Int) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: count)
        var index = 0
        while index < count {
            let word = next()
            for shift in 0..<8 where index < count {
                output[index] = UInt8(truncatingIfNeeded: word >> (8 * UInt64(shift)))
                index += 1
            }
        }
        return output
    }
}
