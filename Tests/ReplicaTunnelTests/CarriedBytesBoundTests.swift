import NIOCore
import ReplicaCore
import ReplicaTestSupport
import Testing

@testable import ReplicaTunnel

/// The bytes a receiver carries for flows whose chunk is undecided (stream format 3's transient literals) are
/// bounded across all flows of a link direction: an honest sender keeps under the bound by cutting chunks, and a
/// sender that ignores it ends the link with an error that names the bound, before the bytes are copied. Both ends
/// run on disk stores with the tunnel's encoder settings, as a link does.
@Suite struct CarriedBytesBoundTests {
    /// 64 flows, each sent one batch of 24 KiB of random bytes: every flow ends with an undecided chunk.
    static let flows = 64
    static let batch = 24 << 10

    /// A link direction on the tunnel's own settings and disk stores; `body` runs with its two ends.
    func withPair(
        receiverLimit: Int, senderLimit: Int, _ body: (LinkEncoder, LinkDecoder) throws -> Void
    ) throws {
        let senderStore = try ScratchStore(capacity: 64 << 20)
        defer { senderStore.remove() }
        let receiverStore = try ScratchStore(capacity: 64 << 20)
        defer { receiverStore.remove() }
        let encoder = try LinkEncoder(
            configuration: TunnelConfiguration.defaultEncoder(), store: senderStore.store, retentionLimit: 64 << 20)
        encoder.setPeer(PeerKnowledge(capacity: 1 << 16))
        encoder.carriedByteLimit = senderLimit
        let decoder = try LinkDecoder(store: receiverStore.store)
        decoder.carriedByteLimit = receiverLimit
        try body(encoder, decoder)
    }

    /// Sends one batch per flow; returns the decoded bytes per flow, or the first decode error.
    func send(_ encoder: LinkEncoder, _ decoder: LinkDecoder) throws -> [[UInt8]] {
        var delivered: [[UInt8]] = []
        for flow in 0..<Self.flows {
            let input = Payload.random(Self.batch, seed: UInt64(100 + flow))
            let data = try encoder.encode(ByteBuffer(bytes: input), flow: UInt32(flow))
            #expect(decoder.missingReferences(data).isEmpty)
            var decoded = try decoder.decode(data, flow: UInt32(flow))
            delivered.append(decoded.readBytes(length: decoded.readableBytes) ?? [])
        }
        return delivered
    }

    @Test func anHonestSenderStaysWithinTheReceiversBound() throws {
        let limit = 64 << 10
        try withPair(receiverLimit: limit, senderLimit: limit / 2) { encoder, decoder in
            let delivered = try send(encoder, decoder)
            for flow in 0..<Self.flows {
                #expect(delivered[flow] == Payload.random(Self.batch, seed: UInt64(100 + flow)))
            }
        }
    }

    @Test func aSenderPastTheBoundEndsTheLinkNamingIt() throws {
        let limit = 64 << 10
        // The sender never cuts: its flows' undecided tails add up far past the receiver's 64 KiB.
        try withPair(receiverLimit: limit, senderLimit: .max) { encoder, decoder in
            #expect {
                _ = try send(encoder, decoder)
            } throws: { error in
                guard let error = error as? TunnelError else { return false }
                return error.code == .decodeFailed && "\(error)".contains("this flow may hold")
            }
        }
    }
}
