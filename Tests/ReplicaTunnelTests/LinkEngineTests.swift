import NIOCore
import ReplicaCore
import ReplicaTestSupport
import Testing

@testable import ReplicaTunnel

/// Seeded test data: `random` bytes that do not compress, `text` that repeats.
enum Payload {
    static func random(_ count: Int, seed: UInt64) -> [UInt8] {
        var generator = SplitMix64(seed: seed)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count + 8)
        while bytes.count < count {
            withUnsafeBytes(of: generator.next()) { bytes += $0 }
        }
        return Array(bytes.prefix(count))
    }

    static func text(_ count: Int, seed: UInt64) -> [UInt8] {
        let line = Array("line \(seed): the quick brown fox jumps over the lazy dog\n".utf8)
        return Array((0..<(count / line.count + 1)).flatMap { _ in line }.prefix(count))
    }
}

@Suite struct LinkEngineTests {
    func pair(window: Int = 32 << 20) throws -> (LinkEncoder, LinkDecoder, WipeableStore, WipeableStore) {
        let senderStore = WipeableStore()
        let receiverStore = WipeableStore()
        let configuration = try EncoderConfiguration(
            codec: CodecConfiguration(.zstd, level: 1), windowSize: window, blockSize: 64 << 10)
        let encoder = try LinkEncoder(configuration: configuration, store: senderStore, retentionLimit: 64 << 20)
        let decoder = try LinkDecoder(store: receiverStore)
        // One link: what the encoder sends, the receiver's store holds.
        encoder.setPeer(PeerKnowledge(capacity: 1 << 16))
        return (encoder, decoder, senderStore, receiverStore)
    }

    /// Sends `bytes` in batches, fetching any missing chunk from the encoder, and returns what was decoded.
    func carry(_ bytes: [UInt8], batch: Int, _ encoder: LinkEncoder, _ decoder: LinkDecoder) throws -> (
        [UInt8], misses: Int
    ) {
        var output: [UInt8] = []
        var misses = 0
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + batch)
            let data = try encoder.encode(ByteBuffer(bytes: bytes[start..<end]))
            for fingerprint in decoder.missingReferences(data) {
                misses += 1
                let chunk = try #require(encoder.answer(fingerprint))
                #expect(decoder.supply(fingerprint, chunk))
            }
            var decoded = try decoder.decode(data)
            output += decoded.readBytes(length: decoded.readableBytes) ?? []
            start = end
        }
        return (output, misses)
    }

    @Test(arguments: [1, 1000, 64 << 10])
    func bytesCrossIntactInAnyBatchSize(batch: Int) throws {
        let (encoder, decoder, _, _) = try pair()
        let input = Payload.text(100_000, seed: 1) + Payload.random(100_000, seed: 2)
        let (output, misses) = try carry(input, batch: batch, encoder, decoder)
        #expect(output == input)
        #expect(misses == 0)
    }

    @Test func repeatedDataCrossesAsReferences() throws {
        let (encoder, decoder, _, _) = try pair(window: 0)
        let input = Payload.random(1 << 20, seed: 3)
        _ = try carry(input, batch: 64 << 10, encoder, decoder)
        let before = encoder.statistics.encodedBytes
        let (output, _) = try carry(input, batch: 64 << 10, encoder, decoder)
        #expect(output == input)
        let second = encoder.statistics.encodedBytes - before
        #expect(second < UInt64(input.count / 20), "the second copy took \(second) bytes")
        #expect(encoder.statistics.storeReferences > 0)
    }

    @Test func aWipedReceiverStoreIsRefilledFromTheSender() throws {
        let (encoder, decoder, _, receiverStore) = try pair(window: 0)
        let input = Payload.random(512 << 10, seed: 4)
        _ = try carry(input, batch: 64 << 10, encoder, decoder)
        #expect(receiverStore.count > 0)
        // Wipe the receiver's store mid-run: the next copy references chunks it no longer holds.
        receiverStore.wipe()
        let (output, misses) = try carry(input, batch: 64 << 10, encoder, decoder)
        #expect(output == input)
        #expect(misses > 0)
    }

    @Test func aCorruptChecksumIsCaughtBeforeDelivery() throws {
        let (encoder, decoder, _, _) = try pair()
        var data = try encoder.encode(ByteBuffer(bytes: Payload.text(5000, seed: 5)))
        data.checksum ^= 1
        #expect(throws: TunnelError.self) { try decoder.decode(data) }
    }

    @Test func aSuppliedChunkMustMatchItsFingerprint() throws {
        let (_, decoder, _, _) = try pair()
        #expect(!decoder.supply(Fingerprint(high: 1, low: 2), [1, 2, 3]))
    }
}

@Suite struct PlainDataTests {
    @Test func plainPayloadsAreVerified() throws {
        let bytes = ByteBuffer(bytes: Payload.random(1000, seed: 11))
        var data = TunnelData.plain(bytes)
        #expect(try LinkDecoder.verifyPlain(data) == bytes)
        data.checksum ^= 1
        #expect(throws: TunnelError.self) { try LinkDecoder.verifyPlain(data) }
    }
}
