import FuzzSupport
import NIOCore
import ReplicaCore
import ReplicaTunnel

// The tunnel's frame codec, as a peer's bytes reach it: frames are decoded until the input runs out or the decoder
// refuses. Every decoded frame must survive encode-then-decode unchanged: a difference is a finding.

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: FuzzArguments) -> CInt {
    Harness.writeSeedsIfAsked(seeds)
    return 0
}

func seeds() throws -> [(name: String, bytes: [UInt8])] {
    let fingerprint = Fingerprinter().fingerprint(Array("chunk".utf8))
    let encoded = try Corpus.streams().first { $0.name == "zstd-window" }?.bytes ?? []
    let storeID = StoreID(bytes: Array(repeating: 7, count: 16)) ?? .none
    let frames: [(String, TunnelFrame)] = [
        ("hello", .hello(TunnelHello(capabilities: [], storeID: storeID, frameLimit: 1 << 20, receiveBudget: 1 << 24))),
        ("goaway", .goAway(code: .protocolViolation, reason: "bye")),
        ("open", .open(stream: 1, target: TunnelTarget(host: "127.0.0.1", port: 24001), window: 65536)),
        ("data", .data(stream: 1, TunnelData(
            decodedLength: 100, checksum: 42, references: [fingerprint], encoded: ByteBuffer(bytes: encoded)))),
        ("data-plain", .data(stream: 3, .plain(ByteBuffer(string: "plain bytes")))),
        ("window", .windowUpdate(stream: 1, increment: 4096)),
        ("halfclose", .halfClose(stream: 1)),
        ("reset", .reset(stream: 1, code: .protocolViolation, reason: "no")),
        ("ping", .ping(7)),
        ("pong", .pong(7)),
        ("chunkrequest", .chunkRequest([fingerprint, fingerprint])),
        ("chunkreply", .chunkReply(fingerprint, Array("chunk".utf8))),
        ("chunkreply-missing", .chunkReply(fingerprint, nil)),
    ]
    var all = ByteBuffer()
    var seeds: [(String, [UInt8])] = []
    for (name, frame) in frames {
        var buffer = ByteBuffer()
        buffer.writeTunnelFrame(frame)
        all.writeTunnelFrame(frame)
        seeds.append((name, Array(buffer.readableBytesView)))
    }
    seeds.append(("all", Array(all.readableBytesView)))
    return seeds
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    var buffer = ByteBuffer(bytes: Harness.bytes(start, count))
    var decoder = TunnelFrameDecoder(frameLimit: 1 << 20)
    while true {
        let frame: TunnelFrame
        do {
            guard let decoded = try decoder.decode(buffer: &buffer) else { return 0 }
            frame = decoded
        } catch {
            return 0
        }
        var encoded = ByteBuffer()
        encoded.writeTunnelFrame(frame)
        var again = TunnelFrameDecoder(frameLimit: 1 << 20)
        let copy: TunnelFrame?
        do {
            copy = try again.decode(buffer: &encoded)
        } catch {
            Harness.fail("a decoded \(frame.kind) frame does not decode after encoding: \(error)")
        }
        if copy != frame || encoded.readableBytes != 0 {
            Harness.fail("\(frame.kind) frame changed in a round trip: \(frame) became \(String(describing: copy))")
        }
    }
}
