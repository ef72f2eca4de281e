public import ReplicaCore

/// Rewrites a stream's checks so that mutated bytes reach the parser instead of stopping at a checksum.
///
/// Structural checks are recomputed from the bytes (docs/FORMAT.md): the header check (bytes 60..<64, XXH3-64 of
/// bytes 0..<60, low 32 bits), each block's stored check (16..<24, XXH3-64 of the stored bytes) and header check
/// (32..<36, over 0..<32), and the trailer check (28..<32, over 0..<28). A block's content check and the trailer's
/// totals depend on the decoded chunks, so ``decode(_:makeDecoder:outputCap:)`` decodes, and when the decoder names
/// the value it computed (its error message: "block content check 0x..., expected ...", "content check 0x...,
/// trailer says ...") or the totals it counted (``StreamDecoder/statistics``), writes that value in and decodes
/// again, a few rounds at most. No hook in ReplicaCore is needed; if the decoder's messages change, the harness
/// still runs but stops fixing those two checks (the seeds' coverage in docs/FUZZING.md would show it).
public enum CheckFixer {
    static let headerSize = 64
    static let blockHeaderSize = 36
    static let trailerSize = 32

    /// Recomputes every structural check in place; stops at the first frame that does not parse.
    public static func fixStructure(_ bytes: inout [UInt8]) {
        guard bytes.count >= headerSize else { return }
        setCheck32(&bytes, at: 0, covering: 60)
        var position = headerSize
        while position < bytes.count {
            switch bytes[position] {
            case 0x42:
                guard bytes.count - position >= blockHeaderSize else { return }
                let stored = Int(load32(bytes, at: position + 8))
                let start = position + blockHeaderSize
                guard stored <= bytes.count - start else {
                    setCheck32(&bytes, at: position, covering: 32)
                    return
                }
                let check = bytes.withUnsafeBytes { Harness.xxh3(UnsafeRawBufferPointer(rebasing: $0[start..<(start + stored)])) }
                store64(&bytes, check, at: position + 16)
                setCheck32(&bytes, at: position, covering: 32)
                position = start + stored
            case 0x54:
                guard bytes.count - position >= trailerSize else { return }
                setCheck32(&bytes, at: position, covering: 28)
                position += trailerSize
            default:
                return
            }
        }
    }

    /// Thrown by the delivery closure when content passes the harness's cap.
    struct OutputCapReached: Error {}

    /// Fixes the checks of `bytes` and decodes it with decoders from `makeDecoder`, discarding content but
    /// counting it against `outputCap`. Returns the last decoding's error (`nil` when the stream decoded).
    @discardableResult
    public static func decode(
        _ input: [UInt8], rounds: Int = 6, outputCap: Int = 64 << 20, makeDecoder: () throws -> StreamDecoder
    ) -> (any Error)? {
        run(input, rounds: rounds, outputCap: outputCap, makeDecoder: makeDecoder).error
    }

    /// The input with every check fixed that `rounds` decodings can fix: for writing hand-made seeds.
    public static func fixed(_ input: [UInt8], rounds: Int = 4, makeDecoder: () throws -> StreamDecoder) -> [UInt8] {
        run(input, rounds: rounds, outputCap: .max, makeDecoder: makeDecoder).bytes
    }

    static func run(
        _ input: [UInt8], rounds: Int, outputCap: Int, makeDecoder: () throws -> StreamDecoder
    ) -> (bytes: [UInt8], error: (any Error)?) {
        var bytes = input
        fixStructure(&bytes)
        var lastError: (any Error)?
        for _ in 0..<rounds {
            let decoder: StreamDecoder
            do { decoder = try makeDecoder() } catch { return (bytes, error) }
            lastError = decodeOnce(bytes, decoder, outputCap: outputCap)
            guard let format = lastError as? FormatError, patch(&bytes, format, decoder) else { break }
        }
        return (bytes, lastError)
    }

    /// One decode of the whole input, delivering in pieces; content is counted and dropped.
    public static func decodeOnce(_ bytes: [UInt8], _ decoder: StreamDecoder, outputCap: Int) -> (any Error)? {
        var delivered = 0
        do {
            try bytes.withUnsafeBytes { buffer in
                try decoder.decode(buffer, pieceSize: 64 << 10) { piece in
                    delivered += piece.count
                    if delivered > outputCap { throw OutputCapReached() }
                }
            }
            try decoder.finish()
            return nil
        } catch {
            return error
        }
    }

    /// Writes the value the decoder computed where `error` points; `false` when there is nothing to fix.
    static func patch(_ bytes: inout [UInt8], _ error: FormatError, _ decoder: StreamDecoder) -> Bool {
        guard let offset = Int(exactly: error.offset) else { return false }
        let message = error.message
        if error.code == .checksumMismatch, message.hasPrefix("block content check "),
            let value = hexValue(after: "block content check ", in: message), offset >= 24,
            offset + 8 <= bytes.count
        {
            store64(&bytes, value, at: offset)
            setCheck32(&bytes, at: offset - 24, covering: 32)
            return true
        }
        if error.code == .checksumMismatch, message.hasPrefix("content check "),
            let value = hexValue(after: "content check ", in: message), offset >= 12, offset - 12 + trailerSize <= bytes.count
        {
            store64(&bytes, value, at: offset)
            setCheck32(&bytes, at: offset - 12, covering: 28)
            return true
        }
        if error.code == .corrupt, message.hasPrefix("trailer "), offset + trailerSize <= bytes.count {
            store64(&bytes, decoder.statistics.contentBytes, at: offset + 4)
            store64(&bytes, decoder.statistics.blocks, at: offset + 20)
            setCheck32(&bytes, at: offset, covering: 28)
            return true
        }
        return false
    }

    static func hexValue(after prefix: String, in message: String) -> UInt64? {
        let rest = message.dropFirst(prefix.count)
        guard rest.hasPrefix("0x") else { return nil }
        return UInt64(String(rest.dropFirst(2).prefix { $0.isHexDigit }), radix: 16)
    }

    static func load32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
    }

    static func store64(_ bytes: inout [UInt8], _ value: UInt64, at offset: Int) {
        for index in 0..<8 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
    }

    /// Writes the low 32 bits of XXH3-64 over `bytes[start..<start+length]` at `start + length`.
    static func setCheck32(_ bytes: inout [UInt8], at start: Int, covering length: Int) {
        let check = bytes.withUnsafeBytes { Harness.xxh3(UnsafeRawBufferPointer(rebasing: $0[start..<(start + length)])) }
        for index in 0..<4 { bytes[start + length + index] = UInt8(truncatingIfNeeded: check >> (8 * index)) }
    }
}
