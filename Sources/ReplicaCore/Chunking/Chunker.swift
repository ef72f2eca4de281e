/// A streaming FastCDC chunker: feed it bytes in pieces of any size and it reports the same chunks as one
/// ``FastCDC`` pass over the whole input.
///
/// It buffers only the chunk whose end the input has not decided yet (less than `maximumSize` bytes). A cut is
/// taken when the content shows a boundary before the end of the bytes seen, when a chunk reaches `maximumSize`,
/// or at ``finish(_:)``: only these cuts are independent of where the input is split.
///
/// ```swift
/// var chunker = Chunker(try ChunkerConfiguration(averageSize: 8192))
/// for piece in pieces {
///     chunker.append(piece) { chunk in print(chunk.count) }
/// }
/// chunker.finish { chunk in print(chunk.count) }
/// ```
public struct Chunker: Sendable {
    /// The cut-point function.
    public let cutter: FastCDC
    private var pending: [UInt8] = []
    /// How many bytes at the start of `pending` ``flushPending(_:)`` has already handed out: the chunk they
    /// begin is still cut where the content says, and only its rest is handed out then.
    private var handedOut = 0
    /// How far the chunk at the start of `pending` (while `append` joins input: the chunk it is deciding) has been
    /// scanned without finding its end, so that more input scans only the new bytes (`nil`: from the start).
    private var scan: FastCDC.Scan?
    /// How many bytes of input have been handed out as chunks.
    public private(set) var offset: UInt64 = 0

    /// Creates a chunker.
    public init(_ configuration: ChunkerConfiguration) {
        self.cutter = FastCDC(configuration)
    }

    /// Creates a chunker whose cutter uses a chosen kernel (for tests and the benchmark's comparison).
    package init(_ configuration: ChunkerConfiguration, kernel: FastCDC.Kernel) {
        self.cutter = FastCDC(configuration, kernel: kernel)
    }

    /// The number of bytes held back, waiting for more input to decide a cut.
    public var bufferedCount: Int { pending.count }

    /// Adds input and hands every chunk that is now decided to `body`, in order.
    ///
    /// - Parameters:
    ///   - bytes: the next piece of input, of any size.
    ///   - body: called with each chunk's bytes; the buffer is valid only during the call.
    /// - Warning: the buffer passed to `body` must not escape the call.
    public mutating func append(
        _ bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> Void
    ) rethrows {
        var input = bytes
        if !pending.isEmpty {
            // The carried bytes begin a chunk whose end no input has decided yet (a boundary found before the
            // end of the bytes is final, as in `flushPending`). Join only as much of the new input as decides
            // it: first up to three average chunks from its start (almost always enough), then up to a
            // maximum-size chunk. The rest of the input is cut in place.
            let carried = pending.count
            let maximum = cutter.configuration.maximumSize
            let firstTry = min(maximum, 3 &* cutter.configuration.averageSize)
            var target = firstTry
            var start = 0
            var taken = 0
            var skip = handedOut
            while start < carried {
                let more = min(input.count &- taken, max(0, start &+ target &- pending.count))
                if more > 0 {
                    pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[taken..<(taken &+ more)]))
                    taken &+= more
                }
                let joined = pending
                var progress = scan
                let length: Int? = try joined.withUnsafeBytes { buffer in
                    let rest = UnsafeRawBufferPointer(rebasing: buffer[start...])
                    let cut = cutter.cut(rest, resuming: &progress)
                    guard cut.length < rest.count || rest.count >= maximum else { return nil }
                    try Self.handOut(UnsafeRawBufferPointer(rebasing: rest[0..<cut.length]), skipping: &skip, body)
                    return cut.length
                }
                scan = progress
                if let length {
                    start &+= length
                    target = firstTry
                    scan = nil
                } else if taken == input.count {
                    break
                } else {
                    target = maximum
                }
            }
            handedOut = skip
            offset &+= UInt64(start)
            if start < carried {
                pending.removeFirst(start)
                return
            }
            pending.removeAll(keepingCapacity: true)
            input = UnsafeRawBufferPointer(rebasing: input[(start &- carried)...])
        }
        let consumed = try cutter.cutDecided(input, final: false, stopAt: .max, scan: &scan, body)
        offset &+= UInt64(consumed)
        pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[consumed...]))
    }

    /// Hands out the chunks of everything still buffered: the end of the input decides the last cuts.
    ///
    /// The chunker is empty afterwards and can be reused for a new input.
    public mutating func finish(_ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        let rest = pending
        pending.removeAll(keepingCapacity: true)
        var skip = handedOut
        handedOut = 0
        scan = nil
        var unused: FastCDC.Scan?
        _ = try rest.withUnsafeBytes { buffer in
            try cutter.cutDecided(buffer, final: true, stopAt: .max, scan: &unused) { chunk in
                try Self.handOut(chunk, skipping: &skip, body)
            }
        }
        offset = 0
    }

    /// Hands out everything buffered without deciding cuts the content has not decided, and keeps cutting
    /// where the content says afterwards: the chunk boundaries of the whole input stay those of one pass.
    ///
    /// Chunks whose end is decided (a boundary found in the buffered bytes, or the maximum size) are handed
    /// out whole. The undecided rest is handed out as a *piece*: the chunk it begins is cut later, where the
    /// content decides, and then only its part after the piece is handed out. So a flush costs at most one
    /// chunk handed out in two pieces, and the chunks after it are the same as without the flush.
    public mutating func flushPending(_ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        guard pending.count > handedOut else { return }
        let buffered = pending
        var skip = handedOut
        let maximum = cutter.configuration.maximumSize
        let decided = try buffered.withUnsafeBytes { buffer in
            var start = 0
            while start < buffer.count {
                let rest = UnsafeRawBufferPointer(rebasing: buffer[start...])
                let cut = cutter.cut(rest)
                // A cut before the end of the bytes (a boundary) or at the maximum size is final.
                guard cut.length < rest.count || rest.count >= maximum else { break }
                try Self.handOut(UnsafeRawBufferPointer(rebasing: rest[0..<cut.length]), skipping: &skip, body)
                start += cut.length
            }
            try Self.handOut(UnsafeRawBufferPointer(rebasing: buffer[start...]), skipping: &skip, body)
            return start
        }
        pending.removeFirst(decided)
        offset &+= UInt64(decided)
        handedOut = pending.count
        scan = nil
    }

    /// Hands out `chunk` less its first `skip` bytes (already handed out), if anything remains.
    private static func handOut(
        _ chunk: UnsafeRawBufferPointer, skipping skip: inout Int, _ body: (UnsafeRawBufferPointer) throws -> Void
    ) rethrows {
        let already = min(skip, chunk.count)
        skip -= already
        guard already < chunk.count else { return }
        try body(UnsafeRawBufferPointer(rebasing: chunk[already...]))
    }
}

extension FastCDC {
    /// Cuts the chunks of `buffer` whose ends are decided, starting no chunk at or after `stopAt`, and returns
    /// how many bytes they cover. Unless `final`, a chunk whose end is not decided (no boundary before the end of
    /// the bytes, fewer than `maximumSize` bytes) is left, and `scan` says how far it was scanned (the lanes
    /// kernel leaves up to `maximumSize` bytes unscanned, and `scan` `nil`).
    func cutDecided(
        _ buffer: UnsafeRawBufferPointer, final: Bool, stopAt: Int, scan: inout FastCDC.Scan?,
        _ body: (UnsafeRawBufferPointer) throws -> Void
    ) rethrows -> Int {
        scan = nil
        if kernel == .lanes { return try cutDecidedLanes(buffer, final: final, stopAt: stopAt, body) }
        let maximum = configuration.maximumSize
        var start = 0
        while start < buffer.count && start < stopAt {
            let rest = UnsafeRawBufferPointer(rebasing: buffer[start...])
            scan = nil
            let cut = self.cut(rest, resuming: &scan)
            // A boundary before the end of the bytes, or a cut at the maximum size, is final; a chunk that
            // runs to the end of fewer bytes than that waits for more input.
            if !final && cut.length == rest.count && rest.count < maximum { break }
            try body(UnsafeRawBufferPointer(rebasing: rest[0..<cut.length]))
            start &+= cut.length
            scan = nil
        }
        return start
    }
}
