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
            let consumed = try joined.withUnsafeBytes { buffer in
                try cutter.cutDecided(buffer, final: false, stopAt: carried, body)
            }
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
        _ = try rest.withUnsafeBytes { buffer in
            try cutter.cutDecided(buffer, final: true, stopAt: .max, body)
        }
        offset = 0
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
