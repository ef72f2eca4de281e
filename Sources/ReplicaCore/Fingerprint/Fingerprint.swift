/// The identity of a chunk: the 128-bit XXH3 hash of its bytes.
///
/// Printed and serialised big-endian (XXH3's canonical form), so the hex string matches `xxhsum -H2`.
/// See `docs/FINGERPRINTS.md` for why 128 bits and what the keyed mode protects against.
public struct Fingerprint: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The high 64 bits.
    public let high: UInt64
    /// The low 64 bits.
    public let low: UInt64

    /// The size of a serialised fingerprint.
    public static let byteCount = 16

    /// Creates a fingerprint from its two halves.
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Reads a fingerprint from its 16-byte canonical (big-endian) form.
    ///
    /// - Returns: `nil` unless `bytes` holds exactly 16 bytes.
    public init?<Bytes: Collection<UInt8>>(canonical bytes: Bytes) {
        guard bytes.count == Self.byteCount else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for (index, byte) in bytes.enumerated() {
            if index < 8 { high = high << 8 | UInt64(byte) } else { low = low << 8 | UInt64(byte) }
        }
        self.init(high: high, low: low)
    }

    /// Parses 32 hexadecimal digits.
    ///
    /// - Returns: `nil` unless `hex` is exactly 32 hex digits.
    public init?(hex: some StringProtocol) {
        guard hex.utf8.count == 32, let high = UInt64(hex.prefix(16), radix: 16),
            let low = UInt64(hex.suffix(16), radix: 16)
        else { return nil }
        self.init(high: high, low: low)
    }

    /// The 16-byte canonical (big-endian) form.
    public var canonicalBytes: [UInt8] {
        (0..<16).map { index in
            index < 8 ? UInt8(truncatingIfNeeded: high >> (56 - 8 * index))
                : UInt8(truncatingIfNeeded: low >> (56 - 8 * (index - 8)))
        }
    }

    /// 32 lowercase hexadecimal digits.
    public var description: String { Self.hex(high) + Self.hex(low) }

    /// The first 8 hex digits, for messages.
    public var shortDescription: String { String(description.prefix(8)) }

    /// Orders by the 128-bit value, high half first.
    public static func < (lhs: Fingerprint, rhs: Fingerprint) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
