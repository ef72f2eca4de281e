/// The multi-lane FastCDC kernel: the same cut points as the one-chain loops of ``FastCDC``, found faster.
///
/// The one-chain loop is bound by latency: every byte waits for the previous byte's shift and add. But a
/// Gear hash forgets: after 64 steps, `h = sum(GEAR[b[p - k]] << k, k < 64)` no longer depends on where the
/// chain started. So the hash at position `p` is the *window hash* `W(p)` of the 64 bytes ending at `p`,
/// except within the first 63 bytes after a chain restart (each chunk's hashing starts at its minimum size).
///
/// The kernel therefore works in two passes over blocks of the input:
/// 1. **Candidates.** Eight independent chains hash the eight segments of a 32 KiB block at once (each starts
///    63 bytes before its segment to warm up), and mark in a bitmap every position whose window hash matches both
///    masks' common bits (`maskSmall & maskLarge`): a superset of the cuts, whatever the chunk boundaries.
/// 2. **Cuts.** A sequential walk applies minimum, normalisation and maximum as the one-chain loop does. It
///    hashes the first 64 positions after each restart itself (there the restarted hash differs from the
///    window hash), then visits only the marked positions and tests each with the mask of its region.
///
/// FastCDC 2020 needs no case of its own: its pair step `h = (h << 2) + (GEAR[even] << 1)`, then
/// `+ GEAR[odd]`, is the byte chain with the even byte's hash shifted left by one; testing that against
/// `mask << 1` is testing the byte chain against `mask` (the masks stay below bit 48). Only its start is
/// rounded down to an even offset, and its last odd byte is not tested. The golden vectors and the
/// equivalence tests pin both variants against the one-chain loops.
extension FastCDC {
    /// Which loop finds the cut points. Every kernel gives the same cuts; the choice exists for tests and
    /// for the benchmark's before/after comparison.
    package enum Kernel: String, Sendable, CaseIterable {
        /// One hash chain, one (2016) or two (2020) bytes per step: the reference loops.
        case scalar
        /// Eight interleaved chains mark candidates; a sequential pass applies the size rules.
        case lanes

        /// The faster kernel for a variant, as measured by `replica-bench --chunking` (docs/PERFORMANCE.md):
        /// the lanes for FastCDC 2016, whose one-byte chain is slowest; for FastCDC 2020 the scalar pair loop,
        /// which skips the minimum size of every chunk, while the lanes hash every byte.
        package static func preferred(for variant: ChunkerConfiguration.Variant) -> Kernel {
            variant == .v2016 ? .lanes : .scalar
        }
    }

    /// Block size of the candidate pass: a multiple of 64 so that a block's bitmap is whole words.
    @usableFromInline static let laneBlockSize = 32 << 10
    /// Lanes of the candidate pass.
    static let laneCount = 8
    /// The window of the Gear hash in bytes: after this many steps a chain has forgotten its start.
    static let window = 64

    /// ``cutDecided(_:final:stopAt:_:)`` with the lanes kernel.
    func cutDecidedLanes(
        _ buffer: UnsafeRawBufferPointer, final: Bool, stopAt: Int,
        _ body: (UnsafeRawBufferPointer) throws -> Void
    ) rethrows -> Int {
        guard let raw = buffer.baseAddress, buffer.count > 0 else { return 0 }
        let bytes = raw.assumingMemoryBound(to: UInt8.self)
        let maximum = configuration.maximumSize
        return try table.gear.withUnsafeBufferPointer { gearBuffer in
            let gear = gearBuffer.baseAddress.unsafelyUnwrapped
            var bitmap = [UInt64](repeating: 0, count: Self.laneBlockSize / 64)
            return try bitmap.withUnsafeMutableBufferPointer { bits in
                var scanner = CandidateScanner(
                    bytes: bytes, count: buffer.count, gear: gear, mask: maskSmall & maskLarge,
                    bitmap: bits.baseAddress.unsafelyUnwrapped)
                var start = 0
                while start < buffer.count && start < stopAt {
                    if !final && buffer.count &- start < maximum { break }
                    let length = nextCut(from: start, count: buffer.count, bytes, gear, &scanner)
                    try body(UnsafeRawBufferPointer(rebasing: buffer[start..<(start &+ length)]))
                    start &+= length
                }
                return start
            }
        }
    }

    /// The length of the chunk that starts at `start`, by the same rules as ``cut(_:)``.
    @inline(__always)
    func nextCut(
        from start: Int, count: Int, _ bytes: UnsafePointer<UInt8>, _ gear: UnsafePointer<UInt64>,
        _ scanner: inout CandidateScanner
    ) -> Int {
        let remaining = count &- start
        let minimum = configuration.minimumSize
        if remaining <= minimum { return remaining }
        var center = configuration.averageSize
        var end = remaining
        if remaining > configuration.maximumSize {
            end = configuration.maximumSize
        } else if remaining < center {
            center = remaining
        }
        // The positions tested, relative to `start`: [first, smallEnd) with the small mask, then
        // [smallEnd, largeEnd) with the large one. FastCDC 2020 works in whole pairs.
        let first: Int
        let smallEnd: Int
        let largeEnd: Int
        switch configuration.variant {
        case .v2016:
            (first, smallEnd, largeEnd) = (minimum, center, end)
        case .v2020:
            (first, smallEnd, largeEnd) = (minimum & ~1, center & ~1, end & ~1)
        }
        // The restarted chain, hashed here for the positions where it differs from the window hash.
        let warmEnd = Swift.min(first &+ Self.window, largeEnd)
        var hash: UInt64 = 0
        var position = first
        while position < warmEnd {
            hash = (hash &<< 1) &+ gear[Int(bytes[start &+ position])]
            let mask = position < smallEnd ? maskSmall : maskLarge
            if hash & mask == 0 { return position }
            position &+= 1
        }
        // From here on the chain's hash is the window hash: visit only the marked positions.
        var known = (position: start &+ position &- 1, hash: hash)
        var next = start &+ position
        let limit = start &+ largeEnd
        while let candidate = scanner.next(from: next, below: limit) {
            let windowHash = scanner.windowHash(at: candidate, after: known)
            known = (candidate, windowHash)
            let mask = candidate &- start < smallEnd ? maskSmall : maskLarge
            if windowHash & mask == 0 { return candidate &- start }
            next = candidate &+ 1
        }
        return end
    }
}

/// The candidate pass of the lanes kernel over one buffer, one block at a time, and the bitmap it leaves.
///
/// - Warning: holds pointers into buffers owned by the caller; it lives only inside their closures.
struct CandidateScanner {
    let bytes: UnsafePointer<UInt8>
    let count: Int
    let gear: UnsafePointer<UInt64>
    /// Positions whose window hash has none of these bits set are marked.
    let mask: UInt64
    /// One bit per position of the current block.
    let bitmap: UnsafeMutablePointer<UInt64>
    /// The block the bitmap describes: [blockStart, blockEnd).
    var blockStart = 0
    var blockEnd = 0

    init(
        bytes: UnsafePointer<UInt8>, count: Int, gear: UnsafePointer<UInt64>, mask: UInt64,
        bitmap: UnsafeMutablePointer<UInt64>
    ) {
        self.bytes = bytes
        self.count = count
        self.gear = gear
        self.mask = mask
        self.bitmap = bitmap
    }

    /// The first marked position in `[from, below)`, or `nil`. Calls must not go backwards past the current
    /// block (the cut walk only moves forwards).
    @inline(__always)
    mutating func next(from: Int, below limit: Int) -> Int? {
        var position = from
        while position < limit {
            if position >= blockEnd { scanBlock(containing: position) }
            let relative = position &- blockStart
            var word = relative >> 6
            var bits = bitmap[word] & (~0 &<< UInt64(relative & 63))
            let stop = Swift.min(limit, blockEnd) &- blockStart
            let lastWord = (stop &- 1) >> 6
            while bits == 0 && word < lastWord {
                word &+= 1
                bits = bitmap[word]
            }
            if bits != 0 {
                let found = blockStart &+ (word << 6) &+ bits.trailingZeroBitCount
                return found < limit ? found : nil
            }
            position = blockStart &+ stop
        }
        return nil
    }

    /// The window hash at `position`, rolled on from a known hash less than 64 bytes back when there is one.
    @inline(__always)
    func windowHash(at position: Int, after known: (position: Int, hash: UInt64)) -> UInt64 {
        var index: Int
        var hash: UInt64
        if position &- known.position <= FastCDC.window {
            (index, hash) = (known.position &+ 1, known.hash)
        } else {
            (index, hash) = (position &- (FastCDC.window &- 1), 0)
        }
        while index <= position {
            hash = (hash &<< 1) &+ gear[Int(bytes[index])]
            index &+= 1
        }
        return hash
    }

    /// Hashes the block that holds `position` and marks its candidates.
    mutating func scanBlock(containing position: Int) {
        let size = FastCDC.laneBlockSize
        blockStart = position - position % size
        blockEnd = Swift.min(blockStart &+ size, count)
        bitmap.update(repeating: 0, count: size / 64)
        // Only whole blocks take the lanes: then the lanes' stride is a constant. The short last block of a
        // buffer takes one chain.
        if blockEnd &- blockStart == size {
            scanFullBlock()
        } else {
            scanChain(from: blockStart, to: blockEnd)
        }
    }

    /// The hash chain warmed up for the window ending at `position - 1`.
    @inline(__always)
    func warmHash(before position: Int) -> UInt64 {
        var hash: UInt64 = 0
        var index = Swift.max(0, position &- (FastCDC.window &- 1))
        while index < position {
            hash = (hash &<< 1) &+ gear[Int(bytes[index])]
            index &+= 1
        }
        return hash
    }

    @inline(__always)
    func mark(_ position: Int) {
        let relative = position &- blockStart
        bitmap[relative >> 6] |= 1 &<< UInt64(relative & 63)
    }

    /// One chain over [from, to): for short blocks and a block's remainder.
    func scanChain(from: Int, to: Int) {
        var hash = warmHash(before: from)
        var index = from
        while index < to {
            hash = (hash &<< 1) &+ gear[Int(bytes[index])]
            if hash & mask == 0 { mark(index) }
            index &+= 1
        }
    }

    /// Eight chains over the eight segments of a whole block. The segment length is a constant, so every
    /// lane's byte is one displacement off a single pointer and the eight hashes stay in registers.
    func scanFullBlock() {
        let segment = FastCDC.laneBlockSize / FastCDC.laneCount
        let base = blockStart
        var h0 = warmHash(before: base)
        var h1 = warmHash(before: base &+ segment)
        var h2 = warmHash(before: base &+ 2 &* segment)
        var h3 = warmHash(before: base &+ 3 &* segment)
        var h4 = warmHash(before: base &+ 4 &* segment)
        var h5 = warmHash(before: base &+ 5 &* segment)
        var h6 = warmHash(before: base &+ 6 &* segment)
        var h7 = warmHash(before: base &+ 7 &* segment)
        let mask = self.mask
        let gear = self.gear
        var p = bytes + base
        let end = p + segment
        while p < end {
            h0 = (h0 &<< 1) &+ gear[Int(p[0])]
            h1 = (h1 &<< 1) &+ gear[Int(p[segment])]
            h2 = (h2 &<< 1) &+ gear[Int(p[2 * segment])]
            h3 = (h3 &<< 1) &+ gear[Int(p[3 * segment])]
            h4 = (h4 &<< 1) &+ gear[Int(p[4 * segment])]
            h5 = (h5 &<< 1) &+ gear[Int(p[5 * segment])]
            h6 = (h6 &<< 1) &+ gear[Int(p[6 * segment])]
            h7 = (h7 &<< 1) &+ gear[Int(p[7 * segment])]
            if _slowPath(
                (h0 & mask == 0) || (h1 & mask == 0) || (h2 & mask == 0) || (h3 & mask == 0)
                    || (h4 & mask == 0) || (h5 & mask == 0) || (h6 & mask == 0) || (h7 & mask == 0))
            {
                markLanes((h0, h1, h2, h3, h4, h5, h6, h7), at: base &+ (p - (bytes + base)), segment: segment)
            }
            p += 1
        }
    }

    /// Marks the lanes whose hash matched at offset `position` of the first segment. Kept out of line so the
    /// hot loop keeps its eight hashes in registers.
    @inline(never)
    func markLanes(
        _ hashes: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64), at position: Int, segment: Int
    ) {
        withUnsafeBytes(of: hashes) { lanes in
            for lane in 0..<FastCDC.laneCount where lanes.load(fromByteOffset: lane &* 8, as: UInt64.self) & mask == 0 {
                mark(position &+ lane &* segment)
            }
        }
    }
}
