/// A streaming FastCDC chunker: feed it bytes in pieces of any size and it reports the same chunks as one
/// ``FastCDC`` pass over the whole input.
///
/// It buffers at most `maximumSize` bytes plus the last piece it was given. A cut is taken only when the
/// buffer holds a full `maximumSize` bytes, or at ``finish(_:)``, because only then is the cut independent of
/// where the input is split.
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
            // A chunk that starts in the carried bytes ends at most `maximumSize` bytes later, so joining that
            // much of the new input decides every chunk that starts in them. Then the rest is cut in place.
            let carried = pending.count
            let take = min(input.count, cutter.configuration.maximumSize)
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[0..<take]))
            let joined = pending
            var skip = handedOut
            let consumed = try joined.withUnsafeBytes { buffer in
                try cutter.cutDecided(buffer, final: false, stopAt: carried) { chunk in
                    try Self.handOut(chunk, skipping: &skip, body)
                }
            }
            handedOut = skip
            offset &+= UInt64(consumed)
            if consumed < carried {
                pending.removeFirst(consumed)
                return
            }
            pending.removeAll(keepingCapacity: true)
            input = UnsafeRawBufferPointer(rebasing: input[(consumed &- carried)...])
        }
        let consumed = try cutter.cutDecided(input, final: false, stopAt: .max, body)
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
        _ = try rest.withUnsafeBytes { buffer in
            try cutter.cutDecided(buffer, final: true, stopAt: .max) { chunk in
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
    /// how many bytes they cover. Unless `final`, a cut needs `maximumSize` bytes ahead of the chunk's start.
    func cutDecided(
        _ buffer: UnsafeRawBufferPointer, final: Bool, stopAt: Int,
        _ body: (UnsafeRawBufferPointer) throws -> Void
    ) rethrows -> Int {
        if kernel == .lanes { return try cutDecidedLanes(buffer, final: final, stopAt: stopAt, body) }
        let maximum = configuration.maximumSize
        var start = 0
        while start < buffer.count && start < stopAt {
            if !final && buffer.count &- start < maximum { break }
            let rest = UnsafeRawBufferPointer(rebasing: buffer[start...])
            let cut = self.cut(rest)
            try body(UnsafeRawBufferPointer(rebasing: rest[0..<cut.length]))
            start &+= cut.length
        }
        return start
    }
}
