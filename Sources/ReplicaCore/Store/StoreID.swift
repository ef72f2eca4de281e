/// The 128-bit identity of a chunk store, written when the store is created and named by store-backed streams.
///
/// Printed as a UUID (`8-4-4-4-12` lowercase hex). Random identities are version-4 UUIDs.
public struct StoreID: Hashable, Sendable, CustomStringConvertible {
    /// The 16 bytes, in printing order.
    public let bytes: [UInt8]

    /// The all-zero identity, which stands for "no store" in a stream header.
    public static let none = StoreID(uncheckedBytes: [UInt8](repeating: 0, count: 16))

    private init(uncheckedBytes: [UInt8]) { self.bytes = uncheckedBytes }

    /// Reads an identity from 16 bytes; `nil` for any other count.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Parses a UUID string, with or without dashes; `nil` when it is not 32 hex digits.
    public init?(_ text: String) {
        let digits = text.filter { $0 != "-" }
        guard digits.count == 32 else { return nil }
        var bytes: [UInt8] = []
        var index = digits.startIndex
        while index < digits.endIndex {
            let next = digits.index(index, offsetBy: 2)
            guard let byte = UInt8(digits[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        self.bytes = bytes
    }

    /// A new random (version 4) identity.
    public static func random() -> StoreID {
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes[6] = bytes[6] & 0x0F | 0x40
        bytes[8] = bytes[8] & 0x3F | 0x80
        return StoreID(uncheckedBytes: bytes)
    }

    /// The UUID form, `8-4-4-4-12` lowercase hex digits.
    public var description: String {
        let hex = bytes.map { byte in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }.joined()
        let parts = [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { range in
            hex.dropFirst(range.lowerBound).prefix(range.count)
        }
        return parts.joined(separator: "-")
    }
}
