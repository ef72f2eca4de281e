#if canImport(CNIOLinux)
import CNIOLinux  // sockaddr_in as NIO sees it (MemberImportVisibility)
#endif
import Foundation
import Glibc
import NIOCore
import NIOPosix
import ReplicaCore
import ReplicaTestSupport
import Synchronization
import Testing

@testable import ReplicaTunnel

/// How an application writes its bytes into the tunnel: the TCP pieces the tunnel client then reads.
enum WritePattern: Sendable, CustomTestStringConvertible {
    /// Every write this many bytes (TCP_NODELAY, so small writes leave as small segments).
    case fixed(Int)
    /// Writes of 1 byte to `largest` bytes, from a seeded generator.
    case random(largest: Int, seed: UInt64)

    var testDescription: String {
        switch self {
        case .fixed(let size): "writes of \(size) B"
        case .random(let largest, let seed): "random writes up to \(largest) B (seed \(seed))"
        }
    }

    func pieces(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        switch self {
        case .fixed(let size): stride(from: 0, to: bytes.count, by: size).map { bytes[$0..<min(bytes.count, $0 + size)] }
        case .random(let largest, let seed): TestCorpus.randomSplits(bytes, largest: largest, seed: seed)
        }
    }
}

/// Records the chunks a store is given, in order, in front of the real store: how the receiving end's decoder
/// cut the stream it learned. Everything else goes straight to the wrapped store.
final class PutRecordingStore: ChunkStore {
    private let inner: any ChunkStore
    private let puts = Mutex<[(Fingerprint, Int)]>([])

    init(_ inner: any ChunkStore) { self.inner = inner }

    /// The fingerprint and length of every chunk put so far, in order.
    var recorded: [(Fingerprint, Int)] { puts.withLock { $0 } }

    var storeID: StoreID { inner.storeID }
    var capacity: Int { inner.capacity }
    var storedBytes: Int { inner.storedBytes }
    var count: Int { inner.count }
    func contains(_ fingerprint: Fingerprint) -> Bool { inner.contains(fingerprint) }
    func get(_ fingerprint: Fingerprint) throws(ChunkStoreError) -> [UInt8]? { try inner.get(fingerprint) }
    func successor(of fingerprint: Fingerprint) -> Fingerprint? { inner.successor(of: fingerprint) }
    func remove(_ fingerprint: Fingerprint) throws(ChunkStoreError) { try inner.remove(fingerprint) }

    func put(_ bytes: UnsafeRawBufferPointer, as fingerprint: Fingerprint) throws(ChunkStoreError) {
        try inner.put(bytes, as: fingerprint)
        puts.withLock { $0.append((fingerprint, bytes.count)) }
    }
}

/// Chunk boundaries and link bytes through a real tunnel (mutual TLS, DiskChunkStore on both ends) do not depend
/// on how the application's bytes are cut into TCP writes and reads.
@Suite(.serialized, .timeLimit(.minutes(3))) struct ReadSizeInvarianceTests {
    /// A cold version: compressible text (no chunk repeats) and random bytes.
    static let first = TestCorpus.text(384 << 10, seed: 61) + TestCorpus.random(128 << 10, seed: 62)
    /// The next version: a byte changed every 64 KiB and an insertion.
    static let second: [UInt8] = {
        var bytes = StoreRunTestsData.edited(first, every: 64 << 10)
        bytes.insert(contentsOf: Array("an insertion".utf8), at: 200_000)
        return bytes
    }()

    /// The end offset of each chunk of `bytes` cut in one pass with the tunnel's chunker settings.
    static func boundaries(_ bytes: [UInt8]) throws -> [Int] {
        var chunker = Chunker(try TunnelConfiguration().encoder.chunker)
        var ends: [Int] = []
        var end = 0
        bytes.withUnsafeBytes { buffer in
            chunker.append(buffer) { chunk in
                end += chunk.count
                ends.append(end)
            }
        }
        chunker.finish { chunk in
            end += chunk.count
            ends.append(end)
        }
        return ends
    }

    /// What `replica --store` (a StreamEncoder on a DiskChunkStore, with the tunnel's engine settings) writes
    /// for `second` after `first` into the same store.
    static func storeBytes() throws -> Int {
        let scratch = try ScratchStore(capacity: 64 << 20)
        defer { scratch.remove() }
        let store = scratch.store
        var sizes: [Int] = []
        for version in [first, second] {
            let encoder = try StreamEncoder(configuration: TunnelConfiguration().encoder, store: store)
            var encoded: [UInt8] = []
            try encoder.encode(version, into: &encoded)
            try encoder.finish(into: &encoded)
            sizes.append(encoded.count)
        }
        return sizes[1]
    }

    @Test(arguments: [
        WritePattern.fixed(1), .fixed(1000), .random(largest: 64 << 10, seed: 7), .fixed(1 << 20),
    ])
    func chunkBoundariesAndWarmLinkBytesDoNotDependOnWriteSizes(pattern: WritePattern) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let sink = try await AppServer.start(group: group, sink: true)
        let receiverDisk = try ScratchStore(capacity: 64 << 20)
        let receiver = PutRecordingStore(receiverDisk.store)
        let pair = try await TunnelPair.start(targetPort: sink.port, group: group, serverStore: receiver)
        defer { receiverDisk.remove() }

        // Cold: every chunk is new, so the receiver stores the whole stream in the chunks the sender cut.
        let reply = try await SocketWriter.send(Self.first, pattern: pattern, port: pair.localPort)
        #expect(reply == Array("received \(Self.first.count)".utf8), "\(pair.log.text)")
        // The server's store also learns the reply it sends back (its encoder's chunks): only the upload counts.
        var end = 0
        var storedEnds: [Int] = []
        for (_, length) in receiver.recorded where end < Self.first.count {
            end += length
            storedEnds.append(end)
        }
        #expect(end == Self.first.count)
        // The receiver stores exactly the chunks of one pass, whatever the reads: a batch's flush delivers the
        // undecided end of a chunk as a transient literal, which no store keeps, and the chunk follows whole.
        let expected = try Self.boundaries(Self.first)
        let missing = expected.filter { !storedEnds.contains($0) }
        #expect(missing.isEmpty, "\(missing.count) of \(expected.count) boundaries moved, first at \(missing.first ?? 0)")
        #expect(storedEnds == expected, "\(storedEnds.count) chunks stored for \(expected.count) of one pass")

        let pieces = storedEnds.count

        // Warm, over a new link (the server restarted on its store): a fresh encoder without the first version
        // in its window or zstd history, as the next release arrives days later. The client still knows what the
        // server's store holds, so the next version costs about what `replica --store` writes for it.
        let serverPort = try #require(pair.server.localAddress?.port)
        await pair.server.shutdown()
        let restarted = try await TunnelServer.start(
            listen: TunnelTarget(host: "127.0.0.1", port: serverPort),
            allowList: TunnelAllowList(parsing: "127.0.0.1:\(sink.port)"), permissions: .anyPeer,
            configuration: TunnelConfiguration(), security: try TestPKI.shared.server, store: receiver, group: group)
        try await waitUntil { await pair.client.isConnected }
        let before = try #require(pair.client.statistics()).wireBytesSent
        let warmReply = try await SocketWriter.send(Self.second, pattern: pattern, port: pair.localPort)
        #expect(warmReply == Array("received \(Self.second.count)".utf8), "\(pair.log.text)")
        let link = Int(try #require(pair.client.statistics()).wireBytesSent - before)
        let store = try Self.storeBytes()
        print("ReadSizeInvarianceTests: \(pattern.testDescription): \(pieces) pieces for \(expected.count) "
            + "chunks; warm link \(link) bytes, replica --store \(store) bytes (\(Double(link) / Double(store))x)")
        // Writes of a few bytes each reach the tunnel as reads of a few bytes, and each read is sent at once (a
        // DATA frame, a block, a TLS record): that costs per read, not per boundary, so the bound is for writes
        // of 1000 bytes and more. Issue 10's target is 1.1x; the link pays 16 bytes per reference for its
        // reference list and a frame, a block header and a TLS record per batch, so on this small pair it
        // measures 0.9-1.2x with format 3's whole chunks (1.2-1.7x when flushes stored pieces; docs/PERFORMANCE.md,
        // "Tunnel = engine"). The bound catches a regression to pieces or to boundaries that move with the reads,
        // which the issue measured at 3.7x.
        if case .fixed(let size) = pattern, size < 1000 { return await stop() }
        #expect(Double(link) <= 1.5 * Double(store), "link \(link) bytes, replica --store \(store) bytes")
        await stop()
        func stop() async {
            await pair.client.shutdown()
            await restarted.shutdown()
            try? await sink.channel.close()
            try? await group.shutdownGracefully()
        }
    }
}

/// An application client on a plain blocking socket: writes each piece with its own `send` (TCP_NODELAY),
/// half-closes, and reads the reply until EOF. Runs on its own thread, off the test's cooperative pool.
enum SocketWriter {
    static func send(_ bytes: [UInt8], pattern: WritePattern, port: Int) async throws -> [UInt8] {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try exchange(pattern.pieces(bytes), port: port) })
            }
        }
    }

    private static func exchange(_ pieces: [ArraySlice<UInt8>], port: Int) throws -> [UInt8] {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TunnelError(.linkClosed, "socket() failed: errno \(errno)") }
        defer { close(fd) }
        var on: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw TunnelError(.linkClosed, "connect() failed: errno \(errno)") }
        for piece in pieces {
            var offset = 0
            while offset < piece.count {
                let sent = piece.withUnsafeBytes { buffer in
                    Glibc.send(fd, buffer.baseAddress.map { $0 + offset }, buffer.count - offset, Int32(MSG_NOSIGNAL))
                }
                guard sent > 0 else { throw TunnelError(.linkClosed, "send() failed: errno \(errno)") }
                offset += sent
            }
        }
        shutdown(fd, Int32(SHUT_WR))
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            reply += buffer[0..<count]
        }
        return reply
    }
}
