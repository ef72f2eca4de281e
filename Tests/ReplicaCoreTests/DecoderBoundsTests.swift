#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ReplicaCore
import ReplicaTestSupport
import Testing

/// Hand-made streams with every checksum valid: what reaches the decoder's limits rather than its checksums.
@Suite("Decoder bounds")
struct DecoderBoundsTests {
    /// Blocks of one new 1-byte literal and 16,383 references to it: a 16 KiB body per byte of window.
    static func expandingStream(blocks: Int, windowSize: Int = 64 << 10) throws -> [UInt8] {
        var stream = HandmadeStream(windowSize: windowSize)
        for block in 0..<blocks {
            let references = [HandmadeStream.Operation](repeating: .windowReference(1), count: 16_383)
            try stream.appendBlock([.literal([UInt8(truncatingIfNeeded: block)])] + references, storage: .zstd())
        }
        return stream.finish()
    }

    static func decode(_ stream: [UInt8], options: DecoderOptions = .default) throws -> [UInt8] {
        let decoder = try StreamDecoder(options: options)
        var output: [UInt8] = []
        try decoder.decode(stream, into: &output)
        try decoder.finish()
        return output
    }

    /// A `/proc/self/status` field in bytes (`VmRSS`, `VmHWM`, `VmPeak`), or 0.
    static func processStatus(_ key: String) -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix(key + ":") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }

    #if canImport(Glibc)
    /// The bytes the process has allocated from glibc's malloc and not freed, from `malloc_info`'s totals
    /// (the system bytes of every arena, less their free bytes, plus mmapped blocks).
    static func heapInUse() -> Int {
        typealias MallocInfo = @convention(c) (Int32, UnsafeMutablePointer<FILE>?) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_info") else { return 0 }
        let mallocInfo = unsafeBitCast(symbol, to: MallocInfo.self)
        var buffer: UnsafeMutablePointer<CChar>?
        var size = 0
        guard let file = open_memstream(&buffer, &size) else { return 0 }
        _ = mallocInfo(0, file)
        fclose(file)
        defer { free(buffer) }
        guard let buffer else { return 0 }
        let xml = String(cString: buffer)
        func last(_ prefix: String) -> Int {
            guard let line = xml.split(separator: "\n").last(where: { $0.contains(prefix) }),
                let range = line.range(of: "size=\"")
            else { return 0 }
            return Int(line[range.upperBound...].prefix { $0.isNumber }) ?? 0
        }
        return last("<system type=\"current\"") - last("<total type=\"fast\"") - last("<total type=\"rest\"")
            + last("<total type=\"mmap\"")
    }

    /// Runs alone in a child process (an exit test), so the heap measured is the decoder's and nothing else's.
    @Test("a 1-byte literal does not keep its block body alive: the heap stays within the memory limit")
    func literalsDoNotPinBodies() async {
        await #expect(processExitsWith: .success) {
            func heap() -> Int { DecoderBoundsTests.heapInUse() }
            let stream = try DecoderBoundsTests.expandingStream(blocks: 100)
            let header = try stream.withUnsafeBytes { try StreamHeader.decode($0) }
            let limit = StreamDecoder.memoryNeeded(for: header)
            // The window's share: what the limit leaves once the block buffers are counted.
            let windowShare = header.windowSize
                + (header.windowSize / (header.averageChunkSize / 2) + 1) * 96
            let baseline = heap()
            if baseline <= 0 { exit(3) }  // malloc_info is unreadable: the measurement would prove nothing
            let decoder = try StreamDecoder(options: DecoderOptions(memoryLimit: limit))
            var peak = 0
            var afterFirstBlock: Int?
            var growth = 0
            for start in stride(from: 0, to: stream.count, by: 64) {
                let piece = Array(stream[start..<min(start + 64, stream.count)])
                try piece.withUnsafeBytes { bytes in try decoder.decode(bytes, pieceSize: 1 << 16) { _ in } }
                let now = heap() - baseline
                peak = max(peak, now)
                if decoder.statistics.blocks >= 1 {
                    afterFirstBlock = afterFirstBlock ?? now
                    growth = max(growth, now - (afterFirstBlock ?? now))
                }
            }
            try decoder.finish()
            print("peak heap growth \(peak) bytes, limit \(limit); after the first block \(growth), share \(windowShare)")
            if peak > limit || growth > windowShare + (256 << 10) { exit(1) }
        }
    }
    #endif

    @Test("non-minimal (padded) varints are refused")
    func paddedVarints() throws {
        var stream = HandmadeStream(windowSize: 1 << 20)
        // A 1-byte literal whose operation word 4 is written as 0x84 0x00 instead of 0x04.
        var body: [UInt8] = [7, 0x84, 0x00]
        body += [1, 0, 0, 0, 2, 0, 0, 0]
        let fingerprint = Fingerprinter().fingerprint([7]).canonicalBytes
        try stream.appendBlock(body: body, fingerprints: fingerprint, outputLength: 1)
        let error = try #require(throws: FormatError.self) { try Self.decode(stream.finish()) }
        #expect(error.code == .corrupt)
    }

    @Test("a block of zstd that decodes to more than its raw length is refused")
    func zstdExtraOutput() throws {
        var stream = HandmadeStream(windowSize: 1 << 20)
        let chunk = TestCorpus.text(3000)
        try stream.appendBlock(
            body: HandmadeStream.body([.literal(chunk)]), fingerprints: Fingerprinter().fingerprint(chunk).canonicalBytes,
            storage: .zstd(extra: [UInt8](repeating: 0x41, count: 100_000)))
        let error = try #require(throws: FormatError.self) { try Self.decode(stream.finish()) }
        #expect(error.code == .corrupt)
        #expect(error.message.contains("more than"))
    }

    @Test("the zstd history is budgeted whatever codec the header names")
    func zstdHistoryAlwaysBudgeted() throws {
        var lz4 = HandmadeStream(windowSize: 1 << 20, codec: .lz4)
        let zstd = HandmadeStream(windowSize: 1 << 20, codec: .zstd)
        try lz4.appendBlock([.literal(TestCorpus.text(3000))], storage: .zstd())
        let stream = lz4.finish()
        let lz4Header = try stream.withUnsafeBytes { try StreamHeader.decode($0) }
        let zstdHeader = try zstd.bytes.withUnsafeBytes { try StreamHeader.decode($0) }
        #expect(StreamDecoder.memoryNeeded(for: lz4Header) == StreamDecoder.memoryNeeded(for: zstdHeader))
        #expect(StreamDecoder.memoryNeeded(for: lz4Header) > (16 << 20) + lz4Header.windowSize)
        let tight = try DecoderOptions(memoryLimit: StreamDecoder.memoryNeeded(for: lz4Header) - 1)
        let error = try #require(throws: FormatError.self) { try Self.decode(stream, options: tight) }
        #expect(error.code == .limitExceeded)
        #expect(try Self.decode(stream).count == 3000)
    }

    @Test("every decode API refuses output past its bound before decompressing", arguments: [0, 1, 16_384, 50_000])
    func outputBound(bound: Int) throws {
        let stream = try Self.expandingStream(blocks: 8)
        let full = try Self.decode(stream)
        #expect(full.count == 8 * 16_384)
        let error = try #require(throws: FormatError.self) { try Replica.decompress(stream, maximumOutputSize: bound) }
        #expect(error.code == .outputLimitExceeded)

        let decoder = try StreamDecoder(options: DecoderOptions(maximumOutputSize: bound))
        var output: [UInt8] = []
        let streaming = try #require(throws: FormatError.self) { try decoder.decode(stream, into: &output) }
        #expect(streaming.code == .outputLimitExceeded)
        #expect(output.count <= bound)
        #expect(output == Array(full.prefix(output.count)))

        var delivered = 0
        let pieces = try StreamDecoder(options: DecoderOptions(maximumOutputSize: bound))
        #expect(throws: FormatError.self) {
            try stream.withUnsafeBytes { bytes in try pieces.decode(bytes, pieceSize: 4096) { delivered += $0.count } }
        }
        #expect(delivered <= bound)
        #expect(try Replica.decompress(stream, maximumOutputSize: full.count) == full)
    }

    #if os(Linux)
    @Test("Replica.decompress reserves nothing on a trailer's word: a 96-byte stream claiming 1 GiB")
    func trailerCannotReserve() async {
        await #expect(processExitsWith: .success) {
            func peakVirtual() -> Int { DecoderBoundsTests.processStatus("VmPeak") }
            var stream = HandmadeStream(windowSize: 1 << 20)
            let lying = stream.finish(contentLength: 1 << 30)
            let before = peakVirtual()
            if before <= 0 { exit(3) }
            do {
                _ = try Replica.decompress(lying, maximumOutputSize: .max)
                exit(2)
            } catch let error as FormatError where error.code == .corrupt {
                print("VmPeak grew by \(peakVirtual() - before) bytes")
                if peakVirtual() - before > 256 << 20 { exit(1) }
            }
        }
    }
    #endif

    @Test("the set of missing fingerprints is bounded: decoding stops past the limit")
    func missingSetBounded() throws {
        let store = MemoryChunkStore(capacity: 1 << 20)
        var stream = HandmadeStream(windowSize: 0, storeID: store.storeID)
        let total = StreamDecoder.maximumMissingChunks + 1
        var index = 0
        while index < total {
            let count = min(8_000, total - index)  // 8-byte chunks: 64,000 bytes of output
            let operations = (index..<(index + count)).map { value in
                HandmadeStream.Operation.storeReference(withUnsafeBytes(of: UInt64(value)) { Array($0) })
            }
            try stream.appendBlock(operations)
            index += count
        }
        let decoder = try StreamDecoder(store: store)
        var output: [UInt8] = []
        let error = try #require(throws: FormatError.self) { try decoder.decode(stream.finish(), into: &output) }
        #expect(error.code == .missingChunks)
        #expect(decoder.statistics.missingChunks == UInt64(total))
        #expect(output.isEmpty)
    }

    @Test("a decoder with a store refuses store references in a self-contained stream")
    func storeReferenceScope() throws {
        let store = MemoryChunkStore(capacity: 1 << 20)
        let chunk = TestCorpus.text(1000)
        chunk.withUnsafeBytes { store.put($0, as: Fingerprinter().fingerprint(chunk)) }
        var stream = HandmadeStream(windowSize: 1 << 20)
        try stream.appendBlock([.storeReference(chunk)])
        let decoder = try StreamDecoder(store: store)
        var output: [UInt8] = []
        let error = try #require(throws: FormatError.self) { try decoder.decode(stream.finish(), into: &output) }
        #expect(error.code == .corrupt)
        #expect(error.message.contains("self-contained"))
    }

    @Test("concatenated streams decode as one when the options accept them, with whole-input offsets")
    func concatenatedStreams() throws {
        let first = TestCorpus.redundant(300_000)
        let second = TestCorpus.text(200_000)
        let a = try Replica.compress(first, configuration: EncoderConfiguration())
        let b = try Replica.compress(second, configuration: EncoderConfiguration())
        let options = try DecoderOptions(acceptsConcatenatedStreams: true)
        let decoder = try StreamDecoder(options: options)
        var output: [UInt8] = []
        for start in stride(from: 0, to: a.count + b.count, by: 777) {
            let joined = a + b
            try decoder.decode(Array(joined[start..<min(start + 777, joined.count)]), into: &output)
        }
        try decoder.finish()
        #expect(output == first + second)
        #expect(decoder.streamCount == 2)
        #expect(decoder.firstHeader != nil)
        #expect(decoder.statistics.contentBytes == UInt64(first.count + second.count))

        let single = try #require(throws: FormatError.self) { try Self.decode(a + b) }
        #expect(single.code == .trailingData)
        #expect(single.offset == UInt64(a.count))

        var damaged = a + b
        damaged[a.count + 20] ^= 0x01
        let located = try #require(throws: FormatError.self) { try Self.decode(damaged, options: options) }
        #expect(located.code == .checksumMismatch)
        #expect(located.offset == UInt64(a.count + 60))
        #expect(located.message.contains("stream 2"))

        let garbage = try #require(throws: FormatError.self) { try Self.decode(a + [1, 2, 3, 4, 5], options: options) }
        #expect(garbage.code == .notReplicaStream)
        #expect(garbage.offset == UInt64(a.count))
    }
}
