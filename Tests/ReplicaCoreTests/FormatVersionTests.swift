import Foundation
import ReplicaCore
import ReplicaTestSupport
import Testing

@Suite("Format versions: version 3 is written, versions 1 and 2 still decode")
struct FormatVersionTests {
    /// 3000 numbered lines, twice: the content of the version-1 fixtures (see Fixtures/README.md).
    static var content: [UInt8] {
        var text = ""
        for _ in 0..<2 {
            for i in 0..<3000 { text += "line \(i % 97) of the version-1 fixture: \((i * i) % 1009)\n" }
        }
        return Array(text.utf8)
    }

    /// ``content`` with its first 40 "line 5 of" spelled "line five of" and every ": 77" spelled out.
    static var editedContent: [UInt8] {
        var text = String(decoding: content, as: UTF8.self)
        for _ in 0..<40 {
            guard let range = text.range(of: "line 5 of") else { break }
            text.replaceSubrange(range, with: "line five of")
        }
        return Array(text.replacingOccurrences(of: ": 77", with: ": seventy-seven").utf8)
    }

    static func decode(_ stream: [UInt8], store: MemoryChunkStore? = nil) throws -> (StreamDecoder, [UInt8]) {
        let decoder = try StreamDecoder(store: store)
        var output: [UInt8] = []
        try decoder.decode(stream, into: &output)
        try decoder.finish()
        return (decoder, output)
    }

    @Test("version-1 and version-2 self-contained streams decode", arguments: [UInt8(1), 2])
    func olderSelfContained(version: UInt8) throws {
        let stream = try Fixtures.bytes("v\(version)-self-contained.rpl")
        #expect(stream[4] == version)
        let (decoder, output) = try Self.decode(stream)
        #expect(output == Self.content)
        #expect(decoder.header?.version == version)
        #expect(decoder.statistics.windowReferences > 0)
    }

    @Test(
        "version-1 and version-2 store-backed streams decode: references, store-prefixed blocks, store runs (2)",
        arguments: [UInt8(1), 2])
    func olderStoreBacked(version: UInt8) throws {
        let store = MemoryChunkStore(capacity: 16 << 20)
        let (_, first) = try Self.decode(try Fixtures.bytes("v\(version)-store-a.rpl"), store: store)
        #expect(first == Self.content)
        let (decoder, second) = try Self.decode(try Fixtures.bytes("v\(version)-store-b.rpl"), store: store)
        #expect(second == Self.editedContent)
        #expect(decoder.header?.version == version)
        #expect(decoder.statistics.storeReferences > 0)
        #expect((decoder.statistics.storeRuns > 0) == (version >= 2))
    }

    @Test("a transient literal or a skip in a version-2 stream is refused")
    func formatThreeRecordsInVersionTwo() throws {
        for operations: [HandmadeStream.Operation] in [[.transient([1, 2, 3])], [.skip(1), .literal([1, 2])]] {
            var stream = HandmadeStream(windowSize: 1 << 20, version: 2)
            try stream.appendBlock(operations)
            let bytes = stream.finish()
            let decoder = try StreamDecoder()
            var output: [UInt8] = []
            let error = try #require(throws: FormatError.self) { try decoder.decode(bytes, into: &output) }
            #expect(error.code == .corrupt)
            #expect(error.message.contains("literal of 0 bytes"), "\(error)")
            #expect(output.isEmpty)
        }
    }

    @Test("new streams are version 3 and record zstd's long window")
    func writesVersionThree() throws {
        let stream = try Replica.compress(Self.content, configuration: EncoderConfiguration())
        #expect(stream[4] == StreamHeader.currentVersion)
        #expect(StreamHeader.currentVersion == 3)
        #expect(stream[27] == UInt8(CodecConfiguration.defaultLongWindowLog))
        let (decoder, output) = try Self.decode(stream)
        #expect(output == Self.content)
        #expect(decoder.header?.zstdWindowLog == 27)
        let short = try Replica.compress(
            Self.content, configuration: EncoderConfiguration(codec: CodecConfiguration(.zstd, longWindowLog: nil)))
        #expect(short[27] == 0)
        #expect(try Self.decode(short).1 == Self.content)
    }

    @Test("a window log in a version-1 header is refused")
    func windowLogInVersionOne() throws {
        var stream = try Fixtures.bytes("v1-self-contained.rpl")
        // Re-encode the header (which recomputes its check) so that only the field is wrong.
        var header = try stream.withUnsafeBytes { try StreamHeader.decode($0) }
        header.zstdWindowLog = 27
        stream.replaceSubrange(0..<StreamHeader.size, with: header.encoded())
        let decoder = try StreamDecoder()
        var output: [UInt8] = []
        let error = try #require(throws: FormatError.self) { try decoder.decode(stream, into: &output) }
        #expect(error.code == .corrupt)
        #expect(error.offset == 27)
    }

    @Test("a window log beyond the decoder's memory limit is refused at the header")
    func windowBeyondMemory() throws {
        let configuration = try EncoderConfiguration(
            codec: CodecConfiguration(.zstd, longWindowLog: 28), windowSize: 1 << 20)
        let stream = try Replica.compress(Self.content, configuration: configuration)
        // 256 MiB of zstd history plus the window and the block buffers.
        let decoder = try StreamDecoder(options: DecoderOptions(memoryLimit: 256 << 20))
        var output: [UInt8] = []
        let error = try #require(throws: FormatError.self) { try decoder.decode(stream, into: &output) }
        #expect(error.code == .limitExceeded)
        #expect(try Self.decode(stream).1 == Self.content, "the default 1 GiB limit holds it")
    }
}
