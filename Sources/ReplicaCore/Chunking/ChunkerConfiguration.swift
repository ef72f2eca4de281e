/// The parameters of a FastCDC chunker: the variant, the size limits, the normalisation level and the seed.
///
/// The initialiser checks every value, so a `ChunkerConfiguration` that exists is one the chunker can run.
/// Two chunkers with equal configurations cut any input at the same offsets.
public struct ChunkerConfiguration: Hashable, Sendable {
    /// The published FastCDC variant.
    public enum Variant: String, Hashable, Sendable, CaseIterable {
        /// FastCDC 2016 (Xia et al., USENIX ATC 2016): one byte per step.
        case v2016 = "2016"
        /// FastCDC 2020 (Xia et al., IEEE TPDS 2020): "rolling two bytes each time" with a left-shifted table.
        case v2020 = "2020"
    }

    /// The smallest average size accepted, in bytes.
    public static let averageSizeRange = 64...(4 << 20)
    /// The smallest minimum size accepted, in bytes.
    public static let smallestMinimumSize = 16
    /// The largest maximum size accepted, in bytes. Decoders rely on it to bound a chunk.
    public static let largestMaximumSize = 16 << 20

    /// The variant of the algorithm.
    public let variant: Variant
    /// No chunk is shorter than this, except the last chunk of an input (and with ``Variant/v2020`` and an odd
    /// minimum, one byte shorter, exactly as the reference implementation cuts).
    public let minimumSize: Int
    /// The size the normalised cut aims for. Its base-2 logarithm, rounded, selects the masks.
    public let averageSize: Int
    /// No chunk is longer than this.
    public let maximumSize: Int
    /// The normalisation level, 0 to 3: higher levels cluster chunk sizes more tightly around the average.
    public let normalization: Int
    /// A secret that perturbs the Gear table (`GEAR[i] ^= seed`), or 0 for the published table.
    ///
    /// A seeded chunker resists chunk-boundary fingerprinting: without the seed, an observer cannot predict
    /// where the boundaries of known content fall, so chunk sizes leak less about the data.
    public let seed: UInt64

    /// Creates a checked configuration.
    ///
    /// - Parameters:
    ///   - variant: the FastCDC variant; ``Variant/v2020`` is faster and cuts at the same offsets for even sizes.
    ///   - minimumSize: at least 16 and at most `averageSize`.
    ///   - averageSize: 64 B to 4 MiB.
    ///   - maximumSize: at least `averageSize`, at most 16 MiB.
    ///   - normalization: 0 to 3, and small enough that `log2(averageSize) - normalization >= 5`.
    ///   - seed: 0 for the published Gear table, anything else for a keyed table.
    /// - Throws: ``ConfigurationError`` naming the first setting out of range.
    public init(
        variant: Variant = .v2020,
        minimumSize: Int,
        averageSize: Int,
        maximumSize: Int,
        normalization: Int = 1,
        seed: UInt64 = 0
    ) throws(ConfigurationError) {
        guard Self.averageSizeRange.contains(averageSize) else {
            throw ConfigurationError(
                .averageSizeOutOfRange, setting: "averageSize",
                message:
                    "\(averageSize) is outside \(Self.averageSizeRange.lowerBound)...\(Self.averageSizeRange.upperBound)"
            )
        }
        guard minimumSize >= Self.smallestMinimumSize else {
            throw ConfigurationError(
                .minimumSizeTooSmall, setting: "minimumSize",
                message: "\(minimumSize) is below \(Self.smallestMinimumSize)")
        }
        guard minimumSize <= averageSize else {
            throw ConfigurationError(
                .minimumAboveAverage, setting: "minimumSize",
                message: "\(minimumSize) is larger than the average size \(averageSize)")
        }
        guard averageSize <= maximumSize else {
            throw ConfigurationError(
                .maximumBelowAverage, setting: "maximumSize",
                message: "\(maximumSize) is smaller than the average size \(averageSize)")
        }
        guard maximumSize <= Self.largestMaximumSize else {
            throw ConfigurationError(
                .maximumSizeTooLarge, setting: "maximumSize",
                message: "\(maximumSize) is above \(Self.largestMaximumSize)")
        }
        guard (0...3).contains(normalization) else {
            throw ConfigurationError(
                .normalizationOutOfRange, setting: "normalization", message: "\(normalization) is outside 0...3")
        }
        let bits = Self.maskBits(averageSize)
        guard GearTable.usableMaskBits.contains(bits - normalization),
            GearTable.usableMaskBits.contains(bits + normalization)
        else {
            throw ConfigurationError(
                .normalizationTooStrong, setting: "normalization",
                message: "level \(normalization) needs an average size of at least \(32 << normalization) bytes")
        }
        self.init(
            checked: variant, minimumSize: minimumSize, averageSize: averageSize, maximumSize: maximumSize,
            normalization: normalization, seed: seed)
    }

    /// Creates a configuration from an average size alone, by Replica's rule: the minimum is a quarter of the
    /// average and the maximum four times it (clamped to the accepted range), FastCDC 2020, normalisation 1.
    ///
    /// - Throws: ``ConfigurationError`` when `averageSize` is outside 64 B to 4 MiB.
    public init(averageSize: Int, variant: Variant = .v2020, seed: UInt64 = 0) throws(ConfigurationError) {
        try self.init(
            variant: variant,
            minimumSize: max(Self.smallestMinimumSize, averageSize / 4),
            averageSize: averageSize,
            maximumSize: min(Self.largestMaximumSize, averageSize * 4),
            normalization: averageSize >= 128 ? 1 : 0,
            seed: seed)
    }

    /// Replica's default: FastCDC 2020 at an average of 8 KiB (2 KiB to 32 KiB), normalisation 1.
    public static let `default` = ChunkerConfiguration(
        checked: .v2020, minimumSize: 2 << 10, averageSize: 8 << 10, maximumSize: 32 << 10, normalization: 1, seed: 0)

    /// Stores values already checked (by the public initialiser, or by the tests for constants).
    private init(
        checked variant: Variant, minimumSize: Int, averageSize: Int, maximumSize: Int, normalization: Int,
        seed: UInt64
    ) {
        self.variant = variant
        self.minimumSize = minimumSize
        self.averageSize = averageSize
        self.maximumSize = maximumSize
        self.normalization = normalization
        self.seed = seed
    }

    /// `round(log2(averageSize))`, as fastcdc-rs computes it.
    static func maskBits(_ averageSize: Int) -> Int {
        // round(log2(x)) == floor(log2(x)) + 1 exactly when x >= 2^floor * sqrt(2).
        let floorLog = Int.bitWidth - 1 - averageSize.leadingZeroBitCount
        let lower = 1 << floorLog
        // Compare x^2 with 2 * lower^2 in exact integer arithmetic (averageSize <= 2^22, no overflow).
        return averageSize * averageSize >= 2 * lower * lower ? floorLog + 1 : floorLog
    }
}
