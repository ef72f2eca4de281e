import Foundation
import ReplicaCore
import Testing

@Suite("Format versions: version 2 is written, version 1 still decodes")
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

    @Test("a version-1 self-contained stream decodes")
    func versionOneSelfContained() throws {
        let stream = try Fixtures.bytes("v1-self-contained.rpl")
        #expect(stream[4] == 1)
        let (decoder, output) = try Self.decode(stream)
        #expect(output == Self.content)
        #expect(decoder.header?.version == 1)
        #expect(decoder.statistics.windowReferences > 0)
    }

    @Test("version-1 store-backed streams decode: references and store-prefixed blocks")
    func versionOneStoreBacked() throws {
        let store = MemoryChunkStore(capacity: 16 << 20)
        let (_, first) = try Self.decode(try Fixtures.bytes("v1-store-a.rpl"), store: store)
        #expect(first == Self.content)
        let (decoder, second) = try Self.decode(try Fixtures.bytes("v1-store-b.rpl"), store: store)
        #expect(second == Self.editedContent)
        #expect(decoder.statistics.storeReferences > 0)
        #expect(decoder.statistics.storeRuns == 0)
    }

    @Test("new streams are version 2 and record zstd's long window")
    func writesVersionTwo() throws {
        let stream = try Replica.compress(Self.content, configuration: EncoderConfiguration())
        #expect(stream[4] == StreamHeader.currentVersion)
        #expect(StreamHeader.currentVersion == 2)
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
