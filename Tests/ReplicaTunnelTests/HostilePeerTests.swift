import Foundation
import NIOCore
import NIOPosix
import ReplicaCore
import Testing

@testable import ReplicaTunnel

/// Nested in ``TunnelIntegrationTests`` so that the two socket suites never run at once: the process-wide RSS and
/// open-file counts below then measure one test at a time.
extension TunnelIntegrationTests {
    /// A server on a `DiskChunkStore` with a legitimate client beside a peer that misbehaves. Each test asserts that
    /// the misbehaviour ends as documented (GOAWAY naming it, or the peer's link closed), that the process's RSS
    /// and open files stay within stated bounds (in-process: the server, the legitimate client and the hostile
    /// peer share the test process, so the bounds cover all three), and that the legitimate flow keeps working.
    @Suite(.timeLimit(.minutes(3))) struct HostilePeerTests {
        /// The most the test process may grow while a hostile peer does its worst.
        static let residentBound = 160 << 20
        /// The most open files a finished hostile test may leave behind.
        static let filesBound = 16

        final class Bench: Sendable {
            let group: MultiThreadedEventLoopGroup
            /// The hostile peers' own loop, so their backlog never slows the server's or the legitimate client's.
            let hostile = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let app: AppServer
            let pair: TunnelPair
            let residentBefore: Int
            let filesBefore: Int

            /// - Parameter memoryStores: both ends on `MemoryChunkStore`s, whose engine runs on the event loops
            ///   (``TunnelEngineExecution/automatic``), instead of `DiskChunkStore`s, whose engine runs on the pool.
            init(limits: TunnelLimits? = nil, memoryStores: Bool = false) async throws {
                group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
                app = try await AppServer.start(group: group)
                let configuration = try TunnelConfiguration(
                    keepaliveInterval: .seconds(1), keepaliveTimeout: .seconds(3),
                    limits: limits ?? TunnelLimits(chunkReplyTimeout: .seconds(2)))
                // Every hostile peer connects from 127.0.0.1, as the legitimate client does, so the per-address
                // admission cap (32 by default, TunnelAccessTests) is raised: these tests measure what each link
                // costs the server, not the cap.
                pair = try await TunnelPair.start(
                    targetPort: app.port, group: group,
                    serverStore: memoryStores ? MemoryChunkStore(capacity: 64 << 20) : nil,
                    clientStore: memoryStores ? MemoryChunkStore(capacity: 64 << 20) : nil, configuration: configuration,
                    admission: TunnelAdmissionLimits(maximumLinks: 2048, maximumLinksPerAddress: 2048))
                // One legitimate flow first, so what the engine allocates once is in the baseline.
                let payload = Payload.text(64 << 10, seed: 1) + Payload.random(192 << 10, seed: 1)
                let first = try await runFlow(port: pair.localPort, payload: payload, group: group).mismatch(payload)
                #expect(first == nil)
                residentBefore = ProcessFootprint.residentBytes
                filesBefore = ProcessFootprint.openFiles
            }

            var serverPort: Int { pair.server.localAddress?.port ?? 0 }
            var target: TunnelTarget { TunnelTarget(host: "127.0.0.1", port: app.port) }

            /// A flow through the legitimate client: `nil` when every byte came back.
            func legitimateFlowMismatch(seed: UInt64 = 1) async throws -> String? {
                let payload = Payload.text(64 << 10, seed: seed) + Payload.random(192 << 10, seed: seed)
                return try await runFlow(port: pair.localPort, payload: payload, group: group).mismatch(payload)
            }

            /// Checks the bounds and the legitimate flow, then stops everything.
            func finish(_ what: String) async throws {
                let grown = ProcessFootprint.residentBytes - residentBefore
                #expect(grown < HostilePeerTests.residentBound, "\(what): RSS grew by \(grown >> 20) MiB")
                #expect(try await legitimateFlowMismatch(seed: 2) == nil, "\(what): \(pair.log.text)")
                try await waitUntil(timeout: .seconds(10)) { ProcessFootprint.openFiles - filesBefore < HostilePeerTests.filesBound }
                print("hostile \(what): RSS +\(grown >> 20) MiB (baseline \(residentBefore >> 20) MiB), fds +\(ProcessFootprint.openFiles - filesBefore)")
                await pair.shutdown()
                try await app.channel.close()
                try await group.shutdownGracefully()
                try await hostile.shutdownGracefully()
            }
        }

        @Test(arguments: [false, true])
        func aDecompressionBombFailsAtItsDeclaredLength(onMemoryStores: Bool) async throws {
            let bench = try await Bench(memoryStores: onMemoryStores)
            let peer = try await HostilePeer.connect(port: bench.serverPort, group: bench.hostile)
            try await peer.send([HostilePeer.hello, .open(stream: 1, target: bench.target, window: 1 << 20)])
            try await peer.waitForWindow(on: 1)
            // 64 MiB of zeros: window references, some 60 KB encoded, declared as 64 KiB (the stream's credit).
            let bomb = try handmadeData(
                [UInt8](repeating: 0, count: 64 << 20), store: MemoryChunkStore(capacity: 1 << 20), declaring: 64 << 10)
            #expect(bomb.encoded.readableBytes < 128 << 10)
            try await peer.send([.data(stream: 1, bomb)])
            try await waitUntil { peer.isClosed }
            #expect(peer.goAway?.code == .decodeFailed, "\(String(describing: peer.goAway))")
            #expect(peer.goAway?.reason.contains("past the caller's limit of 65536") == true)
            try await bench.finish(onMemoryStores ? "bomb (memory stores)" : "bomb")
        }

        @Test func dataOnAStreamNeverOpenedIsNeitherDecodedNorStored() async throws {
            let bench = try await Bench()
            let storedBefore = try #require(bench.pair.scratch.first).store.count
            let peer = try await HostilePeer.connect(port: bench.serverPort, group: bench.hostile)
            let data = try handmadeData(Payload.random(200_000, seed: 3), store: MemoryChunkStore(capacity: 1 << 20))
            try await peer.send([HostilePeer.hello, .data(stream: 5, data)])
            try await waitUntil { peer.isClosed }
            #expect(peer.goAway?.code == .protocolViolation)
            #expect(peer.goAway?.reason.contains("stream 5, which was never opened") == true)
            #expect(try #require(bench.pair.scratch.first).store.count == storedBefore)
            try await bench.finish("unopened DATA")
        }

        @Test func aPingFloodIsRateLimited() async throws {
            let bench = try await Bench()
            let peer = try await HostilePeer.connect(port: bench.serverPort, group: bench.hostile, reading: false)
            try await peer.send([HostilePeer.hello])
            var sent = 0
            while !peer.isClosed, sent < 200_000 {
                _ = try? await peer.offer(Array(repeating: .ping(7), count: 1000))
                sent += 1000
            }
            try await waitUntil { peer.isClosed }
            try await bench.finish("PING flood (rate limit)")
        }

        /// A soak (about two minutes in a debug build: the server answers some 350,000 PINGs before its socket
        /// buffers are full and it stops reading): `make soak-tunnel` runs it.
        @Test(.enabled(if: ProcessInfo.processInfo.environment["REPLICA_SOAK"] != nil))
        func aPeerThatNeverReadsIsNotReadEither() async throws {
            // The rate limit off: the reply cap and back-pressure alone must bound the server.
            let limits = try TunnelLimits(pingRate: TunnelRateLimit(burst: 10_000_000, perSecond: 10_000_000))
            let bench = try await Bench(limits: limits)
            let peer = try await HostilePeer.connect(port: bench.serverPort, group: bench.hostile, reading: false)
            try await peer.send([HostilePeer.hello])
            // Up to 4 M pings (72 MB) offered: the server stops reading once its PONGs stop leaving, so the peer's
            // socket fills and it can send no more.
            var offered = 0
            var stalled = 0
            while offered < 4_000_000, !peer.isClosed, stalled < 20 {
                if (try? await peer.offer(Array(repeating: .ping(7), count: 2000))) == true {
                    offered += 2000
                    stalled = 0
                } else {
                    stalled += 1
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            print("hostile PING flood without reading: \(offered) pings offered before the server stopped reading")
            #expect(offered < 4_000_000)
            #expect(try await bench.legitimateFlowMismatch(seed: 3) == nil)
            await peer.close()
            try await bench.finish("PING flood without reading (no rate limit)")
        }

        @Test func repeatedChunkRequestsAreNotAmplified() async throws {
            let bench = try await Bench()
            let peer = try await HostilePeer.connect(port: bench.serverPort, group: bench.hostile)
            try await peer.send([HostilePeer.hello])
            let guess = Fingerprint(high: 0x1234, low: 0x5678)
            var sentBytes = 0
            for _ in 0..<8 where !peer.isClosed {
                let frame = TunnelFrame.chunkRequest(Array(repeating: guess, count: 4096))
                var wire = ByteBuffer()
                sentBytes += wire.writeTunnelFrame(frame)
                try? await peer.send([frame])
            }
            try await waitUntil { peer.isClosed }
            #expect(peer.goAway?.code == .protocolViolation)
            // Every answer was "not available" (never the store's bytes), and no more than was asked.
            let supplied = peer.frames.filter { if case .chunkReply(_, .some) = $0 { true } else { false } }
            #expect(supplied.isEmpty)
            #expect(peer.bytesReceived < sentBytes * 2, "received \(peer.bytesReceived) for \(sentBytes) sent")
            try await bench.finish("CHUNK_REQUEST repeats")
        }

        @Test(arguments: [false, true])
        func aMissHeldForeverEndsTheLinkAtTheDeadline(onMemoryStores: Bool) async throws {
            let bench = try await Bench(memoryStores: onMemoryStores)
            let peer = try await HostilePeer.connect(port: bench.serverPort, group: bench.hostile)
            try await peer.send([HostilePeer.hello, .open(stream: 1, target: bench.target, window: 1 << 20)])
            try await peer.waitForWindow(on: 1)
            // Chunks the peer's store holds and the server's does not: the DATA references them.
            let store = MemoryChunkStore(capacity: 8 << 20)
            let payload = Payload.random(256 << 10, seed: 4)
            _ = try handmadeData(payload, store: store)
            let data = try handmadeData(payload, store: store)
            #expect(!data.references.isEmpty)
            try await peer.send([.data(stream: 1, data)])
            try await waitUntil { peer.frames.contains { $0.kind == .chunkRequest } }
            // Never answered: the reply deadline (2 s here) ends the link.
            try await waitUntil(timeout: .seconds(10)) { peer.isClosed }
            #expect(peer.goAway?.code == .missingChunk, "\(String(describing: peer.goAway))")
            try await bench.finish(onMemoryStores ? "miss held forever (memory stores)" : "miss held forever")
        }

        @Test func openAndResetInALoopGetsGoAwayBeforeFilesRunOut() async throws {
            let bench = try await Bench()
            let peer = try await HostilePeer.connect(port: bench.serverPort, group: bench.hostile)
            try await peer.send([HostilePeer.hello])
            var id: UInt32 = 1
            for _ in 0..<50 where !peer.isClosed {
                var frames: [TunnelFrame] = []
                for _ in 0..<500 {
                    frames.append(.open(stream: id, target: bench.target, window: 1 << 16))
                    frames.append(.reset(stream: id, code: .linkClosed, reason: "bye"))
                    id += 2
                }
                try? await peer.send(frames)
            }
            try await waitUntil { peer.isClosed }
            #expect(peer.goAway?.reason.contains("faster than") == true, "\(String(describing: peer.goAway))")
            try await bench.finish("OPEN+RESET loop")
        }

        @Test func manyLinksAndLinksThatNeverSayHelloAreBounded() async throws {
            let bench = try await Bench()
            // Links that finish TLS but never send their hello are closed at the keepalive timeout (3 s here); a
            // link that never starts TLS meets the handshake deadline (TunnelSecurityTests).
            var silent: [HostilePeer] = []
            for _ in 0..<200 { silent.append(try await HostilePeer.connect(port: bench.serverPort, group: bench.hostile)) }
            // Links that say hello and then idle (pings keep them up): each costs the server a session.
            var idle: [HostilePeer] = []
            for _ in 0..<200 {
                let peer = try await HostilePeer.connect(port: bench.serverPort, group: bench.hostile)
                try await peer.send([HostilePeer.hello])
                idle.append(peer)
            }
            let withLinks = ProcessFootprint.residentBytes - bench.residentBefore
            print("hostile 400 links: RSS +\(withLinks >> 20) MiB")
            #expect(try await bench.legitimateFlowMismatch(seed: 5) == nil)
            try await waitUntil(timeout: .seconds(15)) { silent.allSatisfy(\.isClosed) }
            for peer in silent { #expect(peer.goAway?.code == .peerTimeout) }
            for peer in idle { await peer.close() }
            try await waitUntil { bench.pair.server.statistics().count == 1 }
            try await bench.finish("400 links (200 silent)")
        }

        @Test func linkChurnAndClientRestartsLeaveNothingBehind() async throws {
            let bench = try await Bench()
            let serverPort = bench.serverPort
            for round in 0..<1000 {
                let peer = try await HostilePeer.connect(port: serverPort, group: bench.hostile)
                if round % 2 == 0 { try await peer.send([HostilePeer.hello]) }
                await peer.close()
            }
            try await waitUntil { bench.pair.server.statistics().count == 1 }
            let afterChurn = ProcessFootprint.residentBytes - bench.residentBefore
            print("hostile 1000 link churns: RSS +\(afterChurn >> 20) MiB")
            // 20 client restarts, each carrying 1 MiB through a fresh client on its own disk store.
            var residentAfter: [Int] = []
            for round in 0..<20 {
                let store = try ScratchStore(capacity: 32 << 20)
                let client = try await TunnelClient.start(
                    peer: TunnelTarget(host: "127.0.0.1", port: serverPort),
                    forwards: [TunnelForward(localPort: 0, target: bench.target)],
                    configuration: TunnelConfiguration(), security: try TestPKI.shared.client, store: store.store,
                    group: bench.hostile)
                try await waitUntil { await client.isConnected }
                let port = try #require(client.listenAddresses.first??.port)
                let payload = Payload.random(1 << 20, seed: UInt64(round))
                let outcome = try await runFlow(port: port, payload: payload, group: bench.hostile)
                #expect(outcome.mismatch(payload) == nil, "restart \(round): \(bench.pair.log.text)")
                await client.shutdown()
                store.remove()
                try await waitUntil { bench.pair.server.statistics().count == 1 }
                residentAfter.append(ProcessFootprint.residentBytes)
            }
            let drift = residentAfter[19] - residentAfter[4]
            print("hostile 20 client restarts: RSS after 5th \(residentAfter[4] >> 20) MiB, after 20th \(residentAfter[19] >> 20) MiB")
            #expect(drift < 48 << 20, "RSS rose by \(drift >> 20) MiB from the 5th to the 20th restart")
            try await bench.finish("1000 churns + 20 restarts")
        }
    }
}
