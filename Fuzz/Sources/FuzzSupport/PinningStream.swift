import CFuzzSupport
import ReplicaCore

extension Corpus {
    /// A hand-made stream that every check accepts, built to test the decoder's memory limit (issue 12).
    ///
    /// Each of `blocks` lz4 blocks holds one 1-byte literal followed by `references` window references to it, so
    /// its raw body is about `references + 9` bytes, while lz4 squeezes it to under a hundred. The 1-byte literal
    /// enters the decoder's window; if the window keeps the whole body alive for it (a slice of the body), each
    /// block pins its body, and memory grows with the number of blocks, not with the window's size. The real
    /// encoder never writes such blocks (it cuts no 1-byte chunks but at a flush), a hostile sender can.
    /// The header asks for a 4 KiB window, 4 KiB blocks and lz4: well under a small memory limit.
    public static func windowPinningStream(blocks: Int = 400, references: Int = 16_383) throws -> [UInt8] {
        let configuration = try EncoderConfiguration(
            chunker: ChunkerConfiguration(averageSize: 256), codec: CodecConfiguration(.lz4), windowSize: 4096,
            blockSize: 4096)
        var stream = Array(try encode([], configuration).prefix(64))  // the header alone
        let fingerprinter = Fingerprinter()
        var contentLength: UInt64 = 0
        for index in 0..<blocks {
            let byte = UInt8(truncatingIfNeeded: index)
            // Literal section, operations (literal of 1, then distance-1 window references), counts.
            var body: [UInt8] = [byte, 1 << 2 | 0] + [UInt8](repeating: 1 << 2 | 1, count: references)
            append32(&body, UInt32(references + 1))
            append32(&body, UInt32(references + 1))
            var stored = [UInt8](repeating: 0, count: body.count + body.count / 255 + 64)
            let storedSize = body.withUnsafeBytes { source in
                stored.withUnsafeMutableBytes { fuzz_lz4_compress(source.baseAddress, CInt(source.count), $0.baseAddress, CInt($0.count)) }
            }
            stored.removeSubrange(Int(storedSize)...)
            let list = [[UInt8]](repeating: fingerprinter.fingerprint([byte]).canonicalBytes, count: references + 1)
                .flatMap { $0 }
            var header: [UInt8] = [0x42, 1, 0, 0]
            append32(&header, UInt32(body.count))
            append32(&header, UInt32(stored.count))
            append32(&header, UInt32(references + 1))
            append64(&header, stored.withUnsafeBytes { Harness.xxh3($0) })
            append64(&header, list.withUnsafeBytes { Harness.xxh3($0) })
            append32(&header, 0)  // header check, set by fixStructure
            stream += header + stored
            contentLength += UInt64(references + 1)
        }
        var trailer: [UInt8] = [0x54, 0, 0, 0]
        append64(&trailer, contentLength)
        append64(&trailer, 0)  // content checksum: CheckFixer writes the decoder's value
        append64(&trailer, UInt64(blocks))
        append32(&trailer, 0)
        stream += trailer
        return CheckFixer.fixed(stream) { try StreamDecoder(store: nil) }
    }

    static func append32(_ bytes: inout [UInt8], _ value: UInt32) {
        for index in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * index))) }
    }

    static func append64(_ bytes: inout [UInt8], _ value: UInt64) {
        for index in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * index))) }
    }
}
