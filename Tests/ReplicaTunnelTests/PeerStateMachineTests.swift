import NIOCore
import ReplicaCore
import Testing

@testable import ReplicaTunnel

/// The link's state machine fed frame by frame, with no channel and a clock the test moves.
@Suite struct PeerStateMachineTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    func machine(
        role: PeerStateMachine.Role = .server(
            TargetDialer(
                policy: TunnelAccessPolicy(
                    allowList: TunnelAllowList([TunnelTarget(host: "app", port: 80)]), permissions: .anyPeer),
                identity: nil, listener: nil)),
        limits: TunnelLimits? = nil, maximumStreams: Int = 4
    ) throws -> PeerStateMachine {
        let configuration = try TunnelConfiguration(
            streamWindow: 64 << 10, linkBudget: 128 << 10, maximumStreams: maximumStreams, limits: limits)
        var machine = PeerStateMachine(role: role, configuration: configuration)
        let hello = TunnelHello(capabilities: [], storeID: .random(), frameLimit: 1 << 20, receiveBudget: 1 << 20)
        #expect(machine.receiveHello(hello) == .proceed)
        return machine
    }

    func violation(_ result: PeerStateMachine.Result) -> PeerViolation? {
        if case .closeLink(let violation) = result { violation } else { nil }
    }

    func violation(_ result: PeerStateMachine.DataResult) -> PeerViolation? {
        if case .closeLink(let violation) = result { violation } else { nil }
    }

    let app = TunnelTarget(host: "app", port: 80)

    @Test func dataOnAStreamNeverOpenedClosesTheLink() throws {
        var machine = try machine()
        #expect(violation(machine.receiveData(7, declaredLength: 10, at: start)) == .frameOnUnopenedStream(.data, 7))
        #expect(machine.receivedUncredited == 0)
    }

    @Test func dataBeforeTheTargetIsConnectedClosesTheLink() throws {
        var machine = try machine()
        #expect(machine.receiveOpen(1, target: app, window: 1000, at: start) == .proceed)
        #expect(violation(machine.receiveData(1, declaredLength: 10, at: start)) == .frameOnUnopenedStream(.data, 1))
    }

    @Test func declaredLengthIsCheckedAgainstStreamCreditAndLinkBudgetBeforeDecoding() throws {
        var machine = try machine()
        for id: UInt32 in [1, 3, 5] {
            #expect(machine.receiveOpen(id, target: app, window: 1000, at: start) == .proceed)
            let connected = machine.connected(id, at: start)
            #expect(connected)
        }
        // One byte over the stream's 64 KiB window.
        #expect(
            violation(machine.receiveData(1, declaredLength: (64 << 10) + 1, at: start))
                == .streamCreditExceeded(1, declared: (64 << 10) + 1, credit: 64 << 10))
        var fresh = try self.machine()
        for id: UInt32 in [1, 3, 5] {
            _ = fresh.receiveOpen(id, target: app, window: 1000, at: start)
            _ = fresh.connected(id, at: start)
        }
        #expect(fresh.receiveData(1, declaredLength: 64 << 10, at: start) == .deliver)
        #expect(fresh.receiveData(3, declaredLength: 64 << 10, at: start) == .deliver)
        // The link budget (128 KiB) is spent although stream 5 has its whole window.
        #expect(
            violation(fresh.receiveData(5, declaredLength: 1, at: start))
                == .linkBudgetExceeded(5, declared: 1, budget: 0))
        // Bytes written by the local connection come back as credit.
        #expect(fresh.written(64 << 10, on: 1, success: true, at: start, roundTrip: nil) == 64 << 10)
        #expect(fresh.receiveData(5, declaredLength: 1, at: start) == .deliver)
    }

    @Test func dataForAStreamClosedHereIsAcceptedUpToItsCreditAndDiscarded() throws {
        var machine = try machine()
        _ = machine.receiveOpen(1, target: app, window: 1000, at: start)
        _ = machine.connected(1, at: start)
        machine.remove(1)
        #expect(machine.receiveData(1, declaredLength: 60 << 10, at: start) == .discard)
        machine.discarded(60 << 10)
        #expect(machine.receivedUncredited == 0)
        #expect(violation(machine.receiveData(1, declaredLength: 8 << 10, at: start)) != nil)
    }

    @Test func pendingConnectsCountAsStreams() throws {
        var machine = try machine(maximumStreams: 2)
        #expect(machine.receiveOpen(1, target: app, window: 1000, at: start) == .proceed)
        #expect(machine.receiveOpen(3, target: app, window: 1000, at: start) == .proceed)
        guard case .resetStream(5, let error) = machine.receiveOpen(5, target: app, window: 1000, at: start) else {
            Issue.record("a third pending connect was not refused")
            return
        }
        #expect(error.code == .tooManyStreams)
        #expect(machine.streams.count == 2)
    }

    @Test func offListTargetsAreResetAndOutOfOrderOpensCloseTheLink() throws {
        var machine = try machine()
        guard case .resetStream(1, let error) = machine.receiveOpen(
            1, target: TunnelTarget(host: "10.0.0.1", port: 22), window: 1, at: start)
        else {
            Issue.record("an off-list target was not reset")
            return
        }
        #expect(error.code == .targetRefused)
        #expect(violation(machine.receiveOpen(1, target: app, window: 1, at: start)) == .streamOutOfOrder(1, last: 1))
        var client = try self.machine(role: .client)
        #expect(violation(client.receiveOpen(2, target: app, window: 1, at: start)) == .serverOpenedStream(2))
    }

    @Test func rapidResetsGetTheLinkClosed() throws {
        let limits = try TunnelLimits(resetRate: TunnelRateLimit(burst: 10, perSecond: 5))
        var machine = try machine(limits: limits)
        var id: UInt32 = 1
        var outcome: PeerViolation?
        for _ in 0..<100 where outcome == nil {
            _ = machine.receiveOpen(id, target: app, window: 1, at: start)
            outcome = violation(machine.receiveReset(id, at: start))
            if outcome == nil { machine.remove(id) }
            id += 2
        }
        #expect(outcome == .excessiveFrames(.reset, limits.resetRate))
        #expect(id == 23)  // the 11th reset in the same instant
        // The same pace spread over time stays within the limit.
        var paced = try self.machine(limits: limits)
        for step in 0..<100 {
            let now = start + .milliseconds(Int64(step) * 250)
            #expect(paced.receiveReset(UInt32(2 * step + 1), at: now) == .ignore)
        }
    }

    @Test func pingsAreRateLimitedOnTheInjectedClock() throws {
        let limits = try TunnelLimits(pingRate: TunnelRateLimit(burst: 3, perSecond: 1))
        var machine = try machine(limits: limits)
        for _ in 0..<3 { #expect(machine.receivePing(at: start) == .proceed) }
        #expect(violation(machine.receivePing(at: start)) == .excessiveFrames(.ping, limits.pingRate))
        var later = try self.machine(limits: limits)
        for _ in 0..<3 { _ = later.receivePing(at: start) }
        #expect(later.receivePing(at: start + .seconds(1)) == .proceed)
    }

    @Test func repliesAreCappedAndReadingPausesBeforeTheCap() throws {
        let limits = try TunnelLimits(maximumQueuedControlFrames: 80)
        var machine = try machine(limits: limits)
        for _ in 0..<9 { #expect(machine.queueReply(bytes: 18) == .proceed) }
        #expect(!machine.readingPaused)
        #expect(machine.queueReply(bytes: 18) == .proceed)
        #expect(machine.readingPaused)
        for _ in 10..<80 { #expect(machine.queueReply(bytes: 18) == .proceed) }
        #expect(violation(machine.queueReply(bytes: 18)) == .controlQueueFull(frames: 81, bytes: 81 * 18))
        var draining = try self.machine(limits: limits)
        for _ in 0..<10 { _ = draining.queueReply(bytes: 18) }
        var resumed = false
        for _ in 0..<10 where !resumed { resumed = draining.replyWritten(bytes: 18) }
        #expect(resumed)
        #expect(draining.queuedControlFrames == 5)
    }

    @Test func chunkRequestsOutsideTheLinksScopeSpendABudget() throws {
        let limits = try TunnelLimits(unscopedChunkRequestBudget: 100)
        var machine = try machine(limits: limits)
        #expect(machine.receiveChunkRequest(unanswerable: 60, at: start) == .proceed)
        #expect(violation(machine.receiveChunkRequest(unanswerable: 41, at: start)) == .unscopedChunkRequests(101))
    }

    @Test func theMissQueueIsBoundedInBytesAndRepliesHaveADeadline() throws {
        let limits = try TunnelLimits(maximumMissQueueBytes: 4 << 20, chunkReplyTimeout: .seconds(2))
        var machine = try machine(limits: limits)
        let missing = Fingerprint(high: 1, low: 2)
        let data = TunnelData(
            decodedLength: 1, checksum: 0, references: [missing], encoded: ByteBuffer(repeating: 0, count: 1 << 20))
        let (first, request) = machine.hold(.data(1, data, .deliver), missing: [missing], at: start)
        #expect(first == .proceed)
        #expect(request == [missing])
        // The same chunk is asked for once.
        #expect(machine.hold(.data(1, data, .deliver), missing: [missing], at: start).request.isEmpty)
        // The cap is the link budget (128 KiB) plus 4 MiB.
        #expect(machine.hold(.data(1, data, .deliver), at: start).0 == .proceed)
        #expect(machine.hold(.data(1, data, .deliver), at: start).0 == .proceed)
        #expect(machine.hold(.frame(.halfClose(stream: 1)), at: start).0 == .proceed)
        #expect(violation(machine.hold(.data(1, data, .deliver), at: start).0) != nil)
        #expect(machine.overdueChunk(at: start + .seconds(1)) == nil)
        #expect(machine.overdueChunk(at: start + .seconds(3)) == .chunkReplyOverdue(missing, milliseconds: 3000))
        #expect(violation(machine.receiveChunkReply(Fingerprint(high: 9, low: 9), supplied: true)) != nil)
        #expect(machine.receiveChunkReply(missing, supplied: true) == .proceed)
        #expect(machine.releaseHeld()?.count == 5)
        #expect(machine.blockedBytes == 0)
    }

    /// A link that closes while frames wait behind a decode or a miss replays none of them (a decode that fails
    /// on the pool tears the link down, then asks for the replay), and lets go of their bytes.
    @Test func aClosedLinkReplaysNothingItHeld() throws {
        var machine = try machine()
        let missing = Fingerprint(high: 1, low: 2)
        let data = TunnelData(
            decodedLength: 1, checksum: 0, references: [missing], encoded: ByteBuffer(repeating: 0, count: 1 << 10))
        _ = machine.hold(.data(1, data, .deliver), missing: [missing], at: start)
        _ = machine.hold(.frame(.open(stream: 3, target: app, window: 1000)), at: start)
        #expect(machine.receiveChunkReply(missing, supplied: true) == .proceed)
        machine.close()
        #expect(machine.releaseHeld() == nil)
        #expect(machine.blockedBytes == 0)
        #expect(!machine.isBlocked)
        #expect(machine.overdueChunk(at: start + .seconds(60)) == nil)
    }

    @Test func idleStreamsAreNamed() throws {
        let limits = try TunnelLimits(streamIdleTimeout: .seconds(30))
        var machine = try machine(limits: limits)
        _ = machine.receiveOpen(1, target: app, window: 1000, at: start)
        _ = machine.receiveOpen(3, target: app, window: 1000, at: start)
        _ = machine.connected(3, at: start + .seconds(20))
        #expect(machine.idleStreams(at: start + .seconds(31)) == [1])
    }

    @Test func aWindowUpdateOverflowAndFramesOnUnopenedStreamsCloseTheLink() throws {
        var client = try machine(role: .client)
        let opened = client.openLocal(at: start)
        let id = try #require(opened)
        #expect(client.receiveWindowUpdate(id, increment: 1 << 20, at: start) == .proceed)
        #expect(violation(client.receiveWindowUpdate(id, increment: Int(UInt32.max), at: start)) == .creditOverflow(id))
        #expect(
            violation(client.receiveWindowUpdate(id + 2, increment: 1, at: start))
                == .frameOnUnopenedStream(.windowUpdate, id + 2))
        #expect(violation(client.receiveHalfClose(id + 4)) == .frameOnUnopenedStream(.halfClose, id + 4))
        client.remove(id)
        #expect(client.receiveWindowUpdate(id, increment: 1, at: start) == .ignore)
    }
}
