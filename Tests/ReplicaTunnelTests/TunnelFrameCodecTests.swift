import NIOCore
import NIOEmbedded
import ReplicaCore
import ReplicaTestSupport
import Testing

@testable import ReplicaTunnel

/// One frame of every kind, with awkward values.
let sampleFrames: [TunnelFrame] = [
    .hello(
        TunnelHello(
            capabilities: [.chunkRecovery], storeID: StoreID.random(), frameLimit: 1 << 20, receiveBudget: 8 << 20)),
    .goAway(code: .versionMismatch, reason: "peer speaks 9 — not 1"),
    .open(stream: 1, target: TunnelTarget(host: "example.org", port: 443), window: 1 << 20),
    .data(
        stream: 3,
        TunnelData(
            decodedLength: 5, checksum: 0xDEAD_BEEF_0123_4567,
            references: [Fingerprint(high: 1, low: 2), Fingerprint(high: .max, low: 0)],
            encoded: ByteBuffer(bytes: [1, 2, 3, 4, 5, 6, 7]))),
    .data(stream: 5, TunnelData(decodedLength: 0, checksum: 0, references: [], encoded: ByteBuffer())),
    .data(stream: 13, .plain(ByteBuffer(bytes: [4, 5, 6]))),
    .windowUpdate(stream: 7, increment: .max),
    .halfClose(stream: 9),
    .reset(stream: 11, code: .targetRefused, reason: ""),
    .ping(0),
    .pong(.max),
    .chunkRequest([Fingerprint(high: 3, low: 4)]),
    .chunkReply(Fingerprint(high: 5, low: 6), [9, 8, 7]),
    .chunkReply(Fingerprint(high: 7, low: 8), nil),
]

func encoded(_ frames: [TunnelFrame]) -> ByteBuffer {
    var buffer = ByteBuffer()
    for frame in frames { buffer.writeTunnelFrame(frame) }
    return buffer
}

/// Feeds `bytes` to a fresh decoder channel in pieces of `step` bytes and returns the frames and the error.
func decodeOnChannel(_ bytes: ByteBuffer, step: Int, frameLimit: Int = 1 << 20) -> ([TunnelFrame], (any Error)?) {
    let channel = EmbeddedChannel(handler: ByteToMessageHandler(TunnelFrameDecoder(frameLimit: frameLimit)))
    var frames: [TunnelFrame] = []
    var rest = bytes
    var failure: (any Error)?
    while rest.readableBytes > 0, failure == nil {
        let piece = rest.readSlice(length: min(step, rest.readableBytes)) ?? ByteBuffer()
        do {
            try channel.writeInbound(piece)
        } catch {
            failure = error
        }
        while let frame = try? channel.readInbound(as: TunnelFrame.self) { frames.append(frame) }
    }
    _ = try? channel.finish()
    return (frames, failure)
}

@Suite struct TunnelFrameCodecTests {
    @Test(arguments: [1, 2, 7, 1 << 20])
    func everyFrameRoundTrips(step: Int) throws {
        let (frames, error) = decodeOnChannel(encoded(sampleFrames), step: step)
        #expect(error == nil)
        #expect(frames == sampleFrames)
    }

    /// The encoder handler and the link's writer (which sends a DATA payload as its own buffer, uncopied) put
    /// the same bytes on the wire; the writer's DATA payload leaves as the very buffer it was given.
    @Test(arguments: [false, true])
    func bothFrameWritersPutTheWireFormOnTheWire(copyFree: Bool) throws {
        let handler: any ChannelHandler = copyFree ? TunnelFrameWriter() : MessageToByteHandler(TunnelFrameEncoder())
        let channel = EmbeddedChannel(handler: handler)
        let payload = ByteBuffer(bytes: (0..<TunnelFrameWriter.separateFrom).map { UInt8(truncatingIfNeeded: $0) })
        let frames =
            sampleFrames + [
                .data(stream: 5, .plain(payload)),
                .data(stream: 9, .plain(ByteBuffer(bytes: [1, 2, 3]))),
                .data(stream: 7, TunnelData(decodedLength: 0, checksum: 1, references: [], encoded: ByteBuffer())),
            ]
        for frame in frames { try channel.writeOutbound(frame) }
        var all = ByteBuffer()
        var parts: [ByteBuffer] = []
        while var part = try channel.readOutbound(as: ByteBuffer.self) {
            parts.append(part)
            all.writeBuffer(&part)
        }
        #expect(all == encoded(frames))
        if copyFree { #expect(parts.contains { $0 == payload }) }
        #expect(try channel.finish().isClean)
    }

    @Test func helloLayoutIsPinned() {
        var buffer = ByteBuffer()
        let id = StoreID(bytes: Array(0..<16))!
        buffer.writeTunnelFrame(
            .hello(
                TunnelHello(
                    capabilities: [.chunkRecovery], storeID: id, frameLimit: 0x0102_0304, receiveBudget: 5,
                    fingerprintKeyCheck: 0x0A0B_0C0D)))
        let expected: [UInt8] =
            [0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 38] + [0x52, 0x50, 0x4C, 0x54, 0, 3, 0, 0, 0, 1] + Array(0..<16)
            + [1, 2, 3, 4, 0, 0, 0, 5] + [0x0A, 0x0B, 0x0C, 0x0D]
        #expect(buffer.readBytes(length: buffer.readableBytes) == expected)
    }

    @Test func aVersionOneHelloStillParsesSoItsVersionCanBeReported() throws {
        var buffer = ByteBuffer(
            bytes: [0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 34] + [0x52, 0x50, 0x4C, 0x54, 0, 1, 0, 0, 0, 1] + Array(0..<16)
                + [1, 2, 3, 4, 0, 0, 0, 5])
        var decoder = TunnelFrameDecoder()
        let frame = try decoder.decode(buffer: &buffer)
        guard case .hello(let hello) = frame else {
            Issue.record("not a hello: \(String(describing: frame))")
            return
        }
        #expect(hello.version == 1)
        #expect(hello.fingerprintKeyCheck == 0)
    }

    @Test func oversizedLengthIsRefusedFromTheHeaderAlone() {
        var header = ByteBuffer()
        header.writeInteger(TunnelFrame.Kind.data.rawValue)
        header.writeInteger(UInt8(0))
        header.writeInteger(UInt32(1))
        header.writeInteger(UInt32.max)
        let (frames, error) = decodeOnChannel(header, step: 100)
        #expect(frames.isEmpty)
        #expect((error as? TunnelError)?.code == .frameTooLarge)
    }

    @Test(arguments: [
        ([0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0], TunnelError.Code.protocolViolation),  // unknown type
        ([0x13, 1, 0, 0, 0, 1, 0, 0, 0, 0], .protocolViolation),  // flags
        ([0x13, 0, 0, 0, 0, 0, 0, 0, 0, 0], .protocolViolation),  // stream frame on stream 0
        ([0x20, 0, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0], .protocolViolation),  // link frame on a stream
        ([0x12, 0, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 0], .protocolViolation),  // zero credit
        ([0x12, 0, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 0, 1], .frameTooLarge),  // WINDOW_UPDATE longer than 4
        ([0x01, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0x47, 0x45, 0x54, 0x20], .handshakeFailed),  // "GET "
        ([0x30, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0], .protocolViolation),  // empty chunk request
        ([0x11, 1, 0, 0, 0, 1, 0, 0, 0, 15] + [0, 0, 0, 2] + [UInt8](repeating: 0, count: 10) + [7], .protocolViolation),  // plain DATA, wrong length
    ] as [([UInt8], TunnelError.Code)])
    func malformedFramesAreNamed(bytes: [UInt8], code: TunnelError.Code) {
        let (frames, error) = decodeOnChannel(ByteBuffer(bytes: bytes), step: 1)
        #expect(frames.isEmpty)
        #expect((error as? TunnelError)?.code == code, "\(String(describing: error))")
    }

    /// Regression (FuzzTunnelFrame, 2026-11-30): a GOAWAY or RESET whose 1,024-byte reason is not UTF-8 decoded
    /// to a reason of 3,072 bytes (each bad byte repaired to U+FFFD), which re-encoded cut short to another frame.
    @Test(arguments: [TunnelFrame.Kind.goAway, .reset])
    func aReasonOfBadUTF8DecodesWithinTheLimitAndReencodesToItself(kind: TunnelFrame.Kind) throws {
        var wire = ByteBuffer()
        wire.writeInteger(kind.rawValue)
        wire.writeInteger(UInt8(0))
        wire.writeInteger(UInt32(kind == .reset ? 1 : 0))
        wire.writeInteger(UInt32(4 + TunnelProtocol.maximumReasonSize))
        wire.writeInteger(UInt32(1))
        wire.writeBytes([UInt8](repeating: 0xFF, count: TunnelProtocol.maximumReasonSize))
        let (frames, error) = decodeOnChannel(wire, step: 1 << 20)
        #expect(error == nil)
        let frame = try #require(frames.first)
        let reason: String
        switch frame {
        case .goAway(_, let text), .reset(_, _, let text): reason = text
        default: Issue.record("decoded \(frame)"); return
        }
        #expect(reason.utf8.count <= TunnelProtocol.maximumReasonSize)
        #expect(reason.unicodeScalars.allSatisfy { $0 == "\u{FFFD}" })
        #expect(decodeOnChannel(encoded([frame]), step: 1 << 20).0 == [frame])
    }

    @Test func aLongReasonIsCutAtACharacterBoundary() throws {
        let kept = String(repeating: "a", count: TunnelProtocol.maximumReasonSize - 1)
        let wire = encoded([.goAway(code: .protocolViolation, reason: kept + "é and more")])
        let payloadStart = TunnelProtocol.frameHeaderSize + 4
        let written = try #require(wire.getBytes(at: payloadStart, length: wire.readableBytes - payloadStart))
        #expect(written == Array(kept.utf8))
        #expect(decodeOnChannel(wire, step: 7).0 == [.goAway(code: .protocolViolation, reason: kept)])
    }

    @Test func randomBytesNeverCrashOrOverBuffer() {
        var generator = SplitMix64(seed: 42)
        for _ in 0..<2000 {
            let count = Int.random(in: 0...200, using: &generator)
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let (_, _) = decodeOnChannel(ByteBuffer(bytes: bytes), step: Int.random(in: 1...50, using: &generator))
        }
    }

    @Test func mutatedFramesEitherDecodeOrFailCleanly() throws {
        var generator = SplitMix64(seed: 7)
        let original = encoded(sampleFrames)
        let pristine = original.getBytes(at: 0, length: original.readableBytes) ?? []
        for _ in 0..<3000 {
            var bytes = pristine
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let index = Int.random(in: 0..<bytes.count, using: &generator)
                bytes[index] = UInt8.random(in: 0...255, using: &generator)
            }
            let (frames, error) = decodeOnChannel(ByteBuffer(bytes: bytes), step: 64, frameLimit: 300 << 10)
            // A mutation may still parse, but never into more frames than there were.
            #expect(frames.count <= sampleFrames.count)
            if let error { #expect(error is TunnelError) }
        }
    }

    @Test(arguments: ["host:80", "[::1]:8080", "10.0.0.1:65535"])
    func targetsParse(text: String) throws {
        let target = try TunnelTarget(parsing: text)
        #expect(try TunnelTarget(parsing: target.description) == target)
    }

    @Test(arguments: ["host", "host:0", "host:70000", ":80", "host:http"])
    func badTargetsAreRefused(text: String) {
        #expect(throws: TunnelError.self) { try TunnelTarget(parsing: text) }
    }

    @Test func forwardsParseLikeSSH() throws {
        let short = try TunnelForward(parsing: "8080:db.internal:5432")
        #expect(short == TunnelForward(localPort: 8080, target: TunnelTarget(host: "db.internal", port: 5432)))
        let long = try TunnelForward(parsing: "0.0.0.0:80:web:8080")
        #expect(long.bindHost == "0.0.0.0")
        #expect(throws: TunnelError.self) { try TunnelForward(parsing: "80:web") }
    }

    @Test func allowListDefaultsToDeny() throws {
        let local = try SocketAddress(ipAddress: "127.0.0.1", port: 80)
        #expect(!TunnelAllowList().permits(name: "127.0.0.1", address: local, port: 80))
        let list = try TunnelAllowList(parsing: "127.0.0.1:80,db:*")
        #expect(list.permits(name: "127.0.0.1", address: local, port: 80))
        #expect(!list.permits(name: "127.0.0.1", address: local, port: 81))
        #expect(list.permits(name: "db", address: try SocketAddress(ipAddress: "10.0.0.1", port: 5432), port: 5432))
    }
}

