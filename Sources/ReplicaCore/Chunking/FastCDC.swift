/// The FastCDC cut-point function: where does the chunk that starts at a buffer's first byte end?
///
/// A pure function over a buffer, in the manner of restic's `BaseChunker`: it reads no input and keeps no state
/// between calls. ``Chunker`` drives it over a stream. Boundaries, the Gear table, the masks and every edge case
/// match nlfiedler/fastcdc-rs (`v2016::cut` and `v2020::cut`); golden vectors in the tests pin them.
public struct FastCDC: Sendable {
    /// The configuration this cutter was built from.
    public let configuration: ChunkerConfiguration

    /// The loop that finds cut points over a buffer (``Chunker`` uses it; ``cut(_:)`` is always scalar).
    package let kernel: Kernel
    let table: GearTable
    let maskSmall: UInt64
    let maskLarge: UInt64

    /// Creates a cutter for a checked configuration.
    public init(_ configuration: ChunkerConfiguration) {
        self.init(configuration, kernel: .preferred(for: configuration.variant))
    }

    /// Creates a cutter that finds cuts with a chosen kernel (all kernels cut at the same offsets).
    package init(_ configuration: ChunkerConfiguration, kernel: Kernel) {
        self.configuration = configuration
        self.kernel = kernel
        self.table = GearTable.table(seed: configuration.seed)
        let bits = ChunkerConfiguration.maskBits(configuration.averageSize)
        self.maskSmall = GearTable.masks[bits + configuration.normalization]
        self.maskLarge = GearTable.masks[bits - configuration.normalization]
    }

    /// A cut point: the length of the chunk and the Gear hash at the cut (0 when the chunk was not hashed because
    /// it is no longer than the minimum).
    public struct Cut: Hashable, Sendable {
        /// The chunk's length in bytes.
        public let length: Int
        /// The rolling hash when the cut was taken.
        public let hash: UInt64
    }

    /// Finds the end of the chunk that starts at `bytes[0]`.
    ///
    /// The answer depends on the bytes up to `maximumSize` and, when fewer remain, on where the input ends.
    /// So call it with at least `maximumSize` bytes, or with all that is left of the input.
    ///
    /// - Parameter bytes: the input from the chunk's start.
    /// - Returns: the cut; its length is at most `min(bytes.count, maximumSize)` and 0 only for empty input.
    /// - Complexity: O(cut length).
    public func cut(_ bytes: UnsafeRawBufferPointer) -> Cut {
        var remaining = bytes.count
        let minimum = configuration.minimumSize
        if remaining <= minimum { return Cut(length: remaining, hash: 0) }
        var center = configuration.averageSize
        if remaining > configuration.maximumSize {
            remaining = configuration.maximumSize
        } else if remaining < center {
            center = remaining
        }
        let base = bytes.baseAddress.unsafelyUnwrapped.assumingMemoryBound(to: UInt8.self)
        switch configuration.variant {
        case .v2016:
            return table.gear.withUnsafeBufferPointer { gear in
                Self.cut2016(
                    base, gear.baseAddress.unsafelyUnwrapped, start: minimum, center: center, end: remaining,
                    maskSmall: maskSmall, maskLarge: maskLarge)
            }
        case .v2020:
            return table.gear.withUnsafeBufferPointer { gear in
                table.gearShifted.withUnsafeBufferPointer { shifted in
                    Self.cut2020(
                        base, gear.baseAddress.unsafelyUnwrapped, shifted.baseAddress.unsafelyUnwrapped,
                        start: minimum, center: center, end: remaining, maskSmall: maskSmall, maskLarge: maskLarge)
                }
            }
        }
    }

    /// One byte per step: `hash = (hash << 1) + GEAR[byte]`; the cut falls before the byte that matched.
    @inline(__always)
    static func cut2016(
        _ bytes: UnsafePointer<UInt8>, _ gear: UnsafePointer<UInt64>,
        start: Int, center: Int, end: Int, maskSmall: UInt64, maskLarge: UInt64
    ) -> Cut {
        var hash: UInt64 = 0
        var index = start
        while index < center {
            hash = (hash &<< 1) &+ gear[Int(bytes[index])]
            if hash & maskSmall == 0 { return Cut(length: index, hash: hash) }
            index &+= 1
        }
        while index < end {
            hash = (hash &<< 1) &+ gear[Int(bytes[index])]
            if hash & maskLarge == 0 { return Cut(length: index, hash: hash) }
            index &+= 1
        }
        return Cut(length: end, hash: hash)
    }

    /// Two bytes per step, as the 2020 paper's section 3.7: the even byte through the shifted table and the
    /// shifted mask, the odd byte through the plain ones. Pairs start at `start / 2`, so for an odd minimum the
    /// first pair begins one byte before it, as in the reference implementation.
    @inline(__always)
    static func cut2020(
        _ bytes: UnsafePointer<UInt8>, _ gear: UnsafePointer<UInt64>, _ shifted: UnsafePointer<UInt64>,
        start: Int, center: Int, end: Int, maskSmall: UInt64, maskLarge: UInt64
    ) -> Cut {
        var hash: UInt64 = 0
        var pair = start / 2
        if let cut = scanPairs(bytes, gear, shifted, hash: &hash, pair: &pair, endPair: center / 2, mask: maskSmall) {
            return cut
        }
        if let cut = scanPairs(bytes, gear, shifted, hash: &hash, pair: &pair, endPair: end / 2, mask: maskLarge) {
            return cut
        }
        return Cut(length: end, hash: hash)
    }

    /// Scans pairs `pair..<endPair` with one mask and returns the first cut, or `nil` with `hash` and `pair`
    /// advanced to `endPair`.
    ///
    /// The hash is a chain: one pair is `h = (h << 2) + shifted[even]`, test, `h += gear[odd]`, test. The main
    /// loop takes two pairs per step and reassociates the sums, so the chain costs one shift and one add per
    /// four bytes; the four intermediate hashes are computed beside it and tested with one well-predicted branch.
    /// When any test hits, the step is replayed one pair at a time to find the first cut. Measured in one run on
    /// the development machine: 2.73 GB/s before, 2.92 GB/s after (median of 8 runs each, random data, 8 KiB).
    @inline(__always)
    static func scanPairs(
        _ bytes: UnsafePointer<UInt8>, _ gear: UnsafePointer<UInt64>, _ shifted: UnsafePointer<UInt64>,
        hash: inout UInt64, pair: inout Int, endPair: Int, mask: UInt64
    ) -> Cut? {
        let maskShifted = mask &<< 1
        var h = hash
        var p = pair
        while p &+ 2 <= endPair {
            let even = p &* 2
            let x0 = shifted[Int(bytes[even])]
            let y0 = gear[Int(bytes[even &+ 1])]
            let x1 = shifted[Int(bytes[even &+ 2])]
            let y1 = gear[Int(bytes[even &+ 3])]
            let h2 = h &<< 2
            let s0 = x0 &+ y0
            let k = s0 &<< 2
            let h4 = h &<< 4
            let hA = h2 &+ x0
            let hB = h2 &+ s0
            let hC = h4 &+ (k &+ x1)
            let hD = h4 &+ (k &+ (x1 &+ y1))
            if (hA & maskShifted) == 0 || (hB & mask) == 0 || (hC & maskShifted) == 0 || (hD & mask) == 0 {
                break
            }
            h = hD
            p &+= 2
        }
        while p < endPair {
            let even = p &* 2
            h = (h &<< 2) &+ shifted[Int(bytes[even])]
            if h & maskShifted == 0 {
                hash = h
                return Cut(length: even, hash: h)
            }
            h = h &+ gear[Int(bytes[even &+ 1])]
            if h & mask == 0 {
                hash = h
                return Cut(length: even &+ 1, hash: h)
            }
            p &+= 1
        }
        hash = h
        pair = p
        return nil
    }
}
