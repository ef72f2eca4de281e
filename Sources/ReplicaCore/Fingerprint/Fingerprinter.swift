/// Computes chunk fingerprints: plain XXH3-128, or XXH3-128 keyed with a secret derived from a key.
public struct Fingerprinter: Sendable {
    /// How fingerprints are computed, as recorded in a stream header.
    public enum Kind: UInt8, Sendable, Hashable {
        /// XXH3-128 of the chunk's bytes.
        case xxh3 = 1
        /// XXH3-128 with a secret derived from a deployment's key.
        case keyedXXH3 = 2
    }

    private let secret: [UInt8]?

    /// The kind of fingerprint this fingerprinter computes.
    public var kind: Kind { secret == nil ? .xxh3 : .keyedXXH3 }

    /// A short check value of the key (0 when unkeyed), written in stream headers so a decoder given the wrong
    /// key says so instead of missing every chunk. It reveals nothing useful about the key.
    public let keyCheck: UInt32

    /// A fingerprinter for plain XXH3-128.
    public init() {
        secret = nil
        keyCheck = 0
    }

    /// A keyed fingerprinter.
    ///
    /// The 192-byte XXH3 secret is expanded from `key` with XXH3-128 in counter mode, so any key of 16 bytes or
    /// more works. Both ends of a link must use the same key.
    ///
    /// - Throws: ``ConfigurationError`` when the key is shorter than 16 bytes.
    public init(key: [UInt8]) throws(ConfigurationError) {
        guard key.count >= 16 else {
            throw ConfigurationError(
                .keyTooShort, setting: "fingerprintKey", message: "a key needs at least 16 bytes, got \(key.count)")
        }
        var secret: [UInt8] = []
        secret.reserveCapacity(192)
        for counter in 0..<12 {
            let block = key + [UInt8(counter), 0x52, 0x50, 0x4C]
            let part = block.withUnsafeBytes { XXHash.hash128($0) }
            secret += part.canonicalBytes
        }
        self.secret = secret
        let check = secret.withUnsafeBytes { XXHash.hash64($0) }
        self.keyCheck = UInt32(truncatingIfNeeded: check) | 1
    }

    /// The fingerprint of `bytes`.
    public func fingerprint(_ bytes: UnsafeRawBufferPointer) -> Fingerprint {
        guard let secret else { return XXHash.hash128(bytes) }
        return secret.withUnsafeBytes { XXHash.hash128(bytes, secret: $0) }
    }

    /// The fingerprint of an array's bytes.
    public func fingerprint(_ bytes: [UInt8]) -> Fingerprint {
        bytes.withUnsafeBytes { fingerprint($0) }
    }
}
